/* The transition table (container_moves, platform/containers_int.h) against
 * what the API promises, written out here as the spec:
 *  - every operation from every status answers as docs/OPERATIONS.md says:
 *    done, 400 no-op (VALIDATION_ERROR) or 409 OPERATION_STATE_CONFLICT, a
 *    refusal touching neither the host, the row nor the status log;
 *  - every move the platform makes by containers_transition is accepted
 *    from the statuses of its from set only, and leads where the spec says;
 *  - the status names are the API's enum, both ways;
 *  - docs/CONTAINERS.md holds the table as the code renders it.
 * On a real SQLite store and the fake runtime (platform_fx.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "fake_runtime.h"
#include "platform/containers_int.h"
#include "platform/operations.h"
#include "platform_fx.h"

#define DOC_MAX (1 << 20)

/* The reference's enum, in its order (hoody-api.md §5.2). */
static const char *const api_statuses[] = {"creating", "running", "paused",   "stopped", "failed",
					   "deleted",  "copying", "deleting", "claiming"};

/* docs/OPERATIONS.md: acts from, no-op (400) when, result. */
static const struct {
	const char *op, *from, *noop, *to;
} op_spec[] = {
    {"start", "stopped", "running", "running"},
    {"stop", "running|paused", "stopped", "stopped"},
    {"force-stop", "running|paused", "stopped", "stopped"},
    {"restart", "running|stopped", "", "running"},
    {"pause", "running", "paused", "paused"},
    {"resume", "paused", "running", "running"},
};

/* Every move: from ("new": a row that does not exist yet; "any": every
 * status), no-op, to ("removed": the row goes), triggered_by. */
static const struct {
	enum container_move move;
	const char *name, *from, *noop, *to, *by;
} move_spec[] = {
    {MOVE_START, "start", "stopped", "running", "running", "user"},
    {MOVE_STOP, "stop", "running|paused", "stopped", "stopped", "user"},
    {MOVE_FORCE_STOP, "force-stop", "running|paused", "stopped", "stopped", "user"},
    {MOVE_RESTART, "restart", "running|stopped", "", "running", "user"},
    {MOVE_PAUSE, "pause", "running", "paused", "paused", "user"},
    {MOVE_RESUME, "resume", "paused", "running", "running", "user"},
    {MOVE_CREATE, "create", "new", "", "creating", "user"},
    {MOVE_COPY, "copy", "new", "", "copying", "user"},
    {MOVE_CLAIM, "claim", "running", "", "running", "user"},
    {MOVE_SYNC, "sync", "running|stopped", "", "copying", "user"},
    {MOVE_DELETE, "delete", "creating|running|paused|stopped|failed", "", "deleting", "user"},
    {MOVE_PROJECT_DELETE, "project delete", "any", "", "deleting", "user"},
    {MOVE_RESTORE_STOP, "restore: stop", "running|paused", "", "stopped", "user"},
    {MOVE_RESTORE_START, "restore: start", "stopped", "", "running", "user"},
    {MOVE_CREATED, "create job", "creating|copying", "", "running", "system"},
    {MOVE_CREATE_FAILED, "create job failed", "creating|copying", "", "failed", "system"},
    {MOVE_SYNCED, "sync job", "copying", "", "running", "system"},
    {MOVE_SYNC_FAILED, "sync job failed", "copying", "", "failed", "system"},
    {MOVE_REMOVED, "delete job", "deleting", "", "removed", "system"},
    {MOVE_DELETE_FAILED, "delete job failed", "deleting", "", "failed", "system"},
    {MOVE_AUTOSTART, "autostart", "stopped", "", "running", "autostart"},
    {MOVE_EXITED, "exit", "running|paused", "", "stopped", "system"},
    {MOVE_HOST_TRUTH, "host failure", "any", "", "running|paused|stopped|failed", "system"},
    {MOVE_RECOVER, "recovery", "running|paused|stopped", "", "running|paused|stopped|failed",
     "system"},
    {MOVE_RECOVER_INTERRUPTED, "recovery: interrupted", "deleted|copying|claiming", "",
     "running|failed", "system"},
    {MOVE_POOL_MEMBER, "pool member", "new", "", "creating", "system"},
    {MOVE_POOL_TRIM, "pool trim", "creating|running|stopped|failed", "", "deleting", "system"},
};

/* "a|b" of the spec as a set; "new" and "removed" are CS_NONE. */
static container_status_set spec_set(const char *list)
{
	if (strcmp(list, "any") == 0)
		return CS_ANY;
	container_status_set set = 0;
	_cleanup_free_ char *copy = xstrdup(list);
	char *save = NULL;
	for (char *n = strtok_r(copy, "|", &save); n; n = strtok_r(NULL, "|", &save)) {
		bool none = strcmp(n, "new") == 0 || strcmp(n, "removed") == 0;
		enum container_status s = container_status_from_name(n);
		if (!none && s == CS_NONE)
			fail_msg("spec names no status: %s", n);
		set |= CS_SET(s);
	}
	return set;
}

static void test_status_names(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(api_statuses); i++) {
		enum container_status s = container_status_from_name(api_statuses[i]);
		assert_int_not_equal(s, CS_NONE);
		assert_string_equal(container_status_name(s), api_statuses[i]);
	}
	assert_int_equal(ARRAY_SIZE(api_statuses), CS_COUNT - 1);
	/* names only as the API spells them */
	static const char *const not_statuses[] = {"Running", "running ",     "",
						   "unknown", "provisioning", "running|paused"};
	for (size_t i = 0; i < ARRAY_SIZE(not_statuses); i++)
		assert_int_equal(container_status_from_name(not_statuses[i]), CS_NONE);
	assert_int_equal(container_status_from_name(NULL), CS_NONE);
	assert_string_equal(container_status_name(CS_NONE), "unknown");
	assert_string_equal(container_status_name(CS_COUNT), "unknown");
}

/* The code's table row by row against the spec. */
static void test_table_is_the_spec(void **state)
{
	assert_int_equal(ARRAY_SIZE(move_spec), MOVE_COUNT);
	for (size_t i = 0; i < ARRAY_SIZE(move_spec); i++) {
		const struct container_move_def *d = &container_moves[move_spec[i].move];
		const char *n = move_spec[i].name;
		assert_string_equal(d->name, n);
		if (d->from != spec_set(move_spec[i].from))
			fail_msg("%s: from set 0x%x, spec %s", n, d->from, move_spec[i].from);
		if (d->noop != spec_set(move_spec[i].noop))
			fail_msg("%s: no-op set 0x%x, spec %s", n, d->noop, move_spec[i].noop);
		if (d->to != spec_set(move_spec[i].to))
			fail_msg("%s: to set 0x%x, spec %s", n, d->to, move_spec[i].to);
		assert_string_equal(d->by, move_spec[i].by);
		/* a status is either acted on, a no-op, or a conflict */
		assert_int_equal(d->from & d->noop, 0);
	}
}

/* ------------------------------------------------------------ operations */

static enum rt_state host_of(enum container_status s)
{
	return s == CS_RUNNING ? RT_RUNNING : s == CS_PAUSED ? RT_PAUSED : RT_STOPPED;
}

static int64_t log_count(struct fx *f, const char *id)
{
	struct status_log *logs = NULL;
	size_t n = 0;
	int64_t total = 0;
	struct error err = {0};
	assert_int_equal(
	    store_status_log_list(f->st, id, NULL, true, 1, 1, &logs, &n, &total, &err), 0);
	for (size_t i = 0; i < n; i++)
		status_log_clear(&logs[i]);
	free(logs);
	return total;
}

/* The container id in status s, on a host that agrees where it can. */
static void put_in(struct fx *f, const char *id, enum container_status s)
{
	struct error err = {0};
	assert_int_equal(store_container_set_status(f->st, id, CS_NONE, s, NULL, &err), 0);
	fake_set_state(f->rt, id, host_of(s));
}

static void check_operation(struct fx *f, const char *id, size_t k, enum container_status s)
{
	const char *op = op_spec[k].op, *name = container_status_name(s);
	bool legal = container_status_in(s, spec_set(op_spec[k].from));
	bool noop = container_status_in(s, spec_set(op_spec[k].noop));
	put_in(f, id, s);
	unsigned calls = fake_calls(f->rt, FAKE_ANY);
	int64_t logs = log_count(f, id);
	struct error err = {0};
	json_t *data = NULL;
	int rc = containers_operate(f->pf, &f->who, id, op, NULL, &data, &err);
	_cleanup_free_ char *now = fx_status_of(f, id);
	const char *said = json_string_value(json_object_get(data, "status"));
	if (legal) {
		if (rc != 0)
			fail_msg("%s from %s refused: %s", op, name, err.msg);
		assert_string_equal(now, op_spec[k].to);
		assert_string_equal(said, op_spec[k].to);
		assert_int_equal(fake_state(f->rt, id), host_of(container_status_from_name(now)));
		assert_int_equal(log_count(f, id), logs + 1);
	} else {
		enum err_code want = noop ? E_NOOP_STATE : E_STATE_CONFLICT;
		if (rc == 0 || err.code != want)
			fail_msg("%s from %s: rc %d, %s, expected %s", op, name, rc,
				 err_code_name(err.code), err_code_name(want));
		/* what the API answers: 400 and 409 (common/envelope.c) */
		assert_string_equal(err_code_name(err.code),
				    noop ? "VALIDATION_ERROR" : "OPERATION_STATE_CONFLICT");
		assert_true(json_is_true(json_object_get(data, "error")));
		assert_string_equal(said, name);
		assert_string_equal(now, name);
		assert_int_equal(fake_calls(f->rt, FAKE_ANY), calls);
		assert_int_equal(log_count(f, id), logs);
	}
	json_decref(data);
}

static void test_operations_from_every_status(void **state)
{
	struct fx *f = fx_new(NULL);
	char id[ID_LEN + 1];
	fx_create_running(f, "web", id);
	for (size_t k = 0; k < ARRAY_SIZE(op_spec); k++)
		for (int s = CS_NONE + 1; s < CS_COUNT; s++)
			check_operation(f, id, k, (enum container_status)s);
	fx_free(f);
}

/* ------------------------------------------------------------ moves */

static void check_move(struct fx *f, const char *id, size_t k, enum container_status s,
		       enum container_status to)
{
	const char *n = move_spec[k].name, *name = container_status_name(s);
	bool legal = container_status_in(s, spec_set(move_spec[k].from));
	put_in(f, id, s);
	int64_t logs = log_count(f, id);
	struct container_transition t = {.move = move_spec[k].move, .to = to, .reason = "why"};
	struct container row = {0};
	struct error err = {0};
	int rc = containers_transition(f->pf, id, &t, &row, &err);
	_cleanup_free_ char *now = fx_status_of(f, id);
	if (legal) {
		if (rc != 0)
			fail_msg("%s from %s refused: %s", n, name, err.msg);
		assert_string_equal(now, container_status_name(to));
		assert_int_equal(row.status, to);
		/* a change is logged, and gives a reason to a failed row only */
		bool logged = s != to || container_moves[t.move].relog;
		assert_int_equal(log_count(f, id), logs + logged);
		if (logged)
			assert_true((row.failure_reason != NULL) == (to == CS_FAILED));
	} else {
		if (rc == 0 || err.code != E_STATE_CONFLICT)
			fail_msg("%s from %s: rc %d, %s, expected a state conflict", n, name, rc,
				 err_code_name(err.code));
		assert_string_equal(now, name);
		assert_int_equal(log_count(f, id), logs);
	}
	container_clear(&row);
}

/* Every move containers_transition makes (not those of new or removed
 * rows), from every status, to each status it may lead to. */
static void test_moves_from_every_status(void **state)
{
	struct fx *f = fx_new(NULL);
	char id[ID_LEN + 1];
	fx_create_running(f, "web", id);
	for (size_t k = 0; k < ARRAY_SIZE(move_spec); k++) {
		container_status_set from = spec_set(move_spec[k].from);
		container_status_set to = spec_set(move_spec[k].to);
		if ((from | to) & CS_SET(CS_NONE))
			continue;
		for (int s = CS_NONE + 1; s < CS_COUNT; s++)
			for (int d = CS_NONE + 1; d < CS_COUNT; d++)
				if (container_status_in((enum container_status)d, to))
					check_move(f, id, k, (enum container_status)s,
						   (enum container_status)d);
	}
	fx_free(f);
}

/* A move's guard as jobs and operations ask it. */
static void test_move_check(void **state)
{
	for (size_t k = 0; k < ARRAY_SIZE(move_spec); k++) {
		enum container_move m = move_spec[k].move;
		container_status_set from = spec_set(move_spec[k].from);
		container_status_set noop = spec_set(move_spec[k].noop);
		for (int s = CS_NONE; s < CS_COUNT; s++) {
			enum err_code want = (from & CS_SET(s))	  ? E_OK
					     : (noop & CS_SET(s)) ? E_NOOP_STATE
								  : E_STATE_CONFLICT;
			if (container_move_check(m, (enum container_status)s) != want)
				fail_msg("%s from %s: not %s", move_spec[k].name,
					 container_status_name((enum container_status)s),
					 err_code_name(want));
		}
	}
}

/* ------------------------------------------------------------ the docs */

/* "running, paused" in the enum's order; the special sets by name. */
static void put_set(FILE *m, container_status_set set, const char *none)
{
	if (set == CS_ANY) {
		fputs("any", m);
		return;
	}
	if (!set) {
		fputs("—", m);
		return;
	}
	const char *sep = "";
	for (int s = CS_NONE; s < CS_COUNT; s++)
		if (set & CS_SET(s)) {
			fprintf(m, "%s%s", sep,
				s == CS_NONE ? none
					     : container_status_name((enum container_status)s));
			sep = ", ";
		}
}

/* The table of docs/CONTAINERS.md "States", from container_moves. */
static char *render_table_new(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	assert_non_null(m);
	fputs("| move | triggered_by | from | no-op (400) | to | desired |\n"
	      "|---|---|---|---|---|---|\n",
	      m);
	for (int k = 0; k < MOVE_COUNT; k++) {
		const struct container_move_def *d = &container_moves[k];
		fprintf(m, "| %s | %s | ", d->name, d->by);
		put_set(m, d->from, "(new row)");
		fputs(" | ", m);
		put_set(m, d->noop, "");
		fputs(" | ", m);
		put_set(m, d->to, "(row removed)");
		fprintf(m, "%s | %s |\n", d->relog ? " (logged even from running)" : "",
			d->desired == CS_NONE ? "—" : container_status_name(d->desired));
	}
	assert_int_equal(fclose(m), 0);
	return out;
}

static void test_docs_table(void **state)
{
	_cleanup_free_ char *table = render_table_new();
	_cleanup_free_ char *doc = NULL;
	size_t len = 0;
	struct error err = {0};
	if (read_file(HOODY_SOURCE_DIR "/docs/CONTAINERS.md", DOC_MAX, &doc, &len, &err) < 0)
		fail_msg("docs/CONTAINERS.md: %s", err.msg);
	if (!strstr(doc, table)) {
		fprintf(stderr, "%s", table); /* whole: cmocka cuts long messages */
		fail_msg("docs/CONTAINERS.md \"States\" lacks the table of container_moves "
			 "(printed above)");
	}
}

int main(void)
{
	log_set_level(LOG_WARN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_table_is_the_spec),
	    cmocka_unit_test(test_move_check),
	    cmocka_unit_test(test_operations_from_every_status),
	    cmocka_unit_test(test_moves_from_every_status),
	    cmocka_unit_test(test_docs_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
