#include "common/workq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct job {
	void (*fn)(void *);
	void *arg;
	enum workq_class cls;
	struct job *next;
};

/* One owner's FIFO. Lanes with jobs or running ones are kept in service
 * order: the lane served last goes to the tail. */
struct lane {
	char owner[WQ_OWNER_MAX];
	bool system;
	struct job *head, *tail;
	int running;
	struct lane *next;
};

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct lane *lanes;
	int pending;
	int password_running;
	int nthreads;
	int owner_cap;
	int stopping;
	pthread_t *threads;
};

static bool runnable(const struct workq *wq, const struct lane *l)
{
	if (!l->head)
		return false;
	if (!l->system && l->running >= wq->owner_cap)
		return false;
	return l->head->cls != WQ_PASSWORD || wq->password_running < WQ_PASSWORD_MAX;
}

static void lane_unlink(struct workq *wq, struct lane *l)
{
	struct lane **pp = &wq->lanes;
	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	l->next = NULL;
}

static void lane_append(struct workq *wq, struct lane *l)
{
	struct lane **pp = &wq->lanes;
	while (*pp)
		pp = &(*pp)->next;
	*pp = l;
}

/* Takes the head job of the first runnable lane (round-robin: that lane
 * then goes last). Caller holds mu. */
static struct job *take(struct workq *wq, struct lane **lane_out)
{
	struct lane *l = wq->lanes;
	while (l && !runnable(wq, l))
		l = l->next;
	if (!l)
		return NULL;
	struct job *j = l->head;
	l->head = j->next;
	if (!l->head)
		l->tail = NULL;
	l->running++;
	wq->pending--;
	if (j->cls == WQ_PASSWORD)
		wq->password_running++;
	lane_unlink(wq, l);
	lane_append(wq, l);
	*lane_out = l;
	return j;
}

static void finished(struct workq *wq, struct lane *l, const struct job *j)
{
	l->running--;
	if (j->cls == WQ_PASSWORD)
		wq->password_running--;
	if (!l->head && !l->running) {
		lane_unlink(wq, l);
		free(l);
	}
	/* A capped lane may be runnable now. */
	pthread_cond_broadcast(&wq->cv);
}

static void *worker(void *p)
{
	struct workq *wq = p;
	pthread_mutex_lock(&wq->mu);
	for (;;) {
		struct lane *l;
		struct job *j = take(wq, &l);
		if (!j) {
			if (wq->stopping && !wq->pending)
				break;
			pthread_cond_wait(&wq->cv, &wq->mu);
			continue;
		}
		pthread_mutex_unlock(&wq->mu);
		j->fn(j->arg);
		pthread_mutex_lock(&wq->mu);
		finished(wq, l, j);
		free(j);
	}
	pthread_mutex_unlock(&wq->mu);
	return NULL;
}

struct workq *workq_new(int threads)
{
	struct workq *wq = xcalloc(1, sizeof(*wq));
	pthread_mutex_init(&wq->mu, NULL);
	pthread_cond_init(&wq->cv, NULL);
	wq->nthreads = threads > 0 ? threads : 1;
	wq->owner_cap = wq->nthreads / 4 > 0 ? wq->nthreads / 4 : 1;
	wq->threads = xcalloc((size_t)wq->nthreads, sizeof(pthread_t));
	for (int i = 0; i < wq->nthreads; i++)
		if (pthread_create(&wq->threads[i], NULL, worker, wq) != 0)
			HOODY_PANIC("cannot start work queue thread %d of %d", i + 1, wq->nthreads);
	return wq;
}

static struct lane *lane_get(struct workq *wq, const char *owner, bool system)
{
	for (struct lane *l = wq->lanes; l; l = l->next)
		if (l->system == system && !strcmp(l->owner, owner))
			return l;
	struct lane *l = xcalloc(1, sizeof(*l));
	snprintf(l->owner, sizeof(l->owner), "%s", owner);
	l->system = system;
	/* Not served yet: first in line. */
	l->next = wq->lanes;
	wq->lanes = l;
	return l;
}

void workq_submit_as(struct workq *wq, const char *owner, enum workq_class cls, void (*fn)(void *),
		     void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->fn = fn;
	j->arg = arg;
	j->cls = cls;
	pthread_mutex_lock(&wq->mu);
	struct lane *l = lane_get(wq, cls == WQ_SYSTEM ? "" : owner, cls == WQ_SYSTEM);
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	wq->pending++;
	pthread_cond_signal(&wq->cv);
	pthread_mutex_unlock(&wq->mu);
}

void workq_submit(struct workq *wq, void (*fn)(void *), void *arg)
{
	workq_submit_as(wq, "", WQ_SYSTEM, fn, arg);
}

int workq_pending(struct workq *wq)
{
	pthread_mutex_lock(&wq->mu);
	int n = wq->pending;
	pthread_mutex_unlock(&wq->mu);
	return n;
}

int workq_running(struct workq *wq, const char *owner)
{
	int n = 0;
	pthread_mutex_lock(&wq->mu);
	for (struct lane *l = wq->lanes; l; l = l->next)
		if (!l->system && !strcmp(l->owner, owner))
			n = l->running;
	pthread_mutex_unlock(&wq->mu);
	return n;
}

int workq_owner_cap(const struct workq *wq)
{
	return wq->owner_cap;
}

void workq_free(struct workq *wq)
{
	if (!wq)
		return;
	pthread_mutex_lock(&wq->mu);
	wq->stopping = 1;
	pthread_cond_broadcast(&wq->cv);
	pthread_mutex_unlock(&wq->mu);
	for (int i = 0; i < wq->nthreads; i++)
		pthread_join(wq->threads[i], NULL);
	free(wq->threads);
	pthread_mutex_destroy(&wq->mu);
	pthread_cond_destroy(&wq->cv);
	free(wq);
}
