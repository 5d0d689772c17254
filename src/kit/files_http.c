/* Files service routes: REST (/api/v1/files/...) and the root family with
 * its WebDAV verbs (kit-api.md §5.1-5.3, 5.6, 5.7). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kit/files.h"

#define PATH_MAXLEN 4096

static void send_written(struct req *r, const char *path, long long size, int status)
{
	struct buf b = {0};
	buf_puts(&b, "{\"path\":");
	buf_json_str(&b, path);
	buf_printf(&b, ",\"new_size\":%lld,\"success\":true}", size);
	send_ok(r, status, b.p);
	buf_free(&b);
}

static void do_stat(struct req *r, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		send_errno(r, "stat", path);
		return;
	}
	struct buf b = {0};
	stat_json(&b, path, &st);
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static void do_get(struct req *r, const char *path, bool rest)
{
	if (send_file_view(r, path, rest))
		return;
	struct stat st;
	if (stat(path, &st) < 0) {
		send_errno(r, "read", path);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		if (q_flag(r, "tar") || q_flag(r, "archive"))
			send_tar(r, path);
		else if (q_flag(r, "zip"))
			send_err(r, 501, "zip archives are not supported; use ?tar");
		else if (rest || q_flag(r, "json"))
			send_listing(r, path, rest);
		else
			send_index_html(r, path);
		return;
	}
	send_file(r, path, q_flag(r, "download"));
}

static void do_put(struct req *r, const char *path, bool append, bool rest)
{
	bool created;
	long long size = 0;
	if (!rest && q_get(r, "touch", (char[2]){0}, 2)) {
		struct stat st;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			send_err(r, 409, "%s is a directory", path);
			return;
		}
		_cleanup_close_ int fd =
		    mkdir_parents(path) ? open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) : -1;
		if (fd < 0 || futimens(fd, NULL) < 0) {
			send_errno(r, "touch", path);
			return;
		}
		send_body(r, 201, NULL, "", 0, NULL);
		return;
	}
	if (!write_body(r, path, append, &created, &size))
		return;
	if (rest)
		send_written(r, path, size, 200);
	else
		send_body(r, created ? 201 : 204, NULL, "", 0, NULL);
}

static void do_delete(struct req *r, const char *path)
{
	if (strcmp(path, "/") == 0) {
		send_err(r, 403, "the served root cannot be deleted");
		return;
	}
	if (rm_tree(path) < 0) {
		send_errno(r, "delete", path);
		return;
	}
	struct buf b = {0};
	buf_puts(&b, "{\"path\":");
	buf_json_str(&b, path);
	buf_puts(&b, ",\"success\":true}");
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static void do_mkdir(struct req *r, const char *path, bool webdav)
{
	struct stat st;
	if (lstat(path, &st) == 0) {
		send_err(r, webdav ? 405 : 409, "%s exists", path);
		return;
	}
	if (!webdav && !mkdir_parents(path)) {
		send_errno(r, "mkdir", path);
		return;
	}
	if (mkdir(path, 0755) < 0) {
		if (webdav && errno == ENOENT) /* RFC 4918: missing parent */
			send_err(r, 409, "the parent of %s does not exist", path);
		else
			send_errno(r, "mkdir", path);
		return;
	}
	if (webdav) {
		send_body(r, 201, NULL, "", 0, NULL);
		return;
	}
	struct buf b = {0};
	buf_puts(&b, "{\"path\":");
	buf_json_str(&b, path);
	buf_puts(&b, ",\"success\":true}");
	send_ok(r, 201, b.p);
	buf_free(&b);
}

/* REST move/copy with the destination in the query. */
static void do_transfer(struct req *r, const char *src, const char *param, bool copy)
{
	char raw[PATH_MAXLEN], dst[PATH_MAXLEN];
	if (!q_get(r, param, raw, sizeof(raw)) || !*raw) {
		send_err(r, 400, "%s is required", param);
		return;
	}
	struct buf enc = {0};
	buf_url_encode_path(&enc, raw);
	bool ok = fs_resolve(r, enc.p, dst);
	buf_free(&enc);
	if (!ok)
		return;
	bool overwrite = copy ? q_flag(r, "overwrite") : false;
	if (!transfer(r, src, dst, copy, overwrite))
		return;
	struct buf b = {0};
	buf_puts(&b, "{\"source\":");
	buf_json_str(&b, src);
	buf_puts(&b, ",\"destination\":");
	buf_json_str(&b, dst);
	buf_puts(&b, ",\"success\":true}");
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static void do_chmod(struct req *r, const char *path)
{
	char v[16];
	char *e;
	long mode = q_get(r, "chmod", v, sizeof(v)) ? strtol(v, &e, 8) : -1;
	if (mode < 0 || mode > 07777 || *e) {
		send_err(r, 400, "chmod must be an octal mode such as 0644");
		return;
	}
	if (chmod(path, (mode_t)mode) < 0) {
		send_errno(r, "chmod", path);
		return;
	}
	struct buf b = {0};
	buf_puts(&b, "{\"path\":");
	buf_json_str(&b, path);
	buf_printf(&b, ",\"mode\":\"%04lo\",\"success\":true}", mode);
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static void rest_route(struct req *r, const char *rest)
{
	char path[PATH_MAXLEN];
	const char *m = r->method, *sub;
	struct {
		const char *prefix;
		int op;
	} ops[] = {{"/stat/", 1}, {"/append/", 2}, {"/move/", 3}, {"/copy/", 4}, {"/chmod/", 5}};
	int op = 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (path_is(rest, ops[i].prefix, &sub)) {
			op = ops[i].op;
			rest = sub;
			break;
		}
	if (!fs_resolve(r, rest, path))
		return;
	if (op == 1 && !strcmp(m, "GET"))
		do_stat(r, path);
	else if (op == 2 && !strcmp(m, "PUT"))
		do_put(r, path, true, true);
	else if (op == 3 && !strcmp(m, "POST"))
		do_transfer(r, path, "move_to", false);
	else if (op == 4 && !strcmp(m, "POST"))
		do_transfer(r, path, "copy_to", true);
	else if (op == 5 && !strcmp(m, "PATCH"))
		do_chmod(r, path);
	else if (op)
		send_err(r, 405, "%s is not allowed here", m);
	else if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
		q_flag(r, "stat") ? do_stat(r, path) : do_get(r, path, true);
	else if (!strcmp(m, "PUT"))
		do_put(r, path, q_flag(r, "append"), true);
	else if (!strcmp(m, "DELETE"))
		do_delete(r, path);
	else if (!strcmp(m, "POST") && q_get(r, "mkdir", (char[2]){0}, 2))
		do_mkdir(r, path, false);
	else if (!strcmp(m, "POST") && q_get(r, "move_to", (char[2]){0}, 2))
		do_transfer(r, path, "move_to", false);
	else if (!strcmp(m, "POST") && q_get(r, "copy_to", (char[2]){0}, 2))
		do_transfer(r, path, "copy_to", true);
	else if (!strcmp(m, "PATCH") && q_get(r, "chmod", (char[2]){0}, 2))
		do_chmod(r, path);
	else
		send_err(r, 400, "unsupported operation %s on /api/v1/files (see docs/KIT.md)", m);
}

/* ----------------------------------------------------------------- WebDAV */

static void prop_entry(struct buf *b, const char *path, const struct stat *st)
{
	struct buf href = {0};
	buf_url_encode_path(&href, path);
	if (S_ISDIR(st->st_mode) && strcmp(path, "/"))
		buf_puts(&href, "/");
	char date[64];
	struct tm tm;
	gmtime_r(&st->st_mtime, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	buf_puts(b, "<D:response><D:href>");
	buf_markup(b, href.p);
	buf_puts(b, "</D:href><D:propstat><D:prop><D:displayname>");
	const char *slash = strrchr(path, '/');
	buf_markup(b, slash && slash[1] ? slash + 1 : path);
	buf_puts(b, "</D:displayname>");
	if (S_ISDIR(st->st_mode))
		buf_puts(b, "<D:resourcetype><D:collection/></D:resourcetype>");
	else
		buf_printf(b,
			   "<D:resourcetype/><D:getcontentlength>%lld</D:getcontentlength>"
			   "<D:getcontenttype>application/octet-stream</D:getcontenttype>",
			   (long long)st->st_size);
	buf_printf(b,
		   "<D:getlastmodified>%s</D:getlastmodified><D:getetag>\"%llx-%llx\"</D:getetag>"
		   "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
		   date, (long long)st->st_mtime, (long long)st->st_size);
	buf_free(&href);
}

static void do_propfind(struct req *r, const char *path)
{
	const char *depth = req_header(r, "Depth");
	struct stat st;
	struct buf body = {0};
	req_body(r, 1 << 16, &body); /* the requested props do not change the answer */
	buf_free(&body);
	if (depth && strcmp(depth, "0") && strcmp(depth, "1") && strcasecmp(depth, "infinity")) {
		send_err(r, 400, "Depth must be 0, 1 or infinity");
		return;
	}
	if (stat(path, &st) < 0) {
		send_errno(r, "propfind", path);
		return;
	}
	struct buf b = {0};
	buf_puts(&b,
		 "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">");
	prop_entry(&b, path, &st);
	/* infinity is answered as 1: rclone and davfs walk level by level. */
	if (S_ISDIR(st.st_mode) && !(depth && strcmp(depth, "0") == 0)) {
		size_t n;
		char **names = dir_names(path, &n);
		for (size_t i = 0; names && names[i]; i++) {
			char full[PATH_MAXLEN];
			struct stat cs;
			snprintf(full, sizeof(full), "%.2040s%s%.2040s", path,
				 strcmp(path, "/") ? "/" : "", names[i]);
			if (stat(full, &cs) == 0)
				prop_entry(&b, full, &cs);
		}
		names_free(names);
	}
	buf_puts(&b, "</D:multistatus>\n");
	send_body(r, 207, "application/xml; charset=utf-8", b.p, b.len, NULL);
	buf_free(&b);
}

/* Destination: an absolute URL or a path; its path part is ours. */
static bool destination(struct req *r, char *out)
{
	const char *d = req_header(r, "Destination");
	if (!d || !*d) {
		send_err(r, 400, "Destination is required");
		return false;
	}
	const char *p = strstr(d, "://");
	if (p) {
		p = strchr(p + 3, '/');
		if (!p)
			p = "/";
	} else {
		p = d;
	}
	char tmp[PATH_MAXLEN];
	snprintf(tmp, sizeof(tmp), "%.*s", (int)strcspn(p, "?#"), p);
	return fs_resolve(r, tmp, out);
}

static void do_webdav_transfer(struct req *r, const char *src, bool copy)
{
	char dst[PATH_MAXLEN];
	if (!destination(r, dst))
		return;
	const char *ow = req_header(r, "Overwrite");
	bool overwrite = !ow || strcasecmp(ow, "F") != 0;
	int status = transfer(r, src, dst, copy, overwrite);
	if (status)
		send_body(r, status, NULL, "", 0, NULL);
}

static void root_route(struct req *r)
{
	char path[PATH_MAXLEN];
	const char *m = r->method;
	if (!strcmp(m, "OPTIONS")) {
		send_body(
		    r, 200, NULL, "", 0,
		    "Allow: GET, HEAD, PUT, PATCH, DELETE, OPTIONS, PROPFIND, MKCOL, MOVE, COPY\r\n"
		    "DAV: 1\r\nMS-Author-Via: DAV\r\n");
		return;
	}
	if (!fs_resolve(r, r->path, path))
		return;
	if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
		do_get(r, path, false);
	else if (!strcmp(m, "PUT"))
		do_put(r, path, false, false);
	else if (!strcmp(m, "PATCH")) {
		const char *u = req_header(r, "X-Update-Range");
		if (u && strcasecmp(u, "append") == 0)
			do_put(r, path, true, false);
		else
			send_err(r, 400, "PATCH supports X-Update-Range: append only");
	} else if (!strcmp(m, "DELETE"))
		do_delete(r, path);
	else if (!strcmp(m, "MKCOL"))
		do_mkdir(r, path, true);
	else if (!strcmp(m, "PROPFIND"))
		do_propfind(r, path);
	else if (!strcmp(m, "MOVE") || !strcmp(m, "COPY"))
		do_webdav_transfer(r, path, !strcmp(m, "COPY"));
	else
		send_err(r, 405, "%s is not supported", m);
}

void files_route(struct req *r)
{
	const char *rest;
	if (strcmp(r->path, "/api/v1/version") == 0)
		send_ok(r, 200,
			"{\"version\":\"" KIT_VERSION
			"\",\"server_version\":\"hoody-kit " KIT_VERSION "\"}");
	else if (path_is(r->path, "/api/v1/files", &rest))
		rest_route(r, rest);
	else
		root_route(r);
}
