/* rules_ac.h - the rule engine's literal prefilter: an Aho-Corasick automaton over the literals.
 *
 * Literals come from rules_lit.h with their marks; a scan reports each
 * occurrence with where a match using it can start.
 */
#ifndef KVS_RULES_AC_H
#define KVS_RULES_AC_H

#include <stddef.h>

#include "rules_lit.h"

struct rules_ac;
struct rules_ac_builder;

/* The most states an automaton may have (40 MiB of transition table):
 * rules_ac_builder_add() fails with -E2BIG past it. */
#define RULES_AC_MAX_STATES (1u << 18)

struct rules_ac_builder *rules_ac_builder_new(void);
/* Add literal `lit` (see rules_lit.h) that selects rule `id` (at most
 * UINT32_MAX; -E2BIG past it). */
int rules_ac_builder_add(struct rules_ac_builder *b, const char *lit, size_t id);
/* Build the automaton; the builder can be freed afterwards. */
int rules_ac_build(struct rules_ac_builder *b, struct rules_ac **out);
void rules_ac_builder_free(struct rules_ac_builder *b);
void rules_ac_free(struct rules_ac *ac);

/* Scan len bytes once and call mark(arg, id, lo, hi) for every literal
 * occurrence (possibly several times per id; a run of separators in the
 * text counts as one, see rules_lit.h): a match of the pattern that
 * uses this occurrence starts in [lo, hi] (hi: where the literal starts;
 * lo: hi minus the literal's prefix bound, or 0, and after the nearest
 * byte before hi outside the literal's byte class).  Read-only: safe on many
 * threads. */
typedef void rules_ac_mark_fn(void *arg, size_t id, size_t lo, size_t hi);
void rules_ac_scan(const struct rules_ac *ac, const char *text, size_t len,
		   rules_ac_mark_fn *mark, void *arg);

#endif
