/* The domain layer: validation, state machine, ownership and realms, quotas,
 * prespawn, claims. Talks to the store and the runtime; knows nothing of HTTP
 * (it speaks jansson values, which are data, not transport). This header and
 * the other public platform headers do not include the store's or the
 * runtime's: the edges see only the platform.
 *
 * This header holds what every module names (the configuration, principals,
 * limits) and includes no module: each module includes it, and the start
 * of the modules is platform_open in platform/open.h, above them all. */
#ifndef HOODY_PLATFORM_H
#define HOODY_PLATFORM_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/ids.h"
#include "common/query.h"

/* Opaque outside src/platform (its definition: platform_int.h); the edges
 * hold a pointer and call platform functions. */
struct platform;
/* The store's and the runtime's types, named by some platform calls that
 * only the composition root (src/daemon) and the platform itself make. */
struct store;
struct runtime;
struct rt_ops; /* runtime/ops.h: the runtime seam */
struct user;
struct container;
struct project;

/* Container resource limits (platform/limits.h); every value in bytes or
 * units, 0 = no limit of that kind. */
struct limits {
	int64_t memory_bytes, swap_bytes, cpu_millis, cpu_shares, io_weight, pids, nofile,
	    disk_bytes, disk_inodes, ramdisk_bytes, shm_bytes;
};

/* The defaults of hoodyd's config rows (src/daemon/config.c), and what
 * platform_open uses when a caller (a test) leaves the field unset. */
#define PF_DOMAIN_DEFAULT "hoody.local"
#define PF_SERVER_NAME_DEFAULT "node-local"
#define PF_IMAGE_DEFAULT "debian/13"
#define PF_CLAIM_TTL_S_DEFAULT 3600
#define PF_WORKERS_DEFAULT 16
#define PF_EVENT_RETENTION_DAYS_DEFAULT 30

struct platform_config {
	const char *state_dir;	   /* NULL: RT_STATE_DIR_DEFAULT */
	const char *public_domain; /* "containers.<domain>" service URLs */
	const char *server_name;
	/* location shown on the server object; NULL keeps the stored one */
	const char *server_country, *server_region, *server_city, *server_datacenter;
	const char *default_image;
	int64_t server_max_containers; /* free-tier default cap; -1 = unlimited */
	int64_t user_max_containers;   /* account quota default; -1 = unlimited */
	int64_t jwt_ttl_s;	       /* 86400 */
	int64_t refresh_ttl_s;	       /* 604800 */
	int64_t claim_ttl_s;
	bool no_signing_key;	      /* do not create a signing key at start (claims.c) */
	int workers;		      /* background job threads */
	const char *prespawn;	      /* pool targets at start (prespawn.h), NULL = none */
	int64_t event_retention_days; /* events older than this are removed; -1 = never */
	/* A container without any proxy document is open to everyone (the public
	 * platform's behaviour) instead of private to its owner (docs/PROXY.md). */
	bool proxy_open_default;
	struct limits limits;		  /* server-wide defaults of container limits */
	bool no_limits;			  /* containers run without limits (benchmarks) */
	const struct rt_ops *runtime_ops; /* the runtime's backend; NULL: crun (rt_crun_ops) */
};

/* Who is calling: a JWT session or an hdy_ token of a user. */
struct principal {
	char user_id[ID_LEN + 1];
	bool is_admin;
	bool via_token; /* hdy_ token (else JWT session) */
	bool no_events; /* token without event_access: no event routes */
	char token_id[ID_LEN + 1];
	json_t *permissions;	       /* token permission tree (NULL for JWT = all) */
	json_t *token_realm_ids;       /* token's realm restriction (array, may be empty) */
	char scoped_realm[ID_LEN + 1]; /* realm of the {realm}.api.<domain> host, or "" */
};
void principal_clear(struct principal *p);

/* A permission leaf such as "containers.create" or
 * "containers.actions.start". JWT sessions have every leaf. E_FORBIDDEN. */
int principal_require(const struct principal *p, const char *leaf, struct error *err);
/* Whether p may change anything: a JWT session, or a token holding at least
 * one leaf that is not read-only (auth_permission_read_leaves). */
bool principal_can_write(const struct principal *p);
/* Whether a resource with these realm ids (JSON array text) is visible to p. */
bool principal_sees_realms(const struct principal *p, const char *realm_ids_json);
/* A token bound to realms: it may neither pick nor change realm_ids
 * (reference 1.6). */
bool principal_realm_restricted(const struct principal *p);
/* The realm a list of p's resources is narrowed to in the query: the one
 * asked for (?realm_id), else p's scoped realm, else the only realm of a
 * token bound to one; NULL: none (visibility is checked per row). */
const char *principal_list_realm(const struct principal *p, const char *asked);

#endif
