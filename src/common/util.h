/* Small host helpers shared by every layer: files, directories, time. */
#ifndef HOODY_COMMON_UTIL_H
#define HOODY_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/error.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A broken invariant or an exhausted process (out of memory, of descriptors
 * at start): one line "PANIC file:line: why" on stderr, then abort(). Not for
 * input errors, which return -1 with a struct error (docs/ERRORS.md). Safe
 * in a forked child: no lock, no allocation. */
_Noreturn void hoody_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define HOODY_PANIC(...) hoody_panic(__FILE__, __LINE__, __VA_ARGS__)
#define HOODY_ASSERT(cond)                                                                         \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			hoody_panic(__FILE__, __LINE__, "assertion failed: %s", #cond);            \
	} while (0)

/* Allocation that panics on failure: out-of-memory is not an input error.
 * jansson allocates through the same policy (common/json.h). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int mkdir_p(const char *path, unsigned mode, struct error *err);
/* Removes a tree without crossing mount points; missing is success. */
int rm_rf(const char *path, struct error *err);
/* Reads a whole file (at most max bytes), NUL-terminated. */
int read_file(const char *path, size_t max, char **out_new, size_t *len_out, struct error *err);
/* Writes via a temp file + rename so readers never see half a file. */
int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
		      struct error *err);
int write_file(const char *path, const char *data, struct error *err);
bool path_exists(const char *path);
/* Writes all n bytes, retrying short writes and EINTR; false on error or EOF
 * (with SIGPIPE ignored, a closed peer is EPIPE). */
bool write_all(int fd, const void *p, size_t n);
/* Opens (creating, 0600) and exclusively flocks path, waiting for the lock;
 * returns the fd, whose close releases it. */
int lock_file_open(const char *path, struct error *err);
/* Reads a small file holding one integer (cgroup and procfs counters). */
int read_u64_file(const char *path, uint64_t *out);

int64_t now_ms(void);	/* wall clock, ms since epoch */
int64_t now_unix(void); /* wall clock, s */
int64_t mono_ns(void);	/* monotonic, ns */
/* The value of a hex digit, -1 for any other character. */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
/* %XX decoding of in[0..n) (and '+' as space when form) into out, which
 * holds n + 1 bytes; NUL-terminates and returns the decoded length. A '%'
 * without two hex digits stays as it is. */
size_t url_decode(const char *in, size_t n, char *out, bool form);

/* "2026-01-02T03:04:05.678Z" */
void iso8601_ms(int64_t ms, char *buf, size_t len);
void iso8601_now(char *buf, size_t len);
/* Parses the format above (and without millis); -1 on error. */
int64_t iso8601_parse_ms(const char *s);

#endif
