/* TLS (OpenSSL) and the socket I/O of both sides. The server context holds
 * the wildcard certificate; SIGHUP builds a new context from the files and
 * swaps it in: handshakes after the swap use the new certificate, open
 * connections keep the context they started with (SSL_new takes a
 * reference). SSL_MODE_RELEASE_BUFFERS drops OpenSSL's 34 KiB record buffers
 * of idle connections, which is what keeps 10,000 idle WebSockets small. */
#include <errno.h>
#include <openssl/err.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "proxy/internal.h"

static void ssl_error(struct error *err, const char *what, const char *path)
{
	char buf[256] = "unknown error";
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	err_set(err, E_VALIDATION, "%s %s: %s", what, path, buf);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *server_ctx_new(const struct proxy_server *srv, struct error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_error(err, "cannot create a TLS context for", srv->tls_cert);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, srv->tls_cert) != 1) {
		ssl_error(err, "cannot load the certificate", srv->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, srv->tls_key, SSL_FILETYPE_PEM) != 1) {
		ssl_error(err, "cannot load the private key", srv->tls_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, "the private key does not match the certificate", srv->tls_cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_load(struct proxy_server *srv, struct error *err)
{
	if (!srv->tls_client_ctx) {
		srv->tls_client_ctx = SSL_CTX_new(TLS_client_method());
		if (!srv->tls_client_ctx) {
			ssl_error(err, "cannot create a TLS client context", "");
			return -1;
		}
		/* https-{port} backends are the user's own programs behind the
		 * edge, typically with self-signed certificates. */
		SSL_CTX_set_verify(srv->tls_client_ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_mode(srv->tls_client_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
							  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
							  SSL_MODE_RELEASE_BUFFERS);
		SSL_CTX_set_options(srv->tls_client_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	}
	if (!srv->tls_cert || !srv->tls_key)
		return 0;
	SSL_CTX *ctx = server_ctx_new(srv, err);
	if (!ctx)
		return -1;
	pthread_mutex_lock(&srv->tls_lock);
	SSL_CTX *old = srv->tls_ctx;
	srv->tls_ctx = ctx;
	pthread_mutex_unlock(&srv->tls_lock);
	SSL_CTX_free(old);
	return 0;
}

SSL *tls_new(struct proxy_server *srv, int fd)
{
	pthread_mutex_lock(&srv->tls_lock);
	SSL *ssl = srv->tls_ctx ? SSL_new(srv->tls_ctx) : NULL;
	pthread_mutex_unlock(&srv->tls_lock);
	if (!ssl)
		return NULL;
	SSL_set_fd(ssl, fd);
	SSL_set_accept_state(ssl);
	return ssl;
}

SSL *tls_backend_new(struct proxy_server *srv, int fd, const char *sni)
{
	SSL *ssl = SSL_new(srv->tls_client_ctx);
	if (!ssl)
		return NULL;
	SSL_set_fd(ssl, fd);
	if (sni)
		SSL_set_tlsext_host_name(ssl, sni);
	SSL_set_connect_state(ssl);
	return ssl;
}

void tls_free_all(struct proxy_server *srv)
{
	SSL_CTX_free(srv->tls_ctx);
	SSL_CTX_free(srv->tls_client_ctx);
	srv->tls_ctx = srv->tls_client_ctx = NULL;
}

/* ------------------------------------------------------------ I/O */

struct side {
	int fd;
	SSL *ssl;
	bool *rd, *wr;
	bool hup;
};

static ssize_t ssl_result(struct side *s, int n)
{
	if (n > 0)
		return n;
	switch (SSL_get_error(s->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		*s->rd = false;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*s->wr = false;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		return -2;
	}
}

/* A short read empties an edge-triggered socket, so the next read would
 * only say EAGAIN; after a hangup, though, the EOF is still to be read. */
static ssize_t side_read(struct side *s, char *p, size_t n)
{
	if (s->ssl) {
		ERR_clear_error();
		return ssl_result(s, SSL_read(s->ssl, p, (int)n));
	}
	for (;;) {
		ssize_t r = read(s->fd, p, n);
		if (r > 0 && (size_t)r < n && !s->hup)
			*s->rd = false;
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*s->rd = false;
			return -1;
		}
		return -2;
	}
}

static ssize_t plain_send(struct side *s, struct iovec *iov, int iovcnt, size_t total)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
	for (;;) {
		ssize_t r = sendmsg(s->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r >= 0) {
			if ((size_t)r < total)
				*s->wr = false;
			return r;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*s->wr = false;
			return -1;
		}
		return -2;
	}
}

static ssize_t side_write(struct side *s, const char *p, size_t n)
{
	if (s->ssl) {
		ERR_clear_error();
		return ssl_result(s, SSL_write(s->ssl, p, (int)n));
	}
	struct iovec iov = {(void *)p, n};
	return plain_send(s, &iov, 1, n);
}

/* A head and the body bytes after it in one system call (plain sockets;
 * through TLS the head goes alone). */
static ssize_t side_write2(struct side *s, const char *a, size_t an, const char *b, size_t bn)
{
	if (s->ssl || bn == 0)
		return side_write(s, a, an);
	struct iovec iov[2] = {{(void *)a, an}, {(void *)b, bn}};
	return plain_send(s, iov, 2, an + bn);
}

static struct side client_side(struct conn *c)
{
	return (struct side){c->cfd, c->ssl, &c->c_rd, &c->c_wr, c->c_hup};
}

static struct side backend_side(struct conn *c)
{
	return (struct side){c->bfd, c->bssl, &c->b_rd, &c->b_wr, c->b_hup};
}

ssize_t cio_read(struct conn *c, char *p, size_t n)
{
	struct side s = client_side(c);
	return side_read(&s, p, n);
}

ssize_t cio_write(struct conn *c, const char *p, size_t n)
{
	struct side s = client_side(c);
	return side_write(&s, p, n);
}

ssize_t bio_read(struct conn *c, char *p, size_t n)
{
	struct side s = backend_side(c);
	return side_read(&s, p, n);
}

ssize_t bio_write(struct conn *c, const char *p, size_t n)
{
	struct side s = backend_side(c);
	return side_write(&s, p, n);
}

ssize_t io_write2(struct conn *c, bool backend, const char *a, size_t an, const char *b, size_t bn)
{
	struct side s = backend ? backend_side(c) : client_side(c);
	return side_write2(&s, a, an, b, bn);
}
