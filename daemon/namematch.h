/* namematch.h - name normalisation, similarity and the per-list name index.
 *
 * A name is normalised to a sequence of tokens: Unicode NFKC with case
 * folding and diacritics stripped (utf8proc), Cyrillic transliterated to
 * Latin, apostrophes and dots dropped inside words ("B.V." -> "bv"), every
 * other non-alphanumeric character a separator, runs of CJK characters one
 * token, legal-form words (ltd, gmbh, jsc, ooo ...) and connectives (of, the,
 * and) dropped unless nothing else is left, and a few abbreviations and
 * foreign forms mapped to one word ("univ." and "universiteit" ->
 * "university").
 *
 * Similarity of two names is a weighted token-set Jaro-Winkler: every token
 * of each side is paired with its most similar token of the other side (a
 * pair under NM_TOKEN_FLOOR counts 0), and the pair scores are averaged over
 * both sides, each token weighted by its inverse document frequency in the
 * list so generic words ("university", "technology") count less than
 * distinctive ones.  Word order does not matter.
 *
 * The index (built once per list, immutable afterwards, so any number of
 * threads may query it) maps every token and every 3-character token prefix
 * to the names containing it; a query scores only the names that share a
 * token or a prefix with it.  Prefix keys held by more than
 * NM_MAX_POSTING names are not followed unless the query has no other key.
 */
#ifndef KVS_NAMEMATCH_H
#define KVS_NAMEMATCH_H

#include <stddef.h>
#include <stdint.h>

#include "lists.h"

#define NM_MAX_TOKENS 24
#define NM_MAX_TOKEN 48          /* code points kept of one token */
#define NM_MAX_NORM 512          /* bytes of a normalised form */
#define NM_TOKEN_FLOOR 0.84
#define NM_MAX_POSTING 1500

/* A normalised name. */
struct nm_name {
	size_t n;                          /* tokens */
	uint8_t len[NM_MAX_TOKENS];        /* code points of token i */
	uint32_t cp[NM_MAX_TOKENS][NM_MAX_TOKEN];
	char norm[NM_MAX_NORM];            /* tokens joined by one space */
};

/* Normalise s (len bytes, UTF-8; invalid sequences are dropped).  Returns 0,
 * or -EINVAL when nothing is left of the name, -ENOMEM. */
int nm_normalise(const char *s, size_t len, struct nm_name *out);

/* Jaro-Winkler similarity of two code point strings, in [0, 1]. */
double nm_jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b,
		       size_t nb);

/* One scored name of a list. */
struct nm_hit {
	const struct list_entry *entry;
	const char *matched;     /* the primary name or the alias that matched */
	const char *norm;        /* its normalised form */
	double score;            /* name similarity, [0, 1] */
};

/* Score q against the names of l; writes the best-scoring name of each
 * entry scoring at least threshold to hits (at most max, best first, ties by
 * entry order) and returns how many entries qualified (which may exceed
 * max), or a negative errno.  With brute set every name is scored (for
 * tests and the benchmark). */
int nm_match(const struct kvs_list *l, const struct nm_name *q,
	     double threshold, int brute, struct nm_hit *hits, size_t max);

/* Build the index of a loaded list (called by lists_load). */
int nm_index_build(struct kvs_list *l, struct nm_index **out);
void nm_index_free(struct nm_index *ix);

#endif
