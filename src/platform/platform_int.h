/* Inside the platform only: the platform's state, and the store and the
 * runtime it drives. Every file of src/platform includes this; the edges cannot
 * (CMake gives them no include path to it, nor to store/ and runtime/). */
#ifndef HOODY_PLATFORM_PLATFORM_INT_H
#define HOODY_PLATFORM_PLATFORM_INT_H

#include "platform/platform.h"
#include "runtime/ops.h"
#include "runtime/runtime.h"
#include "store/store.h"

struct workq;	 /* common/workq.c: the platform's background jobs */
struct oplocks;	 /* platform/oplocks.c: one operation at a time per container */
struct prespawn; /* platform/prespawn.c: warm pools */

struct platform {
	struct platform_config cfg;
	struct store *store;
	struct runtime *rt;
	const struct rt_ops *rto; /* every runtime call goes through it (runtime/ops.h) */
	struct workq *wq;
	struct oplocks *locks;
	struct prespawn *pools;
	char server_id[ID_LEN + 1];
	unsigned char jwt_secret[32];
	pthread_mutex_t mu;
	/* snapshots.c: the expired-snapshot sweeper (waits on janitor_cv under mu) */
	pthread_t janitor;
	pthread_cond_t janitor_cv;
	bool janitor_running, janitor_quit;
	/* limits.c: the out-of-memory watcher (waits on oom_cv under mu) */
	pthread_t oom_watcher;
	pthread_cond_t oom_cv;
	bool oom_running, oom_quit;
};

#endif
