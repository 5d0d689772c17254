/* A fixed pool of worker threads running queued jobs in FIFO order. */
#ifndef HOODY_COMMON_WORKQ_H
#define HOODY_COMMON_WORKQ_H

struct workq;

struct workq *workq_new(int threads);
void workq_submit(struct workq *wq, void (*fn)(void *arg), void *arg);
/* Jobs queued but not started. */
int workq_pending(struct workq *wq);
/* Runs every queued job, then joins the threads. */
void workq_free(struct workq *wq);

#endif
