/* rules_int.h - the rule engine's rule sets, shared by loading (rules_load.c) and screening (rules.c).
 *
 * Not an interface: plugins and the rest of the daemon use rules.h.
 */
#ifndef KVS_RULES_INT_H
#define KVS_RULES_INT_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "load_env.h"
#include "rules.h"
#include "rules_ac.h"

#define RULES_MAX_PATTERNS 64
#define RULES_MAX_PATTERN_LEN 4096
#define RULES_MAX_RULES 100000
#define RULES_MAX_HITS 4096           /* hits kept per rules_screen() */
#define RULES_DEFAULT_WINDOW 200
#define RULES_MAX_WINDOW 100000
#define RULES_MAX_FILES 1000
#define RULES_MAX_PATHS 256           /* paths of one rules_load_paths() set */
#define RULES_MAX_NEG_WORDS 10        /* negation_window: words before a hit */
#define RULES_MAX_NEGATORS 64
#define RULES_MAX_NEGATOR_LEN 31

struct pat {
	pcre2_code *re;
	int jit;                      /* JIT-compiled: pcre2_jit_match() */
	size_t mark;                  /* context or exclusion pattern: its prefilter
				       * marks, NO_MARK: none (it always runs); a main
				       * pattern's are its rule's pat_base + index */
	uint8_t need;                 /* the roles of its marks that must occur */
	char *src;
};
#define NO_MARK SIZE_MAX

struct patlist {
	struct pat *v;
	size_t n;
};

struct strlist {
	char **v;
	size_t n;
};

struct rule {
	char *id;
	char *limit_id;               /* "<id>.limit" */
	char *limit_title;
	char *list;
	char *entry;
	char *title;
	char *rationale;
	char *file;
	int line;
	enum kvs_severity severity;
	struct patlist pats;
	struct patlist ctx;
	struct patlist excl;
	long long window;
	long long excl_window;        /* 0: exclusion must overlap the hit */
	long long neg_window;         /* negation_window: words; 0 off */
	struct strlist negators;      /* lowercase words; empty: the defaults */
	struct strlist fields;
	struct strlist refs;
	struct strlist positive;
	struct strlist negative;
	char **srcs;                  /* pats[i].src, for rules_get() */
	int always;                   /* no required literal: always runs */
	size_t group;                 /* index of the path it was loaded from */
	size_t pat_base;              /* index of pats.v[0] in the set's marks */
};

struct kvs_ruleset {
	const struct kvs_host *host;
	struct kvs_load_env env;      /* as given to rules_load_paths(); env.error
				       * NULL: errors go to host->config_error */
	struct rule *rules;
	size_t n, cap;
	struct rules_ac *ac;
	struct rules_ac *ac_near;     /* the literals of context and exclusion patterns */
	size_t n_pats;                /* main patterns of all rules */
	size_t n_marks;               /* and context and exclusion patterns */
	size_t *pat_rule;             /* per main pattern: its rule */
	size_t *always;               /* rules without a literal, in order */
	size_t n_always;
	int prefilter;
	int errors;
	size_t group;                 /* path being loaded */
};

#define CAND_ROLES 16                 /* automaton ids: pattern * CAND_ROLES + roles */

#endif
