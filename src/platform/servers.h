/* This host as a Hoody server (owned by the projects/servers work). */
#ifndef HOODY_PLATFORM_SERVERS_H
#define HOODY_PLATFORM_SERVERS_H

#include "platform/platform.h"

/* Registers this host at start: a stable 24-hex id kept in the store, the
 * configured name and capacity. Fills pf->server_id. */
int platform_servers_init(struct platform *pf, struct error *err);

#endif
