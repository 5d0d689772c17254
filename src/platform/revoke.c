/* The access-change log (revoke.h): a ring of the last REVOKE_LOG_SIZE
 * changes and an atomic sequence number readers poll. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "platform/revoke.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct revoke_change ring[REVOKE_LOG_SIZE];
static uint64_t last_seq; /* atomic for readers; written under log_lock */

void revoke_note(enum revoke_scope scope, const char *id, bool close)
{
	pthread_mutex_lock(&log_lock);
	uint64_t seq = last_seq + 1;
	struct revoke_change *c = &ring[seq % REVOKE_LOG_SIZE];
	c->seq = seq;
	c->scope = scope;
	c->close = close;
	snprintf(c->id, sizeof(c->id), "%s", scope == REVOKE_ALL || !id ? "" : id);
	__atomic_store_n(&last_seq, seq, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&log_lock);
}

uint64_t revoke_seq(void)
{
	return __atomic_load_n(&last_seq, __ATOMIC_ACQUIRE);
}

size_t revoke_since(uint64_t since, struct revoke_change *out, size_t max, bool *lost)
{
	size_t n = 0;
	pthread_mutex_lock(&log_lock);
	*lost = last_seq > since && last_seq - since > REVOKE_LOG_SIZE;
	uint64_t from = *lost ? last_seq - REVOKE_LOG_SIZE + 1 : since + 1;
	for (uint64_t s = from; s <= last_seq && n < max; s++)
		out[n++] = ring[s % REVOKE_LOG_SIZE];
	pthread_mutex_unlock(&log_lock);
	return n;
}
