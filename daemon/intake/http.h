/* http.h - an HTTP/1.1 server connection layer over libuv streams.
 *
 * One struct http_server owns its listeners (a TCP socket, a Unix socket or
 * both) and every accepted connection.  Each connection has one http_parser,
 * one bounded input buffer, one bounded buffer for the request line and the
 * headers the API reads, and one timer that enforces, in turn, the header
 * timeout (the whole header block, counted from accept or from the first
 * byte of a later request), the body timeout, the write timeout and the
 * keep-alive idle timeout.  Requests that break a limit get a JSON error
 * (400, 408, 413 or 431) and the connection is closed.
 *
 * At most one request per connection is handed to the handler at a time:
 * the parser is paused at the end of each message and reading stops until
 * the response has been written, so pipelined requests are answered in order
 * and a client cannot queue work faster than it is answered.
 *
 * TCP connections are capped per client address (struct http_peer) and
 * all connections in all.  When
 * the global cap is reached, a new connection closes the idlest one: a
 * connection waiting for its first request or between keep-alive requests,
 * or lingering after an error, the one quiet the longest (as nginx reuses
 * keep-alive connections when it runs out).  Only when none is idle is the
 * new connection answered 503.  A Unix socket connection is let in past the
 * cap (up to a small margin): the socket's file mode already limits who may
 * connect, and it must stay the operator's way in.
 *
 * Everything here runs on the loop thread.
 */
#ifndef KVS_HTTP_H
#define KVS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_limits {
	size_t max_header_bytes;        /* request line + headers (431) */
	size_t max_url;                 /* request target (414) */
	unsigned max_headers;           /* number of header fields (431) */
	size_t max_body;                /* body bytes (413) */
	unsigned header_timeout_ms;     /* whole header block (408) */
	unsigned body_timeout_ms;       /* whole body, from end of headers (408) */
	unsigned idle_timeout_ms;       /* keep-alive wait for the next request */
	unsigned write_timeout_ms;      /* one response (connection dropped) */
	unsigned max_connections;       /* past it the idlest connection is
					 * closed to make room; with none idle,
					 * 503 with Retry-After, close */
	unsigned max_conns_per_client;  /* TCP connections of one client
					 * address; past it 503 with
					 * Retry-After, close */
	unsigned max_requests_per_conn; /* then Connection: close */
	size_t max_body_total;          /* body bytes buffered over all
					 * connections (503): bounds memory at
					 * max_connections x max_body */
};

/* Defaults: 16 KiB headers, 2 KiB URL, 64 headers, 1 MiB body, 10 s header
 * and body timeouts, 5 s idle, 10 s write, 1024 connections, 64 per client,
 * 1000 requests per connection, 64 MiB of bodies in all. */
void http_limits_default(struct http_limits *lim);

/* The other end of a connection: its IP address (an IPv4-mapped IPv6
 * address counts as IPv4), or on the Unix socket the peer's uid
 * (SO_PEERCRED).  Connection caps and the API's authentication throttle
 * count per peer. */
struct http_peer {
	int family;                     /* AF_INET, AF_INET6, AF_UNIX or 0
					 * (unknown: never equal to another) */
	unsigned char addr[16];         /* address in network order; AF_UNIX:
					 * the uid in the first 4 bytes */
};
/* Nonzero if a and b are the same known peer. */
int http_peer_equal(const struct http_peer *a, const struct http_peer *b);
/* "192.0.2.1", "2001:db8::1", "uid 1000" or "unknown", for logs. */
void http_peer_str(const struct http_peer *p, char *buf, size_t len);

/* One request handed to the handler.  Every string is NUL-terminated and
 * valid until http_respond() returns; absent headers are NULL. */
struct http_req {
	const char *method;             /* "GET", "POST", ... */
	const char *path;               /* request target up to '?' */
	const char *query;              /* after '?', "" when none */
	const char *authorization;
	const char *content_type;
	const char *origin;
	const char *host;
	const char *body;               /* NUL-terminated, body_len bytes */
	size_t body_len;
	int via_unix;                   /* arrived over the Unix socket */
	struct http_peer peer;          /* who sent it */
	uint64_t id;                    /* per-server request number, for logs;
					 * sent back as X-Request-Id */
	uint64_t start_ns;              /* uv_hrtime() at the first byte */
};

struct http_server;

/* Called on the loop thread once per request.  The handler must call
 * http_respond() exactly once, now or later (after asynchronous work). */
typedef void (*http_handler)(struct http_req *r, void *data);

/* Answer `r` and release it.  `extra_headers` is NULL or complete header
 * lines, each ending in "\r\n".  `body` is copied.  Safe when the client
 * went away meanwhile (the answer is then dropped).  Returns 0, or a
 * negative errno when the answer could not be sent (r is released anyway). */
int http_respond(struct http_req *r, int status, const char *extra_headers,
		 const char *content_type, const char *body, size_t len);
/* Answer `r` with {"error":{"code":code,"message":message}}. */
int http_respond_error(struct http_req *r, int status, const char *extra_headers,
		       const char *code, const char *message);
/* Nonzero once the connection of `r` is gone (the answer would be dropped). */
int http_req_gone(const struct http_req *r);

/* Create a server with copies of `lim`.  Calls http_parser_set_max_header_size()
 * (process-global) with lim->max_header_bytes. */
int http_server_new(uv_loop_t *loop, const struct http_limits *lim,
		    http_handler handler, void *data, struct http_server **out);
/* Listen on "HOST:PORT" ("[::1]:PORT" for IPv6); port 0 picks one, see
 * http_server_port(). */
int http_server_listen_tcp(struct http_server *s, const char *hostport);
/* Listen on a Unix socket at `path` (an old socket file is removed) with
 * file mode `mode` (e.g. 0660). */
int http_server_listen_unix(struct http_server *s, const char *path, unsigned mode);
/* Replace the limits (on reload).  They apply to connections accepted and
 * timers started from now on; a connection keeps its header buffer. */
void http_server_set_limits(struct http_server *s, const struct http_limits *lim);
/* The bound TCP port, or a negative errno. */
int http_server_port(const struct http_server *s);

struct http_stats {
	unsigned long long accepted;            /* connections */
	unsigned long long rejected;            /* connections refused with 503 */
	unsigned long long rejected_client;     /* of them, past the per-client cap */
	unsigned long long evicted;             /* idle connections closed to make
						 * room for a new one */
	unsigned long long open;                /* connections now */
	unsigned long long by_status[600];      /* responses sent, by status */
};
const struct http_stats *http_server_stats(const struct http_server *s);

/* Graceful drain: stop accepting, close idle connections, let requests being
 * received or handled finish (with Connection: close), then free the server
 * and call cb(data).  The server must not be used after this call. */
void http_server_close(struct http_server *s, void (*cb)(void *data), void *data);

/* Reason phrase of a status code. */
const char *http_status_text(int status);

#endif
