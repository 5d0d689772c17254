/* One operation at a time per container. A request that finds the container
 * busy is refused at once (E_OP_IN_PROGRESS); a background job that must run
 * eventually (delete, recovery, the exit handler) waits for its turn.
 *
 * Rule that keeps waiting deadlock-free: a lock is only ever held by the
 * thread doing the work, for the duration of that work, never by a queued
 * job. So a waiter always waits for a running holder.
 *
 * One exception to "refused at once": a holder that has marked itself
 * finishing (its work done, its last commit pending) is waited for, so a
 * client acting on the status it just read is not refused by a job's tail. */
#ifndef HOODY_PLATFORM_OPLOCKS_H
#define HOODY_PLATFORM_OPLOCKS_H

#include <stdbool.h>

#include "common/error.h"

struct oplocks;

struct oplocks *oplocks_new(void);
void oplocks_free(struct oplocks *l);

/* Takes the lock of id, or fails with E_OP_IN_PROGRESS naming what holds it
 * (what: "create", "delete", "update", ...). */
int oplock_try(struct oplocks *l, const char *id, const char *what, struct error *err);
/* Takes the lock of id, waiting while another thread holds it. */
void oplock_wait(struct oplocks *l, const char *id, const char *what);
/* The holder's work is done and only its final status commit remains:
 * oplock_try then waits for the release (briefly) instead of refusing. */
void oplock_finishing(struct oplocks *l, const char *id);
void oplock_release(struct oplocks *l, const char *id);
bool oplock_held(struct oplocks *l, const char *id);

#endif
