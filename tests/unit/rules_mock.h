/* rules_mock.h - a mock kvs_host table and request for testing the rule engine and plugins. */
#ifndef KVS_RULES_MOCK_H
#define KVS_RULES_MOCK_H

#include <stddef.h>

#include "kvscreen/plugin.h"

/* A request is a flat list of JSON pointer -> string values; those marked
 * `text` are what text_next() yields, in insertion order. */
struct mock_field {
	char *path;
	char *value;
	size_t len;
	int text;
};

struct kvs_request {
	char id[64];
	enum kvs_request_type type;
	struct mock_field *f;
	size_t n, cap;
};

struct mock_evidence {
	char *path;
	size_t start, end;
};

struct mock_finding {
	char *rule;
	enum kvs_severity severity;
	char *title;
	char **refs;
	size_t n_refs;
	struct mock_evidence ev[16];
	size_t n_ev;
	char *rationale;   /* NULL when the finding has none */
	char *action;      /* ABI 2 next step, or NULL */
};

struct kvs_report {
	struct mock_finding *v;
	size_t n, cap;
	int expired;
};

extern const struct kvs_host mock_host;
/* "file:line: message\n" lines from config_error, in order. */
extern char mock_errors[16384];

struct kvs_request *mock_request(enum kvs_request_type type);
/* Add a value; len (SIZE_MAX: strlen) bytes of value are copied. */
void mock_set(struct kvs_request *r, const char *path, const char *value, size_t len,
	      int text);
void mock_request_free(struct kvs_request *r);
void mock_report_reset(struct kvs_report *rep);
/* The finding with rule id `rule`, or NULL. */
const struct mock_finding *mock_find(const struct kvs_report *rep, const char *rule);



/* Call cb for every non-empty value of the named columns of a CSV file
 * (RFC 4180 quoting, newlines inside quotes); returns rows read or -errno. */
int mock_csv_each(const char *file, const char *const *cols,
		  void (*cb)(void *arg, const char *col, const char *text, size_t len),
		  void *arg);
/* The shared data folder beside the checkout (../shared/data, or
 * ../../shared/data for a worktree under wt/), or NULL when absent. */
const char *mock_shared_data(void);

#endif
