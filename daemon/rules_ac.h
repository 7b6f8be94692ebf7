/* rules_ac.h - the rule engine's literal prefilter: required-literal extraction and Aho-Corasick.
 *
 * Contract of the prefilter: if a pattern matches a text (pcre2, UTF, UCP,
 * caseless), then at least one of the literals extracted from it occurs in
 * the text as seen by rules_ac_scan() (ASCII case folded, and the two
 * non-ASCII characters that caseless matching equates with ASCII letters,
 * KELVIN SIGN and LATIN SMALL LETTER LONG S, folded to k and s).  Literals
 * use only [a-z0-9 -], after two optional marks: a leading '<' says that
 * every match using the literal starts where the literal starts (nothing
 * before it in the pattern consumes text), and '^' that the literal follows
 * \b in its pattern, so an occurrence preceded by an ASCII word character
 * cannot be the one a match uses.  When no such set can be
 * found for a pattern, extraction fails and the rule must always run.
 */
#ifndef KVS_RULES_AC_H
#define KVS_RULES_AC_H

#include <stddef.h>

#define RULES_LITERAL_MIN 3         /* shorter literals select too much */
#define RULES_LITERAL_MAX_SET 64    /* alternatives kept per pattern */

struct rules_literals {
	char **v;
	size_t n;
};

/* Extract a set of literals of which every match of `pattern` contains at
 * least one.  Returns 0 and fills *out (free with rules_literals_free), or
 * -ENOENT when no such set of literals of RULES_LITERAL_MIN bytes or more
 * exists or the pattern uses syntax the extractor does not understand,
 * -ENOMEM. */
int rules_literals_extract(const char *pattern, struct rules_literals *out);
void rules_literals_free(struct rules_literals *l);

struct rules_ac;
struct rules_ac_builder;

struct rules_ac_builder *rules_ac_builder_new(void);
/* Add literal `lit` ([a-z0-9 -] only) that selects rule `id`. */
int rules_ac_builder_add(struct rules_ac_builder *b, const char *lit, size_t id);
/* Build the automaton; the builder can be freed afterwards. */
int rules_ac_build(struct rules_ac_builder *b, struct rules_ac **out);
void rules_ac_builder_free(struct rules_ac_builder *b);
void rules_ac_free(struct rules_ac *ac);

/* Scan len bytes once and call mark(arg, id, start) for every literal
 * occurrence (possibly several times per id).  `start` is a byte offset
 * before which no match of the pattern can start through this occurrence
 * (the literal's own start for a '<' literal, else 0).  Read-only: safe on
 * many threads. */
void rules_ac_scan(const struct rules_ac *ac, const char *text, size_t len,
		   void (*mark)(void *arg, size_t id, size_t start), void *arg);

#endif
