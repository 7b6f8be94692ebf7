/* t_plugin.c - a test plugin whose behaviour the test configuration chooses.
 *
 * Built twice, as t_good and t_slow (TPLUG_NAME), never installed.  It
 * reports a finding for every occurrence of `keyword` in any text field, and
 * can be told to sleep, fail in create() or screen(), or report bad evidence.
 * With `rules` set it hands that path option, as the host resolved it, to
 * rules_load() and screens with the rule set too.
 * With gate_file set, screen() of a request whose id starts with "gate-"
 * blocks until that file exists (at most two minutes), then creates
 * "GATE_FILE.ID.released": a plugin stuck for as long as the test wants,
 * which says when it let go.
 * It declares one option of each ABI 3 type: severity (a severity), mode
 * (an enum), watch_lists (lists the host loads; with watch_lists_strict a bad row is
 * an error).  With value_evidence set to a JSON pointer it adds a finding
 * "t.value" whose evidence is the whole value there (a number or boolean).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvscreen/plugin.h"

#ifndef TPLUG_NAME
#define TPLUG_NAME "t_good"
#endif

struct tconf {
	const char *keyword;
	enum kvs_severity severity;
	long long sleep_ms;
	int create_fail;
	int screen_fail;
	int bad_evidence;
	const char *action;
	const char *rules;
	const char *gate_file;
	int mode;                        /* index into mode_names */
	struct kvs_list *const *lists;
	int lists_strict;
	const char *value_evidence;
};

static const char *const mode_names[] = { "all", "first", NULL };

struct tstate {
	const struct tconf *c;
	enum kvs_severity sev;
	size_t kwlen;
	kvs_ruleset *rules;
	const struct kvs_host *host;
};

static const struct kvs_option options[] = {
	{ "keyword", KVS_OPT_STRING, "forbidden", offsetof(struct tconf, keyword),
	  "word to report", 0, 0, 0, NULL, NULL },
	{ "severity", KVS_OPT_SEVERITY, "high", offsetof(struct tconf, severity),
	  "severity of each finding", 0, 0, 0, NULL, NULL },
	{ "sleep_ms", KVS_OPT_INT, "0", offsetof(struct tconf, sleep_ms),
	  "time to sleep in screen()", 0, 0, 60000, NULL, NULL },
	{ "create_fail", KVS_OPT_BOOL, "false", offsetof(struct tconf, create_fail),
	  "make create() fail", 0, 0, 0, NULL, NULL },
	{ "screen_fail", KVS_OPT_BOOL, "false", offsetof(struct tconf, screen_fail),
	  "make screen() fail", 0, 0, 0, NULL, NULL },
	{ "bad_evidence", KVS_OPT_BOOL, "false", offsetof(struct tconf, bad_evidence),
	  "report a span outside the field", 0, 0, 0, NULL, NULL },
	{ "action", KVS_OPT_STRING, "", offsetof(struct tconf, action),
	  "the findings' action; empty: none", 0, 0, 0, NULL, NULL },
	{ "rules", KVS_OPT_PATH, NULL, offsetof(struct tconf, rules),
	  "rule file handed to rules_load() as the host resolved it", 0, 0, 0, NULL, NULL },
	{ "gate_file", KVS_OPT_STRING, "", offsetof(struct tconf, gate_file),
	  "requests with ids gate-* wait for this file", 0, 0, 0, NULL, NULL },
	{ "mode", KVS_OPT_ENUM, "all", offsetof(struct tconf, mode),
	  "report every occurrence of the keyword, or only the first", 0, 0, 0, mode_names, NULL },
	{ "watch_lists", KVS_OPT_LISTS, NULL, offsetof(struct tconf, lists),
	  "lists to load (format:name:severity:path); a finding t.lists names them", 0, 0, 0,
	  NULL, "watch_lists_strict" },
	{ "watch_lists_strict", KVS_OPT_BOOL, "false", offsetof(struct tconf, lists_strict),
	  "a malformed list row is an error", 0, 0, 0, NULL, NULL },
	{ "value_evidence", KVS_OPT_STRING, "", offsetof(struct tconf, value_evidence),
	  "JSON pointer of a value to report as whole-value evidence", 0, 0, 0, NULL, NULL },
	{ NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL }
};

static int t_create(const struct kvs_host *host, const kvs_config_ctx *ctx, const void *config,
		    void **state)
{
	const struct tconf *c = config;
	struct tstate *st;

	if (c->create_fail) {
		host->config_error(ctx, "create_fail", NULL, 0, "create_fail: asked to fail");
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->c = c;
	st->host = host;
	st->kwlen = strlen(c->keyword);
	st->sev = c->severity;
	if (st->kwlen == 0) {
		host->config_error(ctx, "keyword", NULL, 0, "keyword: invalid value");
		free(st);
		return -EINVAL;
	}
	if (c->rules && host->rules_load(ctx, c->rules, &st->rules) < 0) {
		free(st);
		return -EINVAL;
	}
	*state = st;
	return 0;
}

/* Block until c->gate_file exists (bounded), then say so. */
static void wait_gate(const struct tconf *c, const char *id)
{
	struct timespec ts = { 0, 10 * 1000000 };
	char done[4096];
	int fd;

	for (int i = 0; i < 12000 && access(c->gate_file, F_OK) != 0; i++)
		nanosleep(&ts, NULL);
	snprintf(done, sizeof(done), "%s.%s.released", c->gate_file, id);
	fd = open(done, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
}

static int t_screen(void *state, const struct kvs_host *host, const kvs_request *req,
		    kvs_report *rep)
{
	static const char *const refs[] = { "test reference" };
	struct tstate *st = state;
	struct kvs_text_iter it = KVS_TEXT_ITER_INIT;
	const char *path, *text;
	size_t len;

	if (st->c->gate_file[0] && strncmp(host->request_id(req), "gate-", 5) == 0)
		wait_gate(st->c, host->request_id(req));
	if (st->c->sleep_ms > 0) {
		struct timespec ts = { st->c->sleep_ms / 1000, (st->c->sleep_ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
	if (st->c->screen_fail)
		return -EIO;
	if (st->rules && host->rules_screen(st->rules, req, rep, NULL) < 0)
		return -EIO;
	while (host->text_next(req, &it, &path, &text, &len)) {
		const char *p = text;

		while ((p = memmem(p, len - (size_t)(p - text), st->c->keyword, st->kwlen))) {
			struct kvs_evidence ev = { path, (size_t)(p - text),
						   (size_t)(p - text) + st->kwlen, 0 };
			struct kvs_finding f = {
				.rule = "t.keyword", .severity = st->sev, .title = "Keyword found",
				.rationale = "the test keyword occurs", .references = refs,
				.n_references = 1, .evidence = &ev, .n_evidence = 1,
				.action = *st->c->action ? st->c->action : NULL,
			};

			if (st->c->bad_evidence)
				ev.end = len + 10;
			host->report_add(rep, &f);
			if (st->c->mode == 1)
				goto lists;
			p += st->kwlen;
		}
	}
lists:
	for (size_t i = 0; st->c->lists && st->c->lists[i]; i++) {
		struct kvs_list_info in = KVS_LIST_INFO_INIT;
		char title[256];
		struct kvs_finding f = {
			.rule = "t.lists", .severity = KVS_SEV_INFO, .title = title,
		};

		if (host->lists_info(st->c->lists[i], &in) < 0)
			return -EINVAL;
		snprintf(title, sizeof(title), "list %s (%s, %s) of %zu entries", in.name, in.format,
			 kvs_severity_name(in.severity), in.entries);
		host->report_add(rep, &f);
	}
	if (st->c->value_evidence[0]) {
		struct kvs_evidence ev = KVS_EVIDENCE_VALUE(st->c->value_evidence);
		struct kvs_finding f = {
			.rule = "t.value", .severity = KVS_SEV_LOW, .title = "Value as evidence",
			.evidence = &ev, .n_evidence = 1,
		};

		host->report_add(rep, &f);
	}
	return 0;
}

static void t_destroy(void *state, const struct kvs_host *host)
{
	struct tstate *st = state;

	/* ABI 3: destroy() gets the host; it must be the one create() got. */
	if (st && host != st->host)
		abort();

	if (st && st->rules)
		host->rules_free(st->rules);
	free(state);
}

KVS_PLUGIN_DECLARE = {
	KVS_PLUGIN_INIT,
	.name = TPLUG_NAME,
	.version = "1.0",
	.description = "test plugin",
	.types = KVS_REQ_PARTNERSHIP | KVS_REQ_EXPORT | KVS_REQ_INVESTMENT,
	.options = options,
	.config_size = sizeof(struct tconf),
	.create = t_create,
	.screen = t_screen,
	.destroy = t_destroy,
};
