/* What a login answers as the user's defaults: the server, project and
 * container a client opens first. */
#ifndef HOODY_PLATFORM_DEFAULTS_H
#define HOODY_PLATFORM_DEFAULTS_H

#include <jansson.h>

#include "platform/platform.h"

/* Sets session's "server" {id, name, country, region, city, datacenter,
 * is_ready}, "project" {id, alias} and "container" {id, name}: the most
 * recently used container (latest updated_at), its project and server; with
 * no container, the default project (else the latest updated one) and this
 * host's server. A member stays null when there is nothing to show or the
 * store fails (a login does not fail for them). */
void session_defaults_set(struct platform *pf, const char *user_id, json_t *session);

#endif
