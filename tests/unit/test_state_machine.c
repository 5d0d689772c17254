/* The container state machine (create, claim, operations, snapshots and
 * restore, delete, exit reports, recovery) against a real SQLite store and
 * the fake runtime of the seam (fake_runtime.h), with host failures
 * injected: every call of a scenario fails in turn, in each way a host call
 * can fail (nothing done, half done, done then an error). After the
 * platform has handled the failure, its store must be true to the host: a
 * settled row says what the host has, nothing the host holds lacks a row,
 * and no row is left in a transient status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "fake_runtime.h"
#include "platform_fx.h"
#include "platform/containers.h"
#include "platform/containers_int.h"
#include "platform/operations.h"
#include "platform/prespawn.h"
#include "platform/projects.h"
#include "platform/snapshots.h"
#include "store/store.h"

/* More calls than any scenario makes: a loop that reaches it is broken. */
#define SCENARIO_CALLS_MAX 200
/* The prespawn filler is a thread of its own: its member is waited for. */
#define POOL_POLLS_MAX 12000
#define POOL_POLL_US 5000

/* The store is true to the host. A failed row may keep leftovers on the
 * host (the next delete removes them) but says why it failed. */
static void assert_true_to_host(struct fx *f, const char *when)
{
	struct container *rows = NULL;
	size_t n = 0, on_host = 0;
	struct error err = {0};
	assert_int_equal(store_container_list_all(f->st, &rows, &n, &err), 0);
	for (size_t i = 0; i < n; i++) {
		const struct container *c = &rows[i];
		enum rt_state st = fake_state(f->rt, c->id);
		enum container_status truth = container_host_status(st);
		const char *status = container_status_name(c->status);
		on_host += st != RT_ABSENT;
		if (c->status == CS_FAILED) {
			if (!c->failure_reason || !*c->failure_reason)
				fail_msg("%s: container %s failed without a reason", when, c->id);
			continue;
		}
		if (!container_status_in(c->status, CS_SETTLED))
			fail_msg("%s: container %s left %s", when, c->id, status);
		if (truth == CS_NONE || truth != c->status)
			fail_msg("%s: container %s is %s in the store but %s on the host", when,
				 c->id, status, rt_state_name(st));
	}
	container_list_free(rows, n);
	if (on_host != fake_count(f->rt))
		fail_msg("%s: %zu container(s) on the host have no row", when,
			 fake_count(f->rt) - on_host);
}

/* A status-log row of id whose metadata holds each of the needles. */
static bool noted(struct fx *f, const char *id, const char *needle, const char *needle2)
{
	struct status_log *logs = NULL;
	size_t n = 0;
	int64_t total = 0;
	struct error err = {0};
	bool found = false;
	assert_int_equal(
	    store_status_log_list(f->st, id, NULL, true, 1, 100, &logs, &n, &total, &err), 0);
	for (size_t i = 0; i < n; i++) {
		const char *m = logs[i].metadata;
		found |= m && strstr(m, needle) && strstr(m, needle2);
		status_log_clear(&logs[i]);
	}
	free(logs);
	return found;
}

/* ------------------------------------------------------------ actions */

/* Runs operation on id; on failure the answer says the status the store
 * now holds. */
static int operate(struct fx *f, const char *id, const char *operation)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = containers_operate(f->pf, &f->who, id, operation, NULL, &data, &err);
	if (rc < 0 && data) {
		_cleanup_free_ char *now = fx_status_of(f, id);
		const char *said = json_string_value(json_object_get(data, "status"));
		if (!now || !said || strcmp(now, said) != 0)
			fail_msg("%s failed: answered status %s, store has %s", operation,
				 said ? said : "-", now ? now : "-");
	}
	json_decref(data);
	return rc;
}

/* The same scenario with the nth counted call failing in mode, for every n
 * until a run in which nothing failed (the scenario made fewer calls). */
typedef void (*scenario_fn)(struct fx *f, unsigned nth, enum fake_mode mode);

static void every_failure(scenario_fn run, const char *prespawn)
{
	for (int mode = 0; mode < FAKE_MODES; mode++) {
		bool fired = true;
		for (unsigned nth = 1; fired; nth++) {
			assert_true(nth < SCENARIO_CALLS_MAX);
			struct fx *f = fx_new(prespawn);
			run(f, nth, (enum fake_mode)mode);
			fired = fake_fired(f->rt);
			fx_free(f);
		}
	}
}

/* ------------------------------------------------------------ create */

static void test_create(void **state)
{
	struct fx *f = fx_new(NULL);
	char id[ID_LEN + 1], hn[64], group[72];
	assert_int_equal(fx_create(f, "web", "{\"environment_vars\": {\"A\": \"1\"}}", id), 0);
	fx_settle(f);
	fx_assert_status(f, id, "running");
	assert_int_equal(fake_state(f->rt, id), RT_RUNNING);
	fake_hostname(f->rt, id, hn, sizeof(hn));
	fake_net_group(f->rt, id, group, sizeof(group));
	assert_string_equal(hn, "web");
	assert_string_equal(group, f->project);
	assert_true(fake_env_written(f->rt, id));
	struct container c = {0};
	struct error err = {0};
	assert_int_equal(store_container_get(f->st, id, &c, &err), 0);
	assert_int_equal(c.env_applied_revision, c.env_revision);
	container_clear(&c);
	assert_true_to_host(f, "create");
	fx_free(f);
}

static void create_scenario(struct fx *f, unsigned nth, enum fake_mode mode)
{
	char id[ID_LEN + 1];
	fake_fail(f->rt, FAKE_ANY, nth, mode);
	assert_int_equal(fx_create(f, "web", "{\"environment_vars\": {\"A\": \"1\"}}", id), 0);
	fx_settle(f);
	_cleanup_free_ char *s = fx_status_of(f, id);
	assert_non_null(s);
	/* A container whose create failed leaves nothing on the host. */
	if (strcmp(s, "failed") == 0)
		assert_int_equal(fake_state(f->rt, id), RT_ABSENT);
	assert_true_to_host(f, "create with a host failure");
}

static void test_create_host_failures(void **state)
{
	every_failure(create_scenario, NULL);
}

/* ------------------------------------------------------------ operations */

static const char *const op_script[] = {"stop",	   "start", "restart",	 "pause", "resume",
					"restart", "pause", "stop",	 "start", "force-stop",
					"restart", "pause", "force-stop"};

/* Every operation from every status it acts on; after a failure the rest
 * of the script goes on from wherever the store says it is. */
static void operations_scenario(struct fx *f, unsigned nth, enum fake_mode mode)
{
	char id[ID_LEN + 1];
	fx_create_running(f, "web", id);
	fake_fail(f->rt, FAKE_ANY, nth, mode);
	for (size_t i = 0; i < ARRAY_SIZE(op_script); i++) {
		operate(f, id, op_script[i]);
		char when[64];
		snprintf(when, sizeof(when), "after %s (call %u failing)", op_script[i], nth);
		assert_true_to_host(f, when);
	}
	fx_settle(f);
	assert_true_to_host(f, "operations, settled");
}

static void test_operations(void **state)
{
	struct fx *f = fx_new(NULL);
	char id[ID_LEN + 1];
	fx_create_running(f, "web", id);
	static const struct {
		const char *op, *status;
		enum rt_state host;
	} steps[] = {
	    {"stop", "stopped", RT_STOPPED},	{"start", "running", RT_RUNNING},
	    {"pause", "paused", RT_PAUSED},	{"resume", "running", RT_RUNNING},
	    {"restart", "running", RT_RUNNING}, {"force-stop", "stopped", RT_STOPPED},
	    {"restart", "running", RT_RUNNING},
	};
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		assert_int_equal(operate(f, id, steps[i].op), 0);
		fx_assert_status(f, id, steps[i].status);
		assert_int_equal(fake_state(f->rt, id), steps[i].host);
	}
	/* Refused without touching the host. */
	unsigned calls = fake_calls(f->rt, FAKE_ANY);
	assert_int_equal(operate(f, id, "resume"), -1);
	assert_int_equal(operate(f, id, "start"), -1);
	assert_int_equal(fake_calls(f->rt, FAKE_ANY), calls);
	fx_free(f);
}

static void test_operations_host_failures(void **state)
{
	every_failure(operations_scenario, NULL);
}

/* ------------------------------------------------------------ snapshots */

static int snapshot(struct fx *f, const char *id, char name[72])
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = snapshots_create(f->pf, &f->who, id, NULL, &data, &err);
	if (rc == 0)
		snprintf(
		    name, 72, "%s",
		    json_string_value(json_object_get(json_object_get(data, "snapshot"), "name")));
	json_decref(data);
	return rc;
}

static int restore(struct fx *f, const char *id, const char *name)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = snapshots_restore(f->pf, &f->who, id, name, &data, &err);
	json_decref(data);
	return rc;
}

/* A restore puts back the snapshot's layer, and a container that ran runs
 * again; a failed restore leaves the store saying what the host is. */
static void restore_from(struct fx *f, unsigned nth, enum fake_mode mode, const char *from)
{
	char id[ID_LEN + 1], name[72], layer[96];
	fx_create_running(f, "web", id);
	if (strcmp(from, "running") != 0)
		assert_int_equal(operate(f, id, strcmp(from, "paused") == 0 ? "pause" : "stop"), 0);
	assert_int_equal(snapshot(f, id, name), 0);
	assert_true(fake_has_snapshot(f->rt, id, name));
	fake_set_layer(f->rt, id, "changed since");
	if (nth)
		fake_fail(f->rt, FAKE_ANY, nth, mode);
	int rc = restore(f, id, name);
	fake_layer(f->rt, id, layer, sizeof(layer));
	if (rc == 0) {
		assert_string_equal(layer, "image:busybox");
		fx_assert_status(f, id, strcmp(from, "stopped") == 0 ? "stopped" : "running");
	}
	assert_true_to_host(f, "restore");
	fx_settle(f);
	assert_true_to_host(f, "restore, settled");
}

static void test_restore(void **state)
{
	static const char *const from[] = {"running", "paused", "stopped"};
	for (size_t i = 0; i < ARRAY_SIZE(from); i++) {
		struct fx *f = fx_new(NULL);
		restore_from(f, 0, FAKE_CLEAN, from[i]);
		fx_free(f);
	}
}

static void restore_running_scenario(struct fx *f, unsigned nth, enum fake_mode mode)
{
	restore_from(f, nth, mode, "running");
}

static void restore_stopped_scenario(struct fx *f, unsigned nth, enum fake_mode mode)
{
	restore_from(f, nth, mode, "stopped");
}

static void test_restore_host_failures(void **state)
{
	every_failure(restore_running_scenario, NULL);
	every_failure(restore_stopped_scenario, NULL);
}

/* The runtime makes a snapshot in a temporary directory it removes on
 * failure: a failed capture leaves neither a row nor files. */
static void test_snapshot_create_failure(void **state)
{
	struct fx *f = fx_new(NULL);
	char id[ID_LEN + 1], name[72];
	fx_create_running(f, "web", id);
	fake_fail(f->rt, FAKE_SNAPSHOT_CREATE, 1, FAKE_CLEAN);
	assert_int_equal(snapshot(f, id, name), -1);
	struct snapshot *v = NULL;
	size_t n = 0;
	struct error err = {0};
	assert_int_equal(store_snapshot_list(f->st, id, &v, &n, &err), 0);
	assert_int_equal(n, 0);
	snapshot_list_free(v, n);
	assert_true_to_host(f, "snapshot create failed");
	fx_free(f);
}

/* ------------------------------------------------------------ delete */

static void delete_scenario(struct fx *f, unsigned nth, enum fake_mode mode)
{
	char id[ID_LEN + 1];
	struct error err = {0};
	fx_create_running(f, "web", id);
	fake_fail(f->rt, FAKE_ANY, nth, mode);
	assert_int_equal(containers_delete(f->pf, &f->who, id, &err), 0);
	fx_settle(f);
	_cleanup_free_ char *s = fx_status_of(f, id);
	if (!s)
		assert_int_equal(fake_state(f->rt, id), RT_ABSENT);
	assert_true_to_host(f, "delete");
	/* A failed delete can be asked again, and then nothing is left. */
	if (s) {
		assert_string_equal(s, "failed");
		fx_open(f);
		assert_int_equal(containers_delete(f->pf, &f->who, id, &err), 0);
		fx_settle(f);
		assert_null(fx_status_of(f, id));
		assert_int_equal(fake_state(f->rt, id), RT_ABSENT);
	}
}

static void test_delete_host_failures(void **state)
{
	every_failure(delete_scenario, NULL);
}

/* A create that the delete overtakes leaves nothing behind. */
static void test_delete_while_creating(void **state)
{
	struct fx *f = fx_new(NULL);
	char id[ID_LEN + 1];
	struct error err = {0};
	assert_int_equal(fx_create(f, "web", NULL, id), 0);
	assert_int_equal(containers_delete(f->pf, &f->who, id, &err), 0);
	fx_settle(f);
	assert_null(fx_status_of(f, id));
	assert_int_equal(fake_state(f->rt, id), RT_ABSENT);
	assert_int_equal(fake_count(f->rt), 0);
	fx_free(f);
}

/* ------------------------------------------------------------ exit reports */

static void test_exit_report(void **state)
{
	struct fx *f = fx_new(NULL);
	char a[ID_LEN + 1], b[ID_LEN + 1];
	fx_create_running(f, "alpha", a);
	fx_create_running(f, "bravo", b);
	assert_int_equal(operate(f, b, "pause"), 0);
	fake_exit(f->rt, a, 3, 0);
	fake_exit(f->rt, b, -1, 2); /* killed at the memory limit */
	fx_settle(f);
	fx_assert_status(f, a, "stopped");
	fx_assert_status(f, b, "stopped");
	assert_true_to_host(f, "exit reports");
	fx_free(f);
}

/* A stats reading that fails does not keep the exit from being recorded. */
static void exit_scenario(struct fx *f, unsigned nth, enum fake_mode mode)
{
	char id[ID_LEN + 1];
	fx_create_running(f, "alpha", id);
	fake_fail(f->rt, FAKE_ANY, nth, mode);
	fake_exit(f->rt, id, -1, 1);
	fx_settle(f);
	assert_true_to_host(f, "exit report");
}

static void test_exit_host_failures(void **state)
{
	every_failure(exit_scenario, NULL);
}

/* ------------------------------------------------------------ claims */

/* The ready member of the busybox pool (no Kit) that the filler thread made;
 * polled, as the filler runs on its own thread (target 1: one member). */
static void pool_member(struct fx *f, char id[ID_LEN + 1])
{
	char key[PRESPAWN_KEY_MAX];
	struct error err = {0};
	struct container m = {0};
	int64_t ready = 0, creating = 0;
	assert_true(prespawn_pool_for(f->pf, "busybox", false, false, key));
	for (int i = 0; i < POOL_POLLS_MAX && ready < 1; i++) {
		assert_int_equal(store_container_pool_count(f->st, key, &ready, &creating, &err),
				 0);
		if (ready < 1)
			usleep(POOL_POLL_US);
	}
	assert_int_equal(ready, 1);
	assert_int_equal(store_container_pool_pick(f->st, key, &m, &err), 0);
	snprintf(id, ID_LEN + 1, "%s", m.id);
	container_clear(&m);
}

static void claim_with(enum fake_op op, enum fake_mode mode)
{
	struct fx *f = fx_new("busybox=1");
	char member[ID_LEN + 1], id[ID_LEN + 1], hn[64], group[72];
	pool_member(f, member);
	if (op != FAKE_ANY)
		fake_fail(f->rt, op, 1, mode);
	assert_int_equal(fx_create(f, "mine",
				   "{\"hoody_kit\": false, \"environment_vars\": {\"A\": \"1\"}}",
				   id),
			 0);
	/* The claim answers at once with the member, running. */
	assert_string_equal(id, member);
	fx_assert_status(f, id, "running");
	fx_settle(f);
	fx_assert_status(f, id, "running");
	fake_hostname(f->rt, id, hn, sizeof(hn));
	fake_net_group(f->rt, id, group, sizeof(group));
	bool failed_here = op != FAKE_ANY && fake_fired(f->rt) && mode != FAKE_DONE;
	if (!failed_here || op != FAKE_SET_HOSTNAME)
		assert_string_equal(hn, "mine");
	if (!failed_here || op != FAKE_SET_NET_GROUP)
		assert_string_equal(group, f->project);
	if (!failed_here || op != FAKE_SET_ENV)
		assert_true(fake_env_written(f->rt, id));
	/* the host said no: the status log says what the container lacks */
	if (fake_fired(f->rt) && op == FAKE_SET_HOSTNAME)
		assert_true(noted(f, id, "claim_incomplete", "hostname not set"));
	if (fake_fired(f->rt) && op == FAKE_SET_NET_GROUP)
		assert_true(noted(f, id, "claim_incomplete", "network group not set"));
	if (!fake_fired(f->rt) || op == FAKE_SET_ENV)
		assert_false(noted(f, id, "claim_incomplete", ""));
	assert_true_to_host(f, "claim");
	fx_free(f);
}

static void test_claim(void **state)
{
	claim_with(FAKE_ANY, FAKE_CLEAN);
}

/* A claim is already committed when the host is told; a failure there is
 * a note in the status log (the environment's shows in env_sync), and the
 * container stays the user's and running. */
static void test_claim_host_failures(void **state)
{
	static const enum fake_op ops[] = {FAKE_SET_HOSTNAME, FAKE_SET_NET_GROUP, FAKE_SET_ENV};
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		for (int mode = 0; mode < FAKE_MODES; mode++)
			claim_with(ops[i], (enum fake_mode)mode);
}

/* ------------------------------------------------------------ recovery */

struct crash_case {
	const char *status; /* what the store said when hoodyd stopped */
	enum rt_state host; /* what the host has now */
	bool autostart;
	const char *expect; /* after recovery; NULL: no row */
};

static const struct crash_case crash_cases[] = {
    {"running", RT_RUNNING, true, "running"},  {"running", RT_STOPPED, false, "stopped"},
    {"running", RT_STOPPED, true, "running"}, /* autostart after a reboot */
    {"running", RT_CREATED, true, "running"},  {"running", RT_ABSENT, true, "failed"},
    {"paused", RT_RUNNING, true, "running"},   {"stopped", RT_PAUSED, true, "paused"},
    {"creating", RT_ABSENT, true, "running"},  {"creating", RT_CREATED, true, "running"},
    {"deleting", RT_RUNNING, true, NULL},      {"deleting", RT_ABSENT, true, NULL},
    {"claiming", RT_RUNNING, true, "running"}, {"claiming", RT_STOPPED, true, "failed"},
};

/* Rows and host as a crash left them, plus a host container without a row. */
static void crash(struct fx *f, char ids[][ID_LEN + 1], char *orphan)
{
	struct error err = {0};
	for (size_t i = 0; i < ARRAY_SIZE(crash_cases); i++) {
		char name[32];
		snprintf(name, sizeof(name), "crash-%zu", i);
		assert_int_equal(
		    fx_create(f, name, crash_cases[i].autostart ? NULL : "{\"autostart\": false}",
			      ids[i]),
		    0);
	}
	fx_settle(f);
	for (size_t i = 0; i < ARRAY_SIZE(crash_cases); i++) {
		assert_int_equal(store_container_set_status(
				     f->st, ids[i], CS_NONE,
				     container_status_from_name(crash_cases[i].status), NULL, &err),
				 0);
		fake_set_state(f->rt, ids[i], crash_cases[i].host);
	}
	id_new(orphan);
	fake_set_state(f->rt, orphan, RT_RUNNING);
}

static void test_recovery(void **state)
{
	struct fx *f = fx_new(NULL);
	char ids[ARRAY_SIZE(crash_cases)][ID_LEN + 1], orphan[ID_LEN + 1];
	crash(f, ids, orphan);
	fx_open(f);
	fx_settle(f);
	for (size_t i = 0; i < ARRAY_SIZE(crash_cases); i++) {
		_cleanup_free_ char *s = fx_status_of(f, ids[i]);
		const char *want = crash_cases[i].expect;
		if (want ? !s || strcmp(s, want) != 0 : s != NULL)
			fail_msg("case %zu (%s, host %s): %s after recovery, expected %s", i,
				 crash_cases[i].status, rt_state_name(crash_cases[i].host),
				 s ? s : "no row", want ? want : "no row");
	}
	assert_int_equal(fake_state(f->rt, orphan), RT_ABSENT);
	assert_true_to_host(f, "recovery");
	fx_free(f);
}

/* Recovery meets a host failure: what it could verify is true at once; a
 * reading that failed (the state of one container, the list of the host's
 * containers) leaves that row or leftover for the next start, which
 * converges. */
static void recovery_scenario(struct fx *f, unsigned nth, enum fake_mode mode)
{
	char ids[ARRAY_SIZE(crash_cases)][ID_LEN + 1], orphan[ID_LEN + 1];
	crash(f, ids, orphan);
	fake_fail(f->rt, FAKE_ANY, nth, mode);
	fx_open(f);
	fx_settle(f);
	enum fake_op failed = fake_fired_op(f->rt);
	/* A failed reading leaves a row unverified, a failed removal of a
	 * leftover leaves it: both wait for the next start. */
	if (failed != FAKE_STATE && failed != FAKE_LIST_IDS && failed != FAKE_DELETE)
		assert_true_to_host(f, "recovery with a host failure");
	fake_disarm(f->rt);
	fx_open(f);
	fx_settle(f);
	assert_true_to_host(f, "recovery after a failed recovery");
}

/* The autostart of a container the host stopped (a reboot) fails: the
 * store says what the host then has, in every way the start can fail. */
static void test_autostart_failure(void **state)
{
	for (int mode = 0; mode < FAKE_MODES; mode++) {
		struct fx *f = fx_new(NULL);
		char id[ID_LEN + 1];
		fx_create_running(f, "web", id);
		fx_settle(f);
		fake_set_state(f->rt, id, RT_STOPPED);
		fake_fail(f->rt, FAKE_START, 1, (enum fake_mode)mode);
		fx_open(f);
		fx_settle(f);
		assert_true(fake_fired(f->rt));
		assert_true_to_host(f, "autostart failed");
		/* still stopped: the status log says why it is not running */
		_cleanup_free_ char *s = fx_status_of(f, id);
		if (strcmp(s, "stopped") == 0)
			assert_true(noted(f, id, "autostart_failed", "autostart failed: "));
		fx_free(f);
	}
}

static void test_recovery_host_failures(void **state)
{
	every_failure(recovery_scenario, NULL);
}

int main(void)
{
	log_set_level(LOG_WARN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create),
	    cmocka_unit_test(test_create_host_failures),
	    cmocka_unit_test(test_operations),
	    cmocka_unit_test(test_operations_host_failures),
	    cmocka_unit_test(test_restore),
	    cmocka_unit_test(test_restore_host_failures),
	    cmocka_unit_test(test_snapshot_create_failure),
	    cmocka_unit_test(test_delete_host_failures),
	    cmocka_unit_test(test_delete_while_creating),
	    cmocka_unit_test(test_exit_report),
	    cmocka_unit_test(test_exit_host_failures),
	    cmocka_unit_test(test_claim),
	    cmocka_unit_test(test_claim_host_failures),
	    cmocka_unit_test(test_recovery),
	    cmocka_unit_test(test_recovery_host_failures),
	    cmocka_unit_test(test_autostart_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
