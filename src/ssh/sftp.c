/* SFTP (version 3) served by hoodyd with libssh's server API. Every path is
 * resolved by openat2(RESOLVE_IN_ROOT) beneath the container's root as its
 * processes see it (/proc/<init>/root, so its mounts too): "..", absolute
 * symlinks and magic links cannot leave the container. Files and
 * directories made here are given to the owner of the container's "/" (its
 * root user, whatever the user namespace maps it to). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/util.h"
#include "ssh/internal.h"

#ifndef SSH_FILEXFER_ATTR_UIDGID
#define SSH_FILEXFER_ATTR_UIDGID 0x00000002
#endif
#define SFTP_PATH_MAX 4096
#define SFTP_READ_MAX 65536
#define SFTP_BATCH 64 /* requests served per loop turn, so other channels move */
#define SFTP_HANDLES_MAX 64
#define READDIR_BATCH 64

struct ssh_sftp {
	sftp_session sftp;
	int root;
	uid_t uid;
	gid_t gid;
	bool inited;
	int handles;
};

/* What a handle points at. */
struct handle {
	int fd;
	DIR *dir;
};

struct ssh_sftp *ssh_sftp_new(ssh_session session, ssh_channel ch, int root_fd)
{
	struct ssh_sftp *f = xcalloc(1, sizeof(*f));
	f->sftp = sftp_server_new(session, ch);
	f->root = root_fd;
	struct stat st;
	if (fstat(root_fd, &st) == 0)
		f->uid = st.st_uid, f->gid = st.st_gid;
	return f;
}

/* Closes what h holds and frees it; the close's result (-1 + errno). */
static int handle_close(struct handle *h)
{
	int rc = h->dir ? closedir(h->dir) : h->fd >= 0 ? close(h->fd) : 0;
	free(h);
	return rc;
}

void ssh_sftp_free(struct ssh_sftp *f)
{
	if (!f)
		return;
	if (f->sftp) {
		/* Handles still open when the client leaves. */
		for (int i = 0; f->sftp->handles && i < 256; i++) {
			struct handle *h = f->sftp->handles[i];
			if (!h)
				continue;
			handle_close(h);
			f->sftp->handles[i] = NULL;
		}
		sftp_server_free(f->sftp);
	}
	close(f->root);
	free(f);
}

static int status_of(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case ELOOP:
		return SSH_FX_NO_SUCH_FILE;
	case EACCES:
	case EPERM:
	case EXDEV:
		return SSH_FX_PERMISSION_DENIED;
	case EEXIST:
		return SSH_FX_FILE_ALREADY_EXISTS;
	case EROFS:
		return SSH_FX_WRITE_PROTECT;
	default:
		return SSH_FX_FAILURE;
	}
}

static int reply_errno(sftp_client_message m, int e)
{
	return sftp_reply_status(m, (uint32_t)status_of(e), strerror(e));
}

static int open_in(struct ssh_sftp *f, const char *path, int flags, mode_t mode)
{
	if (!path || !*path || strlen(path) > SFTP_PATH_MAX) {
		errno = ENOENT;
		return -1;
	}
	struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
			       .mode = (flags & O_CREAT) ? mode : 0,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	return (int)syscall(SYS_openat2, f->root, path, &how, sizeof(how));
}

/* The directory holding path's last component, and that component. */
static int open_parent(struct ssh_sftp *f, const char *path, char *base, size_t blen)
{
	if (!path || strlen(path) > SFTP_PATH_MAX) {
		errno = ENOENT;
		return -1;
	}
	char tmp[SFTP_PATH_MAX + 2];
	snprintf(tmp, sizeof(tmp), "%s", path);
	size_t n = strlen(tmp);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	char *slash = strrchr(tmp, '/');
	const char *b = slash ? slash + 1 : tmp;
	if (!*b || !strcmp(b, ".") || !strcmp(b, "..") || strlen(b) >= blen) {
		errno = EPERM;
		return -1;
	}
	snprintf(base, blen, "%s", b);
	if (slash == tmp)
		tmp[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(tmp, sizeof(tmp), ".");
	return open_in(f, tmp, O_PATH | O_DIRECTORY, 0);
}

static void fill_attr(struct sftp_attributes_struct *a, const struct stat *st)
{
	memset(a, 0, sizeof(*a));
	a->flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_UIDGID |
		   SSH_FILEXFER_ATTR_PERMISSIONS | SSH_FILEXFER_ATTR_ACMODTIME;
	a->size = (uint64_t)st->st_size;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->permissions = st->st_mode;
	a->atime = (uint32_t)st->st_atime;
	a->mtime = (uint32_t)st->st_mtime;
}

static int reply_stat(sftp_client_message m, const struct stat *st)
{
	struct sftp_attributes_struct a;
	fill_attr(&a, st);
	return sftp_reply_attr(m, &a);
}

/* "/a/./b/../c" -> "/a/c", relative to "/" (the session's directory). */
static void normalize(const char *in, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	const char *p = in ? in : "";
	while (*p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if (o + n + 2 < len) {
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		out[o] = '\0';
		p += n;
	}
	if (!o)
		snprintf(out, len, "/");
}

static void give_to_root(struct ssh_sftp *f, int dirfd, const char *name)
{
	if (fchownat(dirfd, name, f->uid, f->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return; /* left as created; reading it still works */
}

/* The path's inode, never opened unless it is a regular file: hoodyd is
 * host root outside the container's device cgroup, and opening a device
 * node a container made (or a FIFO, which would block) must not happen. */
static int path_fd(struct ssh_sftp *f, const char *path, char proc[32])
{
	_cleanup_close_ int p = open_in(f, path, O_PATH, 0);
	struct stat st = {0};
	if (p < 0)
		return -1;
	if (fstat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EPERM; /* closep keeps it */
		return -1;
	}
	snprintf(proc, 32, "/proc/self/fd/%d", p);
	return steal_fd(&p);
}

/* A new file is made with O_EXCL (a regular file for sure); an existing one
 * is reopened through its O_PATH fd, the very inode that was checked. */
static int open_regular(struct ssh_sftp *f, const char *path, int flags, mode_t mode, bool *created)
{
	*created = false;
	if (flags & O_CREAT) {
		int fd = open_in(f, path, flags | O_EXCL | O_NOCTTY, mode);
		if (fd >= 0 || errno != EEXIST || (flags & O_EXCL)) {
			*created = fd >= 0;
			return fd;
		}
	}
	char proc[32];
	_cleanup_close_ int p = path_fd(f, path, proc);
	if (p < 0)
		return -1;
	return open(proc, (flags & ~(O_CREAT | O_EXCL)) | O_NOCTTY | O_CLOEXEC);
}

/* Registers h (steals it) and answers its handle; h is closed when libssh
 * has no slot left. */
static int reply_new_handle(struct ssh_sftp *f, sftp_client_message m, struct handle *h_steal)
{
	ssh_string s = sftp_handle_alloc(f->sftp, h_steal);
	if (!s) {
		handle_close(h_steal);
		return sftp_reply_status(m, SSH_FX_FAILURE, "too many open handles");
	}
	f->handles++;
	int rc = sftp_reply_handle(m, s);
	ssh_string_free(s);
	return rc;
}

static int do_open(struct ssh_sftp *f, sftp_client_message m)
{
	uint32_t pf = m->flags;
	int fl = (pf & SSH_FXF_READ) && (pf & SSH_FXF_WRITE) ? O_RDWR
		 : (pf & SSH_FXF_WRITE)			     ? O_WRONLY
							     : O_RDONLY;
	fl |= (pf & SSH_FXF_CREAT ? O_CREAT : 0) | (pf & SSH_FXF_TRUNC ? O_TRUNC : 0) |
	      (pf & SSH_FXF_EXCL ? O_EXCL : 0) | (pf & SSH_FXF_APPEND ? O_APPEND : 0);
	mode_t mode = m->attr && (m->attr->flags & SSH_FILEXFER_ATTR_PERMISSIONS)
			  ? (mode_t)(m->attr->permissions & 07777)
			  : 0644;
	if (f->handles >= SFTP_HANDLES_MAX)
		return sftp_reply_status(m, SSH_FX_FAILURE, "too many open handles");
	bool created = false;
	int fd = open_regular(f, m->filename, fl, mode, &created);
	if (fd < 0)
		return reply_errno(m, errno);
	if (created && f->uid != 0 && fchown(fd, f->uid, f->gid) < 0)
		created = false; /* left as created; reading it still works */
	struct handle *h = xcalloc(1, sizeof(*h));
	h->fd = fd;
	return reply_new_handle(f, m, h);
}

static int do_opendir(struct ssh_sftp *f, sftp_client_message m)
{
	if (f->handles >= SFTP_HANDLES_MAX)
		return sftp_reply_status(m, SSH_FX_FAILURE, "too many open handles");
	_cleanup_close_ int fd = open_in(f, m->filename, O_RDONLY | O_DIRECTORY, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d)
		return reply_errno(m, errno);
	steal_fd(&fd); /* d owns it now */
	struct handle *h = xcalloc(1, sizeof(*h));
	h->fd = -1;
	h->dir = d;
	return reply_new_handle(f, m, h);
}

static struct handle *handle_of(struct ssh_sftp *f, sftp_client_message m)
{
	return m->handle ? sftp_handle(f->sftp, m->handle) : NULL;
}

static int do_close(struct ssh_sftp *f, sftp_client_message m)
{
	struct handle *h = handle_of(f, m);
	if (!h)
		return sftp_reply_status(m, SSH_FX_INVALID_HANDLE, "bad handle");
	sftp_handle_remove(f->sftp, h);
	int rc = handle_close(h);
	f->handles--;
	return rc < 0 ? reply_errno(m, errno) : sftp_reply_status(m, SSH_FX_OK, NULL);
}

static int do_read(struct ssh_sftp *f, sftp_client_message m)
{
	struct handle *h = handle_of(f, m);
	if (!h || h->fd < 0)
		return sftp_reply_status(m, SSH_FX_INVALID_HANDLE, "bad handle");
	static __thread char buf[SFTP_READ_MAX];
	size_t want = m->len < SFTP_READ_MAX ? m->len : SFTP_READ_MAX;
	ssize_t n = pread(h->fd, buf, want, (off_t)m->offset);
	if (n < 0)
		return reply_errno(m, errno);
	if (n == 0)
		return sftp_reply_status(m, SSH_FX_EOF, NULL);
	return sftp_reply_data(m, buf, (int)n);
}

static int do_write(struct ssh_sftp *f, sftp_client_message m)
{
	struct handle *h = handle_of(f, m);
	if (!h || h->fd < 0 || !m->data)
		return sftp_reply_status(m, SSH_FX_INVALID_HANDLE, "bad handle");
	const char *p = ssh_string_data(m->data);
	size_t len = ssh_string_len(m->data);
	off_t off = (off_t)m->offset;
	while (len) {
		ssize_t n = pwrite(h->fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return reply_errno(m, n < 0 ? errno : EIO);
		p += n, len -= (size_t)n, off += n;
	}
	return sftp_reply_status(m, SSH_FX_OK, NULL);
}

static int do_readdir(struct ssh_sftp *f, sftp_client_message m)
{
	struct handle *h = handle_of(f, m);
	if (!h || !h->dir)
		return sftp_reply_status(m, SSH_FX_INVALID_HANDLE, "bad handle");
	int count = 0;
	struct dirent *de;
	while (count < READDIR_BATCH && (de = readdir(h->dir))) {
		struct stat st;
		if (fstatat(dirfd(h->dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		struct sftp_attributes_struct a;
		fill_attr(&a, &st);
		char mode[11] = "----------";
		mode[0] = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : '-';
		for (int i = 0; i < 9; i++)
			if (st.st_mode & (0400 >> i))
				mode[1 + i] = "rwxrwxrwx"[i];
		_cleanup_free_ char *longname =
		    xasprintf("%s 1 %u %u %llu %s", mode, (unsigned)st.st_uid, (unsigned)st.st_gid,
			      (unsigned long long)st.st_size, de->d_name);
		sftp_reply_names_add(m, de->d_name, longname, &a);
		count++;
	}
	if (!count)
		return sftp_reply_status(m, SSH_FX_EOF, NULL);
	return sftp_reply_names(m);
}

static int do_stat(struct ssh_sftp *f, sftp_client_message m, bool follow)
{
	struct stat st;
	int rc;
	if (follow) {
		_cleanup_close_ int fd = open_in(f, m->filename, O_PATH, 0);
		rc = fd < 0 ? -1 : fstat(fd, &st);
	} else {
		char base[256];
		_cleanup_close_ int dfd = open_parent(f, m->filename, base, sizeof(base));
		if (dfd < 0 && errno == EPERM) /* "/" or "." itself */
			dfd = open_in(f, m->filename, O_PATH, 0), base[0] = '\0';
		rc = dfd < 0
			 ? -1
			 : fstatat(dfd, base, &st, base[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH);
	}
	return rc < 0 ? reply_errno(m, errno) : reply_stat(m, &st);
}

static int do_fstat(struct ssh_sftp *f, sftp_client_message m)
{
	struct handle *h = handle_of(f, m);
	struct stat st;
	int fd = h ? (h->dir ? dirfd(h->dir) : h->fd) : -1;
	if (fd < 0)
		return sftp_reply_status(m, SSH_FX_INVALID_HANDLE, "bad handle");
	return fstat(fd, &st) < 0 ? reply_errno(m, errno) : reply_stat(m, &st);
}

/* mkdir, rmdir, remove: one call on the last component. */
static int do_entry(struct ssh_sftp *f, sftp_client_message m, int type)
{
	char base[256];
	_cleanup_close_ int dfd = open_parent(f, m->filename, base, sizeof(base));
	if (dfd < 0)
		return reply_errno(m, errno);
	int rc;
	if (type == SSH_FXP_MKDIR) {
		mode_t mode = m->attr && (m->attr->flags & SSH_FILEXFER_ATTR_PERMISSIONS)
				  ? (mode_t)(m->attr->permissions & 07777)
				  : 0755;
		rc = mkdirat(dfd, base, mode);
		if (rc == 0)
			give_to_root(f, dfd, base);
	} else {
		rc = unlinkat(dfd, base, type == SSH_FXP_RMDIR ? AT_REMOVEDIR : 0);
	}
	return rc < 0 ? reply_errno(m, errno) : sftp_reply_status(m, SSH_FX_OK, NULL);
}

/* SSH_FXP_RENAME keeps an existing target (version 3); OpenSSH's
 * posix-rename replaces it. */
static int do_rename(struct ssh_sftp *f, sftp_client_message m, unsigned flags)
{
	char b1[256], b2[256];
	_cleanup_free_ char *data = m->data ? ssh_string_to_char(m->data) : NULL;
	const char *to = m->str_data ? m->str_data : data;
	_cleanup_close_ int d1 = open_parent(f, m->filename, b1, sizeof(b1));
	_cleanup_close_ int d2 = d1 >= 0 && to ? open_parent(f, to, b2, sizeof(b2)) : -1;
	int e = errno;
	int rc = d2 >= 0 ? renameat2(d1, b1, d2, b2, flags) : -1;
	if (d2 >= 0)
		e = errno;
	return rc < 0 ? reply_errno(m, e) : sftp_reply_status(m, SSH_FX_OK, NULL);
}

static int do_realpath(struct ssh_sftp *f, sftp_client_message m)
{
	char out[SFTP_PATH_MAX + 2];
	if (m->filename && strlen(m->filename) > SFTP_PATH_MAX)
		return sftp_reply_status(m, SSH_FX_FAILURE, "path too long");
	normalize(m->filename, out, sizeof(out));
	struct sftp_attributes_struct a = {0};
	return sftp_reply_name(m, out, &a);
}

/* Only what a put asks for (mode, times); ownership stays with the root. */
static int set_attrs(const char *proc, sftp_attributes a)
{
	int rc = 0;
	if (a && (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS))
		rc |= chmod(proc, (mode_t)(a->permissions & 07777));
	if (a && (a->flags & SSH_FILEXFER_ATTR_SIZE))
		rc |= truncate(proc, (off_t)a->size);
	if (a && (a->flags & SSH_FILEXFER_ATTR_ACMODTIME)) {
		struct timespec ts[2] = {{.tv_sec = a->atime}, {.tv_sec = a->mtime}};
		rc |= utimensat(AT_FDCWD, proc, ts, 0);
	}
	return rc;
}

/* Only what a put asks for (mode, size, times) and only on regular files;
 * ownership stays with the container's root. */
static int do_setstat(struct ssh_sftp *f, sftp_client_message m)
{
	char proc[32];
	_cleanup_close_ int p = -1;
	if (m->type == SSH_FXP_FSETSTAT) {
		struct handle *h = handle_of(f, m);
		if (!h || h->fd < 0)
			return sftp_reply_status(m, SSH_FX_INVALID_HANDLE, "bad handle");
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", h->fd);
	} else if ((p = path_fd(f, m->filename, proc)) < 0) {
		return reply_errno(m, errno);
	}
	int rc = set_attrs(proc, m->attr);
	return rc ? reply_errno(m, errno) : sftp_reply_status(m, SSH_FX_OK, NULL);
}

static int dispatch(struct ssh_sftp *f, sftp_client_message m)
{
	switch (m->type) {
	case SSH_FXP_OPEN:
		return do_open(f, m);
	case SSH_FXP_OPENDIR:
		return do_opendir(f, m);
	case SSH_FXP_CLOSE:
		return do_close(f, m);
	case SSH_FXP_READ:
		return do_read(f, m);
	case SSH_FXP_WRITE:
		return do_write(f, m);
	case SSH_FXP_READDIR:
		return do_readdir(f, m);
	case SSH_FXP_STAT:
		return do_stat(f, m, true);
	case SSH_FXP_LSTAT:
		return do_stat(f, m, false);
	case SSH_FXP_FSTAT:
		return do_fstat(f, m);
	case SSH_FXP_MKDIR:
	case SSH_FXP_RMDIR:
	case SSH_FXP_REMOVE:
		return do_entry(f, m, m->type);
	case SSH_FXP_RENAME:
		return do_rename(f, m, RENAME_NOREPLACE);
	case SSH_FXP_EXTENDED:
		if (m->submessage && !strcmp(m->submessage, "posix-rename@openssh.com"))
			return do_rename(f, m, 0);
		return sftp_reply_status(m, SSH_FX_OP_UNSUPPORTED, "not supported");
	case SSH_FXP_REALPATH:
		return do_realpath(f, m);
	case SSH_FXP_SETSTAT:
	case SSH_FXP_FSETSTAT:
		return do_setstat(f, m);
	default:
		return sftp_reply_status(m, SSH_FX_OP_UNSUPPORTED, "not supported");
	}
}

int ssh_sftp_pump(struct ssh_sftp *f)
{
	if (!f->sftp)
		return -1;
	ssh_channel ch = f->sftp->channel;
	for (int i = 0; i < SFTP_BATCH; i++) {
		int avail = ssh_channel_poll(ch, 0);
		if (avail == SSH_EOF || avail == SSH_ERROR)
			return -1;
		if (avail <= 0)
			return 0;
		if (!f->inited) {
			if (sftp_server_init(f->sftp) < 0)
				return -1;
			f->inited = true;
			continue;
		}
		sftp_client_message m = sftp_get_client_message(f->sftp);
		if (!m)
			return -1;
		dispatch(f, m);
		sftp_client_message_free(m);
	}
	return 0;
}
