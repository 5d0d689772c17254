#include "platform/platform_int.h"
#include "platform/runtime_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/ids.h"
#include "common/util.h"

struct entry {
	char id[ID_LEN + 1];
	int64_t at_ms;
	json_t *doc;
};

static struct entry entries[RUNTIME_CACHE_MAX];
static size_t nentries;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Index of id, or -1. Caller holds mu. */
static long find(const char *id)
{
	for (size_t i = 0; i < nentries; i++)
		if (strcmp(entries[i].id, id) == 0)
			return (long)i;
	return -1;
}

json_t *runtime_cache_get(const char *id)
{
	json_t *doc = NULL;
	pthread_mutex_lock(&mu);
	long i = find(id);
	if (i >= 0 && now_ms() - entries[i].at_ms < RUNTIME_CACHE_TTL_MS)
		doc = json_incref(entries[i].doc);
	pthread_mutex_unlock(&mu);
	return doc;
}

void runtime_cache_put(const char *id, json_t *doc)
{
	pthread_mutex_lock(&mu);
	long i = find(id);
	if (i < 0 && nentries < RUNTIME_CACHE_MAX) {
		i = (long)nentries++;
	} else if (i < 0) {
		i = 0;
		for (size_t k = 1; k < nentries; k++)
			if (entries[k].at_ms < entries[i].at_ms)
				i = (long)k;
	}
	json_decref(entries[i].doc);
	snprintf(entries[i].id, sizeof(entries[i].id), "%s", id);
	entries[i].at_ms = now_ms();
	entries[i].doc = json_incref(doc);
	pthread_mutex_unlock(&mu);
}
