/* Scope-bound cleanup (gcc/clang `cleanup` attribute) for the resources every
 * layer holds: heap memory, descriptors, streams, directories. A variable so
 * marked is released on every return path; `steal_*` hands it on instead
 * (ownership moves to the caller or to a longer-lived object). The release
 * functions keep errno, so `return -1` after a failed syscall still reports
 * that syscall's errno to the caller. docs/ERRORS.md has the rules. */
#ifndef HOODY_COMMON_CLEANUP_H
#define HOODY_COMMON_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* glibc's free keeps errno, but C does not promise it (musl's may munmap). */
static inline void freep(void *p)
{
	int saved = errno;
	free(*(void **)p);
	errno = saved;
}
#define _cleanup_free_ _cleanup_(freep)

/* -1 (or any negative value) is "nothing held". Leaves -1 behind, so a
 * descriptor that must go early (a pipe's write end before reading to EOF)
 * is closed with closep(&fd) and its cleanup then does nothing. */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
	*fd = -1;
}
#define _cleanup_close_ _cleanup_(closep)

/* Both ends of a pipe or socketpair: `_cleanup_close_pair_ int p[2] = {-1, -1};` */
static inline void close_pairp(int (*p)[2])
{
	closep(&(*p)[0]);
	closep(&(*p)[1]);
}
#define _cleanup_close_pair_ _cleanup_(close_pairp)

static inline void fclosep(FILE **f)
{
	if (*f) {
		int saved = errno;
		fclose(*f);
		errno = saved;
	}
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d)
{
	if (*d) {
		int saved = errno;
		closedir(*d);
		errno = saved;
	}
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Takes the descriptor out of a _cleanup_close_ variable: returns it and
 * leaves -1 behind, so the cleanup does nothing. */
static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

/* Same for pointers: `return steal_ptr(&buf);` */
#define steal_ptr(pp)                                                                              \
	({                                                                                         \
		__typeof__(*(pp)) steal_ptr_v_ = *(pp);                                            \
		*(pp) = NULL;                                                                      \
		steal_ptr_v_;                                                                      \
	})

#endif
