/* names.c - benchmark driver: loads lists and matches names against them.
 *
 * Usage: names [-b] [-t THRESHOLD] [-n REPEAT] [-v|-V] FORMAT:NAME:SEVERITY:PATH... -- QUERYFILE
 * Prints per-list load time, entries and names; then matches every line of
 * QUERYFILE (REPEAT times) against all lists, printing names/s and p99
 * latency, and with -v the hits of each query (-V: with score and
 * coverages to full precision, to diff the results of two builds).  -b
 * also runs brute force and reports the index's speed-up and any result
 * differences.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lists.h"
#include "namematch.h"

#define MAX_LISTS 32
#define MAX_HITS 16

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void diag(void *arg, const char *file, int line, int fatal,
		 const char *msg)
{
	int *quiet = arg;

	if (!*quiet || fatal)
		fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct nm_scratch scratch;

static size_t match_all(struct kvs_list **lists, size_t nl, const char *q,
			double thr, int brute, struct nm_hit *hits, size_t *nh)
{
	size_t total = 0;

	for (size_t i = 0; i < nl; i++) {
		int n = nm_match_name(lists[i], q, strlen(q), thr, brute,
				      hits + i * MAX_HITS, MAX_HITS, &scratch);

		nh[i] = n < 0 ? 0 : (n > MAX_HITS ? MAX_HITS : (size_t)n);
		total += nh[i];
	}
	return total;
}

int main(int argc, char **argv)
{
	struct kvs_list *lists[MAX_LISTS];
	size_t nl = 0, nq = 0, capq = 0, repeat = 1, diffs = 0;
	char **qs = NULL, line[2048];
	double thr = 0.9, t0, tl, tq, tb = 0, *lat;
	int brute = 0, verbose = 0, quiet = 1, i;
	struct nm_hit *h1, *h2;
	size_t nh1[MAX_LISTS], nh2[MAX_LISTS], found = 0;
	struct lists_load_opts opts = { .diag = diag, .diag_arg = &quiet };
	FILE *f;

	for (i = 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "-B"))
			brute = 2;
		else if (!strcmp(argv[i], "-b"))
			brute = 1;
		else if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "-V"))
			verbose = 2;
		else if (!strcmp(argv[i], "-w"))
			quiet = 0;
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			thr = atof(argv[++i]);
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			repeat = (size_t)atol(argv[++i]);
	}
	tl = now();
	for (; i < argc && strcmp(argv[i], "--") && nl < MAX_LISTS; i++) {
		char *spec = strdup(argv[i]), *fmt, *name, *sev, *path;
		int rc;

		fmt = strtok(spec, ":");
		name = strtok(NULL, ":");
		sev = strtok(NULL, ":");
		path = strtok(NULL, "");
		if (!fmt || !name || !sev || !path) {
			fprintf(stderr, "bad list spec %s\n", argv[i]);
			return 2;
		}
		t0 = now();
		rc = lists_load(fmt, path, name, lists_severity_parse(sev), &opts,
				&lists[nl]);
		if (rc < 0) {
			fprintf(stderr, "%s: load failed: %s\n", path, strerror(-rc));
			return 1;
		}
		printf("list %-12s %-5s entries %6zu names %6zu skipped %zu load %.3f s date %s\n",
		       name, fmt, lists[nl]->n_entries, lists[nl]->n_names,
		       lists[nl]->n_skipped, now() - t0,
		       lists[nl]->date ? lists[nl]->date : "-");
		nl++;
		free(spec);
	}
	tl = now() - tl;
	if (i >= argc - 1) {
		printf("total load %.3f s\n", tl);
		goto out;
	}
	f = fopen(argv[i + 1], "r");
	if (!f) {
		perror(argv[i + 1]);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (nq == capq) {
			capq = capq ? capq * 2 : 256;
			qs = realloc(qs, capq * sizeof(*qs));
		}
		qs[nq++] = strdup(line);
	}
	fclose(f);
	h1 = calloc(MAX_LISTS * MAX_HITS, sizeof(*h1));
	h2 = calloc(MAX_LISTS * MAX_HITS, sizeof(*h2));
	lat = calloc(nq * repeat + 1, sizeof(*lat));
	tq = now();
	for (size_t r = 0; r < repeat; r++) {
		for (size_t q = 0; q < nq; q++) {
			double s = now();

			found += match_all(lists, nl, qs[q], thr, brute == 2, h1, nh1) > 0;
			lat[r * nq + q] = now() - s;
			if (verbose && r == 0) {
				printf("Q %s\n", qs[q]);
				for (size_t l = 0; l < nl; l++)
					for (size_t k = 0; k < nh1[l]; k++) {
						const struct nm_hit *h = &h1[l * MAX_HITS + k];

						if (verbose > 1)
							printf("  %.17g %.17g %.17g", h->score,
							       h->cov_query, h->cov_name);
						else
							printf("  %.3f", h->score);
						printf(" %s %s \"%s\" via \"%s\" [%s]\n",
						       lists[l]->name,
						       h->entry->id ? h->entry->id : "",
						       h->entry->name, h->matched,
						       h->norm);
					}
			}
		}
	}
	tq = now() - tq;
	qsort(lat, nq * repeat, sizeof(*lat), cmp_d);
	printf("total load %.3f s\n", tl);
	printf("queries %zu, with hits %zu, %.0f names/s, p50 %.1f us, p99 %.1f us\n",
	       nq * repeat, found, nq * repeat / tq,
	       lat[nq * repeat / 2] * 1e6, lat[nq * repeat * 99 / 100] * 1e6);
	if (brute) {
		tb = now();
		for (size_t q = 0; q < nq; q++) {
			match_all(lists, nl, qs[q], thr, 0, h1, nh1);
			match_all(lists, nl, qs[q], thr, 1, h2, nh2);
			for (size_t l = 0; l < nl; l++) {
				int same = nh1[l] == nh2[l];

				for (size_t k = 0; same && k < nh1[l]; k++)
					same = h1[l * MAX_HITS + k].entry ==
					       h2[l * MAX_HITS + k].entry;
				if (!same) {
					diffs++;
					if (verbose)
						printf("DIFF %s in %s: index %zu brute %zu\n",
						       qs[q], lists[l]->name, nh1[l], nh2[l]);
				}
			}
		}
		tb = now() - tb;
		tb = now();
		for (size_t q = 0; q < nq; q++)
			match_all(lists, nl, qs[q], thr, 1, h2, nh2);
		tb = now() - tb;
		printf("brute force %.0f names/s, index speed-up %.1fx, result differences %zu of %zu queries\n",
		       nq / tb, (nq * repeat / tq) / (nq / tb), diffs, nq);
	}
	free(h1);
	free(h2);
	free(lat);
	for (size_t q = 0; q < nq; q++)
		free(qs[q]);
	free(qs);
out:
	for (size_t l = 0; l < nl; l++)
		lists_release(lists[l]);
	nm_scratch_fini(&scratch);
	return diffs ? 3 : 0;
}
