/* Bytes a WebSocket client sends the socket.io channel: frames parsed back
 * to back as socketio.c does, and the handshake key. A parse never reads or
 * claims more than it was given. */
#include <stdlib.h>
#include <string.h>

#include "api/websocket.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	size_t off = 0;
	struct ws_frame f;
	ssize_t n;
	while (off < size && (n = ws_frame_parse(buf + off, size - off, 65536, &f)) > 0) {
		if ((size_t)n > size - off || f.payload < buf + off ||
		    f.payload + f.len > buf + off + n)
			abort();
		off += (size_t)n;
	}
	char *key = strndup((const char *)data, size < 64 ? size : 64);
	char accept[WS_ACCEPT_LEN + 1];
	if (ws_accept_key(key, accept) && strlen(accept) != WS_ACCEPT_LEN)
		abort();
	free(key);
	free(buf);
	return 0;
}
