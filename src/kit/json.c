/* A bounded JSON parser for request bodies (depth ≤ 32; sizes bounded by the
 * caller's body limit). */
#include <stdlib.h>
#include <string.h>

#include "kit/kit.h"

#define JSON_DEPTH_MAX 32

struct jp {
	const char *s, *end;
	int depth;
};

static void ws(struct jp *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static void put_utf8(struct buf *b, unsigned cp)
{
	char o[4];
	if (cp < 0x80) {
		o[0] = (char)cp;
		buf_put(b, o, 1);
	} else if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63));
		buf_put(b, o, 2);
	} else if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 63)),
		o[2] = (char)(0x80 | (cp & 63));
		buf_put(b, o, 3);
	} else {
		o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 63)),
		o[2] = (char)(0x80 | ((cp >> 6) & 63)), o[3] = (char)(0x80 | (cp & 63));
		buf_put(b, o, 4);
	}
}

static bool hex4(struct jp *p, unsigned *out)
{
	if (p->end - p->s < 4)
		return false;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(p->s[i]);
		if (d < 0)
			return false;
		v = v << 4 | (unsigned)d;
	}
	p->s += 4;
	*out = v;
	return true;
}

static char *pstring(struct jp *p)
{
	struct buf b = {0};
	p->s++;
	while (p->s < p->end && *p->s != '"') {
		char c = *p->s++;
		if (c != '\\') {
			buf_put(&b, &c, 1);
			continue;
		}
		if (p->s >= p->end)
			break;
		c = *p->s++;
		unsigned cp;
		switch (c) {
		case 'n':
			buf_puts(&b, "\n");
			break;
		case 't':
			buf_puts(&b, "\t");
			break;
		case 'r':
			buf_puts(&b, "\r");
			break;
		case 'b':
			buf_puts(&b, "\b");
			break;
		case 'f':
			buf_puts(&b, "\f");
			break;
		case 'u':
			if (!hex4(p, &cp))
				goto bad;
			if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' &&
			    p->s[1] == 'u') {
				unsigned lo;
				p->s += 2;
				if (!hex4(p, &lo))
					goto bad;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			put_utf8(&b, cp);
			break;
		default:
			buf_put(&b, &c, 1);
		}
	}
	if (p->s >= p->end)
		goto bad;
	p->s++;
	if (!b.p)
		return xstrdup("");
	return b.p;
bad:
	buf_free(&b);
	return NULL;
}

static bool pvalue(struct jp *p, struct jv *v);

static bool pcontainer(struct jp *p, struct jv *v, bool obj)
{
	if (++p->depth > JSON_DEPTH_MAX)
		return false;
	v->t = obj ? J_OBJ : J_ARR;
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
		p->s++;
		p->depth--;
		return true;
	}
	for (;;) {
		ws(p);
		char *key = NULL;
		if (obj) {
			if (p->s >= p->end || *p->s != '"' || !(key = pstring(p)))
				return false;
			ws(p);
			if (p->s >= p->end || *p->s++ != ':') {
				free(key);
				return false;
			}
		}
		v->items = realloc(v->items, (v->count + 1) * sizeof(*v->items));
		v->keys = realloc(v->keys, (v->count + 1) * sizeof(*v->keys));
		if (!v->items || !v->keys)
			HOODY_PANIC("out of memory (JSON object of %zu members)", v->count + 1);
		memset(&v->items[v->count], 0, sizeof(struct jv));
		v->keys[v->count] = key;
		v->count++;
		if (!pvalue(p, &v->items[v->count - 1]))
			return false;
		ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
			p->s++;
			p->depth--;
			return true;
		}
		return false;
	}
}

static bool lit(struct jp *p, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
		return false;
	p->s += n;
	return true;
}

static bool pvalue(struct jp *p, struct jv *v)
{
	ws(p);
	if (p->s >= p->end)
		return false;
	char c = *p->s;
	if (c == '{' || c == '[')
		return pcontainer(p, v, c == '{');
	if (c == '"') {
		v->t = J_STR;
		return (v->s = pstring(p)) != NULL;
	}
	if (lit(p, "true")) {
		v->t = J_BOOL, v->b = true;
		return true;
	}
	if (lit(p, "false")) {
		v->t = J_BOOL;
		return true;
	}
	if (lit(p, "null"))
		return true;
	char tmp[64];
	size_t n = 0;
	while (p->s + n < p->end && n < sizeof(tmp) - 1 && strchr("+-0123456789.eE", p->s[n]))
		n++;
	if (!n)
		return false;
	memcpy(tmp, p->s, n);
	tmp[n] = '\0';
	char *e;
	v->t = J_NUM;
	v->n = strtod(tmp, &e);
	p->s += n;
	return *e == '\0';
}

static void jv_clear(struct jv *v)
{
	for (size_t i = 0; i < v->count; i++) {
		free(v->keys[i]);
		jv_clear(&v->items[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
}

void jv_free(struct jv *v)
{
	if (!v)
		return;
	jv_clear(v);
	free(v);
}

struct jv *json_parse(const char *s, size_t len)
{
	struct jp p = {s, s + len, 0};
	struct jv *v = xcalloc(1, sizeof(*v));
	bool ok = pvalue(&p, v);
	ws(&p);
	if (!ok || p.s != p.end) {
		jv_free(v);
		return NULL;
	}
	return v;
}

struct jv *jv_get(const struct jv *o, const char *key)
{
	if (!o || o->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->count; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return NULL;
}

const char *jv_str(const struct jv *o, const char *key)
{
	struct jv *v = jv_get(o, key);
	return v && v->t == J_STR ? v->s : NULL;
}

bool jv_int(const struct jv *o, const char *key, long long *out)
{
	struct jv *v = jv_get(o, key);
	if (v && v->t == J_NUM && v->n >= -9e15 && v->n <= 9e15) {
		*out = (long long)v->n;
		return true;
	}
	if (v && v->t == J_STR && *v->s) {
		char *e;
		long long n = strtoll(v->s, &e, 10);
		if (!*e) {
			*out = n;
			return true;
		}
	}
	return false;
}

bool jv_bool(const struct jv *o, const char *key, bool dflt)
{
	struct jv *v = jv_get(o, key);
	if (!v || v->t == J_NULL)
		return dflt;
	if (v->t == J_BOOL)
		return v->b;
	if (v->t == J_STR)
		return strcmp(v->s, "false") != 0 && strcmp(v->s, "0") != 0;
	if (v->t == J_NUM)
		return v->n != 0;
	return dflt;
}
