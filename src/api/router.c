/* The route trie. Built once at start (single-threaded), then only read, so
 * matching needs no lock and allocates nothing. */
#include "api/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

struct rnode {
	char *seg;	     /* literal segment; NULL for root and {param} nodes */
	struct rnode **kids; /* literal children */
	size_t nkids;
	struct rnode *param; /* the {param} child, if any */
	struct route routes[HM__COUNT];
};

struct router {
	struct rnode root;
};

static const char *const method_names[HM__COUNT] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

int http_method_parse(const char *method)
{
	if (!method)
		return -1;
	if (strcmp(method, "HEAD") == 0)
		return HM_GET;
	for (int i = 0; i < HM__COUNT; i++)
		if (strcmp(method, method_names[i]) == 0)
			return i;
	return -1;
}

struct router *router_new(void)
{
	return xcalloc(1, sizeof(struct router));
}

static void node_free(struct rnode *n)
{
	for (size_t i = 0; i < n->nkids; i++) {
		node_free(n->kids[i]);
		free(n->kids[i]);
	}
	free(n->kids);
	if (n->param) {
		node_free(n->param);
		free(n->param);
	}
	free(n->seg);
}

void router_free(struct router *rt)
{
	if (!rt)
		return;
	node_free(&rt->root);
	free(rt);
}

static struct rnode *literal_child(const struct rnode *n, const char *seg, size_t len)
{
	for (size_t i = 0; i < n->nkids; i++)
		if (strlen(n->kids[i]->seg) == len && memcmp(n->kids[i]->seg, seg, len) == 0)
			return n->kids[i];
	return NULL;
}

static struct rnode *child_for(struct rnode *n, const char *seg, size_t len, bool is_param)
{
	if (is_param) {
		if (!n->param)
			n->param = xcalloc(1, sizeof(*n->param));
		return n->param;
	}
	struct rnode *k = literal_child(n, seg, len);
	if (k)
		return k;
	k = xcalloc(1, sizeof(*k));
	k->seg = strndup(seg, len);
	if (!k->seg)
		HOODY_PANIC("out of memory (route segment)");
	n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
	n->kids[n->nkids++] = k;
	return k;
}

static bool segment_ok(const char *seg, size_t len, bool *is_param)
{
	*is_param = len >= 3 && seg[0] == '{' && seg[len - 1] == '}';
	if (len == 0)
		return false;
	for (size_t i = *is_param ? 1 : 0; i < (*is_param ? len - 1 : len); i++)
		if (seg[i] == '{' || seg[i] == '}')
			return false;
	return true;
}

int router_add(struct router *rt, const char *method, const char *pattern, route_fn fn, int flags,
	       const char *leaf)
{
	int m = http_method_parse(method);
	if (m < 0 || strcmp(method, "HEAD") == 0 || !pattern || pattern[0] != '/' || !fn) {
		fprintf(stderr, "router: bad route %s %s\n", method ? method : "?",
			pattern ? pattern : "?");
		return -1;
	}
	struct rnode *n = &rt->root;
	size_t nparams = 0, nsegs = 0;
	const char *p = pattern + 1;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		bool is_param;
		if (end && end[1] == '\0')
			end = NULL; /* a trailing slash in a pattern means nothing */
		if (!segment_ok(p, len, &is_param) || ++nsegs > ROUTER_MAX_SEGMENTS ||
		    (is_param && ++nparams > ROUTER_MAX_PARAMS)) {
			fprintf(stderr, "router: bad pattern %s\n", pattern);
			return -1;
		}
		n = child_for(n, p, len, is_param);
		if (!end)
			break;
		p = end + 1;
	}
	if (n->routes[m].fn) {
		fprintf(stderr, "router: duplicate route %s %s\n", method, pattern);
		return -1;
	}
	n->routes[m] = (struct route){.fn = fn, .flags = flags, .pattern = pattern, .leaf = leaf};
	return 0;
}

struct walk {
	char **segs;
	size_t nsegs;
	int method;
	struct route_match *m;
	const char *params[ROUTER_MAX_PARAMS];
};

static unsigned node_methods(const struct rnode *n)
{
	unsigned mask = 0;
	for (int i = 0; i < HM__COUNT; i++)
		if (n->routes[i].fn)
			mask |= 1u << i;
	return mask;
}

/* Depth-first: literal child before {param}, so that a method mismatch on a
 * literal path can still find the method on a parametrised sibling. */
static bool walk(struct walk *w, const struct rnode *n, size_t depth, size_t nparams)
{
	if (depth == w->nsegs) {
		if (w->method >= 0 && n->routes[w->method].fn) {
			w->m->route = &n->routes[w->method];
			memcpy(w->m->params, w->params, sizeof(w->params));
			w->m->nparams = nparams;
			return true;
		}
		w->m->allowed |= node_methods(n);
		return false;
	}
	const char *seg = w->segs[depth];
	const struct rnode *k = literal_child(n, seg, strlen(seg));
	if (k && walk(w, k, depth + 1, nparams))
		return true;
	if (n->param && seg[0] && nparams < ROUTER_MAX_PARAMS) {
		w->params[nparams] = seg;
		if (walk(w, n->param, depth + 1, nparams + 1))
			return true;
	}
	return false;
}

enum match_result router_match(const struct router *rt, const char *method, const char *path,
			       char *buf, size_t buflen, struct route_match *m)
{
	memset(m, 0, sizeof(*m));
	size_t len = strlen(path);
	if (len == 0 || path[0] != '/' || len + 1 > buflen)
		return MATCH_NOT_FOUND;
	memcpy(buf, path, len + 1);
	if (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';

	char *segs[ROUTER_MAX_SEGMENTS];
	size_t nsegs = 0;
	char *p = buf + 1;
	while (*p || (p > buf + 1 && p[-1] == '\0')) {
		if (nsegs == ROUTER_MAX_SEGMENTS)
			return MATCH_NOT_FOUND;
		segs[nsegs++] = p;
		char *slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	struct walk w = {.segs = segs, .nsegs = nsegs, .method = http_method_parse(method), .m = m};
	if (walk(&w, &rt->root, 0, 0))
		return MATCH_FOUND;
	return m->allowed ? MATCH_BAD_METHOD : MATCH_NOT_FOUND;
}

void router_allow_header(unsigned allowed, char *out, size_t len)
{
	size_t off = 0;
	out[0] = '\0';
	for (int i = 0; i < HM__COUNT; i++) {
		if (!(allowed & (1u << i)))
			continue;
		int n = snprintf(out + off, len - off, "%s%s", off ? ", " : "", method_names[i]);
		if (n < 0 || (size_t)n >= len - off)
			return;
		off += (size_t)n;
	}
}
