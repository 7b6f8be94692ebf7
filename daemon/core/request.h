/* request.h - the request model: parse and validate kvscreen.request/v1. */
#ifndef KVS_REQUEST_H
#define KVS_REQUEST_H

#include <jansson.h>
#include <stddef.h>

#include "kvscreen/plugin.h"

/* Bounds on what a request may hold; all configurable (limits group). */
struct request_limits {
	long long max_bytes;     /* whole JSON document */
	long long max_depth;     /* nesting of arrays and objects */
	long long max_array;     /* elements of any one array */
	long long max_string;    /* bytes of any one string */
	long long max_text;      /* bytes of all strings together */
};

/* Why a request was rejected: `path` is the JSON pointer of the offending
 * value ("" for the document), `message` says what was expected. */
struct request_error {
	char code[32];      /* "invalid_json", "invalid_request", "too_large" */
	char path[256];
	char message[512];
};

/* A validated request.  Owns its JSON document; read-only after parsing,
 * so worker threads may read it concurrently.  Reference counted because
 * a plugin that overran its budget may still be reading it. */
struct kvs_request {
	json_t *root;
	const char *id;
	enum kvs_request_type type;
	char *canonical;        /* compact, key-sorted JSON of the request */
	size_t n_texts;
	struct request_text {
		char *path;
		const char *text;
		size_t len;
	} *texts;
	int refs;               /* atomic */
};

void request_limits_default(struct request_limits *lim);
/* Parse and validate `len` bytes.  Returns 0 and a request with one
 * reference, or -EINVAL / -E2BIG / -ENOMEM with *err filled. */
int request_parse(const char *buf, size_t len, const struct request_limits *lim,
		  struct kvs_request **out, struct request_error *err);
struct kvs_request *request_ref(struct kvs_request *req);
void request_unref(struct kvs_request *req);
const char *request_type_name(enum kvs_request_type t);
int request_type_parse(const char *name);      /* -EINVAL if unknown */
/* Format err as "path: message" (or just message for the root). */
void request_error_format(const struct request_error *err, char *buf, size_t size);

/* JSON pointer lookup (RFC 6901) in the request; NULL when absent. */
json_t *request_lookup(const struct kvs_request *req, const char *ptr);
/* The same in any tree: "" is root itself; array indexes are decimal
 * without a leading zero; a token over 255 bytes finds nothing. */
json_t *json_pointer_get(const json_t *root, const char *ptr);

#endif
