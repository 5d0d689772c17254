/* RFC 6455 framing for the socket.io channel: the handshake's accept key and
 * frame headers in and out. Pure functions over buffers; the socket work is
 * in socketio.c. Internal to src/api. */
#ifndef HOODY_API_WEBSOCKET_H
#define HOODY_API_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ws_opcode {
	WS_CONT = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xA,
};

#define WS_ACCEPT_LEN 28
#define WS_HEADER_MAX 10

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key; false when the key
 * is not 24 base64 characters (16 bytes). */
bool ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

struct ws_frame {
	bool fin;
	enum ws_opcode opcode;
	uint8_t *payload; /* inside the parsed buffer, unmasked in place */
	size_t len;
};

/* Parses one client frame at buf: > 0 bytes consumed (f filled), 0 when more
 * bytes are needed, -1 when the frame breaks the protocol (unmasked, reserved
 * bits, a control frame over 125 bytes or fragmented) or its payload exceeds
 * max_payload. */
ssize_t ws_frame_parse(uint8_t *buf, size_t len, size_t max_payload, struct ws_frame *f);

/* Writes the header of an unmasked server frame (fin set) into hdr and
 * returns its length. */
size_t ws_frame_header(uint8_t hdr[WS_HEADER_MAX], enum ws_opcode op, size_t payload_len);

#endif
