/* verdict.h - a screening's verdict: findings as C structs, written once as JSON text.
 *
 * Plugins add findings through the host table (report_add, plugin_host.c),
 * which checks them and copies them into the report's arena as struct
 * finding; the pipeline (pipeline.c) gathers the findings of every run into
 * a struct verdict and decides; the JSON text is written once, when a
 * consumer takes it (verdict_take_text).
 * No JSON tree is built or copied on the way: consumers read the struct for
 * what they count or compare (decision, plugin status, the re-screening
 * summary) and store and send the text.
 *
 * Lifetime: a struct verdict, its findings and the evidence texts it
 * borrows from the request are valid during the pipeline's done callback
 * only; a consumer keeps the text (verdict_take_text) or its own copy.
 */
#ifndef KVS_VERDICT_H
#define KVS_VERDICT_H

#include <stddef.h>

#include <jansson.h>

#include "arena.h"
#include "jsonw.h"
#include "kvscreen/plugin.h"
#include "policy.h"

/* One piece of evidence, checked against the request: a span [start, end)
 * of the string at `path` (text: its bytes, borrowed from the request), or
 * with `value` set the whole number or boolean at `path`. */
struct evidence {
	const char *path;
	const char *text;
	size_t start, end;
	const json_t *value;
};

/* One finding, in the arena of the report (or the verdict) that holds it.
 * Texts are valid UTF-8 (bytes that were not are U+FFFD). */
struct finding {
	struct finding *next;          /* the report's findings, in order */
	const char *plugin;            /* the reporting plugin's name */
	const char *rule, *title;
	const char *rationale, *action; /* or NULL */
	const char **refs;
	size_t n_refs;
	struct evidence *ev;
	size_t n_ev;
	enum kvs_severity severity;
};

/* One plugin run of the verdict's "plugins" array. */
struct verdict_plugin {
	const char *name, *version;
	const char *status;            /* "ok", "error" or "timeout" */
	long long duration_us;
	const json_t *lists_missing;   /* array of list names, or NULL */
};

struct verdict {
	const char *request_id;
	const char *screened_at;       /* RFC 3339, UTC */
	const char *policy;            /* the policy digest */
	enum decision decision;
	int score;
	/* Every finding; when `has_deciding`, findings[0] is the deciding one
	 * (verdict_decide). */
	struct finding **findings;
	size_t n_findings;
	int has_deciding;
	struct verdict_plugin *plugins;
	size_t n_plugins;
	char *text;                    /* private: see verdict_take_text */
	size_t len;
	struct arena arena;            /* host findings and the arrays above */
};

/* Puts the deciding finding first: the highest severity above info; among
 * equals, one that names an action, then the first in document order.
 * Sets has_deciding (0 when no finding is above info). */
void verdict_decide(struct verdict *v);
/* The verdict as compact JSON ("kvscreen.verdict/v1", docs/api.md),
 * with the members of `extra` (an object, or NULL) appended at the end:
 * malloc'd, NUL-terminated, its length in *len.  NULL when out of memory. */
char *verdict_text(const struct verdict *v, const json_t *extra, size_t *len);
/* The verdict's text (verdict_text without extras), which the caller now
 * owns and must free, its length in *len; NULL when out of memory.  Written
 * on the first call, so a consumer that only reads the struct (re-screening
 * an unchanged case) writes nothing. */
char *verdict_take_text(struct verdict *v, size_t *len);
/* The verdict's text parsed (a new reference), for the few consumers that
 * want a tree (the CLI, reports, tests); NULL when out of memory. */
json_t *verdict_json(const struct verdict *v);
/* Whether every plugin run ended "ok". */
int verdict_plugins_ok(const struct verdict *v);
/* What re-screening compares: the decision and the set of findings, each
 * identified by plugin, rule, severity and references, as JSON text
 * {"d":DECISION,"k":[KEYS sorted, each once]} (malloc'd; NULL on ENOMEM).
 * The text is stored in the case journal: it must not change. */
char *verdict_summary(const struct verdict *v);
/* Frees the text (unless taken) and the arena; not the struct itself. */
void verdict_clear(struct verdict *v);

#endif
