/* bench_hs.c - the Vectorscan/Hyperscan peer of bench_rules: the same patterns over the same corpus, one thread.
 *
 * Usage: bench_hs -p PATTERNS -c CORPUS [-m MB] [-u]
 * PATTERNS is the file `bench_rules -P` writes (one pcre2 pattern a line),
 * CORPUS the file `bench_rules -o` writes (one request's text a line).  Each
 * pattern is compiled caseless, UTF-8 and, unless -a, with Unicode classes
 * and word boundaries (HS_FLAG_UCP, as the rule engine and rg's default);
 * with -a, \b and \w are ASCII (as rg's (?-u:\b)).  Patterns Vectorscan
 * cannot compile are counted and left out.  Every line is scanned as one
 * block, again and again until MB megabytes (default 50) are screened; it
 * prints CPU time as MB/s, and the (line, pattern) pairs that matched in
 * one pass (HS_FLAG_SINGLEMATCH: one report per pattern per line).
 */
#include "config.h"

#include <hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct lines {
	char **v;
	size_t *len;
	size_t n, cap, bytes;
};

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_lines(const char *path, struct lines *l)
{
	FILE *fp = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!fp)
		return -1;
	while ((n = getline(&line, &cap, fp)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 1024;
			l->v = realloc(l->v, l->cap * sizeof(*l->v));
			l->len = realloc(l->len, l->cap * sizeof(*l->len));
			if (!l->v || !l->len)
				abort();
		}
		l->v[l->n] = strdup(line);
		if (!l->v[l->n])
			abort();
		l->len[l->n++] = (size_t)n;
		l->bytes += (size_t)n;
	}
	free(line);
	fclose(fp);
	return 0;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
		    unsigned int flags, void *ctx)
{
	(*(size_t *)ctx)++;
	return 0;
}

int main(int argc, char **argv)
{
	const char *pat_path = NULL, *corpus_path = NULL;
	struct lines pats = { 0 }, corpus = { 0 };
	const char **exprs;
	unsigned *flags, *ids, base;
	size_t n_ok = 0, n_bad = 0, bytes = 0, pairs = 0, passes = 0;
	hs_database_t *db = NULL;
	hs_scratch_t *scratch = NULL;
	hs_compile_error_t *err = NULL;
	double mb = 50, t0, dt;
	int opt, ucp = 0;

	while ((opt = getopt(argc, argv, "p:c:m:u")) != -1) {
		switch (opt) {
		case 'p': pat_path = optarg; break;
		case 'c': corpus_path = optarg; break;
		case 'm': mb = atof(optarg); break;
		case 'u': ucp = 1; break;
		default:
			fprintf(stderr, "usage: %s -p PATTERNS -c CORPUS [-m MB] [-u]\n", argv[0]);
			return 2;
		}
	}
	if (!pat_path || !corpus_path || read_lines(pat_path, &pats) < 0 ||
	    read_lines(corpus_path, &corpus) < 0) {
		fprintf(stderr, "usage: %s -p PATTERNS -c CORPUS [-m MB] [-u]\n", argv[0]);
		return 2;
	}
	base = HS_FLAG_CASELESS | HS_FLAG_UTF8 | HS_FLAG_SINGLEMATCH | (ucp ? HS_FLAG_UCP : 0);
	exprs = calloc(pats.n, sizeof(*exprs));
	flags = calloc(pats.n, sizeof(*flags));
	ids = calloc(pats.n, sizeof(*ids));
	if (!exprs || !flags || !ids)
		abort();
	/* One by one first, to leave out what Vectorscan does not support. */
	t0 = cpu_now();
	for (size_t i = 0; i < pats.n; i++) {
		hs_database_t *one = NULL;

		if (hs_compile(pats.v[i], base, HS_MODE_BLOCK, NULL, &one, &err) != HS_SUCCESS) {
			if (n_bad < 5)
				fprintf(stderr, "left out: %s: %s\n", pats.v[i], err->message);
			hs_free_compile_error(err);
			n_bad++;
			continue;
		}
		hs_free_database(one);
		exprs[n_ok] = pats.v[i];
		flags[n_ok] = base;
		ids[n_ok] = (unsigned)i;
		n_ok++;
	}
	if (n_ok == 0) {
		printf("vectorscan %s: none of %zu patterns compiled (%s \\b)\n", hs_version(), pats.n,
		       ucp ? "Unicode" : "ASCII");
		return 1;
	}
	if (hs_compile_multi(exprs, flags, ids, (unsigned)n_ok, HS_MODE_BLOCK, NULL, &db, &err) !=
	    HS_SUCCESS) {
		fprintf(stderr, "compile: %s\n", err->message);
		hs_free_compile_error(err);
		return 1;
	}
	dt = cpu_now() - t0;
	if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS)
		return 1;
	printf("vectorscan %s: %zu of %zu patterns compiled (%s \\b), %zu left out; compile %.1f s\n",
	       hs_version(), n_ok, pats.n, ucp ? "Unicode" : "ASCII", n_bad, dt);
	t0 = cpu_now();
	while ((double)bytes < mb * 1e6) {
		size_t found = 0;

		for (size_t i = 0; i < corpus.n; i++) {
			if (hs_scan(db, corpus.v[i], (unsigned)corpus.len[i], 0, scratch, on_match,
				    &found) != HS_SUCCESS)
				return 1;
			bytes += corpus.len[i];
		}
		if (passes++ == 0)
			pairs = found;
	}
	dt = cpu_now() - t0;
	printf("vectorscan: %7.1f MB/s  %9.0f requests/s  (%.1f MB in %.2f s CPU, %zu (line, pattern) matches per pass)\n",
	       (double)bytes / 1e6 / dt, (double)(corpus.n * passes) / dt, (double)bytes / 1e6, dt,
	       pairs);
	hs_free_scratch(scratch);
	hs_free_database(db);
	return 0;
}
