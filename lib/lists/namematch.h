/* namematch.h - name normalisation, similarity and the per-list name index.
 *
 * A name is normalised to a sequence of tokens: Unicode NFKC with case
 * folding and diacritics stripped (utf8proc), Cyrillic transliterated to
 * Latin, apostrophes and dots dropped inside words ("B.V." -> "bv"), every
 * other non-alphanumeric character a separator, runs of CJK characters one
 * token, legal-form words (ltd, gmbh, jsc, ooo, the Russian forms written
 * out, and long ones misspelt by one letter) and connectives (of, the, and)
 * dropped unless nothing else is left, and abbreviations and foreign forms
 * of five languages mapped to one word ("univ." and "universiteit" ->
 * "university").  Boilerplate words of official names ("federal", "state",
 * "budgetary", "named", "after" ...) stay but weigh NM_BOILER_WEIGHT.
 * docs/name-matching.md describes the whole of it for users.
 *
 * Similarity of two names is a weighted token-set Jaro-Winkler: every token
 * of each side is paired with its most similar token of the other side
 * (nm_token_similarity; a pair under NM_TOKEN_FLOOR counts 0); the coverage of each side is the
 * average of its tokens' pair scores, each token weighted by its inverse
 * document frequency in the list so generic words ("university",
 * "technology") count less than distinctive ones; the score is
 * NM_QUERY_SHARE of the query's coverage plus the rest of the listed name's.
 * Word order does not matter.  Two one-word names of which one has at most
 * NM_ACRONYM_EXACT code points match only when equal (acronyms), and an
 * organisation's name of NM_ACRONYM_MIN to NM_ACRONYM_MAX words is also
 * indexed under its initials.  Where either name has one distinctive
 * (non-boilerplate) word, the distinctive words are compared as two
 * one-word names are ("Caribe Holding" / "CARIBO": a different name); a
 * listed name of one distinctive word that a query with further words
 * (other than boilerplate of official forms: "Joint Stock", "Federal
 * State" ...) contains, and a vessel or aircraft whose name is not exactly
 * the query's, score at most NM_WEAK_SCORE.
 *
 * The index (built once per list, immutable afterwards, so any number of
 * threads may query it) maps every token, its 4-code-point prefix, the
 * prefixes left after deleting one of its first four code points, and its
 * 3-consonant skeleton to the names containing it.  A query scores only the
 * names that share a key with it and whose best possible score, given which
 * query tokens found them, reaches the threshold; prefix and skeleton keys
 * held by more than NM_MAX_POSTING names are not followed unless the
 * query tokens having them could reach the threshold alone (then the
 * bound counts those tokens as matched for every name).  This equals a
 * brute-force scan whenever every token pair scoring NM_TOKEN_FLOOR or more
 * shares a key, i.e. is one edit apart in its first four code points or
 * shares its consonant skeleton; test_namematch measures the rest (under
 * 0.3% of queries differ, e.g. "belgcem" / "belkacem").
 */
#ifndef KVS_NAMEMATCH_H
#define KVS_NAMEMATCH_H

#include <stddef.h>
#include <stdint.h>

#include "list.h"

#define NM_MAX_TOKENS 24
#define NM_MAX_TOKEN 48          /* code points kept of one token */
#define NM_MAX_NORM 512          /* bytes of a normalised form */
#define NM_TOKEN_FLOOR 0.84
#define NM_MAX_POSTING 400
/* Share of the query's coverage in the score (the rest is the listed
 * name's coverage): a query missing a listed middle name still scores
 * high, a listed name that is a small part of the query does not. */
#define NM_QUERY_SHARE 0.65
/* Least similarity of two different words when both names are one word. */
#define NM_SINGLE_FLOOR 0.92
/* Two one-word names of which one has at most this many code points
 * match only when equal: acronyms (USTC is not UESTC). */
#define NM_ACRONYM_EXACT 6
/* Words of an organisation's name whose initials are indexed as its
 * acronym. */
#define NM_ACRONYM_MIN 4
#define NM_ACRONYM_MAX 8
/* The weight of a boilerplate word, whatever its frequency (a word's
 * inverse document frequency is at least ln 2). */
#define NM_BOILER_WEIGHT 0.2
/* The most a name scores that is only a weak candidate, below every
 * default threshold (0.86): a listed name of one distinctive word found
 * in a query that has other words besides official-form boilerplate
 * ("Caribe Holding" is not evidently CARIBE), and a vessel or aircraft
 * whose name is not exactly the query's. */
#define NM_WEAK_SCORE 0.8

struct nm_scratch;

/* A normalised name. */
struct nm_name {
	size_t n;                          /* tokens */
	uint8_t len[NM_MAX_TOKENS];        /* code points of token i (1 to
					    * NM_MAX_TOKEN) */
	uint32_t cp[NM_MAX_TOKENS][NM_MAX_TOKEN];
	char norm[NM_MAX_NORM];            /* tokens joined by one space */
};

/* Normalise s (len bytes, UTF-8; invalid sequences are dropped).  Returns 0,
 * or -EINVAL when nothing is left of the name, -ENOMEM. */
int nm_normalise(const char *s, size_t len, struct nm_name *out);
/* The same with flags: NM_DROP_PARENS leaves out (...) and [...] parts;
 * NM_NO_SHORTCUT sends ASCII names through utf8proc too (for tests: the
 * result is the same). */
#define NM_DROP_PARENS 1u
#define NM_NO_SHORTCUT 2u
int nm_normalise_ex(const char *s, size_t len, unsigned flags,
		    struct nm_name *out);

/* 1 when the token (cp, n code points) is boilerplate of official names
 * ("federal", "state", "named" ...), which weighs NM_BOILER_WEIGHT. */
int nm_is_boilerplate(const uint32_t *cp, size_t n);

/* 1 when the built-in word tables are in bsearch order (for tests). */
int nm_tables_sorted(void);

/* Jaro-Winkler similarity of two code point strings, in [0, 1]. */
double nm_jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b,
		       size_t nb);

/* Similarity of two tokens: 1 when equal, else Jaro-Winkler scaled down by
 * the difference of their lengths beyond one letter
 * (1 - 0.5 * (|na - nb| - 1) / max), so a short word is not taken for the
 * start of a longer one ("aqua" / "aquatim"), less 0.3 / max, since one
 * changed letter matters more in a short word ("horta" / "horae") than in a
 * long one. */
double nm_token_similarity(const uint32_t *a, size_t na, const uint32_t *b,
			   size_t nb);
/* The same when that is at least floor, else a value under floor (found
 * faster: it gives up once floor is out of reach). */
double nm_token_similarity_min(const uint32_t *a, size_t na,
			       const uint32_t *b, size_t nb, double floor);

/* One scored name of a list. */
struct nm_hit {
	const struct list_entry *entry;
	const char *matched;     /* the primary name or the alias that matched */
	const char *norm;        /* its normalised form */
	double score;            /* name similarity, [0, 1] */
	double cov_query;        /* weighted share of the query matched */
	double cov_name;         /* weighted share of the listed name matched */
};

/* Score q against the names of l; writes the best-scoring name of each
 * entry scoring at least threshold to hits (at most max, best first, ties by
 * entry order) and returns how many entries qualified (which may exceed
 * max), or a negative errno.  With brute set every name is scored (for
 * tests and the benchmark).  sc may be NULL. */
int nm_match(const struct kvs_list *l, const struct nm_name *q,
	     double threshold, int brute, struct nm_hit *hits, size_t max,
	     struct nm_scratch *sc);

/* Normalise and match a name as given: also without its parenthesised
 * parts when it has some, keeping the better score of each entry.  Returns
 * as nm_match() (0 when nothing of the name is left to match). */
int nm_match_name(const struct kvs_list *l, const char *s, size_t len,
		  double threshold, int brute, struct nm_hit *hits, size_t max,
		  struct nm_scratch *sc);

/* Working memory of nm_match that one thread may reuse across lists and
 * queries (saves clearing a mark per listed name on every query); it also
 * keeps the last name given to nm_match_name normalised, so matching one
 * name against several lists with one scratch normalises it once.  Zeroed
 * is empty; nm_scratch_fini frees it.  Pass NULL to nm_match to use a
 * private one. */
struct nm_scratch {
	uint32_t *mark;          /* per listed name; all zero between calls */
	uint32_t *cand;
	uint64_t *bitmap;        /* a bit per listed name; all zero too */
	size_t cap;
	struct nm_simmemo *memo; /* token similarities of the current call */
	uint32_t gen;            /* the current call's stamp in memo */
	struct nm_qcache *qc;    /* the last name given to nm_match_name */
};
void nm_scratch_fini(struct nm_scratch *sc);

/* Build the index of a loaded list (called by lists_load). */
int nm_index_build(struct kvs_list *l, struct nm_index **out);
void nm_index_free(struct nm_index *ix);

#endif
