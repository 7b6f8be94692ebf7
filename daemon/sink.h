/* sink.h - delivery of outbox entries to a queue, one backend per kind.
 *
 * A sink scans outbox/new in name order and delivers each entry at least
 * once, with bounded concurrency, exponential backoff with jitter, and an
 * idempotency key (the entry's name) in every message.  An entry is removed
 * from outbox/new only after the receiver confirmed it.  Backends share the
 * vtable below (sink_http.c implements "webhook" and "rabbitmq").
 */
#ifndef KVS_SINK_H
#define KVS_SINK_H

#include <uv.h>

struct sink;

struct sink_stats {
	unsigned long long delivered;
	unsigned long long failures;
	unsigned long long inflight;
};

struct sink_backend {
	const char *kind;
	int (*start)(struct sink *s);
	void (*stop)(struct sink *s, void (*cb)(void *data), void *data);
};

/* Options of the sink group of the configuration, see cfg.h. */
struct cfg_sink;

int sink_open(uv_loop_t *loop, const struct cfg_sink *cfg, const char *outbox_dir,
	      struct sink **out);
/* Wake the sink: new entries are in outbox/new. */
void sink_kick(struct sink *s);
void sink_stats(const struct sink *s, struct sink_stats *out);
void sink_close(struct sink *s, void (*cb)(void *data), void *data);

#endif
