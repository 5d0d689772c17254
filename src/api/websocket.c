/* RFC 6455 framing (see websocket.h). */
#include "api/websocket.h"

#include <openssl/sha.h>
#include <sodium.h>
#include <string.h>

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char raw[32], digest[SHA_DIGEST_LENGTH];
	size_t raw_len = 0;
	if (!key || strlen(key) != 24 ||
	    sodium_base642bin(raw, sizeof(raw), key, 24, NULL, &raw_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    raw_len != 16)
		return false;
	char buf[24 + sizeof(WS_GUID)];
	memcpy(buf, key, 24);
	memcpy(buf + 24, WS_GUID, sizeof(WS_GUID));
	SHA1((const unsigned char *)buf, strlen(buf), digest);
	sodium_bin2base64(out, WS_ACCEPT_LEN + 1, digest, sizeof(digest),
			  sodium_base64_VARIANT_ORIGINAL);
	return true;
}

ssize_t ws_frame_parse(uint8_t *buf, size_t len, size_t max_payload, struct ws_frame *f)
{
	if (len < 2)
		return 0;
	bool fin = buf[0] & 0x80, masked = buf[1] & 0x80;
	unsigned op = buf[0] & 0x0f;
	uint64_t plen = buf[1] & 0x7f;
	size_t pos = 2;
	if ((buf[0] & 0x70) || !masked)
		return -1;
	if (op >= WS_CLOSE && (!fin || plen > 125))
		return -1;
	if (op != WS_CONT && op != WS_TEXT && op != WS_BINARY && op != WS_CLOSE && op != WS_PING &&
	    op != WS_PONG)
		return -1;
	if (plen == 126 || plen == 127) {
		size_t n = plen == 126 ? 2 : 8;
		if (len < pos + n)
			return 0;
		plen = 0;
		for (size_t i = 0; i < n; i++)
			plen = plen << 8 | buf[pos + i];
		pos += n;
	}
	if (plen > max_payload)
		return -1;
	if (len < pos + 4 + plen)
		return 0;
	const uint8_t *mask = buf + pos;
	pos += 4;
	for (size_t i = 0; i < plen; i++)
		buf[pos + i] ^= mask[i % 4];
	f->fin = fin;
	f->opcode = (enum ws_opcode)op;
	f->payload = buf + pos;
	f->len = (size_t)plen;
	return (ssize_t)(pos + plen);
}

size_t ws_frame_header(uint8_t hdr[WS_HEADER_MAX], enum ws_opcode op, size_t payload_len)
{
	hdr[0] = (uint8_t)(0x80 | op);
	if (payload_len < 126) {
		hdr[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xffff) {
		hdr[1] = 126;
		hdr[2] = (uint8_t)(payload_len >> 8);
		hdr[3] = (uint8_t)payload_len;
		return 4;
	}
	hdr[1] = 127;
	for (int i = 0; i < 8; i++)
		hdr[2 + i] = (uint8_t)((uint64_t)payload_len >> (56 - 8 * i));
	return 10;
}
