/* plugin_test.c - the offline plugin test harness of kvscreen/plugin_test.h (libkvscreen-plugin-test.a).
 *
 * A kvs_test is an engine (pipeline.h) whose configuration holds just the
 * plugin under test: the options are written into a temporary configuration
 * file beside base_dir (so relative paths resolve there), loaded with
 * engine_open() exactly as kvscreend loads its own, and removed again.
 * Requests are screened on a private libuv loop, as `kvscreen screen` does.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvscreen/plugin_test.h"
#include "pipeline.h"
#include "plugin_host.h"

struct kvs_test {
	struct engine *en;
	json_t *verdict;
	char *text;
};

/* The options begin on this line of the generated file. */
#define OPTIONS_LINE 4

/* Copy the error lines of `in` to err, naming the generated file "options"
 * and counting lines from the first line of the options. */
static void copy_errors(const char *in, const char *path, char *err, size_t errlen)
{
	size_t o = 0, plen = strlen(path);

	if (!errlen)
		return;
	err[0] = '\0';
	while (in && *in && o + 1 < errlen) {
		const char *nl = strchr(in, '\n');
		size_t len = nl ? (size_t)(nl - in) : strlen(in);
		char *end;
		long line;

		if (strncmp(in, path, plen) == 0 && in[plen] == ':' &&
		    (line = strtol(in + plen + 1, &end, 10)) > 0 && *end == ':')
			o += (size_t)snprintf(err + o, errlen - o, "options:%ld%.*s\n",
					      line - OPTIONS_LINE + 1, (int)(len - (size_t)(end - in)),
					      end);
		else
			o += (size_t)snprintf(err + o, errlen - o, "%.*s\n", (int)len, in);
		in += len + (nl != NULL);
	}
}

int kvs_test_open(struct kvs_test **out, const char *plugin_so, const char *options,
		  const char *base_dir, char *err, size_t errlen)
{
	const struct kvs_plugin *desc;
	struct kvs_test *t = NULL;
	char path[PATH_MAX], so[PATH_MAX], *msgs = NULL;
	size_t msglen = 0;
	struct cfg_errors e = { 0 };
	void *dl;
	FILE *f;
	int fd, rc;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!realpath(plugin_so, so)) {
		snprintf(err, errlen, "%s: %s", plugin_so, strerror(errno));
		return -EINVAL;
	}
	/* The group must be called as the plugin calls itself. */
	rc = plugin_open(so, &dl, &desc, err, errlen);
	if (rc < 0)
		return rc;
	if (snprintf(path, sizeof(path), "%s/.kvs-test-XXXXXX.conf", base_dir ? base_dir : ".") >=
	    (int)sizeof(path) || (fd = mkstemps(path, 5)) < 0 || !(f = fdopen(fd, "w"))) {
		snprintf(err, errlen, "cannot write a configuration in %s: %s",
			 base_dir ? base_dir : ".", strerror(errno));
		plugin_close(dl);
		return -EIO;
	}
	fprintf(f, "plugins: {\n %s: {\n  path = \"%s\";\n%s\n };\n};\n", desc->name, so,
		options ? options : "");
	plugin_close(dl);
	if (fclose(f) != 0) {
		unlink(path);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	t = calloc(1, sizeof(*t));
	e.out = open_memstream(&msgs, &msglen);
	if (!t || !e.out) {
		if (e.out)
			fclose(e.out);
		free(msgs);
		free(t);
		unlink(path);
		return -ENOMEM;
	}
	rc = engine_open(path, &t->en, &e);
	fclose(e.out);
	unlink(path);
	if (rc != 0) {
		copy_errors(msgs, path, err, errlen);
		free(msgs);
		free(t);
		return -EINVAL;
	}
	free(msgs);
	*out = t;
	return 0;
}

static void got_verdict(void *data, struct verdict *v)
{
	*(json_t **)data = v ? verdict_json(v) : NULL;
}

int kvs_test_screen(struct kvs_test *t, const char *request_json, char *err, size_t errlen)
{
	struct request_error re;
	struct kvs_request *req;
	json_t *verdict = NULL;
	uv_loop_t loop;
	int rc;

	json_decref(t->verdict);
	free(t->text);
	t->verdict = NULL;
	t->text = NULL;
	rc = request_parse(request_json, strlen(request_json), &t->en->cfg->limits, &req, &re);
	if (rc < 0) {
		snprintf(err, errlen, "%s at %s: %s", re.code, re.path[0] ? re.path : "/", re.message);
		return rc;
	}
	rc = uv_loop_init(&loop);
	if (rc < 0) {
		request_unref(req);
		snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
		return -ENOMEM;
	}
	rc = pipeline_submit(&loop, t->en, req, got_verdict, &verdict);
	request_unref(req);
	if (rc == 0)
		uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (rc < 0 || !verdict) {
		snprintf(err, errlen, "screening failed: %s", strerror(rc < 0 ? -rc : ENOMEM));
		return rc < 0 ? rc : -ENOMEM;
	}
	t->verdict = verdict;
	t->text = json_dumps(verdict, JSON_COMPACT);
	return 0;
}

const char *kvs_test_verdict(const struct kvs_test *t)
{
	return t->text;
}

const char *kvs_test_decision(const struct kvs_test *t)
{
	return json_string_value(json_object_get(t->verdict, "decision"));
}

const char *kvs_test_status(const struct kvs_test *t)
{
	return json_string_value(json_object_get(
		json_array_get(json_object_get(t->verdict, "plugins"), 0), "status"));
}

static int rule_is(const json_t *f, const char *rule)
{
	return !rule || strcmp(json_string_value(json_object_get(f, "rule")), rule) == 0;
}

size_t kvs_test_count(const struct kvs_test *t, const char *rule)
{
	size_t i, n = 0;
	json_t *f;

	json_array_foreach(json_object_get(t->verdict, "findings"), i, f)
		n += rule_is(f, rule);
	return n;
}

const char *kvs_test_severity(const struct kvs_test *t, const char *rule)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(t->verdict, "findings"), i, f)
		if (rule_is(f, rule))
			return json_string_value(json_object_get(f, "severity"));
	return NULL;
}

/* Does evidence ev show `text` (its span's text, or its value as JSON)? */
static int evidence_shows(const json_t *ev, const char *text)
{
	const json_t *v = json_object_get(ev, "value");
	char *dump;
	int same;

	if (!text)
		return 1;
	if (!v)
		return json_is_string(json_object_get(ev, "text")) &&
		       strcmp(json_string_value(json_object_get(ev, "text")), text) == 0;
	dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	same = dump && strcmp(dump, text) == 0;
	free(dump);
	return same;
}

int kvs_test_has_evidence(const struct kvs_test *t, const char *rule, const char *path,
			  const char *text)
{
	size_t i, k;
	json_t *f, *ev;

	json_array_foreach(json_object_get(t->verdict, "findings"), i, f) {
		if (!rule_is(f, rule))
			continue;
		json_array_foreach(json_object_get(f, "evidence"), k, ev)
			if (strcmp(json_string_value(json_object_get(ev, "path")), path) == 0 &&
			    evidence_shows(ev, text))
				return 1;
	}
	return 0;
}

void kvs_test_close(struct kvs_test *t)
{
	if (!t)
		return;
	json_decref(t->verdict);
	free(t->text);
	engine_unref(t->en);
	free(t);
}
