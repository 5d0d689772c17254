#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void hoody_panic(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	int saved = errno;
	int n = snprintf(msg, sizeof(msg), "PANIC %s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	errno = saved; /* a "%m" in fmt names the failure that led here */
	int m = vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	n += m > 0 ? m : 0;
	va_end(ap);
	if (n > (int)sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';
	/* write(2), not stdio: no lock a forked child could find held. */
	if (write(STDERR_FILENO, msg, (size_t)n) < 0) {
		/* nothing left to tell */
	}
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		HOODY_PANIC("out of memory (%zu bytes)", n);
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		HOODY_PANIC("out of memory (%zu x %zu bytes)", n, m);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		HOODY_PANIC("out of memory (%zu bytes)", n);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		HOODY_PANIC("out of memory (strdup)");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		HOODY_PANIC("out of memory (asprintf)");
	return s;
}

int mkdir_p(const char *path, unsigned mode, struct error *err)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return err_set(err, E_INTERNAL, "path too long: %s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return err_sys(err, E_IO, "mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return err_sys(err, E_IO, "mkdir %s", buf);
	return 0;
}

static int rm_at(int dirfd, const char *name, dev_t dev, struct error *err);

static int rm_children(int dirfd, const char *name, dev_t dev, struct error *err)
{
	_cleanup_close_ int fd =
	    openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, E_IO, "open %s", name);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d)
		return err_sys(err, E_IO, "opendir %s", name);
	int dfd = steal_fd(&fd); /* d owns it now */
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = rm_at(dfd, de->d_name, dev, err);
	}
	return rc;
}

static int rm_at(int dirfd, const char *name, dev_t dev, struct error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : err_sys(err, E_IO, "stat %s", name);
	if (S_ISDIR(st.st_mode)) {
		if (st.st_dev != dev)
			return err_set(err, E_IO, "refusing to cross a mount point at %s", name);
		int rc = rm_children(dirfd, name, dev, err);
		if (rc < 0)
			return rc;
		if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return err_sys(err, E_IO, "rmdir %s", name);
		return 0;
	}
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return err_sys(err, E_IO, "unlink %s", name);
	return 0;
}

int rm_rf(const char *path, struct error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_sys(err, E_IO, "stat %s", path);
	return rm_at(AT_FDCWD, path, st.st_dev, err);
}

int read_file(const char *path, size_t max, char **out_new, size_t *len_out, struct error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, errno == ENOENT ? E_NOT_FOUND : E_IO, "open %s", path);
	size_t cap = 4096, len = 0;
	_cleanup_free_ char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= max)
				break;
			cap = cap * 2 > max ? max : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, E_IO, "read %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out_new = steal_ptr(&buf);
	if (len_out)
		*len_out = len;
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
		      struct error *err)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)gettid());
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return err_sys(err, E_IO, "create %s", tmp);
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_sys(err, E_IO, "write %s", tmp); /* before unlink can change errno */
			unlink(tmp);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	/* close even when fchmod fails: the descriptor is ours either way;
	 * close's own result counts (a delayed write error surfaces there). */
	bool chmod_failed = fchmod(fd, mode) < 0;
	int saved = errno;
	if (close(steal_fd(&fd)) < 0 || chmod_failed) {
		if (chmod_failed)
			errno = saved;
		err_sys(err, E_IO, "finish %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		err_sys(err, E_IO, "rename %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int write_file(const char *path, const char *data, struct error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC | O_CREAT, 0644);
	if (fd < 0)
		return err_sys(err, E_IO, "open %s", path);
	size_t len = strlen(data);
	ssize_t n = write(fd, data, len);
	if (n != (ssize_t)len)
		return err_sys(err, E_IO, "write %s", path);
	return 0;
}

int lock_file_open(const char *path, struct error *err)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, E_IO, "open %s", path);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return err_sys(err, E_IO, "lock %s", path);
	}
	return steal_fd(&fd);
}

bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int read_u64_file(const char *path, uint64_t *out)
{
	char buf[64];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!strncmp(buf, "max", 3)) {
		*out = UINT64_MAX;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -1;
	*out = v;
	return 0;
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_unix(void)
{
	return (int64_t)time(NULL);
}

int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void iso8601_ms(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", base, (int)(ms % 1000));
}

void iso8601_now(char *buf, size_t len)
{
	iso8601_ms(now_ms(), buf, len);
}

int64_t iso8601_parse_ms(const char *s)
{
	struct tm tm = {0};
	int ms = 0;
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*p - '0');
		for (; digits < 3 && digits > 0; digits++)
			ms *= 10;
	}
	if (*p == 'Z')
		p++;
	if (*p)
		return -1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

size_t url_decode(const char *in, size_t n, char *out, bool form)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (in[i] == '%' && i + 2 < n && (hi = hex_digit(in[i + 1])) >= 0 &&
		    (lo = hex_digit(in[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (form && in[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
	return o;
}

bool write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}
