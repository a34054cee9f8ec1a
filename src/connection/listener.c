/*
 * connection/listener.c - Listener and Client over Unix, abstract and TCP
 * sockets, with CPython's authkey challenge (multiprocessing.connection):
 *
 *   server -> "#CHALLENGE#" + M     M = "{sha256}" + 40 random bytes
 *   client -> "{sha256}" + HMAC-SHA256(key, M)
 *             (Python <= 3.11 answers a raw 16-byte HMAC-MD5 of M instead,
 *              and sends a 20-byte M without a prefix: both are accepted)
 *   server -> "#WELCOME#" or "#FAILURE#"
 * then the same with the roles swapped.  HMACs come from OpenSSL's libcrypto.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "internal/alloc.h"
#include "connection/conn_int.h"
#include "internal/clock.h"
#include "internal/error.h"

#define CHALLENGE "#CHALLENGE#"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
#define SHA256_TAG "{sha256}"

struct mp_listener {
	int fd;
	bool unlink_path;
	struct sockaddr_un un;
	char address[128];
	void *key;
	size_t keylen;
	bool auth;
};

/* ---- addresses ---- */

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
};

static int parse_address(const char *address, struct addr *a, const char *func)
{
	const char *colon = strrchr(address, ':');
	char host[256];

	memset(a, 0, sizeof(*a));
	if (*address == '\0')
		return mpi_error(-EINVAL, func, "empty address");
	if (strchr(address, '/') == NULL && colon != NULL && colon[1] != '\0' &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_NUMERICSERV}, *res;
		size_t hlen = (size_t)(colon - address);
		int rc;

		if (hlen >= sizeof(host))
			return mpi_error(-EINVAL, func, "host name too long");
		memcpy(host, address, hlen);
		host[hlen] = '\0';
		if (hlen > 1 && host[0] == '[' && host[hlen - 1] == ']') {
			memmove(host, host + 1, hlen - 2);
			host[hlen - 2] = '\0';
		}
		rc = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, &res);
		if (rc != 0)
			return mpi_error(-EINVAL, func, "cannot resolve '%s': %s",
					 address, gai_strerror(rc));
		memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
		a->len = res->ai_addrlen;
		a->family = res->ai_family;
		freeaddrinfo(res);
		return 0;
	}
	struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
	size_t n = strlen(address);

	if (n >= sizeof(un->sun_path))
		return mpi_error(-ENAMETOOLONG, func, "socket path too long");
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, address, n);
	if (address[0] == '@') /* abstract: a leading NUL byte */
		un->sun_path[0] = '\0';
	a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			     (address[0] == '@' ? 0 : 1));
	a->family = AF_UNIX;
	return 0;
}

/* ---- the challenge ---- */

static void hmac(const char *digest, const void *key, size_t keylen,
		 const void *msg, size_t len, unsigned char *out,
		 unsigned *outlen)
{
	static const unsigned char empty;

	HMAC(strcmp(digest, "md5") == 0 ? EVP_md5() : EVP_sha256(),
	     keylen ? key : &empty, (int)keylen, msg, len, out, outlen);
}

/* Send a challenge and check the answer (deliver_challenge). */
static int deliver(mp_connection_t *c, const void *key, size_t keylen,
		   const char *func)
{
	unsigned char msg[11 + 8 + 40], want[8 + 64];
	unsigned wlen;
	void *resp = NULL;
	size_t rlen;
	bool ok;
	int rc;

	memcpy(msg, CHALLENGE SHA256_TAG, 19);
	if (getrandom(msg + 19, 40, 0) != 40)
		return mpi_error(-EIO, func, "getrandom failed");
	if ((rc = mpi_conn_send(c, msg, sizeof(msg), func)) < 0)
		return rc;
	if ((rc = mpi_conn_recv(c, &resp, &rlen, 256, func)) < 0)
		return rc;
	if (rlen == 16) { /* Python <= 3.11: HMAC-MD5, no prefix */
		hmac("md5", key, keylen, msg + 11, 48, want, &wlen);
		ok = CRYPTO_memcmp(resp, want, 16) == 0;
	} else {
		memcpy(want, SHA256_TAG, 8);
		hmac("sha256", key, keylen, msg + 11, 48, want + 8, &wlen);
		ok = rlen == 8 + wlen && CRYPTO_memcmp(resp, want, rlen) == 0;
	}
	mpi_free(resp);
	rc = mpi_conn_send(c, ok ? WELCOME : FAILURE, 9, func);
	if (!ok)
		return mpi_error(MP_EAUTH, func, "digest received was wrong");
	return rc;
}

/* Answer the peer's challenge (answer_challenge). */
static int answer(mp_connection_t *c, const void *key, size_t keylen,
		  const char *func)
{
	unsigned char out[8 + 64];
	unsigned olen;
	void *msg = NULL, *res = NULL;
	size_t len, rlen;
	int rc;

	if ((rc = mpi_conn_recv(c, &msg, &len, 256, func)) < 0)
		return rc;
	if (len < 11 || memcmp(msg, CHALLENGE, 11) != 0) {
		mpi_free(msg);
		return mpi_error(MP_EAUTH, func, "message = %.20s...: not a "
				 "challenge", (char *)msg);
	}
	if (len > 19 && memcmp((char *)msg + 11, SHA256_TAG, 8) == 0) {
		memcpy(out, SHA256_TAG, 8);
		hmac("sha256", key, keylen, (char *)msg + 11, len - 11, out + 8,
		     &olen);
		olen += 8;
	} else { /* Python <= 3.11 */
		hmac("md5", key, keylen, (char *)msg + 11, len - 11, out, &olen);
	}
	mpi_free(msg);
	if ((rc = mpi_conn_send(c, out, olen, func)) < 0)
		return rc;
	if ((rc = mpi_conn_recv(c, &res, &rlen, 256, func)) < 0)
		return rc;
	rc = rlen == 9 && memcmp(res, WELCOME, 9) == 0
		     ? 0
		     : mpi_error(MP_EAUTH, func, "digest sent was rejected");
	mpi_free(res);
	return rc;
}

/* ---- Listener ---- */

mp_listener_t *mp_listener_new(const char *address, const mp_auth_opts *opts)
{
	struct addr a;
	mp_listener_t *l;
	int one = 1;

	MPI_CHECK_NULL_P(address);
	if (parse_address(address, &a, __func__) < 0)
		return NULL;
	if ((l = mpi_calloc(1, sizeof(*l))) == NULL) {
		MPI_ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	l->fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		MPI_SYSERR("socket");
		mpi_free(l);
		return NULL;
	}
	if (a.family != AF_UNIX)
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&a.ss, a.len) < 0 ||
	    listen(l->fd, opts && opts->backlog > 0 ? opts->backlog : 1) < 0) {
		MPI_ERR(-errno, "cannot listen on %s: %s", address,
			mp_strerror(-errno));
		close(l->fd);
		mpi_free(l);
		return NULL;
	}
	if (a.family == AF_UNIX) {
		snprintf(l->address, sizeof(l->address), "%s", address);
		if (address[0] != '@') {
			memcpy(&l->un, &a.ss, sizeof(l->un));
			l->unlink_path = true;
		}
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char ip[INET6_ADDRSTRLEN] = "?";
		int port = 0;

		getsockname(l->fd, (struct sockaddr *)&ss, &sl);
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
			port = ntohs(in->sin_port);
			snprintf(l->address, sizeof(l->address), "%s:%d", ip, port);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
			port = ntohs(in6->sin6_port);
			snprintf(l->address, sizeof(l->address), "[%s]:%d", ip, port);
		}
	}
	if (opts != NULL && opts->authkey != NULL) {
		l->auth = true;
		l->keylen = opts->authkey_len;
		if ((l->key = mpi_malloc(l->keylen ? l->keylen : 1)) == NULL) {
			mp_listener_free(l);
			MPI_ERR(-ENOMEM, "out of memory");
			return NULL;
		}
		memcpy(l->key, opts->authkey, l->keylen);
	}
	return l;
}

const char *mp_listener_address(const mp_listener_t *l)
{
	return l ? l->address : NULL;
}

int mp_listener_accept(mp_listener_t *l, mp_connection_t **conn,
		       double timeout)
{
	struct pollfd pfd;
	struct timespec ts;
	uint64_t deadline;
	mp_connection_t *c;
	int fd, rc;

	MPI_CHECK_NULL(l);
	MPI_CHECK_NULL(conn);
	*conn = NULL;
	if (l->fd < 0)
		return MPI_ERR(MP_ECLOSED, "listener is closed");
	if ((rc = mpi_deadline(timeout, __func__, &deadline)) < 0)
		return rc;
	pfd = (struct pollfd){l->fd, POLLIN, 0};
	for (;;) {
		rc = ppoll(&pfd, 1, mpi_remaining(deadline, &ts), NULL);
		if (rc == 0)
			return MPI_ERR(-ETIMEDOUT, "no connection within %gs", timeout);
		if (rc < 0 && errno != EINTR)
			return MPI_SYSERR("poll");
		if (rc > 0 && (fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			break;
		if (rc > 0 && errno != EINTR && errno != EAGAIN &&
		    errno != ECONNABORTED)
			return MPI_SYSERR("accept4");
	}
	if ((c = mp_connection_new(fd, true, true)) == NULL) {
		close(fd);
		return mp_last_error_code();
	}
	if (l->auth && ((rc = deliver(c, l->key, l->keylen, __func__)) < 0 ||
			(rc = answer(c, l->key, l->keylen, __func__)) < 0)) {
		mp_connection_free(c);
		return rc;
	}
	*conn = c;
	return 0;
}

void mp_listener_free(mp_listener_t *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0)
		close(l->fd);
	if (l->unlink_path)
		unlink(l->un.sun_path);
	mpi_free(l->key);
	mpi_free(l);
}

/* ---- Client ---- */

mp_connection_t *mp_client(const char *address, const mp_auth_opts *opts)
{
	struct addr a;
	mp_connection_t *c;
	int fd, rc;

	MPI_CHECK_NULL_P(address);
	if (parse_address(address, &a, __func__) < 0)
		return NULL;
	fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		MPI_SYSERR("socket");
		return NULL;
	}
	while ((rc = connect(fd, (struct sockaddr *)&a.ss, a.len)) < 0 &&
	       errno == EINTR)
		;
	if (rc < 0) {
		MPI_ERR(-errno, "cannot connect to %s: %s", address,
			mp_strerror(-errno));
		close(fd);
		return NULL;
	}
	if ((c = mp_connection_new(fd, true, true)) == NULL) {
		close(fd);
		return NULL;
	}
	if (opts != NULL && opts->authkey != NULL &&
	    ((rc = answer(c, opts->authkey, opts->authkey_len, __func__)) < 0 ||
	     (rc = deliver(c, opts->authkey, opts->authkey_len, __func__)) < 0)) {
		mp_connection_free(c);
		return NULL;
	}
	return c;
}
