/* test_plugin_abi.c - plugin ABI 3: sized structs, typed options, whole-value evidence.
 *
 * The host must write no byte beyond the size a plugin gives for the structs
 * it fills (kvs_list_info, kvs_list_match arrays, kvs_text_iter) and read no
 * byte beyond the sizes the descriptor states (option table, findings,
 * evidence); the severity, enum and list option types are checked by the
 * host with file:line; lists are loaded by the host and found by `kvscreen
 * lists update` through their option type; evidence may be a number or a
 * boolean, and an invalid finding says why.  Driven through the test plugin
 * t_good (tests/plugins/t_plugin.c) and the host functions directly.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lists_host.h"
#include "lists_update.h"
#include "plugin_host.h"
#include "testutil.h"
#include "ck_main.h"

#define HEAD "daemon: { plugin_dir = \"@PLUGINS@\"; };\nplugins: {\n t_good: {\n"

/* An engine from the t_good group body `body` (after HEAD, lines 3..). */
static struct engine *engine_with(const char *body)
{
	char *text;
	struct engine *en;

	ck_assert(asprintf(&text, HEAD "%s\n };\n};\n", body) > 0);
	en = tu_engine(text);
	free(text);
	return en;
}

/* engine_open must fail with `want` in its errors. */
static void expect_error(const char *body, const char *want)
{
	char *text, *path, *out = NULL;
	size_t outlen = 0;
	FILE *mem = open_memstream(&out, &outlen);
	struct cfg_errors e = { .out = mem };
	struct engine *en = NULL;

	ck_assert(asprintf(&text, HEAD "%s\n };\n};\n", body) > 0);
	path = tu_write_config(text);
	ck_assert_int_ne(engine_open(path, &en, &e), 0);
	ck_assert_ptr_null(en);
	fclose(mem);
	ck_assert_msg(strstr(out, want) != NULL, "expected \"%s\" in \"%s\"", want, out);
	ck_assert_msg(strstr(out, path) || strstr(want, ".csv:"), "no file name in \"%s\"", out);
	free(out);
	free(path);
	free(text);
}

static json_t *finding(json_t *v, const char *rule)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(v, "findings"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "rule")), rule) == 0)
			return f;
	return NULL;
}

static int parse(const char *json, struct kvs_request **req, struct request_error *err)
{
	struct request_limits lim;

	request_limits_default(&lim);
	return request_parse(json, strlen(json), &lim, req, err);
}

static char *investment_request(void)
{
	char *p = tu_src("conf/examples/investment-spinoff.json"), *req = tu_read_file(p);

	free(p);
	return req;
}

/* ---- typed options ---- */

START_TEST(option_errors_have_file_line)
{
	char *good = tu_src("tests/data/lists/good_kvs.csv"), *body;

	expect_error("  severity = \"severe\";",
		     "kvscreend.conf:4: severity: \"severe\" is not a severity (info, low, medium, high or critical)");
	expect_error("  severity = 3;", "kvscreend.conf:4: severity: expected a severity");
	expect_error("  mode = \"last\";", "kvscreend.conf:4: mode: \"last\" is not one of all, first");
	expect_error("  watch_lists = [\n    \"kvs:own:high\" ];",
		     "kvscreend.conf:5: watch_lists[0]: \"kvs:own:high\" is not format:name:severity:path");
	expect_error("  watch_lists = [ \"x.csv\",\n  \"kvs:own:urgent:x.csv\" ];",
		     "kvscreend.conf:4: watch_lists[0]: \"x.csv\" is not format:name:severity:path");
	expect_error("  watch_lists = [\n\n  \"pdf:own:high:x.csv\" ];",
		     "kvscreend.conf:6: watch_lists[0]: \"pdf:own:high:x.csv\" has an unknown list format");
	ck_assert(asprintf(&body, "  watch_lists = [ \"kvs:own:high:%s\",\n"
			   "    \"kvs:own:urgent:%s\" ];", good, good) > 0);
	expect_error(body, "kvscreend.conf:5: watch_lists[1]: \"kvs:own:urgent:");
	free(body);
	/* A list file that does not load: at the entry naming it. */
	expect_error("  watch_lists = [\n \"kvs:own:high:/nonexistent/own.csv\" ];",
		     "kvscreend.conf:5: list \"own\" (/nonexistent/own.csv) not loaded");
	free(good);
}
END_TEST

START_TEST(enum_and_severity_values)
{
	struct engine *en = engine_with("  severity = \"critical\"; mode = \"first\";");
	json_t *v = tu_screen(en, "{\"id\":\"e1\",\"type\":\"export\",\"title\":\"forbidden, "
				  "forbidden\",\"items\":[{\"description\":\"forbidden\"}]}");
	size_t n = 0, i;
	json_t *f;

	/* mode "first": one finding, not three; severity parsed by the host. */
	json_array_foreach(json_object_get(v, "findings"), i, f)
		n += strcmp(json_string_value(json_object_get(f, "rule")), "t.keyword") == 0;
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(json_string_value(json_object_get(finding(v, "t.keyword"), "severity")),
			 "critical");
	ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), "deny");
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* The host loads the lists of a KVS_OPT_LISTS option; strict_key applies. */
START_TEST(list_option_loaded_by_host)
{
	char *good = tu_src("tests/data/lists/good_kvs.csv");
	char *bad = tu_src("tests/data/lists/bad_kvs.csv"), *body;
	struct engine *en;
	json_t *v, *f;

	ck_assert(asprintf(&body, "  watch_lists = [ \"kvs:own:medium:%s\", \"kvs:bad:low:%s\" ];",
			   good, bad) > 0);
	en = engine_with(body);
	free(body);
	v = tu_screen(en, "{\"id\":\"l1\",\"type\":\"export\",\"title\":\"harmless\"}");
	f = finding(v, "t.lists");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(json_string_value(json_object_get(f, "title")),
			 "list own (kvs, medium) of 1 entries");
	json_decref(v);
	engine_unref(en);
	ck_assert(asprintf(&body, "  watch_lists_strict = true;\n  watch_lists = [\n"
			   "   \"kvs:bad:low:%s\" ];", bad) > 0);
	expect_error(body, "bad_kvs.csv:3: ");
	free(body);
	free(good);
	free(bad);
}
END_TEST

/* `kvscreen lists update` finds lists by the option type, whatever the key
 * is called (t_good's is watch_lists, not lists). */
START_TEST(lists_update_finds_list_options)
{
	char *good = tu_src("tests/data/lists/good_kvs.csv"), *text, *path, *out = NULL;
	size_t len = 0;
	struct cfg_errors e = { .out = stderr };
	struct kvs_cfg *cfg = NULL;
	FILE *mem;

	ck_assert(asprintf(&text, HEAD "  watch_lists = [ \"kvs:watched_own:high:%s\" ];\n };\n};\n",
			   good) > 0);
	path = tu_write_config(text);
	ck_assert_int_eq(cfg_load(path, &cfg, &e), 0);
	mem = open_memstream(&out, &len);
	ck_assert_int_eq(lists_update_show(cfg, mem, stderr), 0);
	fclose(mem);
	ck_assert_msg(strstr(out, "watched_own") != NULL, "not listed: %s", out);
	free(out);
	cfg_free(cfg);
	free(path);
	free(text);
	free(good);
}
END_TEST

/* ---- evidence ---- */

START_TEST(whole_value_evidence)
{
	struct engine *en = engine_with("  value_evidence = \"/investment/stake_percent\";");
	char *req = investment_request();
	json_t *v = tu_screen(en, req), *f, *ev;

	f = finding(v, "t.value");
	ck_assert_ptr_nonnull(f);
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "path")), "/investment/stake_percent");
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "value")), 24);
	ck_assert_ptr_null(json_object_get(ev, "start"));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(v, "plugins"), 0), "status")), "ok");
	json_decref(v);
	engine_unref(en);
	/* A boolean too. */
	en = engine_with("  value_evidence = \"/investment/control\";");
	v = tu_screen(en, req);
	ev = json_array_get(json_object_get(finding(v, "t.value"), "evidence"), 0);
	ck_assert(json_is_false(json_object_get(ev, "value")));
	json_decref(v);
	engine_unref(en);
	free(req);
}
END_TEST

/* Evidence at a pointer the request lacks, or at an object, makes the
 * finding invalid; the verdict (and the log) says which and why. */
START_TEST(invalid_evidence_reason)
{
	static const struct {
		const char *ptr, *why;
	} bad[] = {
		{ "/investment/nope", "finding t.value: evidence[0]: /investment/nope is not in the request" },
		{ "/investment", "finding t.value: evidence[0]: /investment is an object, not a number" },
	};
	char *req = investment_request();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *body;
		struct engine *en;
		json_t *v, *f;

		ck_assert(asprintf(&body, "  value_evidence = \"%s\";", bad[i].ptr) > 0);
		en = engine_with(body);
		v = tu_screen(en, req);
		ck_assert_ptr_null(finding(v, "t.value"));
		f = finding(v, "kvscreend.plugin_error");
		ck_assert_ptr_nonnull(f);
		ck_assert_msg(strstr(json_string_value(json_object_get(f, "rationale")), bad[i].why),
			      "rationale: %s", json_string_value(json_object_get(f, "rationale")));
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
			json_object_get(v, "plugins"), 0), "status")), "error");
		ck_assert_str_eq(json_string_value(json_object_get(v, "decision")), "review");
		json_decref(v);
		engine_unref(en);
		free(body);
	}
	free(req);
}
END_TEST

/* ---- sizes ---- */

static struct kvs_list *load_good(void)
{
	char *good = tu_src("tests/data/lists/good_kvs.csv");
	struct kvs_list *l = NULL;

	ck_assert_int_eq(lists_host_load(NULL, "kvs", good, "own", KVS_SEV_HIGH, 0, &l), 0);
	free(good);
	return l;
}

/* A plugin's kvs_list_info of another size: too small is refused untouched;
 * a newer (bigger) one gets the host's members, zero in what the host does
 * not know, and nothing beyond its size. */
START_TEST(list_info_size_honoured)
{
	struct kvs_list *l = load_good();
	unsigned char buf[sizeof(struct kvs_list_info) + 64];
	struct kvs_list_info in;
	uint32_t size;

	memset(buf, 0xaa, sizeof(buf));
	size = (uint32_t)offsetof(struct kvs_list_info, mtime);   /* an ABI 3 struct is bigger */
	memcpy(buf, &size, sizeof(size));
	ck_assert_int_eq(plugin_host_table.lists_info(l, (struct kvs_list_info *)buf), -EINVAL);
	for (size_t i = sizeof(size); i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0xaa);

	memset(buf, 0xaa, sizeof(buf));
	size = (uint32_t)sizeof(struct kvs_list_info) + 16;
	memcpy(buf, &size, sizeof(size));
	ck_assert_int_eq(plugin_host_table.lists_info(l, (struct kvs_list_info *)buf), 0);
	memcpy(&in, buf, sizeof(in));
	ck_assert_uint_eq(in.size, size);
	ck_assert_str_eq(in.name, "own");
	ck_assert_uint_eq(in.entries, 1);
	for (size_t i = sizeof(in); i < size; i++)
		ck_assert_uint_eq(buf[i], 0);
	for (size_t i = size; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0xaa);
	lists_host_release(l);
}
END_TEST

/* lists_match steps through the plugin's array by out[0].size. */
START_TEST(list_match_stride_honoured)
{
	struct kvs_list *l = load_good();
	const struct kvs_list *const lists[1] = { l };
	const size_t stride = sizeof(struct kvs_list_match) + 24;
	unsigned char buf[3 * (sizeof(struct kvs_list_match) + 24)];
	struct kvs_list_match m;
	uint32_t size = (uint32_t)stride;

	memset(buf, 0xaa, sizeof(buf));
	memcpy(buf, &size, sizeof(size));
	ck_assert_int_eq(plugin_host_table.lists_match(lists, 1, "Good Name Ltd", 13, 0.8,
							(struct kvs_list_match *)buf, 2), 1);
	memcpy(&m, buf, sizeof(m));
	ck_assert_uint_eq(m.size, stride);
	ck_assert_str_eq(m.primary_name, "Good Name Ltd");
	/* Only the one element written; the second and third untouched. */
	for (size_t i = stride; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0xaa);
	size = 8;
	memcpy(buf, &size, sizeof(size));
	ck_assert_int_eq(plugin_host_table.lists_match(lists, 1, "Good Name Ltd", 13, 0.8,
							(struct kvs_list_match *)buf, 2), -EINVAL);
	lists_host_release(l);
}
END_TEST

/* A text iterator not made with KVS_TEXT_ITER_INIT is never advanced. */
START_TEST(text_iter_size_checked)
{
	struct kvs_text_iter it = { 0, 0 };
	const char *path, *text;
	size_t len;
	struct request_error err;
	struct kvs_request *req = NULL;
	const char *json = "{\"id\":\"t1\",\"type\":\"export\",\"title\":\"some title\"}";

	ck_assert_int_eq(parse(json, &req, &err), 0);
	ck_assert_int_eq(plugin_host_table.text_next(req, &it, &path, &text, &len), 0);
	ck_assert_uint_eq(it.pos, 0);
	it = (struct kvs_text_iter)KVS_TEXT_ITER_INIT;
	ck_assert_int_eq(plugin_host_table.text_next(req, &it, &path, &text, &len), 1);
	ck_assert_str_eq(path, "/title");
	request_unref(req);
}
END_TEST

/* The option table and the evidence array are read with the sizes the
 * descriptor states: a plugin whose structs have grown members the host
 * does not know yet still works. */
struct big_option {
	struct kvs_option o;
	const char *future;
};
struct big_evidence {
	struct kvs_evidence e;
	double future;
};

START_TEST(descriptor_sizes_honoured)
{
	static const char *const modes[] = { "a", "b", NULL };
	static const struct big_option opts[] = {
		{ { "first", KVS_OPT_INT, "1", 0, "x", 0, 0, 0, NULL, NULL }, "?" },
		{ { "second", KVS_OPT_ENUM, "b", 8, "y", 0, 0, 0, modes, NULL }, "?" },
		{ { NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL }, NULL },
	};
	struct kvs_plugin d = {
		.abi_version = KVS_ABI_VERSION,
		.size = sizeof(struct kvs_plugin),
		.option_size = sizeof(struct big_option),
		.finding_size = sizeof(struct kvs_finding),
		.evidence_size = sizeof(struct big_evidence),
		.name = "big",
		.options = &opts[0].o,
	};
	struct kvs_option *v = plugin_options(&d);
	struct big_evidence ev[2] = {
		{ { "/title", 0, 4, 0 }, 1.0 }, { KVS_EVIDENCE_VALUE("/items/0/quantity"), 2.0 },
	};
	struct kvs_finding f = {
		.rule = "r", .title = "t", .severity = KVS_SEV_LOW,
		.evidence = &ev[0].e, .n_evidence = 2,
	};
	const char *json = "{\"id\":\"t2\",\"type\":\"export\",\"title\":\"some title\","
			   "\"items\":[{\"description\":\"d\",\"quantity\":3}]}";
	struct request_error err;
	struct kvs_request *req = NULL;
	struct kvs_report rep;
	const struct evidence *evs;

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v[0].name, "first");
	ck_assert_str_eq(v[1].name, "second");
	ck_assert_ptr_eq(v[1].values, modes);
	ck_assert_ptr_null(v[2].name);
	free(v);

	ck_assert_int_eq(parse(json, &req, &err), 0);
	report_init(&rep, req, UINT64_MAX);
	report_set_plugin(&rep, &d);
	ck_assert_int_eq(plugin_host_table.report_add(&rep, &f), 0);
	ck_assert_uint_eq(rep.n_findings, 1);
	ck_assert_uint_eq(rep.first->n_ev, 2);
	evs = rep.first->ev;
	ck_assert_uint_eq(evs[0].end - evs[0].start, 4);
	ck_assert_mem_eq(evs[0].text, "some", 4);
	ck_assert_ptr_null(evs[0].value);
	ck_assert_int_eq(json_integer_value(evs[1].value), 3);
	ck_assert_str_eq(evs[1].path, "/items/0/quantity");
	report_clear(&rep);
	request_unref(req);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("plugin_abi");
	TCase *tc = tcase_create("abi3");

	tcase_add_test(tc, option_errors_have_file_line);
	tcase_add_test(tc, enum_and_severity_values);
	tcase_add_test(tc, list_option_loaded_by_host);
	tcase_add_test(tc, lists_update_finds_list_options);
	tcase_add_test(tc, whole_value_evidence);
	tcase_add_test(tc, invalid_evidence_reason);
	tcase_add_test(tc, list_info_size_honoured);
	tcase_add_test(tc, list_match_stride_honoured);
	tcase_add_test(tc, text_iter_size_checked);
	tcase_add_test(tc, descriptor_sizes_honoured);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_main(suite());
}
