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
 *
 * Everything here faces an unauthenticated peer: messages are at most 256
 * bytes, the caller's deadline bounds the whole handshake (and the
 * client's connect), a nonce under 20 bytes is refused unanswered, and a
 * digest OpenSSL cannot compute fails the handshake (MP_EAUTH).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
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
	pid_t owner; /* the process that created it: the one that unlinks */
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

/* address into a: 0, or -EINVAL / -ENAMETOOLONG with a reason. */
static int parse_address(const char *address, struct addr *a)
{
	const char *colon = strrchr(address, ':');
	char host[256];

	memset(a, 0, sizeof(*a));
	if (*address == '\0')
		return mp__why(-EINVAL, "empty address");
	if (strchr(address, '/') == NULL && colon != NULL && colon[1] != '\0' &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_NUMERICSERV}, *res;
		size_t hlen = (size_t)(colon - address);
		unsigned long port = 0;
		int rc;

		/* getaddrinfo would wrap 99999 to 34463: 0..65535 only */
		for (const char *d = colon + 1; *d && port <= 65535; d++)
			port = port * 10 + (unsigned long)(*d - '0');
		if (port > 65535)
			return mp__why(-EINVAL, "port %s of '%s' is not in "
				       "0..65535", colon + 1, address);
		if (hlen >= sizeof(host))
			return mp__why(-EINVAL, "host name too long");
		memcpy(host, address, hlen);
		host[hlen] = '\0';
		if (hlen > 1 && host[0] == '[' && host[hlen - 1] == ']') {
			memmove(host, host + 1, hlen - 2);
			host[hlen - 2] = '\0';
		}
		rc = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, &res);
		if (rc != 0)
			return mp__why(-EINVAL, "cannot resolve '%s': %s",
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
		return mp__why(-ENAMETOOLONG, "socket path too long");
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

/*
 * Up to max bytes of a peer's message as clean text for an error message:
 * b'...' with printable ASCII as is and everything else as \xNN, "..."
 * when cut.  out must hold 4 * max + 8 bytes.
 */
static const char *printable(const void *p, size_t n, size_t max, char *out)
{
	const unsigned char *b = p;
	size_t i, o = 0;

	out[o++] = 'b';
	out[o++] = '\'';
	for (i = 0; i < n && i < max; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\' && b[i] != '\'')
			out[o++] = (char)b[i];
		else
			o += (size_t)sprintf(out + o, "\\x%02x", b[i]);
	}
	out[o++] = '\'';
	if (n > max) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/*
 * out = HMAC-<name>(key, msg) of exactly outlen bytes: 0, or -1 with the
 * reason (OpenSSL's: a provider without the digest, FIPS mode, ...) in why.
 * A digest that cannot be computed must never let anyone in.
 */
static int mac(const char *name, const void *key, size_t keylen,
	       const void *msg, size_t len, unsigned char *out, size_t outlen,
	       char *why, size_t whylen)
{
	static const unsigned char empty;
	const EVP_MD *md = strcmp(name, "MD5") == 0 ? EVP_md5() : EVP_sha256();
	unsigned got = 0;
	unsigned long e;

	if (keylen > INT_MAX) {
		snprintf(why, whylen, "authkey of %zu bytes is too long",
			 keylen);
		return -1;
	}
	ERR_clear_error();
	if (md != NULL && HMAC(md, keylen ? key : &empty, (int)keylen, msg, len,
			       out, &got) != NULL && got == outlen)
		return 0;
	if ((e = ERR_get_error()) != 0)
		ERR_error_string_n(e, why, whylen);
	else if (md != NULL && got != 0)
		snprintf(why, whylen, "%u bytes instead of %zu", got, outlen);
	else
		snprintf(why, whylen, "no reason given by OpenSSL");
	ERR_clear_error();
	OPENSSL_cleanse(out, outlen);
	return -1;
}

/*
 * Send a challenge and check the answer (CPython's deliver_challenge): a
 * 16-byte HMAC-MD5 (Python <= 3.11) or "{sha256}" + HMAC-SHA256 of the
 * challenge after "#CHALLENGE#".
 */
int mp__auth_deliver(mp_connection_t *c, const void *key, size_t keylen,
		     const struct mp__io *io)
{
	unsigned char msg[11 + 8 + 40], want[32];
	const char *name = NULL;
	const unsigned char *r;
	char why[256];
	size_t rlen;
	mp_bytes_t resp;
	bool ok = false;
	int rc, err = 0;

	memcpy(msg, CHALLENGE SHA256_TAG, 19);
	if (getrandom(msg + 19, 40, 0) != 40)
		return mp__why(-EIO, "getrandom: %s", mp_strerror(-errno));
	if ((rc = mp__conn_send(c, msg, sizeof(msg), io)) < 0)
		return rc;
	if ((rc = mp__conn_recv(c, 256, io, &resp)) < 0)
		return rc;
	r = (const unsigned char *)resp.data;
	rlen = resp.len;
	if (rlen == 16) {
		name = "MD5";
		err = mac(name, key, keylen, msg + 11, 48, want, 16, why,
			  sizeof(why));
		ok = err == 0 && CRYPTO_memcmp(r, want, 16) == 0;
	} else if (rlen == 8 + 32 && memcmp(r, SHA256_TAG, 8) == 0) {
		name = "SHA256";
		err = mac(name, key, keylen, msg + 11, 48, want, 32, why,
			  sizeof(why));
		ok = err == 0 && CRYPTO_memcmp(r + 8, want, 32) == 0;
	}
	OPENSSL_cleanse(want, sizeof(want));
	mp_bytes_destroy(&resp);
	rc = mp__conn_send(c, ok ? WELCOME : FAILURE, 9, io);
	if (err < 0) /* the reason, even when the send failed too */
		return mp__why(MP_EAUTH, "cannot compute HMAC-%s: %s", name,
			       why);
	if (!ok)
		return mp__why(MP_EAUTH, "digest received was wrong");
	return rc;
}

/*
 * Answer the peer's challenge (CPython's answer_challenge): a 20-byte
 * challenge gets the HMAC-MD5 of Python <= 3.11, "{sha256}" and at least 20
 * random bytes get "{sha256}" + HMAC-SHA256; anything else (a nonce under
 * 20 bytes included) is refused unanswered.
 */
int mp__auth_answer(mp_connection_t *c, const void *key, size_t keylen,
		    const struct mp__io *io)
{
	unsigned char out[8 + 32];
	char text[4 * 20 + 8], why[256];
	const char *name = "";
	size_t len, olen = 0;
	mp_bytes_t msg, res;
	const unsigned char *m;
	int rc, err = 0;

	if ((rc = mp__conn_recv(c, 256, io, &msg)) < 0)
		return rc;
	m = (const unsigned char *)msg.data;
	len = msg.len;
	if (len < 11 || memcmp(m, CHALLENGE, 11) != 0) {
		rc = mp__why(MP_EAUTH, "expected a challenge, got %s",
			     printable(m, len, 20, text));
		mp_bytes_destroy(&msg);
		return rc;
	}
	m += 11;
	len -= 11;
	if (len == 20) { /* Python <= 3.11 */
		name = "MD5";
		olen = 16;
		err = mac(name, key, keylen, m, len, out, olen, why,
			  sizeof(why));
	} else if (len >= 8 && memcmp(m, SHA256_TAG, 8) == 0 && len - 8 >= 20) {
		name = "SHA256";
		olen = 8 + 32;
		memcpy(out, SHA256_TAG, 8);
		err = mac(name, key, keylen, m, len, out + 8, 32, why,
			  sizeof(why));
	} else if (len < 20 || memcmp(m, SHA256_TAG, 8) == 0) {
		rc = mp__why(MP_EAUTH, "challenge too short: %zu bytes", len);
	} else {
		rc = mp__why(MP_EAUTH, "unsupported challenge (not {sha256}, "
			     "nor the 20 bytes of Python <= 3.11): %s",
			     printable(m, len, 20, text));
	}
	if (err < 0)
		rc = mp__why(MP_EAUTH, "cannot compute HMAC-%s: %s", name, why);
	mp_bytes_destroy(&msg);
	if (rc < 0)
		return rc;
	rc = mp__conn_send(c, out, olen, io);
	OPENSSL_cleanse(out, sizeof(out));
	if (rc < 0)
		return rc;
	if ((rc = mp__conn_recv(c, 256, io, &res)) < 0)
		return rc;
	rc = res.len == 9 && memcmp(res.data, WELCOME, 9) == 0
		     ? 0
		     : mp__why(MP_EAUTH, "digest sent was rejected");
	mp_bytes_destroy(&res);
	return rc;
}

/* ---- Listener ---- */

/* What the listener and the client check alike: the key's length, then the
 * address (parsed into *a).  0, or -EINVAL with a reason. */
static int check_endpoint(const char *address, const mp_auth_opts_t *opts,
			  struct addr *a)
{
	if (opts && opts->authkey && opts->authkey_len > INT_MAX)
		return mp__why(-EINVAL, "authkey_len %zu is too long",
			       opts->authkey_len);
	return parse_address(address, a);
}

mp_listener_t *mp_listener_new(const char *address, const mp_auth_opts_t *opts)
{
	mode_t mode = opts && opts->socket_mode ? opts->socket_mode : 0600;
	struct addr a;
	mp_listener_t *l;
	int one = 1, rc;

	MP__CHECK_NULL_P(address);
	if (mode & ~(mode_t)0777) {
		MP__ERR(-EINVAL, "socket_mode %o is not a permission mode",
			(unsigned)mode);
		return NULL;
	}
	if ((rc = check_endpoint(address, opts, &a)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	if ((l = mp__calloc(1, sizeof(*l))) == NULL) {
		MP__ERR(-ENOMEM, "out of memory");
		return NULL;
	}
	/* nonblocking: a connection reset between poll and accept4 must not
	 * make accept4 wait past the caller's deadline */
	l->fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0) {
		MP__SYSERR("socket");
		mp__free(l);
		return NULL;
	}
	if (a.family != AF_UNIX &&
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		MP__SYSERR("setsockopt(SO_REUSEADDR)");
		goto fail;
	}
	/* Linux gives a socket file the mode of the socket's inode (less the
	 * umask): set it before bind, so the file is never wider. */
	if (a.family == AF_UNIX && address[0] != '@' &&
	    fchmod(l->fd, mode) < 0) {
		MP__SYSERR("fchmod");
		goto fail;
	}
	if (bind(l->fd, (struct sockaddr *)&a.ss, a.len) < 0 ||
	    listen(l->fd, opts && opts->backlog > 0 ? opts->backlog : 1) < 0) {
		MP__ERR(-errno, "cannot listen on %s: %s", address,
			mp_strerror(-errno));
		goto fail;
	}
	if (a.family == AF_UNIX) {
		snprintf(l->address, sizeof(l->address), "%s", address);
		if (address[0] != '@') {
			memcpy(&l->un, &a.ss, sizeof(l->un));
			l->unlink_path = true;
			l->owner = getpid();
		}
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char ip[INET6_ADDRSTRLEN] = "?";
		int port = 0;

		if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0) {
			MP__SYSERR("getsockname");
			goto fail;
		}
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
		if ((l->key = mp__malloc(l->keylen)) == NULL) {
			mp_listener_free(l);
			MP__ERR(-ENOMEM, "out of memory");
			return NULL;
		}
		memcpy(l->key, opts->authkey, l->keylen);
	}
	return l;
fail: /* the socket made, nothing else: the message is set */
	close(l->fd);
	mp__free(l);
	return NULL;
}

const char *mp_listener_address(const mp_listener_t *l)
{
	MP__CHECK_NULL_P(l);
	return l->address;
}

int mp__listener_fd(const mp_listener_t *l)
{
	return l->fd;
}

bool mp__listener_key(const mp_listener_t *l, const void **key, size_t *len)
{
	*key = l->key;
	*len = l->keylen;
	return l->auth;
}

int mp__listener_move_fd(mp_listener_t *l, int to)
{
	if (l->fd == to)
		return 0;
	if (dup2(l->fd, to) < 0)
		return -errno;
	close(l->fd);
	l->fd = to;
	return 0;
}

void mp__listener_drop_fd(mp_listener_t *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/*
 * Stop listening and remove the socket file (once, and only in the process
 * that created it: CPython's unlink is a Finalize, which ignores other
 * processes, so a forked child's close leaves its parent's file alone).
 */
static void listener_close(mp_listener_t *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->unlink_path && l->owner == getpid())
		unlink(l->un.sun_path);
	l->unlink_path = false;
}

int mp_listener_close(mp_listener_t *l)
{
	MP__CHECK_NULL(l);
	listener_close(l);
	return 0;
}

/* CPython's handshake from either side, within io's deadline. */
static int authenticate(mp_connection_t *c, const void *key, size_t keylen,
			bool server, const struct mp__io *io)
{
	int rc;

	if (server) {
		if ((rc = mp__auth_deliver(c, key, keylen, io)) < 0)
			return rc;
		return mp__auth_answer(c, key, keylen, io);
	}
	if ((rc = mp__auth_answer(c, key, keylen, io)) < 0)
		return rc;
	return mp__auth_deliver(c, key, keylen, io);
}

int mp_listener_accept(mp_listener_t *l, double timeout,
		       mp_connection_t **conn)
{
	struct pollfd pfd;
	struct timespec ts;
	struct mp__io io;
	mp_connection_t *c;
	int fd, rc;

	MP__CHECK_NULL(l);
	MP__CHECK_NULL(conn);
	*conn = NULL;
	if (l->fd < 0)
		return MP__ERR(MP_ECLOSED, "listener is closed");
	io = (struct mp__io){0, timeout};
	if ((rc = mp__deadline(timeout, &io.deadline)) < 0)
		return MP__RAISE(rc);
	pfd = (struct pollfd){l->fd, POLLIN, 0};
	for (;;) {
		rc = ppoll(&pfd, 1, mp__remaining(io.deadline, &ts), NULL);
		if (rc == 0)
			return MP__ERR(-ETIMEDOUT, "no connection within %gs", timeout);
		if (rc < 0 && errno != EINTR)
			return MP__SYSERR("poll");
		if (rc > 0 && (fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			break;
		if (rc > 0 && errno != EINTR && errno != EAGAIN &&
		    errno != ECONNABORTED)
			return MP__SYSERR("accept4");
	}
	if ((rc = mp__conn_new(fd, true, true, &c)) < 0) {
		close(fd);
		return MP__RAISE(rc);
	}
	/* the same deadline bounds the handshake */
	if (l->auth &&
	    (rc = authenticate(c, l->key, l->keylen, true, &io)) < 0) {
		mp_connection_free(c);
		return MP__RAISE(rc);
	}
	*conn = c;
	return 0;
}

void mp_listener_free(mp_listener_t *l)
{
	if (l == NULL)
		return;
	listener_close(l);
	if (l->key != NULL)
		OPENSSL_cleanse(l->key, l->keylen);
	mp__free(l->key);
	mp__free(l);
}

/* ---- Client ---- */

/*
 * A Unix socket connects at once or waits for room in the listener's
 * backlog; the kernel bounds that wait by SO_SNDTIMEO (a nonblocking
 * connect would fail with EAGAIN and give nothing to poll).
 */
static int connect_unix(int fd, const struct addr *a, uint64_t deadline)
{
	struct timespec ts;
	struct timeval tv = {0, 0};
	int rc;

	for (;;) {
		if (deadline != MP__NO_DEADLINE) {
			mp__remaining(deadline, &ts);
			tv.tv_sec = ts.tv_sec;
			tv.tv_usec = ts.tv_nsec / 1000;
			if (tv.tv_sec == 0 && tv.tv_usec == 0)
				tv.tv_usec = 1; /* 0 would mean for ever */
			if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				       sizeof(tv)) < 0)
				return -errno;
		}
		rc = connect(fd, (const struct sockaddr *)&a->ss, a->len);
		if (rc == 0)
			break;
		if (errno != EINTR)
			return errno == EAGAIN && deadline != MP__NO_DEADLINE
				       ? -ETIMEDOUT : -errno;
	}
	tv = (struct timeval){0, 0};
	if (deadline != MP__NO_DEADLINE &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/* TCP: a nonblocking connect, polled until the deadline. */
static int connect_tcp(int fd, const struct addr *a, uint64_t deadline)
{
	struct pollfd pfd = {fd, POLLOUT, 0};
	struct timespec ts;
	socklen_t sl = sizeof(int);
	int flags, err = 0, rc;

	if ((flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
		if (errno != EINPROGRESS && errno != EINTR)
			return -errno;
		for (;;) {
			rc = ppoll(&pfd, 1, mp__remaining(deadline, &ts), NULL);
			if (rc == 0)
				return -ETIMEDOUT;
			if (rc > 0)
				break;
			if (errno != EINTR)
				return -errno;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			return -errno;
		if (err != 0)
			return -err;
	}
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	return 0;
}

mp_connection_t *mp_client(const char *address, const mp_auth_opts_t *opts,
			   double timeout)
{
	struct mp__io io = {0, timeout};
	struct addr a;
	mp_connection_t *c;
	int fd, rc;

	MP__CHECK_NULL_P(address);
	if ((rc = mp__deadline(timeout, &io.deadline)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	if ((rc = check_endpoint(address, opts, &a)) < 0) {
		MP__RAISE(rc);
		return NULL;
	}
	fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		MP__SYSERR("socket");
		return NULL;
	}
	rc = a.family == AF_UNIX ? connect_unix(fd, &a, io.deadline)
				 : connect_tcp(fd, &a, io.deadline);
	if (rc < 0) {
		if (rc == -ETIMEDOUT)
			MP__ERR(rc, "cannot connect to %s within %gs", address,
				timeout);
		else
			MP__ERR(rc, "cannot connect to %s: %s", address,
				mp_strerror(rc));
		close(fd);
		return NULL;
	}
	if ((rc = mp__conn_new(fd, true, true, &c)) < 0) {
		close(fd);
		MP__RAISE(rc);
		return NULL;
	}
	/* the same deadline bounds the handshake */
	if (opts != NULL && opts->authkey != NULL &&
	    (rc = authenticate(c, opts->authkey, opts->authkey_len, false,
			       &io)) < 0) {
		mp_connection_free(c);
		MP__RAISE(rc);
		return NULL;
	}
	return c;
}
