/* test_kennisveiligheid.c - the kennisveiligheid plugin through the real
 * pipeline: its combination rule edge by edge, partners, configuration
 * errors, real CORDIS projects, and its speed. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "country.h"
#include "pipeline.h"
#include "shared_data.h"
#include "testutil.h"
#include "ck_main.h"

/* The shared data folder beside the checkout, or NULL when absent. */
static const char *shared_data(void)
{
	return shared_data_dir();
}

/* ---- Helpers ---- */

static char *src_path(const char *rel)
{
	return tu_src(rel);
}

static const char *builddir(void)
{
	const char *b = getenv("KVS_BUILDDIR");

	return b && *b ? b : KVS_BUILDDIR;
}

/* The plugin group with the in-tree taxonomy and countries, the test own
 * list, and (when the shared data folder is there) ASPI, the DoD 1260H and
 * 1286 lists and the CSL, plus `extra`.  The DoD lists are read from the
 * shared data only: their transcription is not licensed for shipping. */
static char *kv_config(const char *extra)
{
	char *tax = src_path("conf/rules/kennisveiligheid/taxonomy.conf");
	char *ctry = src_path("conf/kennisveiligheid/countries.conf");
	char *own = src_path("tests/data/kennisveiligheid/own.csv");
	const char *data = shared_data();
	char *shared = NULL, *text, *lists;
	int own_lists = extra && strstr(extra, "lists =") != NULL;

	if (data)
		ck_assert(asprintf(&shared,
			",\n \"aspi:ASPI China Defence Universities Tracker:high:%s/aspi-china-defence-universities/china-defence-universities.json\""
			",\n \"table:DoD 1260H:high:%s/us-dod-1260h-chinese-military-companies/sanctions.csv\""
			",\n \"table:DoD 1286:high:%s/us-dod-section-1286/section_1286.csv\""
			",\n \"csl:US CSL:high:%s/us-csl-2023-subset/csl.csv\"", data, data, data, data) > 0);
	if (own_lists)
		lists = strdup("");
	else
		ck_assert(asprintf(&lists, " lists = [ \"kvs:own list:high:%s\"%s ];\n", own,
				   shared ? shared : "") > 0);
	ck_assert_ptr_nonnull(lists);
	ck_assert(asprintf(&text,
		"daemon: { plugin_dir = \"%s/plugins\"; };\n"
		"plugins: { kennisveiligheid: {\n"
		" taxonomy = \"%s\";\n countries = \"%s\";\n%s"
		" csl_programs = [ \"Entity List\", \"Military End User\" ];\n"
		"%s\n}; };\n", builddir(), tax, ctry, lists, extra ? extra : "") > 0);
	free(lists);
	free(tax);
	free(ctry);
	free(own);
	free(shared);
	return text;
}

static struct engine *kv_engine(const char *extra)
{
	char *c = kv_config(extra);
	struct engine *en = tu_engine(c);

	free(c);
	return en;
}

static const char *decision(json_t *v)
{
	return json_string_value(json_object_get(v, "decision"));
}

static json_t *finding(json_t *v, const char *rule_prefix)
{
	json_t *fs = json_object_get(v, "findings"), *f;
	size_t i;

	json_array_foreach(fs, i, f) {
		const char *r = json_string_value(json_object_get(f, "rule"));

		if (r && !strncmp(r, rule_prefix, strlen(rule_prefix)))
			return f;
	}
	return NULL;
}

static const char *risk_title(json_t *v)
{
	json_t *f = finding(v, "kv.risk");

	ck_assert_ptr_nonnull(f);
	return json_string_value(json_object_get(f, "title"));
}

static json_t *screen_obj(struct engine *en, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	json_t *v;

	ck_assert_ptr_nonnull(s);
	v = tu_screen(en, s);
	ck_assert_msg(v != NULL, "request rejected: %s", s);
	free(s);
	return v;
}

/* ---- The combination rule, edge by edge ---- */

/* Area levels by a phrase: none, medium (CRISPR), high (warheads), critical (qubits). */
static const char *const area_text[4] = {
	"Low-noise tyres for city buses.",
	"CRISPR genome editing of wheat.",
	"Fragmentation warheads and their lethality.",
	"A superconducting quantum processor with 20 qubits.",
};
/* Counterparty levels by country: NL 0, ML (EU regime, 25) medium, CN (80)
 * high, RU (105) very high. */
static const char *const cp_country[4] = { "NL", "ML", "CN", "RU" };

static json_t *matrix_req(int a, int r, const char *form)
{
	json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}]}",
				"schema", "kvscreen.request/v1", "id", "m", "type", "partnership",
				"description", area_text[a], "parties", "role", "partner", "name",
				"Generic Research Partner Institute", "country", cp_country[r],
				"kind", "university");

	if (form)
		json_object_set_new(req, "cooperation", json_pack("{s:s, s:[s]}", "form", form,
								  "access", "lab"));
	return req;
}

START_TEST(combination_matrix)
{
	static const char *const want[4][4] = {
		{ "clear", "clear", "clear", "review" },
		{ "clear", "clear", "review", "escalate" },
		{ "clear", "review", "review", "escalate" },
		{ "clear", "review", "escalate", "escalate" },
	};
	static const char *const level[4][4] = {
		{ "low", "low", "low", "medium" },
		{ "low", "low", "medium", "high" },
		{ "low", "medium", "medium", "very high" },
		{ "low", "medium", "high", "very high" },
	};
	struct engine *en = kv_engine(NULL);

	for (int a = 0; a < 4; a++)
		for (int r = 0; r < 4; r++) {
			json_t *req = matrix_req(a, r, NULL), *v = screen_obj(en, req);
			char want_title[64];

			snprintf(want_title, sizeof(want_title), "Knowledge-security risk %s:",
				 level[a][r]);
			ck_assert_msg(!strcmp(decision(v), want[a][r]),
				      "area %d x counterparty %d: %s, want %s", a, r, decision(v),
				      want[a][r]);
			ck_assert_msg(!strncmp(risk_title(v), want_title, strlen(want_title)),
				      "area %d x counterparty %d: \"%s\"", a, r, risk_title(v));
			if (r)
				ck_assert_ptr_nonnull(finding(v, "kv.country."));
			json_decref(v);
			json_decref(req);
		}
	engine_unref(en);
}
END_TEST

/* A joint lab with lab access (1.5 x 1.3 = 1.95) raises a medium or higher
 * risk one level and leaves a low one alone; classified access (x2 more)
 * raises two. */
START_TEST(combination_cooperation)
{
	struct engine *en = kv_engine(NULL);
	json_t *req, *v;

	req = matrix_req(1, 2, "joint_lab");              /* medium -> high */
	v = screen_obj(en, req);
	ck_assert_str_eq(decision(v), "escalate");
	ck_assert_ptr_nonnull(strstr(risk_title(v), "raised by the form of cooperation"));
	ck_assert_ptr_nonnull(finding(v, "kv.cooperation"));
	json_decref(v);
	json_decref(req);
	req = matrix_req(3, 0, "joint_lab");              /* low stays low */
	v = screen_obj(en, req);
	ck_assert_str_eq(decision(v), "clear");
	ck_assert_ptr_nonnull(strstr(risk_title(v), "risk low"));
	json_decref(v);
	json_decref(req);
	req = matrix_req(0, 3, "visiting_researcher");    /* medium x3.38 -> very high */
	json_array_append_new(json_object_get(json_object_get(req, "cooperation"), "access"),
			      json_string("classified"));
	v = screen_obj(en, req);
	ck_assert_ptr_nonnull(strstr(risk_title(v), "very high"));
	json_decref(v);
	json_decref(req);
	engine_unref(en);
}
END_TEST

/* ---- Partners ---- */

START_TEST(partner_quantum_seven_sons)
{
	struct engine *en;

	if (!shared_data()) {
		printf("partner_quantum_seven_sons: shared data folder missing, skipped\n");
		return;
	}
	en = kv_engine(NULL);
	json_t *v = tu_screen(en,
		"{\"id\":\"q1\",\"type\":\"partnership\",\"title\":\"Quantum radar for the detection of "
		"low-observable targets\",\"description\":\"Entangled microwave photons and "
		"superconducting qubits for a quantum radar demonstrator.\",\"parties\":["
		"{\"role\":\"partner\",\"name\":\"HARBIN INSTITUTE OF TECHNOLOGY\",\"country\":\"CN\","
		"\"kind\":\"university\"},{\"role\":\"partner\",\"name\":\"Technische Universiteit "
		"Delft\",\"country\":\"NL\",\"kind\":\"university\"}],\"cooperation\":{\"form\":"
		"\"joint_research\",\"duration_months\":24}}");
	json_t *f = finding(v, "kv.partner.listed"), *ev;

	ck_assert_str_eq(decision(v), "escalate");
	ck_assert_ptr_nonnull(strstr(risk_title(v), "very high"));
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(json_string_value(json_object_get(f, "severity")), "high");
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "path")), "/parties/0/name");
	ck_assert_ptr_nonnull(finding(v, "kv.area.NLD.QUANTUM."));
	ck_assert_ptr_nonnull(finding(v, "kv.country.CN"));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(finding(v, "kv.risk"),
		"rationale")), "HARBIN INSTITUTE OF TECHNOLOGY"));
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* Parent, affiliation, funder, kind and state ownership all count. */
START_TEST(partner_signals)
{
	struct engine *en = kv_engine(NULL);
	json_t *v;

	if (!shared_data()) {
		printf("partner_signals: shared data folder missing, skipped\n");
		engine_unref(en);
		return;
	}
	v = tu_screen(en, "{\"id\":\"p1\",\"type\":\"partnership\",\"description\":\"CRISPR genome "
		      "editing.\",\"parties\":[{\"role\":\"partner\",\"name\":\"Obscure Avionics "
		      "Subsidiary Ltd\",\"country\":\"GB\",\"kind\":\"company\",\"parent\":\"Aviation "
		      "Industry Corporation of China\"}]}");
	ck_assert_ptr_nonnull(finding(v, "kv.partner.parent_listed"));
	ck_assert_str_eq(decision(v), "escalate");
	json_decref(v);
	/* The institute's own list, matched by an alias the party gives. */
	v = tu_screen(en, "{\"id\":\"p0\",\"type\":\"partnership\",\"description\":\"CRISPR genome "
		      "editing.\",\"parties\":[{\"role\":\"partner\",\"name\":\"Ballistics Research "
		      "Centre\",\"aliases\":[\"NIAB\"],\"country\":\"TR\",\"kind\":\"research_institute\"}]}");
	ck_assert_ptr_nonnull(finding(v, "kv.partner.listed"));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
		finding(v, "kv.partner.listed"), "rationale")), "own list"));
	ck_assert_str_eq(decision(v), "escalate");
	json_decref(v);
	v = tu_screen(en, "{\"id\":\"p2\",\"type\":\"partnership\",\"description\":\"Fragmentation "
		      "warheads.\",\"people\":[{\"name\":\"A. Researcher\",\"role\":\"visiting researcher\","
		      "\"affiliation\":\"Beihang University\"}]}");
	ck_assert_ptr_nonnull(finding(v, "kv.partner.listed"));
	ck_assert_str_eq(decision(v), "escalate");
	json_decref(v);
	v = tu_screen(en, "{\"id\":\"p3\",\"type\":\"partnership\",\"description\":\"CRISPR genome "
		      "editing.\",\"parties\":[{\"role\":\"partner\",\"name\":\"Some Army Research Lab\","
		      "\"country\":\"BY\",\"kind\":\"military\"}]}");
	ck_assert_ptr_nonnull(finding(v, "kv.partner.military"));
	ck_assert_str_eq(decision(v), "escalate");
	json_decref(v);
	v = tu_screen(en, "{\"id\":\"p4\",\"type\":\"partnership\",\"description\":\"CRISPR genome "
		      "editing.\",\"parties\":[{\"role\":\"partner\",\"name\":\"Norwegian Defence "
		      "Research Establishment\",\"country\":\"NO\",\"kind\":\"military\"}]}");
	ck_assert_str_eq(decision(v), "clear");        /* trusted military: low */
	json_decref(v);
	v = tu_screen(en, "{\"id\":\"p5\",\"type\":\"partnership\",\"description\":\"CRISPR genome "
		      "editing.\",\"parties\":[{\"role\":\"funder\",\"name\":\"Bamako Seed Fund\","
		      "\"country\":\"ML\",\"kind\":\"company\",\"state_owned\":true}]}");
	ck_assert_ptr_nonnull(finding(v, "kv.partner.state_owned"));
	ck_assert_str_eq(decision(v), "review");       /* ML medium + state-owned = high */
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* State ownership is one factor: a state conservatory of music in a country
 * with signals, on music, is not a knowledge-security case; the same partner
 * on sensitive knowledge weighs one level above its country. */
START_TEST(state_owned_is_one_factor)
{
	struct engine *en = kv_engine(NULL);
	json_t *v = tu_screen(en,
		"{\"id\":\"m1\",\"type\":\"partnership\",\"title\":\"Exchange in music "
		"performance\",\"description\":\"Student and teacher exchange in piano performance "
		"and composition.\",\"technology\":{\"keywords\":[\"music\"]},\"parties\":[{\"role\":"
		"\"partner\",\"name\":\"Central Conservatory of Music\",\"country\":\"CN\",\"kind\":"
		"\"university\",\"state_owned\":true}],\"cooperation\":{\"form\":\"education\","
		"\"duration_months\":24}}");
	json_t *f = finding(v, "kv.partner.state_owned");

	ck_assert_str_eq(decision(v), "clear");
	ck_assert_ptr_nonnull(strstr(risk_title(v), "risk low"));
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(f, "rationale")),
				     "not sensitive"));
	ck_assert_ptr_null(json_object_get(finding(v, "kv.risk"), "action"));
	json_decref(v);
	v = tu_screen(en,
		"{\"id\":\"m2\",\"type\":\"partnership\",\"title\":\"Integrated photonics\","
		"\"description\":\"Photonic integrated circuits for optical transceivers.\","
		"\"parties\":[{\"role\":\"partner\",\"name\":\"Central Photonics Institute\","
		"\"country\":\"CN\",\"kind\":\"research_institute\",\"state_owned\":true}],"
		"\"cooperation\":{\"form\":\"joint_research\",\"duration_months\":24}}");
	ck_assert_str_ne(decision(v), "clear");
	ck_assert_ptr_nonnull(strstr(risk_title(v), "counterparty very high"));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(finding(v, "kv.risk"),
		"action")), "research-security advisor"));
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* An export to a listed university is judged on the partner too (the
 * default screen_export), not on the item alone. */
START_TEST(export_to_listed_university)
{
	struct engine *en;
	json_t *v;

	if (!shared_data()) {
		printf("export_to_listed_university: shared data folder missing, skipped\n");
		return;
	}
	en = kv_engine(NULL);
	v = tu_screen(en,
		"{\"id\":\"x1\",\"type\":\"export\",\"items\":[{\"description\":\"Laboratory "
		"power supply\",\"kind\":\"goods\"}],\"destination\":{\"country\":\"CN\"},"
		"\"parties\":[{\"role\":\"consignee\",\"name\":\"HARBIN INSTITUTE OF TECHNOLOGY\","
		"\"country\":\"CN\",\"kind\":\"university\"}]}");
	ck_assert_ptr_nonnull(finding(v, "kv.partner.listed"));
	ck_assert_ptr_nonnull(finding(v, "kv.risk"));
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* Export requests by default (screen_export), investment ones when configured. */
START_TEST(other_types)
{
	const char *exp = "{\"id\":\"e1\",\"type\":\"export\",\"items\":[{\"description\":"
			  "\"Phased-array radar module\"}],\"destination\":{\"country\":\"RU\"}}";
	struct engine *en = kv_engine(" screen_export = false;");
	json_t *v = tu_screen(en, exp);

	ck_assert_ptr_null(finding(v, "kv.risk"));
	json_decref(v);
	engine_unref(en);
	en = kv_engine(NULL);
	v = tu_screen(en, exp);
	ck_assert_ptr_nonnull(finding(v, "kv.country.RU"));
	ck_assert_str_eq(decision(v), "escalate");
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* Relative paths, as in the in-tree configuration, with a configuration
 * named relative to the working directory: each is resolved once. */
START_TEST(relative_paths)
{
	char *tax = src_path("conf/rules/kennisveiligheid/taxonomy.conf");
	char *ctry = src_path("conf/kennisveiligheid/countries.conf");
	char *text, *path, *dir, *link1, *link2, cwd[4096];
	struct cfg_errors e = { .out = stderr };
	struct engine *en = NULL;
	json_t *v;

	ck_assert(asprintf(&text, "daemon: { plugin_dir = \"%s/plugins\"; };\n"
			   "plugins: { kennisveiligheid: { taxonomy = \"rules/taxonomy.conf\"; "
			   "countries = \"countries.conf\"; }; };\n", builddir()) > 0);
	path = tu_write_config(text);
	dir = strdup(path);
	*strrchr(dir, '/') = '\0';
	ck_assert(asprintf(&link1, "%s/rules", dir) > 0);
	ck_assert_int_eq(mkdir(link1, 0700), 0);
	free(link1);
	ck_assert(asprintf(&link1, "%s/rules/taxonomy.conf", dir) > 0);
	ck_assert(asprintf(&link2, "%s/countries.conf", dir) > 0);
	ck_assert_int_eq(symlink(tax, link1), 0);
	ck_assert_int_eq(symlink(ctry, link2), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(strncmp(path, "/tmp/", 5), 0);
	ck_assert_int_eq(chdir("/tmp"), 0);
	ck_assert_int_eq(engine_open(path + 5, &en, &e), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	v = tu_screen(en, "{\"id\":\"r1\",\"type\":\"partnership\",\"description\":\"A "
		      "superconducting quantum processor.\",\"parties\":[{\"role\":\"partner\","
		      "\"name\":\"X\",\"country\":\"RU\"}]}");
	ck_assert_str_eq(decision(v), "escalate");
	json_decref(v);
	engine_unref(en);
	unlink(link1);
	unlink(link2);
	*strrchr(link1, '/') = '\0';
	rmdir(link1);
	free(link1);
	free(link2);
	free(dir);
	free(path);
	free(text);
	free(tax);
	free(ctry);
}
END_TEST

/* ---- Configuration errors name the file and line or the option ---- */

static void expect_error(const char *extra, const char *want)
{
	char *text = kv_config(extra), *path = tu_write_config(text), *out = NULL;
	size_t outlen = 0;
	FILE *mem = open_memstream(&out, &outlen);
	struct cfg_errors e = { .out = mem };
	struct engine *en = NULL;

	ck_assert_int_ne(engine_open(path, &en, &e), 0);
	ck_assert_ptr_null(en);
	fclose(mem);
	ck_assert_msg(strstr(out, want) != NULL, "expected \"%s\" in \"%s\"", want, out);
	free(out);
	free(path);
	free(text);
}

START_TEST(config_errors)
{
	char dir[] = "/tmp/kvs-kv-XXXXXX", *bad, *opt;
	FILE *f;

	expect_error(" matrix = [ \"LLLM\", \"LLMH\", \"LMMV\" ];", "needs 4 rows, has 3");
	expect_error(" matrix = [ \"LLMM\", \"LLMH\", \"LMXV\", \"LMHV\" ];",
		     "row 3 \"LMXV\": 'X' is not L, M, H or V");
	expect_error(" signal_weights = [ \"no_such_signal=5\" ];", "no such signal");
	expect_error(" factors = [ \"form.joint_lab=abc\" ];", "factor must be a number");
	expect_error(" severity_high = \"severe\";", "kvscreend.conf:11: severity_high: \"severe\" is not a severity (info, low, medium, high or critical)");
	expect_error(" lists = [ \"kvs:x\" ];", "is not format:name:severity:path");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert(asprintf(&bad, "%s/countries.conf", dir) > 0);
	f = fopen(bad, "w");
	ck_assert_ptr_nonnull(f);
	fputs("signals: { s1: { title = \"t\"; weight = 10; reference = \"r\"; }; };\n"
	      "countries: {\n  CN: { name = \"China\"; signals = ( { id = \"s2\"; source = \"x\"; } ); };\n};\n", f);
	fclose(f);
	ck_assert(asprintf(&opt, " countries = \"%s\";", bad) > 0);
	/* The option given twice would be a libconfig error: rewrite it. */
	{
		char *text = kv_config(NULL), *at = strstr(text, " countries = \""), *end, *t2;

		end = strchr(at + 14, '"');
		ck_assert(asprintf(&t2, "%.*s%s%s", (int)(at - text), text, opt, end + 2) > 0);
		{
			char *path = tu_write_config(t2), *out = NULL;
			size_t outlen = 0;
			FILE *mem = open_memstream(&out, &outlen);
			struct cfg_errors e = { .out = mem };
			struct engine *en = NULL;
			char want[512];

			ck_assert_int_ne(engine_open(path, &en, &e), 0);
			fclose(mem);
			snprintf(want, sizeof(want), "%s:3: country CN: unknown signal \"s2\"", bad);
			ck_assert_msg(strstr(out, want) != NULL, "expected \"%s\" in \"%s\"", want, out);
			free(out);
			free(path);
		}
		free(t2);
		free(text);
	}
	unlink(bad);
	rmdir(dir);
	free(bad);
	free(opt);
}
END_TEST

/* ---- Real projects: CORDIS ---- */

/* A minimal RFC 4180 reader: the next row of a CSV buffer into fields
 * (pointers into a copy that it NUL-terminates in place). */
struct csv {
	char *p;
};

static size_t csv_row(struct csv *c, char **fields, size_t max)
{
	size_t n = 0;
	char *out;

	if (!*c->p)
		return 0;
	for (;;) {
		char *start = c->p;

		out = c->p;
		if (*c->p == '"') {
			c->p++;
			start = out = c->p;
			for (;;) {
				if (!*c->p)
					break;
				if (*c->p == '"' && c->p[1] == '"') {
					*out++ = '"';
					c->p += 2;
				} else if (*c->p == '"') {
					c->p++;
					break;
				} else {
					*out++ = *c->p++;
				}
			}
		} else {
			while (*c->p && *c->p != ',' && *c->p != '\n' && *c->p != '\r')
				out = ++c->p;
		}
		if (n < max)
			fields[n++] = start;
		{
			char sep = *c->p;

			*out = '\0';
			if (sep == ',') {
				c->p++;
				continue;
			}
			if (sep == '\r' || sep == '\n')
				c->p++;
			if (sep == '\r' && *c->p == '\n')
				c->p++;
			return n;
		}
	}
}

static int col(char **hdr, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(hdr[i], name))
			return (int)i;
	ck_abort_msg("no column %s", name);
	return -1;
}

static const char *iso(const char *cordis)
{
	if (!strcmp(cordis, "UK"))
		return "GB";
	if (!strcmp(cordis, "EL"))
		return "GR";
	return cordis;
}

static const char *kind_of(const char *t)
{
	return !strcmp(t, "HES") ? "university" : !strcmp(t, "REC") ? "research_institute" :
	       !strcmp(t, "PRC") ? "company" : !strcmp(t, "PUB") ? "government" : "other";
}

struct project {
	char *id;
	json_t *req;
	int trusted_only;
};

/* Build partnership requests from a CORDIS project CSV and organisation CSV. */
static size_t cordis_load(const char *pfile, const char *ofile, const char *pid_col,
			  const char *title_col, const char *obj_col, const char *kw_col,
			  const char *o_pid, const char *o_name, const char *o_country,
			  const char *o_type, struct project **out)
{
	char *pbuf = tu_read_file(pfile), *obuf = tu_read_file(ofile), *h[64], *f[64];
	struct csv c = { pbuf };
	struct project *v = NULL;
	size_t n = 0, nh, nf;
	int ip, it, io, ik, jp, jn, jc, jt;

	nh = csv_row(&c, h, 64);
	ip = col(h, nh, pid_col);
	it = col(h, nh, title_col);
	io = col(h, nh, obj_col);
	ik = kw_col ? col(h, nh, kw_col) : -1;
	while ((nf = csv_row(&c, f, 64)) > 0) {
		json_t *req;

		if (nf != nh)
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		ck_assert_ptr_nonnull(v);
		req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[]}", "schema", "kvscreen.request/v1",
				"id", f[ip], "type", "partnership", "title", f[it],
				"description", f[io], "parties");
		ck_assert_ptr_nonnull(req);
		if (ik >= 0 && *f[ik])
			json_object_set_new(req, "technology", json_pack("{s:[s]}", "keywords", f[ik]));
		v[n].id = strdup(f[ip]);
		v[n].req = req;
		v[n].trusted_only = 1;
		n++;
	}
	c.p = obuf;
	nh = csv_row(&c, h, 64);
	jp = col(h, nh, o_pid);
	jn = col(h, nh, o_name);
	jc = col(h, nh, o_country);
	jt = col(h, nh, o_type);
	while ((nf = csv_row(&c, f, 64)) > 0) {
		const char *cc;
		json_t *p, *parties;

		if (nf != nh)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(v[i].id, f[jp]))
				continue;
			parties = json_object_get(v[i].req, "parties");
			if (json_array_size(parties) >= 100 || !*f[jn])
				break;
			cc = iso(f[jc]);
			p = json_pack("{s:s, s:s, s:s}", "role", "partner", "name", f[jn],
				      "kind", kind_of(f[jt]));
			if (country_valid(cc))
				json_object_set_new(p, "country", json_string(cc));
			json_array_append_new(parties, p);
			if (!strstr(" AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT "
				    "RO SK SI ES SE IS LI NO CH GB US CA AU NZ JP KR SG ", cc) ||
			    strlen(cc) != 2)
				v[i].trusted_only = 0;
			break;
		}
	}
	free(pbuf);
	free(obuf);
	*out = v;
	return n;
}

static void projects_free(struct project *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		json_decref(v[i].req);
	}
	free(v);
}

/* How often each node was the most sensitive one of a project. */
static struct { char rule[96]; size_t n; } tallies[128];
static size_t n_tallies;

static void tally(const char *rule)
{
	for (size_t i = 0; i < n_tallies; i++)
		if (!strcmp(tallies[i].rule, rule)) {
			tallies[i].n++;
			return;
		}
	if (n_tallies < 128) {
		snprintf(tallies[n_tallies].rule, sizeof(tallies[n_tallies].rule), "%s", rule);
		tallies[n_tallies++].n = 1;
	}
}

static void tally_print(void)
{
	printf("most sensitive node per project:");
	for (size_t i = 0; i < n_tallies; i++)
		printf(" %s %zu;", tallies[i].rule + 8, tallies[i].n);
	printf("\n");
}

START_TEST(cordis_china_partner_projects)
{
	const char *data = shared_data();
	char pf[2200], of[2200];	/* shared_data_dir() may be 2047 bytes long */
	struct project *v;
	size_t n, count[4] = {0}, listed_sensitive = 0;
	struct engine *en;
	static const char *const names[4] = { "clear", "review", "escalate", "deny" };

	if (!data) {
		printf("cordis: shared data folder missing, skipped\n");
		return;
	}
	snprintf(pf, sizeof(pf), "%s/cordis-china-partner-projects/projects.csv", data);
	snprintf(of, sizeof(of), "%s/cordis-china-partner-projects/organizations.csv", data);
	n = cordis_load(pf, of, "project_id", "title", "objective", "keywords", "project_id",
			"org_name", "country", "org_type", &v);
	ck_assert_uint_eq(n, 383);
	en = kv_engine(NULL);
	for (size_t i = 0; i < n; i++) {
		json_t *vd = screen_obj(en, v[i].req), *lf = finding(vd, "kv.partner.listed"),
		       *af = finding(vd, "kv.area.");
		const char *d = decision(vd);

		if (af)
			tally(json_string_value(json_object_get(af, "rule")));
		for (int k = 0; k < 4; k++)
			count[k] += !strcmp(d, names[k]);
		/* A listed defence-linked partner (very high) on a sensitive
		 * topic (a node of sensitivity medium or more) escalates. */
		if (lf && af && strstr(json_string_value(json_object_get(lf, "title")), "very high") &&
		    !strstr(json_string_value(json_object_get(af, "title")), "sensitivity low") &&
		    !strstr(json_string_value(json_object_get(af, "title")), "sensitivity info")) {
			listed_sensitive++;
			ck_assert_msg(!strcmp(d, "escalate") || !strcmp(d, "deny"),
				      "project %s: listed partner on a sensitive topic is %s", v[i].id, d);
		}
		json_decref(vd);
	}
	printf("cordis China-partner projects (%zu): clear %zu (%.0f%%), review %zu (%.0f%%), "
	       "escalate %zu (%.0f%%), deny %zu; %zu with a very-high listed partner on a "
	       "sensitive topic\n", n, count[0], 100.0 * count[0] / n, count[1],
	       100.0 * count[1] / n, count[2], 100.0 * count[2] / n, count[3], listed_sensitive);
	tally_print();
	ck_assert_uint_gt(listed_sensitive, 0);
	ck_assert_uint_gt(count[0], 0);
	engine_unref(en);
	projects_free(v, n);
}
END_TEST

START_TEST(cordis_horizon_sample)
{
	const char *data = shared_data();
	char pf[2200], of[2200];
	struct project *v;
	size_t n, trusted = 0, clear = 0;
	struct engine *en;

	if (!data) {
		printf("cordis sample: shared data folder missing, skipped\n");
		return;
	}
	snprintf(pf, sizeof(pf), "%s/cordis-horizon-europe-sample-100/project_df_100.csv", data);
	snprintf(of, sizeof(of), "%s/cordis-horizon-europe-sample-100/organization_df_100.csv", data);
	n = cordis_load(pf, of, "id", "title", "objective", NULL, "projectID", "name",
			"country", "activityType", &v);
	ck_assert_uint_ge(n, 90);
	en = kv_engine(NULL);
	for (size_t i = 0; i < n; i++) {
		json_t *vd = screen_obj(en, v[i].req);

		if (v[i].trusted_only && json_array_size(json_object_get(v[i].req, "parties"))) {
			trusted++;
			clear += !strcmp(decision(vd), "clear");
			ck_assert_msg(!strcmp(decision(vd), "clear"),
				      "project %s with EU/allied partners only is %s: %s", v[i].id,
				      decision(vd), risk_title(vd));
		}
		json_decref(vd);
	}
	printf("cordis Horizon Europe sample: %zu projects, %zu with EU/allied partners only, "
	       "%zu of those clear\n", n, trusted, clear);
	ck_assert_uint_ge(trusted, 30);
	engine_unref(en);
	projects_free(v, n);
}
END_TEST

/* The soil-moisture sensor project of the issue, through the pipeline. */
START_TEST(soil_moisture_request)
{
	struct engine *en = kv_engine(NULL);
	json_t *v = tu_screen(en,
		"{\"id\":\"s1\",\"type\":\"partnership\",\"title\":\"Sensor fusion for "
		"precision irrigation\",\"description\":\"A wireless sensor network of soil moisture "
		"sensors, fused with satellite data, schedules irrigation of crops.\",\"parties\":["
		"{\"role\":\"partner\",\"name\":\"Nanjing Agricultural University\",\"country\":\"CN\","
		"\"kind\":\"university\"}],\"cooperation\":{\"form\":\"joint_research\"}}");

	ck_assert_ptr_null(finding(v, "kv.area.NLD.SENSORS."));
	ck_assert_str_ne(decision(v), "escalate");
	json_decref(v);
	engine_unref(en);
}
END_TEST

/* Speed: a 20 KB partnership request with 10 parties, this plugin alone.
 * The text is real CORDIS objectives when the shared data is there. */
START_TEST(speed)
{
	static const char unit[] = "Research on radar signal processing, soil moisture sensors "
				   "and quantum computing for the benefit of society. ";
	struct engine *en = kv_engine(NULL);
	json_t *req = json_pack("{s:s, s:s, s:s, s:[]}", "id", "b1", "type", "partnership",
				"title", "Benchmark", "parties");
	const char *data = shared_data();
	char *desc = calloc(1, 20001), *s;
	double plugin_us = 0, min_us = 1e12;
	size_t len = 0;
	json_t *v;
	const int runs = 50;

	if (data) {
		char pf[2200], *buf, *h[64], *f[64];
		struct csv c;
		size_t nh, nf;
		int io;

		snprintf(pf, sizeof(pf), "%s/cordis-china-partner-projects/projects.csv", data);
		buf = tu_read_file(pf);
		c.p = buf;
		nh = csv_row(&c, h, 64);
		io = col(h, nh, "objective");
		while ((nf = csv_row(&c, f, 64)) > 0)
			if (nf == nh && len + strlen(f[io]) + 1 < 20000) {
				memcpy(desc + len, f[io], strlen(f[io]));
				len += strlen(f[io]);
				desc[len++] = ' ';
			}
		free(buf);
	}
	for (; len < 20000; len++)
		desc[len] = unit[len % (sizeof(unit) - 1)];
	desc[len] = '\0';
	json_object_set_new(req, "description", json_string(desc));
	for (int i = 0; i < 10; i++) {
		char name[64];

		snprintf(name, sizeof(name), "Partner University Number %d", i);
		json_array_append_new(json_object_get(req, "parties"),
			json_pack("{s:s, s:s, s:s}", "role", "partner", "name",
				  i == 3 ? "Beihang University" : name, "country", i % 2 ? "CN" : "DE"));
	}
	s = json_dumps(req, JSON_COMPACT);
	for (int i = 0; i < runs; i++) {
		double us;

		v = tu_screen(en, s);
		us = (double)json_integer_value(json_object_get(
			json_array_get(json_object_get(v, "plugins"), 0), "duration_us"));
		plugin_us += us;
		if (us < min_us)
			min_us = us;
		json_decref(v);
	}
	printf("speed: %zu-byte request (%s text), 10 parties, one at a time: plugin mean %.0f us, "
	       "min %.0f us (of %d)\n", strlen(s), data ? "CORDIS" : "synthetic",
	       plugin_us / runs, min_us, runs);
	ck_assert_double_lt(min_us, 100000.0);
	free(s);
	free(desc);
	json_decref(req);
	engine_unref(en);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("kennisveiligheid");
	TCase *t = tcase_create("plugin");

	tcase_add_test(t, combination_matrix);
	tcase_add_test(t, combination_cooperation);
	tcase_add_test(t, partner_quantum_seven_sons);
	tcase_add_test(t, partner_signals);
	tcase_add_test(t, other_types);
	tcase_add_test(t, state_owned_is_one_factor);
	tcase_add_test(t, export_to_listed_university);
	tcase_add_test(t, config_errors);
	tcase_add_test(t, relative_paths);
	tcase_add_test(t, soil_moisture_request);
	tcase_add_test(t, cordis_china_partner_projects);
	tcase_add_test(t, cordis_horizon_sample);
	suite_add_tcase(s, t);
	/* Its own case, so tests/bench/kennisveiligheid.sh can run it alone. */
	t = tcase_create("speed");
	tcase_add_test(t, speed);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return ck_main(suite());
}
