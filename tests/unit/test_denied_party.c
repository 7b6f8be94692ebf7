/* test_denied_party.c - the denied_party plugin through the real pipeline:
 * findings with evidence, allow-list, list versions, staleness and
 * configuration errors. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline.h"
#include "shared_data.h"
#include "testutil.h"
#include "ck_main.h"

static const char *shared_dir(void)
{
	const char *d = shared_data_dir();

	return d ? d : "/nonexistent";
}

static const char *build_dir(void)
{
	const char *b = getenv("KVS_BUILDDIR");

	return b && *b ? b : KVS_BUILDDIR;
}

/* Engine with the plugin, its lists plus `extra` (a quoted list spec with
 * a leading comma, or "") and the given option lines. */
static struct engine *engine_x(const char *extra, const char *options)
{
	char *conf, *own = tu_src("conf/lists/institute-own.csv");
	struct engine *en;

	ck_assert(asprintf(&conf,
		"daemon: { plugin_dir = \"%s/plugins/denied_party/.libs\"; };\n"
		"plugins: { denied_party: {\n"
		"  lists = [ \"kvs:institute_own:high:%s\",\n"
		"            \"aspi:aspi:medium:%s/aspi-china-defence-universities/china-defence-universities.json\"%s ];\n"
		"  %s\n"
		"}; };\n", build_dir(), own, shared_dir(), extra, options) > 0);
	en = tu_engine(conf);
	free(conf);
	free(own);
	return en;
}

static struct engine *engine(const char *options)
{
	return engine_x("", options);
}

static json_t *finding(json_t *v, const char *rule, size_t nth)
{
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(v, "findings"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "rule")), rule) == 0 &&
		    nth-- == 0)
			return f;
	return NULL;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

START_TEST(party_and_person_hits)
{
	struct engine *en = engine("max_age_days = 36500;");
	json_t *v = tu_screen(en,
		"{\"id\":\"dp1\",\"type\":\"partnership\",\"title\":\"joint lab\","
		"\"parties\":[{\"role\":\"partner\",\"name\":\"Delft University of Technology\"},"
		"{\"role\":\"partner\",\"name\":\"Beijing Univ. of Aeronautics & Astronautics\","
		"\"aliases\":[\"北京航空航天大学\"],\"country\":\"CN\"}],"
		"\"people\":[{\"name\":\"Li Wei\",\"affiliation\":\"Harbin Inst. of Technology\"}]}");
	json_t *f, *ev;

	ck_assert_str_eq(str(v, "decision"), "escalate");
	/* The list versions are part of every verdict. */
	f = finding(v, "denied_party.lists", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "aspi (aspi, 159 entries"));
	ck_assert_ptr_null(finding(v, "denied_party.stale_list", 0));
	/* The party name, with the whole name as evidence. */
	f = finding(v, "denied_party.match", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(str(f, "severity"), "high");
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(str(ev, "path"), "/parties/1/name");
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "start")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "end")),
			 strlen("Beijing Univ. of Aeronautics & Astronautics"));
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "Beihang University"));
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "with score 1.000"));
	ck_assert_ptr_nonnull(strstr(str(f, "title"), "aspi entry ab28c949"));
	/* The Chinese-script alias. */
	f = finding(v, "denied_party.match", 1);
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(str(ev, "path"), "/parties/1/aliases/0");
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "the alias \"北京航空航天大学\""));
	/* The affiliation of a person. */
	f = finding(v, "denied_party.match", 2);
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(str(ev, "path"), "/people/0/affiliation");
	ck_assert_ptr_null(finding(v, "denied_party.match", 3));
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(allow_list_suppresses)
{
	char *allow = tu_src("conf/lists/allow-list.csv"), *opt;
	struct engine *en;
	json_t *v, *f;

	ck_assert(asprintf(&opt, "allow_list = \"%s\"; max_age_days = 36500;", allow) > 0);
	en = engine(opt);
	/* "Example Photonics BV" is allow-listed against OWN-0001; the
	 * listed trader itself is not. */
	v = tu_screen(en,
		"{\"id\":\"dp2\",\"type\":\"export\",\"title\":\"optics\","
		"\"parties\":[{\"role\":\"consignee\",\"name\":\"Example Photonics B.V.\"},"
		"{\"role\":\"end_user\",\"name\":\"EXAMPLE PHOTONICS TRADING LIMITED\"}]}");
	f = finding(v, "denied_party.allow_listed", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(str(f, "severity"), "info");
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "decided by J. Jansen (export control officer)"));
	ck_assert_str_eq(str(json_array_get(json_object_get(f, "evidence"), 0), "path"),
			 "/parties/0/name");
	f = finding(v, "denied_party.match", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(str(json_array_get(json_object_get(f, "evidence"), 0), "path"),
			 "/parties/1/name");
	ck_assert_str_eq(str(v, "decision"), "escalate");
	json_decref(v);
	engine_unref(en);
	free(opt);
	free(allow);
}
END_TEST

START_TEST(clear_and_stale)
{
	/* The UN list says it was generated on 2026-02-27. */
	char *un;
	struct engine *en;
	json_t *v, *f;

	ck_assert(asprintf(&un, ", \"un:un:critical:%s/un-sc-consolidated-2026/UN_consolidated.xml\"",
			   shared_dir()) > 0);
	en = engine_x(un, "max_age_days = 1;");
	free(un);
	v = tu_screen(en,
		"{\"id\":\"dp3\",\"type\":\"investment\",\"title\":\"spin-off\","
		"\"parties\":[{\"role\":\"acquirer\",\"name\":\"Stichting Utrecht Holdings\"},"
		"{\"role\":\"target\",\"name\":\"Tiny Optics B.V.\"}]}");
	f = finding(v, "denied_party.stale_list", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(str(f, "severity"), "medium");
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "un is "));
	ck_assert_str_eq(str(v, "decision"), "review");
	json_decref(v);
	engine_unref(en);
	/* A list without a date of its own takes the configured one. */
	en = engine("max_age_days = 400; list_dates = [ \"institute_own=2020-01-31\" ];");
	v = tu_screen(en, "{\"id\":\"dp5\",\"type\":\"export\",\"title\":\"x\"}");
	f = finding(v, "denied_party.stale_list", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "institute_own is "));
	ck_assert_ptr_null(strstr(str(f, "rationale"), "aspi"));
	f = finding(v, "denied_party.lists", 0);
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "data date 2020-01-31"));
	ck_assert_ptr_null(finding(v, "denied_party.match", 0));
	{
		/* Bound to the list's digest, the date holds while the file is
		 * that one; for another file its modification time counts. */
		const char *d = strstr(str(f, "rationale"), "institute_own (");
		char digest[17], conf[256];

		ck_assert_ptr_nonnull(d);
		d = strstr(d, "sha256 ");
		ck_assert_ptr_nonnull(d);
		memcpy(digest, d + 7, 16);
		digest[16] = '\0';
		json_decref(v);
		engine_unref(en);
		snprintf(conf, sizeof(conf), "max_age_days = 400; stale_severity = \"low\"; "
			 "list_dates = [ \"institute_own=2020-01-31@%s\" ];", digest);
		en = engine(conf);
		v = tu_screen(en, "{\"id\":\"dp6\",\"type\":\"export\",\"title\":\"x\"}");
		f = finding(v, "denied_party.stale_list", 0);
		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "institute_own is "));
		ck_assert_str_eq(str(f, "severity"), "low");
		ck_assert_str_eq(str(v, "decision"), "clear");
		json_decref(v);
		engine_unref(en);
		en = engine("max_age_days = 400; list_dates = "
			    "[ \"institute_own=2020-01-31@0123456789abcdef\" ];");
		v = tu_screen(en, "{\"id\":\"dp7\",\"type\":\"export\",\"title\":\"x\"}");
		f = finding(v, "denied_party.stale_list", 0);
		ck_assert(f == NULL || !strstr(str(f, "rationale"), "institute_own is "));
		f = finding(v, "denied_party.lists", 0);
		ck_assert_ptr_null(strstr(str(f, "rationale"), "data date 2020-01-31"));
	}
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(country_mismatch)
{
	static const char *const req =
		"{\"id\":\"dp4\",\"type\":\"export\",\"title\":\"optics\","
		"\"parties\":[{\"role\":\"end_user\",\"name\":\"Example Photonics Trading\","
		"\"country\":\"NL\"}]}";
	struct engine *en = engine("max_age_days = 36500;");
	json_t *v = tu_screen(en, req), *f;

	/* The listed trader is in HK: the score loses 0.05, and says so. */
	f = finding(v, "denied_party.match", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"),
				     "with score 0.950 (name similarity 1.000"));
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"),
				     "country mismatch: request NL, list HK (-0.05)"));
	json_decref(v);
	engine_unref(en);
	/* A penalty that takes the score under the threshold drops the hit. */
	en = engine("max_age_days = 36500; country_penalty = 0.5;");
	v = tu_screen(en, req);
	ck_assert_ptr_null(finding(v, "denied_party.match", 0));
	json_decref(v);
	engine_unref(en);
}
END_TEST


/* The decision of `req` and the evidence path of its first match. */
static void expect(struct engine *en, const char *req, const char *decision, const char *path,
		   const char *title_part)
{
	json_t *v = tu_screen(en, req), *f;

	ck_assert_msg(strcmp(str(v, "decision"), decision) == 0, "%s: %s", req, str(v, "decision"));
	f = finding(v, "denied_party.match", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(str(json_array_get(json_object_get(f, "evidence"), 0), "path"), path);
	ck_assert_msg(strstr(str(f, "title"), title_part) != NULL, "%s", str(f, "title"));
	json_decref(v);
}

/* Every name of a request is screened: an OFAC SDN name gives deny as a
 * party, its parent, its ultimate beneficial owner (a name or an array of
 * names), whatever the party's role. */
START_TEST(every_name_screened)
{
	char *extra;
	struct engine *en;

	ck_assert(asprintf(&extra, ", \"ofac:ofac_sdn:critical:%s/ofac-sdn-2021/sdn.csv\"",
			   shared_dir()) > 0);
	en = engine_x(extra, "max_age_days = 36500;");
	expect(en, "{\"id\":\"n1\",\"type\":\"investment\",\"title\":\"stake\",\"parties\":["
		   "{\"role\":\"acquirer\",\"name\":\"Caribe Holding BV\",\"parent\":\"BANCO NACIONAL DE CUBA\"}]}",
	       "deny", "/parties/0/parent", "Parent of the acquirer");
	expect(en, "{\"id\":\"n2\",\"type\":\"investment\",\"title\":\"stake\",\"parties\":["
		   "{\"role\":\"acquirer\",\"name\":\"Caribe Holding BV\",\"ubo\":\"BANCO NACIONAL DE CUBA\"}]}",
	       "deny", "/parties/0/ubo", "Ultimate beneficial owner of the acquirer");
	expect(en, "{\"id\":\"n3\",\"type\":\"investment\",\"title\":\"stake\",\"parties\":["
		   "{\"role\":\"acquirer\",\"name\":\"Caribe Holding BV\",\"ubo\":[\"Jan Jansen\","
		   "\"BANCO NACIONAL DE CUBA\"]}]}",
	       "deny", "/parties/0/ubo/1", "Ultimate beneficial owner");
	expect(en, "{\"id\":\"n4\",\"type\":\"export\",\"title\":\"parts\",\"parties\":["
		   "{\"role\":\"end_user\",\"name\":\"Delft Instruments\"},"
		   "{\"role\":\"intermediary\",\"name\":\"AEROCARIBBEAN AIRLINES\"}]}",
	       "deny", "/parties/1/name", "Intermediary \"AEROCARIBBEAN AIRLINES\"");
	expect(en, "{\"id\":\"n5\",\"type\":\"export\",\"title\":\"parts\",\"parties\":["
		   "{\"role\":\"consignee\",\"name\":\"Havana Trading\",\"aliases\":[\"AEROCARIBBEAN AIRLINES\"]}]}",
	       "deny", "/parties/0/aliases/0", "Alias of the consignee");
	engine_unref(en);
	free(extra);
}
END_TEST

/* "Caribe Holding BV" is neither the vessel CARIBE nor the vessel CARIBO
 * (OFAC SDN) nor CARIBEX (a CSL alias): no finding on the acquirer's name,
 * only on its listed parent; the vessel still matches its exact name. */
START_TEST(no_false_hits_on_short_names)
{
	char *extra;
	struct engine *en;
	json_t *v, *f;
	size_t i;

	ck_assert(asprintf(&extra, ", \"ofac:ofac_sdn:critical:%s/ofac-sdn-2021/sdn.csv\","
			   " \"csl:us_csl:high:%s/us-csl-2023-subset/csl.csv\"",
			   shared_dir(), shared_dir()) > 0);
	en = engine_x(extra, "max_age_days = 36500;");
	v = tu_screen(en, "{\"id\":\"c1\",\"type\":\"investment\",\"title\":\"stake\",\"parties\":["
			  "{\"role\":\"acquirer\",\"name\":\"Caribe Holding BV\","
			  "\"parent\":\"BANCO NACIONAL DE CUBA\"}]}");
	ck_assert_str_eq(str(v, "decision"), "deny");
	ck_assert_ptr_nonnull(finding(v, "denied_party.match", 0));
	for (i = 0; (f = finding(v, "denied_party.match", i)) != NULL; i++)
		ck_assert_msg(strcmp(str(json_array_get(json_object_get(f, "evidence"), 0), "path"),
				     "/parties/0/parent") == 0, "%s", str(f, "title"));
	json_decref(v);
	v = tu_screen(en, "{\"id\":\"c2\",\"type\":\"export\",\"title\":\"parts\",\"parties\":["
			  "{\"role\":\"consignee\",\"name\":\"Caribe Trading BV\"},"
			  "{\"role\":\"end_user\",\"name\":\"Caribo Holding\"}]}");
	ck_assert_ptr_null(finding(v, "denied_party.match", 0));
	json_decref(v);
	v = tu_screen(en, "{\"id\":\"c3\",\"type\":\"export\",\"title\":\"parts\",\"parties\":["
			  "{\"role\":\"consignee\",\"name\":\"CARIBE\"}]}");
	f = finding(v, "denied_party.match", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(str(f, "title"), "ofac_sdn entry 26642"));
	json_decref(v);
	engine_unref(en);
	free(extra);
}
END_TEST

/* The EU consolidated list (FSF XML): a Reg. 833/2014 Annex IV enterprise
 * as end user is a critical match; the list's date is its generationDate. */
START_TEST(eu_fsf_list)
{
	char *fsf = tu_src("tests/data/lists/eu_fsf.xml"), *extra;
	struct engine *en;
	json_t *v, *f;

	ck_assert(asprintf(&extra, ", \"eu_fsf:eu_fsf:critical:%s\"", fsf) > 0);
	en = engine_x(extra, "max_age_days = 36500;");
	v = tu_screen(en, "{\"id\":\"f1\",\"type\":\"export\",\"title\":\"camera\",\"parties\":["
			  "{\"role\":\"end_user\",\"name\":\"Admiralty Shipyard JSC\",\"country\":\"RU\"}]}");
	ck_assert_str_eq(str(v, "decision"), "deny");
	f = finding(v, "denied_party.match", 0);
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "program RUS Regulation 833/2014"));
	f = finding(v, "denied_party.lists", 0);
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "eu_fsf (eu_fsf, 83 entries"));
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "data date 2026-06-01T10:00"));
	ck_assert_ptr_null(finding(v, "denied_party.list_missing", 0));
	json_decref(v);
	engine_unref(en);
	free(extra);
	free(fsf);
}
END_TEST

/* A fresh install: the EU list (a built-in update source) is not there.
 * The configuration loads, and every verdict says the list is missing,
 * with the command to run, at missing_severity (review by default). */
START_TEST(missing_list_in_every_verdict)
{
	struct engine *en = engine_x(", \"eu_fsf:eu_fsf:critical:/nonexistent/eu-fsf/x.xml\"",
				     "max_age_days = 36500;");
	json_t *v, *f;

	v = tu_screen(en, "{\"id\":\"m1\",\"type\":\"partnership\",\"title\":\"joint research\","
			  "\"parties\":[{\"role\":\"partner\",\"name\":\"Delft University of Technology\"}]}");
	ck_assert_str_eq(str(v, "decision"), "review");
	f = finding(v, "denied_party.list_missing", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(str(f, "severity"), "medium");
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "eu_fsf (eu_fsf, /nonexistent/eu-fsf/x.xml)"));
	ck_assert_ptr_nonnull(strstr(str(f, "action"), "kvscreen lists update"));
	ck_assert_ptr_null(finding(v, "denied_party.stale_list", 0));
	json_decref(v);
	engine_unref(en);
	/* missing_severity decides how much it weighs. */
	en = engine_x(", \"eu_fsf:eu_fsf:critical:/nonexistent/eu-fsf/x.xml\"",
		      "max_age_days = 36500; missing_severity = \"high\";");
	v = tu_screen(en, "{\"id\":\"m2\",\"type\":\"export\",\"title\":\"laptops\"}");
	ck_assert_str_eq(str(v, "decision"), "escalate");
	ck_assert_ptr_nonnull(finding(v, "denied_party.list_missing", 0));
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(bad_config)
{
	static const char *const bad[] = {
		"lists = [ \"kvs:x:severe:/etc/hostname\" ];",
		"lists = [ \"nope:x:high:/etc/hostname\" ];",
		"lists = [ \"kvs:x:high\" ];",
		"lists = [ \"kvs:x:high:/nonexistent/list.csv\" ];",
		"lists = [ \"kvs:x:high:/etc/hostname\" ]; list_dates = [ \"x=yesterday\" ];",
		"lists = [ \"kvs:x:high:/etc/hostname\" ]; list_dates = [ \"x=2020-01-01@abc\" ];",
		"lists = [ \"kvs:x:high:/etc/hostname\" ]; list_dates = [ \"x=2020-01-01@ABCDEF12\" ];",
		"lists = [ \"kvs:x:high:/etc/hostname\" ]; stale_severity = \"urgent\";",
		"lists = [ \"kvs:x:high:/etc/hostname\" ]; missing_severity = \"urgent\";",
		/* A missing file of a list without an update source is an error. */
		"lists = [ \"eu_fsf:my_copy:critical:/nonexistent/eu-fsf/x.xml\" ];",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *conf, *path;
		struct cfg_errors e = { .out = NULL };
		struct engine *en = NULL;

		ck_assert(asprintf(&conf,
			"daemon: { plugin_dir = \"%s/plugins/denied_party/.libs\"; };\n"
			"plugins: { denied_party: { %s }; };\n", build_dir(), bad[i]) > 0);
		path = tu_write_config(conf);
		ck_assert_msg(engine_open(path, &en, &e) != 0, "accepted: %s", bad[i]);
		ck_assert_int_gt(e.count, 0);
		ck_assert_ptr_null(en);
		free(path);
		free(conf);
	}
}
END_TEST

START_TEST(strict_malformed_list)
{
	char *conf, *path, *badl = tu_src("tests/data/lists/bad_kvs.csv");
	char out[4096] = "";
	FILE *mem = fmemopen(out, sizeof(out) - 1, "w");
	struct cfg_errors e = { .out = mem };
	struct engine *en = NULL;

	ck_assert(asprintf(&conf,
		"daemon: { plugin_dir = \"%s/plugins/denied_party/.libs\"; };\n"
		"plugins: { denied_party: { strict = true; lists = [ \"kvs:own:high:%s\" ]; }; };\n",
		build_dir(), badl) > 0);
	path = tu_write_config(conf);
	ck_assert(engine_open(path, &en, &e) != 0);
	fclose(mem);
	ck_assert_msg(strstr(out, "bad_kvs.csv:3: severity \"severe\"") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "bad_kvs.csv:5: unterminated quoted field") != NULL, "%s", out);
	free(path);
	free(conf);
	free(badl);
}
END_TEST


/* The sanctions lists that list persons, with the plugin's own. */
static struct engine *engine_persons(void)
{
	char *extra;
	struct engine *en;

	ck_assert(asprintf(&extra,
		 ", \"un:un_sc:critical:%s/un-sc-consolidated-2026/UN_consolidated.xml\""
		 ", \"ofac:ofac_sdn:critical:%s/ofac-sdn-2021/sdn.csv\""
		 ", \"eu:eu:critical:%s/eu-sanctions-by-regulation/consolidated\""
		 ", \"csl:us_csl:high:%s/us-csl-2023-subset/csl.csv\"",
		 shared_dir(), shared_dir(), shared_dir(), shared_dir()) > 0);
	en = engine_x(extra, "max_age_days = 36500;");
	free(extra);
	return en;
}

/* No common person name is denied on the name alone: at least 500 names of
 * several cultures (tests/data/names/persons.tsv), each with its
 * nationality, against UN, OFAC, EU and CSL.  A name hit on a person is at
 * most escalate, says "name only — verify identity" and names the next
 * step. */
START_TEST(common_names_never_denied)
{
	struct engine *en = engine_persons();
	char *path = tu_src("tests/data/names/persons.tsv");
	char *buf = tu_read_file(path), *line, *save = NULL;
	size_t names = 0, escalated = 0, batch = 0;
	json_t *people = json_array();

	ck_assert_ptr_nonnull(buf);
	for (line = strtok_r(buf, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
		if (line && *line != '#') {
			char *tab = strchr(line, '\t');

			ck_assert_ptr_nonnull(tab);
			*tab = '\0';
			json_array_append_new(people, json_pack("{s:s, s:s}", "name", line,
								"nationality", tab + 1));
			names++;
		}
		if (json_array_size(people) == 25 || (!line && json_array_size(people))) {
			json_t *req = json_pack("{s:s, s:s, s:s, s:O}", "id", "p", "type",
						"partnership", "title", "visiting researchers",
						"people", people);
			char *body, id[32];
			json_t *v, *f;
			size_t i;

			snprintf(id, sizeof(id), "persons-%zu", batch++);
			json_object_set_new(req, "id", json_string(id));
			body = json_dumps(req, 0);
			v = tu_screen(en, body);
			ck_assert_msg(strcmp(str(v, "decision"), "deny") != 0,
				      "a common name was denied: %s", body);
			json_array_foreach(json_object_get(v, "findings"), i, f) {
				if (strcmp(str(f, "rule"), "denied_party.match") != 0)
					continue;
				ck_assert_str_ne(str(f, "severity"), "critical");
				if (strncmp(json_string_value(json_object_get(
					    json_array_get(json_object_get(f, "evidence"), 0), "path")),
					    "/people/", 8) == 0) {
					ck_assert_ptr_nonnull(strstr(str(f, "title"),
								     "name only — verify identity"));
					ck_assert_ptr_nonnull(str(f, "action"));
				}
			}
			escalated += strcmp(str(v, "decision"), "escalate") == 0;
			free(body);
			json_decref(v);
			json_decref(req);
			json_array_clear(people);
		}
		if (!line)
			break;
	}
	printf("common person names: %zu in %zu requests, none denied, %zu requests escalated\n",
	       names, batch, escalated);
	ck_assert_uint_ge(names, 500);
	json_decref(people);
	free(buf);
	free(path);
	engine_unref(en);
}
END_TEST

/* Date of birth and nationality decide a person hit: contradicting ones
 * make it an info finding (a namesake), an agreeing date of birth keeps
 * the list's severity (deny), and every finding says which agreed. */
START_TEST(person_identifiers)
{
	struct engine *en = engine_persons();
	json_t *v, *f;

	/* The UN lists GERMAIN KATANGA, born 1978-04-28, of the DR Congo. */
	v = tu_screen(en, "{\"id\":\"pi1\",\"type\":\"partnership\",\"title\":\"visit\","
		      "\"people\":[{\"name\":\"Germain Katanga\",\"nationality\":\"CD\","
		      "\"birth_date\":\"1978-04-28\"}]}");
	ck_assert_str_eq(str(v, "decision"), "deny");
	f = finding(v, "denied_party.match", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "date of birth agrees"));
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "nationality agrees"));
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "words in common: germain katanga"));
	json_decref(v);
	/* The same name, born in another year: a namesake. */
	v = tu_screen(en, "{\"id\":\"pi2\",\"type\":\"partnership\",\"title\":\"visit\","
		      "\"people\":[{\"name\":\"Germain Katanga\",\"birth_date\":\"1990\"}]}");
	ck_assert_str_ne(str(v, "decision"), "deny");
	ck_assert_str_ne(str(v, "decision"), "escalate");
	f = finding(v, "denied_party.namesake", 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(str(f, "severity"), "info");
	ck_assert_ptr_nonnull(strstr(str(f, "rationale"), "date of birth DISAGREES"));
	json_decref(v);
	/* Another nationality: a namesake too. */
	v = tu_screen(en, "{\"id\":\"pi3\",\"type\":\"partnership\",\"title\":\"visit\","
		      "\"people\":[{\"name\":\"Germain Katanga\",\"nationality\":\"NL\"}]}");
	ck_assert_str_ne(str(v, "decision"), "deny");
	ck_assert_ptr_nonnull(finding(v, "denied_party.namesake", 0));
	json_decref(v);
	/* The name alone: escalate, verify identity. */
	v = tu_screen(en, "{\"id\":\"pi4\",\"type\":\"partnership\",\"title\":\"visit\","
		      "\"people\":[{\"name\":\"Germain Katanga\"}]}");
	ck_assert_str_eq(str(v, "decision"), "escalate");
	f = finding(v, "denied_party.match", 0);
	ck_assert_ptr_nonnull(strstr(str(f, "title"), "name only — verify identity"));
	json_decref(v);
	/* An individual party with a date of birth, as people have. */
	v = tu_screen(en, "{\"id\":\"pi5\",\"type\":\"export\",\"title\":\"shipment\","
		      "\"parties\":[{\"role\":\"end_user\",\"kind\":\"individual\","
		      "\"name\":\"KATANGA, Germain\",\"birth_date\":\"1978\"}]}");
	ck_assert_str_eq(str(v, "decision"), "deny");
	json_decref(v);
	engine_unref(en);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("denied_party");
	TCase *tc = tcase_create("plugin");
	char probe[4096];

	snprintf(probe, sizeof(probe), "%s/INDEX.txt", shared_dir());
	if (access(probe, R_OK) != 0) {
		fprintf(stderr, "shared/data not found: skipped\n");
		return 77;
	}
	tcase_add_test(tc, party_and_person_hits);
	tcase_add_test(tc, allow_list_suppresses);
	tcase_add_test(tc, clear_and_stale);
	tcase_add_test(tc, country_mismatch);
	tcase_add_test(tc, every_name_screened);
	tcase_add_test(tc, no_false_hits_on_short_names);
	tcase_add_test(tc, eu_fsf_list);
	tcase_add_test(tc, missing_list_in_every_verdict);
	tcase_add_test(tc, bad_config);
	tcase_add_test(tc, strict_malformed_list);
	tcase_add_test(tc, common_names_never_denied);
	tcase_add_test(tc, person_identifiers);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
