/* This host as a Hoody server (owned by the projects/servers work). */
#ifndef HOODY_PLATFORM_SERVERS_H
#define HOODY_PLATFORM_SERVERS_H

#include <jansson.h>

#include "platform/platform.h"

/* Registers this host at start: a stable 24-hex id kept in the store, the
 * configured name and capacity. Fills pf->server_id. */
int platform_servers_init(struct platform *pf, struct error *err);

/* The servers (rentals) a user can create containers on, as GET
 * /api/v1/servers shows them: {id, server_id, server_name, name, status,
 * is_ready, is_free, is_free_tier, country, region, city, datacenter, specs,
 * container_capacity {used, max}, expires_at, created_at}. */
int servers_list_json(struct platform *pf, json_t **array_new, struct error *err);
/* One of them; E_NOT_FOUND for an id this host does not know. */
int servers_get_json(struct platform *pf, const char *id, json_t **server_new,
		     struct error *err);
/* The `server` member of a container: {name, country, country_name, city,
 * region, datacenter, is_free, paid_subserver, specs, expires_at}; JSON null
 * when the server is unknown. */
json_t *server_summary_json_new(struct platform *pf, const char *server_id);

#endif
