/* sink.h - delivery of outbox messages to a queue, one backend per kind.
 *
 * A sink reads the outbox's log in order through the consumer API
 * (outbox_consumer_list/read/ack) and delivers each message at least once,
 * with bounded concurrency, exponential backoff with jitter, and an
 * idempotency key in every message.  The durable delivery cursor moves past
 * a message only after the receiver confirmed it and every message before
 * it: what is after the cursor after a crash or a restart is delivered
 * again.
 *
 * The idempotency key of a message is "SEQ.ID" (SEQ its 20-digit sequence
 * number, as the file names of outbox/new/ had it): the Idempotency-Key
 * header of a webhook and the message_id of a RabbitMQ message.  Consumers
 * deduplicate on it.
 *
 * Threads: every function here runs on the loop thread.  The outbox lists,
 * reads and writes the cursor on libuv's thread pool; the HTTP
 * backend drives libcurl's multi interface from the loop (sink_http.c).
 * The process must have called curl_global_init() before any thread
 * started (i.e. first thing in main()).
 *
 * Backends share struct sink_backend (sink_http.c implements "webhook" and
 * "rabbitmq", sink_amqp.c "amqp"); sink.c owns the entries, their order
 * and their retries.
 */
#ifndef KVS_SINK_H
#define KVS_SINK_H

#include <stddef.h>
#include <uv.h>

#include "kvscreen/plugin.h"

struct sink;

/* Options of the `sink { ... }` group of the configuration, laid out for
 * sink_options[] (parsed by cfg_parse_options()).  Strings are owned by the
 * configuration; sink_open() copies what it keeps. */
struct cfg_sink {
	const char *kind;          /* "none" | "webhook" | "rabbitmq" | "amqp" */
	const char *url;           /* webhook: the URL to POST to; rabbitmq:
	                            * base URL of the management API, e.g.
	                            * "http://127.0.0.1:15672" */
	const char *vhost;         /* rabbitmq: virtual host, "/" by default */
	const char *exchange;      /* rabbitmq: exchange to publish to */
	const char *routing_key;   /* rabbitmq: routing key of every message */
	const char *user;          /* basic auth user ("" = none) */
	const char *password_file; /* basic auth password: first line of this
	                            * file (NULL = none; resolved against the
	                            * config's folder) */
	long long timeout_ms;      /* whole delivery, connect included */
	long long connect_timeout_ms;
	long long max_inflight;    /* deliveries at once */
	long long backoff_min_ms;  /* first retry delay */
	long long backoff_max_ms;  /* cap of the retry delay */
	long long rescan_ms;       /* periodic rescan of the outbox */
	long long log_interval_ms; /* during an outage, one summary line per
	                            * interval (the first failure at once) */
	int tls_verify;            /* verify peer and host name (default 1) */
	const char *ca_file;       /* CA bundle, NULL = system default */
	/* amqp (sink_amqp.c): url is "amqp[s]://[user@]host[:port][/vhost]";
	 * vhost, exchange, routing_key, user and password_file as above. */
	long long heartbeat_s;     /* amqp: heartbeat interval, 0 = none */
};

/* Option table of the sink group, terminated by a NULL name. */
extern const struct kvs_option sink_options[];

/* Checks that span options (kind known, url present and http(s), backoff
 * bounds ordered, rabbitmq's exchange).  Returns NULL when the group is
 * valid, else a message and in *option the key it is about, so that the
 * loader can report file:line of that setting. */
const char *sink_cfg_check(const struct cfg_sink *cfg, const char **option);

struct sink_stats {
	unsigned long long delivered; /* entries confirmed and retired */
	unsigned long long failures;  /* failed delivery attempts */
	unsigned long long inflight;  /* entries being read or sent now */
	unsigned long long pending;   /* entries known and waiting */
	unsigned long long attempts;  /* delivery attempts started */
	double oldest_age;            /* seconds since the oldest undelivered
	                               * entry was written; 0 when none */
	unsigned long long outages;   /* times delivery stopped working */
	int failing;                  /* 1 while deliveries fail, until one
	                               * succeeds again */
};

/* Open a sink that delivers the messages of the outbox `ob`, from its
 * cursor on (`ob` must outlive every call into the sink but sink_close,
 * and may be NULL with kind "none").  Reads cfg->password_file
 * synchronously (a small local file; call at start-up or reload).  With
 * kind "none" the sink exists but never delivers.  The first listing
 * starts at once.  Returns 0 or a negative errno. */
struct outbox;
int sink_open(uv_loop_t *loop, const struct cfg_sink *cfg, struct outbox *ob,
	      struct sink **out);
/* Call cb(data, n) on the loop thread whenever the receiver confirmed n
 * messages (e.g. outbox_retired() for the depth in /metrics); NULL
 * disables. */
void sink_set_retired_cb(struct sink *s, void (*cb)(void *data, size_t n), void *data);
/* Wake the sink: new messages are in the outbox.  Cheap; coalesced (e.g.
 * from the outbox_set_notify() callback). */
void sink_kick(struct sink *s);
void sink_stats(const struct sink *s, struct sink_stats *out);
/* Stop delivering: deliveries in flight are aborted (their messages stay
 * after the cursor and are delivered after the next start), thread-pool
 * work is waited for, and then cb
 * runs once on the loop thread (never from inside sink_close).  The sink
 * is freed before cb runs. */
void sink_close(struct sink *s, void (*cb)(void *data), void *data);

/* ---- Backend interface (sink.c <-> sink_http.c) ---- */

/* One delivery attempt, owned by sink.c; borrowed by the backend from
 * send() until it calls sink_delivered(). */
struct sink_delivery {
	struct sink *sink;
	const char *key;  /* idempotency key, see above */
	const char *body; /* the entry's bytes (verdict JSON) */
	size_t len;
	char error[160];  /* set by the backend before a failed
	                   * sink_delivered(): what went wrong, for the log
	                   * ("HTTP 500", "Connection refused" ...) */
};

struct sink_backend {
	const char *kind;
	/* Prepare the backend; *state is handed to the other functions. */
	int (*open)(uv_loop_t *loop, const struct cfg_sink *cfg, void **state);
	/* Start delivering d.  On 0 the backend calls sink_delivered(d, st)
	 * exactly once, later, on the loop thread; on an error it never does.
	 * st is 0 when the receiver confirmed the message, -EBADMSG when the
	 * receiver refused this message in particular (it is retried later
	 * while the others go on), and any other negative errno when the
	 * receiver failed (all deliveries slow down to one probe at a time). */
	int (*send)(void *state, struct sink_delivery *d);
	/* Abort every delivery in flight without calling sink_delivered(),
	 * release everything, and call cb once every handle is closed. */
	void (*close)(void *state, void (*cb)(void *data), void *data);
};

extern const struct sink_backend sink_http_webhook;
extern const struct sink_backend sink_http_rabbitmq;
extern const struct sink_backend sink_amqp;

/* Checks the options of kind "amqp" that sink_cfg_check() leaves to the
 * backend (the URL's form); same contract as sink_cfg_check(). */
const char *sink_amqp_check(const struct cfg_sink *cfg, const char **option);

/* Report the outcome of a delivery started with backend->send(). */
void sink_delivered(struct sink_delivery *d, int status);

#endif
