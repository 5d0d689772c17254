/* hoody-kit: the Hoody Kit agent inside a container (kit-api.md §4-6).
 *
 * One static binary (musl), started and kept alive by hoody-init, listening
 * only on the Unix socket /.hoody/kit.d/kit.sock that the host's proxy
 * reaches through a bind mount. One thread per connection; sessions and
 * command results are shared under locks. It links nothing but libc, so it
 * runs in any image. */
#ifndef HOODY_KIT_H
#define HOODY_KIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

#define KIT_VERSION "0.1.0"
#define KIT_SOCKET_DEFAULT "/.hoody/kit.d/kit.sock"
#define KIT_HEAD_MAX 16384
#define KIT_HEADERS_MAX 64
#define KIT_RBUF 65536
#define KIT_JSON_BODY_MAX (1 << 20)

/* ---- util.c ---- */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_put(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_json_str(struct buf *b, const char *s);	    /* quoted, escaped */
void buf_json_strn(struct buf *b, const char *s, size_t n); /* bytes as UTF-8-ish string */
void buf_free(struct buf *b);
static inline int64_t mono_ms(void)
{
	return mono_ns() / 1000000;
}
void buf_url_encode_path(struct buf *b, const char *path);
/* Looks a program up in the usual directories (name or absolute path). */
bool find_program(const char *name, char *out, size_t len);
struct kit_user {
	uid_t uid;
	gid_t gid;
	char name[64], home[256], shell[256];
};
/* /etc/passwd of the container, by name or numeric id. */
bool user_lookup(const char *name, struct kit_user *u);
bool user_name_of(uid_t uid, char *out, size_t len);
void base64_encode(const unsigned char *in, size_t n, char *out);
size_t base64_decode(const char *in, unsigned char *out, size_t cap);
void sha1(const unsigned char *data, size_t len, unsigned char out[20]);
/* ---- sha256.c ---- */
struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char blk[64];
	size_t fill;
};
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
/* Ends the digest: 64 lowercase hex digits and a NUL. */
void sha256_hex(struct sha256 *s, char out[65]);

/* ---- json.c: a small parser for request bodies ---- */
enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jv {
	enum jtype t;
	bool b;
	double n;
	char *s;
	size_t count;
	struct jv *items;
	char **keys;
};
struct jv *json_parse(const char *s, size_t len); /* NULL on bad JSON or too deep */
void jv_free(struct jv *v);
struct jv *jv_get(const struct jv *obj, const char *key);
const char *jv_str(const struct jv *obj, const char *key);
bool jv_int(const struct jv *obj, const char *key, long long *out);
bool jv_bool(const struct jv *obj, const char *key, bool dflt);

/* ---- http.c ---- */
struct req {
	int fd;
	char method[16];
	char *target; /* raw path + query */
	char *path;   /* raw path (still %-encoded) */
	char *query;  /* raw query after '?', "" when none */
	struct {
		char *name, *value;
	} h[KIT_HEADERS_MAX];
	int nh;
	long long clen; /* -1: none */
	bool chunked;
	long long chunk_left; /* chunked decoding state; -1 at end */
	bool body_done, keepalive, head_only, responded;
	char head[KIT_HEAD_MAX];
	char *rbuf; /* KIT_RBUF: bytes read past the head */
	size_t rpos, rend;
	char qbuf[4096]; /* scratch for decoded query values */
};
const char *req_header(struct req *r, const char *name);
/* First occurrence, decoded; NULL when absent. */
const char *q_get(struct req *r, const char *name, char *out, size_t len);
/* Presence flag: true unless absent or "false"/"0". */
bool q_flag(struct req *r, const char *name);
/* Calls fn for every occurrence (decoded). */
void q_each(struct req *r, const char *name, void (*fn)(const char *v, void *arg), void *arg);
/* Body bytes: >0 read, 0 end, -1 error. */
ssize_t req_read(struct req *r, void *p, size_t n);
/* Raw connection bytes (after an upgrade): buffered leftovers first. */
ssize_t conn_read(struct req *r, void *p, size_t n);
/* Whole body (≤ max) NUL-terminated; -1 when too large or broken. */
int req_body(struct req *r, size_t max, struct buf *out);
void req_drain(struct req *r);
/* Head with Content-Length (len >= 0) or Connection: close (len < 0). */
void send_head(struct req *r, int status, const char *ctype, long long len, const char *extra);
void send_body(struct req *r, int status, const char *ctype, const char *body, size_t len,
	       const char *extra);
/* {statusCode, message, data: <data_json>} (data_json NULL = null). */
void send_ok(struct req *r, int status, const char *data_json);
void send_err(struct req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void send_health(struct req *r, const char *service);
/* Serves requests on fd until it closes; owns fd. */
void conn_serve(int fd, void (*dispatch)(struct req *r));

/* ---- services ---- */
void term_route(struct req *r);	  /* terminal.c: /api/v1/terminal/... and / */
void system_route(struct req *r); /* system.c: /api/v1/system/... */
void files_route(struct req *r);  /* files.c */
void exec_route(struct req *r);	  /* scripts.c */
void www_route(struct req *r);	  /* www.c: the web terminal */
bool path_is(const char *path, const char *prefix, const char **rest);

/* ---- ws.c ---- */
/* Answers the upgrade (echoing the tty subprotocol when asked); false = refused (answered). */
bool ws_accept(struct req *r);
/* One message (fragments joined, pings answered); opcode 1/2/8; -1 on error. */
int ws_recv(struct req *r, struct buf *msg);
bool ws_send(int fd, int opcode, const void *p, size_t n);
bool ws_send2(int fd, int opcode, char first, const void *p, size_t n);
void ws_close(int fd, int code);

/* ---- proc.c: children of the agent ---- */
struct spawn {
	const char *shell; /* name or path; "" = the user's, else bash, else sh */
	const char *user;  /* name or uid; NULL = the agent's */
	const char *cwd;   /* NULL = the user's home */
	bool cwd_create;
	char **env; /* extra KEY=VALUE, NULL-terminated */
};
/* Resolves the shell: the program path and its short name (bash, sh, ...). */
void shell_resolve(const char *want, const struct kit_user *u, char *path, size_t plen, char *type,
		   size_t tlen);
/* In the child: user, cwd, env, then exec argv. Never returns. */
void child_exec(const struct spawn *s, const char *shell_path, char *const argv[]);
struct collect {
	struct buf *out, *err; /* appended under lock (NULL lock: none) */
	bool *out_trunc, *err_trunc;
	size_t cap; /* bytes kept per stream */
	pthread_mutex_t *lock;
	bool *timed_out; /* set under lock */
};
/* Reads a child's stdout and stderr pipes until both close (and closes
 * them), then reaps it; returns its wait status. After timeout_ms (0 = none)
 * its process group gets SIGKILL, *timed_out is set, and the pipes are given
 * up 5 s later (a grandchild may hold them). */
int collect_child(pid_t pid, int ofd, int efd, int timeout_ms, const struct collect *c);
/* A detached thread with a small stack; false when it could not start. */
bool thread_spawn(void *(*fn)(void *), void *arg, size_t stack);
/* & < > " escaped, for HTML and XML text and attributes. */
void buf_markup(struct buf *b, const char *s);
/* Checks what child_exec needs (user exists, cwd exists or can be made). */
bool spawn_check(const struct spawn *s, char *msg, size_t len);

extern int64_t kit_started_ms;

#endif
