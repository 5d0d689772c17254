/* Events (reference §13): every container transition and change, project
 * and token change, recorded in the store in the same transaction as the
 * change where there is one, listed and counted per user, and pushed to live
 * streams. Decisions: docs/EVENTS.md. */
#ifndef HOODY_PLATFORM_EVENTS_H
#define HOODY_PLATFORM_EVENTS_H

#include <jansson.h>

#include "platform/platform.h"

#define EVENTS_LIMIT_MAX 500
#define EVENTS_RETENTION_DAYS 30 /* default retention of the periodic cleanup */

struct container;
struct store;

/* Records an event; failures are logged (an event never fails the change it
 * describes). payload is borrowed and may be NULL. */
struct event_spec {
	const char *type;	   /* "container.running" */
	const char *resource_type; /* "container" */
	const char *resource_id;
	const char *user_id; /* owner; NULL/"" for system-wide */
	const char *project_id, *container_id;
	const char *realm_ids; /* JSON array text, may be NULL */
	json_t *payload;
};
void events_emit(struct platform *pf, const struct event_spec *e);
/* The same, for code that holds only the store (accounts). */
void events_record(struct store *st, const struct event_spec *e);
/* container.<type> for c, with c's project, owner and realms. */
void events_container(struct platform *pf, const struct container *c, const char *type,
		      json_t *payload);

/* The sequence number of the newest stored event (0 when none): where a
 * live stream starts. */
int events_last_seq(struct platform *pf, int64_t *out, struct error *err);

/* Once per process: hooks the store's commits. */
void events_init(void);
/* Wakes the live streams (after a transaction that emitted events commits). */
void events_notify(void);
/* Called after every event is stored (the API wakes its streams). One hook. */
void events_set_hook(void (*hook)(void *arg), void *arg);

/* Query-string filters, parsed by the API into this. */
struct events_filter {
	const char *event_type, *resource_type, *resource_id, *project_id, *container_id;
	const char *realm_id;
	int64_t start_ms, end_ms;
};

int events_list(struct platform *pf, const struct principal *who, const struct events_filter *f,
		const char *sort_by, bool desc, int64_t offset, int64_t limit, json_t **data_new,
		struct error *err);
int events_get(struct platform *pf, const struct principal *who, const char *id, json_t **data_new,
	       struct error *err);
int events_stats(struct platform *pf, const struct principal *who, const struct events_filter *f,
		 json_t **data_new, struct error *err);
/* Body {event_type?, resource_type?, resource_id?, before_date?, realm_id?}. */
int events_delete(struct platform *pf, const struct principal *who, const json_t *body,
		  json_t **data_new, struct error *err);
/* DELETE /events/{id}: one of the caller's events (404 like a get). */
int events_delete_one(struct platform *pf, const struct principal *who, const char *id,
		      json_t **data_new, struct error *err);
/* Body {retention_days*}: the caller's events older than that go. */
int events_cleanup(struct platform *pf, const struct principal *who, const json_t *body,
		   json_t **data_new, struct error *err);
/* For streams: up to limit events after after_seq, oldest first, as wire
 * objects in *arr_new; *last_seq the seq of the last one. */
int events_after(struct platform *pf, const struct principal *who, const struct events_filter *f,
		 int64_t after_seq, int64_t limit, json_t **arr_new, int64_t *last_seq,
		 struct error *err);
/* Checks that the principal may read events at all (E_FORBIDDEN). */
int events_require_access(const struct principal *who, struct error *err);
/* ISO-8601 (or ms since epoch) -> ms; E_VALIDATION naming key. */
int events_parse_time(const char *key, const char *v, int64_t *out, struct error *err);

#endif
