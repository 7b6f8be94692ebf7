/* test_alloc_fail.c - the rule engine and the name matcher under allocation failure: an error or the right answer, never a crash or a wrong answer. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_fail.h"
#include "lists.h"
#include "lists_host.h"
#include "rules.h"
#include "rules_mock.h"
#include "ck_main.h"

/* Past this many allocations one screening is not "a few": the loops stop
 * there rather than run for ever if counting broke. */
#define MAX_NTH 20000

static char dir[] = "/tmp/kvs-allocfail.XXXXXX";

/* A rules file of n rules, rule k matching the word "wK" (and, for every
 * fifth, only near a number, to run the context windows). */
static char *write_rules(const char *name, int n)
{
	char *path;
	FILE *f;

	ck_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "rules = (\n");
	for (int k = 0; k < n; k++)
		fprintf(f, "\t{ id = \"T-%d\"; title = \"word %d\"; patterns = [ \"\\\\bw%d\\\\b\" ];%s "
			   "severity = \"%s\"; references = [ \"ref %d\" ]; }%s\n",
			k, k, k, k % 5 == 0 ? " context = [ \"[0-9]+\" ]; context_window = 20;" : "",
			k % 2 ? "low" : "high", k, k + 1 < n ? "," : "");
	fprintf(f, ");\n");
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static struct kvs_ruleset *load_rules(const char *path)
{
	struct kvs_ruleset *rs = NULL;

	mock_errors[0] = '\0';
	ck_assert_msg(rules_load(&mock_host, NULL, path, &rs) == 0, "%s: %s", path, mock_errors);
	return rs;
}

/* The rule ids of a report, in order, comma-separated. */
static void summary(const struct kvs_report *rep, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < rep->n && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s,", rep->v[i].rule);
}

/* An answer under a failed allocation is right when it is the expected one
 * where every finding may also have become "RULE.limit" (pcre2 reports a
 * failed allocation as a limit: a medium finding, so the request still
 * goes to review, never clear). */
static int same_or_limited(const char *got, const char *want)
{
	char g[65536], w[65536], *sg, *sw, *a, *b;

	snprintf(g, sizeof(g), "%s", got);
	snprintf(w, sizeof(w), "%s", want);
	a = strtok_r(g, ",", &sg);
	b = strtok_r(w, ",", &sw);
	for (; a && b; a = strtok_r(NULL, ",", &sg), b = strtok_r(NULL, ",", &sw)) {
		size_t n = strlen(b);

		if (strcmp(a, b) && !(strncmp(a, b, n) == 0 && strcmp(a + n, ".limit") == 0))
			return 0;
	}
	return !a && !b;
}

struct rules_run {
	const struct kvs_ruleset *small, *big;
	const struct kvs_request *req_small, *req_big;
	const char *want_small, *want_big;
	unsigned long nth;
	/* Results, read by the test's thread. */
	int fired, rc, rc_after_small, rc_after_big;
	char got[65536], after_small[65536], after_big[65536];
};

static int screen(const struct kvs_ruleset *rs, const struct kvs_request *req, char *out,
		  size_t size)
{
	struct kvs_report rep = {0};
	int rc = rules_screen(rs, req, &rep, NULL);

	summary(&rep, out, size);
	mock_report_reset(&rep);
	return rc;
}

/* On a new thread (new per-thread scratch): the small set sizes the
 * scratch, the big one grows it with one allocation failed, then both run
 * again unarmed.  The small one after the big one is what dereferenced a
 * NULL sortbits when growing failed half-way. */
static void *rules_thread(void *arg)
{
	struct rules_run *r = arg;
	char tmp[65536];

	if (screen(r->small, r->req_small, tmp, sizeof(tmp)) < 0 || strcmp(tmp, r->want_small)) {
		r->rc = -1000;
		return NULL;
	}
	alloc_fail_arm(r->nth);
	r->rc = screen(r->big, r->req_big, r->got, sizeof(r->got));
	r->fired = alloc_fail_disarm();
	r->rc_after_small = screen(r->small, r->req_small, r->after_small, sizeof(r->after_small));
	r->rc_after_big = screen(r->big, r->req_big, r->after_big, sizeof(r->after_big));
	return NULL;
}

static struct kvs_request *words_request(int from, int to)
{
	struct kvs_request *req = mock_request(KVS_REQ_EXPORT);
	char text[8192];
	size_t o = 0;

	for (int k = from; k < to; k++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "w%d %d, ", k, k);
	mock_set(req, "/description", text, SIZE_MAX, 1);
	mock_set(req, "/title", "w3 and w7 without numbers", SIZE_MAX, 1);
	return req;
}

START_TEST(rules_screen_fails_closed)
{
	char *ps = write_rules("small.conf", 48), *pb = write_rules("big.conf", 400);
	struct kvs_ruleset *small = load_rules(ps), *big = load_rules(pb);
	struct kvs_request *rq_small = words_request(0, 48), *rq_big = words_request(0, 400);
	static struct rules_run r;
	char want_small[65536], want_big[65536];
	unsigned long errors = 0, degraded = 0, nth;

	ck_assert_int_eq(screen(small, rq_small, want_small, sizeof(want_small)), 48);
	ck_assert_int_eq(screen(big, rq_big, want_big, sizeof(want_big)), 400);
	for (nth = 1; nth < MAX_NTH; nth++) {
		pthread_t t;

		memset(&r, 0, sizeof(r));
		r = (struct rules_run){ .small = small, .big = big, .req_small = rq_small,
					.req_big = rq_big, .want_small = want_small,
					.want_big = want_big, .nth = nth };
		ck_assert_int_eq(pthread_create(&t, NULL, rules_thread, &r), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		ck_assert_int_ne(r.rc, -1000);
		if (r.fired && r.rc < 0) {
			ck_assert_int_eq(r.rc, -ENOMEM);
			errors++;
		} else {
			ck_assert_msg(r.rc >= 0 && same_or_limited(r.got, want_big),
				      "allocation %lu failed: rc %d, findings %.200s", nth, r.rc, r.got);
			degraded += r.fired;
		}
		ck_assert_msg(r.rc_after_small == 48 && !strcmp(r.after_small, want_small),
			      "after allocation %lu failed: small set rc %d", nth, r.rc_after_small);
		ck_assert_msg(r.rc_after_big == 400 && !strcmp(r.after_big, want_big),
			      "after allocation %lu failed: big set rc %d", nth, r.rc_after_big);
		if (!r.fired)
			break;
	}
	ck_assert_uint_lt(nth, MAX_NTH);
	printf("rules: %lu allocations of a screening failed in turn: %lu errors, %lu right answers\n",
	       nth - 1, errors, degraded);
	ck_assert_uint_gt(errors, 3);
	mock_request_free(rq_small);
	mock_request_free(rq_big);
	rules_free(small);
	rules_free(big);
	free(ps);
	free(pb);
}
END_TEST

/* Loading a set with one allocation failed: an error and nothing loaded,
 * or the whole set (which then screens right). */
START_TEST(rules_load_fails_cleanly)
{
	char *p = write_rules("load.conf", 40);
	struct kvs_request *req = words_request(0, 40);
	char got[65536], want[65536];
	unsigned long nth, errors = 0;
	struct kvs_ruleset *rs = load_rules(p);

	ck_assert_int_eq(screen(rs, req, want, sizeof(want)), 40);
	rules_free(rs);
	/* libconfig does not survive a NULL from malloc (config_init()
	 * writes through it; a failed strdup leaves a setting without a
	 * name): fail only the loader's own allocations. */
	ck_assert_int_eq(alloc_fail_only(""), 0);
	for (nth = 1; nth < MAX_NTH; nth++) {
		int rc, fired;

		rs = NULL;
		mock_errors[0] = '\0';
		alloc_fail_arm(nth);
		rc = rules_load(&mock_host, NULL, p, &rs);
		fired = alloc_fail_disarm();
		if (rc < 0) {
			ck_assert_msg(fired, "load failed without a failed allocation %lu: %d", nth, rc);
			ck_assert_ptr_null(rs);
			errors++;
		} else {
			ck_assert_int_eq(screen(rs, req, got, sizeof(got)), 40);
			ck_assert_str_eq(got, want);
			rules_free(rs);
		}
		if (!fired)
			break;
	}
	ck_assert_uint_lt(nth, MAX_NTH);
	printf("rules_load: %lu allocations failed in turn, %lu load errors\n", nth - 1, errors);
	ck_assert_uint_gt(errors, 3);
	mock_request_free(req);
	free(p);
}
END_TEST

/* ---- The name matcher ---- */

static const char *const words[] = {
	"northern", "polytechnic", "institute", "aerospace", "harbin", "shenyang", "nuclear",
	"research", "academy", "engineering", "electronics", "precision", "machinery",
	"optical", "systems", "defence", "materials", "trading", "holding", "group",
};
#define NWORDS (sizeof(words) / sizeof(*words))

static char *write_list(int n)
{
	char *path;
	FILE *f;

	ck_assert(asprintf(&path, "%s/names.csv", dir) > 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "id,name,aliases,country,list,severity,reason\n");
	for (int k = 0; k < n; k++)
		fprintf(f, "E%d,%s %s %s %d,%s %s,CN,test,high,generated\n", k,
			words[k % NWORDS], words[(k / 3) % NWORDS], words[(k / 7) % NWORDS], k,
			words[(k / 2) % NWORDS], words[(k / 5) % NWORDS]);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static int match(const struct kvs_list *l, const char *name, char *out, size_t size)
{
	struct kvs_list_match m[16] = { { .size = sizeof(struct kvs_list_match) } };
	int rc = lists_host_match(&l, 1, name, strlen(name), 0.8, m, 16);
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < rc && i < 16 && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s:%.4f,", m[i].entry_id, m[i].score);
	return rc;
}

struct nm_run {
	const struct kvs_list *l;
	const char *name, *want;
	unsigned long nth;
	int fired, rc, rc_after;
	char got[4096], after[4096];
};

/* On a new thread: a new matcher scratch, so its first match allocates it. */
static void *nm_thread(void *arg)
{
	struct nm_run *r = arg;

	alloc_fail_arm(r->nth);
	r->rc = match(r->l, r->name, r->got, sizeof(r->got));
	r->fired = alloc_fail_disarm();
	r->rc_after = match(r->l, r->name, r->after, sizeof(r->after));
	return NULL;
}

START_TEST(name_match_fails_closed)
{
	char *p = write_list(600);
	struct lists_load_opts o = { 0 };
	struct kvs_list *l = NULL;
	/* Entry 25 is "shenyang academy aerospace 25", alias "machinery
	 * shenyang"; entry 47 is "research defence nuclear 47". */
	static const char *const names[] = {
		"Shenyang Academy Aerospace 25", "Research Defence Nuclear 47 (Shenyang Academy)",
		"machinery shenyang",
	};
	unsigned long errors = 0, total = 0;

	ck_assert_int_eq(lists_load_private("kvs", p, "test", KVS_SEV_HIGH, &o, &l), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		static struct nm_run r;
		char want[4096];
		int n = match(l, names[i], want, sizeof(want));
		unsigned long nth;

		ck_assert_msg(n > 0, "%s: %d matches", names[i], n);
		for (nth = 1; nth < MAX_NTH; nth++) {
			pthread_t t;

			r = (struct nm_run){ .l = l, .name = names[i], .want = want, .nth = nth };
			ck_assert_int_eq(pthread_create(&t, NULL, nm_thread, &r), 0);
			ck_assert_int_eq(pthread_join(t, NULL), 0);
			if (r.fired && r.rc < 0) {
				ck_assert_int_eq(r.rc, -ENOMEM);
				errors++;
			} else {
				ck_assert_msg(r.rc == n && !strcmp(r.got, want),
					      "%s, allocation %lu failed: rc %d, %s", names[i], nth,
					      r.rc, r.got);
			}
			ck_assert_msg(r.rc_after == n && !strcmp(r.after, want),
				      "%s, after allocation %lu failed: rc %d", names[i], nth,
				      r.rc_after);
			if (!r.fired)
				break;
		}
		ck_assert_uint_lt(nth, MAX_NTH);
		total += nth - 1;
	}
	printf("name matcher: %lu allocations failed in turn, %lu errors\n", total, errors);
	ck_assert_uint_gt(errors, 2);
	lists_free(l);
	free(p);
}
END_TEST

/* Loading a list with one allocation failed: an error and no list, or the
 * whole list. */
START_TEST(list_load_fails_cleanly)
{
	char *p = write_list(50);
	struct lists_load_opts o = { 0 };
	unsigned long nth, errors = 0;
	struct kvs_list *warm = NULL;

	/* OpenSSL initialises itself once per process and stays broken when
	 * an allocation of that fails: load once before failing any. */
	ck_assert_int_eq(lists_load_private("kvs", p, "test", KVS_SEV_HIGH, &o, &warm), 0);
	lists_free(warm);
	for (nth = 1; nth < MAX_NTH; nth++) {
		struct kvs_list *l = NULL;
		int rc, fired;

		alloc_fail_arm(nth);
		rc = lists_load_private("kvs", p, "test", KVS_SEV_HIGH, &o, &l);
		fired = alloc_fail_disarm();
		if (rc < 0) {
			ck_assert_msg(fired, "load failed without a failed allocation %lu: %d", nth, rc);
			ck_assert_ptr_null(l);
			errors++;
		} else {
			ck_assert_uint_eq(l->n_entries, 50);
			lists_free(l);
		}
		if (!fired)
			break;
	}
	ck_assert_uint_lt(nth, MAX_NTH);
	printf("list load: %lu allocations failed in turn, %lu load errors\n", nth - 1, errors);
	ck_assert_uint_gt(errors, 3);
	free(p);
}
END_TEST

static void cleanup(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	Suite *s;
	TCase *tc;
	int rc;

	if (!alloc_fail_available()) {
		printf("SKIP: allocation failures cannot be injected under AddressSanitizer\n");
		return 77;
	}
	s = suite_create("alloc_fail");
	tc = tcase_create("alloc_fail");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	tcase_add_test(tc, rules_screen_fails_closed);
	tcase_add_test(tc, rules_load_fails_cleanly);
	tcase_add_test(tc, name_match_fails_closed);
	tcase_add_test(tc, list_load_fails_cleanly);
	suite_add_tcase(s, tc);
	rc = ck_main(s);
	cleanup();
	return rc;
}
