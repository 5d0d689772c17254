/* The set of containers with an operation running: a small array under one
 * mutex. It holds at most one entry per busy thread (HTTP threads plus
 * workers), so a linear scan is cheaper than any index. */
#include "platform/platform_int.h"
#include "platform/oplocks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"
#include "common/util.h"

struct held {
	char id[ID_LEN + 1];
	const char *what; /* static string */
	bool finishing;	  /* the work is done; only its last commit remains */
};

struct oplocks {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct held *v;
	size_t n, cap;
};

struct oplocks *oplocks_new(void)
{
	struct oplocks *l = xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	return l;
}

void oplocks_free(struct oplocks *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->v);
	free(l);
}

/* Caller holds mu. */
static struct held *find(struct oplocks *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, id) == 0)
			return &l->v[i];
	return NULL;
}

static void add(struct oplocks *l, const char *id, const char *what)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	snprintf(l->v[l->n].id, sizeof(l->v[l->n].id), "%s", id);
	l->v[l->n].what = what ? what : "operation";
	l->v[l->n].finishing = false;
	l->n++;
}

/* Waits (caller holds mu) while the holder of id is only committing its
 * result, at most FINISH_WAIT_MS: a client that has just seen `running`
 * must not be refused by the tail of the job that made it so. */
#define FINISH_WAIT_MS 1000
static struct held *wait_finishing(struct oplocks *l, const char *id)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += FINISH_WAIT_MS / 1000;
	struct held *h;
	while ((h = find(l, id)) && h->finishing)
		if (pthread_cond_timedwait(&l->cv, &l->mu, &until) != 0)
			break;
	return find(l, id);
}

int oplock_try(struct oplocks *l, const char *id, const char *what, struct error *err)
{
	pthread_mutex_lock(&l->mu);
	struct held *h = wait_finishing(l, id);
	if (h) {
		const char *busy = h->what;
		pthread_mutex_unlock(&l->mu);
		return err_set(err, E_OP_IN_PROGRESS,
			       "Cannot perform %s operation. Container is currently being operated "
			       "on (%s in progress).",
			       what ? what : "this", busy);
	}
	add(l, id, what);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

void oplock_wait(struct oplocks *l, const char *id, const char *what)
{
	pthread_mutex_lock(&l->mu);
	while (find(l, id))
		pthread_cond_wait(&l->cv, &l->mu);
	add(l, id, what);
	pthread_mutex_unlock(&l->mu);
}

void oplock_finishing(struct oplocks *l, const char *id)
{
	pthread_mutex_lock(&l->mu);
	struct held *h = find(l, id);
	if (h)
		h->finishing = true;
	pthread_mutex_unlock(&l->mu);
}

void oplock_release(struct oplocks *l, const char *id)
{
	pthread_mutex_lock(&l->mu);
	struct held *h = find(l, id);
	if (h) {
		*h = l->v[--l->n];
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
}

bool oplock_held(struct oplocks *l, const char *id)
{
	pthread_mutex_lock(&l->mu);
	bool held = find(l, id) != NULL;
	pthread_mutex_unlock(&l->mu);
	return held;
}
