/* Identifiers: 24 lowercase hex resource ids (ObjectId-like: 4 bytes of time,
 * then a process-random part and a counter, so ids sort by creation time),
 * and 32 hex operation ids. */
#ifndef HOODY_COMMON_IDS_H
#define HOODY_COMMON_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define ID_LEN 24
#define OP_ID_LEN 32

typedef struct {
	char s[ID_LEN + 1];
} id_t24;

void id_new(char out[ID_LEN + 1]);
void op_id_new(char out[OP_ID_LEN + 1]);
/* Exactly 24 chars of [0-9a-f]. */
bool id_valid(const char *s);
/* Fills buf with n random bytes from the kernel. */
void random_bytes(void *buf, size_t n);
/* n random bytes rendered as 2n lowercase hex chars + NUL. */
void random_hex(char *out, size_t nbytes);
void hex_encode(const unsigned char *in, size_t n, char *out);

#endif
