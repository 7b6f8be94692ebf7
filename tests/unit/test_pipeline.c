/* test_pipeline.c - plugin host, policy and fail-closed behaviour of the pipeline. */
#include "config.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "policy.h"
#include "testutil.h"
#include "ck_main.h"

#define REQ "{\"id\":\"r1\",\"type\":\"export\",\"title\":\"a forbidden thing\"," \
	    "\"items\":[{\"description\":\"nothing forbidden here\"}]}"

static const char *decision(const json_t *v)
{
	return json_string_value(json_object_get(v, "decision"));
}

static int strcmp_p(const char *const *a, const char *const *b)
{
	return strcmp(*a, *b);
}

static json_t *plugin_entry(json_t *v, size_t i)
{
	return json_array_get(json_object_get(v, "plugins"), i);
}

START_TEST(findings_and_evidence)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "plugins: { t_good: { keyword = \"forbidden\"; }; };\n");
	json_t *v = tu_screen(en, REQ), *f, *ev;

	ck_assert_str_eq(json_string_value(json_object_get(v, "schema")), "kvscreen.verdict/v1");
	ck_assert_str_eq(json_string_value(json_object_get(v, "request_id")), "r1");
	ck_assert_str_eq(decision(v), "escalate");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "score")), 77);
	ck_assert_uint_eq(json_array_size(json_object_get(v, "findings")), 2);
	f = json_array_get(json_object_get(v, "findings"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "plugin")), "t_good");
	ck_assert_str_eq(json_string_value(json_object_get(f, "rule")), "t.keyword");
	ck_assert_str_eq(json_string_value(json_object_get(f, "severity")), "high");
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "path")), "/title");
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "start")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "end")), 11);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "text")), "forbidden");
	ev = json_array_get(json_object_get(json_array_get(json_object_get(v, "findings"), 1), "evidence"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "path")), "/items/0/description");
	ck_assert_str_eq(json_string_value(json_object_get(plugin_entry(v, 0), "status")), "ok");
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(json_object_get(v, "policy"), "digest"))), 64);
	json_decref(v);
	v = tu_screen(en, "{\"id\":\"r2\",\"type\":\"export\",\"title\":\"harmless\"}");
	ck_assert_str_eq(decision(v), "clear");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "score")), 0);
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(policy_from_config)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "policy: { decisions: { high = \"deny\"; }; weights: { high = 90; }; };\n"
				      "plugins: { t_good: { }; };\n");
	json_t *v = tu_screen(en, REQ);

	ck_assert_str_eq(decision(v), "deny");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "score")), 99);
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(screen_failure_fails_closed)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "plugins: { t_good: { screen_fail = true; severity = \"info\"; }; };\n");
	json_t *v = tu_screen(en, "{\"id\":\"r3\",\"type\":\"export\",\"title\":\"harmless\"}"), *f;

	ck_assert_str_eq(decision(v), "review");
	ck_assert_str_eq(json_string_value(json_object_get(plugin_entry(v, 0), "status")), "error");
	f = json_array_get(json_object_get(v, "findings"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "rule")), "kvscreend.plugin_error");
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(bad_evidence_fails_closed)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "policy: { decisions: { high = \"clear\"; }; };\n"
				      "plugins: { t_good: { bad_evidence = true; }; };\n");
	json_t *v = tu_screen(en, REQ);

	ck_assert_str_eq(decision(v), "review");
	ck_assert_str_eq(json_string_value(json_object_get(plugin_entry(v, 0), "status")), "error");
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(slow_plugin_times_out)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "plugins: { t_good: { keyword = \"zzz\"; };\n"
				      "  t_slow: { sleep_ms = 1500; timeout_ms = 100; }; };\n");
	uint64_t t0 = now_ns();
	json_t *v = tu_screen(en, "{\"id\":\"r4\",\"type\":\"export\",\"title\":\"harmless\"}"), *f;

	/* tu_screen runs the loop until the slow worker returned, but the
	 * verdict itself was built when the budget ran out. */
	ck_assert_uint_ge(now_ns() - t0, 1400000000u);
	ck_assert_str_eq(decision(v), "review");
	ck_assert_str_eq(json_string_value(json_object_get(plugin_entry(v, 0), "status")), "ok");
	ck_assert_str_eq(json_string_value(json_object_get(plugin_entry(v, 1), "status")), "timeout");
	ck_assert_int_lt(json_integer_value(json_object_get(plugin_entry(v, 1), "duration_us")), 1000000);
	f = json_array_get(json_object_get(v, "findings"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "rule")), "kvscreend.plugin_timeout");
	ck_assert_str_eq(json_string_value(json_object_get(f, "plugin")), "t_slow");
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(no_plugin_fails_closed)
{
	struct engine *en = tu_engine("plugins: { };\n");
	json_t *v = tu_screen(en, "{\"id\":\"r5\",\"type\":\"investment\"}"), *f;

	ck_assert_str_eq(decision(v), "review");
	f = json_array_get(json_object_get(v, "findings"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f, "rule")), "kvscreend.no_plugin");
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(deterministic)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; threads = 4; };\n"
				      "plugins: { t_good: { }; t_slow: { keyword = \"thing\"; severity = \"low\"; }; };\n");
	json_t *a = tu_screen(en, REQ);
	json_t *b = tu_screen(en, "{\"items\":[{\"description\":\"nothing forbidden here\"}],"
				  "\"title\":\"a forbidden thing\",\"type\":\"export\",\"id\":\"r1\"}");

	ck_assert(json_equal(json_object_get(a, "findings"), json_object_get(b, "findings")));
	ck_assert_str_eq(decision(a), decision(b));
	ck_assert(json_equal(json_object_get(a, "policy"), json_object_get(b, "policy")));
	/* "forbidden" twice (t_good), "thing" in "thing" and "nothing" (t_slow). */
	ck_assert_uint_eq(json_array_size(json_object_get(a, "findings")), 4);
	json_decref(a);
	json_decref(b);
	engine_unref(en);
}
END_TEST

/* A finding's text cut inside a UTF-8 character (a plugin's "%.40s") is
 * kept, the broken bytes shown as U+FFFD, instead of failing the plugin. */
START_TEST(finding_text_cut_in_character)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "plugins: { t_good: { action = \"Vraag het Caf\\xc3\"; }; };\n");
	json_t *v = tu_screen(en, REQ), *a;

	ck_assert_str_eq(decision(v), "escalate");
	a = json_object_get(v, "actions");
	ck_assert_uint_eq(json_array_size(a), 1);
	ck_assert_str_eq(json_string_value(json_array_get(a, 0)), "Vraag het Caf\xef\xbf\xbd");
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* deciding is the highest-severity finding, moved to the front of findings;
 * actions list each text once, the deciding finding's first. */
START_TEST(deciding_and_actions)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "plugins: { t_slow: { keyword = \"thing\"; severity = \"low\"; "
				      "action = \"Ask a colleague\"; };\n"
				      " t_good: { action = \"Apply for a licence at the CDIU\"; }; };\n");
	json_t *v = tu_screen(en, REQ), *d, *a, *f0;

	ck_assert_str_eq(decision(v), "escalate");
	d = json_object_get(v, "deciding");
	f0 = json_array_get(json_object_get(v, "findings"), 0);
	ck_assert_ptr_nonnull(d);
	ck_assert(json_equal(d, f0));
	ck_assert_str_eq(json_string_value(json_object_get(d, "plugin")), "t_good");
	ck_assert_str_eq(json_string_value(json_object_get(d, "severity")), "high");
	/* the first of the two equal "forbidden" findings: in /title */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(d, "evidence"), 0), "path")), "/title");
	/* the rest keep their order: t_slow's two, then t_good's second */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(v, "findings"), 1), "plugin")), "t_slow");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(v, "findings"), 3), "plugin")), "t_good");
	a = json_object_get(v, "actions");
	ck_assert_uint_eq(json_array_size(a), 2);
	ck_assert_str_eq(json_string_value(json_array_get(a, 0)), "Apply for a licence at the CDIU");
	ck_assert_str_eq(json_string_value(json_array_get(a, 1)), "Ask a colleague");
	json_decref(v);
	/* Nothing above info: no deciding finding, no actions. */
	v = tu_screen(en, "{\"id\":\"r2\",\"type\":\"export\",\"title\":\"harmless\"}");
	ck_assert(json_is_null(json_object_get(v, "deciding")));
	ck_assert_uint_eq(json_array_size(json_object_get(v, "actions")), 0);
	json_decref(v);
	engine_unref(en);
	/* Among equal severities a finding with an action decides. */
	en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
		       "plugins: { t_good: { }; t_slow: { keyword = \"thing\"; severity = \"high\"; "
		       "action = \"Ask a colleague\"; }; };\n");
	v = tu_screen(en, REQ);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "deciding"),
							   "plugin")), "t_slow");
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* A failed plugin's finding decides and says what to do. */
START_TEST(failure_decides)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "plugins: { t_good: { screen_fail = true; }; };\n");
	json_t *v = tu_screen(en, REQ), *d = json_object_get(v, "deciding");

	ck_assert_str_eq(decision(v), "review");
	ck_assert_str_eq(json_string_value(json_object_get(d, "rule")), "kvscreend.plugin_error");
	ck_assert_uint_eq(json_array_size(json_object_get(v, "actions")), 1);
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* The re-screening summary as the first versions computed it from the
 * verdict's JSON: summaries stored in case journals are compared with new
 * ones, so verdict_summary() must give the same text. */
static char *summary_from_json(const json_t *v)
{
	json_t *keys = json_array(), *f, *out;
	size_t i, n;
	const char **k;
	char *text;

	json_array_foreach(json_object_get(v, "findings"), i, f) {
		char refs[2048], key[4096];
		size_t o = 0, r;
		json_t *e;

		refs[0] = '\0';
		json_array_foreach(json_object_get(f, "references"), r, e)
			if (o < sizeof(refs))
				o += (size_t)snprintf(refs + o, sizeof(refs) - o, "%s%s", o ? ";" : "",
						      json_string_value(e));
		snprintf(key, sizeof(key), "%s|%s|%s|%s",
			 json_string_value(json_object_get(f, "plugin")),
			 json_string_value(json_object_get(f, "rule")),
			 json_string_value(json_object_get(f, "severity")), refs);
		json_array_append_new(keys, json_string(key));  /* not UTF-8: left out */
	}
	n = json_array_size(keys);
	k = calloc(n + 1, sizeof(*k));
	for (i = 0; i < n; i++)
		k[i] = json_string_value(json_array_get(keys, i));
	qsort(k, n, sizeof(*k), (int (*)(const void *, const void *))strcmp_p);
	out = json_pack("{s:s, s:[]}", "d", decision(v), "k");
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(k[i], k[i - 1]) != 0)
			json_array_append_new(json_object_get(out, "k"), json_string(k[i]));
	text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	json_decref(keys);
	free(k);
	return text;
}

/* A rule file with one rule whose references are `refs` (libconfig text). */
static char *rules_with_refs(const char *refs)
{
	char *cfg = NULL, *path, *slash;
	FILE *f;

	path = tu_write_config("");
	slash = strrchr(path, '/');
	strcpy(slash + 1, "r.conf");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "rules = ( { id = \"R-1\"; title = \"thing\"; patterns = [ \"thing\" ]; "
		   "severity = \"medium\"; references = [ %s ]; } );\n", refs);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert(asprintf(&cfg, "daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
			   "plugins: { t_good: { rules = \"%s\"; }; };\n", path) > 0);
	free(path);
	return cfg;
}

START_TEST(summary_text_unchanged)
{
	struct engine *en = tu_engine("daemon: { plugin_dir = \"@PLUGINS@\"; };\n"
				      "plugins: { t_good: { }; };\n");
	char *sum, *want, long_refs[8000], *cfg;
	json_t *v = tu_screen_summary(en, REQ, &sum);
	size_t o = 0;

	/* The text itself, for the simplest case. */
	ck_assert_str_eq(sum, "{\"d\":\"escalate\",\"k\":[\"t_good|t.keyword|high|test reference\"]}");
	free(sum);
	json_decref(v);
	v = tu_screen_summary(en, "{\"id\":\"r2\",\"type\":\"export\",\"title\":\"harmless\"}",
			      &sum);
	ck_assert_str_eq(sum, "{\"d\":\"clear\",\"k\":[]}");
	free(sum);
	json_decref(v);
	engine_unref(en);
	/* References past the 2 KB a key keeps, cut inside a two-byte
	 * character (then left out, as before) or not. */
	for (int odd = 0; odd < 2; odd++) {
		o = (size_t)snprintf(long_refs, sizeof(long_refs), "\"Reg. (EU) 2021/821, Art. 4\", \"%s",
				     odd ? "x" : "");
		for (int i = 0; i < 1500; i++)
			o += (size_t)snprintf(long_refs + o, sizeof(long_refs) - o, "\xc3\xa9");
		snprintf(long_refs + o, sizeof(long_refs) - o, "\", \"\\\"quoted\\\"\"");
		cfg = rules_with_refs(long_refs);
		en = tu_engine(cfg);
		v = tu_screen_summary(en, REQ, &sum);
		want = summary_from_json(v);
		ck_assert_str_eq(sum, want);
		free(sum);
		free(want);
		json_decref(v);
		engine_unref(en);
		free(cfg);
	}
}
END_TEST

/* The arena: blocks aligned, kept apart, large ones on their own. */
START_TEST(arena_blocks)
{
	struct arena a = ARENA_INIT;
	unsigned char *p[600];
	size_t sizes[600];

	for (int i = 0; i < 600; i++) {
		sizes[i] = i % 97 == 0 ? 70000 + (size_t)i : (size_t)(i * 7) % 300;
		p[i] = arena_alloc(&a, sizes[i]);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_uint_eq((uintptr_t)p[i] % ARENA_ALIGN, 0);
		memset(p[i], i & 0xff, sizes[i]);
	}
	for (int i = 0; i < 600; i++)
		for (size_t k = 0; k < sizes[i]; k++)
			ck_assert_uint_eq(p[i][k], (unsigned)(i & 0xff));
	ck_assert_uint_ge(arena_size(&a), 7 * 70000);
	ck_assert_str_eq(arena_strndup(&a, "abcdef", 3), "abc");
	ck_assert(!a.failed);
	ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX - 8));
	ck_assert(a.failed);
	arena_free(&a);
	ck_assert_uint_eq(arena_size(&a), 0);
	ck_assert_ptr_nonnull(arena_zalloc(&a, 10));
	arena_free(&a);
}
END_TEST

/* Loading errors: each must name the config file and line and the reason. */
static void expect_load_error(const char *config, const char *want)
{
	char *path = tu_write_config(config), *out = NULL;
	size_t outlen = 0;
	FILE *mem = open_memstream(&out, &outlen);
	struct cfg_errors e = { .out = mem };
	struct engine *en = NULL;

	ck_assert_int_ne(engine_open(path, &en, &e), 0);
	ck_assert_ptr_null(en);
	fclose(mem);
	ck_assert_msg(strstr(out, want) != NULL, "expected \"%s\" in \"%s\"", want, out);
	ck_assert_msg(strncmp(out, path, strlen(path)) == 0, "no file name in \"%s\"", out);
	free(out);
	free(path);
}

START_TEST(abi_mismatch)
{
	expect_load_error("daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_abi: { };\n};\n",
			  "kvscreend.conf:3: plugin t_abi: ");
	expect_load_error("daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_abi: { };\n};\n",
			  "t_abi.so: plugin ABI version 101, but this kvscreend speaks version 3");
}
END_TEST

START_TEST(missing_symbol)
{
	expect_load_error("daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_nosym: { };\n};\n",
			  "t_nosym.so: no \"kvs_plugin\" symbol: not a kvscreend plugin");
	expect_load_error("daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_none: { };\n};\n",
			  "kvscreend.conf:3: plugin t_none: no t_none.so in ");
}
END_TEST

START_TEST(create_failure)
{
	expect_load_error("daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_good: {\n"
			  "  create_fail = true;\n };\n};\n",
			  "kvscreend.conf:4: create_fail: asked to fail");
	expect_load_error("daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_good: {\n"
			  "  colour = \"red\";\n };\n};\n",
			  "kvscreend.conf:4: unknown setting \"colour\" in t_good");
	expect_load_error("daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_good: {\n"
			  "  sleep_ms = \"long\";\n };\n};\n",
			  "kvscreend.conf:4: sleep_ms: expected an integer");
	expect_load_error("daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_slow: {\n"
			  "  path = \"@PLUGINS@/.libs/t_good.so\";\n };\n};\n",
			  "kvscreend.conf:3: plugin t_slow: ");
}
END_TEST

START_TEST(policy_scores)
{
	struct policy p;
	struct policy_result r;

	policy_default(&p);
	policy_result_init(&r);
	ck_assert_int_eq(policy_score(&r), 0);
	policy_add_finding(&p, &r, KVS_SEV_LOW);
	ck_assert_int_eq(r.decision, DECISION_CLEAR);
	ck_assert_int_eq(policy_score(&r), 10);
	policy_add_finding(&p, &r, KVS_SEV_MEDIUM);
	ck_assert_int_eq(r.decision, DECISION_REVIEW);
	ck_assert_int_eq(policy_score(&r), 41);
	policy_add_finding(&p, &r, KVS_SEV_CRITICAL);
	ck_assert_int_eq(r.decision, DECISION_DENY);
	ck_assert_int_eq(policy_score(&r), 100);
	/* A failure never lowers a decision and never yields clear. */
	policy_add_failure(&p, &r);
	ck_assert_int_eq(r.decision, DECISION_DENY);
	policy_result_init(&r);
	p.on_plugin_failure = DECISION_CLEAR;
	policy_add_failure(&p, &r);
	ck_assert_int_eq(r.decision, DECISION_REVIEW);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("pipeline");

	tcase_add_test(tc, findings_and_evidence);
	tcase_add_test(tc, deciding_and_actions);
	tcase_add_test(tc, finding_text_cut_in_character);
	tcase_add_test(tc, failure_decides);
	tcase_add_test(tc, summary_text_unchanged);
	tcase_add_test(tc, arena_blocks);
	tcase_add_test(tc, policy_from_config);
	tcase_add_test(tc, screen_failure_fails_closed);
	tcase_add_test(tc, bad_evidence_fails_closed);
	tcase_add_test(tc, slow_plugin_times_out);
	tcase_add_test(tc, no_plugin_fails_closed);
	tcase_add_test(tc, deterministic);
	tcase_add_test(tc, abi_mismatch);
	tcase_add_test(tc, missing_symbol);
	tcase_add_test(tc, create_failure);
	tcase_add_test(tc, policy_scores);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
