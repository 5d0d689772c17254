/* Directory download as a POSIX ustar stream (GNU long-name records for
 * paths over 100 bytes), written straight to the connection. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kit/files.h"

#define PATH_MAXLEN 4096
#define TAR_DEPTH_MAX 256

/* n-1 octal digits, NUL-terminated; values that do not fit are clamped. */
static void octal(char *dst, size_t n, unsigned long long v)
{
	unsigned long long max = (1ULL << (3 * (n - 1))) - 1;
	if (v > max)
		v = max;
	dst[n - 1] = '\0';
	for (size_t i = n - 1; i-- > 0; v >>= 3)
		dst[i] = (char)('0' + (v & 7));
}

static bool header(int fd, const char *name, const struct stat *st, char type, const char *link)
{
	unsigned char h[512];
	size_t nl = strlen(name);
	if (nl > 100) {
		/* GNU ././@LongLink record holding the full name */
		struct stat ls = {.st_mode = 0644, .st_size = (off_t)nl + 1};
		if (!header(fd, "././@LongLink", &ls, 'L', NULL))
			return false;
		char pad[512] = {0};
		size_t total = (nl + 1 + 511) / 512 * 512;
		if (!write_all(fd, name, nl) || !write_all(fd, pad, total - nl))
			return false;
	}
	memset(h, 0, sizeof(h));
	memcpy(h, name, nl > 100 ? 100 : nl);
	octal((char *)h + 100, 8, st->st_mode & 07777);
	octal((char *)h + 108, 8, st->st_uid);
	octal((char *)h + 116, 8, st->st_gid);
	octal((char *)h + 124, 12,
	      type == '0' || type == 'L' ? (unsigned long long)st->st_size : 0);
	octal((char *)h + 136, 12, (unsigned long long)st->st_mtime);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	if (link)
		memcpy(h + 157, link, strlen(link) > 100 ? 100 : strlen(link));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	return write_all(fd, h, 512);
}

static bool file_body(int fd, const char *path, off_t size)
{
	_cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
	char buf[65536] = {0};
	off_t left = size;
	while (in >= 0 && left > 0) {
		ssize_t n = read(in, buf, left < (off_t)sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n <= 0)
			break;
		if (!write_all(fd, buf, (size_t)n))
			return false;
		left -= n;
	}
	closep(&in);
	/* a file that shrank meanwhile is padded to its announced size */
	memset(buf, 0, sizeof(buf));
	while (left > 0) {
		size_t k = left < (off_t)sizeof(buf) ? (size_t)left : sizeof(buf);
		if (!write_all(fd, buf, k))
			return false;
		left -= (off_t)k;
	}
	size_t pad = (size_t)((512 - size % 512) % 512);
	return write_all(fd, buf, pad);
}

static bool walk(int fd, const char *full, const char *rel, int depth)
{
	struct stat st;
	if (depth > TAR_DEPTH_MAX || lstat(full, &st) < 0)
		return true;
	char name[PATH_MAXLEN + 2];
	if (S_ISDIR(st.st_mode)) {
		snprintf(name, sizeof(name), "%s/", rel);
		if (*rel && !header(fd, name, &st, '5', NULL))
			return false;
		size_t n;
		char **names = dir_names(full, &n);
		bool ok = true;
		for (size_t i = 0; ok && names && names[i]; i++) {
			char f[PATH_MAXLEN], rl[PATH_MAXLEN];
			snprintf(f, sizeof(f), "%s%s%s", full, strcmp(full, "/") ? "/" : "",
				 names[i]);
			snprintf(rl, sizeof(rl), "%s%s%s", rel, *rel ? "/" : "", names[i]);
			ok = walk(fd, f, rl, depth + 1);
		}
		names_free(names);
		return ok;
	}
	if (S_ISLNK(st.st_mode)) {
		char t[PATH_MAXLEN];
		ssize_t k = readlink(full, t, sizeof(t) - 1);
		t[k > 0 ? k : 0] = '\0';
		return header(fd, rel, &st, '2', t);
	}
	if (!S_ISREG(st.st_mode))
		return true;
	return header(fd, rel, &st, '0', NULL) && file_body(fd, full, st.st_size);
}

void send_tar(struct req *r, const char *dir)
{
	const char *slash = strrchr(dir, '/');
	const char *base = slash && slash[1] ? slash + 1 : "root";
	char extra[512];
	snprintf(extra, sizeof(extra),
		 "Content-Disposition: attachment; filename=\"%.200s.tar\"\r\n", base);
	for (char *p = extra; *p; p++)
		if (*p == '\n' && p[-1] != '\r')
			*p = ' ';
	send_head(r, 200, "application/x-tar", -1, extra);
	if (r->head_only)
		return;
	char zero[1024] = {0};
	if (walk(r->fd, dir, "", 0))
		write_all(r->fd, zero, sizeof(zero));
}
