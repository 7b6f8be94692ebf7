/* amqp_conn.h - what the AMQP sink and the AMQP intake share: the URL, the password file, and opening one authenticated connection with TLS checks.
 *
 * Everything here is blocking (rabbitmq-c is) and meant for the one worker
 * thread that owns a connection; amqp_conn_setup() and amqp_conn_check()
 * also run on the loop thread at start-up.  `who` ("sink", "intake")
 * starts every log line, so the operator knows which connection speaks.
 */
#ifndef KVS_AMQP_CONN_H
#define KVS_AMQP_CONN_H

#include <amqp.h>
#include <stdbool.h>

/* Longest URL and password accepted. */
#define AMQP_CONN_MAX_URL 4096
#define AMQP_CONN_MAX_PASSWORD 1024

/* Where and how to connect: filled by amqp_conn_setup(), read-only after. */
struct amqp_conn_cfg {
	const char *who;
	char *host, *vhost, *user, *password, *ca_file;
	int port;
	bool tls, tls_verify;
	int heartbeat_s;
	long timeout_ms, connect_timeout_ms;
};

/* The checks of a URL and the keys beside it, for the configuration loader:
 * NULL when valid, else a message and in *option the key it is about
 * ("url", "password_file"). */
const char *amqp_conn_check(const char *url, const char *user, const char *password_file,
			    const char **option);
/* Fill c from the settings: the URL's host, port, scheme and vhost (vhost
 * when the URL names none, else "/"), user (or the URL's), the password
 * from password_file (checked like the API token file: a regular file, not
 * group- or world-writable; first line) or rabbitmq-c's default.  Returns 0
 * or a logged negative errno; amqp_conn_free() releases c either way. */
int amqp_conn_setup(struct amqp_conn_cfg *c, const char *who, const char *url, const char *vhost,
		    const char *user, const char *password_file, bool tls_verify,
		    const char *ca_file, int heartbeat_s, long timeout_ms, long connect_timeout_ms);
void amqp_conn_free(struct amqp_conn_cfg *c);

/* Connect (TLS with peer and host name checks unless tls_verify is off; the
 * CA bundle is ca_file, else OpenSSL's default), log in with the client
 * property connection_name = name, and open channel `channel`.  Returns 0
 * and *out, or a logged negative errno. */
int amqp_conn_open(const struct amqp_conn_cfg *c, const char *name, amqp_channel_t channel,
		   amqp_connection_state_t *out);

/* 0 when the RPC succeeded, else a logged negative errno (what: the RPC). */
int amqp_conn_reply(const struct amqp_conn_cfg *c, amqp_rpc_reply_t r, const char *what);
/* A rabbitmq-c status, and a broker reply code, as a negative errno. */
int amqp_conn_status_errno(int status);
int amqp_conn_code_errno(int reply_code);
/* b as a NUL-terminated string for logs (control characters as '?'). */
const char *amqp_conn_text(amqp_bytes_t b, char *buf, size_t len);
/* Wait until the connection has a frame, up to timeout_ms, or until
 * wake_fd (-1: none) is readable; a wake is drained.  Returns at once if
 * rabbitmq-c holds a frame already.  With conn NULL only wake_fd counts. */
void amqp_conn_wait(amqp_connection_state_t conn, int wake_fd, int timeout_ms);

#endif
