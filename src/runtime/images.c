/* The image store: one read-only tree per image at
 * <image_dir>/<name>/rootfs plus <image_dir>/<name>/meta.json, used as the
 * overlay lower layer of every container made from it.
 *
 * Test daemons share one image dir, so every change is made under a per-name
 * flock (<image_dir>/.lock-<flat name>) and published with one rename of a
 * finished temp dir (<image_dir>/.tmp-<flat name>-<pid>): readers see an image
 * complete or not at all, and a second builder waits, then finds it there.
 * Entries starting with '.' are the store's own and never image names. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define IMAGE_NAME_MAX 100
#define DEFAULT_DEBIAN "13"
#define BUILD_TIMEOUT_MS (60 * 60 * 1000)
#define LIST_MAX 10000
#define TREE_ENTRIES_MAX (50u * 1000 * 1000)
#define BUSYBOX_BIN "/bin/busybox"

/* ---- names ---- */

static bool is_version(const char *s)
{
	return *s >= '0' && *s <= '9' && strspn(s, "0123456789.") == strlen(s);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Lowercases, trims, and turns each run of the separators users type (':'
 * and blanks) into one '/'. false when it does not fit. */
static bool name_fold(const char *in, char *buf, size_t len)
{
	size_t start = 0, end = strlen(in), n = 0;
	while (start < end && is_blank(in[start]))
		start++;
	while (end > start && is_blank(in[end - 1]))
		end--;
	bool in_sep = false;
	for (size_t i = start; i < end; i++) {
		char c = in[i];
		bool sep = is_blank(c) || c == ':';
		if (sep && in_sep)
			continue;
		in_sep = sep;
		if (sep)
			c = '/';
		else if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (n + 1 >= len)
			return false;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return true;
}

/* "debian-13", "ubuntu-24.04": a dash before a version is a separator. */
static void name_split_dash(char *buf)
{
	char *dash = strrchr(buf, '-');
	if (!strchr(buf, '/') && dash && dash != buf && is_version(dash + 1))
		*dash = '/';
}

static int name_check(const char *in, const char *s, struct error *err)
{
	const char *why = NULL;
	if (!*s)
		why = "it is empty";
	else if (strstr(s, ".."))
		why = "'..' is not allowed";
	else if (*s == '/')
		why = "it must not be an absolute path";
	else if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._/-") != strlen(s))
		why = "only letters, digits, '.', '_', '-' and one '/' are allowed";
	else if (strlen(s) > IMAGE_NAME_MAX)
		why = "it is longer than 100 characters";
	if (!why) {
		const char *slash = strchr(s, '/');
		const char *rel = slash ? slash + 1 : NULL;
		if (slash && strchr(rel, '/'))
			why = "it may contain at most one '/' (os/release)";
		else if (*s == '.' || *s == '-' || (rel && (*rel == '.' || *rel == '-')))
			why = "a part may not start with '.' or '-'";
		else if (slash == s || (rel && !*rel))
			why = "os and release must not be empty";
		else if (rel && (!strcmp(rel, "rootfs") || !strcmp(rel, "meta.json")))
			why = "the release may not be \"rootfs\" or \"meta.json\"";
	}
	if (!why)
		return 0;
	/* The name goes back to the user and into logs: printable only. */
	char shown[IMAGE_NAME_MAX + 1];
	size_t n = 0;
	for (; n < IMAGE_NAME_MAX && in[n]; n++)
		shown[n] = in[n] >= 0x20 && in[n] < 0x7f ? in[n] : '?';
	shown[n] = '\0';
	return err_set(err, E_VALIDATION,
		       "invalid image name \"%s\": %s (examples: debian/13, ubuntu/24.04, busybox)",
		       shown, why);
}

int rt_image_normalize(const char *in, char *out, size_t outlen, struct error *err)
{
	char buf[IMAGE_NAME_MAX + 2];
	if (!in || !*in)
		return name_check("", "", err);
	if (strlen(in) > IMAGE_NAME_MAX || !name_fold(in, buf, sizeof(buf)))
		return err_set(err, E_VALIDATION,
			       "invalid image name: it is longer than 100 characters");
	name_split_dash(buf);
	if (!strcmp(buf, "debian"))
		snprintf(buf, sizeof(buf), "debian/%s", DEFAULT_DEBIAN);
	if (name_check(in, buf, err) < 0)
		return -1;
	if (strlen(buf) >= outlen)
		return err_set(err, E_INTERNAL, "image name buffer too small");
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

static void name_parts(const char *name, char os[32], char release[32])
{
	const char *slash = strchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : strlen(name);
	snprintf(os, 32, "%.*s", (int)(n < 31 ? n : 31), name);
	snprintf(release, 32, "%s", slash ? slash + 1 : "");
}

/* "debian/13" -> "debian@13": one path component for locks and temp dirs
 * ('@' never occurs in a name, so no two names share it). */
static void name_flat(const char *name, char out[IMAGE_NAME_MAX + 1])
{
	snprintf(out, IMAGE_NAME_MAX + 1, "%s", name);
	for (char *p = out; *p; p++)
		if (*p == '/')
			*p = '@';
}

/* ---- store primitives ---- */

static char *image_path(struct runtime *rt, const char *name)
{
	return xasprintf("%s/%s", rt->image_dir, name);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool present(struct runtime *rt, const char *canonical)
{
	_cleanup_free_ char *root = rt_image_rootfs(rt, canonical);
	return is_dir(root);
}

bool rt_image_exists(struct runtime *rt, const char *name)
{
	char canon[IMAGE_NAME_MAX + 1];
	return rt_image_normalize(name, canon, sizeof(canon), NULL) == 0 && present(rt, canon);
}

int image_rootfs_path(struct runtime *rt, const char *name, char **path_new, struct error *err)
{
	char canon[IMAGE_NAME_MAX + 1];
	if (rt_image_normalize(name, canon, sizeof(canon), err) < 0)
		return -1;
	if (!present(rt, canon))
		return err_set(err, E_VALIDATION, "image %s is not available on this server",
			       canon);
	*path_new = rt_image_rootfs(rt, canon);
	return 0;
}

/* Blocks until this process holds the name's lock; returns the fd to close. */
static int lock_name(struct runtime *rt, const char *name, struct error *err)
{
	char flat[IMAGE_NAME_MAX + 1];
	name_flat(name, flat);
	if (mkdir_p(rt->image_dir, 0755, err) < 0)
		return -1;
	_cleanup_free_ char *path = xasprintf("%s/.lock-%s", rt->image_dir, flat);
	return lock_file_open(path, err);
}

/* Leftovers of builds that died (we hold the name's lock: nobody else owns them). */
static void remove_leftovers(struct runtime *rt, const char *name)
{
	char flat[IMAGE_NAME_MAX + 1];
	name_flat(name, flat);
	_cleanup_free_ char *tmp_prefix = xasprintf(".tmp-%s-", flat);
	_cleanup_free_ char *trash_prefix = xasprintf(".trash-%s-", flat);
	DIR *d = opendir(rt->image_dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, tmp_prefix, strlen(tmp_prefix)) &&
		    strncmp(de->d_name, trash_prefix, strlen(trash_prefix)))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", rt->image_dir, de->d_name);
		struct error e = {0};
		if (rm_rf(p, &e) < 0)
			log_warn("image store: %s", e.msg);
	}
	closedir(d);
}

/* A fresh <image_dir>/.tmp-<flat>-<pid> with an empty rootfs/ (unless
 * want_rootfs is false: mmdebstrap wants to create it). */
static char *tmp_new(struct runtime *rt, const char *name, bool want_rootfs, struct error *err)
{
	char flat[IMAGE_NAME_MAX + 1];
	name_flat(name, flat);
	char *tmp = xasprintf("%s/.tmp-%s-%d", rt->image_dir, flat, (int)getpid());
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	struct error ignored;
	rm_rf(tmp, &ignored);
	if (mkdir(tmp, 0755) < 0 || (want_rootfs && mkdir(root, 0755) < 0)) {
		err_sys(err, E_IO, "mkdir %s", tmp);
		free(tmp);
		return NULL;
	}
	return tmp;
}

static int write_meta(const char *dir, const char *name, uint64_t size, struct error *err)
{
	char os[32], release[32], created[40];
	name_parts(name, os, release);
	int64_t ms = now_ms();
	iso8601_ms(ms, created, sizeof(created));
	json_t *meta =
	    json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "name", name, "os", os, "release", release,
		      "created", created, "created_ms", (json_int_t)ms, "size", (json_int_t)size);
	char *text = json_dumps(meta, JSON_INDENT(2));
	json_decref(meta);
	_cleanup_free_ char *path = xasprintf("%s/meta.json", dir);
	_cleanup_free_ char *line = xasprintf("%s\n", text);
	free(text);
	return write_file_atomic(path, line, strlen(line), 0644, err);
}

/* Writes meta.json into tmp and renames tmp to the image's place. */
static int publish(struct runtime *rt, const char *tmp, const char *name, struct error *err)
{
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	if (write_meta(tmp, name, rt_tree_usage(root, TREE_ENTRIES_MAX), err) < 0)
		return -1;
	_cleanup_free_ char *final = image_path(rt, name);
	const char *slash = strchr(name, '/');
	_cleanup_free_ char *parent =
	    slash ? xasprintf("%s/%.*s", rt->image_dir, (int)(slash - name), name) : NULL;
	/* Removing the last other release deletes the shared parent dir (under
	 * that release's lock, not ours): make it again if it just went. */
	for (int tries = 0;; tries++) {
		if (parent && mkdir(parent, 0755) < 0 && errno != EEXIST)
			return err_sys(err, E_IO, "mkdir %s", parent);
		if (rename(tmp, final) == 0)
			return 0;
		if (errno != ENOENT || !parent || tries == 3)
			return err_sys(err, E_IO, "rename %s to %s", tmp, final);
	}
}

/* ---- building ---- */

static int put_file(const char *root, const char *rel, const char *text, unsigned mode,
		    struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", root, rel);
	_cleanup_close_ int fd =
	    open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return err_sys(err, E_IO, "create %s", path);
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len && fchmod(fd, mode) == 0;
	return ok ? 0 : err_sys(err, E_IO, "write %s", path);
}

static int copy_file(const char *src, const char *dst, unsigned mode, struct error *err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_sys(err, E_IO, "open %s", src);
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0)
		return err_sys(err, E_IO, "create %s", dst);
	for (;;) {
		ssize_t n = sendfile(out, in, NULL, 1 << 20);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			return err_sys(err, E_IO, "copy %s to %s", src, dst);
	}
	if (fchmod(out, mode) < 0)
		return err_sys(err, E_IO, "chmod %s", dst);
	return 0;
}

static const struct {
	const char *path;
	unsigned mode;
} busybox_dirs[] = {
    {"bin", 0755},	{"sbin", 0755},	     {"usr", 0755},	      {"usr/bin", 0755},
    {"usr/sbin", 0755}, {"usr/local", 0755}, {"usr/local/bin", 0755}, {"etc", 0755},
    {"root", 0700},	{"home", 0755},	     {"tmp", 01777},	      {"proc", 0555},
    {"sys", 0555},	{"dev", 0755},	     {"run", 0755},	      {"var", 0755},
    {"var/tmp", 01777}, {"var/log", 0755},   {"mnt", 0755},	      {"opt", 0755},
    {"ramdisk", 0755},
};

static const struct {
	const char *path;
	const char *text;
	unsigned mode;
} busybox_files[] = {
    {"etc/passwd",
     "root:x:0:0:root:/root:/bin/sh\n"
     "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
     0644},
    {"etc/group", "root:x:0:\ndaemon:x:1:\ntty:x:5:\nusers:x:100:\nnogroup:x:65534:\n", 0644},
    {"etc/shadow",
     "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
     "nobody:*:19000:0:99999:7:::\n",
     0600},
    {"etc/hostname", "busybox\n", 0644},
    {"etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0644},
    {"etc/resolv.conf", "", 0644},
    {"etc/environment", "", 0644},
    {"etc/os-release",
     "NAME=\"BusyBox\"\nID=busybox\nPRETTY_NAME=\"BusyBox (hoody image)\"\n"
     "HOME_URL=\"https://busybox.net/\"\n",
     0644},
    {"etc/profile",
     "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
     "export HOME=${HOME:-/root}\n"
     "[ -r /etc/environment ] && set -a && . /etc/environment && set +a\n"
     "PS1='\\u@\\h:\\w\\$ '\n",
     0644},
};

/* One symlink to /bin/busybox per applet of `busybox --list-full`
 * ("bin/ls", "usr/bin/awk", ...). */
static int busybox_applets(struct runtime *rt, const char *root, struct error *err)
{
	const char *argv[] = {BUSYBOX_BIN, "--list-full", NULL};
	struct rt_exec_result res;
	if (proc_run(rt, argv, NULL, 30 * 1000, 1 << 20, &res, err) < 0)
		return -1;
	int rc = 0;
	if (res.exit_code != 0 || !res.out_len)
		rc = err_set(err, E_RUNTIME, "%s --list-full failed: %.200s", BUSYBOX_BIN, res.err);
	char *save = NULL;
	size_t count = 0;
	for (char *line = strtok_r(res.out, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		if (*line == '/' || strstr(line, "..") || !strcmp(line, "bin/busybox") ||
		    !strcmp(line, "linuxrc"))
			continue;
		_cleanup_free_ char *link = xasprintf("%s/%s", root, line);
		if (symlink("/bin/busybox", link) < 0 && errno != EEXIST)
			rc = err_sys(err, E_IO, "symlink %s", link);
		count++;
	}
	rt_exec_result_free(&res);
	if (rc == 0 && count < 10)
		rc = err_set(err, E_RUNTIME, "%s lists only %zu applets", BUSYBOX_BIN, count);
	return rc;
}

static int build_busybox(struct runtime *rt, const char *tmp, bool verbose, struct error *err)
{
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	if (!path_exists(BUSYBOX_BIN))
		return err_set(
		    err, E_RUNTIME,
		    "%s is missing: install the busybox-static package (scripts/setup.sh)",
		    BUSYBOX_BIN);
	for (size_t i = 0; i < ARRAY_SIZE(busybox_dirs); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", root, busybox_dirs[i].path);
		/* chmod: mkdir's mode is filtered by the umask. */
		if ((mkdir(p, 0755) < 0 && errno != EEXIST) || chmod(p, busybox_dirs[i].mode) < 0)
			return err_sys(err, E_IO, "mkdir %s", p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(busybox_files); i++)
		if (put_file(root, busybox_files[i].path, busybox_files[i].text,
			     busybox_files[i].mode, err) < 0)
			return -1;
	_cleanup_free_ char *bin = xasprintf("%s/bin/busybox", root);
	if (copy_file(BUSYBOX_BIN, bin, 0755, err) < 0)
		return -1;
	if (verbose)
		fprintf(stderr, "busybox: linking applets\n");
	return busybox_applets(rt, root, err);
}

/* A Debian archive (not its security one) that apt can fetch from. */
static bool mirror_ok(const char *uri)
{
	return strstr(uri, "/debian") && !strstr(uri, "security") && strlen(uri) < 200 &&
	       (!strncmp(uri, "http://", 7) || !strncmp(uri, "https://", 8) ||
		!strncmp(uri, "file:/", 6));
}

/* Next line of *p (NUL-terminated in place, blank lines kept); NULL at the end. */
static char *next_line(char **p)
{
	if (!**p)
		return NULL;
	char *line = *p, *nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = line + strlen(line);
	}
	return line;
}

static bool has_word(const char *list, const char *word)
{
	char buf[256];
	snprintf(buf, sizeof(buf), " %s ", list);
	for (char *c = buf; *c; c++)
		if (*c == '\t')
			*c = ' ';
	_cleanup_free_ char *needle = xasprintf(" %s ", word);
	return strstr(buf, needle) != NULL;
}

/* One-line format: "deb [options] URI suite components". */
static void mirror_from_list(char *text, char *out, size_t len)
{
	for (char *line; !*out && (line = next_line(&text));) {
		char *save = NULL, *tok = strtok_r(line, " \t", &save);
		if (!tok || strcmp(tok, "deb"))
			continue;
		tok = strtok_r(NULL, " \t", &save);
		if (tok && *tok == '[') {
			while (tok && !strchr(tok, ']'))
				tok = strtok_r(NULL, " \t", &save);
			if (tok)
				tok = strtok_r(NULL, " \t", &save);
		}
		if (tok && mirror_ok(tok))
			snprintf(out, len, "%s", tok);
	}
}

/* deb822 format: stanzas of "Field: value" lines separated by blank lines. */
static void mirror_from_sources(char *text, char *out, size_t len)
{
	char uri[256] = "";
	bool deb = false, enabled = true;
	for (;;) {
		char *line = next_line(&text);
		if (line && !strncasecmp(line, "Types:", 6))
			deb = has_word(line + 6, "deb");
		else if (line && !strncasecmp(line, "Enabled:", 8))
			enabled = !has_word(line + 8, "no");
		else if (line && !strncasecmp(line, "URIs:", 5) &&
			 sscanf(line + 5, " %255s", uri) != 1)
			uri[0] = '\0';
		if (line && *line)
			continue;
		if (deb && enabled && !*out && mirror_ok(uri))
			snprintf(out, len, "%s", uri);
		uri[0] = '\0';
		deb = false;
		enabled = true;
		if (!line)
			return;
	}
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The host's own Debian mirror (the one known to work from here). */
static void host_mirror(char *out, size_t len)
{
	out[0] = '\0';
	_cleanup_free_ char *text = NULL;
	if (read_file("/etc/apt/sources.list", 1 << 20, &text, NULL, NULL) == 0)
		mirror_from_list(text, out, len);
	DIR *d = opendir("/etc/apt/sources.list.d");
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) && n < ARRAY_SIZE(names)) {
		size_t l = strlen(de->d_name);
		if ((l > 5 && !strcmp(de->d_name + l - 5, ".list")) ||
		    (l > 8 && !strcmp(de->d_name + l - 8, ".sources")))
			names[n++] = xstrdup(de->d_name);
	}
	if (d)
		closedir(d);
	qsort(names, n, sizeof(*names), cmp_cstr);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = xasprintf("/etc/apt/sources.list.d/%s", names[i]);
		_cleanup_free_ char *t = NULL;
		if (!*out && read_file(p, 1 << 20, &t, NULL, NULL) == 0) {
			if (strstr(names[i], ".sources"))
				mirror_from_sources(t, out, len);
			else
				mirror_from_list(t, out, len);
		}
		free(names[i]);
	}
	if (!*out)
		snprintf(out, len, "http://deb.debian.org/debian");
}

/* Runs a long build command; its output goes to stderr when verbose, else
 * to log (kept for the error message). */
static int run_logged(struct runtime *rt, const char *const *argv, bool verbose, const char *log,
		      struct error *err)
{
	int code;
	if (proc_run_logged(rt, argv, verbose ? "/dev/stderr" : log, BUILD_TIMEOUT_MS, &code, err) <
	    0)
		return -1;
	if (code == 0)
		return 0;
	if (verbose)
		return err_set(err, E_RUNTIME, "%s failed (exit %d), see its output above", argv[0],
			       code);
	return err_set(err, E_RUNTIME, "%s failed (exit %d), see %s", argv[0], code, log);
}

static int build_debian(struct runtime *rt, const char *tmp, const char *suite, bool verbose,
			struct error *err)
{
	char mirror[256];
	host_mirror(mirror, sizeof(mirror));
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	_cleanup_free_ char *log = xasprintf("%s.log", tmp);
	unlink(log);
	if (verbose)
		fprintf(stderr, "debian %s: mmdebstrap --variant=minbase from %s\n", suite, mirror);
	const char *argv[] = {"mmdebstrap",  "--variant=minbase",
			      "--mode=root", "--format=directory",
			      suite,	     root,
			      mirror,	     NULL};
	if (run_logged(rt, argv, verbose, log, err) < 0)
		return -1;
	unlink(log);
	/* mmdebstrap leaves the build host's name and resolvers in the tree;
	 * containers get their own (bind-mounted by the runtime). */
	static const char *const reset[][2] = {{"etc/hostname", "localhost\n"},
					       {"etc/resolv.conf", ""}};
	for (size_t i = 0; i < ARRAY_SIZE(reset); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", root, reset[i][0]);
		unlink(p);
		if (put_file(root, reset[i][0], reset[i][1], 0644, err) < 0)
			return -1;
	}
	return 0;
}

/* Fills the temp dir tmp (its rootfs/ at least) with an image. */
typedef int (*fill_fn)(struct runtime *rt, const char *tmp, const void *arg, struct error *err);

/* Makes canon in a fresh temp dir and publishes it, or leaves no trace;
 * the caller holds the name's lock. */
static int make_image(struct runtime *rt, const char *canon, bool want_rootfs, fill_fn fill,
		      const void *arg, struct error *err)
{
	remove_leftovers(rt, canon);
	_cleanup_free_ char *tmp = tmp_new(rt, canon, want_rootfs, err);
	if (!tmp)
		return -1;
	int rc = fill(rt, tmp, arg, err);
	if (rc == 0)
		rc = publish(rt, tmp, canon, err);
	if (rc < 0) {
		struct error ignored;
		rm_rf(tmp, &ignored);
	}
	return rc;
}

struct build_args {
	const char *suite; /* NULL: busybox */
	bool verbose;
};

static int fill_build(struct runtime *rt, const char *tmp, const void *arg, struct error *err)
{
	const struct build_args *a = arg;
	if (a->suite)
		return build_debian(rt, tmp, a->suite, a->verbose, err);
	return build_busybox(rt, tmp, a->verbose, err);
}

static int build_locked(struct runtime *rt, const char *canon, const struct build_args *a,
			struct error *err)
{
	if (present(rt, canon)) {
		if (a->verbose)
			fprintf(stderr, "%s: already in the store\n", canon);
		return 0;
	}
	int64_t t0 = mono_ns();
	/* mmdebstrap wants to create the rootfs dir itself. */
	if (make_image(rt, canon, !a->suite, fill_build, a, err) < 0)
		return -1;
	if (a->verbose)
		fprintf(stderr, "%s: built in %.1f s\n", canon, (double)(mono_ns() - t0) / 1e9);
	return 0;
}

int rt_image_build(struct runtime *rt, const char *name, bool verbose, struct error *err)
{
	char canon[IMAGE_NAME_MAX + 1];
	if (rt_image_normalize(name, canon, sizeof(canon), err) < 0)
		return -1;
	const char *suite = !strcmp(canon, "debian/12")	  ? "bookworm"
			    : !strcmp(canon, "debian/13") ? "trixie"
							  : NULL;
	if (!suite && strcmp(canon, "busybox"))
		return err_set(
		    err, E_VALIDATION,
		    "image %s cannot be built on this server (only busybox, debian/12 and "
		    "debian/13 can): import a rootfs tarball with `hoodyd images import %s "
		    "FILE.tar.gz`",
		    canon, canon);
	_cleanup_close_ int lock = lock_name(rt, canon, err);
	if (lock < 0)
		return -1;
	struct build_args args = {.suite = suite, .verbose = verbose};
	int rc = build_locked(rt, canon, &args, err);
	if (rc < 0)
		err_wrap(err, "build image %s", canon);
	return rc;
}

/* ---- import ---- */

static const char *tar_filter(const char *file)
{
	static const struct {
		const char *ext, *flag;
	} exts[] = {{".tar", ""},	    {".tar.gz", "--gzip"}, {".tgz", "--gzip"},
		    {".tar.zst", "--zstd"}, {".tzst", "--zstd"},   {".tar.xz", "--xz"},
		    {".txz", "--xz"}};
	size_t len = strlen(file);
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		size_t el = strlen(exts[i].ext);
		if (len > el && !strcmp(file + len - el, exts[i].ext))
			return exts[i].flag;
	}
	return NULL;
}

static int extract(struct runtime *rt, const char *tarball, const char *root, struct error *err)
{
	const char *filter = tar_filter(tarball);
	const char *argv[] = {"tar",
			      "-x",
			      "--numeric-owner",
			      "--same-permissions",
			      "-f",
			      tarball,
			      "-C",
			      root,
			      *filter ? filter : NULL,
			      NULL};
	struct rt_exec_result res;
	if (proc_run(rt, argv, NULL, BUILD_TIMEOUT_MS, 64 * 1024, &res, err) < 0)
		return -1;
	int rc = 0;
	if (res.exit_code != 0)
		rc =
		    err_set(err, E_RUNTIME, "tar failed (exit %d): %.300s", res.exit_code, res.err);
	rt_exec_result_free(&res);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *bin = xasprintf("%s/bin", root);
	_cleanup_free_ char *ubin = xasprintf("%s/usr/bin", root);
	if (!is_dir(bin) && !is_dir(ubin))
		return err_set(
		    err, E_VALIDATION,
		    "%s does not look like a root filesystem: no bin/ or usr/bin/ at its "
		    "top (pack it with `tar -C ROOTFS -czf FILE .`)",
		    tarball);
	return 0;
}

static int fill_import(struct runtime *rt, const char *tmp, const void *tarball, struct error *err)
{
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	return extract(rt, tarball, root, err);
}

static int import_locked(struct runtime *rt, const char *canon, const char *tarball,
			 struct error *err)
{
	if (present(rt, canon))
		return err_set(err, E_CONFLICT, "image %s already exists: remove it first", canon);
	return make_image(rt, canon, true, fill_import, tarball, err);
}

int rt_image_import(struct runtime *rt, const char *name, const char *tarball, struct error *err)
{
	char canon[IMAGE_NAME_MAX + 1];
	struct stat st;
	if (rt_image_normalize(name, canon, sizeof(canon), err) < 0)
		return -1;
	if (!tarball || !tar_filter(tarball))
		return err_set(
		    err, E_VALIDATION,
		    "%s: unsupported tarball, use .tar, .tar.gz/.tgz, .tar.zst or .tar.xz",
		    tarball ? tarball : "(none)");
	if (stat(tarball, &st) < 0 || !S_ISREG(st.st_mode) || access(tarball, R_OK) < 0)
		return err_set(err, E_VALIDATION, "%s is not a readable file", tarball);
	_cleanup_close_ int lock = lock_name(rt, canon, err);
	if (lock < 0)
		return -1;
	int rc = import_locked(rt, canon, tarball, err);
	if (rc < 0)
		err_wrap(err, "import image %s", canon);
	return rc;
}

/* ---- remove ---- */

/* Overlays whose lower layer is root, directly or through an idmapped view
 * of it (user-namespace containers). */
static int mounts_using(struct runtime *rt, const char *root)
{
	_cleanup_free_ char *info = NULL;
	if (read_file("/proc/self/mountinfo", 64 << 20, &info, NULL, NULL) < 0)
		return 0;
	size_t rl = strlen(root);
	int count = 0;
	for (const char *p = info; (p = strstr(p, "lowerdir=")); p++) {
		const char *v = p + strlen("lowerdir=");
		size_t n = strcspn(v, ",: \n");
		if ((n == rl && !strncmp(v, root, n)) || idmap_is_view_of(rt, v, n, root))
			count++;
	}
	return count;
}

int rt_image_remove(struct runtime *rt, const char *name, struct error *err)
{
	char canon[IMAGE_NAME_MAX + 1], flat[IMAGE_NAME_MAX + 1];
	if (rt_image_normalize(name, canon, sizeof(canon), err) < 0)
		return -1;
	_cleanup_close_ int lock = lock_name(rt, canon, err);
	if (lock < 0)
		return -1;
	int rc = 0;
	_cleanup_free_ char *dir = image_path(rt, canon);
	_cleanup_free_ char *root = rt_image_rootfs(rt, canon);
	name_flat(canon, flat);
	_cleanup_free_ char *trash =
	    xasprintf("%s/.trash-%s-%d", rt->image_dir, flat, (int)getpid());
	int users = 0;
	if (!present(rt, canon)) {
		rc = err_set(err, E_NOT_FOUND, "image %s is not in the store", canon);
	} else if ((users = mounts_using(rt, root)) > 0) {
		rc = err_set(err, E_RESOURCE_IN_USE,
			     "image %s is the base of %d mounted container filesystem(s): delete "
			     "those containers first",
			     canon, users);
	} else if (rename(dir, trash) < 0) {
		rc = err_sys(err, E_IO, "rename %s", dir);
	} else {
		/* Renamed first so the image disappears at once and whole. */
		rc = rm_rf(trash, err);
		idmap_forget_tree(rt, root);
		const char *slash = strchr(canon, '/');
		if (slash) {
			_cleanup_free_ char *parent =
			    xasprintf("%s/%.*s", rt->image_dir, (int)(slash - canon), canon);
			rmdir(parent); /* only when no other release is left */
		}
	}
	return rc;
}

/* ---- list ---- */

static void read_meta(const char *dir, struct rt_image *img)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.json", dir);
	json_t *meta = json_load_file(path, 0, NULL);
	json_t *c = json_object_get(meta, "created_ms"), *s = json_object_get(meta, "size");
	if (json_is_integer(c))
		img->created_ms = json_integer_value(c);
	if (json_is_integer(s) && json_integer_value(s) >= 0)
		img->size_bytes = (uint64_t)json_integer_value(s);
	json_decref(meta);
	if (!img->created_ms) {
		struct stat st;
		if (stat(dir, &st) == 0)
			img->created_ms = (int64_t)st.st_mtime * 1000;
	}
}

struct image_list {
	struct rt_image *v;
	size_t n, cap;
};

static void list_add(struct runtime *rt, struct image_list *l, const char *name)
{
	char canon[IMAGE_NAME_MAX + 1];
	/* Only canonical names: a stray "Foo" dir is not an image. */
	if (l->n >= LIST_MAX || rt_image_normalize(name, canon, sizeof(canon), NULL) < 0 ||
	    strcmp(canon, name) || !present(rt, canon))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	struct rt_image *img = &l->v[l->n++];
	memset(img, 0, sizeof(*img));
	snprintf(img->name, sizeof(img->name), "%s", canon);
	name_parts(canon, img->os, img->release);
	_cleanup_free_ char *dir = image_path(rt, canon);
	read_meta(dir, img);
}

static int cmp_image(const void *a, const void *b)
{
	return strcmp(((const struct rt_image *)a)->name, ((const struct rt_image *)b)->name);
}

int rt_image_list(struct runtime *rt, struct rt_image **out_new, size_t *count, struct error *err)
{
	struct image_list l = {0};
	DIR *d = opendir(rt->image_dir);
	if (!d && errno != ENOENT)
		return err_sys(err, E_IO, "opendir %s", rt->image_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		list_add(rt, &l, de->d_name);
		_cleanup_free_ char *sub = xasprintf("%s/%s", rt->image_dir, de->d_name);
		DIR *sd = opendir(sub);
		struct dirent *se;
		while (sd && (se = readdir(sd))) {
			if (se->d_name[0] == '.' || !strcmp(se->d_name, "rootfs"))
				continue;
			_cleanup_free_ char *name = xasprintf("%s/%s", de->d_name, se->d_name);
			list_add(rt, &l, name);
		}
		if (sd)
			closedir(sd);
	}
	if (d)
		closedir(d);
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_image);
	*out_new = l.v;
	*count = l.n;
	return 0;
}
