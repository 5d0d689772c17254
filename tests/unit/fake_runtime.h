/* A fake backend of the runtime seam (runtime/ops.h) for the platform's unit
 * tests: containers live in memory, and a test arms one failure, of the nth
 * call of one operation or of any, so the state machine meets host failures
 * without root or crun. What the fake holds is the host: after the platform
 * has handled a failure, its store must say what the fake says. */
#ifndef HOODY_TESTS_FAKE_RUNTIME_H
#define HOODY_TESTS_FAKE_RUNTIME_H

#include <stdbool.h>

#include "runtime/ops.h"

/* The calls that count and can fail (readings the platform's own threads
 * make on a timer, such as oom_scan and image_exists, never do: a test
 * counting calls would not be deterministic). */
enum fake_op {
	FAKE_ANY = 0,
	FAKE_STATE,
	FAKE_LIST_IDS,
	FAKE_ADOPT,
	FAKE_CREATE_START,
	FAKE_START,
	FAKE_STOP,
	FAKE_RESTART,
	FAKE_PAUSE,
	FAKE_RESUME,
	FAKE_DELETE,
	FAKE_SET_HOSTNAME,
	FAKE_SET_NET_GROUP,
	FAKE_SET_ENV,
	FAKE_LAYER_COPY,
	FAKE_SNAPSHOT_CREATE,
	FAKE_SNAPSHOT_RESTORE,
	FAKE_SNAPSHOT_DELETE,
	FAKE_STATS,
	FAKE_OP_COUNT
};

/* What the failed call did to the host before it reported the failure. */
enum fake_mode {
	FAKE_CLEAN,   /* nothing */
	FAKE_PARTIAL, /* half: a rootfs without init, stopped but not started again, ... */
	FAKE_DONE,    /* everything (crun acted, then timed out or died) */
	FAKE_MODES
};

extern const struct rt_ops fake_rt_ops;

/* Knows the image "busybox". */
struct runtime *fake_runtime_new(void);
void fake_runtime_free(struct runtime *rt);

/* The nth call from now (1-based) of op, or of any counted call with
 * FAKE_ANY, fails with E_RUNTIME after doing what mode says. One armed
 * failure at a time; arming again replaces it. */
void fake_fail(struct runtime *rt, enum fake_op op, unsigned nth, enum fake_mode mode);
/* No more failure; what fake_fired says stays. */
void fake_disarm(struct runtime *rt);
/* Whether the armed failure has happened. */
bool fake_fired(struct runtime *rt);
/* The operation whose call failed; FAKE_ANY while none has. */
enum fake_op fake_fired_op(struct runtime *rt);
/* Calls of op (FAKE_ANY: of every counted op) since the fake was made. */
unsigned fake_calls(struct runtime *rt, enum fake_op op);
const char *fake_op_name(enum fake_op op);

/* ---- the host as the fake holds it ---- */
enum rt_state fake_state(struct runtime *rt, const char *id);
/* Puts a container on the host (or removes it with RT_ABSENT), as a crash
 * or a reboot would have left it. */
void fake_set_state(struct runtime *rt, const char *id, enum rt_state st);
/* Containers on the host. */
size_t fake_count(struct runtime *rt);
/* The container's hostname, network group ("" for none) and the content
 * tag of its layer ("" when absent); "env" tells whether /etc/environment
 * was written since the last (create_)start. */
void fake_hostname(struct runtime *rt, const char *id, char *out, size_t len);
void fake_net_group(struct runtime *rt, const char *id, char *out, size_t len);
void fake_layer(struct runtime *rt, const char *id, char *out, size_t len);
void fake_set_layer(struct runtime *rt, const char *id, const char *tag);
bool fake_env_written(struct runtime *rt, const char *id);
bool fake_has_snapshot(struct runtime *rt, const char *id, const char *name);
/* Init of a running container exits by itself: the host says stopped and
 * the exit callback (the platform's) hears of it, as from the reaper. */
void fake_exit(struct runtime *rt, const char *id, int status, unsigned oom_kills);

#endif
