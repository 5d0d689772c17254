/* Small helpers of the Kit agent: buffers, JSON strings, URL coding, users,
 * base64 and SHA-1 (for the WebSocket handshake). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kit/kit.h"

static void buf_grow(struct buf *b, size_t need)
{
	if (b->len + need + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + need + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		HOODY_PANIC("out of memory (%zu bytes)", cap);
	b->p = p;
	b->cap = cap;
}

void buf_put(struct buf *b, const void *data, size_t n)
{
	buf_grow(b, n);
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Invalid UTF-8 becomes U+FFFD so the output is always valid JSON. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t need = c < 0x80	       ? 1
		      : (c >> 5) == 6  ? 2
		      : (c >> 4) == 14 ? 3
		      : (c >> 3) == 30 ? 4
				       : 0;
	if (!need || need > n)
		return 0;
	for (size_t i = 1; i < need; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return need;
}

void buf_json_strn(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	buf_put(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			buf_put(b, e, 2);
			i++;
		} else if (c < 0x20) {
			if (c == '\n')
				buf_puts(b, "\\n");
			else if (c == '\r')
				buf_puts(b, "\\r");
			else if (c == '\t')
				buf_puts(b, "\\t");
			else
				buf_printf(b, "\\u%04x", c);
			i++;
		} else {
			size_t l = utf8_len(u + i, n - i);
			if (!l) {
				buf_puts(b, "\xEF\xBF\xBD");
				i++;
			} else {
				buf_put(b, u + i, l);
				i += l;
			}
		}
	}
	buf_put(b, "\"", 1);
}

void buf_json_str(struct buf *b, const char *s)
{
	if (!s)
		buf_puts(b, "null");
	else
		buf_json_strn(b, s, strlen(s));
}

void buf_url_encode_path(struct buf *b, const char *path)
{
	static const char keep[] = "-_.~/!$&'()*+,;=:@";
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(keep, *p))
			buf_put(b, p, 1);
		else
			buf_printf(b, "%%%02X", *p);
	}
}

bool find_program(const char *name, char *out, size_t len)
{
	static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
					   "/usr/bin",	      "/sbin",		"/bin"};
	if (!name || !*name)
		return false;
	if (strchr(name, '/')) {
		if (access(name, X_OK) != 0)
			return false;
		snprintf(out, len, "%s", name);
		return true;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, len, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* Reads /etc/passwd directly: no NSS in a static binary, and the image's
 * own file is the truth. */
static bool passwd_find(const char *name, long uid, struct kit_user *u)
{
	FILE *f = fopen("/etc/passwd", "re");
	if (!f)
		return false;
	char line[1024];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *fld[7] = {0}, *s = line;
		line[strcspn(line, "\n")] = '\0';
		for (int i = 0; i < 7 && s; i++) {
			fld[i] = s;
			s = strchr(s, ':');
			if (s)
				*s++ = '\0';
		}
		if (!fld[6])
			continue;
		if ((name && strcmp(fld[0], name) == 0) || (!name && atol(fld[2]) == uid)) {
			u->uid = (uid_t)atol(fld[2]);
			u->gid = (gid_t)atol(fld[3]);
			snprintf(u->name, sizeof(u->name), "%s", fld[0]);
			snprintf(u->home, sizeof(u->home), "%s", *fld[5] ? fld[5] : "/");
			snprintf(u->shell, sizeof(u->shell), "%s", fld[6]);
			found = true;
		}
	}
	fclose(f);
	return found;
}

bool user_lookup(const char *name, struct kit_user *u)
{
	if (passwd_find(name, -1, u))
		return true;
	char *end;
	long id = strtol(name, &end, 10);
	if (*name && !*end && id >= 0 && id < 65536) {
		if (passwd_find(NULL, id, u))
			return true;
		memset(u, 0, sizeof(*u));
		u->uid = (uid_t)id;
		u->gid = (gid_t)id;
		snprintf(u->name, sizeof(u->name), "%ld", id);
		snprintf(u->home, sizeof(u->home), "/");
		return true;
	}
	return false;
}

bool user_name_of(uid_t uid, char *out, size_t len)
{
	struct kit_user u;
	if (!passwd_find(NULL, (long)uid, &u)) {
		snprintf(out, len, "%u", (unsigned)uid);
		return false;
	}
	snprintf(out, len, "%s", u.name);
	return true;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
}

size_t base64_decode(const char *in, unsigned char *out, size_t cap)
{
	unsigned v = 0;
	int bits = 0;
	size_t o = 0;
	for (; *in && *in != '='; in++) {
		const char *p = strchr(b64, *in);
		if (*in == '-' || *in == '_')
			p = strchr(b64, *in == '-' ? '+' : '/');
		if (!p)
			continue;
		v = v << 6 | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o < cap)
				out[o++] = (unsigned char)(v >> bits);
		}
	}
	return o;
}

#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5A827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ED9EBA1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
		else
			f = b ^ c ^ d, k = 0xCA62C1D6;
		uint32_t t = ROL(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = ROL(b, 30);
		b = a;
		a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void sha1(const unsigned char *data, size_t len, unsigned char out[20])
{
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	size_t i = 0;
	for (; i + 64 <= len; i += 64)
		sha1_block(h, data + i);
	unsigned char tail[128] = {0};
	size_t rem = len - i;
	memcpy(tail, data + i, rem);
	tail[rem] = 0x80;
	size_t tl = rem + 9 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int k = 0; k < 8; k++)
		tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
	for (size_t k = 0; k < tl; k += 64)
		sha1_block(h, tail + k);
	for (int k = 0; k < 5; k++) {
		out[4 * k] = (unsigned char)(h[k] >> 24);
		out[4 * k + 1] = (unsigned char)(h[k] >> 16);
		out[4 * k + 2] = (unsigned char)(h[k] >> 8);
		out[4 * k + 3] = (unsigned char)h[k];
	}
}

void buf_markup(struct buf *b, const char *s)
{
	for (; *s; s++)
		if (*s == '<')
			buf_puts(b, "&lt;");
		else if (*s == '>')
			buf_puts(b, "&gt;");
		else if (*s == '&')
			buf_puts(b, "&amp;");
		else if (*s == '"')
			buf_puts(b, "&quot;");
		else
			buf_put(b, s, 1);
}
