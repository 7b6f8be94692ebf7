/* rules_ac.c - the rule engine's literal prefilter: an Aho-Corasick automaton over the literals.
 *
 * The automaton works on a 38-symbol alphabet ([a-z0-9], '_', and one
 * separator symbol for ' ', '-' and every other byte) as a complete DFA,
 * so a scan is one table lookup per byte, in four interleaved lanes for
 * texts of 64 bytes or more.  A literal after \b is entered after each
 * non-word symbol, so occurrences inside words never reach an output.
 * A run of separators is read as one separator (a state reached by one
 * stays on the next), so that a literal "cross section" from
 * cross[- ]section\s+ is found whatever separates the words; where such an
 * occurrence starts is found by reading it back (ac_lit_start).  The
 * literals and their marks come from rules_lit.c.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules_ac.h"

#define AC_NC 38
#define AC_SEP 0            /* the class of ' ', '-' and every non-word byte */
#define AC_MAX_DIGITS 3     /* '#' characters expanded per literal */
#define AC_FOLD 0xFF        /* class of a byte that may start a folded letter */
#define AC_FOLD_BIT 0x80    /* set only in AC_FOLD */
#define AC_LIT_MAX 4096     /* longest literal */
/* Texts longer than this are scanned as AC_LANES interleaved streams. */
#define AC_LANES 4
#define AC_LANE_MIN 64
/* Bytes a literal's class is followed back from it at most. */
#define AC_WALK_MAX 512

/* A set of bytes, one bit each: what a match holds before a literal. */
struct bset {
	uint64_t w[4];
};

static int bs_has(const struct bset *b, unsigned c)
{
	return (int)(b->w[c >> 6 & 3] >> (c & 63) & 1);
}

struct ac_out {
	uint32_t id;
	uint32_t lit;          /* offset of its characters in lits, AC_NO_LIT: none
				* needed (it has no separator) */
	uint32_t lit_len;      /* and their number */
	uint32_t len;          /* literal characters, a run of separators one (the
				* context byte of \b not counted) */
	uint32_t pre;          /* prefix bound in bytes, AC_PRE_INF: none */
	uint32_t cls;          /* 1 + index in cls of the bytes before it, 0: any */
};

/* An output while the automaton is built, with the next one of its state. */
struct ac_entry {
	struct ac_out o;
	int32_t next;
};

struct rules_ac {
	/* n x AC_NC: next state * AC_NC.  After the build, states are
	 * numbered so that those with outputs come last: a state has outputs
	 * if its row starts at out_row or later. */
	uint32_t *tab;
	uint32_t out_row;
	int32_t *dict;         /* nearest state on the fail chain with outputs */
	int32_t *out;          /* first output of the state in outs, -1 */
	struct ac_entry *outs;
	char *lits;            /* the literals with separators, '\0' after each */
	size_t lits_len, lits_cap;
	uint8_t *sep_end;      /* the state's last symbol is a separator */
	/* After the build: every output a state reports (its own and those
	 * of its dictionary chain) in one run, flat[start[st] .. start[st+1]). */
	struct ac_out *flat;
	uint32_t *start;
	struct bset *cls;
	size_t n_cls;
	uint16_t *depth;       /* characters on the trie path to the state */
	size_t n;
};

struct rules_ac_builder {
	int32_t (*next)[AC_NC];
	struct rules_ac ac;
	size_t cap, n_out, cap_out;
};

#define AC_PRE_INF UINT32_MAX
#define AC_NO_LIT UINT32_MAX

static uint8_t ac_class[256];
static pthread_once_t ac_class_once = PTHREAD_ONCE_INIT;

static void ac_classes_init(void)
{
	for (int c = 'a'; c <= 'z'; c++) {
		ac_class[c] = (uint8_t)(1 + c - 'a');
		ac_class[c - 'a' + 'A'] = (uint8_t)(1 + c - 'a');
	}
	for (int c = '0'; c <= '9'; c++)
		ac_class[c] = (uint8_t)(27 + c - '0');
	/* ' ' and '-' share the class of the other bytes that are no ASCII
	 * word character: a literal "a-b" then also occurs in "a b" and "a/b",
	 * a few more candidates, for one trie path per word-start literal
	 * instead of one per separator. */
	ac_class[' '] = AC_SEP;
	ac_class['-'] = AC_SEP;
	ac_class['_'] = 37;     /* a word character, unlike the separators */
	/* First bytes of U+212A KELVIN SIGN and U+017F LONG S. */
	ac_class[0xE2] = AC_FOLD;
	ac_class[0xC5] = AC_FOLD;
}

static int32_t ac_new_state(struct rules_ac_builder *b)
{
	struct rules_ac *a = &b->ac;

	if (a->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		void *nx, *o;

		if (a->n >= RULES_AC_MAX_STATES)
			return -E2BIG;
		if (cap > RULES_AC_MAX_STATES)
			cap = RULES_AC_MAX_STATES;
		nx = realloc(b->next, cap * sizeof(*b->next));
		if (!nx)
			return -ENOMEM;
		b->next = nx;
		o = realloc(a->out, cap * sizeof(*a->out));
		if (!o)
			return -ENOMEM;
		a->out = o;
		o = realloc(a->depth, cap * sizeof(*a->depth));
		if (!o)
			return -ENOMEM;
		a->depth = o;
		o = realloc(a->sep_end, cap * sizeof(*a->sep_end));
		if (!o)
			return -ENOMEM;
		a->sep_end = o;
		b->cap = cap;
	}
	memset(b->next[a->n], 0xff, sizeof(b->next[a->n]));   /* -1 */
	a->out[a->n] = -1;
	a->depth[a->n] = 0;
	a->sep_end[a->n] = 0;
	return (int32_t)a->n++;
}

/* The child of st on symbol k, made if missing. */
static int32_t ac_child(struct rules_ac_builder *b, int32_t st, uint8_t k)
{
	int32_t ns = b->next[st][k];

	if (ns < 0) {
		ns = ac_new_state(b);
		if (ns < 0)
			return ns;
		b->next[st][k] = ns;
		b->ac.depth[ns] = (uint16_t)(b->ac.depth[st] + 1);
		b->ac.sep_end[ns] = k == AC_SEP;
	}
	return ns;
}

struct rules_ac_builder *rules_ac_builder_new(void)
{
	struct rules_ac_builder *b = calloc(1, sizeof(*b));

	pthread_once(&ac_class_once, ac_classes_init);
	if (b && ac_new_state(b) < 0) {
		rules_ac_builder_free(b);
		return NULL;
	}
	return b;
}

/* 1 + the index of byte class c in the automaton's table, added if new. */
static int64_t ac_class_index(struct rules_ac *a, const struct bset *c)
{
	struct bset *v;

	for (size_t k = 0; k < a->n_cls; k++)
		if (!memcmp(&a->cls[k], c, sizeof(*c)))
			return (int64_t)k + 1;
	if (a->n_cls >= UINT32_MAX - 1)
		return -E2BIG;
	v = realloc(a->cls, (a->n_cls + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	a->cls = v;
	a->cls[a->n_cls++] = *c;
	return (int64_t)a->n_cls;
}

/* Register output o at st. */
static int ac_add_output(struct rules_ac_builder *b, int32_t st, const struct ac_out *o)
{
	struct rules_ac *a = &b->ac;

	if (b->n_out == b->cap_out) {
		size_t cap = b->cap_out ? b->cap_out * 2 : 256;
		struct ac_entry *v = realloc(a->outs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->outs = v;
		b->cap_out = cap;
	}
	a->outs[b->n_out] = (struct ac_entry){ *o, a->out[st] };
	a->out[st] = (int32_t)b->n_out++;
	return 0;
}

/* Add the trie path of lit[i..n) from state st, to output o; '#' branches
 * to every digit. */
static int ac_add_path(struct rules_ac_builder *b, const char *lit, size_t i, size_t n,
		       int32_t st, const struct ac_out *o)
{
	for (; i < n; i++) {
		unsigned char c = (unsigned char)lit[i];
		uint8_t k;

		if (c == '#') {
			for (int d = '0'; d <= '9'; d++) {
				int32_t ns = ac_child(b, st, ac_class[d]);
				int rc;

				if (ns < 0)
					return ns;
				rc = ac_add_path(b, lit, i + 1, n, ns, o);
				if (rc < 0)
					return rc;
			}
			return 0;
		}
		k = ac_class[c];
		if ((!k && c != ' ' && c != '-') || k == AC_FOLD || (c >= 'A' && c <= 'Z'))
			return -EINVAL;
		st = ac_child(b, st, k);
		if (st < 0)
			return st;
	}
	return ac_add_output(b, st, o);
}

/* Keep the characters of a literal with separators (rules_ac_marks()
 * needs them to find where an occurrence starts); their offset, or
 * negative. */
static int64_t ac_keep_literal(struct rules_ac *a, const char *lit, size_t n)
{
	if (a->lits_len + n + 1 > a->lits_cap) {
		size_t cap = a->lits_cap ? a->lits_cap * 2 : 4096;
		char *v;

		while (cap < a->lits_len + n + 1)
			cap *= 2;
		if (cap >= AC_NO_LIT)
			return -E2BIG;
		v = realloc(a->lits, cap);
		if (!v)
			return -ENOMEM;
		a->lits = v;
		a->lits_cap = cap;
	}
	memcpy(a->lits + a->lits_len, lit, n);
	a->lits[a->lits_len + n] = '\0';
	a->lits_len += n + 1;
	return (int64_t)(a->lits_len - n - 1);
}

int rules_ac_builder_add(struct rules_ac_builder *b, const char *lit, size_t id)
{
	size_t pre, n = 0, digits = 0, lead = 0;
	struct bset bs;
	struct ac_out o = { (uint32_t)id, AC_NO_LIT, 0, 0, 0, 0 };
	int w, sep = 0;
	char buf[AC_LIT_MAX + 1], walk[AC_LIT_MAX + 1];

	if (id > UINT32_MAX)
		return -E2BIG;
	if (rules_literal_class(lit, bs.w)) {
		int64_t k = ac_class_index(&b->ac, &bs);

		if (k < 0)
			return (int)k;
		o.cls = (uint32_t)k;
	}
	lit = rules_literal_body(lit, &pre, &w);
	o.pre = pre == SIZE_MAX ? AC_PRE_INF : (uint32_t)pre;
	/* The automaton reads a run of separators as one (see rules_ac_scan):
	 * so do its literals.  Each '#' multiplies the paths by ten: a literal
	 * ends after its AC_MAX_DIGITS-th one (a literal's prefix is as
	 * necessary as it).  The separators it starts with are counted: an
	 * occurrence starts that many bytes before its first word character
	 * (see ac_lit_start). */
	while (lit[lead] == ' ' || lit[lead] == '-')
		lead++;
	for (size_t i = 0; lit[i] && digits < AC_MAX_DIGITS; i++) {
		char c = lit[i] == '-' ? ' ' : lit[i];

		if (c == ' ' && n && buf[n - 1] == ' ')
			continue;
		if (n == AC_LIT_MAX)
			return -EINVAL;
		buf[n++] = c;
		sep |= c == ' ';
		digits += c == '#';
	}
	buf[n] = '\0';
	if (!n)
		return -EINVAL;
	o.len = (uint32_t)n;
	if (sep) {
		int64_t k;

		if (lead > AC_LIT_MAX - n)
			return -EINVAL;
		memset(walk, ' ', lead);
		memcpy(walk + lead, buf + (lead > 0), n - (lead > 0));
		o.lit_len = (uint32_t)(lead + n - (lead > 0));
		k = ac_keep_literal(&b->ac, walk, o.lit_len);
		if (k < 0)
			return (int)k;
		o.lit = (uint32_t)k;
	}
	/* A literal after \b: its path starts with the byte before it, which
	 * must be no ASCII word character (\b could not match there), so
	 * occurrences inside words never reach an output (a literal that
	 * starts with a separator has one already). */
	int32_t st = 0;

	if (w && buf[0] != ' ') {
		st = ac_child(b, 0, AC_SEP);
		if (st < 0)
			return st;
	}
	return ac_add_path(b, buf, 0, n, st, &o);
}

/* Lay out each state's outputs, its dictionary chain's included, in one
 * run, so a report is one loop over an array; by the states' final
 * numbers (state old[k] becomes k). */
static int ac_flatten(struct rules_ac *a, const uint32_t *old)
{
	size_t total = 0;

	a->start = malloc((a->n + 1) * sizeof(*a->start));
	if (!a->start)
		return -ENOMEM;
	for (size_t k = 0; k < a->n; k++) {
		size_t st = old[k];

		a->start[k] = (uint32_t)total;
		for (int32_t s = (int32_t)st; s >= 0; s = a->dict[s])
			for (int32_t o = a->out[s]; o >= 0; o = a->outs[o].next)
				total++;
		if (total > UINT32_MAX / 2)
			return -E2BIG;
	}
	a->start[a->n] = (uint32_t)total;
	a->flat = malloc((total ? total : 1) * sizeof(*a->flat));
	if (!a->flat)
		return -ENOMEM;
	for (size_t j = 0, k = 0; j < a->n; j++)
		for (int32_t s = (int32_t)old[j]; s >= 0; s = a->dict[s])
			for (int32_t o = a->out[s]; o >= 0; o = a->outs[o].next)
				a->flat[k++] = a->outs[o].o;
	return 0;
}

int rules_ac_build(struct rules_ac_builder *b, struct rules_ac **out)
{
	struct rules_ac *a = &b->ac, *r;
	int32_t (*next)[AC_NC] = b->next;
	int32_t *fail = NULL, *queue = NULL;
	uint32_t *num = NULL, *old = NULL;
	uint16_t *depth = NULL;
	uint8_t *sep_end = NULL;
	size_t head = 0, tail = 0;
	int rc = -ENOMEM;

	a->dict = malloc(a->n * sizeof(*a->dict));
	a->tab = malloc(a->n * AC_NC * sizeof(*a->tab));
	fail = calloc(a->n, sizeof(*fail));
	queue = malloc(a->n * sizeof(*queue));
	if (!a->dict || !a->tab || !fail || !queue)
		goto fail;
	a->dict[0] = -1;
	for (int k = 0; k < AC_NC; k++) {
		int32_t s = next[0][k];

		if (s < 0) {
			next[0][k] = 0;
		} else {
			fail[s] = 0;
			a->dict[s] = -1;
			queue[tail++] = s;
		}
	}
	while (head < tail) {
		int32_t s = queue[head++];

		for (int k = 0; k < AC_NC; k++) {
			int32_t t = next[s][k];

			if (t < 0) {
				next[s][k] = next[fail[s]][k];
				continue;
			}
			fail[t] = next[fail[s]][k];
			a->dict[t] = a->out[fail[t]] >= 0 ? fail[t] : a->dict[fail[t]];
			queue[tail++] = t;
		}
	}
	/* A run of separators is read as one: a state reached by a
	 * separator stays where it is on the next (no literal holds two in
	 * a row).  It reports no output again: the first separator did. */
	for (size_t s = 1; s < a->n; s++)
		if (a->sep_end[s])
			next[s][AC_SEP] = (int32_t)s;
	/* Number the states without outputs first (the root stays 0), so
	 * that a step is one add and one load, and whether the new state has
	 * outputs one comparison off that chain. */
	num = malloc(a->n * sizeof(*num));
	old = malloc(a->n * sizeof(*old));
	depth = malloc(a->n * sizeof(*depth));
	sep_end = malloc(a->n * sizeof(*sep_end));
	if (!num || !old || !depth || !sep_end)
		goto fail;
	for (int pass = 0, k = 0; pass < 2; pass++) {
		if (pass == 1)
			a->out_row = (uint32_t)k * AC_NC;
		for (size_t s = 0; s < a->n; s++)
			if ((a->out[s] >= 0 || a->dict[s] >= 0) == pass) {
				num[s] = (uint32_t)k;
				old[k++] = (uint32_t)s;
			}
	}
	for (size_t s = 0; s < a->n; s++) {
		for (int k = 0; k < AC_NC; k++)
			a->tab[(size_t)num[s] * AC_NC + (size_t)k] =
				num[next[s][k]] * AC_NC;
		depth[num[s]] = a->depth[s];
		sep_end[num[s]] = a->sep_end[s];
	}
	free(a->depth);
	a->depth = depth;
	depth = NULL;
	free(a->sep_end);
	a->sep_end = sep_end;
	sep_end = NULL;
	rc = ac_flatten(a, old);
	if (rc < 0)
		goto fail;
	rc = -ENOMEM;
	r = malloc(sizeof(*r));
	if (!r)
		goto fail;
	*r = *a;
	memset(a, 0, sizeof(*a));
	*out = r;
	rc = 0;
fail:
	free(queue);
	free(fail);
	free(num);
	free(old);
	free(depth);
	free(sep_end);
	return rc;
}

static void ac_arrays_free(struct rules_ac *a)
{
	free(a->tab);
	free(a->dict);
	free(a->out);
	free(a->outs);
	free(a->lits);
	free(a->sep_end);
	free(a->flat);
	free(a->start);
	free(a->cls);
	free(a->depth);
}

void rules_ac_builder_free(struct rules_ac_builder *b)
{
	if (!b)
		return;
	free(b->next);
	ac_arrays_free(&b->ac);
	free(b);
}

void rules_ac_free(struct rules_ac *ac)
{
	if (!ac)
		return;
	ac_arrays_free(ac);
	free(ac);
}

/* Where a match can start at the earliest, given that the bytes from its
 * start to the literal at `start` are all in class c and that it starts
 * at lo or later: after the nearest byte before `start` outside c.  A
 * walk longer than AC_WALK_MAX bytes gives up (lo), so that hostile text
 * costs at most that much per occurrence. */
static size_t ac_walk_back(const struct bset *c, const unsigned char *t, size_t start,
			   size_t lo)
{
	size_t j = start, stop = start - lo > AC_WALK_MAX ? start - AC_WALK_MAX : lo;

	while (j > stop && bs_has(c, t[j - 1]))
		j--;
	return j > stop || j == lo ? j : lo;
}

/* 1 if byte c is read as a separator: the class of every byte that is no
 * ASCII word character (a byte that may start a folded letter only
 * started none where this is asked: see ac_lit_start). */
static int ac_is_sep(unsigned char c)
{
	return ac_class[c] == AC_SEP || ac_class[c] == AC_FOLD;
}

/* Where the occurrence of literal lit ending before byte `end` starts,
 * into *start.  lit is the literal as the pattern has it, but with each
 * run of separators after its first word character as one ' ': such a
 * separator between word characters stands for the whole run of
 * separators there (the match holds all bytes between them), one at its
 * end for the first byte after the word character (where the automaton
 * reported it); the separators before the first word character are one
 * byte each.  -1 if the text does not hold lit there: when too few
 * separators lead it (then no match uses this occurrence), or when the
 * automaton stayed in the state of a literal that ends with a separator
 * over more of them (the first one reported it already).  No folded
 * letter was read where this is asked (the lane is not shifted), so each
 * word character is one byte. */
static int ac_lit_start(const char *lit, size_t n, const unsigned char *t, size_t end,
			size_t *start)
{
	size_t j = end, lead = 0;

	while (lead < n && lit[lead] == ' ')
		lead++;
	for (size_t k = n; k-- > 0;) {
		if (j == 0)
			return -1;
		if (lit[k] == ' ') {
			if (!ac_is_sep(t[j - 1]))
				return -1;
			j--;
			if (k >= lead && k + 1 < n)
				while (j > 0 && ac_is_sep(t[j - 1]))
					j--;
		} else if (lit[k] == '#' ? !(t[j - 1] >= '0' && t[j - 1] <= '9') :
			   ac_class[t[j - 1]] != ac_class[(unsigned char)lit[k]]) {
			return -1;
		} else {
			j--;
		}
	}
	*start = j;
	return 0;
}

/* Report the outputs of state st, whose literals end at byte i. */
static void ac_report(const struct rules_ac *ac, int32_t st, const unsigned char *t,
		      size_t i, int shifted, rules_ac_mark_fn *mark, void *arg)
{
	for (uint32_t k = ac->start[st], e = ac->start[st + 1]; k < e; k++) {
		const struct ac_out *o = &ac->flat[k];
		/* After a folded multi-byte character the literal took more
		 * bytes than it has characters: its start is at most this, and
		 * where a match starts is not known. */
		size_t start = i + 1 - o->len, lo;

		if (o->len > i + 1)
			continue;       /* it began with the separator before the text */
		if (shifted) {
			mark(arg, o->id, 0, start);
			continue;
		}
		if (o->lit != AC_NO_LIT &&
		    ac_lit_start(ac->lits + o->lit, o->lit_len, t, i + 1, &start) < 0)
			continue;
		lo = o->pre == AC_PRE_INF || o->pre > start ? 0 : start - o->pre;
		if (o->cls)
			lo = ac_walk_back(&ac->cls[o->cls - 1], t, start, lo);
		mark(arg, o->id, lo, start);
	}
}

struct lane {
	size_t i, end;
	uint32_t st;
	int shifted;
};

/* Advance one lane by one character; 0 if it was a separator after a
 * separator (read as none), 1 if not. */
static inline int lane_step(const struct rules_ac *ac, struct lane *l, const unsigned char *t,
			    size_t len, rules_ac_mark_fn *mark, void *arg)
{
	uint32_t from = l->st;
	size_t i = l->i;
	unsigned char c = t[i];
	uint8_t k = ac_class[c];

	/* U+212A KELVIN SIGN and U+017F LONG S match k and s caselessly. */
	if (__builtin_expect(k == AC_FOLD, 0)) {
		k = 0;
		if (c == 0xE2 && i + 2 < len && t[i + 1] == 0x84 && t[i + 2] == 0xAA) {
			k = ac_class['k'];
			i += 2;
			l->shifted = 1;
		} else if (c == 0xC5 && i + 1 < len && t[i + 1] == 0xBF) {
			k = ac_class['s'];
			i += 1;
			l->shifted = 1;
		}
	}
	l->st = ac->tab[l->st + k];
	if (__builtin_expect(l->st >= ac->out_row, 0))
		ac_report(ac, (int32_t)(l->st / AC_NC), t, i, l->shifted, mark, arg);
	l->i = i + 1;
	return !(k == AC_SEP && ac->sep_end[from / AC_NC]);
}

/* Run lane l to its end, its state in a register. */
static void lane_run(const struct rules_ac *ac, struct lane *l, const unsigned char *t,
		     size_t len, rules_ac_mark_fn *mark, void *arg)
{
	const uint32_t *tab = ac->tab;
	size_t i = l->i, end = l->end;
	uint32_t s = l->st;

	while (i < end) {
		uint8_t k = ac_class[t[i]];

		if (__builtin_expect(k == AC_FOLD, 0)) {
			l->i = i;
			l->st = s;
			(void)lane_step(ac, l, t, len, mark, arg);
			i = l->i;
			s = l->st;
			continue;
		}
		s = tab[s + k];
		if (__builtin_expect(s >= ac->out_row, 0))
			ac_report(ac, (int32_t)(s / AC_NC), t, i, l->shifted, mark, arg);
		i++;
	}
	l->i = i;
	l->st = s;
}

/* Past its end, a lane reads on only while an occurrence that started
 * before its end may still complete: the automaton's state stands for the
 * longest suffix of what was read that a literal begins with, so once it
 * holds no more characters than were read past the end (a folded letter
 * is one character of up to 3 bytes, a run of separators one of any
 * length), every such occurrence has been seen. */
static void lane_tail(const struct rules_ac *ac, struct lane *l, const unsigned char *t,
		      size_t len, rules_ac_mark_fn *mark, void *arg)
{
	size_t read = 0;

	while (l->i < len && ac->depth[l->st / AC_NC] > read)
		read += (size_t)lane_step(ac, l, t, len, mark, arg);
}

/* Where a lane reached states with outputs, reported when the buffer is
 * full or the lanes are done. */
#define AC_LANE_HITS 512

struct lane_hits {
	uint32_t st[AC_LANE_HITS];  /* table entry of the state */
	size_t i[AC_LANE_HITS];     /* byte */
	size_t n;
};

/* Report the outputs the lanes found, lane by lane: each lane's in the
 * order of the text, so a pattern's windows mostly come sorted. */
static void lanes_report(const struct rules_ac *ac, struct lane *ln, struct lane_hits *hb,
			 const unsigned char *t, rules_ac_mark_fn *mark, void *arg)
{
	for (int j = 0; j < 4; j++) {
		for (size_t h = 0; h < hb[j].n; h++)
			ac_report(ac, (int32_t)(hb[j].st[h] / AC_NC), t, hb[j].i[h],
				  ln[j].shifted, mark, arg);
		hb[j].n = 0;
	}
}

/* The four lanes in lock step while all have bytes left, their states in
 * registers; a byte that may start a folded letter takes the general step.
 * Whether a lane reached outputs is data no branch predicts, so each step
 * writes every lane's state down and counts it only if it has outputs;
 * the outputs are reported when the buffers fill or the lanes end. */
static void scan4(const struct rules_ac *ac, struct lane *ln, const unsigned char *t,
		  size_t len, rules_ac_mark_fn *mark, void *arg)
{
	const uint32_t *tab = ac->tab;
	const uint32_t out_row = ac->out_row;
	struct lane_hits hb[4];

	for (int j = 0; j < 4; j++)
		hb[j].n = 0;
	for (;;) {
		size_t n = SIZE_MAX, room = AC_LANE_HITS;

		for (int j = 0; j < 4; j++) {
			if (ln[j].end - ln[j].i < n)
				n = ln[j].end - ln[j].i;
			if (AC_LANE_HITS - hb[j].n < room)
				room = AC_LANE_HITS - hb[j].n;
		}
		if (n == 0)
			break;
		if (room == 0) {
			lanes_report(ac, ln, hb, t, mark, arg);
			continue;
		}
		/* Each step adds at most one hit per lane. */
		if (n > room)
			n = room;
		/* n steps of every lane: a folded letter takes more than one
		 * byte, so a lane may end early and the next round re-checks
		 * (it is reported first: a folded step may report too). */
		size_t i0 = ln[0].i, i1 = ln[1].i, i2 = ln[2].i, i3 = ln[3].i, k;
		uint32_t s0 = ln[0].st, s1 = ln[1].st, s2 = ln[2].st, s3 = ln[3].st;
		size_t n0 = hb[0].n, n1 = hb[1].n, n2 = hb[2].n, n3 = hb[3].n;

		for (k = 0; k < n; k++) {
			uint8_t k0 = ac_class[t[i0 + k]], k1 = ac_class[t[i1 + k]];
			uint8_t k2 = ac_class[t[i2 + k]], k3 = ac_class[t[i3 + k]];

			if (__builtin_expect((k0 | k1 | k2 | k3) & AC_FOLD_BIT, 0))
				break;
			s0 = tab[s0 + k0];
			s1 = tab[s1 + k1];
			s2 = tab[s2 + k2];
			s3 = tab[s3 + k3];
			hb[0].st[n0] = s0;
			hb[0].i[n0] = i0 + k;
			n0 += s0 >= out_row;
			hb[1].st[n1] = s1;
			hb[1].i[n1] = i1 + k;
			n1 += s1 >= out_row;
			hb[2].st[n2] = s2;
			hb[2].i[n2] = i2 + k;
			n2 += s2 >= out_row;
			hb[3].st[n3] = s3;
			hb[3].i[n3] = i3 + k;
			n3 += s3 >= out_row;
		}
		hb[0].n = n0, hb[1].n = n1, hb[2].n = n2, hb[3].n = n3;
		ln[0].i = i0 + k, ln[1].i = i1 + k, ln[2].i = i2 + k, ln[3].i = i3 + k;
		ln[0].st = s0, ln[1].st = s1, ln[2].st = s2, ln[3].st = s3;
		if (k < n) {
			lanes_report(ac, ln, hb, t, mark, arg);
			for (int j = 0; j < 4; j++)
				if (ln[j].i < ln[j].end)
					(void)lane_step(ac, &ln[j], t, len, mark, arg);
		}
	}
	lanes_report(ac, ln, hb, t, mark, arg);
}

/* A long text is cut into AC_LANES ranges scanned in lock step, so the
 * table loads of independent lanes overlap.  Every occurrence is found by
 * the lane of the range where it starts: a lane reads on past its range
 * (lane_tail) until no occurrence that started in it can still complete,
 * and a later lane starts from the root (perhaps inside a character, which
 * only finds nothing there).  Marks are idempotent, so occurrences seen
 * twice do no harm. */
void rules_ac_scan(const struct rules_ac *ac, const char *text, size_t len,
		   rules_ac_mark_fn *mark, void *arg)
{
	const unsigned char *t = (const unsigned char *)text;
	struct lane ln[AC_LANES];
	size_t nl = len >= AC_LANE_MIN ? AC_LANES : 1, q = len / nl;

	for (size_t j = 0; j < nl; j++) {
		/* The automaton starts after the byte before the lane, the
		 * context of literals after \b; before the text, after a
		 * separator (ac_report drops the literals that would begin
		 * with that one). */
		uint8_t ctx = j == 0 ? AC_SEP : ac_class[t[j * q - 1]];

		ln[j].i = j * q;
		ln[j].end = j + 1 == nl ? len : (j + 1) * q;
		ln[j].st = ac->tab[ctx == AC_FOLD ? 0 : ctx];
		ln[j].shifted = 0;
	}
	if (nl == AC_LANES)
		scan4(ac, ln, t, len, mark, arg);
	for (size_t j = 0; j < nl; j++) {
		lane_run(ac, &ln[j], t, len, mark, arg);
		lane_tail(ac, &ln[j], t, len, mark, arg);
	}
}
