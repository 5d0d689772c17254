/* A container as the modules below the containers module see it: lookups
 * for a principal and notes in the status log (the transitions:
 * container_int.h). The containers module
 * (containers*.c) implements these; the modules it uses itself (limits,
 * prespawn, render, the proxy decisions) include this header and not
 * containers.h, so the include graph has no circle (docs/ARCHITECTURE.md,
 * "Inside the platform"). The record itself, struct container, is the
 * store's. */
#ifndef HOODY_PLATFORM_CONTAINER_H
#define HOODY_PLATFORM_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>

#include "platform/platform.h"

struct container;

/* The container of id if who may use it with leaf ("containers.read", ...). */
int containers_find(struct platform *pf, const struct principal *who, const char *id,
		    const char *leaf, struct container *out, struct error *err);

/* The same, for a change: an expired container (its server was
 * terminated) is E_EXPIRED_READONLY. out is filled either way. */
int containers_find_writable(struct platform *pf, const struct principal *who, const char *id,
			     const char *leaf, struct container *out, struct error *err);

/* A status-log row that is not a transition (from = to = the current
 * status, triggered_by "system", metadata meta) and the event `type`, in
 * one transaction: out-of-memory kills. */
int containers_note(struct platform *pf, const char *id, const char *type, json_t *meta,
		    struct error *err);

#endif
