/* Resource limits of containers: the server's defaults (daemon config),
 * per-user and per-project overrides set by an administrator, resolved into
 * the runtime spec at every start; the out-of-memory watcher. Decisions:
 * docs/SECURITY.md ("Limits"), fields: docs/CONTAINERS.md. */
#ifndef HOODY_PLATFORM_LIMITS_H
#define HOODY_PLATFORM_LIMITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform/platform.h"

struct container;
struct rt_spec;

/* Built-in defaults: sized so a 2-core, 24 GiB host keeps 500 running
 * containers (docs/SECURITY.md). */
void limits_builtin(struct limits *out);
/* Every value 0 (none) or within its range (the daemon's configuration);
 * E_VALIDATION naming the first that is not. */
int limits_check(const struct limits *l, struct error *err);
/* What a container of user_id in project_id gets (either may be "" or
 * NULL: prespawn pool members): server defaults < user override < project
 * override. /ramdisk and /dev/shm are capped at half the memory limit. */
int limits_resolve(const struct platform *pf, const char *user_id, const char *project_id,
		   struct limits *out, struct error *err);
/* Limits into spec (nothing when the server runs with limits off). */
void limits_apply(const struct platform *pf, const struct limits *l, struct rt_spec *spec);
/* {memory_bytes, ...}: the JSON form (containers, stats, admin routes). */
json_t *limits_json_new(const struct limits *l);
/* The container's limits as they apply now (its next start if changed). */
json_t *limits_container_json_new(const struct platform *pf, const struct container *c);

/* Admin routes. scope: "users" or "projects"; id: 24 hex. An override is an
 * object with any of the limit keys (integer, or null to drop the key). */
int limits_server_get(struct platform *pf, const struct principal *who, json_t **data_new,
		      struct error *err);
int limits_override_get(struct platform *pf, const struct principal *who, const char *scope,
			const char *id, json_t **data_new, struct error *err);
int limits_override_put(struct platform *pf, const struct principal *who, const char *scope,
			const char *id, const json_t *body, json_t **data_new, struct error *err);
int limits_override_delete(struct platform *pf, const struct principal *who, const char *scope,
			   const char *id, struct error *err);

/* The out-of-memory watcher: a thread scanning the containers' memory
 * cgroups every second; a kill becomes a status-log row and a
 * container.oom_killed event. */
int limits_watch_start(struct platform *pf, struct error *err);
void limits_watch_stop(struct platform *pf);

/* ramdisk_scope of a container: "container" (its own /ramdisk, the
 * default) or "project" (one /ramdisk shared by the project's containers on
 * this server). Kept in the kv table (key ramdisk_scope.<id>). */
bool limits_ramdisk_shared(const struct platform *pf, const char *container_id);
/* Inside the caller's transaction when there is one. */
int limits_ramdisk_scope_set(struct store *st, const char *container_id, bool shared,
			     struct error *err);
/* The runtime group of a project's shared ramdisk ("p<project id>"). */
void limits_ramdisk_group(const char *project_id, char out[ID_LEN + 2]);
/* After c is deleted: its project's shared ramdisk goes with the last
 * container using it on this server; its scope record goes too. */
void limits_container_gone(struct platform *pf, const struct container *c);

#endif
