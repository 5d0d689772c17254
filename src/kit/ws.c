/* WebSocket (RFC 6455) server side: handshake and frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kit/kit.h"

#define WS_MSG_MAX (1 << 20)

static bool token_in(const char *list, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncasecmp(p, tok, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

bool ws_accept(struct req *r)
{
	const char *key = req_header(r, "Sec-WebSocket-Key");
	const char *up = req_header(r, "Upgrade");
	if (!key || !up || strcasecmp(up, "websocket") != 0 || strlen(key) > 64) {
		send_err(r, 400, "a WebSocket upgrade is required");
		return false;
	}
	char cat[128];
	snprintf(cat, sizeof(cat), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	unsigned char dig[20];
	sha1((unsigned char *)cat, strlen(cat), dig);
	char acc[32];
	base64_encode(dig, 20, acc);
	const char *proto = req_header(r, "Sec-WebSocket-Protocol");
	struct buf b = {0};
	buf_printf(
	    &b,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n",
	    acc);
	if (proto && token_in(proto, "tty"))
		buf_puts(&b, "Sec-WebSocket-Protocol: tty\r\n");
	buf_puts(&b, "\r\n");
	bool ok = write_all(r->fd, b.p, b.len);
	buf_free(&b);
	r->keepalive = false;
	r->responded = true;
	return ok;
}

static bool read_n(struct req *r, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t k = conn_read(r, c, n);
		if (k <= 0)
			return false;
		c += k;
		n -= (size_t)k;
	}
	return true;
}

int ws_recv(struct req *r, struct buf *msg)
{
	msg->len = 0;
	int op = -1;
	for (;;) {
		unsigned char h[2];
		if (!read_n(r, h, 2))
			return -1;
		int fin = h[0] & 0x80, opcode = h[0] & 0x0F;
		uint64_t len = h[1] & 0x7F;
		if (!(h[1] & 0x80))
			return -1; /* clients must mask */
		if (len == 126) {
			unsigned char e[2];
			if (!read_n(r, e, 2))
				return -1;
			len = (uint64_t)e[0] << 8 | e[1];
		} else if (len == 127) {
			unsigned char e[8];
			if (!read_n(r, e, 8))
				return -1;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | e[i];
		}
		unsigned char mask[4];
		if (len > WS_MSG_MAX || msg->len + len > WS_MSG_MAX || !read_n(r, mask, 4))
			return -1;
		char *data = xmalloc(len + 1);
		if (!read_n(r, data, len)) {
			free(data);
			return -1;
		}
		for (uint64_t i = 0; i < len; i++)
			data[i] ^= (char)mask[i & 3];
		if (opcode >= 8) {
			if (opcode == 9)
				ws_send(r->fd, 10, data, len);
			free(data);
			if (opcode == 8)
				return 8;
			continue;
		}
		if (opcode != 0)
			op = opcode;
		buf_put(msg, data, len);
		free(data);
		if (fin) {
			if (!msg->p)
				buf_puts(msg, "");
			return op;
		}
	}
}

bool ws_send2(int fd, int opcode, char first, const void *p, size_t n)
{
	unsigned char h[10];
	size_t hl = 2, total = n + (first ? 1 : 0);
	h[0] = (unsigned char)(0x80 | opcode);
	if (total < 126) {
		h[1] = (unsigned char)total;
	} else if (total < 65536) {
		h[1] = 126, h[2] = (unsigned char)(total >> 8), h[3] = (unsigned char)total;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)total >> (56 - 8 * i));
		hl = 10;
	}
	struct iovec iov[3] = {{h, hl}, {&first, first ? 1 : 0}, {(void *)p, n}};
	size_t left = hl + total;
	int idx = 0;
	while (left) {
		struct msghdr mh = {.msg_iov = iov + idx, .msg_iovlen = (size_t)(3 - idx)};
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		left -= (size_t)w;
		while (idx < 3 && (size_t)w >= iov[idx].iov_len) {
			w -= (ssize_t)iov[idx].iov_len;
			iov[idx].iov_len = 0;
			idx++;
		}
		if (idx < 3) {
			iov[idx].iov_base = (char *)iov[idx].iov_base + w;
			iov[idx].iov_len -= (size_t)w;
		}
	}
	return true;
}

bool ws_send(int fd, int opcode, const void *p, size_t n)
{
	return ws_send2(fd, opcode, 0, p, n);
}

void ws_close(int fd, int code)
{
	unsigned char c[2] = {(unsigned char)(code >> 8), (unsigned char)code};
	ws_send(fd, 8, c, 2);
}
