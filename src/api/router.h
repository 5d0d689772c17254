/* Route table: method + path pattern with {param} segments, matched segment
 * by segment in a small trie (no regex). Literal segments win over {param}
 * ones, so "/tokens/me" and "/tokens/{id}" can coexist. Internal to src/api. */
#ifndef HOODY_API_ROUTER_H
#define HOODY_API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http.h"

#define ROUTER_MAX_PARAMS 4
#define ROUTER_MAX_SEGMENTS 16

enum http_method { HM_GET, HM_POST, HM_PUT, HM_PATCH, HM_DELETE, HM__COUNT };

struct route {
	route_fn fn;
	int flags;
	const char *pattern; /* static string given to router_add */
	const char *leaf;    /* permission leaf checked before fn (static), see http.h */
};

struct router;

struct router *router_new(void);
void router_free(struct router *rt);
/* -1 (and a message on stderr) on an unknown method, a malformed pattern or a
 * duplicate: those are programming errors caught at start. */
int router_add(struct router *rt, const char *method, const char *pattern, route_fn fn, int flags,
	       const char *leaf);

/* HEAD maps to GET; anything else unknown is -1. */
int http_method_parse(const char *method);

enum match_result { MATCH_FOUND, MATCH_NOT_FOUND, MATCH_BAD_METHOD };

struct route_match {
	const struct route *route;
	const char *params[ROUTER_MAX_PARAMS];
	size_t nparams;
	unsigned allowed; /* bit per enum http_method, for 405 Allow */
};

/* Matches path (no query). Params point into buf, which receives a copy of
 * the path and must hold strlen(path) + 1 bytes. A single trailing slash is
 * ignored. */
enum match_result router_match(const struct router *rt, const char *method, const char *path,
			       char *buf, size_t buflen, struct route_match *m);

/* "GET, PUT" for an allowed mask. */
void router_allow_header(unsigned allowed, char *out, size_t len);

#endif
