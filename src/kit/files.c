/* Files service (kit-api.md §5): the REST family under /api/v1/files and the
 * dufs/WebDAV root family, on the container's whole filesystem (serve root
 * "/"). Uploads stream to a temporary file beside the target whatever the
 * Content-Type, then replace it; downloads stream with sendfile and honour
 * one Range. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kit/kit.h"
#include "kit/files.h"

#define PATH_MAXLEN 4096
#define LIST_MAX 100000
#define COPY_DEPTH_MAX 256
#define UPLOAD_CHUNK (256 * 1024)

/* Raw (still %-encoded) request path -> absolute normalized path. Both
 * encodings of §0 land here: "%2Fa%2Fb", "a/b", "/a//b". -1: it climbs
 * above the root (403); -2: too long (400). */
int fs_path(const char *raw, char *out, size_t len)
{
	size_t rl = strlen(raw);
	if (rl >= PATH_MAXLEN)
		return -2;
	char dec[PATH_MAXLEN];
	if (url_decode(raw, rl, dec, false) != strlen(dec))
		return -2; /* an encoded NUL */
	size_t o = 0;
	out[o++] = '/';
	char *save = NULL;
	for (char *seg = strtok_r(dec, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		if (strcmp(seg, ".") == 0)
			continue;
		if (strcmp(seg, "..") == 0) {
			if (o == 1)
				return -1;
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
			continue;
		}
		size_t n = strlen(seg);
		if (o + n + 2 >= len)
			return -2;
		if (o > 1)
			out[o++] = '/';
		memcpy(out + o, seg, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

bool fs_resolve(struct req *r, const char *raw, char *out)
{
	int rc = fs_path(raw, out, PATH_MAXLEN);
	if (rc == -1)
		send_err(r, 403, "path escapes the served root");
	else if (rc < 0)
		send_err(r, 400, "path too long or malformed");
	return rc == 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s && s[1] ? s + 1 : p;
}

bool mkdir_parents(const char *path)
{
	char tmp[PATH_MAXLEN];
	snprintf(tmp, sizeof(tmp), "%s", path);
	char *slash = strrchr(tmp, '/');
	if (!slash || slash == tmp)
		return true;
	*slash = '\0';
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return false;
			*p = '/';
		}
	return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

static int errno_status(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return 404;
	case EACCES:
	case EPERM:
	case EROFS:
		return 403;
	case EEXIST:
	case ENOTEMPTY:
	case EISDIR:
		return 409;
	case ENAMETOOLONG:
	case EINVAL:
		return 400;
	case ENOSPC:
	case EDQUOT:
		return 507;
	default:
		return 500;
	}
}

void send_errno(struct req *r, const char *what, const char *path)
{
	int e = errno;
	send_err(r, errno_status(e), "%s %s: %s", what, path, strerror(e));
}

static const char *path_type(const char *full, const struct stat *lst)
{
	if (S_ISLNK(lst->st_mode)) {
		struct stat st;
		return stat(full, &st) == 0 && S_ISDIR(st.st_mode) ? "SymlinkDir" : "SymlinkFile";
	}
	return S_ISDIR(lst->st_mode) ? "Dir" : "File";
}

static long long dir_count(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	long long n = 0;
	for (struct dirent *e; d && (e = readdir(d)) && n < LIST_MAX;)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	return n;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of dir (malloc'ed, NULL-terminated); NULL + errno on failure. */
char **dir_names(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	size_t n = 0, cap = 64;
	char **v = xmalloc(cap * sizeof(*v));
	for (struct dirent *e; (e = readdir(d)) && n < LIST_MAX;) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n + 1 >= cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), name_cmp);
	v[n] = NULL;
	*count = n;
	return v;
}

void names_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void join(char *out, const char *dir, const char *name)
{
	snprintf(out, PATH_MAXLEN, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name);
}

void listing_json(struct buf *b, const char *dir, bool exists)
{
	buf_puts(b, "{\"href\":");
	struct buf href = {0};
	buf_url_encode_path(&href, dir);
	buf_json_str(b, href.p);
	buf_free(&href);
	buf_printf(b,
		   ",\"kind\":\"Index\",\"uri_prefix\":\"/\",\"allow_upload\":true,"
		   "\"allow_delete\":true,\"allow_search\":false,\"allow_archive\":true,"
		   "\"dir_exists\":%s,\"auth\":false,\"user\":\"\",\"paths\":[",
		   exists ? "true" : "false");
	size_t n = 0;
	char **names = exists ? dir_names(dir, &n) : NULL;
	for (size_t i = 0; names && names[i]; i++) {
		char full[PATH_MAXLEN];
		struct stat st;
		join(full, dir, names[i]);
		if (lstat(full, &st) < 0)
			continue;
		const char *t = path_type(full, &st);
		long long size = strstr(t, "Dir") ? dir_count(full) : (long long)st.st_size;
		buf_printf(b, "%s{\"name\":", i ? "," : "");
		buf_json_str(b, names[i]);
		buf_printf(b, ",\"path_type\":\"%s\",\"size\":%lld,\"mtime\":%lld,\"revisions\":0}",
			   t, size,
			   (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
	}
	names_free(names);
	buf_puts(b, "]}");
}

void stat_json(struct buf *b, const char *path, const struct stat *lst)
{
	char owner[64], group[256] = "";
	user_name_of(lst->st_uid, owner, sizeof(owner));
	snprintf(group, sizeof(group), "%u", (unsigned)lst->st_gid);
	_cleanup_fclose_ FILE *f = fopen("/etc/group", "re");
	char line[1024];
	while (f && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 && (gid_t)atol(c2 + 1) == lst->st_gid) {
			*c1 = '\0';
			snprintf(group, sizeof(group), "%.255s", line);
			break;
		}
	}
	char target[PATH_MAXLEN] = "";
	bool link = S_ISLNK(lst->st_mode);
	if (link) {
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
	}
	buf_puts(b, "{\"name\":");
	buf_json_str(b, strcmp(path, "/") ? base_name(path) : "/");
	buf_puts(b, ",\"path\":");
	buf_json_str(b, path);
	buf_printf(b,
		   ",\"path_type\":\"%s\",\"size\":%lld,\"mtime\":%lld,\"permissions\":\"%04o\","
		   "\"owner\":",
		   path_type(path, lst), (long long)lst->st_size, (long long)lst->st_mtim.tv_sec,
		   (unsigned)(lst->st_mode & 07777));
	buf_json_str(b, owner);
	buf_puts(b, ",\"group\":");
	buf_json_str(b, group);
	buf_printf(b, ",\"is_symlink\":%s,\"symlink_target\":", link ? "true" : "false");
	if (link)
		buf_json_str(b, target);
	else
		buf_puts(b, "null");
	buf_puts(b, ",\"revisions\":0}");
}

/* ---------------------------------------------------------------- reading */

/* One "bytes=" range of size; false = unsatisfiable. */
static bool parse_range(const char *h, long long size, long long *from, long long *to)
{
	if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return false;
	const char *s = h + 6;
	char *e;
	if (*s == '-') {
		long long n = strtoll(s + 1, &e, 10);
		if (*e || n <= 0 || size == 0)
			return false;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return true;
	}
	*from = strtoll(s, &e, 10);
	if (*e != '-' || *from < 0 || *from >= size)
		return false;
	*to = e[1] ? strtoll(e + 1, &e, 10) : size - 1;
	if (*e || *to < *from)
		return false;
	if (*to >= size)
		*to = size - 1;
	return true;
}

void send_file(struct req *r, const char *path, bool attachment)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		send_errno(r, "open", path);
		return;
	}
	long long from = 0, to = st.st_size - 1, size = st.st_size;
	const char *range = req_header(r, "Range");
	int status = 200;
	struct buf extra = {0};
	buf_printf(&extra, "Accept-Ranges: bytes\r\nLast-Modified: ");
	char date[64];
	struct tm tm;
	gmtime_r(&st.st_mtime, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	buf_printf(&extra, "%s\r\nETag: \"%llx-%llx\"\r\n", date, (long long)st.st_mtime,
		   (long long)st.st_size);
	if (attachment) {
		buf_puts(&extra, "Content-Disposition: attachment; filename=\"");
		for (const char *p = base_name(path); *p; p++)
			if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
				buf_put(&extra, p, 1);
		buf_puts(&extra, "\"\r\n");
	}
	if (range && S_ISREG(st.st_mode)) {
		if (!parse_range(range, size, &from, &to)) {
			buf_printf(&extra, "Content-Range: bytes */%lld\r\n", size);
			send_body(r, 416, "text/plain", "", 0, extra.p);
			buf_free(&extra);
			return;
		}
		status = 206;
		buf_printf(&extra, "Content-Range: bytes %lld-%lld/%lld\r\n", from, to, size);
	}
	long long len = size ? to - from + 1 : 0;
	send_head(r, status, "application/octet-stream", len, extra.p);
	buf_free(&extra);
	send_span(r, fd, from, len);
}

void send_span(struct req *r, int fd, long long from, long long len)
{
	off_t off = from;
	while (!r->head_only && len > 0) {
		ssize_t n = sendfile(r->fd, fd, &off, len > (1 << 30) ? (1 << 30) : (size_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) { /* the file shrank or the client left: the length lies now */
			r->keepalive = false;
			break;
		}
		len -= n;
	}
}

void send_listing(struct req *r, const char *dir, bool envelope)
{
	struct buf b = {0};
	listing_json(&b, dir, true);
	if (envelope)
		send_ok(r, 200, b.p);
	else
		send_body(r, 200, "application/json", b.p, b.len, NULL);
	buf_free(&b);
}

void send_index_html(struct req *r, const char *dir)
{
	struct buf b = {0};
	size_t n = 0;
	char **names = dir_names(dir, &n);
	buf_puts(&b, "<!doctype html><meta charset=utf-8><title>");
	buf_markup(&b, dir);
	buf_puts(&b, "</title><h1>");
	buf_markup(&b, dir);
	buf_puts(&b, "</h1><ul>");
	for (size_t i = 0; names && names[i]; i++) {
		char full[PATH_MAXLEN];
		join(full, dir, names[i]);
		struct buf href = {0};
		buf_url_encode_path(&href, full);
		buf_puts(&b, "<li><a href=\"");
		buf_markup(&b, href.p);
		buf_puts(&b, "\">");
		buf_markup(&b, names[i]);
		buf_puts(&b, "</a>");
		buf_free(&href);
	}
	buf_puts(&b, "</ul>");
	names_free(names);
	send_body(r, 200, "text/html; charset=utf-8", b.p, b.len, NULL);
	buf_free(&b);
}

/* ---------------------------------------------------------------- writing */

/* Streams the body into path (replace, or append). *created: it was new. */
bool write_body(struct req *r, const char *path, bool append, bool *created, long long *new_size)
{
	struct stat st;
	*created = lstat(path, &st) < 0;
	if (!*created && S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		send_errno(r, "write", path);
		return false;
	}
	if (!mkdir_parents(path)) {
		send_errno(r, "mkdir parents of", path);
		return false;
	}
	char tmp[PATH_MAXLEN + 64];
	_cleanup_close_ int fd = -1;
	if (append) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	} else {
		char dir[PATH_MAXLEN];
		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = '\0';
		snprintf(tmp, sizeof(tmp), "%s/.%s.hoody-upload-XXXXXX", dir, base_name(path));
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0)
			fchmod(fd, *created ? 0644 : st.st_mode & 07777);
	}
	if (fd < 0) {
		send_errno(r, "open", path);
		return false;
	}
	char *buf = xmalloc(UPLOAD_CHUNK);
	bool ok = true;
	int werr = 0;
	for (;;) {
		ssize_t n = req_read(r, buf, UPLOAD_CHUNK);
		if (n == 0)
			break;
		if (n < 0) {
			ok = false;
			break;
		}
		if (!write_all(fd, buf, (size_t)n)) {
			werr = errno;
			ok = false;
			break;
		}
	}
	free(buf);
	if (ok && fstat(fd, &st) == 0)
		*new_size = st.st_size;
	closep(&fd); /* before the rename puts it in place */
	if (ok && !append && rename(tmp, path) < 0) {
		werr = errno;
		ok = false;
	}
	if (!ok && !append)
		unlink(tmp);
	if (!ok) {
		r->keepalive = false;
		r->body_done = true;
		errno = werr ? werr : EIO;
		if (werr)
			send_errno(r, "write", path);
		else
			send_err(r, 400, "the upload body ended early");
	}
	return ok;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	return nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out =
	    in < 0 ? -1 : open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
	int rc = in < 0 || out < 0 ? -1 : 0;
	while (rc == 0) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
			char buf[65536];
			while ((n = read(in, buf, sizeof(buf))) > 0)
				if (!write_all(out, buf, (size_t)n)) {
					n = -1;
					break;
				}
		}
		if (n <= 0)
			rc = n < 0 ? -1 : 0;
		if (n <= 0)
			break;
	}
	return rc; /* the cleanups keep errno for the caller */
}

int copy_tree(const char *src, const char *dst, int depth)
{
	struct stat st;
	if (depth > COPY_DEPTH_MAX) {
		errno = ELOOP;
		return -1;
	}
	if (lstat(src, &st) < 0)
		return -1;
	if (S_ISLNK(st.st_mode)) {
		char t[PATH_MAXLEN];
		ssize_t n = readlink(src, t, sizeof(t) - 1);
		if (n < 0)
			return -1;
		t[n] = '\0';
		return symlink(t, dst);
	}
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? copy_file(src, dst, st.st_mode) : 0;
	if (mkdir(dst, st.st_mode & 07777) < 0 && errno != EEXIST)
		return -1;
	size_t n;
	char **names = dir_names(src, &n);
	if (!names)
		return -1;
	int rc = 0;
	for (size_t i = 0; names[i] && rc == 0; i++) {
		char a[PATH_MAXLEN], b[PATH_MAXLEN];
		join(a, src, names[i]);
		join(b, dst, names[i]);
		rc = copy_tree(a, b, depth + 1);
	}
	names_free(names);
	return rc;
}

/* dst inside src (moving or copying a tree into itself). */
static bool inside(const char *src, const char *dst)
{
	size_t n = strlen(src);
	return strncmp(src, dst, n) == 0 && (dst[n] == '/' || dst[n] == '\0' || n == 1);
}

/* Move or copy; returns the HTTP status (201 new, 204 replaced) or answers
 * an error itself and returns 0. */
int transfer(struct req *r, const char *src, const char *dst, bool copy, bool overwrite)
{
	struct stat st;
	if (lstat(src, &st) < 0) {
		send_errno(r, copy ? "copy" : "move", src);
		return 0;
	}
	if (strcmp(src, "/") == 0 || inside(src, dst)) {
		send_err(r, 403, "cannot %s %s into itself", copy ? "copy" : "move", src);
		return 0;
	}
	bool existed = access(dst, F_OK) == 0 || errno != ENOENT;
	if (existed && !overwrite) {
		send_err(r, 412, "%s exists", dst);
		return 0;
	}
	if (!mkdir_parents(dst)) {
		send_errno(r, "mkdir parents of", dst);
		return 0;
	}
	if (existed && rm_tree(dst) < 0) {
		send_errno(r, "replace", dst);
		return 0;
	}
	int rc = copy ? copy_tree(src, dst, 0) : rename(src, dst);
	if (!copy && rc < 0 && errno == EXDEV && (rc = copy_tree(src, dst, 0)) == 0)
		rc = rm_tree(src);
	if (rc < 0) {
		send_errno(r, copy ? "copy to" : "move to", dst);
		return 0;
	}
	return existed ? 204 : 201;
}
