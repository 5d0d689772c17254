/* This host as a Hoody server (owned by the projects/servers work). */
#ifndef HOODY_PLATFORM_SERVERS_H
#define HOODY_PLATFORM_SERVERS_H

#include <jansson.h>
#include <stdbool.h>

#include "platform/platform.h"

/* Registers this host at start: a stable 24-hex id kept in the store, the
 * configured name, location and capacity. Fills pf->server_id. */
int platform_servers_init(struct platform *pf, struct error *err);

/* The servers (rentals) a user can create containers on, as GET
 * /api/v1/servers shows them: rental objects {id, server_id, status,
 * is_free_tier, pool_id, rental_start, rental_end, remaining_days, amount,
 * setup_fee_cents, total_paid_cents, renewal_pricing_frozen, server {...}}
 * plus the flat fields of earlier versions (server_name, name, is_ready,
 * country, ..., specs, container_capacity, expires_at, created_at). A
 * non-admin's container_capacity.used counts only its own containers. */
int servers_list_json(struct platform *pf, const struct principal *who, json_t **array_new,
		      struct error *err);
/* One of them, with usage_days and hold_days; E_NOT_FOUND for an id this
 * host does not know. */
int servers_get_json(struct platform *pf, const struct principal *who, const char *id,
		     json_t **server_new, struct error *err);

/* Filters of GET /servers/available; a negative number or NULL = no filter. */
struct server_filter {
	const char *country, *region;	    /* case-insensitive */
	const char *ram_types, *disk_types; /* comma-separated, case-insensitive */
	int64_t min_cpu_cores, min_cpu_score, min_ram_gb, min_total_storage_gb;
	int64_t min_bandwidth_mbps;
	double min_traffic_tb, max_price_per_day;
	bool featured_only;
};
/* The `server` objects (with capacity) of the servers the caller may place
 * containers on and that pass f. */
int servers_available_json(struct platform *pf, const struct principal *who,
			   const struct server_filter *f, json_t **array_new, struct error *err);
/* E_NOT_FOUND (with E_INVALID_ID for a malformed id) unless id is a server
 * of this host. */
int servers_require(struct platform *pf, const char *id, struct error *err);

/* The `server` member of a container: {name, country, country_name, city,
 * region, datacenter, is_free, paid_subserver, specs, expires_at}; JSON null
 * when the server is unknown. */
json_t *server_summary_json_new(struct platform *pf, const char *server_id);
/* The `server` of a login answer: {id, name, country, region, city,
 * datacenter, is_ready}; JSON null when unknown. */
json_t *server_brief_json_new(struct platform *pf, const char *server_id);

#endif
