/* The socket.io channel of /api/v1/events (Engine.IO 4, socket.io 5):
 * long-polling and WebSocket transports, authenticated by the CONNECT
 * packet's {token}. Internal to src/api; see docs/EVENTS.md. */
#ifndef HOODY_API_SOCKETIO_H
#define HOODY_API_SOCKETIO_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/http.h"

/* Whether a request belongs to the channel: /api/v1/events[/] with EIO=. Such
 * requests bypass the router and the Authorization header (a socket.io
 * client authenticates in its CONNECT packet). */
bool api_sio_request(struct req *r);
/* Answers one Engine.IO request. body is the raw POST body. */
void api_sio_handle(struct req *r, const char *body, size_t body_len, struct resp *out);
/* The MHD upgrade callback of a WebSocket answer (resp.upgrade_cls). */
void api_sio_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
		      size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh);
/* New events were committed: deliver them. Cheap; any thread. */
void api_sio_wake(void);
/* Ends every session (before the HTTP server stops). */
void api_sio_stop(void);

#endif
