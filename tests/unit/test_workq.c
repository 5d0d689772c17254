/* The fair work queue (common/workq.c), written as the attack of issue 16
 * item 5: one owner's slow jobs (blocked here on a gate, as a stop with a
 * long timeout would be) must not hold every worker nor delay another
 * owner's job, and password jobs obey their global cap. Structural checks
 * only: who runs while the slow work is still in flight, never how fast. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/workq.h"

#define WORKERS 16

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int started, done, max_password;
	int password_now;
};

static struct gate g;

static void gate_reset(void)
{
	memset(&g, 0, sizeof(g));
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
}

static void slow_job(void *arg)
{
	bool password = arg != NULL;
	pthread_mutex_lock(&g.mu);
	g.started++;
	if (password && ++g.password_now > g.max_password)
		g.max_password = g.password_now;
	pthread_cond_broadcast(&g.cv);
	while (!g.open)
		pthread_cond_wait(&g.cv, &g.mu);
	if (password)
		g.password_now--;
	g.done++;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

static int victim_ran, started_before_victim;

static void victim_job(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g.mu);
	victim_ran = 1;
	started_before_victim = g.started;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

/* Waits until cond holds (bounded by the test's own ctest timeout). */
#define WAIT_UNTIL(cond)                                                                           \
	do {                                                                                       \
		pthread_mutex_lock(&g.mu);                                                         \
		while (!(cond))                                                                    \
			pthread_cond_wait(&g.cv, &g.mu);                                           \
		pthread_mutex_unlock(&g.mu);                                                       \
	} while (0)

static void open_gate(void)
{
	pthread_mutex_lock(&g.mu);
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

static void settle(void)
{
	usleep(50 * 1000); /* lets any worker that could start a job do so */
}

static void test_slow_owner_cannot_hold_every_worker(void **state)
{
	(void)state;
	gate_reset();
	victim_ran = 0;
	struct workq *wq = workq_new(WORKERS);
	int cap = workq_owner_cap(wq);
	assert_true(cap >= 1 && cap < WORKERS);
	/* 16 slow stops of the attacker and 32 bad logins of an address */
	for (int i = 0; i < 16; i++)
		workq_submit_as(wq, "user:attacker", WQ_USER, slow_job, NULL);
	for (int i = 0; i < 32; i++)
		workq_submit_as(wq, "ip:127.0.0.1", WQ_PASSWORD, slow_job, (void *)1);
	WAIT_UNTIL(g.started >= cap + (cap < WQ_PASSWORD_MAX ? cap : WQ_PASSWORD_MAX));
	settle();
	assert_int_equal(workq_running(wq, "user:attacker"), cap);
	assert_true(workq_running(wq, "ip:127.0.0.1") <= cap);
	/* the victim is served while every slow job is still in flight */
	workq_submit_as(wq, "user:victim", WQ_USER, victim_job, NULL);
	WAIT_UNTIL(victim_ran);
	pthread_mutex_lock(&g.mu);
	assert_int_equal(g.done, 0);
	pthread_mutex_unlock(&g.mu);
	open_gate();
	WAIT_UNTIL(g.done == 48);
	assert_true(g.max_password <= WQ_PASSWORD_MAX);
	workq_free(wq);
}

static void test_password_jobs_capped_over_all_owners(void **state)
{
	(void)state;
	gate_reset();
	struct workq *wq = workq_new(WORKERS);
	/* logins from 16 addresses: each address is under its own cap, the
	 * global password cap still holds (memory: 64 MiB per argon2) */
	char owner[32];
	for (int i = 0; i < 64; i++) {
		snprintf(owner, sizeof(owner), "ip:10.0.0.%d", i % 16);
		workq_submit_as(wq, owner, WQ_PASSWORD, slow_job, (void *)1);
	}
	WAIT_UNTIL(g.started >= WQ_PASSWORD_MAX);
	settle();
	pthread_mutex_lock(&g.mu);
	assert_int_equal(g.started, WQ_PASSWORD_MAX);
	pthread_mutex_unlock(&g.mu);
	/* and other work still gets the free workers */
	victim_ran = 0;
	workq_submit_as(wq, "user:victim", WQ_USER, victim_job, NULL);
	WAIT_UNTIL(victim_ran);
	open_gate();
	WAIT_UNTIL(g.done == 64);
	assert_true(g.max_password <= WQ_PASSWORD_MAX);
	assert_int_equal(workq_pending(wq), 0);
	workq_free(wq);
}

static void test_round_robin_between_owners(void **state)
{
	(void)state;
	gate_reset();
	victim_ran = 0;
	/* one worker: the victim's job runs right after the job in progress,
	 * not after the attacker's whole backlog */
	struct workq *wq = workq_new(1);
	for (int i = 0; i < 8; i++)
		workq_submit_as(wq, "user:attacker", WQ_USER, slow_job, NULL);
	WAIT_UNTIL(g.started == 1);
	workq_submit_as(wq, "user:victim", WQ_USER, victim_job, NULL);
	open_gate();
	WAIT_UNTIL(victim_ran);
	assert_int_equal(started_before_victim, 1);
	WAIT_UNTIL(g.done == 8);
	workq_free(wq);
}

static int sys_ran;

static void sys_job(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g.mu);
	sys_ran++;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

static void test_system_jobs_uncapped_and_drained(void **state)
{
	(void)state;
	gate_reset();
	sys_ran = 0;
	struct workq *wq = workq_new(4);
	/* platform jobs may wait for each other: more than a quarter of the
	 * workers must be able to run them at once */
	for (int i = 0; i < 3; i++)
		workq_submit(wq, slow_job, NULL);
	WAIT_UNTIL(g.started == 3);
	for (int i = 0; i < 100; i++)
		workq_submit(wq, sys_job, NULL);
	open_gate();
	workq_free(wq); /* runs every queued job first */
	assert_int_equal(sys_ran, 100);
	assert_int_equal(g.done, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slow_owner_cannot_hold_every_worker),
	    cmocka_unit_test(test_password_jobs_capped_over_all_owners),
	    cmocka_unit_test(test_round_robin_between_owners),
	    cmocka_unit_test(test_system_jobs_uncapped_and_drained),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
