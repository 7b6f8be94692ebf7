/* fuzz_lists.c - fuzz target for the list loaders (the files `kvscreen lists update` downloads).
 *
 * Input: one byte choosing the format (ofac, csl, un, eu, aspi, kvs,
 * table, eu_fsf, opensanctions), one byte of options (bit 0: strict loading), then the file.  For
 * OFAC the file is cut at the first two "\n--8<--\n" marks into sdn.csv,
 * alt.csv and add.csv.  The files are written to a private folder and
 * loaded with the daemon's loader, name index included; a load either
 * succeeds with entries or fails with a diagnostic, never crashes.
 * Built with replay.c for `make check`, like fuzz_request.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lists.h"
#include "namematch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const formats[] = { "ofac", "csl", "un", "eu", "aspi", "kvs", "table",
					"eu_fsf", "opensanctions" };
static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (n && fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

/* The next part of [*p, end) up to a cut mark (all of it after the last). */
static size_t part(const uint8_t **p, const uint8_t *end, const uint8_t **start)
{
	static const char mark[] = "\n--8<--\n";
	const uint8_t *q = memmem(*p, (size_t)(end - *p), mark, sizeof(mark) - 1);
	size_t n;

	*start = *p;
	if (!q) {
		n = (size_t)(end - *p);
		*p = end;
		return n;
	}
	n = (size_t)(q - *p);
	*p = q + sizeof(mark) - 1;
	return n;
}

static void diag(void *arg, const char *file, int line, int fatal, const char *msg)
{
	(void)arg;
	(void)file;
	(void)line;
	(void)fatal;
	if (!msg || !*msg)
		__builtin_trap();   /* every diagnostic says what is wrong */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lists_load_opts opts = { .diag = diag };
	const uint8_t *p, *end = data + size, *s;
	struct kvs_list *l = NULL;
	const char *fmt, *file;
	char path[128];
	size_t n;

	if (size < 2 || size > (1u << 20))
		return 0;
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/kvs-fuzz-lists-%ld", (long)getpid());
		(void)mkdir(dir, 0700);
	}
	fmt = formats[data[0] % (sizeof(formats) / sizeof(*formats))];
	opts.strict = data[1] & 1;
	p = data + 2;
	file = !strcmp(fmt, "ofac") ? "sdn.csv" : !strcmp(fmt, "un") ? "list.xml" :
	       !strcmp(fmt, "aspi") ? "list.json" : "list.csv";
	n = part(&p, end, &s);
	put(file, s, n);
	if (!strcmp(fmt, "ofac")) {
		n = part(&p, end, &s);
		put("alt.csv", s, n);
		n = part(&p, end, &s);
		put("add.csv", s, n);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (lists_load_private(fmt, path, "fuzz", KVS_SEV_HIGH, &opts, &l) == 0) {
		static const char *const queries[] = {
			"Acme Trading Co., Ltd.", "MADURO MOROS, Nicolas", "a", "\xD0\x9E\xD0\x9E\xD0\x9E",
		};
		struct nm_scratch sc = { 0 };
		struct nm_hit hits[8];

		if (!l)
			__builtin_trap();
		/* Query the index the load built, with a brute-force check. */
		for (size_t i = 0; i < sizeof(queries) / sizeof(*queries); i++) {
			int a = nm_match_name(l, queries[i], strlen(queries[i]), 0.86, 0, hits, 8, &sc);
			int b = nm_match_name(l, queries[i], strlen(queries[i]), 0.86, 1, hits, 8, &sc);

			if ((a < 0) != (b < 0))
				__builtin_trap();
		}
		nm_scratch_fini(&sc);
		lists_release(l);
	}
	return 0;
}
