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

#endif
