/* testutil.c - helpers shared by the unit tests. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

char *tu_src(const char *rel)
{
	const char *src = getenv("KVS_SRCDIR");
	char *p;

	ck_assert(asprintf(&p, "%s/%s", src && *src ? src : KVS_SRCDIR, rel) > 0);
	return p;
}

char *tu_write_config(const char *text)
{
	char dir[] = "/tmp/kvs-test-XXXXXX";
	const char *build = getenv("KVS_BUILDDIR");
	char *path, *plugins, *out, *at;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert(asprintf(&path, "%s/kvscreend.conf", dir) > 0);
	ck_assert(asprintf(&plugins, "%s/tests/plugins", build && *build ? build : KVS_BUILDDIR) > 0);
	out = strdup(text);
	while ((at = strstr(out, "@PLUGINS@"))) {
		char *n;

		*at = '\0';
		ck_assert(asprintf(&n, "%s%s%s", out, plugins, at + 9) > 0);
		free(out);
		out = n;
	}
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(out, f);
	fclose(f);
	free(out);
	free(plugins);
	return path;
}

struct engine *tu_engine(const char *config_text)
{
	struct cfg_errors e = { .out = stderr };
	struct engine *en = NULL;
	char *path = tu_write_config(config_text);

	ck_assert_int_eq(engine_open(path, &en, &e), 0);
	free(path);
	return en;
}

struct got {
	json_t *verdict;
	char *summary;
};

/* The verdict's text parsed, and its summary; the struct and the text
 * must agree on the decision. */
static void got_verdict(void *data, struct verdict *v)
{
	struct got *g = data;

	ck_assert_ptr_nonnull(v);
	g->verdict = verdict_json(v);
	ck_assert_ptr_nonnull(g->verdict);
	ck_assert_str_eq(json_string_value(json_object_get(g->verdict, "decision")),
			 decision_name(v->decision));
	g->summary = verdict_summary(v);
	ck_assert_ptr_nonnull(g->summary);
}

json_t *tu_screen_summary(struct engine *en, const char *request_json, char **summary)
{
	struct request_error err;
	struct kvs_request *req;
	struct got g = { NULL, NULL };
	uv_loop_t loop;

	if (request_parse(request_json, strlen(request_json), &en->cfg->limits, &req, &err) < 0)
		return NULL;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(pipeline_submit(&loop, en, req, got_verdict, &g), 0);
	request_unref(req);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_ptr_nonnull(g.verdict);
	if (summary)
		*summary = g.summary;
	else
		free(g.summary);
	return g.verdict;
}

json_t *tu_screen(struct engine *en, const char *request_json)
{
	return tu_screen_summary(en, request_json, NULL);
}

char *tu_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}
