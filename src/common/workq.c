#include "common/workq.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/util.h"

struct job {
	void (*fn)(void *);
	void *arg;
	struct job *next;
};

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	int pending;
	int nthreads;
	int stopping;
	pthread_t *threads;
};

static void *worker(void *p)
{
	struct workq *wq = p;
	for (;;) {
		pthread_mutex_lock(&wq->mu);
		while (!wq->head && !wq->stopping)
			pthread_cond_wait(&wq->cv, &wq->mu);
		struct job *j = wq->head;
		if (!j) {
			pthread_mutex_unlock(&wq->mu);
			return NULL;
		}
		wq->head = j->next;
		if (!wq->head)
			wq->tail = NULL;
		wq->pending--;
		pthread_mutex_unlock(&wq->mu);
		j->fn(j->arg);
		free(j);
	}
}

struct workq *workq_new(int threads)
{
	struct workq *wq = xcalloc(1, sizeof(*wq));
	pthread_mutex_init(&wq->mu, NULL);
	pthread_cond_init(&wq->cv, NULL);
	wq->nthreads = threads > 0 ? threads : 1;
	wq->threads = xcalloc((size_t)wq->nthreads, sizeof(pthread_t));
	for (int i = 0; i < wq->nthreads; i++)
		if (pthread_create(&wq->threads[i], NULL, worker, wq) != 0)
			abort();
	return wq;
}

void workq_submit(struct workq *wq, void (*fn)(void *), void *arg)
{
	struct job *j = xmalloc(sizeof(*j));
	j->fn = fn;
	j->arg = arg;
	j->next = NULL;
	pthread_mutex_lock(&wq->mu);
	if (wq->tail)
		wq->tail->next = j;
	else
		wq->head = j;
	wq->tail = j;
	wq->pending++;
	pthread_cond_signal(&wq->cv);
	pthread_mutex_unlock(&wq->mu);
}

int workq_pending(struct workq *wq)
{
	pthread_mutex_lock(&wq->mu);
	int n = wq->pending;
	pthread_mutex_unlock(&wq->mu);
	return n;
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
