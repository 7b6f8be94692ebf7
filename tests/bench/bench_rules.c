/* bench_rules.c - benchmark driver of the rule engine: screens a corpus with every shipped rule on one thread.
 *
 * The corpus is every CORDIS project title and objective in ../shared/data
 * plus the dual-use and military list texts cut into paragraphs, each as one
 * request, screened again and again until at least -m megabytes have been
 * screened.  Prints MB/s and requests/s with the prefilter on and off, the
 * findings per pass (which must agree), and with -c the count of every rule
 * that fired.  With -P FILE it writes every shipped main pattern, one per
 * line, for a comparison with `rg -c -f FILE`, and with -o FILE the corpus
 * as plain text.  -r TREE loads the rules from TREE/conf/rules/ instead of
 * the source tree's; -n skips the pass without the prefilter; -C leaves the
 * list texts out (CORDIS text only), -L the CORDIS texts (list texts only).
 * -F FILE screens the whole of FILE as one field of one request instead (the
 * engine's own time on the text of tests/bench/large.sh).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rules.h"
#include "../unit/rules_mock.h"

struct corpus {
	struct kvs_request **reqs;
	size_t n, cap, bytes;
};

static void add(struct corpus *c, const char *path, const char *text, size_t len)
{
	struct kvs_request *r = mock_request(KVS_REQ_EXPORT);

	mock_set(r, path, text, len, 1);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->reqs = realloc(c->reqs, c->cap * sizeof(*c->reqs));
		if (!c->reqs)
			abort();
	}
	c->reqs[c->n++] = r;
	c->bytes += len;
}

static void add_csv(void *arg, const char *col, const char *text, size_t len)
{
	add(arg, strcmp(col, "objective") ? "/title" : "/description", text, len);
}

/* Cut a text file into requests of about 2 kB at blank lines. */
/* The whole file as one field of one request (at most 64 MB). */
static int add_whole_file(struct corpus *c, const char *file)
{
	FILE *fp = fopen(file, "rb");
	size_t cap = 64u << 20, n;
	char *buf;

	if (!fp)
		return -errno;
	buf = malloc(cap);
	if (!buf)
		abort();
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	add(c, "/description", buf, n);
	free(buf);
	return 0;
}

static int add_text_file(struct corpus *c, const char *file)
{
	FILE *fp = fopen(file, "rb");
	char line[4096], *buf;
	size_t n = 0, cap = 8192;

	if (!fp)
		return -errno;
	buf = malloc(cap);
	if (!buf)
		abort();
	while (fgets(line, sizeof(line), fp)) {
		size_t l = strlen(line);
		int blank = strspn(line, " \t\r\n\f") == l;

		if (n + l + 1 > cap && !(buf = realloc(buf, cap *= 2)))
			abort();
		memcpy(buf + n, line, l);
		n += l;
		if ((blank && n > 2048) || n > 6000) {
			add(c, "/items/0/description", buf, n);
			n = 0;
		}
	}
	if (n)
		add(c, "/items/0/description", buf, n);
	free(buf);
	fclose(fp);
	return 0;
}

/* CPU time of this (single-threaded) process: steadier than wall time on
 * a machine shared with other jobs. */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const char *const cols[] = { "title", "objective", NULL };
	static const char *const sets_rel[] = {
		"conf/rules/export_control/dual-use", "conf/rules/export_control/military.conf",
		"conf/rules/export_control/catch-all.conf",
		"conf/rules/export_control/exemptions.conf",
	};
	const char *data = mock_shared_data(), *dump = NULL, *out = NULL, *base = KVS_SRCDIR;
	/* One set of the four paths, as the export_control plugin loads them. */
	struct kvs_ruleset *set;
	const char *abs[4];
	char abs_buf[4][4096];
	struct corpus c = {0};
	double mb = 50, t0;
	int opt, counts = 0, only_on = 0, no_lists = 0, no_cordis = 0;
	const char *whole = NULL;
	char path[4096];

	while ((opt = getopt(argc, argv, "m:cP:o:r:nCLF:")) != -1) {
		switch (opt) {
		case 'm': mb = atof(optarg); break;
		case 'c': counts = 1; break;
		case 'P': dump = optarg; break;
		case 'o': out = optarg; break;
		case 'r': base = optarg; break;
		case 'n': only_on = 1; break;
		case 'C': no_lists = 1; break;
		case 'L': no_cordis = 1; break;
		case 'F': whole = optarg; no_cordis = no_lists = 1; break;
		default:
			fprintf(stderr, "usage: %s [-m MB] [-c] [-P PATTERNS] [-o CORPUS] [-r TREE] [-n] [-C | -L | -F FILE]\n",
				argv[0]);
			return 2;
		}
	}
	if (!data) {
		fprintf(stderr, "shared data not found beside the checkout\n");
		return 77;
	}
	snprintf(path, sizeof(path), "%s/cordis-horizon-europe-sample-100/project_df_100.csv", data);
	if (!no_cordis)
		mock_csv_each(path, cols, add_csv, &c);
	snprintf(path, sizeof(path), "%s/cordis-china-partner-projects/projects.csv", data);
	if (!no_cordis)
		mock_csv_each(path, cols, add_csv, &c);
	snprintf(path, sizeof(path), "%s/norway-export-control-lists-2022/export-control-appendix2.txt", data);
	if (!no_lists)
		add_text_file(&c, path);
	snprintf(path, sizeof(path), "%s/norway-export-control-lists-2022/common-military-list-2022.txt", data);
	if (!no_lists)
		add_text_file(&c, path);
	if (whole && add_whole_file(&c, whole) < 0) {
		fprintf(stderr, "%s: cannot read\n", whole);
		return 1;
	}
	for (size_t k = 0; k < 4; k++) {
		snprintf(abs_buf[k], sizeof(abs_buf[k]), "%s/%s", base, sets_rel[k]);
		abs[k] = abs_buf[k];
	}
	if (rules_load_paths(&mock_host, NULL, abs, 4, &set) < 0) {
		fprintf(stderr, "%s", mock_errors);
		return 1;
	}
	if (out) {
		FILE *fp = fopen(out, "w");

		for (size_t i = 0; fp && i < c.n; i++) {
			fwrite(c.reqs[i]->f[0].value, 1, c.reqs[i]->f[0].len, fp);
			fputc('\n', fp);
		}
		if (!fp || fclose(fp))
			return 1;
	}
	if (dump) {
		FILE *fp = fopen(dump, "w");
		size_t np = 0;

		for (size_t i = 0; fp && i < rules_count(set); i++) {
			struct rules_info ri;

			rules_get(set, i, &ri);
			for (size_t k = 0; k < ri.n_patterns; k++, np++)
				fprintf(fp, "%s\n", ri.patterns[k]);
		}
		if (!fp || fclose(fp))
			return 1;
		printf("patterns: %zu written to %s\n", np, dump);
	}
	printf("corpus: %zu requests, %.2f MB per pass; screening at least %.0f MB\n", c.n,
	       (double)c.bytes / 1e6, mb);
	for (int pf = 1; pf >= only_on; pf--) {
		size_t bytes = 0, reqs = 0, findings = 0, passes = 0;
		double dt;

		rules_set_prefilter(set, pf);
		t0 = now();
		while ((double)bytes < mb * 1e6) {
			for (size_t i = 0; i < c.n; i++) {
				struct kvs_report rep = {0};

				if (rules_screen(set, c.reqs[i], &rep, NULL) < 0)
					return 1;
				if (passes == 0)
					findings += rep.n;
				mock_report_reset(&rep);
				bytes += c.reqs[i]->f[0].len;
				reqs++;
			}
			passes++;
		}
		dt = now() - t0;
		printf("prefilter %-3s: %7.1f MB/s  %9.0f requests/s  (%.1f MB in %.2f s, %zu findings per pass)\n",
		       pf ? "on" : "off", (double)bytes / 1e6 / dt, (double)reqs / dt,
		       (double)bytes / 1e6, dt, findings);
	}
	if (counts) {
		rules_set_prefilter(set, 1);
		for (size_t i = 0; i < rules_count(set); i++) {
			struct rules_info ri;
			size_t hits = 0;

			rules_get(set, i, &ri);
			for (size_t r = 0; r < c.n; r++) {
				struct kvs_report rep = {0};

				rules_screen(set, c.reqs[r], &rep, NULL);
				hits += mock_find(&rep, ri.id) != NULL;
				mock_report_reset(&rep);
			}
			if (hits)
				printf("%6zu  %s\n", hits, ri.id);
		}
	}
	rules_free(set);
	for (size_t i = 0; i < c.n; i++)
		mock_request_free(c.reqs[i]);
	free(c.reqs);
	return 0;
}
