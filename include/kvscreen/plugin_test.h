/* kvscreen/plugin_test.h - run a kvscreend plugin on requests without the daemon, for its unit tests.
 *
 * Link a test program with `pkg-config --cflags --libs kvscreen-plugin-test`
 * (the static library libkvscreen-plugin-test.a, installed with kvscreend;
 * it holds the daemon's own plugin host, request validation, policy and
 * pipeline, so a plugin runs exactly as under kvscreend).  Link it into test
 * programs only: its internal symbols are not prefixed.
 *
 *   struct kvs_test *t;
 *   char err[1024];
 *
 *   if (kvs_test_open(&t, "./project_codes.so", "codes = [ \"ORCA-7\" ];", NULL,
 *                     err, sizeof(err)) != 0)
 *           fail(err);                  // the file:line of the option, as check-config
 *   kvs_test_screen(t, "{\"id\":\"r1\",\"type\":\"export\",\"title\":\"ORCA-7\"}",
 *                   err, sizeof(err));
 *   assert(kvs_test_count(t, "project_codes.mention") == 1);
 *   assert(kvs_test_has_evidence(t, "project_codes.mention", "/title", "ORCA-7"));
 *   kvs_test_close(t);
 *
 * Not thread-safe: one kvs_test per thread.
 */
#ifndef KVSCREEN_PLUGIN_TEST_H
#define KVSCREEN_PLUGIN_TEST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvs_test;

/* Load the plugin shared object `plugin_so` as kvscreend would: check its
 * descriptor, parse `options` (the body of its configuration group in the
 * kvscreend.conf syntax, e.g. "codes = [ \"A\" ]; severity = \"high\";", or
 * NULL) and run create().  Relative paths in the options are taken from
 * `base_dir` (NULL: the current folder).  Returns 0 and *out, or -EINVAL
 * with the errors ("file:line: message" lines) in err, or -ENOMEM / -EIO. */
int kvs_test_open(struct kvs_test **out, const char *plugin_so, const char *options,
		  const char *base_dir, char *err, size_t errlen);

/* Screen one request (kvscreen.request/v1 JSON text) with the plugin, with
 * the default policy.  Returns 0 (the verdict is then what the functions
 * below read), or -EINVAL with the reason in err when the request is
 * invalid, -EBUSY / -ENOMEM. */
int kvs_test_screen(struct kvs_test *t, const char *request_json, char *err, size_t errlen);

/* The last verdict: its JSON text (valid until the next screen or close),
 * its decision ("clear", "review", "escalate", "deny"), and the status of
 * the plugin's run ("ok", "error" or "timeout"); NULL before any screen. */
const char *kvs_test_verdict(const struct kvs_test *t);
const char *kvs_test_decision(const struct kvs_test *t);
const char *kvs_test_status(const struct kvs_test *t);

/* Findings of the last verdict with rule id `rule` (NULL: every finding,
 * host findings such as kvscreend.plugin_error included). */
size_t kvs_test_count(const struct kvs_test *t, const char *rule);
/* Severity ("info".."critical") of the first finding with rule id `rule`,
 * or NULL when there is none. */
const char *kvs_test_severity(const struct kvs_test *t, const char *rule);
/* 1 when a finding with rule id `rule` has evidence at JSON pointer `path`
 * whose text is `text` (for a span) or whose value, written as JSON, is
 * `text` (for a whole number or boolean: "24", "true"); else 0.  `text`
 * NULL matches any evidence at `path`. */
int kvs_test_has_evidence(const struct kvs_test *t, const char *rule, const char *path,
			  const char *text);

/* Run destroy() and unload the plugin. */
void kvs_test_close(struct kvs_test *t);

#ifdef __cplusplus
}
#endif

#endif
