/* A network and names of this test run's own, so that two runs on one host
 * (two clones' `make test`) never share a bridge, a subnet, a cgroup or a
 * veth. The run claims a slot n in 2..197 from a host-wide pool: an flock on
 * /run/hoody-test-nets/<n>, held for the life of the process (the kernel
 * drops it when the process dies, so a killed run leaves no claim behind),
 * and skips a 10.<n>.0.0/16 an interface already holds. The e2e harness
 * (reserve_subnet() in tests/e2e/hoody_test.py) claims from the same pool;
 * 198-255 are left to developers. The slot gives the subnet and a suffix
 * for the bridge and for every container id (cgroups and veths are named
 * by id, host-wide). */
#ifndef HOODY_TESTNET_H
#define HOODY_TESTNET_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

#define TESTNET_DIR "/run/hoody-test-nets"
#define TESTNET_FIRST 2
#define TESTNET_COUNT 196 /* 2..197, as reserve_subnet() in tests/e2e/hoody_test.py */

struct testnet {
	int slot;
	char bridge[16];
	char subnet[32];
	char prefix[16]; /* "10.<n>." */
	char gateway[16];
};

/* 10.<n>.0.0/16 already on an interface of the host: a daemon that did not
 * claim its slot, or a developer's network. */
static inline bool testnet_in_use(int n)
{
	struct ifaddrs *ifs, *i;
	bool used = false;
	if (getifaddrs(&ifs) < 0)
		return true;
	for (i = ifs; i && !used; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		uint32_t a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		used = a >> 24 == 10 && ((a >> 16) & 0xff) == (uint32_t)n;
	}
	freeifaddrs(ifs);
	return used;
}

/* Claims a free slot (the lock's fd stays open on purpose). Returns -1 when
 * none is free: the test then fails, it never runs on a shared network. */
static inline int testnet_claim(const char *bridge_prefix, struct testnet *out)
{
	if (mkdir(TESTNET_DIR, 0755) < 0 && errno != EEXIST)
		return -1;
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	int start = (int)(rand_r(&seed) % TESTNET_COUNT);
	for (int i = 0; i < TESTNET_COUNT; i++) {
		int n = TESTNET_FIRST + (start + i) % TESTNET_COUNT;
		char path[64];
		snprintf(path, sizeof(path), TESTNET_DIR "/%d", n);
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && !testnet_in_use(n)) {
			out->slot = n;
			snprintf(out->bridge, sizeof(out->bridge), "%s%d", bridge_prefix, n);
			snprintf(out->subnet, sizeof(out->subnet), "10.%d.0.0/16", n);
			snprintf(out->prefix, sizeof(out->prefix), "10.%d.", n);
			snprintf(out->gateway, sizeof(out->gateway), "10.%d.0.1", n);
			return 0;
		}
		close(fd);
	}
	return -1;
}

/* "<name>-<slot>": a container id no other run uses. Interned, so that the
 * tests can pass ID("it-basic") wherever they passed the literal. */
static inline const char *testnet_id(const struct testnet *net, const char *name)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char *ids[128];
	static size_t n;
	_cleanup_free_ char *want = xasprintf("%s-%d", name, net->slot);
	const char *id = NULL;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n && !id; i++)
		if (!strcmp(ids[i], want))
			id = ids[i];
	if (!id && n < sizeof(ids) / sizeof(ids[0])) {
		ids[n] = xstrdup(want);
		id = ids[n++];
	}
	pthread_mutex_unlock(&lock);
	if (!id)
		abort(); /* more names than a test run uses */
	return id;
}

#endif
