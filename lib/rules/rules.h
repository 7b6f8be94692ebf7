/* rules.h - the text rule engine: rule files in, findings with evidence out.
 *
 * A rule set is loaded once per configuration generation (on one thread)
 * and is read-only afterwards, so any number of worker threads may screen
 * with it at once; each thread keeps its own pcre2 match data.  The engine
 * reads requests only through the host's text_next() and reports only
 * through report_add(), so it works with any kvs_host table (the daemon's,
 * or a test's mock).  The plugin ABI exposes it as kvs_host.rules_load,
 * rules_screen, rules_free, rules_scan, rules_load_paths and
 * rules_screen_counted (see plugin.h for the contract).
 */
#ifndef KVS_RULES_H
#define KVS_RULES_H

#include <stddef.h>

#include "kvscreen/plugin.h"
#include "load_env.h"

/* Bounds that keep hostile text from stalling a worker. */
#define RULES_MATCH_LIMIT 100000u
#define RULES_DEPTH_LIMIT 10000u
#define RULES_HEAP_LIMIT_KIB 8192u
#define RULES_MAX_EVIDENCE 8          /* evidence spans per finding */

/* Load the rule file, or every *.conf file of the folder, at `path` into a
 * new set.  Relative paths are resolved against env->base_dir; every file
 * read is recorded through env->add_file; errors, naming the rule id, go to
 * env->error with file and line (when env or env->error is NULL, to
 * host->config_error(NULL, NULL, file, line, ...)).  env is copied: it must
 * outlive the call only.  `host` is the table the set screens through.
 * Returns 0 and *out, or -EINVAL (errors reported), -ENOENT, -ENOMEM. */
int rules_load(const struct kvs_host *host, const struct kvs_load_env *env,
	       const char *path, struct kvs_ruleset **out);

/* Load the n paths (1 to 256, each as rules_load() loads one) into one set,
 * whose rules remember the index of their path: one prefilter pass per
 * field then serves them all. */
int rules_load_paths(const struct kvs_host *host, const struct kvs_load_env *env,
		     const char *const *paths, size_t n, struct kvs_ruleset **out);

/* Screen every free-text field of req whose JSON pointer starts with
 * `prefix` (all when NULL) and add findings to rep, through the host table
 * the set was loaded with.  Returns the number of rule findings added, or a
 * negative errno. */
int rules_screen(const struct kvs_ruleset *rs, const kvs_request *req,
		 kvs_report *rep, const char *prefix);

/* One finding of rules_scan: `limit` is nonzero for a "rule limit reached"
 * finding.  f and everything it points to are valid during the call only.
 * Returns 0, or a negative errno that stops the scan. */
typedef int rules_emit_fn(void *arg, const struct kvs_finding *f, int limit);

/* As rules_screen, but hands every finding to emit instead of reporting it,
 * so a plugin can weigh what fired before it reports.  `rep` is only asked
 * report_expired() and may be NULL.  Returns the number of rule findings
 * (limit findings not counted), or a negative errno. */
int rules_scan(const struct kvs_ruleset *rs, const kvs_request *req,
	       const kvs_report *rep, const char *prefix,
	       rules_emit_fn *emit, void *arg);

/* rules_screen that also adds to counts[k] the rule findings of the rules
 * loaded from path k of rules_load_paths(). */
int rules_screen_counted(const struct kvs_ruleset *rs, const kvs_request *req,
			 kvs_report *rep, const char *prefix, int *counts);

void rules_free(struct kvs_ruleset *rs);

/* Turn the literal prefilter off (every rule's regexes run on every field)
 * or on again.  For tests and benchmarks: findings must be identical. */
void rules_set_prefilter(struct kvs_ruleset *rs, int on);

/* Introspection for tests, benchmarks and `kvscreen plugins --verbose`. */
struct rules_info {
	const char *id;
	const char *list;
	const char *entry;
	const char *title;
	const char *file;
	int line;
	enum kvs_severity severity;
	const char *first_field;      /* first `fields` prefix, or NULL */
	int has_literal;              /* reached through the prefilter */
	const char *const *patterns;  /* main patterns, as written */
	size_t n_patterns;
	const char *const *positive;  /* phrases the rule must fire on */
	size_t n_positive;
	const char *const *negative;  /* near misses it must not fire on */
	size_t n_negative;
};
size_t rules_count(const struct kvs_ruleset *rs);
/* 0 and *out for rule i, or -ERANGE. */
int rules_get(const struct kvs_ruleset *rs, size_t i, struct rules_info *out);

#endif
