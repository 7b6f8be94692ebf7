/* test_report.c - the case report's escaping, evidence placement and links, and the audit chain's checks, without a browser. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "digest.h"
#include "report.h"
#include "ck_main.h"

static char *render(const char *verdict, const char *request, const char *decisions)
{
	struct report_input in = { 0 };
	json_t *v = json_loads(verdict, 0, NULL), *r = request ? json_loads(request, 0, NULL) : NULL;
	json_t *d = decisions ? json_loads(decisions, 0, NULL) : NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(f);
	in.verdict = v;
	in.request = r;
	in.decisions = d;
	ck_assert_int_eq(report_render(&in, f), 0);
	fclose(f);
	json_decref(v);
	json_decref(r);
	json_decref(d);
	return out;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

#define EVIL "<script>alert(1)</script>\\\"><img src=x onerror=alert(2)>' onclick='x'"

/* Every input text is escaped: no tag or quote of the input survives. */
START_TEST(escapes_everything)
{
	const char *req = "{\"id\":\"e\",\"type\":\"partnership\",\"title\":\"" EVIL "\","
		"\"description\":\"" EVIL "\",\"parties\":[{\"role\":\"partner\",\"name\":\"" EVIL
		"\",\"country\":\"CN\",\"aliases\":[\"" EVIL "\"]}],\"institution\":{\"name\":\"" EVIL
		"\"}}";
	const char *v = "{\"schema\":\"kvscreen.verdict/v1\",\"request_id\":\"e\",\"decision\":\"" EVIL
		"\",\"score\":1,\"findings\":[{\"plugin\":\"" EVIL "\",\"rule\":\"" EVIL
		"\",\"severity\":\"" EVIL "\",\"title\":\"" EVIL "\",\"rationale\":\"" EVIL
		"\",\"references\":[\"" EVIL "\"],\"action\":\"" EVIL "\",\"evidence\":[{\"path\":\"/title\","
		"\"start\":0,\"end\":8,\"text\":\"<script>\"}]}],\"actions\":[\"" EVIL "\"],"
		"\"plugins\":[{\"name\":\"" EVIL "\",\"version\":\"" EVIL "\",\"status\":\"ok\"}],"
		"\"policy\":{\"digest\":\"" EVIL "\"}}";
	const char *d = "[{\"seq\":1,\"officer\":\"" EVIL "\",\"reason\":\"" EVIL "\",\"conditions\":\""
		EVIL "\",\"decision\":\"" EVIL "\",\"at\":\"" EVIL "\",\"hash\":\"" EVIL "\"}]";
	char *html = render(v, req, d);

	ck_assert_int_eq(count(html, "<script"), 0);
	ck_assert_int_eq(count(html, "<img"), 0);
	ck_assert_int_eq(count(html, "' onclick"), 0);
	ck_assert_int_eq(count(html, "\" onerror"), 0);
	ck_assert_int_gt(count(html, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x "
				       "onerror=alert(2)&gt;&#39; onclick=&#39;x&#39;"), 10);
	/* The span over "<script>" of the title is marked in place. */
	ck_assert_ptr_nonnull(strstr(html, "<mark id=\"ev-1-1\" title=\"finding 1: &lt;script&gt;"));
	/* Severity and decision classes are fixed names, never the input. */
	ck_assert_ptr_nonnull(strstr(html, "class=\"decision d-review\""));
	ck_assert_ptr_nonnull(strstr(html, "class=\"sev sev-info\""));
	free(html);
}
END_TEST

/* Offsets are checked against the text: range, UTF-8 boundaries, content. */
START_TEST(spans_validated)
{
	/* "café Ω" is 63 61 66 c3 a9 20 ce a9: bytes 4 and 7 are inside characters. */
	const char *req = "{\"id\":\"u\",\"type\":\"export\",\"description\":\"caf\\u00e9 \\u03a9 end\"}";
	const char *v = "{\"schema\":\"kvscreen.verdict/v1\",\"request_id\":\"u\",\"decision\":\"review\","
		"\"findings\":[{\"plugin\":\"p\",\"rule\":\"r\",\"severity\":\"low\",\"title\":\"t\","
		"\"evidence\":["
		"{\"path\":\"/description\",\"start\":0,\"end\":5,\"text\":\"caf\\u00e9\"},"
		"{\"path\":\"/description\",\"start\":4,\"end\":8,\"text\":\"x\"},"
		"{\"path\":\"/description\",\"start\":6,\"end\":99,\"text\":\"x\"},"
		"{\"path\":\"/description\",\"start\":9,\"end\":12,\"text\":\"END\"},"
		"{\"path\":\"/nowhere\",\"start\":0,\"end\":1,\"text\":\"n\"},"
		"{\"path\":\"/description\",\"start\":6,\"end\":12,\"text\":\"\\u03a9 end\"}]}]}";
	char *html = render(v, req, NULL);

	ck_assert_ptr_nonnull(strstr(html, "<mark id=\"ev-1-1\""));
	ck_assert_ptr_nonnull(strstr(html, "split a UTF-8 character"));
	ck_assert_ptr_nonnull(strstr(html, "offsets lie outside the text"));
	ck_assert_ptr_nonnull(strstr(html, "differs from the quoted evidence"));
	ck_assert_ptr_nonnull(strstr(html, "does not name a text of the request"));
	/* Every evidence link has its mark: 6 links, 6 ids. */
	for (int e = 1; e <= 6; e++) {
		char id[32], href[32];

		snprintf(id, sizeof(id), "id=\"ev-1-%d\"", e);
		snprintf(href, sizeof(href), "href=\"#ev-1-%d\"", e);
		ck_assert_int_eq(count(html, id), 1);
		ck_assert_int_eq(count(html, href), 1);
	}
	/* Placed in the text: the first and the last (overlapping nothing). */
	ck_assert_ptr_nonnull(strstr(html, "<dd><mark id=\"ev-1-1\" title=\"finding 1: t\">caf\xc3\xa9</mark>"));
	ck_assert_ptr_nonnull(strstr(html, "<mark id=\"ev-1-6\" title=\"finding 1: t\">\xce\xa9 end</mark>"));
	free(html);
}
END_TEST

/* Evidence pointing at a number or boolean marks the whole value; a value
 * that differs from the request's, or a path to a text, is not placed. */
START_TEST(values_marked_whole)
{
	const char *req = "{\"id\":\"n\",\"type\":\"investment\",\"investment\":"
		"{\"stake_percent\":24,\"board_seat\":true,\"target\":\"Q B.V.\"}}";
	const char *v = "{\"schema\":\"kvscreen.verdict/v1\",\"request_id\":\"n\",\"decision\":\"review\","
		"\"findings\":[{\"plugin\":\"p\",\"rule\":\"r\",\"severity\":\"high\",\"title\":\"t\","
		"\"evidence\":["
		"{\"path\":\"/investment/stake_percent\",\"value\":24.0},"
		"{\"path\":\"/investment/board_seat\",\"value\":true},"
		"{\"path\":\"/investment/stake_percent\",\"value\":25},"
		"{\"path\":\"/investment/target\",\"value\":1}]}],"
		"\"plugins\":[{\"name\":\"p\",\"version\":\"1\",\"status\":\"ok\",\"duration_us\":1,"
		"\"lists_missing\":[\"eu_fsf\",\"<b>x\"]}]}";
	char *html = render(v, req, NULL);

	ck_assert_ptr_nonnull(strstr(html, "<dd><mark id=\"ev-1-1\" title=\"finding 1: t\">24</mark>"));
	ck_assert_ptr_nonnull(strstr(html, "<dd><mark id=\"ev-1-2\" title=\"finding 1: t\">true</mark>"));
	ck_assert_ptr_nonnull(strstr(html, "<a href=\"#ev-1-1\">&ldquo;24&rdquo; in "
					   "<code>/investment/stake_percent</code></a>"));
	ck_assert_ptr_nonnull(strstr(html, "differs from the quoted evidence"));
	ck_assert_ptr_nonnull(strstr(html, "does not name a number or boolean"));
	/* The plugin's entry says which lists it screened without. */
	ck_assert_ptr_nonnull(strstr(html, "<strong>screened without</strong> (not downloaded): "
					   "eu_fsf, &lt;b&gt;x</td>"));
	for (int e = 1; e <= 4; e++) {
		char id[32];

		snprintf(id, sizeof(id), "id=\"ev-1-%d\"", e);
		ck_assert_int_eq(count(html, id), 1);
	}
	free(html);
}
END_TEST

/* Without the request every span is quoted from the verdict, and said so. */
START_TEST(without_request)
{
	const char *v = "{\"schema\":\"kvscreen.verdict/v1\",\"request_id\":\"q\",\"decision\":\"deny\","
		"\"findings\":[{\"plugin\":\"p\",\"rule\":\"r\",\"severity\":\"critical\",\"title\":\"t\","
		"\"evidence\":[{\"path\":\"/title\",\"start\":0,\"end\":3,\"text\":\"abc\"}]}]}";
	char *html = render(v, NULL, NULL);

	ck_assert_ptr_nonnull(strstr(html, "not available to this report"));
	ck_assert_ptr_nonnull(strstr(html, "<mark id=\"ev-1-1\" title=\"finding 1: t\">abc</mark>"));
	ck_assert_ptr_nonnull(strstr(html, "d-deny"));
	free(html);
}
END_TEST

/* audit_scan: an intact chain, then each kind of damage found by number. */
START_TEST(audit_chain)
{
	/* Two records made the way audit.c writes them. */
	char l1[512], l2[512], body[512], h1[65], h2[65], buf[2048];
	struct audit_check c;

	snprintf(body, sizeof(body), "{\"prev\":\"%s\",\"request_id\":\"a\",\"seq\":1}", AUDIT_ZERO_HASH);
	ck_assert_int_eq(digest_buffer(body, strlen(body), h1), 0);
	snprintf(l1, sizeof(l1), "%.*s,\"hash\":\"%s\"}\n", (int)strlen(body) - 1, body, h1);
	snprintf(body, sizeof(body), "{\"prev\":\"%s\",\"request_id\":\"b\",\"seq\":2}", h1);
	ck_assert_int_eq(digest_buffer(body, strlen(body), h2), 0);
	snprintf(l2, sizeof(l2), "%.*s,\"hash\":\"%s\"}\n", (int)strlen(body) - 1, body, h2);

	snprintf(buf, sizeof(buf), "%s%s", l1, l2);
	ck_assert_int_eq(audit_scan(buf, strlen(buf), &c, NULL, NULL), 0);
	ck_assert_uint_eq(c.broken, 0);
	ck_assert_uint_eq(c.records, 2);
	ck_assert_str_eq(c.head, h2);

	buf[strlen(l1) + 30] ^= 1;                      /* a changed byte in record 2 */
	ck_assert_int_eq(audit_scan(buf, strlen(buf), &c, NULL, NULL), 0);
	ck_assert_uint_eq(c.broken, 2);
	ck_assert_ptr_nonnull(strstr(c.message, "does not match its hash"));

	snprintf(buf, sizeof(buf), "%s%s", l2, l1);     /* reordered */
	ck_assert_int_eq(audit_scan(buf, strlen(buf), &c, NULL, NULL), 0);
	ck_assert_uint_eq(c.broken, 1);

	snprintf(buf, sizeof(buf), "%s", l2);           /* record 1 deleted */
	ck_assert_int_eq(audit_scan(buf, strlen(buf), &c, NULL, NULL), 0);
	ck_assert_uint_eq(c.broken, 1);
	ck_assert_ptr_nonnull(strstr(c.message, "seq is 2 where 1"));

	snprintf(buf, sizeof(buf), "%s%.20s", l1, l2);  /* cut short */
	ck_assert_int_eq(audit_scan(buf, strlen(buf), &c, NULL, NULL), 0);
	ck_assert_uint_eq(c.broken, 2);
	ck_assert_int_eq(c.torn, 1);
	ck_assert_uint_eq(c.valid_bytes, strlen(l1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_add_test(tc, escapes_everything);
	tcase_add_test(tc, spans_validated);
	tcase_add_test(tc, values_marked_whole);
	tcase_add_test(tc, without_request);
	tcase_add_test(tc, audit_chain);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
