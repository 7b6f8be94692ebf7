/* fsf_load.c - times the load of an EU FSF consolidated list XML (parse and name index). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lists.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void diag(void *arg, const char *file, int line, int fatal, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s:%d: %s%s\n", file, line, msg, fatal ? "" : " (skipped)");
}

int main(int argc, char **argv)
{
	struct lists_load_opts o = { .diag = diag };
	double best = 1e9;
	int runs = argc > 2 ? atoi(argv[2]) : 3;

	if (argc < 2) {
		fprintf(stderr, "usage: fsf_load FILE.xml [RUNS]\n");
		return 2;
	}
	for (int i = 0; i < runs; i++) {
		struct kvs_list *l = NULL;
		double t0 = now_s(), t;
		int rc = lists_load_private("eu_fsf", argv[1], "eu_fsf", KVS_SEV_CRITICAL, &o, &l);

		t = now_s() - t0;
		if (rc < 0) {
			fprintf(stderr, "%s: load failed: %d\n", argv[1], rc);
			return 1;
		}
		if (t < best)
			best = t;
		printf("run %d: %.3f s: %zu entries, %zu names, %zu skipped, date %s\n", i + 1, t,
		       l->n_entries, l->n_names, l->n_skipped, l->date ? l->date : "-");
		lists_free(l);
	}
	printf("eu_fsf load (parse + name index), best of %d: %.3f s\n", runs, best);
	return 0;
}
