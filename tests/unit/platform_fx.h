/* A platform for unit tests of the state machine: a real SQLite store in a
 * temporary directory, the fake runtime (fake_runtime.h), a user "alice"
 * and her project "proj". Failures inside are cmocka failures. */
#ifndef HOODY_TESTS_PLATFORM_FX_H
#define HOODY_TESTS_PLATFORM_FX_H

#include "common/ids.h"
#include "platform/platform.h"
#include "runtime/runtime.h"
#include "store/store.h"

struct fx {
	char dir[64];
	struct store *st;
	struct runtime *rt;
	struct platform *pf;
	const char *prespawn;
	struct user user;
	struct principal who;
	char project[ID_LEN + 1];
};

/* prespawn: the --prespawn value (NULL: none). */
struct fx *fx_new(const char *prespawn);
void fx_free(struct fx *f);
void fx_open(struct fx *f);
/* Closing the platform runs every queued job: the barrier after which the
 * store is settled (and opening it again is recovery, as after a restart). */
void fx_settle(struct fx *f);

/* Creates a busybox container named name (extra_json: more of the body, or
 * NULL) and returns its id; rc of the call. */
int fx_create(struct fx *f, const char *name, const char *extra_json, char id[ID_LEN + 1]);
/* A running container made without failures. */
void fx_create_running(struct fx *f, const char *name, char id[ID_LEN + 1]);

/* The status the store has for id (malloc'ed), NULL when there is no row. */
char *fx_status_of(struct fx *f, const char *id);
void fx_assert_status(struct fx *f, const char *id, const char *want);

#endif
