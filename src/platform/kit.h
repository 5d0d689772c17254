/* What the platform asks a container's Kit agent (hoody-kit) directly over
 * its Unix socket (the proxy forwards users; this is the platform's own
 * reading, for runtime_info). */
#ifndef HOODY_PLATFORM_KIT_H
#define HOODY_PLATFORM_KIT_H

#include <jansson.h>

#include "platform/platform.h"

/* runtime_info.terminals of container id (hoody-api.md: {id, display,
 * username, created_at, created_at_formatted, last_activity,
 * last_activity_formatted, command_history[]}); an empty array when the
 * agent does not answer within a second. Never NULL. */
json_t *kit_terminals_new(struct platform *pf, const char *id);

/* Moves the agent's death records (written by hoody-init into the agent's
 * socket directory) into the container's status logs: one row per death,
 * running -> running, triggered_by "kit", metadata {event: "kit_restart",
 * signal, exit_status, restart_in_ms}. Best effort, bounded (64 KiB). */
void kit_events_ingest(struct platform *pf, const char *id);

#endif
