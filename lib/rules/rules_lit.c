/* rules_lit.c - the rule engine's literal extraction: what every match of a pattern must hold.
 *
 * Extraction walks a pattern's syntax (not its compiled form): for each
 * sequence it keeps the best required factor, either a run of literal
 * characters or a mandatory group whose every alternative has one, and an
 * alternation needs one factor per alternative.  It also bounds how many
 * bytes a match can hold before each literal and, where that bound is far
 * or missing, which bytes: a match cannot start before the nearest byte
 * outside them, found by walking back from the occurrence.  Anything it
 * does not understand (\Q..\E, extended mode, recursion, \K) gives no
 * literal, which only costs speed: the rule then always runs.  The
 * automaton that finds the literals is in rules_ac.c.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_lit.h"

#define LIT_MAX 4096
#define MAX_NEST 32

struct lset {
	char **v;
	size_t n;
	int ok;             /* 1: every match holds one of v */
};

/* A set of bytes, one bit each. */
struct bset {
	uint64_t w[4];
};

struct parser {
	const char *s;
	size_t i;
	int fail;           /* syntax we do not follow: no literals at all */
	int depth;
	int ws;             /* the next atom follows \b (at a word start) */
	int ws_next;        /* ws as it was before the current atom */
	size_t pre;         /* most bytes a match can hold before the next atom */
	size_t pre_next;    /* pre as it was before the current atom */
	size_t lastw;       /* most bytes the last literal character matches */
	int anchor;         /* choose literals for their prefix bound first */
	struct bset cls;    /* every byte the atoms passed so far can match */
	/* With `pool`: every candidate set of the pattern's own sequence
	 * (all of them required) is also kept there; top_alts counts the
	 * alternatives at the top, where only one sequence makes that so. */
	struct lset *pool;
	size_t n_pool;
	int top_alts;
	/* Anchor mode: literals that start every match which includes the
	 * optional groups that began the current sequence (see parse_group);
	 * every candidate of the sequence then holds them too. */
	struct lset *first;
	int no_join;        /* no joins of a run and a group (join_group) */
	int in_run;         /* the group being parsed continues a run */
};

/* Prefix bounds: PRE_INF is "unbounded"; bounds past PRE_CAP count as it. */
#define PRE_INF SIZE_MAX
#define PRE_CAP ((size_t)1 << 20)
/* Most bytes one character of the subject takes in UTF-8. */
#define W_CHAR 4

static size_t pre_add(size_t a, size_t b)
{
	return a == PRE_INF || b == PRE_INF || a + b > PRE_CAP ? PRE_INF : a + b;
}

/* w bytes repeated up to m more times. */
static size_t pre_mul(size_t w, size_t m)
{
	if (w == 0 || m == 0)
		return 0;
	if (w == PRE_INF || m == PRE_INF || m > PRE_CAP / w)
		return PRE_INF;
	return w * m;
}

/* Most bytes a literal character of a caseless pattern can match: K and S
 * also match KELVIN SIGN (3 bytes) and LONG S (2 bytes); a byte of a
 * non-ASCII character counts as a whole character. */
static size_t lit_width(unsigned char c)
{
	if (c >= 0x80)
		return W_CHAR;
	if (c == 'k' || c == 'K')
		return 3;
	if (c == 's' || c == 'S')
		return 2;
	return 1;
}

/* Most bytes an escape \n (n alphanumeric) matches. */
static size_t esc_width(unsigned char n)
{
	switch (n) {
	case 'b': case 'B': case 'A': case 'z': case 'Z': case 'G':
		return 0;
	case 'R':
		return 2 * W_CHAR;
	case 'X': case 'g': case 'k':
		return PRE_INF;
	default:
		return n >= '1' && n <= '9' ? PRE_INF : W_CHAR;
	}
}

static void bs_add(struct bset *b, unsigned c)
{
	b->w[c >> 6 & 3] |= (uint64_t)1 << (c & 63);
}

static void bs_all(struct bset *b)
{
	memset(b->w, 0xff, sizeof(b->w));
}

static int bs_is_all(const struct bset *b)
{
	return (b->w[0] & b->w[1] & b->w[2] & b->w[3]) == UINT64_MAX;
}

/* The bytes of characters outside ASCII. */
static void bs_high(struct bset *b)
{
	b->w[2] = b->w[3] = UINT64_MAX;
}

/* The bytes a pattern character c matches caselessly: both ASCII cases,
 * and for k and s (which also match KELVIN SIGN and LONG S) or a byte of
 * a non-ASCII character, every non-ASCII byte. */
static void bs_char(struct bset *b, unsigned char c)
{
	if (c >= 0x80) {
		bs_high(b);
		return;
	}
	bs_add(b, c);
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
		bs_add(b, c ^ 0x20);
		if ((c | 0x20) == 'k' || (c | 0x20) == 's')
			bs_high(b);
	}
}

static void bs_range(struct bset *b, unsigned lo, unsigned hi)
{
	for (unsigned c = lo; c <= hi; c++)
		bs_add(b, c);
}

/* The bytes escape \n (n alphanumeric) matches in UTF and UCP mode, where
 * \d, \s, \w, \h, \v and \R also match characters outside ASCII; any
 * escape not known here may match any byte. */
static void bs_esc(struct bset *b, unsigned char n)
{
	switch (n) {
	case 'b': case 'B': case 'A': case 'z': case 'Z': case 'G':
		return;
	case 'd':
		bs_range(b, '0', '9');
		break;
	case 'w':
		bs_range(b, '0', '9');
		bs_range(b, 'a', 'z');
		bs_range(b, 'A', 'Z');
		bs_add(b, '_');
		break;
	case 's':
		bs_range(b, '\t', '\r');
		bs_add(b, ' ');
		break;
	case 'h':
		bs_add(b, '\t');
		bs_add(b, ' ');
		break;
	case 'v': case 'R':
		bs_range(b, '\n', '\r');
		break;
	case 'n': bs_add(b, '\n'); return;
	case 't': bs_add(b, '\t'); return;
	case 'r': bs_add(b, '\r'); return;
	case 'f': bs_add(b, '\f'); return;
	case 'e': bs_add(b, 27); return;
	case 'a': bs_add(b, 7); return;
	default:
		bs_all(b);
		return;
	}
	bs_high(b);
}

/* The bytes the class at s[i] == '[' matches; anything unusual in it
 * (negation, POSIX names, properties, ranges outside ASCII) counts as
 * every byte. */
static void bs_class(struct bset *b, const char *s, size_t i)
{
	size_t first;

	i++;
	if (s[i] == '^') {
		bs_all(b);
		return;
	}
	first = i;
	while (s[i] && (s[i] != ']' || i == first)) {
		unsigned char c = (unsigned char)s[i], d;

		if (c == '[' && s[i + 1] == ':') {
			bs_all(b);
			return;
		}
		if (c == '\\') {
			unsigned char n = (unsigned char)s[i + 1];

			if (!n || n >= 0x80 || (n >= '0' && n <= '9') || n == 'b') {
				bs_all(b);
				return;
			}
			if ((n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z'))
				bs_esc(b, n);
			else
				bs_char(b, n);
			i += 2;
			continue;
		}
		d = (unsigned char)s[i + 2];
		if (s[i + 1] == '-' && d && d != ']') {
			if (c >= 0x80 || d >= 0x80 || d == '\\' || d == '[' || d < c) {
				bs_all(b);
				return;
			}
			for (unsigned x = c; x <= d; x++)
				bs_char(b, (unsigned char)x);
			i += 3;
			continue;
		}
		bs_char(b, c);
		i++;
	}
}

/* The mark of a byte class: '[', 64 hex digits (bit c of the set is bit
 * c % 4 of digit c / 4), ']'. */
#define CLS_MARK_LEN RULES_CLASS_MARK_LEN

static void cls_format(const struct bset *b, char *out)
{
	static const char hex[] = "0123456789abcdef";

	out[0] = '[';
	for (unsigned k = 0; k < 64; k++)
		out[1 + k] = hex[(b->w[k / 16] >> (k % 16 * 4)) & 15];
	out[65] = ']';
	out[66] = '\0';
}

/* 1 if literal l begins with a byte-class mark. */
static int has_cls_mark(const char *l)
{
	return l[0] == '[' && strnlen(l, CLS_MARK_LEN) == CLS_MARK_LEN &&
	       l[CLS_MARK_LEN - 1] == ']';
}

int rules_literal_class(const char *l, uint64_t cls[4])
{
	if (!has_cls_mark(l))
		return 0;
	memset(cls, 0, 4 * sizeof(*cls));
	for (unsigned k = 0; k < 64; k++) {
		unsigned char h = (unsigned char)l[1 + k];
		unsigned v = h >= 'a' ? (unsigned)(h - 'a' + 10) : (unsigned)(h - '0');

		cls[k / 16] |= (uint64_t)(v & 15) << (k % 16 * 4);
	}
	return 1;
}

static void lset_clear(struct lset *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int lset_add(struct lset *l, const char *s, size_t n)
{
	char **v, *d;

	if (l->n >= RULES_LITERAL_MAX_SET) {
		lset_clear(l);
		l->ok = 0;
		return 0;
	}
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	d = strndup(s, n);
	if (!d)
		return -ENOMEM;
	l->v[l->n++] = d;
	return 0;
}

const char *rules_literal_body(const char *l, size_t *pre, int *ws)
{
	size_t p = PRE_INF;

	if (has_cls_mark(l))
		l += CLS_MARK_LEN;
	if (*l == '<') {
		p = 0;
		l++;
	} else if (*l == '{') {
		char *e;
		unsigned long v = strtoul(l + 1, &e, 10);

		if (*e == '}' && e > l + 1 && v < PRE_CAP) {
			p = v;
			l = e + 1;
		}
	}
	if (pre)
		*pre = p;
	if (ws)
		*ws = *l == '^';
	return l + (*l == '^');
}

/* Length of a literal without its marks. */
static size_t lit_len(const char *l)
{
	return strlen(rules_literal_body(l, NULL, NULL));
}

static size_t lset_minlen(const struct lset *l)
{
	size_t m = SIZE_MAX;

	for (size_t i = 0; i < l->n; i++) {
		size_t n = lit_len(l->v[i]);

		if (n < m)
			m = n;
	}
	return l->n ? m : 0;
}

/* Words so common in project texts that a literal equal to one of them
 * (or to its stem) selects a pattern for nearly every text. */
static const char *const common_words[] = {
	"system", "equipment", "tool", "range", "technology", "research", "basic",
	"signal", "data", "design", "development", "production", "analy", "high",
	"power", "control", "software", "hardware", "material", "energy", "network",
	"process", "test", "lab", "engine", "reactor", "module", "device", "product",
	"vehicle", "sensor", "camera", "machine", "unit", "for", "and", "the", "with",
	"of", "in", "on", "to", NULL,
};

/* How selective a literal probably is: longer is better, a word start is
 * better, a common word is much worse.  With `anchor`, a literal with a
 * short prefix bound comes first whatever its selectivity: it says where
 * a pattern can match (at the occurrence when nothing can precede it). */
/* The characters of literal body b without its leading and trailing
 * spaces: returns where they start and sets *n to their count. */
static const char *trim_spaces(const char *b, size_t *n)
{
	while (*b == ' ')
		b++;
	*n = strlen(b);
	while (*n && b[*n - 1] == ' ')
		(*n)--;
	return b;
}

/* 1 if the n characters at w are one of the common words. */
static int common_word(const char *w, size_t n)
{
	for (size_t i = 0; common_words[i]; i++)
		if (strlen(common_words[i]) == n && !strncmp(common_words[i], w, n))
			return 1;
	return 0;
}

static int lit_score(const char *l, int anchor)
{
	int ws, score;
	size_t n, pre;

	l = trim_spaces(rules_literal_body(l, &pre, &ws), &n);
	score = 2 * (int)(n > 40 ? 40 : n) + 4 * ws;
	if (common_word(l, n))
		score -= 12;
	/* Two letters occur everywhere: only as the last resort. */
	if (anchor && pre != PRE_INF)
		score += 10000 - (int)(pre > 400 ? 400 : pre) / 4 - (n < 3 ? 20 : 0);
	return score;
}

/* Two-letter words that occur in nearly every text (English, Dutch). */
static const char *const common_pairs[] = {
	"an", "as", "at", "be", "by", "de", "do", "en", "er", "he", "if", "in", "is", "it",
	"me", "my", "no", "of", "om", "on", "op", "or", "so", "te", "to", "up", "us", "we",
	"ze", NULL,
};

/* 1 if the set holds a literal too common to be worth a prefilter mark. */
static int lset_too_common(const struct lset *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *b = rules_literal_body(l->v[i], NULL, NULL);

		if (strlen(b) < 2)
			return 1;
		for (size_t k = 0; strlen(b) == 2 && common_pairs[k]; k++)
			if (!strcmp(b, common_pairs[k]))
				return 1;
	}
	return 0;
}

/* 1 if every literal of l starts where its match starts ('<'). */
static int lset_anchored(const struct lset *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i][0] != '<')
			return 0;
	return 1;
}

static int lset_score(const struct lset *l, int anchor)
{
	int m = INT_MAX;

	for (size_t i = 0; i < l->n; i++) {
		int sc = lit_score(l->v[i], anchor);

		if (sc < m)
			m = sc;
	}
	return l->n ? m : INT_MIN;
}

/* 1 if no literal of l is one of the common words. */
static int lset_uncommon(const struct lset *l)
{
	for (size_t i = 0; i < l->n; i++) {
		size_t n;
		const char *b = trim_spaces(rules_literal_body(l->v[i], NULL, NULL), &n);

		if (common_word(b, n))
			return 0;
	}
	return 1;
}

/* 1 if a and b hold literals of the same characters, in the same order. */
static int lset_same_bodies(const struct lset *a, const struct lset *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(rules_literal_body(a->v[i], NULL, NULL),
			   rules_literal_body(b->v[i], NULL, NULL)))
			return 0;
	return 1;
}

/* Keep a copy of a candidate set in the pool (see struct parser), unless
 * it has one of the same literals (a plain group that starts a run is a
 * candidate twice: as the group and as the run). */
static void pool_add(struct parser *p, const struct lset *cand)
{
	struct lset c = { NULL, 0, 1 }, *v;

	if (p->n_pool >= RULES_LITERAL_MAX_SET)
		return;
	for (size_t i = 0; i < p->n_pool; i++)
		if (lset_same_bodies(&p->pool[i], cand))
			return;
	for (size_t i = 0; i < cand->n; i++)
		if (lset_add(&c, cand->v[i], strlen(cand->v[i])) < 0 || !c.ok) {
			lset_clear(&c);
			return;         /* no memory: one set fewer, always safe */
		}
	v = realloc(p->pool, (p->n_pool + 1) * sizeof(*v));
	if (!v) {
		lset_clear(&c);
		return;
	}
	p->pool = v;
	p->pool[p->n_pool++] = c;
}

/* Keep the better of *best and *cand (consumed): the set whose weakest
 * literal is most selective, then the smaller set. */
static void lset_pick(struct parser *p, struct lset *best, struct lset *cand)
{
	size_t cm;
	int cs, bs;

	for (size_t i = 0; p->first && cand->ok && cand->n && i < p->first->n; i++)
		if (lset_add(cand, p->first->v[i], strlen(p->first->v[i])) < 0)
			cand->ok = 0;       /* no memory: drop the candidate, always safe */
	cm = lset_minlen(cand);
	cs = lset_score(cand, p->anchor);
	bs = lset_score(best, p->anchor);
	if (p->pool && p->depth == 0 && cand->ok && cand->n && cm >= RULES_LITERAL_MIN &&
	    !lset_too_common(cand) && lset_uncommon(cand) && cs >= RULES_EXTRA_MIN_SCORE)
		pool_add(p, cand);

	if (cand->ok && cand->n && cm >= (p->anchor ? RULES_ANCHOR_MIN : RULES_LITERAL_MIN) &&
	    !lset_too_common(cand) &&
	    (!best->ok || !best->n || cs > bs || (cs == bs && cand->n < best->n))) {
		lset_clear(best);
		*best = *cand;
		cand->v = NULL;
		cand->n = 0;
		return;
	}
	lset_clear(cand);
}

static int lit_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' || c == '-' ||
	       c == '#';
}

/* 1 if c starts a quantifier (the end of the pattern does not). */
static int is_quant(char c)
{
	return c && strchr("?*+{", c);
}

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static size_t skip_class(const char *s, size_t i)
{
	i++;
	if (s[i] == '^')
		i++;
	if (s[i] == ']')
		i++;
	while (s[i]) {
		if (s[i] == '\\' && s[i + 1]) {
			i += 2;
		} else if (s[i] == '[' && s[i + 1] == ':') {
			const char *e = strstr(s + i + 2, ":]");

			i = e ? (size_t)(e - s) + 2 : i + 1;
		} else if (s[i] == ']') {
			return i + 1;
		} else {
			i++;
		}
	}
	return i;
}

static size_t skip_group(const char *s, size_t i)
{
	int depth = 0;

	while (s[i]) {
		if (s[i] == '\\' && s[i + 1]) {
			i += 2;
			continue;
		}
		if (s[i] == '[') {
			i = skip_class(s, i);
			continue;
		}
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
		i++;
	}
	return i;
}

/* Skip a quantifier at s[i]; returns 1 if it allows zero repetitions.
 * *present says whether there was one, *more how many repetitions beyond
 * the first it allows at most (PRE_INF: unbounded). */
static int skip_quant(struct parser *p, int *present, size_t *more)
{
	const char *s = p->s;
	int zero = 0;

	*present = 1;
	*more = PRE_INF;
	if (s[p->i] == '?') {
		zero = 1;
		*more = 0;
		p->i++;
	} else if (s[p->i] == '*') {
		zero = 1;
		p->i++;
	} else if (s[p->i] == '+') {
		p->i++;
	} else if (s[p->i] == '{') {
		const char *e = strchr(s + p->i, '}');
		char *x;
		unsigned long lo, hi;

		zero = 1;           /* conservative: treat {n,m} as optional */
		lo = strtoul(s + p->i + 1, &x, 10);
		hi = lo;
		if (*x == ',')
			hi = x[1] == '}' ? ULONG_MAX : strtoul(x + 1, &x, 10);
		else if (x == s + p->i + 1)
			hi = ULONG_MAX;
		if (e && (x == e || *x == ',') && hi != ULONG_MAX && hi < PRE_CAP)
			*more = hi ? hi - 1 : 0;
		p->i = e ? (size_t)(e - s) + 1 : strlen(s);
	} else {
		*present = 0;
		*more = 0;
		return 0;
	}
	if (s[p->i] == '?' || s[p->i] == '+')
		p->i++;
	return zero;
}

/* An atom of at most w bytes was just passed: count it and its quantifier. */
static int atom(struct parser *p, size_t w)
{
	int present;
	size_t more;

	p->pre = pre_add(p->pre, w);
	skip_quant(p, &present, &more);
	if (present)
		p->pre = pre_add(p->pre, pre_mul(w, more));
	return present;
}

static int parse_alt(struct parser *p, struct lset *out);
static int extract(const char *pattern, int anchor, int no_join, struct rules_literals *out);

struct run {
	/* The run's literals: each of alt (when n_alt) followed by buf. */
	char *alt[RULES_LITERAL_MAX_SET];
	size_t n_alt;
	char buf[LIT_MAX + 1];
	size_t n;               /* literal characters in buf */
	int last;               /* last atom was a literal char in buf */
	int ws;                 /* the run starts right after \b */
	size_t pre;             /* most bytes of a match before the run */
	struct bset cls;        /* the bytes a match can hold before the run */
};

/* Add to c the literals of run r, each followed by `tail` (may be ""),
 * with the run's marks; -ENOMEM. */
static int run_literal(const struct run *r, const char *tail, struct lset *c)
{
	char bound[32 + CLS_MARK_LEN] = "";

	/* Where the bound is far or none, the bytes before the literal bound
	 * it too: a match starts after the nearest byte that nothing before
	 * the literal matches. */
	if ((r->pre == PRE_INF || r->pre > RULES_CLASS_MIN_PRE) && !bs_is_all(&r->cls))
		cls_format(&r->cls, bound);
	if (r->pre == 0)
		snprintf(bound, sizeof(bound), "<");
	else if (r->pre != PRE_INF)
		snprintf(bound + strlen(bound), sizeof(bound) - strlen(bound), "{%zu}", r->pre);
	for (size_t k = 0; k < (r->n_alt ? r->n_alt : 1); k++) {
		const char *a = r->n_alt ? r->alt[k] : "";
		char first = *a ? *a : r->n ? r->buf[0] : *tail;
		/* A word-start mark is only sound when the literal itself
		 * starts with a word character. */
		int ws = r->ws && first != ' ' && first != '-', n, rc;
		char *b;

		n = asprintf(&b, "%s%s%s%.*s%s", bound, ws ? "^" : "", a, (int)r->n, r->buf, tail);
		if (n < 0)
			return -ENOMEM;
		rc = lset_add(c, b, (size_t)n);
		free(b);
		if (rc < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The fewest characters of a literal of run r. */
static size_t run_minlen(const struct run *r)
{
	size_t m = r->n_alt ? SIZE_MAX : 0;

	for (size_t k = 0; k < r->n_alt; k++)
		if (strlen(r->alt[k]) < m)
			m = strlen(r->alt[k]);
	return m + r->n;
}

static void run_clear_alts(struct run *r)
{
	for (size_t k = 0; k < r->n_alt; k++)
		free(r->alt[k]);
	r->n_alt = 0;
}

/* 1 if the class at s[i] == '[' matches separators only (characters that
 * are no word characters and that the prefilter reads as separators):
 * spaces, '-', '/', '.', ',', tabs, \s. */
static int sep_class(const char *s, size_t i)
{
	size_t e = skip_class(s, i);

	if (s[e - 1] != ']' || e < i + 3)
		return 0;
	for (i++; i < e - 1; i++) {
		if (s[i] == '\\') {
			i++;
			if (!strchr("s-t./", s[i]))
				return 0;
		} else if (!strchr(" -/.,\t", s[i])) {
			return 0;
		}
	}
	return 1;
}

/* The alternatives of the group at s[g] == '(' when each is plain words
 * ([A-Za-z0-9], joined or followed by a space, '-', \s or a class of
 * separators (sep_class), those two perhaps with '+'), into alt[0..*n)
 * lowercased, each separator one ' '; returns 1
 * then, 0 if the group is anything else or has more than `max`
 * alternatives, or -ENOMEM. */
static int plain_group(const char *s, size_t g, char **alt, size_t *n, size_t max)
{
	size_t i = g + 1, k = 0;
	char buf[LIT_MAX + 1];

	*n = 0;
	if (s[i] == '?') {
		if (s[i + 1] != ':')
			return 0;
		i += 2;
	}
	for (;;) {
		char c = s[i];
		int sep = 0;

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) {
			if (k == LIT_MAX)
				goto no;
			buf[k++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
			i++;
			continue;
		}
		if (c == ' ' || c == '-') {
			sep = 1;
			i++;
		} else if (c == '\\' && s[i + 1] == 's') {
			sep = 1;
			i += 2 + (s[i + 2] == '+');
		} else if (c == '[' && sep_class(s, i)) {
			sep = 1;
			i = skip_class(s, i);
			i += s[i] == '+';
		}
		if (sep) {
			/* Only between word characters, one for a run. */
			if (!k || buf[k - 1] == ' ' || k == LIT_MAX)
				goto no;
			buf[k++] = ' ';
			continue;
		}
		if ((c != '|' && c != ')') || !k || *n == max)
			goto no;
		alt[*n] = strndup(buf, k);
		if (!alt[*n]) {
			while (*n)
				free(alt[--*n]);
			return -ENOMEM;
		}
		++*n;
		k = 0;
		i++;
		if (c == ')')
			return 1;
	}
no:
	while (*n)
		free(alt[--*n]);
	return 0;
}

/* The characters of the class at s[i] == '[' as one-character strings in
 * alt (lowercased), if it holds only ASCII letters and digits, single or
 * in ranges, at most RULES_CLASS_ALTS of them: their count, 0 if not, or
 * -ENOMEM. */
#define RULES_CLASS_ALTS 8
static int small_class(const char *s, size_t i, char **alt)
{
	size_t e = skip_class(s, i);
	char set[128] = { 0 };
	int n = 0;

	if (s[e - 1] != ']' || s[i + 1] == '^' || s[i + 1] == ']')
		return 0;
	for (i++; i < e - 1; i++) {
		unsigned char a = (unsigned char)s[i], b = a;

		if (s[i + 1] == '-' && i + 2 < e - 1) {
			b = (unsigned char)s[i + 2];
			i += 2;
		}
		if (!is_alnum(a) || !is_alnum(b) || b < a || b - a > RULES_CLASS_ALTS ||
		    (a <= '9') != (b <= '9') || (a <= 'Z') != (b <= 'Z'))
			return 0;
		for (unsigned c = a; c <= b; c++)
			set[c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c] = 1;
	}
	for (int c = 0; c < 128; c++)
		if (set[c] && ++n > RULES_CLASS_ALTS)
			return 0;
	n = 0;
	for (int c = 0; c < 128; c++)
		if (set[c]) {
			alt[n] = malloc(2);
			if (!alt[n]) {
				while (n)
					free(alt[--n]);
				return -ENOMEM;
			}
			alt[n][0] = (char)c;
			alt[n][1] = '\0';
			n++;
		}
	return n;
}

/* Continue run r over a plain group of alternatives alt[0..na) (see
 * plain_group) that occurs once right here: the run's literals become
 * each of them followed by each alternative.  Returns 1, 0 if that would
 * make more than RULES_LITERAL_MAX_SET literals or one too long, or
 * -ENOMEM; alt's strings are freed in every case. */
static int run_extend(struct parser *p, struct run *r, char **alt, size_t na, int ws)
{
	size_t nr = r->n_alt ? r->n_alt : 1;
	char *v[RULES_LITERAL_MAX_SET];
	size_t nv = 0;
	int rc = 1;

	for (size_t k = 0; k < nr && rc > 0; k++)
		for (size_t j = 0; j < na && rc > 0; j++) {
			const char *a = r->n_alt ? r->alt[k] : "";

			if (nv == RULES_LITERAL_MAX_SET || strlen(a) + r->n + strlen(alt[j]) > LIT_MAX)
				rc = 0;
			else if (asprintf(&v[nv], "%s%.*s%s", a, (int)r->n, r->buf, alt[j]) < 0)
				rc = -ENOMEM;
			else
				nv++;
		}
	for (size_t j = 0; j < na; j++)
		free(alt[j]);
	if (rc <= 0) {
		while (nv)
			free(v[--nv]);
		return rc;
	}
	if (!r->n && !r->n_alt) {
		/* The run starts with the group. */
		r->ws = ws;
		r->pre = p->pre;
		r->cls = p->cls;
	}
	run_clear_alts(r);
	memcpy(r->alt, v, nv * sizeof(*v));
	r->n_alt = nv;
	r->n = 0;
	r->last = 0;
	return 1;
}

static void run_commit(struct parser *p, struct run *r, struct lset *best, int *err)
{
	struct lset c = { NULL, 0, 1 };

	if (run_minlen(r) >= (p->anchor ? RULES_ANCHOR_MIN : RULES_LITERAL_MIN)) {
		if (run_literal(r, "", &c) < 0)
			*err = -ENOMEM;
		lset_pick(p, best, &c);
	}
	run_clear_alts(r);
	r->n = 0;
	r->last = 0;
	r->ws = 0;
}

/* Handle a group at p->s[p->i] == '('; a mandatory group's literal set
 * becomes a candidate for best. */
static int parse_group(struct parser *p, struct lset *best)
{
	const char *s = p->s;
	size_t i = p->i, pre0 = p->pre, w, more;
	struct lset g = { NULL, 0, 1 };
	int rc, present, zero, ws0 = p->ws, in_run = p->in_run;

	p->in_run = 0;          /* not for the groups inside */

	if (s[i + 1] == '*' ||
	    (s[i + 1] == '?' && (s[i + 2] == '=' || s[i + 2] == '!' || s[i + 2] == '#' ||
				 s[i + 2] == '(' || s[i + 2] == 'R' || s[i + 2] == '&' ||
				 s[i + 2] == '+' || (s[i + 2] >= '0' && s[i + 2] <= '9') ||
				 (s[i + 2] == '-' && s[i + 3] >= '0' && s[i + 3] <= '9') ||
				 (s[i + 2] == 'P' && (s[i + 3] == '=' || s[i + 3] == '>')) ||
				 (s[i + 2] == '<' && (s[i + 3] == '=' || s[i + 3] == '!'))))) {
		/* Verbs, lookaround, comments, conditionals, recursion: they
		 * require nothing we can use.  Lookaround and comments consume
		 * nothing; the others may consume anything. */
		int zw = s[i + 1] == '?' && (s[i + 2] == '=' || s[i + 2] == '!' ||
					     s[i + 2] == '#' || s[i + 2] == '<');

		p->i = skip_group(s, i);
		skip_quant(p, &present, &more);
		p->ws = 0;
		if (!zw) {
			p->pre = PRE_INF;
			bs_all(&p->cls);
		}
		return 0;
	}
	if (s[i + 1] != '?') {
		i += 1;
	} else if (s[i + 2] == ':' || s[i + 2] == '|' || s[i + 2] == '>') {
		i += 3;
	} else if (s[i + 2] == '<' || s[i + 2] == '\'' || s[i + 2] == 'P') {
		const char *e = strpbrk(s + i + 3, ">'");

		if (!e) {
			p->fail = 1;
			return 0;
		}
		i = (size_t)(e - s) + 1;
	} else {
		/* Option setting: (?i), (?-i), (?i:...); extended mode changes
		 * what a space means, so give up on it. */
		size_t j = i + 2;

		while (is_alnum(s[j]) || s[j] == '-' || s[j] == '^') {
			if (s[j] == 'x')
				p->fail = 1;
			j++;
		}
		if (s[j] == ')') {
			p->i = j + 1;
			p->ws = 0;
			return 0;
		}
		if (s[j] != ':') {
			p->fail = 1;
			return 0;
		}
		i = j + 1;
	}
	if (++p->depth > MAX_NEST) {
		p->fail = 1;
		return 0;
	}
	p->i = i;
	/* p->ws still says whether the group follows \b: every alternative
	 * then starts at a word start. */
	rc = parse_alt(p, &g);
	p->depth--;
	if (rc < 0) {
		lset_clear(&g);
		return rc;
	}
	if (s[p->i] != ')') {
		p->fail = 1;
		lset_clear(&g);
		return 0;
	}
	p->i++;
	p->ws = 0;
	w = p->pre == PRE_INF || pre0 == PRE_INF ? PRE_INF : p->pre - pre0;
	zero = skip_quant(p, &present, &more);
	p->pre = pre_add(pre0, pre_add(w, pre_mul(w, more)));
	if (zero && p->anchor && p->first && p->depth == 0 && pre0 == 0 && g.ok && g.n &&
	    lset_anchored(&g) && !in_run) {
		/* An optional group where the match starts, whose literals all
		 * start it: a match with the group starts at one of them, a
		 * match without it where the rest starts.  So the rest is
		 * bounded as if the group were absent, and its candidates take
		 * the group's literals along (lset_pick).  Only in the pattern's
		 * own sequences: inside a group, the group's width (for what
		 * follows it) must count the optional part. */
		for (size_t k = 0; k < g.n; k++)
			if (lset_add(p->first, g.v[k], strlen(g.v[k])) < 0) {
				lset_clear(&g);
				return -ENOMEM;
			}
		p->pre = 0;
		p->ws = ws0;
		lset_clear(&g);
		return 0;
	}
	if (zero)
		g.ok = 0;
	lset_pick(p, best, &g);
	return 0;
}

/* An atom that matches separators only (\s or a sep_class), at s[p->i]
 * (its end at `next`):
 * quantified to occur at least once after a word character of the run,
 * it joins the run as one separator (' '), which the prefilter matches
 * with any run of separators (rules_lit.h); returns 1 then.  Returns 0,
 * and leaves p->i alone, when the caller must end the run there. */
static int sep_atom(struct parser *p, struct run *r, size_t next)
{
	size_t save = p->i, pre = p->pre, more;
	int present;

	/* After a word character only: the separators that a literal starts
	 * with are one byte each (rules_ac.c reads them back so). */
	if ((!r->n && !r->n_alt) || (r->n && (r->buf[r->n - 1] == ' ' || r->buf[r->n - 1] == '-')) ||
	    r->n >= LIT_MAX)
		return 0;
	for (size_t k = 0; !r->n && k < r->n_alt; k++) {
		size_t l = strlen(r->alt[k]);

		if (!l || r->alt[k][l - 1] == ' ')
			return 0;
	}
	p->i = next;
	if (skip_quant(p, &present, &more)) {
		p->i = save;
		p->pre = pre;
		return 0;
	}
	if (p->s[save] == '\\')
		bs_esc(&p->cls, 's');
	else
		bs_class(&p->cls, p->s, save);
	p->pre = pre_add(p->pre, W_CHAR);
	if (present)
		p->pre = pre_add(p->pre, pre_mul(W_CHAR, more));
	r->buf[r->n++] = ' ';
	r->last = 0;
	p->ws = 0;
	return 1;
}

/* The run r came right before the group at p->s[g] == '(' that was just
 * parsed: if every match of the group starts with one of a set of
 * literals (the group's own extraction, with '<'), and the group occurs at
 * least once, every match holds the run followed by one of them: a
 * candidate set for best.  Only for (?:...) and capturing groups (not
 * "plain" in the sense of plain_group: any content) in a pattern's own
 * sequence; the group is extracted without joins of its own, so each
 * group is parsed at most twice. */
static int join_group(struct parser *p, const struct run *r, size_t g, struct lset *best)
{
	const char *s = p->s;
	size_t e = skip_group(s, g);
	struct rules_literals gl;
	struct lset c = { NULL, 0, 1 };
	char *sub;
	int rc;

	if (s[e - 1] != ')' || (s[g + 1] == '?' && s[g + 2] != ':') ||
	    s[e] == '?' || s[e] == '*' || (s[e] == '{' && (s[e + 1] == '0' || s[e + 1] == ',')))
		return 0;
	sub = strndup(s + g, e - g);
	if (!sub)
		return -ENOMEM;
	rc = extract(sub, 1, 1, &gl);
	free(sub);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	for (size_t k = 0; k < gl.n && rc == 0; k++) {
		size_t pre;
		const char *body = rules_literal_body(gl.v[k], &pre, NULL);

		if (pre != 0 || run_minlen(r) + strlen(body) > LIT_MAX ||
		    (r->n_alt ? r->n_alt : 1) * gl.n > RULES_LITERAL_MAX_SET)
			c.ok = 0;
		else
			rc = run_literal(r, body, &c);
	}
	rules_literals_free(&gl);
	if (rc < 0) {
		lset_clear(&c);
		return rc;
	}
	lset_pick(p, best, &c);
	return 0;
}

/* What one step of parse_seq did with the atom at p->i. */
enum seq_step {
	SEQ_NEXT,    /* consumed it; go on with the next atom */
	SEQ_LITERAL, /* consumed it; it is the literal character handed back */
	SEQ_STOP,    /* syntax we do not follow: p->fail is set */
};

/* An escape at p->s[p->i] == '\\'.  A class escape (\d, \b, \x41, \p{..},
 * a back reference ...) ends the run; an escaped punctuation character is
 * the literal *c. */
static enum seq_step seq_escape(struct parser *p, struct run *r, struct lset *best, int *err,
				unsigned char *c)
{
	const char *s = p->s;
	unsigned char n = (unsigned char)s[p->i + 1];

	/* \K moves the start of a match past text it consumed. */
	if (!n || n == 'Q' || n == 'E' || n == 'K') {
		p->fail = 1;
		return SEQ_STOP;
	}
	if (n == 's' && sep_atom(p, r, p->i + 2))
		return SEQ_NEXT;
	if (is_alnum(n)) {
		run_commit(p, r, best, err);
		p->i += 2;
		p->ws = n == 'b';
		if (s[p->i] == '{' && strchr("xopNPpgk", n)) {
			const char *e = strchr(s + p->i, '}');

			p->i = e ? (size_t)(e - s) + 1 : strlen(s);
		} else if ((n == 'g' || n == 'k') &&
			   (s[p->i] == '<' || s[p->i] == '\'')) {
			const char *e = strpbrk(s + p->i + 1, ">'");

			p->i = e ? (size_t)(e - s) + 1 : strlen(s);
		} else if (n == 'x') {
			for (int k = 0; k < 2 && strchr("0123456789abcdefABCDEF", s[p->i]) && s[p->i]; k++)
				p->i++;
		} else if (n >= '0' && n <= '9') {
			while (s[p->i] >= '0' && s[p->i] <= '9')
				p->i++;
		} else if (n == 'c' && s[p->i]) {
			p->i++;
		}
		bs_esc(&p->cls, n);
		if (atom(p, esc_width(n)))
			p->ws = 0;
		return SEQ_NEXT;
	}
	p->i += 2;
	*c = n;
	p->ws_next = p->ws;
	p->ws = 0;
	return SEQ_LITERAL;
}

/* A group at p->s[p->i] == '(': a plain group of words continues the run,
 * any other ends it (joined with the group's leading literals where that
 * gives a candidate).  Returns 0 or a negative errno. */
static int seq_group(struct parser *p, struct run *r, struct lset *best)
{
	const char *s = p->s;
	size_t g = p->i, e = skip_group(s, g), na;
	char *alt[RULES_LITERAL_MAX_SET];
	int plain = 0, err = 0;

	/* A plain group of words that occurs once, or at most
	 * once (an empty alternative more), continues the run
	 * (run_extend); parse_group still counts its width. */
	if (s[e - 1] == ')' && (!is_quant(s[e]) || (s[e] == '?' && s[e + 1] != '?')))
		plain = plain_group(s, g, alt, &na, RULES_LITERAL_MAX_SET - 1);
	if (plain > 0 && s[e] == '?') {
		alt[na] = strdup("");
		plain = alt[na] ? (na++, 1) : -ENOMEM;
		if (plain < 0)
			while (na)
				free(alt[--na]);
	}
	if (plain > 0)
		plain = run_extend(p, r, alt, na, p->ws);
	if (plain < 0)
		return plain;
	if (plain) {
		/* Its literals are the run's now, not ones that
		 * every later set must take along (p->first). */
		p->in_run = 1;
		err = parse_group(p, best);
		p->in_run = 0;
		return err;
	}
	/* A run right before another group: also the run
	 * followed by each literal that starts the group. */
	if ((r->n || r->n_alt) && p->depth == 0 && !p->no_join)
		err = join_group(p, r, g, best);
	if (!err)
		run_commit(p, r, best, &err);
	if (!err)
		err = parse_group(p, best);
	return err;
}

/* A character class at p->s[p->i] == '[' that is not [0-9]: a separator
 * class, or a small class of ASCII letters and digits that occurs once,
 * continues the run; any other ends it. */
static void seq_class(struct parser *p, struct run *r, struct lset *best, int *err)
{
	const char *s = p->s;

	if (sep_class(s, p->i) && sep_atom(p, r, skip_class(s, p->i)))
		return;
	if (!is_quant(s[skip_class(s, p->i)])) {
		/* A small class of ASCII letters and digits that occurs
		 * once continues the run as a plain group would. */
		char *alt[RULES_CLASS_ALTS];
		int rc = small_class(s, p->i, alt);

		if (rc > 0)
			rc = run_extend(p, r, alt, (size_t)rc, p->ws_next);
		if (rc < 0) {
			*err = rc;
			return;
		}
		if (rc > 0) {
			bs_class(&p->cls, s, p->i);
			p->i = skip_class(s, p->i);
			atom(p, W_CHAR);
			return;
		}
	}
	run_commit(p, r, best, err);
	bs_class(&p->cls, s, p->i);
	p->i = skip_class(s, p->i);
	atom(p, W_CHAR);
}

/* A quantifier (?, *, +, {..}) of the last literal character: an optional
 * one leaves the run, {n} repeats it n times, {n,m} at least n times and
 * ends the run. */
static void seq_quant(struct parser *p, struct run *r, struct lset *best, int *err)
{
	const char *s = p->s;
	unsigned char c = (unsigned char)s[p->i];
	char *e;
	unsigned long n = c == '{' ? strtoul(s + p->i + 1, &e, 10) : 0;
	int counted = c == '{' && e > s + p->i + 1 && (*e == '}' || *e == ',');
	int present;
	size_t more;

	if (counted && n >= 1 && r->last && r->n) {
		for (unsigned long k = 1; k < n && r->n < LIT_MAX; k++, r->n++)
			r->buf[r->n] = r->buf[r->n - 1];
	} else if (c != '+' && r->last && r->n) {
		r->n--;
	}
	skip_quant(p, &present, &more);
	p->pre = pre_add(p->pre, pre_mul(p->lastw, more));
	if (!(counted && *e == '}'))
		run_commit(p, r, best, err);
}

/* The literal character c, already consumed (digit: it came from [0-9]
 * and stands as '#'): appended to the run if it can be part of one, else
 * the run ends. */
static void seq_literal(struct parser *p, struct run *r, struct lset *best, int *err,
			unsigned char c, int digit)
{
	struct bset cls_before;

	p->pre_next = p->pre;
	p->lastw = lit_width(c);
	p->pre = pre_add(p->pre, p->lastw);
	cls_before = p->cls;
	if (digit)
		bs_range(&p->cls, '0', '9');
	else
		bs_char(&p->cls, c);
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	/* '#' in a literal stands for [0-9]; the character itself is none. */
	if (lit_char(c) && (c != '#' || digit) && r->n < LIT_MAX) {
		if (r->n == 0 && !r->n_alt) {
			r->ws = p->ws_next;
			r->pre = p->pre_next;
			r->cls = cls_before;
		}
		r->buf[r->n++] = (char)c;
		r->last = 1;
	} else {
		run_commit(p, r, best, err);
	}
}

/* One sequence (up to '|', ')' or the end): the best literal set every
 * match of it must contain, built from runs of literal characters. */
static int parse_seq(struct parser *p, struct lset *best)
{
	struct run *r = malloc(sizeof(*r));
	struct lset first = { NULL, 0, 1 }, *outer = p->first;
	const char *s = p->s;
	int err = 0;

	if (!r)
		return -ENOMEM;
	p->first = &first;
	r->n = 0;
	r->n_alt = 0;
	r->last = 0;
	r->ws = 0;
	r->pre = 0;
	best->ok = 1;
	while (s[p->i] && s[p->i] != '|' && s[p->i] != ')' && !p->fail && !err) {
		unsigned char c = (unsigned char)s[p->i];
		int digit = 0;

		if (c == '\\') {
			enum seq_step step = seq_escape(p, r, best, &err, &c);

			if (step == SEQ_STOP)
				break;
			if (step == SEQ_NEXT)
				continue;
		} else if (c == '(') {
			err = seq_group(p, r, best);
			continue;
		} else {
			p->ws_next = p->ws;
			p->ws = 0;
			if (c == '[' && !strncmp(s + p->i, "[0-9]", 5)) {
				/* An ASCII digit: the literal character '#'. */
				p->i += 5;
				c = '#';
				digit = 1;
			} else if (c == '[') {
				seq_class(p, r, best, &err);
				continue;
			} else if (c == '.' || c == '^' || c == '$') {
				run_commit(p, r, best, &err);
				if (c == '.')
					bs_all(&p->cls);
				p->i++;
				atom(p, c == '.' ? W_CHAR : 0);
				continue;
			} else if (c == '?' || c == '*' || c == '{' || c == '+') {
				seq_quant(p, r, best, &err);
				continue;
			} else {
				p->i++;
			}
		}
		seq_literal(p, r, best, &err, c, digit);
	}
	run_commit(p, r, best, &err);
	run_clear_alts(r);
	free(r);
	lset_clear(&first);
	p->first = outer;
	if (!best->n)
		best->ok = 0;
	return err;
}

/* Every alternative starts where the group starts; the group ends at most
 * as far as its longest alternative. */
static int parse_alt(struct parser *p, struct lset *out)
{
	int ws = p->ws;
	size_t pre0 = p->pre, pre_max = 0;

	out->ok = 1;
	for (;;) {
		struct lset seq = { NULL, 0, 1 };
		int rc;

		p->ws = ws;
		p->pre = pre0;
		rc = parse_seq(p, &seq);
		if (p->pre == PRE_INF || p->pre > pre_max)
			pre_max = p->pre;
		if (pre_max == PRE_INF)
			p->pre = PRE_INF;

		if (rc < 0) {
			lset_clear(&seq);
			return rc;
		}
		if (!seq.ok || !seq.n) {
			out->ok = 0;
			lset_clear(out);
		}
		for (size_t i = 0; out->ok && i < seq.n; i++) {
			rc = lset_add(out, seq.v[i], strlen(seq.v[i]));
			if (rc < 0) {
				lset_clear(&seq);
				return rc;
			}
		}
		lset_clear(&seq);
		if (p->fail || p->s[p->i] != '|') {
			p->pre = pre_max;
			return 0;
		}
		if (p->depth == 0)
			p->top_alts++;
		p->i++;
	}
}

static int extract(const char *pattern, int anchor, int no_join, struct rules_literals *out)
{
	struct parser p = { .s = pattern, .anchor = anchor, .no_join = no_join };
	struct lset l = { NULL, 0, 1 };
	int rc;

	out->v = NULL;
	out->n = 0;
	rc = parse_alt(&p, &l);
	if (rc < 0) {
		lset_clear(&l);
		return rc;
	}
	if (p.fail || pattern[p.i] != '\0' || !l.ok || !l.n) {
		lset_clear(&l);
		return -ENOENT;
	}
	out->v = l.v;
	out->n = l.n;
	return 0;
}

int rules_literals_extract(const char *pattern, int anchor, struct rules_literals *out)
{
	return extract(pattern, anchor, 0, out);
}

static int lset_cmp_score(const void *a, const void *b)
{
	const struct lset *x = a, *y = b;
	int sx = lset_score(x, 0), sy = lset_score(y, 0);

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return x->n < y->n ? -1 : x->n > y->n;
}

int rules_literals_extra(const char *pattern, const struct rules_literals *skip,
			 size_t n_skip, struct rules_literals *out, size_t max)
{
	struct parser p = { .s = pattern };
	struct lset l = { NULL, 0, 1 };
	size_t n = 0;
	int rc;

	p.pool = malloc(sizeof(*p.pool));
	if (!p.pool)
		return -ENOMEM;
	rc = parse_alt(&p, &l);
	/* A selective set already rare enough needs no others: their
	 * occurrences would cost more than the runs they save. */
	if (rc == 0 && !p.fail && pattern[p.i] == '\0' && p.top_alts == 0 &&
	    (!l.ok || !l.n || lset_score(&l, 0) < RULES_EXTRA_BELOW_SCORE)) {
		if (p.n_pool > 1)
			qsort(p.pool, p.n_pool, sizeof(*p.pool), lset_cmp_score);
		for (size_t i = 0; i < p.n_pool && n < max; i++) {
			int dup = 0;

			for (size_t k = 0; k < n_skip && !dup; k++) {
				struct rules_literals a = { p.pool[i].v, p.pool[i].n };

				dup = rules_literals_same(&a, &skip[k]);
			}
			for (size_t k = 0; k < n && !dup; k++) {
				struct rules_literals a = { p.pool[i].v, p.pool[i].n };

				dup = rules_literals_same(&a, &out[k]);
			}
			if (dup)
				continue;
			out[n].v = p.pool[i].v;
			out[n].n = p.pool[i].n;
			p.pool[i].v = NULL;
			p.pool[i].n = 0;
			n++;
		}
	}
	lset_clear(&l);
	for (size_t i = 0; i < p.n_pool; i++)
		lset_clear(&p.pool[i]);
	free(p.pool);
	return rc < 0 ? rc : (int)n;
}

int rules_literals_same(const struct rules_literals *a, const struct rules_literals *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return 0;
	return 1;
}

void rules_literals_free(struct rules_literals *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
