/* rules_lit.h - the rule engine's literal extraction: what every match of a pattern must hold.
 *
 * Contract of the prefilter: if a pattern matches a text (pcre2, UTF, UCP,
 * caseless), then at least one of the literals extracted from it occurs in
 * the text as seen by rules_ac_scan() (ASCII case folded, and the two
 * non-ASCII characters that caseless matching equates with ASCII letters,
 * KELVIN SIGN and LATIN SMALL LETTER LONG S, folded to k and s, and every
 * run of bytes that are no ASCII word characters read as one separator).
 * Literals use only [a-z0-9 -] and '#' (any ASCII digit, from [0-9]), after
 * three optional marks.  A ' ' or '-' in a literal is such a separator: the
 * pattern's own, or an atom that matches separators only (\s, [- ], ...)
 * and occurs at least once after a word character of the literal; between
 * two word characters it stands for all the bytes between them.  The first, a byte class ('[' and 64 hex digits, ']'),
 * holds every byte a match can hold before the literal, so a match starts
 * after the nearest byte before an occurrence that is not in it; it comes
 * with literals whose next mark is far or missing.  The second bounds where a
 * match using the literal can start: '<' says it starts where the literal
 * starts (nothing before it in the pattern consumes text), "{N}" that it
 * starts at most N bytes before the literal; without one it may start
 * anywhere before.  The third, '^', says that the literal follows \b in
 * its pattern, so an occurrence preceded by an ASCII word character cannot
 * be the one a match uses.  When no such set can be found for a pattern,
 * extraction fails and the rule must always run.
 */
#ifndef KVS_RULES_LIT_H
#define KVS_RULES_LIT_H

#include <stddef.h>
#include <stdint.h>

#define RULES_LITERAL_MIN 3         /* shorter literals select too much */
#define RULES_ANCHOR_MIN 2          /* anchoring literals, behind a selective set */
#define RULES_LITERAL_MAX_SET 64    /* alternatives kept per pattern */
#define RULES_CLASS_MIN_PRE 32      /* farther prefix bounds get a byte class */
#define RULES_CLASS_MARK_LEN 66     /* bytes of a byte-class mark */
#define RULES_EXTRA_MIN_SCORE 10    /* extra sets: five letters or more, or four after \b */
#define RULES_EXTRA_BELOW_SCORE 16  /* only for selective sets that score less */

struct rules_literals {
	char **v;
	size_t n;
};

/* Extract a set of literals of which every match of `pattern` contains at
 * least one: the most selective set, or with `anchor` the set with the
 * smallest prefix bound (where a match starts is known best).  Returns 0
 * and fills *out (free with rules_literals_free), or -ENOENT when no such
 * set of literals of RULES_LITERAL_MIN bytes or more exists or the pattern
 * uses syntax the extractor does not understand, -ENOMEM. */
int rules_literals_extract(const char *pattern, int anchor, struct rules_literals *out);
void rules_literals_free(struct rules_literals *l);
/* 1 if a and b hold the same literals in the same order. */
int rules_literals_same(const struct rules_literals *a, const struct rules_literals *b);
/* More literal sets that every match of `pattern` holds one literal of
 * each of (besides those in skip[0..n_skip), left out): from the
 * pattern's own sequence, when its top is not an alternation, of
 * literals that are no common words and score RULES_EXTRA_MIN_SCORE or
 * more, the most selective first.  Fills out[0..max) (free each with
 * rules_literals_free) and returns how many, or -ENOMEM. */
int rules_literals_extra(const char *pattern, const struct rules_literals *skip,
			 size_t n_skip, struct rules_literals *out, size_t max);
/* The characters of literal l after its marks; *pre (if not NULL) gets the
 * most bytes a match can hold before them (SIZE_MAX: unbounded), *ws (if
 * not NULL) whether they follow \b. */
const char *rules_literal_body(const char *l, size_t *pre, int *ws);
/* 1 and the set of bytes (bit c of cls[c / 64] for byte c) that a match
 * can hold between its start and literal l, if l carries that mark; 0 if
 * not (any byte). */
int rules_literal_class(const char *l, uint64_t cls[4]);

#endif
