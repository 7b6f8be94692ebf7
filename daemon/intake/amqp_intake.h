/* amqp_intake.h - intake of requests from a durable RabbitMQ queue (AMQP 0-9-1), shared by several daemons as competing consumers.
 *
 * One worker thread owns the connection (rabbitmq-c is blocking).  At each
 * connect it declares the dead-letter exchange (fanout, durable), the
 * dead-letter queue bound to it, and the request queue (durable, with
 * x-dead-letter-exchange naming that exchange), sets the prefetch window
 * (basic.qos) and consumes with manual acks.  Each message is handed to the
 * loop thread (the callback); the daemon settles it exactly once with
 * amqp_intake_settle():
 *   AMQP_INTAKE_ACK      the verdict is durable in the outbox: basic.ack.
 *   AMQP_INTAKE_REJECT   the message is invalid: a copy with the error in
 *                        the header x-kvscreen-error is published to the
 *                        dead-letter exchange (publisher confirms), and once
 *                        the broker confirmed it the original is acked; if
 *                        the broker refuses the copy (basic.nack) the
 *                        original is rejected (requeue false), so the broker
 *                        dead-letters it itself, without the header.
 *   AMQP_INTAKE_REQUEUE  a transient failure (outbox full, disk low, every
 *                        screening worker stuck): basic.nack with requeue,
 *                        after holding the message for a second so that it
 *                        does not come straight back (at once while the
 *                        intake closes).
 * A message larger than limits.max_request_bytes is rejected by the worker
 * without being read into memory.  A lost connection (missed heartbeat,
 * closed by the broker, network) is reopened with exponential backoff;
 * the broker requeues what was not acked, so a settle that arrives for a
 * message of an earlier connection is dropped (that message comes again,
 * and the idempotent verdict store answers it).  At least once, like the
 * sink: a request whose verdict was stored but whose ack was lost is acked
 * on redelivery without being screened again.
 *
 * All functions run on the loop thread.
 */
#ifndef KVS_AMQP_INTAKE_H
#define KVS_AMQP_INTAKE_H

#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "kvscreen/plugin.h"

/* The `intake { amqp { ... } }` group (amqp_intake_options[]); strings are
 * owned by the configuration.  The intake is off while url is empty. */
struct cfg_intake_amqp {
	const char *url;                 /* amqp[s]://[user@]host[:port][/vhost] */
	const char *vhost;               /* when the URL names none */
	const char *user;                /* instead of the URL's */
	const char *password_file;       /* first line: the password */
	const char *queue;               /* requests are consumed from here */
	const char *dead_letter_exchange;
	const char *dead_letter_queue;   /* bound to the dead-letter exchange */
	long long prefetch;              /* basic.qos: unacked messages at once */
	long long heartbeat_s;
	long long timeout_ms;            /* one RPC, one confirmation */
	long long connect_timeout_ms;
	long long backoff_min_ms;        /* first reconnect delay; doubles */
	long long backoff_max_ms;
	int tls_verify;
	const char *ca_file;
};

extern const struct kvs_option amqp_intake_options[];
/* Checks across keys; NULL when valid, else a message and in *option the
 * key it is about (for file:line). */
const char *amqp_intake_cfg_check(const struct cfg_intake_amqp *c, const char **option);

struct amqp_intake;
struct amqp_intake_msg;

enum amqp_intake_outcome { AMQP_INTAKE_ACK, AMQP_INTAKE_REJECT, AMQP_INTAKE_REQUEUE };

/* One message for the daemon: message_id is the AMQP property (NULL when
 * absent), body its len bytes (NUL-terminated). */
typedef void (*amqp_intake_cb)(void *data, struct amqp_intake_msg *m, const char *message_id,
			       const char *body, size_t len);

/* Read the password file and start the worker (which connects on its own).
 * max_bytes bounds a message body.  Returns 0 or a negative errno. */
int amqp_intake_open(uv_loop_t *loop, const struct cfg_intake_amqp *cfg, size_t max_bytes,
		     amqp_intake_cb cb, void *data, struct amqp_intake **out);
/* Settle m (see above); error is the x-kvscreen-error text of a reject
 * (copied).  m is gone afterwards. */
void amqp_intake_settle(struct amqp_intake_msg *m, enum amqp_intake_outcome o,
			const char *error);
/* Messages handed to the daemon and not yet settled. */
unsigned amqp_intake_inflight(const struct amqp_intake *in);
/* Prometheus lines: kvscreend_amqp_intake_{consumed,acked,rejected,
 * requeued,connects}_total and kvscreend_amqp_intake_connected. */
void amqp_intake_metrics(struct amqp_intake *in, FILE *out);
/* Stop: messages that arrive from now on are requeued, those in flight
 * are waited for (settle them as usual), the connection is closed, and cb
 * runs once on the loop thread after everything is freed. */
void amqp_intake_close(struct amqp_intake *in, void (*cb)(void *data), void *data);

#endif
