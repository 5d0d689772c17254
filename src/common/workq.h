/* A fixed pool of worker threads shared fairly between owners.
 *
 * Every job has an owner (a user, or a client address before it signs in)
 * and a class. Each owner has its own FIFO lane; workers take the next job
 * round-robin over the lanes, so a job waits behind at most one job of each
 * other owner, however many one owner has queued. An owner runs at most
 * workq_owner_cap() jobs at once, so slow work of one owner (stops with long
 * timeouts, stats of huge trees, password hashing) never holds every worker.
 * WQ_PASSWORD jobs (argon2, 64 MiB each) also run at most WQ_PASSWORD_MAX at
 * once over all owners, which bounds the memory of concurrent logins.
 * WQ_SYSTEM jobs (the platform's own background jobs) share one lane with
 * no cap: they may wait for each other (one operation per container), and a
 * cap could leave the holder of a lock queued behind its waiters. */
#ifndef HOODY_COMMON_WORKQ_H
#define HOODY_COMMON_WORKQ_H

enum workq_class { WQ_SYSTEM, WQ_USER, WQ_PASSWORD };

#define WQ_PASSWORD_MAX 4
#define WQ_OWNER_MAX 64 /* bytes of an owner name, NUL included */

struct workq;

struct workq *workq_new(int threads);
/* A WQ_SYSTEM job. */
void workq_submit(struct workq *wq, void (*fn)(void *arg), void *arg);
/* A job of owner (e.g. "user:<id>", "ip:<addr>"). */
void workq_submit_as(struct workq *wq, const char *owner, enum workq_class cls,
		     void (*fn)(void *arg), void *arg);
/* Jobs queued but not started. */
int workq_pending(struct workq *wq);
/* Jobs of owner running now (for tests and the logs). */
int workq_running(struct workq *wq, const char *owner);
/* How many jobs one owner may run at once: a quarter of the workers. */
int workq_owner_cap(const struct workq *wq);
/* Runs every queued job, then joins the threads. */
void workq_free(struct workq *wq);

#endif
