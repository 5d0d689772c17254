#include "common/ids.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "common/util.h"

void random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0)
			HOODY_PANIC("getrandom: %m"); /* the kernel always has entropy after boot */
		p += got;
		n -= (size_t)got;
	}
}

void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void random_hex(char *out, size_t nbytes)
{
	unsigned char buf[64];
	HOODY_ASSERT(nbytes <= sizeof(buf));
	random_bytes(buf, nbytes);
	hex_encode(buf, nbytes, out);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static unsigned char process_rand[5];
static uint32_t counter;

static void init_rand(void)
{
	random_bytes(process_rand, sizeof(process_rand));
	random_bytes(&counter, sizeof(counter));
}

void id_new(char out[ID_LEN + 1])
{
	pthread_once(&once, init_rand);
	uint32_t t = (uint32_t)time(NULL);
	uint32_t c = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	unsigned char b[12] = {t >> 24,		t >> 16,	 t >> 8,	  t,
			       process_rand[0], process_rand[1], process_rand[2], process_rand[3],
			       process_rand[4], c >> 16,	 c >> 8,	  c};
	hex_encode(b, sizeof(b), out);
}

void op_id_new(char out[OP_ID_LEN + 1])
{
	random_hex(out, OP_ID_LEN / 2);
}

bool id_valid(const char *s)
{
	if (!s)
		return false;
	size_t i = 0;
	for (; s[i]; i++) {
		if (i >= ID_LEN)
			return false;
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return i == ID_LEN;
}
