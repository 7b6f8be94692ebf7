/* amqp_conn.c - one authenticated AMQP 0-9-1 connection (URL, password file, TLS), shared by the AMQP sink and intake. */
#include "config.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amqp_conn.h"
#include "log.h"

#define AMQP_CONN_FRAME_MAX 131072

const char *amqp_conn_text(amqp_bytes_t b, char *buf, size_t len)
{
	size_t n = b.len < len - 1 ? b.len : len - 1;

	memcpy(buf, b.bytes ? b.bytes : "", n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return buf;
}

int amqp_conn_status_errno(int st)
{
	switch (st) {
	case AMQP_STATUS_NO_MEMORY:
		return -ENOMEM;
	case AMQP_STATUS_TIMEOUT:
	case AMQP_STATUS_HEARTBEAT_TIMEOUT:
		return -ETIMEDOUT;
	case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
		return -EHOSTUNREACH;
	case AMQP_STATUS_CONNECTION_CLOSED:
	case AMQP_STATUS_SOCKET_CLOSED:
		return -ECONNRESET;
	case AMQP_STATUS_SOCKET_ERROR:
		return -ECONNREFUSED;
	default:
		return -EPROTO;
	}
}

int amqp_conn_code_errno(int code)
{
	switch (code) {
	case AMQP_ACCESS_REFUSED:
	case AMQP_NOT_ALLOWED:
		return -EACCES;
	case AMQP_NOT_FOUND:
		return -ENOENT;
	case AMQP_CONNECTION_FORCED:
		return -ECONNRESET;
	case AMQP_RESOURCE_ERROR:
		return -ENOBUFS;
	case AMQP_PRECONDITION_FAILED:
		return -EEXIST;
	default:
		return -EPROTO;
	}
}

int amqp_conn_reply(const struct amqp_conn_cfg *c, amqp_rpc_reply_t r, const char *what)
{
	char text[256];

	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		log_info("%s: amqp %s:%d: %s: %s", c->who, c->host, c->port, what,
			 amqp_error_string2(r.library_error));
		return amqp_conn_status_errno(r.library_error);
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *m = r.reply.decoded;
			log_info("%s: amqp %s:%d: %s: the broker closed the connection: %u %s",
				 c->who, c->host, c->port, what, m->reply_code,
				 amqp_conn_text(m->reply_text, text, sizeof(text)));
			return amqp_conn_code_errno(m->reply_code);
		}
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *m = r.reply.decoded;
			log_info("%s: amqp %s:%d: %s: the broker closed the channel: %u %s",
				 c->who, c->host, c->port, what, m->reply_code,
				 amqp_conn_text(m->reply_text, text, sizeof(text)));
			return amqp_conn_code_errno(m->reply_code);
		}
		log_info("%s: amqp %s:%d: %s: unexpected method 0x%08x", c->who, c->host, c->port,
			 what, (unsigned)r.reply.id);
		return -EPROTO;
	default:
		log_info("%s: amqp %s:%d: %s: no reply", c->who, c->host, c->port, what);
		return -EPROTO;
	}
}

int amqp_conn_open(const struct amqp_conn_cfg *c, const char *name, amqp_channel_t channel,
		   amqp_connection_state_t *out)
{
	struct timeval ctv = { .tv_sec = c->connect_timeout_ms / 1000,
			       .tv_usec = (c->connect_timeout_ms % 1000) * 1000 };
	struct timeval rtv = { .tv_sec = c->timeout_ms / 1000,
			       .tv_usec = (c->timeout_ms % 1000) * 1000 };
	/* consumer_cancel_notify: the broker tells a consumer whose queue was
	 * deleted (basic.cancel) instead of going quiet. */
	amqp_table_entry_t cap = { .key = amqp_cstring_bytes("consumer_cancel_notify"),
				   .value = { .kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1 } };
	amqp_table_entry_t prop[2];
	amqp_table_t props = { .num_entries = 2, .entries = prop };
	amqp_connection_state_t conn;
	amqp_socket_t *sock;
	int st, r;

	conn = amqp_new_connection();
	if (!conn)
		return -ENOMEM;
	sock = c->tls ? amqp_ssl_socket_new(conn) : amqp_tcp_socket_new(conn);
	if (!sock) {
		r = -ENOMEM;
		goto fail;
	}
	if (c->tls) {
		/* rabbitmq-c trusts no CA by default: use OpenSSL's default
		 * bundle (SSL_CERT_FILE or the system's) unless ca_file is set. */
		const char *env = getenv(X509_get_default_cert_file_env());
		const char *ca = c->ca_file ? c->ca_file
					    : (env && *env ? env : X509_get_default_cert_file());

		amqp_ssl_socket_set_verify_peer(sock, c->tls_verify);
		amqp_ssl_socket_set_verify_hostname(sock, c->tls_verify);
		if (c->tls_verify || c->ca_file) {
			st = amqp_ssl_socket_set_cacert(sock, ca);
			if (st != AMQP_STATUS_OK) {
				log_err("%s: amqp: cannot load CA bundle %s: %s", c->who, ca,
					amqp_error_string2(st));
				r = -EPROTO;
				goto fail;
			}
		}
	}
	amqp_set_handshake_timeout(conn, &ctv);
	st = amqp_socket_open_noblock(sock, c->host, c->port, &ctv);
	if (st != AMQP_STATUS_OK) {
		log_info("%s: amqp: cannot connect to %s:%d: %s", c->who, c->host, c->port,
			 amqp_error_string2(st));
		r = amqp_conn_status_errno(st);
		goto fail;
	}
	amqp_set_rpc_timeout(conn, &rtv);
	/* The name operators see in the management UI and rabbitmqctl. */
	prop[0].key = amqp_cstring_bytes("connection_name");
	prop[0].value.kind = AMQP_FIELD_KIND_UTF8;
	prop[0].value.value.bytes = amqp_cstring_bytes(name);
	prop[1].key = amqp_cstring_bytes("capabilities");
	prop[1].value.kind = AMQP_FIELD_KIND_TABLE;
	prop[1].value.value.table = (amqp_table_t){ .num_entries = 1, .entries = &cap };
	r = amqp_conn_reply(c, amqp_login_with_properties(conn, c->vhost, 0, AMQP_CONN_FRAME_MAX,
							  c->heartbeat_s, &props,
							  AMQP_SASL_METHOD_PLAIN, c->user,
							  c->password),
			    "login");
	if (r < 0)
		goto fail;
	amqp_channel_open(conn, channel);
	r = amqp_conn_reply(c, amqp_get_rpc_reply(conn), "channel.open");
	if (r < 0)
		goto fail;
	*out = conn;
	return 0;
fail:
	amqp_destroy_connection(conn);
	return r;
}

void amqp_conn_wait(amqp_connection_state_t conn, int wake_fd, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = wake_fd, .events = POLLIN },
			       { .fd = -1, .events = POLLIN } };
	uint64_t v;

	if (conn) {
		if (amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn))
			return;
		p[1].fd = amqp_get_sockfd(conn);
	}
	if (poll(p, 2, timeout_ms) > 0 && (p[0].revents & POLLIN))
		while (read(wake_fd, &v, sizeof(v)) > 0)
			;
}

/* ---- Configuration ---- */

/* The password: first line of path, which must be a regular file that is
 * not group- or world-writable (the checks of the API token file). */
static int read_password(const char *who, const char *path, char **out)
{
	char buf[AMQP_CONN_MAX_PASSWORD + 1];
	struct stat sb;
	size_t got = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		log_err("%s: cannot read password_file %s: %s", who, path, strerror(-r));
		return r;
	}
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		log_err("%s: password_file %s: %s", who, path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = -EINVAL;
		log_err("%s: password_file %s: not a regular file", who, path);
		goto out;
	}
	if (sb.st_mode & 022) {
		r = -EPERM;
		log_err("%s: password_file %s is group- or world-writable (mode %04o); refusing it",
			who, path, (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			log_err("%s: cannot read password_file %s: %s", who, path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = strdup(buf);
	if (!*out)
		r = -ENOMEM;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return r;
}

/* The parts of an amqp[s]:// URL.  has_vhost tells whether it names a
 * vhost (a non-empty path); has_password whether it holds a password. */
struct url_parts {
	char *buf;                /* amqp_parse_url() points into it */
	struct amqp_connection_info ci;
	bool has_user, has_password, has_vhost;
};

static const char *url_parse(const char *url, struct url_parts *u)
{
	const char *rest, *at, *slash;

	memset(u, 0, sizeof(*u));
	if (!url || strlen(url) >= AMQP_CONN_MAX_URL || strpbrk(url, " \r\n\t"))
		return "an amqp:// or amqps:// URL without blanks is required";
	if (strncmp(url, "amqp://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "amqps://", 8) == 0)
		rest = url + 8;
	else
		return "an amqp:// or amqps:// URL is required (amqp://host:5672/vhost)";
	slash = strchr(rest, '/');
	at = strchr(rest, '@');
	if (at && (!slash || at < slash)) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		u->has_user = true;
		u->has_password = colon != NULL;
	}
	u->has_vhost = slash && slash[1] != '\0';
	u->buf = strdup(url);
	if (!u->buf)
		return "out of memory";
	amqp_default_connection_info(&u->ci);
	if (amqp_parse_url(u->buf, &u->ci) != AMQP_STATUS_OK || !*u->ci.host) {
		free(u->buf);
		u->buf = NULL;
		return "not a valid amqp:// URL (amqp://[user@]host[:port][/vhost], vhost \"/\" is %2f)";
	}
	return NULL;
}

const char *amqp_conn_check(const char *url, const char *user, const char *password_file,
			    const char **option)
{
	struct url_parts u;
	const char *why;

	*option = "url";
	why = url_parse(url, &u);
	if (why)
		return why;
	free(u.buf);
	if (u.has_password)
		return "the URL holds a password: put it in password_file instead";
	if (u.has_user && !(user && *user) && (!password_file || !*password_file)) {
		*option = "password_file";
		return "the URL names a user but password_file is not set";
	}
	*option = NULL;
	return NULL;
}

void amqp_conn_free(struct amqp_conn_cfg *c)
{
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	free(c->host);
	free(c->vhost);
	free(c->user);
	free(c->ca_file);
	memset(c, 0, sizeof(*c));
}

int amqp_conn_setup(struct amqp_conn_cfg *c, const char *who, const char *url, const char *vhost,
		    const char *user, const char *password_file, bool tls_verify,
		    const char *ca_file, int heartbeat_s, long timeout_ms, long connect_timeout_ms)
{
	struct url_parts u;
	const char *why, *opt;
	int r = -ENOMEM;

	memset(c, 0, sizeof(*c));
	c->who = who;
	why = amqp_conn_check(url, user, password_file, &opt);
	if (why) {
		log_err("%s: %s: %s", who, opt ? opt : "url", why);
		return -EINVAL;
	}
	if (url_parse(url, &u))
		return -ENOMEM;
	c->tls = u.ci.ssl;
	c->port = u.ci.port;
	c->tls_verify = tls_verify;
	c->heartbeat_s = heartbeat_s;
	c->timeout_ms = timeout_ms;
	c->connect_timeout_ms = connect_timeout_ms;
	c->host = strdup(u.ci.host);
	c->vhost = strdup(u.has_vhost ? u.ci.vhost : (vhost && *vhost ? vhost : "/"));
	c->user = strdup(user && *user ? user : u.ci.user);
	if (!c->host || !c->vhost || !c->user)
		goto out;
	if (ca_file && !(c->ca_file = strdup(ca_file)))
		goto out;
	if (password_file && *password_file)
		r = read_password(who, password_file, &c->password);
	else
		/* No user anywhere: rabbitmq-c's default guest/guest. */
		r = (c->password = strdup(u.ci.password)) ? 0 : -ENOMEM;
out:
	free(u.buf);
	return r;
}
