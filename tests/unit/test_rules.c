/* test_rules.c - unit tests of the rule engine: rule file errors, matching, evidence, limits, prefilter. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rules.h"
#include "rules_ac.h"
#include "rules_mock.h"
#include "ck_main.h"

#define DATA KVS_SRCDIR "/tests/data/rules/"
#define SHIPPED KVS_SRCDIR "/conf/rules/export_control/"

static const char *const shipped[] = {
	SHIPPED "dual-use", SHIPPED "military.conf", SHIPPED "catch-all.conf",
	SHIPPED "exemptions.conf", SHIPPED "sanctions", NULL,
};

static struct kvs_ruleset *load(const char *path)
{
	struct kvs_ruleset *rs = NULL;
	int rc;

	mock_errors[0] = '\0';
	rc = rules_load(&mock_host, NULL, path, &rs);
	ck_assert_msg(rc == 0, "loading %s: %d\n%s", path, rc, mock_errors);
	ck_assert_str_eq(mock_errors, "");
	return rs;
}

/* Load a bad file and compare the exact error lines. */
static void expect_errors(const char *file, const char *expected)
{
	struct kvs_ruleset *rs = (void *)1;
	char want[4096];
	int rc;

	mock_errors[0] = '\0';
	rc = rules_load(&mock_host, NULL, file, &rs);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_null(rs);
	snprintf(want, sizeof(want), "%s%s", file, expected);
	ck_assert_str_eq(mock_errors, want);
}

START_TEST(test_error_bad_regex)
{
	expect_errors(DATA "bad_regex.conf",
		      ":7: rule B-REGEX: pattern 2 of \"patterns\" does not compile at offset 14: "
		      "missing closing parenthesis\n");
}
END_TEST

START_TEST(test_error_unknown_key)
{
	expect_errors(DATA "unknown_key.conf", ":7: rule B-KEY: unknown key \"severty\"\n");
}
END_TEST

START_TEST(test_error_missing_id)
{
	expect_errors(DATA "missing_id.conf", ":8: rule 2: missing \"id\"\n");
}
END_TEST

START_TEST(test_error_syntax)
{
	expect_errors(DATA "syntax.conf", ":5: syntax error\n");
}
END_TEST

/* Rules whose literals need more automaton states than allowed (each
 * [0-9] multiplies a literal's paths by ten) fail to load with a message. */
START_TEST(test_error_prefilter_too_large)
{
	char file[] = "/tmp/kvs-rules-XXXXXX", want[512];
	int fd = mkstemp(file);
	FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;

	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "rules = (\n");
	for (int i = 0; i < 300; i++)
		fprintf(fp, "{ id = \"B-BIG-%d\"; title = \"big\"; severity = \"low\";"
			" patterns = [ \"\\\\bq%c%c%c[0-9]{3}x\" ]; }%s\n", i,
			'a' + i % 26, 'a' + i / 26 % 26, 'a' + i / 676, i < 299 ? "," : "");
	fprintf(fp, ");\n");
	ck_assert_int_eq(fclose(fp), 0);
	snprintf(want, sizeof(want), ":0: the literals of these 300 rules make too large a "
		 "prefilter automaton (more than %u states); split them into several rule "
		 "sets or use fewer [0-9] classes in a row\n", RULES_AC_MAX_STATES);
	expect_errors(file, want);
	unlink(file);
}
END_TEST

START_TEST(test_error_missing_file)
{
	struct kvs_ruleset *rs = NULL;

	mock_errors[0] = '\0';
	ck_assert_int_eq(rules_load(&mock_host, NULL, DATA "nonexistent.conf", &rs), -ENOENT);
	ck_assert_str_eq(mock_errors, DATA "nonexistent.conf:0: cannot open rule file: "
			 "No such file or directory\n");
}
END_TEST

/* Screen one field with a rule set, prefilter on and off; both must agree. */
static void screen1(struct kvs_ruleset *rs, const char *path, const char *text,
		    struct kvs_report *rep)
{
	struct kvs_request *req = mock_request(KVS_REQ_EXPORT);
	struct kvs_report off = {0};

	mock_set(req, path, text, SIZE_MAX, 1);
	memset(rep, 0, sizeof(*rep));
	ck_assert_int_ge(rules_screen(rs, req, rep, NULL), 0);
	rules_set_prefilter(rs, 0);
	ck_assert_int_ge(rules_screen(rs, req, &off, NULL), 0);
	rules_set_prefilter(rs, 1);
	ck_assert_uint_eq(rep->n, off.n);
	for (size_t i = 0; i < rep->n; i++) {
		ck_assert_str_eq(rep->v[i].rule, off.v[i].rule);
		ck_assert_uint_eq(rep->v[i].n_ev, off.v[i].n_ev);
	}
	mock_report_reset(&off);
	mock_request_free(req);
}

START_TEST(test_match_evidence)
{
	struct kvs_ruleset *rs = load(DATA "good.conf");
	struct kvs_report rep;
	const struct mock_finding *f;
	/* "Één" is 5 bytes: the offsets are bytes, not characters. */
	const char *text = "Één 20 W laser en een LASERS van 3 kW.";

	screen1(rs, "/description", text, &rep);
	f = mock_find(&rep, "T-LASER");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->severity, KVS_SEV_HIGH);
	ck_assert_uint_eq(f->n_ev, 2);
	ck_assert_str_eq(f->ev[0].path, "/description");
	ck_assert_uint_eq(f->ev[0].start, 11);
	ck_assert_uint_eq(f->ev[0].end, 16);
	ck_assert_int_eq(memcmp(text + 11, "laser", 5), 0);
	ck_assert_uint_eq(f->ev[1].start, 24);
	ck_assert_uint_eq(f->ev[1].end, 30);
	ck_assert_uint_eq(f->n_refs, 1);
	ck_assert_str_eq(f->refs[0], "EU 2021/821 Annex I 6A005");
	ck_assert_uint_eq(rep.n, 1);
	mock_report_reset(&rep);
	rules_free(rs);
}
END_TEST

START_TEST(test_context_required)
{
	struct kvs_ruleset *rs = load(DATA "good.conf");
	struct kvs_report rep;

	/* No power anywhere: the bare word "laser" is not 6A005. */
	screen1(rs, "/description", "We use a laser pointer in lectures.", &rep);
	ck_assert_ptr_null(mock_find(&rep, "T-LASER"));
	mock_report_reset(&rep);
	/* A power figure, but further away than the 40-byte window. */
	screen1(rs, "/description",
		"The laser pointer is old. This sentence is long enough to push it away: 5 W", &rep);
	ck_assert_ptr_null(mock_find(&rep, "T-LASER"));
	mock_report_reset(&rep);
	rules_free(rs);
}
END_TEST

START_TEST(test_exclusion)
{
	struct kvs_ruleset *rs = load(DATA "good.conf");
	struct kvs_report rep;
	const struct mock_finding *f;

	screen1(rs, "/description", "We encrypt our backups every night.", &rep);
	ck_assert_ptr_null(mock_find(&rep, "T-CRYPTO"));
	mock_report_reset(&rep);
	screen1(rs, "/description", "We encrypt our backups; the modem has encryption.", &rep);
	f = mock_find(&rep, "T-CRYPTO");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->n_ev, 1);
	ck_assert_uint_eq(f->ev[0].start, 38);
	ck_assert_uint_eq(f->ev[0].end, 48);
	ck_assert_uint_eq(f->n_refs, 2);
	mock_report_reset(&rep);
	screen1(rs, "/description", "Versleuteling van de verbinding", &rep);
	ck_assert_ptr_nonnull(mock_find(&rep, "T-CRYPTO"));
	mock_report_reset(&rep);
	rules_free(rs);
}
END_TEST

/* A negator among the negation_window words before a hit, in the same
 * sentence, cancels the hit; other hits of the rule still count. */
START_TEST(test_negation)
{
	struct kvs_ruleset *rs = load(DATA "negation.conf");
	struct kvs_report rep;
	const struct mock_finding *f;
	static const char *const cancelled[] = {
		"VPN software with AES-256 encryption, not mass-market",
		"non-mass-market encryption modules",
		"Not for the MASS MARKET",
		"without any mass-market release",
		"versleutelingssoftware, niet voor de massamarkt",
		"geen massamarkt",
		"nicht Mass-market",
		"no mass market",
	};
	static const char *const kept[] = {
		"mass-market encryption software",
		"note the mass-market release",          /* "note" is not "not" */
		"not encrypted. A mass-market router",   /* another sentence */
		"not in any way a typical mass-market router", /* 4 words away */
		"knot mass-market",
		"nothing; mass-market",
	};

	for (size_t i = 0; i < sizeof(cancelled) / sizeof(*cancelled); i++) {
		screen1(rs, "/description", cancelled[i], &rep);
		ck_assert_msg(!mock_find(&rep, "N-MASS"), "N-MASS fired on \"%s\"", cancelled[i]);
		ck_assert_msg(i == 4 || i == 5 || mock_find(&rep, "N-OFF"),
			      "N-OFF (no negation_window) missed \"%s\"", cancelled[i]);
		mock_report_reset(&rep);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(*kept); i++) {
		screen1(rs, "/description", kept[i], &rep);
		ck_assert_msg(mock_find(&rep, "N-MASS"), "N-MASS missed \"%s\"", kept[i]);
		mock_report_reset(&rep);
	}
	/* One negated hit, one plain one: the plain one is the evidence. */
	screen1(rs, "/description", "not mass-market; later a mass market version", &rep);
	f = mock_find(&rep, "N-MASS");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->n_ev, 1);
	ck_assert_uint_eq(f->ev[0].start, 25);
	mock_report_reset(&rep);
	/* The rule's own negators replace the defaults ("non-" is "non"). */
	screen1(rs, "/description", "non-public data", &rep);
	ck_assert_ptr_null(mock_find(&rep, "N-OWN"));
	mock_report_reset(&rep);
	screen1(rs, "/description", "hardly public", &rep);
	ck_assert_ptr_null(mock_find(&rep, "N-OWN"));
	mock_report_reset(&rep);
	screen1(rs, "/description", "not public", &rep);
	ck_assert_ptr_nonnull(mock_find(&rep, "N-OWN"));
	mock_report_reset(&rep);
	rules_free(rs);
	expect_errors(DATA "bad_negation.conf",
		      ":7: rule B-NEG: \"negation_window\" must be an integer from 0 to 10 (words)\n"
		      DATA "bad_negation.conf:14: rule B-NEGATOR: negator \"not really\" must be one word of 1 to 31 letters\n"
		      DATA "bad_negation.conf:16: rule B-NOWINDOW: \"negators\" needs \"negation_window\"\n");
}
END_TEST

START_TEST(test_fields_and_prefix)
{
	struct kvs_ruleset *rs = load(DATA "good.conf");
	struct kvs_request *req = mock_request(KVS_REQ_EXPORT);
	struct kvs_report rep = {0};
	const struct mock_finding *f;

	mock_set(req, "/description", "a gyroscope", SIZE_MAX, 1);
	mock_set(req, "/items/0/description", "MEMS gyroscope, encrypted link", SIZE_MAX, 1);
	mock_set(req, "/itemsx", "gyroscope", SIZE_MAX, 1);
	ck_assert_int_eq(rules_screen(rs, req, &rep, NULL), 2);
	f = mock_find(&rep, "T-FIELD");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->n_ev, 1);
	ck_assert_str_eq(f->ev[0].path, "/items/0/description");
	ck_assert_uint_eq(f->ev[0].start, 5);
	/* Findings come in rule-file order. */
	ck_assert_str_eq(rep.v[0].rule, "T-CRYPTO");
	ck_assert_str_eq(rep.v[1].rule, "T-FIELD");
	mock_report_reset(&rep);
	ck_assert_int_eq(rules_screen(rs, req, &rep, "/description"), 0);
	mock_report_reset(&rep);
	mock_request_free(req);
	rules_free(rs);
}
END_TEST

START_TEST(test_utf8_edges)
{
	struct kvs_ruleset *rs = load(DATA "good.conf");
	struct kvs_report rep;
	const struct mock_finding *f;
	struct kvs_request *req;

	/* U+212A KELVIN SIGN matches k caselessly: the prefilter must see it. */
	screen1(rs, "/description", "De \xE2\x84\xAA" "atalysator", &rep);
	f = mock_find(&rep, "T-KELVIN");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->ev[0].start, 3);
	ck_assert_uint_eq(f->ev[0].end, 16);
	mock_report_reset(&rep);
	/* U+017F LONG S likewise. */
	screen1(rs, "/description", "kataly\xC5\xBF" "ator", &rep);
	ck_assert_ptr_nonnull(mock_find(&rep, "T-KELVIN"));
	mock_report_reset(&rep);
	/* Invalid UTF-8 and NUL bytes inside a field: no crash, matches after. */
	req = mock_request(KVS_REQ_EXPORT);
	{
		static const char bad[] = "\xff\xfe\xC3 encryption\0 laser 5 W \xE2\x84";

		mock_set(req, "/description", bad, sizeof(bad) - 1, 1);
	}
	memset(&rep, 0, sizeof(rep));
	ck_assert_int_ge(rules_screen(rs, req, &rep, NULL), 1);
	f = mock_find(&rep, "T-CRYPTO");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->ev[0].start, 4);
	ck_assert_ptr_nonnull(mock_find(&rep, "T-LASER"));
	mock_report_reset(&rep);
	mock_request_free(req);
	rules_free(rs);
}
END_TEST

/* A literal after \\b in its pattern is skipped by the prefilter inside a
 * word ("applied"), but not at a word start, nor after a folded character
 * (whose byte offsets differ from the literal's). */
START_TEST(test_word_start_prefilter)
{
	struct kvs_ruleset *rs = load(DATA "good.conf");
	struct kvs_report rep;
	const struct mock_finding *f;

	screen1(rs, "/description", "We applied an IED.", &rep);
	f = mock_find(&rep, "T-WORD");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->n_ev, 1);
	ck_assert_uint_eq(f->ev[0].start, 14);
	ck_assert_uint_eq(f->ev[0].end, 17);
	mock_report_reset(&rep);
	screen1(rs, "/description", "We applied it; supplied.", &rep);
	ck_assert_ptr_null(mock_find(&rep, "T-WORD"));
	mock_report_reset(&rep);
	screen1(rs, "/description", "\xE2\x84\xAA applied, \xC3\xA9IED and IEDs", &rep);
	/* With UCP, "é" is a word character: no \\b before its IED. */
	f = mock_find(&rep, "T-WORD");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->n_ev, 1);
	ck_assert_uint_eq(f->ev[0].start, 23);
	ck_assert_uint_eq(f->ev[0].end, 27);
	mock_report_reset(&rep);
	rules_free(rs);
}
END_TEST

/* Every non-ASCII character that caseless UCP matching equates with an
 * ASCII letter must be folded by the prefilter; there are exactly two. */
START_TEST(test_caseless_fold_table)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR) "[a-z0-9 -]", PCRE2_ZERO_TERMINATED,
				       PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err, &off, NULL);
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	int found = 0;

	ck_assert_ptr_nonnull(re);
	for (uint32_t cp = 0x80; cp < 0x110000; cp++) {
		unsigned char b[4];
		size_t n;

		if (cp >= 0xD800 && cp < 0xE000)
			continue;
		if (cp < 0x800) {
			b[0] = (unsigned char)(0xC0 | cp >> 6);
			b[1] = (unsigned char)(0x80 | (cp & 0x3F));
			n = 2;
		} else if (cp < 0x10000) {
			b[0] = (unsigned char)(0xE0 | cp >> 12);
			b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
			b[2] = (unsigned char)(0x80 | (cp & 0x3F));
			n = 3;
		} else {
			b[0] = (unsigned char)(0xF0 | cp >> 18);
			b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
			b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
			b[3] = (unsigned char)(0x80 | (cp & 0x3F));
			n = 4;
		}
		if (pcre2_match(re, b, n, 0, 0, md, NULL) >= 0) {
			ck_assert_msg(cp == 0x212A || cp == 0x17F, "U+%04X folds to ASCII", cp);
			found++;
		}
	}
	ck_assert_int_eq(found, 2);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
}
END_TEST

/* The bytes of a byte-class mark: its printable ASCII characters, then
 * "+ctl" for control characters and "+hi" for the bytes of non-ASCII
 * characters (all or none of them). */
static void class_str(const uint64_t cls[4], char *out)
{
	size_t n = 0;
	int ctl = 0;

	for (unsigned c = 0; c < 128; c++) {
		if (!(cls[c / 64] >> (c % 64) & 1))
			continue;
		if (c < 0x20 || c == 0x7f)
			ctl = 1;
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
	if (ctl)
		strcat(out, "+ctl");
	ck_assert_msg((cls[2] == 0 && cls[3] == 0) || (cls[2] == UINT64_MAX && cls[3] == UINT64_MAX),
		      "non-ASCII bytes split");
	if (cls[2])
		strcat(out, "+hi");
}

/* The literals of pat, each as "(class)literal" when it carries a byte
 * class, joined with '|'. */
static void lits_mode(const char *pat, int anchor, const char *want)
{
	struct rules_literals l;
	char got[4096] = "";
	int rc = rules_literals_extract(pat, anchor, &l);

	if (rc == -ENOENT) {
		ck_assert_msg(want == NULL, "%s: no literal, wanted %s", pat, want);
		return;
	}
	ck_assert_int_eq(rc, 0);
	for (size_t i = 0; i < l.n; i++) {
		uint64_t cls[4];
		char cs[300];

		if (rules_literal_class(l.v[i], cls)) {
			class_str(cls, cs);
			strcat(got, "(");
			strcat(got, cs);
			strcat(got, ")");
			strcat(got, l.v[i] + RULES_CLASS_MARK_LEN);
		} else {
			strcat(got, l.v[i]);
		}
		strcat(got, i + 1 < l.n ? "|" : "");
	}
	rules_literals_free(&l);
	ck_assert_msg(want && !strcmp(got, want), "%s: got \"%s\", wanted \"%s\"", pat, got,
		      want ? want : "(none)");
}

/* The most selective literals. */
static void lits(const char *pat, const char *want)
{
	lits_mode(pat, 0, want);
}

/* The extra literal sets of pat, besides its selective and anchoring
 * ones, each as "a|b", separated by " ; ". */
static void extra(const char *pat, const char *want)
{
	struct rules_literals sets[2] = { { NULL, 0 }, { NULL, 0 } }, ex[2];
	char got[1024] = "";
	int n;

	rules_literals_extract(pat, 0, &sets[0]);
	rules_literals_extract(pat, 1, &sets[1]);
	n = rules_literals_extra(pat, sets, 2, ex, 2);
	ck_assert_int_ge(n, 0);
	for (int e = 0; e < n; e++) {
		for (size_t i = 0; i < ex[e].n; i++) {
			const char *l = ex[e].v[i];
			uint64_t cls[4];

			strcat(got, l + (rules_literal_class(l, cls) ? RULES_CLASS_MARK_LEN : 0));
			strcat(got, i + 1 < ex[e].n ? "|" : "");
		}
		strcat(got, e + 1 < n ? " ; " : "");
		rules_literals_free(&ex[e]);
	}
	rules_literals_free(&sets[0]);
	rules_literals_free(&sets[1]);
	ck_assert_msg(!strcmp(got, want), "%s: extra sets \"%s\", wanted \"%s\"", pat, got, want);
}

START_TEST(test_literal_extraction)
{
	/* '<': every match starts where the literal starts; "{N}": at most N
	 * bytes before it; '^': it follows \\b. */
	lits("\\blasers?\\b", "<^laser");
	lits("\\b(?:lidar|radar)s?\\b", "<^lidar|<^radar");
	lits("thermal\\s+camera", "<thermal camera");
	lits("infra-?red camera", "{6}red camera");
	lits("(?:foo)?barbaz", "<foobarbaz|<barbaz");
	lits("abc|de", NULL);
	lits("[a-z]+", NULL);
	lits("\\x41bcdef", "{4}bcdef");
	lits("(?x) a b c d", NULL);
	lits("\\Qa.b\\E", NULL);
	lits("Quantum (?i:KEY) distribution", "{13} distribution");
	lits("(?<name>gyro|accelero)meter", "{8}meter");
	lits("(?=abc)xy", NULL);
	lits("5A002", "<5a002");
	lits("\\b-foobar", "<-foobar");
	lits("\\bfoo\\b|\\bbarx", "<^foo|<^barx");
	lits("\\b(?:ab|cde)xyz", "<^abxyz|<^cdexyz");
	lits("\\b\\d+ GHz", "(0123456789+hi) ghz");
	lits("\\b?abcd", "<abcd");
	lits("^foobar", "<foobar");
	lits("(?i)foobar", "<foobar");
	lits("(?=x)foobar", "<foobar");
	lits("\\s?foobar", "{4}foobar");
	lits("a{2}bcd", "<aabcd");
	lits("ab{2,3}cd", "<abb");
	/* [0-9] is the literal character '#' (any ASCII digit), \\d is not. */
	lits("\\b[0-9][A-E][0-9]{3}\\b", "<^#a###|<^#b###|<^#c###|<^#d###|<^#e###");
	/* A small class of letters and digits is a plain group of them. */
	lits("ab[cD]ef", "<abcef|<abdef");
	lits("ab[c-e3]?fgh", "{6}fgh");
	lits("[a-k]bcd", "{4}bcd");
	lits("x[0-9a]yzw", "{5}yzw");
	lits("xy[^a]zwv", "{6}zwv");
	lits("xy[ab]", "<xya|<xyb");
	lits("\\bU-?[0-9]{3}\\b", "{2}###");
	lits("\\d{3}abc", "{12}abc");
	/* Two letters only as anchors, and only when nothing longer is bounded. */
	lits("\\bML\\s?[0-9]", NULL);
	lits_mode("\\bML\\s?[0-9]", 1, "<^ml");
	lits_mode("\\b(?:thorium|Th)-?(?:227|228)\\b", 1, "{8}227|{8}228");
	/* Prefix bounds: K and S also match 3- and 2-byte characters, a class or
	 * an escape any one character (4 bytes), \\K moves the match start. */
	lits("ks?abcd", "{5}abcd");
	lits("x{2,5}abcd", "{5}abcd");
	lits("[xy]{3}abcd", "{12}abcd");
	lits("(?:ab|c)+defg", "(ABCabc)defg");
	lits("\\w*abcd", "(0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz+hi)abcd");
	lits("ab\\Kcdef", NULL);
	lits("\\bfoo\\s*barbaz", "( FOfo+ctl+hi)barbaz");
	/* The literals with the smallest prefix bound. */
	lits_mode("\\bfoo\\s*barbaz", 1, "<^foo");
	lits_mode("\\bradar\\s*cross[- ]?section\\s*reduction\\b", 0, "( -ACDEINORSTacdeinorst+ctl+hi)reduction");
	lits_mode("\\bradar\\s*cross[- ]?section\\s*reduction\\b", 1, "<^radar");
	/* Separators that occur at least once between word characters join
	 * the words: the prefilter reads every run of separators as one. */
	lits("\\bfoo\\s+barbaz", "<^foo barbaz");
	lits_mode("\\bfoo\\s+barbaz", 1, "<^foo barbaz");
	lits_mode("\\bradar\\s+cross[- ]section\\s{1,3}reduction\\b", 0, "<^radar cross section");
	lits("foo[\\s/-]+bar\\s?baz", "<foo bar");
	lits("foo[\\s_]+bar", "<foo");
	lits("foo[^\\s]+barx", "barx");
	lits("\\s+foobar\\s+", "( +ctl+hi)foobar ");
	/* A run right before a group that occurs: the run followed by each
	 * literal that starts the group. */
	lits("\\bmilitary\\s+(?:vehicles?|trucks?)\\b", "<^military vehicle|<^military truck");
	lits("xyz(?:abc|(?:def|ghi)jk)", "<xyzabc|<xyzdefjk|<xyzghijk");
	lits("xyz(?:abc|(?:def|ghi)jk)+", "<xyzabc|<xyzdefjk|<xyzghijk");
	/* A plain group of words that occurs once continues the run. */
	lits("\\b(?:nuclear|chemical)\\s+(?:arms|weapons)\\b",
	     "<^nuclear arms|<^nuclear weapons|<^chemical arms|<^chemical weapons");
	lits("(?:silicon\\s+carbide|boron[- ]nitride)-fibres?", "<silicon carbide-fibre|<boron nitride-fibre");
	lits("(?:ab[/.]cd|ef)gh", "<ab cdgh|<efgh");
	lits("(?:ab|cd)?xyzw", "<abxyzw|<cdxyzw|<xyzw");
	lits("(?:ab|c\\w)xyzw", "{5}xyzw");
	lits("foo(bar)", "<foobar");
	lits("foo(?:bar)+q", "<foobar");
	lits("ab\\s+(?:cdx|efy)?gh", "<ab cdxgh|<ab efygh|<ab gh");
	lits("(?:ab)?\\s+cdef", "( ABab+ctl+hi)cdef");
	lits("foo(?:bar){0,2}q", "<foo");
	lits("foo(?:bar|\\w+)", "<foo");
	lits("foo(?>bar|baz)", "<foo");
	lits_mode("(?:ab|c)+defg", 1, "(ABCabc)defg");
	lits_mode("x{2,5}abcd", 1, "{5}abcd");
	/* Optional groups where the match starts: their literals anchor the
	 * matches with them, the rest is bounded as if they were absent. */
	lits_mode("\\b(?:nuclear\\s+)?fuel\\s+rods?\\b", 1, "<^nuclear fuel rod|<^fuel rod");
	lits_mode("(?:ab\\s+)?(?:cd\\s+)?efgh", 1, "<ab cd efgh|<ab efgh|<cd efgh|<efgh");
	/* A plain group that continues a run after an optional group that
	 * starts the match takes that group's literals along too. */
	lits_mode("\\b(?:(?:Ks))?(?:ds) ", 1, "<^ds|<^ks");
	lits_mode("(?:a\\w\\s+)?(?:cd\\s+)?efgh", 1,
		  "( 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz+ctl+hi)cd efgh|"
		  "( 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz+ctl+hi)efgh");
	lits_mode("(?:\\w+\\s+)?efgh", 1, "( 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz+ctl+hi)efgh");
	/* Not inside a group: the group's width must count the optional part. */
	lits_mode("(?:(?:s4S4?)?)?(?:ab|k)?(?:bdk4S3)", 1, "{6}abbdk4s3|{6}kbdk4s3|{6}bdk4s3");
	lits_mode("(?:(?:s4S4?)?)?(?:a\\w|k)?(?:bdk4S3)", 1, "{11}bdk4s3");
	/* A two-letter word of every text is no anchor. */
	lits_mode("\\b(?:in|into)\\s*the\\s*public\\s*domain\\b", 1, "( EHINOTehinot+ctl+hi)public");
	lits_mode("\\b(?:in|into)\\s+the\\s+public\\s+domain\\b", 1,
		  "<^in the public domain|<^into the public domain");
	/* Byte classes: the bytes a match can hold before a literal that is
	 * far from its start or unbounded; any byte gives no class. */
	lits("[^x]*abcd", "abcd");
	lits(".*abcd", "abcd");
	lits("(?:(?=x)|y)+abcd", "(Yy)abcd");
	lits("(?:(?>x)|y)+abcd", "(XYxy)abcd");
	lits("(*ACCEPT)?abcd", "abcd");
	lits("k+abcd", "(Kk+hi)abcd");
	lits("[\\d.,]+ *abcd", "( ,.0123456789+hi)abcd");
	lits("[a-c\\]]+abcd", "(ABC]abc)abcd");
	lits("[]x]+abcd", "(X]x)abcd");
	lits("[[:alpha:]]+abcd", "abcd");
	lits("[\\x41]+abcd", "abcd");
	lits("[\\p{L}]+abcd", "abcd");
	lits("[\\xe9]+abcd", "abcd");
	lits("[\xc3\xa9]+abcd", "(+hi)abcd");
	lits("\\t+abcd", "(+ctl)abcd");
	lits("(?:ab)+\\1abcd", "abcd");
	lits("[a-z]{1,40}wxyz", "(ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+hi){160}wxyz");
	lits("x{2,5}abcd", "{5}abcd");
	/* More sets that every match holds, when the selective one is weak:
	 * only from the pattern's own sequence, never common words. */
	extra("\\buse\\s*of\\s*(?:uranium|thorium)\\s*oxide\\s*pellets", "uranium|thorium ; oxide");
	extra("\\buse\\s*of\\s*(?:uranium|thorium)?\\s*oxide\\s*pellets", "oxide");
	extra("\\buse\\s+of\\s+(?:uranium|thorium)\\s+oxide\\s+pellets", "");
	extra("\\buse\\s+of\\s+uranium|\\bmaking\\s+plutonium", "");
	extra("\\bverrijking\\s+van\\s+uranium\\b", "");
	extra("\\bdesign\\s+of\\s+gas\\s+(?:centrifuges|ultra(?:centrifuges|rotors))", "");
	extra("\\bdesign\\s+of\\s+gas\\s+centrifuges", "");
	extra("\\bradar\\s+(?:(?:cross)\\s+section)\\s+reduction\\b", "");
	/* '#' in a pattern is itself, not [0-9]. */
	lits("C# code", "{2} code");
	lits("ab#cdef", "{3}cdef");
}
END_TEST

START_TEST(test_catastrophic_limit)
{
	struct kvs_ruleset *rs = load(DATA "catastrophic.conf");
	struct kvs_request *req = mock_request(KVS_REQ_EXPORT);
	struct kvs_report rep = {0};
	char hostile[4096];
	struct timespec a, b;
	const struct mock_finding *f;
	double ms;

	memset(hostile, 'a', sizeof(hostile));
	for (size_t i = 7; i < sizeof(hostile); i += 8)
		hostile[i] = ' ';
	hostile[sizeof(hostile) - 2] = '!';
	hostile[sizeof(hostile) - 1] = '\0';
	mock_set(req, "/description", hostile, SIZE_MAX, 1);
	/* CPU time of this thread, not wall time: a busy machine does not
	 * make it longer.  Without the limits this pattern runs for ages. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	ck_assert_int_eq(rules_screen(rs, req, &rep, NULL), 0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	ck_assert_msg(ms < 2000 * ck_timeout_scale(), "took %.1f ms of CPU", ms);
	f = mock_find(&rep, "B-CATASTROPHIC.limit");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->severity, KVS_SEV_MEDIUM);
	ck_assert_str_eq(f->title, "rule limit reached: B-CATASTROPHIC");
	ck_assert_uint_eq(f->ev[0].start, 0);
	ck_assert_uint_eq(f->ev[0].end, strlen(hostile));
	ck_assert_uint_eq(rep.n, 1);
	mock_report_reset(&rep);
	mock_request_free(req);
	rules_free(rs);
}
END_TEST

/* ---- Shipped rules -------------------------------------------------------- */

static struct kvs_ruleset *sets[8];
static size_t n_sets;

static void load_shipped(void)
{
	n_sets = 0;
	for (size_t i = 0; shipped[i]; i++)
		sets[n_sets++] = load(shipped[i]);
}

static void free_shipped(void)
{
	for (size_t i = 0; i < n_sets; i++)
		rules_free(sets[i]);
	n_sets = 0;
}

static int fired(struct kvs_ruleset *rs, const char *id, const char *field, const char *text)
{
	struct kvs_report rep;
	int hit;

	screen1(rs, field, text, &rep);
	hit = mock_find(&rep, id) != NULL;
	mock_report_reset(&rep);
	return hit;
}

START_TEST(test_shipped_examples)
{
	size_t total = 0, pos = 0, neg = 0, nolit = 0, bad = 0;

	load_shipped();
	for (size_t s = 0; s < n_sets; s++) {
		for (size_t i = 0; i < rules_count(sets[s]); i++) {
			struct rules_info ri;
			const char *field;

			ck_assert_int_eq(rules_get(sets[s], i, &ri), 0);
			field = ri.first_field ? ri.first_field : "/description";
			total++;
			nolit += !ri.has_literal;
			ck_assert_msg(ri.n_positive > 0, "%s:%d: rule %s has no positive example",
				      ri.file, ri.line, ri.id);
			ck_assert_msg(ri.n_negative > 0, "%s:%d: rule %s has no negative example",
				      ri.file, ri.line, ri.id);
			for (size_t k = 0; k < ri.n_positive; k++, pos++)
				if (!fired(sets[s], ri.id, field, ri.positive[k]))
					bad += (size_t)fprintf(stderr,
						"%s:%d: rule %s does not fire on \"%s\"\n", ri.file,
						ri.line, ri.id, ri.positive[k]) > 0;
			for (size_t k = 0; k < ri.n_negative; k++, neg++)
				if (fired(sets[s], ri.id, field, ri.negative[k]))
					bad += (size_t)fprintf(stderr,
						"%s:%d: rule %s fires on its negative \"%s\"\n", ri.file,
						ri.line, ri.id, ri.negative[k]) > 0;
		}
	}
	printf("shipped rules: %zu rules, %zu positive and %zu negative examples, "
	       "%zu without a prefilter literal\n", total, pos, neg, nolit);
	ck_assert_msg(bad == 0, "%zu example phrases misbehave (listed above)", bad);
	ck_assert_uint_ge(total, 80);
	free_shipped();
}
END_TEST

/* One rule set of the phrase table and the id of rule i in it. */
static const char *set_rule_field(struct kvs_ruleset *rs, const char *id)
{
	for (size_t i = 0; i < rules_count(rs); i++) {
		struct rules_info ri;

		ck_assert_int_eq(rules_get(rs, i, &ri), 0);
		if (!strcmp(ri.id, id))
			return ri.first_field ? ri.first_field : "/description";
	}
	return NULL;
}

/* Export rules (dual-use, military, catch-all, exemptions) that phrases.txt
 * covers with all four kinds.  Coverage may only grow: raise this when you
 * add rules to phrases.txt, never lower it. */
#define EXPORT_PHRASE_FLOOR 217

/* tests/data/rules/phrases.txt: Dutch and English positives and near misses
 * of the shipped export, investment and taxonomy rules.  Every phrase must
 * behave; every rule named needs all four kinds (en+, en-, nl+, nl-),
 * every taxonomy node and investment rule must be named, and at least
 * EXPORT_PHRASE_FLOOR export rules must have all four kinds. */
START_TEST(test_phrase_table)
{
	static const char *const paths[] = {
		KVS_SRCDIR "/conf/rules/kennisveiligheid/taxonomy.conf",
		SHIPPED "dual-use", SHIPPED "military.conf", SHIPPED "catch-all.conf",
		SHIPPED "exemptions.conf", KVS_SRCDIR "/conf/rules/investment",
	};
	enum { N_PATHS = sizeof(paths) / sizeof(*paths) };
	struct kvs_ruleset *rs[N_PATHS];
	struct { char id[64]; unsigned kinds; size_t set; } seen[1024];
	size_t n_seen = 0, phrases = 0, bad = 0, lineno = 0, covered[N_PATHS] = {0};
	size_t export_full = 0;
	size_t lang_n[2] = {0};
	char line[2048];
	FILE *f = fopen(DATA "phrases.txt", "r");

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < N_PATHS; i++)
		rs[i] = load(paths[i]);
	while (fgets(line, sizeof(line), f)) {
		char *id = line, *kind, *lang, *text, *nl;
		const char *field = NULL;
		size_t set = 0, k;
		unsigned bit;
		int want, got;

		lineno++;
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		if (!*line || *line == '#')
			continue;
		kind = strchr(id, '|');
		lang = kind ? strchr(kind + 1, '|') : NULL;
		text = lang ? strchr(lang + 1, '|') : NULL;
		ck_assert_msg(text, "phrases.txt:%zu: expected RULE|+-|en/nl|PHRASE", lineno);
		*kind++ = *lang++ = *text++ = '\0';
		ck_assert_msg((!strcmp(kind, "+") || !strcmp(kind, "-")) &&
			      (!strcmp(lang, "en") || !strcmp(lang, "nl")) && *text &&
			      strlen(id) < sizeof(seen[0].id),
			      "phrases.txt:%zu: bad kind, language or phrase", lineno);
		for (set = 0; set < N_PATHS && !field; set++)
			field = set_rule_field(rs[set], id);
		ck_assert_msg(field, "phrases.txt:%zu: no shipped rule %s", lineno, id);
		set--;
		want = *kind == '+';
		got = fired(rs[set], id, field, text);
		if (got != want)
			bad += (size_t)fprintf(stderr, "phrases.txt:%zu: rule %s %s \"%s\"\n", lineno,
					       id, want ? "does not fire on" : "fires on", text) > 0;
		bit = (want ? 1u : 2u) << (*lang == 'n' ? 2 : 0);
		for (k = 0; k < n_seen && strcmp(seen[k].id, id); k++)
			;
		if (k == n_seen) {
			ck_assert_uint_lt(n_seen, sizeof(seen) / sizeof(*seen));
			ck_assert_uint_lt(strlen(id), sizeof(seen[0].id));
			snprintf(seen[n_seen].id, sizeof(seen[0].id), "%.63s", id);
			seen[n_seen].set = set;
			seen[n_seen++].kinds = 0;
			covered[set]++;
		}
		seen[k].kinds |= bit;
		lang_n[*lang == 'n']++;
		phrases++;
	}
	fclose(f);
	for (size_t k = 0; k < n_seen; k++) {
		export_full += seen[k].kinds == 15 && seen[k].set >= 1 && seen[k].set <= 4;
		if (seen[k].kinds != 15)
			bad += (size_t)fprintf(stderr, "phrases.txt: rule %s lacks%s%s%s%s\n", seen[k].id,
					       seen[k].kinds & 1 ? "" : " en+", seen[k].kinds & 2 ? "" : " en-",
					       seen[k].kinds & 4 ? "" : " nl+",
					       seen[k].kinds & 8 ? "" : " nl-") > 0;
	}
	/* Complete for the taxonomy (set 0) and the investment rules (set 5). */
	for (size_t set = 0; set < N_PATHS; set += 5)
		for (size_t i = 0; i < rules_count(rs[set]); i++) {
			struct rules_info ri;
			size_t k;

			rules_get(rs[set], i, &ri);
			for (k = 0; k < n_seen && strcmp(seen[k].id, ri.id); k++)
				;
			if (k == n_seen)
				bad += (size_t)fprintf(stderr, "phrases.txt: rule %s is missing\n",
						       ri.id) > 0;
		}
	printf("phrase table: %zu phrases (%zu English, %zu Dutch) for %zu rules: %zu of %zu "
	       "taxonomy nodes, %zu of %zu export rules, %zu of %zu investment rules\n",
	       phrases, lang_n[0], lang_n[1], n_seen, covered[0], rules_count(rs[0]),
	       covered[1] + covered[2] + covered[3] + covered[4],
	       rules_count(rs[1]) + rules_count(rs[2]) + rules_count(rs[3]) + rules_count(rs[4]),
	       covered[5], rules_count(rs[5]));
	printf("phrase table: %zu of %zu export rules have all four kinds (floor %d)\n",
	       export_full,
	       rules_count(rs[1]) + rules_count(rs[2]) + rules_count(rs[3]) + rules_count(rs[4]),
	       EXPORT_PHRASE_FLOOR);
	for (size_t i = 0; i < N_PATHS; i++)
		rules_free(rs[i]);
	ck_assert_msg(bad == 0, "%zu phrase table problems (listed above)", bad);
	ck_assert_msg(export_full >= EXPORT_PHRASE_FLOOR,
		      "only %zu export rules have en+ en- nl+ nl- phrases; the floor is %d",
		      export_full, EXPORT_PHRASE_FLOOR);
}
END_TEST

struct corpus {
	struct kvs_request **reqs;
	size_t n, cap;
};

static void add_text(void *arg, const char *col, const char *text, size_t len)
{
	struct corpus *c = arg;
	struct kvs_request *r = mock_request(KVS_REQ_PARTNERSHIP);
	char path[64];

	snprintf(path, sizeof(path), "/%s", strcmp(col, "objective") ? "title" : "description");
	mock_set(r, path, text, len, 1);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->reqs = realloc(c->reqs, c->cap * sizeof(*c->reqs));
		if (!c->reqs)
			abort();
	}
	c->reqs[c->n++] = r;
}

/* Cut a list text into requests of about 2 kB at blank lines. */
static void add_list_text(struct corpus *c, const char *file)
{
	FILE *fp = fopen(file, "rb");
	char line[4096], buf[8192];
	size_t n = 0;

	ck_assert_msg(fp != NULL, "%s", file);
	while (fgets(line, sizeof(line), fp)) {
		size_t l = strlen(line);

		if (n + l >= sizeof(buf)) {
			add_text(c, "objective", buf, n);
			n = 0;
		}
		memcpy(buf + n, line, l);
		n += l;
		if (n > 2048 && strspn(line, " \t\r\n\f") == l) {
			add_text(c, "objective", buf, n);
			n = 0;
		}
	}
	if (n)
		add_text(c, "objective", buf, n);
	fclose(fp);
}

static int load_corpus(struct corpus *c)
{
	static const char *const cols[] = { "title", "objective", NULL };
	const char *files[] = {
		"cordis-horizon-europe-sample-100/project_df_100.csv",
		"cordis-china-partner-projects/projects.csv",
	};
	char path[4096];
	const char *data = mock_shared_data();

	memset(c, 0, sizeof(*c));
	if (!data)
		return -ENOENT;
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", data, files[i]);
		if (mock_csv_each(path, cols, add_text, c) < 0)
			return -ENOENT;
	}
	/* The list texts name nearly every listed item: many findings. */
	snprintf(path, sizeof(path), "%s/norway-export-control-lists-2022/export-control-appendix2.txt", data);
	add_list_text(c, path);
	snprintf(path, sizeof(path), "%s/norway-export-control-lists-2022/common-military-list-2022.txt", data);
	add_list_text(c, path);
	return 0;
}

static void free_corpus(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++)
		mock_request_free(c->reqs[i]);
	free(c->reqs);
}

/* The rule file of the random test being run, printed when it fails. */
static const char *cur_conf;

/* Screen req with the prefilter on and off: the findings must be the same,
 * whole.  Returns the number of findings; adds their spans to *evidence. */
static size_t same_findings(struct kvs_ruleset *rs, struct kvs_request *req, size_t *evidence)
{
	struct kvs_report on = {0}, off = {0};
	size_t n;

	rules_set_prefilter(rs, 1);
	ck_assert_int_ge(rules_screen(rs, req, &on, NULL), 0);
	rules_set_prefilter(rs, 0);
	ck_assert_int_ge(rules_screen(rs, req, &off, NULL), 0);
	rules_set_prefilter(rs, 1);
	if (on.n != off.n) {
		/* What reproduces it. */
		if (cur_conf)
			fprintf(stderr, "rules: %s", cur_conf);
		for (size_t f = 0; f < req->n; f++)
			if (req->f[f].text)
				fprintf(stderr, "text %s: \"%.*s\"\n", req->f[f].path,
					(int)req->f[f].len, req->f[f].value);
	}
	ck_assert_uint_eq(on.n, off.n);
	for (size_t k = 0; k < on.n; k++) {
		ck_assert_str_eq(on.v[k].rule, off.v[k].rule);
		ck_assert_int_eq(on.v[k].severity, off.v[k].severity);
		ck_assert_uint_eq(on.v[k].n_ev, off.v[k].n_ev);
		for (size_t e = 0; e < on.v[k].n_ev; e++) {
			ck_assert_str_eq(on.v[k].ev[e].path, off.v[k].ev[e].path);
			ck_assert_uint_eq(on.v[k].ev[e].start, off.v[k].ev[e].start);
			ck_assert_uint_eq(on.v[k].ev[e].end, off.v[k].ev[e].end);
		}
		*evidence += on.v[k].n_ev;
	}
	n = on.n;
	mock_report_reset(&on);
	mock_report_reset(&off);
	return n;
}

/* same_findings on a request of one field, /description, holding text. */
static size_t same_findings_text(struct kvs_ruleset *rs, const char *text, size_t *evidence)
{
	struct kvs_request *req = mock_request(KVS_REQ_EXPORT);
	size_t n;

	mock_set(req, "/description", text, SIZE_MAX, 1);
	n = same_findings(rs, req, evidence);
	mock_request_free(req);
	return n;
}

/* The prefilter never changes findings: every shipped rule over the CORDIS
 * titles and objectives, prefilter on and off, findings compared whole. */
START_TEST(test_prefilter_equivalence_cordis)
{
	struct corpus c;
	size_t findings = 0, evidence = 0;

	if (load_corpus(&c) < 0) {
		printf("CORDIS data not found beside the checkout: skipped\n");
		return;
	}
	ck_assert_uint_ge(c.n, 300);
	load_shipped();
	for (size_t i = 0; i < c.n; i++)
		for (size_t s = 0; s < n_sets; s++)
			findings += same_findings(sets[s], c.reqs[i], &evidence);
	printf("prefilter equivalence: %zu CORDIS and list texts, %zu findings, %zu evidence spans, "
	       "identical with and without the prefilter\n", c.n, findings, evidence);
	ck_assert_uint_ge(findings, 300);
	free_shipped();
	free_corpus(&c);
}
END_TEST

/* The prefilter runs a pattern only from where a match through a literal
 * occurrence can start (its prefix bound before the occurrence) up to the
 * occurrence: every combination of prefixes (with KELVIN SIGN and LONG S,
 * which take more bytes than the k and s they match), literals and repeated
 * occurrences gives the same findings as a scan of the whole field. */
START_TEST(test_prefilter_equivalence_prefix)
{
	static const char *const pre[] = {
		"", "sky", "SKY-", "\xE2\x84\xAAiss", "ki\xC5\xBFs ", "ab ", "AB-\xE2\x84\xAA" "s",
		"x ", "foo bar ", "\xC3\xA9", "12", "1234ss56", "\xC5\xBF\xC5\xBF", "quasi-",
		"quasi", "deltawave ",
	};
	static const char *const lit[] = {
		"deltawave", "DELTAWAVE", "deltawaves", "deltawave array", "deltaWave sensors",
		"-omega-band", "quasar", "QUASARES", "delta wave", "2024x-12345", "1234a12345 ",
		"q42-omega", "Q4-omega", "\xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4" "a-12345",
	};
	static const char *const post[] = { "", ".", " deltawave", "x", " and 99-omega-band" };
	struct kvs_ruleset *rs = load(DATA "prefix.conf");
	size_t findings = 0, evidence = 0, texts = 0;
	char text[512];

#define N(a) (sizeof(a) / sizeof((a)[0]))
	for (size_t a = 0; a < N(pre); a++)
		for (size_t b = 0; b < N(lit); b++)
			for (size_t c = 0; c < N(post); c++)
				for (size_t d = 0; d < N(pre); d += 3) {
					snprintf(text, sizeof(text), "%s%s%s %s%s", pre[a], lit[b],
						 post[c], pre[d], lit[(b + d) % N(lit)]);
					findings += same_findings_text(rs, text, &evidence);
					texts++;
				}
	/* Long texts are scanned as several lanes: a lane that starts on the
	 * literal has not seen the folded characters before it. */
	for (size_t fill = 200; fill < 270; fill++)
		for (size_t f = 0; f < 2; f++) {
			static const char *const fold[] = {
				"\xE2\x84\xAA\xE2\x84\xAA\xE2\x84\xAA", "\xC5\xBF\xC5\xBF\xC5\xBF",
			};
			size_t n;

			memset(text, ' ', sizeof(text));
			n = fill + (size_t)snprintf(text + fill, sizeof(text) - fill,
						    "%sdeltawave", fold[f]);
			text[n] = ' ';
			text[sizeof(text) - 1] = '\0';
			ck_assert_uint_ge(same_findings_text(rs, text, &evidence), 1);
			texts++;
		}
	/* More occurrences than the windows kept per field: the patterns past
	 * that run from their first to their last occurrence. */
	{
		static const char unit[] = "deltawave array ", tail[] = "x sky-deltawave";
		size_t reps = 50000, n = reps * (sizeof(unit) - 1);
		char *big = malloc(n + sizeof(tail));

		ck_assert_ptr_nonnull(big);
		for (size_t k = 0; k < reps; k++)
			memcpy(big + k * (sizeof(unit) - 1), unit, sizeof(unit) - 1);
		memcpy(big + n, tail, sizeof(tail));
		ck_assert_uint_ge(same_findings_text(rs, big, &evidence), 3);
		free(big);
		texts++;
	}
#undef N
	printf("prefilter equivalence (prefix bounds): %zu texts, %zu findings, %zu spans\n",
	       texts, findings, evidence);
	ck_assert_uint_ge(findings, texts);
	rules_free(rs);
}
END_TEST

/* ---- Random patterns: the prefilter against the whole-field scan ---------- */

static uint64_t rnd_state = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

static void gen_re(char *b, size_t cap, int depth);

/* One atom, perhaps quantified, appended to b. */
static void gen_item(char *b, size_t cap, int depth)
{
	static const char *const atoms[] = {
		"\\b", "\\s", "\\w", "\\d", ".", "[0-9]", "[ab]", "[- ]", "[k-s]", "[34]",
		"\\-", "\\.", "^", "[^b]", "[\\d.]", "[a\\s]", "[]a]", "#", "\\t",
		/* Separators between words, which the prefilter joins. */
		"\\s+", "\\s+", "[- ]+", "[\\s/-]", "[ _]+",
		/* Small classes, which continue a run as a group would. */
		"[a-dK]", "[S4]",
	};
	static const char *const quants[] = { "?", "*", "+", "{2}", "{1,3}", "{0,2}", "{2,}" };
	static const char lit[] = "abksdkKS- 034";
	size_t n = strlen(b);
	unsigned k = rnd(10);

	if (k < 5) {
		for (unsigned i = 0, m = 1 + rnd(6); i < m && n + 1 < cap; i++)
			b[n++] = lit[rnd(sizeof(lit) - 1)];
		b[n] = '\0';
	} else if (k == 5 && rnd(2)) {
		/* A plain group of words, which continues a run. */
		static const char *const words[] = {
			"ab", "Ks", "d3", "sk", "a\\s+b", "k-4", "0 s", "sk ", "d3-", "b\\s",
		};

		snprintf(b + n, cap - n, "(?:");
		for (unsigned i = 0, m = 1 + rnd(3); i < m; i++) {
			n = strlen(b);
			snprintf(b + n, cap - n, "%s%s", i ? "|" : "", words[rnd(10)]);
		}
		n = strlen(b);
		snprintf(b + n, cap - n, ")");
	} else if (k < 9 || depth >= 3) {
		snprintf(b + n, cap - n, "%s", atoms[rnd(sizeof(atoms) / sizeof(*atoms))]);
	} else {
		snprintf(b + n, cap - n, "(?:");
		gen_re(b, cap, depth + 1);
		n = strlen(b);
		snprintf(b + n, cap - n, ")");
	}
	if (rnd(10) < 3) {
		n = strlen(b);
		snprintf(b + n, cap - n, "%s", quants[rnd(sizeof(quants) / sizeof(*quants))]);
	}
}

static void gen_re(char *b, size_t cap, int depth)
{
	for (unsigned alt = 0, na = 1 + (rnd(4) == 0); alt < na; alt++) {
		if (alt)
			strncat(b, "|", cap - strlen(b) - 1);
		for (unsigned i = 0, m = 1 + rnd(5); i < m; i++)
			gen_item(b, cap, depth);
	}
}

/* Text from pieces that the patterns use, with the letters that fold from
 * longer characters, a non-ASCII word character and a non-ASCII space;
 * half the pieces are words of the pattern re itself, so that its matches
 * (and near misses) are frequent. */
static void gen_text(char *t, size_t cap, const char *re)
{
	char words[16][16];
	size_t nw = 0;

	for (const char *c = re; *c && nw < 16;) {
		size_t l = 0;

		while (c[l] && isalnum((unsigned char)c[l]) && l < 15)
			l++;
		if (l && (c == re || c[-1] != '\\')) {
			memcpy(words[nw], c, l);
			words[nw++][l] = '\0';
		}
		c += l ? l : 1;
	}
	static const char *const pieces[] = {
		"a", "b", "k", "s", "d", "ab", "ks", "sk", "-", " ", " ", "0", "3", "4", "34", "_", ".",
		"\xC3\xA9", "\xE2\x84\xAA", "\xC5\xBF", "\xC2\xA0", "\n", "dka", "bask ", "#", "\t", "]",
		/* Runs of separators, which the prefilter reads as one. */
		"  ", " - ", " \n\t", "\xC2\xA0 ", "/-", "\xE2\x80\x83",
	};
	size_t n = 0, want = rnd(4) ? rnd(60) : 64 + rnd(400);

	while (n < want) {
		const char *p = nw && rnd(2) ? words[rnd((unsigned)nw)] :
					       pieces[rnd(sizeof(pieces) / sizeof(*pieces))];
		size_t l = strlen(p);

		if (n + l + 1 > cap)
			break;
		memcpy(t + n, p, l);
		n += l;
	}
	t[n] = '\0';
}

/* 1 if the whole-field scan of req hits a pcre2 limit.  Its rule findings
 * then stop where the limit was hit, while the prefilter may skip the
 * pattern (its literal is absent) or run it in windows short enough to end:
 * it may only do better there, so such texts are not compared. */
static int limit_without_prefilter(struct kvs_ruleset *rs, struct kvs_request *req)
{
	struct kvs_report off = {0};
	int lim = 0;

	rules_set_prefilter(rs, 0);
	ck_assert_int_ge(rules_screen(rs, req, &off, NULL), 0);
	rules_set_prefilter(rs, 1);
	for (size_t k = 0; k < off.n; k++)
		lim |= strstr(off.v[k].rule, ".limit") != NULL;
	mock_report_reset(&off);
	return lim;
}

/* form with each '%' replaced by a and b in turn. */
static void fill_form(char *out, size_t cap, const char *form, const char *a, const char *b)
{
	size_t n = 0;
	int k = 0;

	for (; *form && n + 1 < cap; form++) {
		if (*form == '%') {
			const char *v = k++ % 2 ? b : a;

			n += (size_t)snprintf(out + n, cap - n, "%s", v);
			if (n >= cap)
				n = cap - 1;
		} else {
			out[n++] = *form;
		}
	}
	out[n] = '\0';
}

/* Words joined across runs of separators (the prefilter reads a run as
 * one separator and reads an occurrence back to where it starts): every
 * kind of run, at the start and end of the field and across the lanes'
 * boundaries, gives the findings of a scan without the prefilter. */
START_TEST(test_prefilter_separators)
{
	static const char *const sep[] = {
		" ", "  ", " - ", "\n\t", "\xC2\xA0", "\xE2\x80\x83", " -\xC2\xA0 ", "-", "/",
		"", "\xE2\x84\xAA", " \xC5\xBF ",
	};
	static const char *const form[] = {
		"foo%bar", "alpha%beta%gamma", "cross%section%reduction", "xylo%phone",
		"ka34%4", "%3", "q7%", "radar%cross%", "delta wave%form", "%foo%bar%",
	};
	struct kvs_ruleset *rs = load(DATA "separators.conf");
	size_t findings = 0, evidence = 0, texts = 0;
	char text[2048], body[256];

#define N(a) (sizeof(a) / sizeof((a)[0]))
	for (size_t f = 0; f < N(form); f++)
		for (size_t a = 0; a < N(sep); a++)
			for (size_t b = 0; b < N(sep); b += 1 + (a % 3))
				for (size_t pad = 0; pad < 140; pad += pad < 4 || (pad > 56 && pad < 72) ? 1 : 17) {
					fill_form(body, sizeof(body), form[f], sep[a], sep[b]);
					/* Padding of separators or words before and after. */
					snprintf(text, sizeof(text), "%*s%s%s%*s", (int)pad,
						 pad % 2 ? "" : "x", body, sep[b], (int)(140 - pad),
						 pad % 3 ? " " : "y");
					findings += same_findings_text(rs, text, &evidence);
					texts++;
				}
	/* A run longer than a lane and than a class walk. */
	{
		char *big = malloc(4096);

		ck_assert_ptr_nonnull(big);
		memset(big, ' ', 4095);
		big[4095] = '\0';
		memcpy(big + 3, "alpha", 5);
		memcpy(big + 3000, "beta\n gamma", 12);
		ck_assert_uint_eq(same_findings_text(rs, big, &evidence), 1);
		free(big);
		texts++;
	}
#undef N
	printf("prefilter equivalence (separators): %zu texts, %zu findings, %zu spans\n",
	       texts, findings, evidence);
	ck_assert_uint_ge(findings, texts / 10);
	rules_free(rs);
}
END_TEST

/* Thousands of random patterns and texts: the prefilter (its literal sets,
 * prefix bounds, windows, automaton lanes and folded letters) never changes
 * a finding, and adds no limit finding. */
START_TEST(test_prefilter_random)
{
	char dir[] = "/tmp/kvs-rules-XXXXXX", path[64], re[1536], conf[4096], text[1024];
	size_t patterns = 0, bad = 0, findings = 0, evidence = 0, with_literal = 0, limited = 0;

	const char *seed = getenv("KVS_RANDOM_SEED"), *iters = getenv("KVS_RANDOM_PATTERNS");
	int n = iters ? atoi(iters) : 3000;

	/* KVS_RANDOM_SEED and KVS_RANDOM_PATTERNS run other and more cases. */
	if (seed)
		rnd_state = strtoull(seed, NULL, 0) | 1;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.conf", dir);
	for (int i = 0; i < n; i++) {
		struct kvs_ruleset *rs = NULL;
		struct rules_info ri;
		FILE *fp;
		size_t o = 0;

		re[0] = '\0';
		/* Often an optional group where the match starts, as in
		 * \b(?:nuclear\s+)?fuel: its literals anchor the matches with it. */
		if (rnd(3) == 0) {
			snprintf(re, sizeof(re), "%s(?:", rnd(2) ? "\\b" : "");
			gen_item(re, sizeof(re), 2);
			strncat(re, rnd(2) ? "\\s+)?" : ")?", sizeof(re) - strlen(re) - 1);
			if (rnd(3) == 0)
				strncat(re, "(?:ab|k)?", sizeof(re) - strlen(re) - 1);
		}
		gen_re(re + strlen(re), sizeof(re) - strlen(re), 0);
		/* Often a context or an exclusion pattern too (after a tab in re,
		 * so that the texts hold its words), near or overlapping: they
		 * run near their own literals' occurrences. */
		size_t main_len = strlen(re);
		unsigned extra = rnd(3);

		if (extra) {
			strncat(re, "\t", sizeof(re) - strlen(re) - 1);
			gen_re(re + strlen(re), sizeof(re) - strlen(re), 0);
		}
		/* libconfig string: every backslash doubled. */
		o += (size_t)snprintf(conf, sizeof(conf),
				      "rules = ( { id = \"R\"; title = \"t\"; severity = \"low\"; patterns = [ \"");
		for (const char *c = re; *c && o + 64 < sizeof(conf); c++) {
			if ((size_t)(c - re) == main_len) {
				unsigned w = rnd(3) ? rnd(40) : 0;

				o += (size_t)snprintf(conf + o, sizeof(conf) - o, "\" ]; %s_window = %u; %s = [ \"",
						      extra == 1 ? "context" : "exclude", w,
						      extra == 1 ? "context" : "exclude");
				continue;
			}
			if (*c == '\\')
				conf[o++] = '\\';
			conf[o++] = *c;
		}
		snprintf(conf + o, sizeof(conf) - o, "\" ]; } );\n");
		fp = fopen(path, "w");
		ck_assert_ptr_nonnull(fp);
		fputs(conf, fp);
		fclose(fp);
		mock_errors[0] = '\0';
		if (rules_load(&mock_host, NULL, path, &rs) < 0) {
			bad++;          /* not a valid pattern (e.g. a quantified ^) */
			continue;
		}
		patterns++;
		ck_assert_int_eq(rules_get(rs, 0, &ri), 0);
		with_literal += ri.has_literal;
		for (int k = 0; k < 25; k++) {
			struct kvs_request *req = mock_request(KVS_REQ_EXPORT);

			gen_text(text, sizeof(text), re);
			mock_set(req, "/description", text, SIZE_MAX, 1);
			cur_conf = conf;
			if (limit_without_prefilter(rs, req))
				limited++;
			else
				findings += same_findings(rs, req, &evidence);
			mock_request_free(req);
		}
		rules_free(rs);
	}
	cur_conf = NULL;
	unlink(path);
	rmdir(dir);
	printf("prefilter equivalence (random): %zu patterns (%zu with a literal, %zu invalid "
	       "skipped), %zu texts (%zu not compared: a pcre2 limit without the prefilter), "
	       "%zu findings, %zu spans\n", patterns, with_literal, bad, patterns * 25, limited,
	       findings, evidence);
	ck_assert_uint_ge(patterns, (size_t)n * 2 / 3);
	ck_assert_uint_ge(with_literal, (size_t)n / 3);
	ck_assert_uint_ge(findings, (size_t)n);
}
END_TEST

/* Several paths in one set: findings as the sets one by one would give,
 * counted per path; a duplicate id across paths is an error. */
START_TEST(test_load_paths)
{
	const char *const paths[] = { DATA "good.conf", DATA "prefix.conf" };
	const char *const twice[] = { DATA "good.conf", DATA "good.conf" };
	struct kvs_ruleset *rs = NULL, *a = load(paths[0]), *b = load(paths[1]);
	struct kvs_request *req = mock_request(KVS_REQ_EXPORT);
	struct kvs_report one = {0}, two = {0};
	int counts[2] = {0};

	mock_errors[0] = '\0';
	ck_assert_int_eq(rules_load_paths(&mock_host, NULL, paths, 2, &rs), 0);
	ck_assert_uint_eq(rules_count(rs), rules_count(a) + rules_count(b));
	mock_set(req, "/description", "A 5 W laser, encryption and a deltawave array.", SIZE_MAX, 1);
	ck_assert_int_eq(rules_screen_counted(rs, req, &one, NULL, counts), 4);
	ck_assert_int_eq(counts[0], 2);
	ck_assert_int_eq(counts[1], 2);
	ck_assert_int_eq(rules_screen(a, req, &two, NULL), 2);
	ck_assert_int_eq(rules_screen(b, req, &two, NULL), 2);
	ck_assert_uint_eq(one.n, two.n);
	for (size_t i = 0; i < one.n; i++)
		ck_assert_str_eq(one.v[i].rule, two.v[i].rule);
	mock_report_reset(&one);
	mock_report_reset(&two);
	rules_free(rs);
	rs = (void *)1;
	ck_assert_int_eq(rules_load_paths(&mock_host, NULL, twice, 2, &rs), -EINVAL);
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(strstr(mock_errors, "duplicate id"));
	ck_assert_int_eq(rules_load_paths(&mock_host, NULL, paths, 0, &rs), -EINVAL);
	mock_request_free(req);
	rules_free(a);
	rules_free(b);
}
END_TEST

/* The load environment: relative paths against base_dir, every file read
 * recorded for the digest, errors to env->error rather than the host. */
struct env_log {
	char files[4][512];
	int n_files;
	char errors[1024];
};

static void env_error(void *arg, const char *file, int line, const char *msg)
{
	struct env_log *lg = arg;
	size_t n = strlen(lg->errors);

	snprintf(lg->errors + n, sizeof(lg->errors) - n, "%s:%d: %s\n", file, line, msg);
}

static int env_add_file(void *arg, const char *path)
{
	struct env_log *lg = arg;

	if (lg->n_files == 4)
		return -ENOMEM;
	snprintf(lg->files[lg->n_files++], sizeof(lg->files[0]), "%s", path);
	return 0;
}

START_TEST(test_load_env)
{
	struct env_log lg = { .n_files = 0 };
	struct kvs_load_env env = { DATA, env_error, env_add_file, &lg };
	struct kvs_ruleset *rs = NULL;

	mock_errors[0] = '\0';
	ck_assert_int_eq(rules_load(&mock_host, &env, "good.conf", &rs), 0);
	ck_assert_int_eq(lg.n_files, 1);
	ck_assert_str_eq(lg.files[0], DATA "/good.conf");
	rules_free(rs);
	rs = (void *)1;
	ck_assert_int_eq(rules_load(&mock_host, &env, "bad_regex.conf", &rs), -EINVAL);
	ck_assert_ptr_null(rs);
	ck_assert_int_eq(lg.n_files, 2);
	ck_assert_ptr_nonnull(strstr(lg.errors, DATA "/bad_regex.conf:"));
	ck_assert_str_eq(mock_errors, "");
	/* A digest that cannot record the file fails the load. */
	lg.n_files = 4;
	ck_assert_int_eq(rules_load(&mock_host, &env, "good.conf", &rs), -ENOMEM);
}
END_TEST

/* Concurrent screening with one set: per-thread match data. */
static void *screen_thread(void *arg)
{
	struct kvs_ruleset *rs = arg;
	struct kvs_request *req = mock_request(KVS_REQ_EXPORT);
	long bad = 0;

	mock_set(req, "/description", "encryption and a 5 W laser", SIZE_MAX, 1);
	for (int i = 0; i < 2000; i++) {
		struct kvs_report rep = {0};

		if (rules_screen(rs, req, &rep, NULL) != 2)
			bad++;
		mock_report_reset(&rep);
	}
	mock_request_free(req);
	return (void *)bad;
}

START_TEST(test_threads)
{
	struct kvs_ruleset *rs = load(DATA "good.conf");
	pthread_t t[4];
	void *r;

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, screen_thread, rs), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &r), 0);
		ck_assert_ptr_null(r);
	}
	rules_free(rs);
}
END_TEST

static Suite *rules_suite(void)
{
	Suite *s = suite_create("rules");
	TCase *tc = tcase_create("engine");

	tcase_add_test(tc, test_error_bad_regex);
	tcase_add_test(tc, test_error_unknown_key);
	tcase_add_test(tc, test_error_missing_id);
	tcase_add_test(tc, test_error_syntax);
	tcase_add_test(tc, test_error_missing_file);
	tcase_add_test(tc, test_error_prefilter_too_large);
	tcase_add_test(tc, test_match_evidence);
	tcase_add_test(tc, test_context_required);
	tcase_add_test(tc, test_exclusion);
	tcase_add_test(tc, test_negation);
	tcase_add_test(tc, test_fields_and_prefix);
	tcase_add_test(tc, test_utf8_edges);
	tcase_add_test(tc, test_word_start_prefilter);
	tcase_add_test(tc, test_caseless_fold_table);
	tcase_add_test(tc, test_literal_extraction);
	tcase_add_test(tc, test_catastrophic_limit);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_shipped_examples);
	tcase_add_test(tc, test_phrase_table);
	tcase_add_test(tc, test_prefilter_equivalence_cordis);
	tcase_add_test(tc, test_prefilter_equivalence_prefix);
	tcase_add_test(tc, test_load_paths);
	tcase_add_test(tc, test_load_env);
	tcase_add_test(tc, test_prefilter_separators);
	tcase_add_test(tc, test_prefilter_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_main(rules_suite());
}
