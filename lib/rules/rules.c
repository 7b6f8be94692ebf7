/* rules.c - the rule engine's screening: the literal prefilter's marks and pcre2 matching.
 *
 * Any worker thread: each free-text field is scanned once by the set's
 * automaton (rules_ac.c); a pattern runs only when literals of all its
 * sets occur, and only in the windows where a match through those
 * occurrences can start (a pcre2 offset limit ends each search), which
 * finds the same matches as a scan of the whole field.  A hit must have a
 * context match within the rule's window, if it names context patterns,
 * and no overlapping (or windowed) exclusion match; those patterns run
 * near their own literals, found by a second automaton the first time a
 * field needs them.  Hits are collected per rule and reported as one
 * finding per rule, in rule order, so findings do not depend on thread or
 * timing.  Every pcre2 call carries match, depth and heap limits; a limit
 * hit becomes a finding.  Loading is in rules_load.c.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_int.h"

/* Windows kept per field, over all patterns; past it, a pattern runs
 * from its first to its last anchoring occurrence. */
#define RULES_MAX_SPILL (1u << 16)

struct window {
	size_t lo, hi;
};

/* Where the matches of a pattern can start in the field being screened,
 * after the occurrences of its literal sets (see add_literals): in
 * [lo[k], hi[k]] for the selective (k = 0) and the anchoring set (k = 1),
 * and in one of the windows of the anchoring set's occurrences; `seen`
 * holds the roles of the sets that occurred, none when the pattern was
 * not marked in the field being screened (the marks of the patterns
 * marked in a field are reset before the next: cand_reset). */
struct cand {
	uint32_t lo[2], hi[2];
	/* The windows of the anchoring set's occurrences, in the thread's
	 * spill list from `spill` on (the newest first); nw counts them,
	 * CAND_SPAN when they did not fit. */
	uint32_t nw;
	uint32_t spill;
	uint8_t seen;                 /* roles whose literals occurred */
};
#define CAND_SPAN UINT32_MAX
#define CAND_UNMARKED ((struct cand){ { UINT32_MAX, UINT32_MAX }, { 0, 0 }, 0, SPILL_END, 0 })
#define SPILL_END UINT32_MAX

struct spill {
	struct window w;
	uint32_t next;
};

/* Per-thread scratch: pcre2 match data and limits, candidate marks. */
struct rules_tls {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_match_context *mctx_lim;  /* the same limits and an offset limit */
	pcre2_match_context *mctx_near; /* the same, for context and exclusions */
	struct cand *cand;            /* per main, context and exclusion pattern */
	size_t cand_cap;
	int scanned;                  /* the prefilter scanned it: marks are valid */
	/* The automaton of context and exclusion literals, and the field it
	 * scans the first time one of them is needed there (near_done). */
	const struct rules_ac *near_ac;
	const char *near_text;
	size_t near_len;
	int near_done;
	size_t *touched;              /* patterns marked in this field */
	size_t n_touched;
	size_t *cands;                /* the main ones of them that can match */
	size_t n_cands;
	uint64_t *sortbits;           /* all zero between fields; sorts cands */
	struct spill *spill;          /* the anchoring windows of this field */
	size_t n_spill, spill_cap;
	/* The windows of the main pattern being run, and of the context or
	 * exclusion pattern being run for one of its matches. */
	struct window *wbuf[2];
	size_t wbuf_cap[2];
};
static __thread struct rules_tls *tls;
/* The key only serves to free a thread's scratch when the thread exits. */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(struct rules_tls *t)
{
	if (!t)
		return;
	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mctx);
	pcre2_match_context_free(t->mctx_lim);
	pcre2_match_context_free(t->mctx_near);
	free(t->cand);
	free(t->touched);
	free(t->cands);
	free(t->sortbits);
	free(t->spill);
	free(t->wbuf[0]);
	free(t->wbuf[1]);
	free(t);
}

static void tls_destroy(void *p)
{
	tls_free(p);
	tls = NULL;
}

static void tls_key_init(void)
{
	(void)pthread_key_create(&tls_key, tls_destroy);
}

/* The calling thread's scratch, grown to n candidate marks; NULL on ENOMEM.
 * It lives as long as the thread and is freed when the thread exits. */
static struct rules_tls *tls_get(size_t n)
{
	struct rules_tls *t = tls;

	if (!t) {
		pthread_once(&tls_once, tls_key_init);
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		t->md = pcre2_match_data_create(1, NULL);
		t->mctx = pcre2_match_context_create(NULL);
		if (!t->md || !t->mctx) {
			tls_free(t);
			return NULL;
		}
		pcre2_set_match_limit(t->mctx, RULES_MATCH_LIMIT);
		pcre2_set_depth_limit(t->mctx, RULES_DEPTH_LIMIT);
		pcre2_set_heap_limit(t->mctx, RULES_HEAP_LIMIT_KIB);
		t->mctx_lim = pcre2_match_context_copy(t->mctx);
		t->mctx_near = pcre2_match_context_copy(t->mctx);
		if (!t->mctx_lim || !t->mctx_near) {
			tls_free(t);
			return NULL;
		}
		if (pthread_setspecific(tls_key, t) != 0) {
			tls_free(t);
			return NULL;
		}
		tls = t;
	}
	/* Each buffer is replaced only once its successor is allocated, and
	 * cand_cap grows last: after a failure every buffer still holds at
	 * least cand_cap entries, so a later call with a smaller n may use
	 * them, and the next call with this n tries again. */
	if (t->cand_cap < n) {
		struct cand *c = realloc(t->cand, n * sizeof(*c));
		uint64_t *bits;
		size_t *k;

		if (!c)
			return NULL;
		for (size_t i = t->cand_cap; i < n; i++)
			c[i] = CAND_UNMARKED;
		t->cand = c;
		/* One more: mark_literal writes past the last before it counts. */
		k = realloc(t->touched, (n + 1) * sizeof(*k));
		if (!k)
			return NULL;
		t->touched = k;
		k = realloc(t->cands, n * sizeof(*k));
		if (!k)
			return NULL;
		t->cands = k;
		bits = calloc(n / 64 + 1, sizeof(*bits));
		if (!bits)
			return NULL;
		free(t->sortbits);
		t->sortbits = bits;
		t->cand_cap = n;
	}
	return t;
}

/* ---- Screening ---------------------------------------------------------- */

struct hit {
	size_t rule;
	size_t seq;
	const char *path;
	size_t start, end;
	int limit;
};

struct hits {
	struct hit *v;
	size_t n, cap, seq;
};

static int hits_add(struct hits *h, size_t rule, const char *path, size_t s,
		    size_t e, int limit)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 32;
		struct hit *v;

		if (h->cap >= RULES_MAX_HITS)
			return 0;        /* enough evidence; drop the rest */
		v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = (struct hit){ rule, h->seq++, path, s, e, limit };
	return 0;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	if (x->limit != y->limit)
		return x->limit - y->limit;
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int is_limit(int rc)
{
	return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	       rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT ||
	       rc == PCRE2_ERROR_NOMEMORY;
}

/* Move back to the start of a UTF-8 character. */
static size_t utf8_floor(const char *t, size_t i)
{
	while (i > 0 && ((unsigned char)t[i] & 0xC0) == 0x80)
		i--;
	return i;
}

static size_t utf8_ceil(const char *t, size_t len, size_t i)
{
	while (i < len && ((unsigned char)t[i] & 0xC0) == 0x80)
		i++;
	return i;
}

/* pcre2_match() of one pattern; the JIT's own entry when it compiled
 * (same results, without the interpreter's dispatch and checks). */
static int pat_match(const struct pat *p, const char *t, size_t len, size_t off,
		     pcre2_match_data *md, pcre2_match_context *mctx)
{
	if (p->jit)
		return pcre2_jit_match(p->re, (PCRE2_SPTR)t, len, off, 0, md, mctx);
	return pcre2_match(p->re, (PCRE2_SPTR)t, len, off, 0, md, mctx);
}

static rules_ac_mark_fn mark_literal;

static int cmp_window(const void *a, const void *b)
{
	const struct window *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The windows where the matches of a marked pattern can start, sorted and
 * merged, clipped to the selective set's bounds, in x->wbuf (or in span
 * when they do not fit).  Returns their count and sets *out. */
static size_t cand_windows(const struct cand *c, struct rules_tls *x, int buf,
			   struct window *span, struct window **out)
{
	size_t n = 0, lo0 = c->lo[0], hi0 = c->hi[0];

	struct window *w = x->wbuf[buf];

	if (c->nw > x->wbuf_cap[buf] && c->nw != CAND_SPAN) {
		size_t cap = c->nw * 2;
		struct window *v = realloc(w, cap * sizeof(*v));

		if (v) {
			x->wbuf[buf] = w = v;
			x->wbuf_cap[buf] = cap;
		}
	}
	if (c->nw > x->wbuf_cap[buf]) {
		w = span;
		w[n++] = (struct window){ c->lo[1], c->hi[1] };
	} else {
		/* Oldest first: each lane's occurrences come in order. */
		n = c->nw;
		for (uint32_t k = c->spill, i = c->nw; k != SPILL_END; k = x->spill[k].next)
			w[--i] = x->spill[k].w;
		/* Mostly in order already (the prefilter reports each lane's
		 * occurrences in the order of the text), so insertion sort is
		 * about one pass; qsort only for many windows out of order. */
		size_t sorted = 1;

		while (n > 16 && sorted < n && w[sorted - 1].lo <= w[sorted].lo)
			sorted++;
		if (n > 16 && sorted < n) {
			qsort(w, n, sizeof(*w), cmp_window);
		} else {
			for (size_t i = 1; i < n; i++) {
				struct window v = w[i];
				size_t j = i;

				for (; j > 0 && w[j - 1].lo > v.lo; j--)
					w[j] = w[j - 1];
				w[j] = v;
			}
		}
	}
	*out = w;
	/* Overlapping windows become one: one pcre2 call instead of two
	 * trying the same start positions. */
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (w[i].lo < lo0)
			w[i].lo = lo0;
		if (w[i].hi > hi0)
			w[i].hi = hi0;
		if (m && w[i].lo <= w[m - 1].hi) {
			if (w[i].hi > w[m - 1].hi)
				w[m - 1].hi = w[i].hi;
		} else if (w[i].lo <= w[i].hi) {
			w[m++] = w[i];
		}
	}
	return m;
}

/* 1 if a pattern of pl matches inside [lo, hi) of t (overlapping [s, e) when
 * `overlap`), 0 if not, or a negative pcre2 limit error.  When the
 * prefilter scanned the field, a pattern with literals runs only where
 * their occurrences say its matches can start, and not at all without
 * one: the same answer with less work. */
static int window_match(const struct patlist *pl, const char *t, size_t lo,
			size_t hi, size_t s, size_t e, int overlap, struct rules_tls *x)
{
	for (size_t p = 0; p < pl->n; p++) {
		const struct pat *re = &pl->v[p];
		struct window whole = { lo, hi }, span, *w = &whole;
		size_t nw = 1, off = lo;
		int done = 0;

		if (x->scanned && re->mark != NO_MARK) {
			const struct cand *c = &x->cand[re->mark];

			if (!x->near_done) {
				rules_ac_scan(x->near_ac, x->near_text, x->near_len, mark_literal, x);
				x->near_done = 1;
			}
			if ((c->seen & re->need) != re->need)
				continue;
			nw = cand_windows(c, x, 1, &span, &w);
		}
		for (size_t i = 0; i < nw && !done && w[i].lo <= hi; i++) {
			size_t whi = w[i].hi < hi ? w[i].hi : hi;
			pcre2_match_context *mctx = x->mctx;

			if (off < w[i].lo)
				off = w[i].lo;
			if (whi < hi) {
				pcre2_set_offset_limit(x->mctx_near, whi);
				mctx = x->mctx_near;
			}
			while (off <= whi) {
				int rc = pat_match(re, t, hi, off, x->md, mctx);
				PCRE2_SIZE *ov;

				if (rc == PCRE2_ERROR_NOMATCH)
					break;
				if (rc < 0)
					return is_limit(rc) ? rc : 0;
				ov = pcre2_get_ovector_pointer(x->md);
				if (!overlap || (ov[0] < e && ov[1] > s) ||
				    (ov[0] == ov[1] && ov[0] >= s && ov[0] <= e))
					return 1;
				if (ov[0] >= e) {
					done = 1;
					break;
				}
				off = ov[1] > ov[0] ? ov[1] : utf8_ceil(t, hi, ov[0] + 1);
			}
		}
	}
	return 0;
}

/* The negators of a rule without its own `negators` list: English, Dutch,
 * German (and French "sans"), lower case; "non" also covers "non-". */
static const char *const default_negators[] = {
	"not", "no", "non", "without", "never", "neither", "nor", "excluding",
	"niet", "geen", "zonder", "nooit", "noch", "uitgezonderd",
	"nicht", "kein", "keine", "keinen", "keiner", "keines", "ohne", "nie",
	"sans",
};

static int word_byte(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* 1 if one of the rule's negators is among the negation_window words
 * before offset s of t, in the same sentence (a '.', ';', ':', '!', '?',
 * line break or NUL byte ends the search).  Words are runs of letters and digits;
 * "non-mass-market" reads as "non" before the hit "mass-market".  Runs on
 * kept hits only, so it costs nothing on text without hits. */
static int negated(const struct rule *r, const char *t, size_t s)
{
	size_t i = s;

	for (long long w = 0; w < r->neg_window; w++) {
		char word[RULES_MAX_NEGATOR_LEN + 1];
		size_t end, n;

		while (i > 0 && !word_byte((unsigned char)t[i - 1])) {
			if (t[i - 1] == '\0' || strchr(".;:!?\n", t[i - 1]))
				return 0;
			i--;
		}
		if (i == 0)
			return 0;
		end = i;
		while (i > 0 && word_byte((unsigned char)t[i - 1]))
			i--;
		n = end - i;
		if (n > RULES_MAX_NEGATOR_LEN)
			continue;
		for (size_t k = 0; k < n; k++) {
			unsigned char c = (unsigned char)t[i + k];

			word[k] = (char)(c < 0x80 && c >= 'A' && c <= 'Z' ? c | 0x20 : c);
		}
		word[n] = '\0';
		if (r->negators.n) {
			for (size_t k = 0; k < r->negators.n; k++)
				if (!strcmp(word, r->negators.v[k]))
					return 1;
		} else {
			for (size_t k = 0; k < sizeof(default_negators) / sizeof(*default_negators); k++)
				if (!strcmp(word, default_negators[k]))
					return 1;
		}
	}
	return 0;
}

/* Collect the match [s, e) of rule r if its context and exclusions allow:
 * 1 if kept, 0 if not, -ENOMEM, or a (negative) pcre2 limit error of a
 * context or exclusion pattern. */
static int keep_match(const struct rule *r, size_t ri, const char *path, const char *t,
		      size_t len, size_t s, size_t e, struct rules_tls *x, struct hits *h)
{
	size_t lo, hi;
	int ok = 1;

	if (r->ctx.n) {
		lo = utf8_floor(t, s > (size_t)r->window ? s - (size_t)r->window : 0);
		hi = utf8_ceil(t, len, e + (size_t)r->window < len ?
			       e + (size_t)r->window : len);
		ok = window_match(&r->ctx, t, lo, hi, s, e, 0, x);
	}
	if (ok > 0 && r->excl.n) {
		size_t w = r->excl_window ? (size_t)r->excl_window : RULES_DEFAULT_WINDOW;
		int ex;

		lo = utf8_floor(t, s > w ? s - w : 0);
		hi = utf8_ceil(t, len, e + w < len ? e + w : len);
		ex = window_match(&r->excl, t, lo, hi, s, e, r->excl_window == 0, x);
		ok = ex < 0 ? ex : !ex;
	}
	if (ok < 0)
		return ok;
	if (ok && r->neg_window && negated(r, t, s))
		ok = 0;
	if (ok) {
		int rc = hits_add(h, ri, path, s, e, 0);

		if (rc < 0)
			return rc;
	}
	return ok;
}

/* Find the matches of pattern re that start in [*off, end] (end == len:
 * anywhere), one after the other as a scan of the whole field would;
 * *off is left where the next search starts.  Returns 0, 1 when a pcre2
 * limit was hit, or -ENOMEM. */
static int run_window(const struct rule *r, size_t ri, const struct pat *re,
		      const char *path, const char *t, size_t len, size_t *off,
		      size_t end, struct rules_tls *x, struct hits *h, size_t *found)
{
	pcre2_match_context *mctx = x->mctx;

	if (end < len) {
		pcre2_set_offset_limit(x->mctx_lim, end);
		mctx = x->mctx_lim;
	}
	while (*off <= end && *found < RULES_MAX_EVIDENCE) {
		int rc = pat_match(re, t, len, *off, x->md, mctx);
		PCRE2_SIZE *ov;
		size_t s, e;

		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		if (rc < 0)
			return is_limit(rc);
		ov = pcre2_get_ovector_pointer(x->md);
		s = ov[0];
		e = ov[1];
		*off = e > s ? e : utf8_ceil(t, len, s + 1);
		rc = keep_match(r, ri, path, t, len, s, e, x, h);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0)
			return 1;
		*found += (size_t)rc;
	}
	return 0;
}

/* Run rule r over one field and append its hits.  With `mark`, only the
 * patterns marked there run, and only where the prefilter says their
 * matches can start: the same matches as a scan of the whole field, found
 * with less work. */
static int match_rule(const struct rule *r, size_t ri, const char *path,
		      const char *t, size_t len, const struct cand *mark,
		      struct rules_tls *x, struct hits *h)
{
	size_t found = 0;
	int limited = 0;

	for (size_t p = 0; p < r->pats.n && found < RULES_MAX_EVIDENCE; p++) {
		const struct pat *re = &r->pats.v[p];
		struct window span, *w;
		size_t off = 0, nw;
		int rc = 0;

		if (!mark) {
			rc = run_window(r, ri, re, path, t, len, &off, len, x, h, &found);
		} else {
			const struct cand *c = &mark[p];

			if ((c->seen & re->need) != re->need)
				continue;
			nw = cand_windows(c, x, 0, &span, &w);
			for (size_t i = 0; i < nw && rc == 0; i++) {
				if (off < w[i].lo)
					off = w[i].lo;
				if (off <= w[i].hi)
					rc = run_window(r, ri, re, path, t, len, &off, w[i].hi,
							x, h, &found);
			}
		}
		if (rc < 0)
			return rc;
		limited |= rc;
	}
	if (limited)
		return hits_add(h, ri, path, 0, len, 1);
	return 0;
}

static int field_selected(const struct rule *r, const char *path)
{
	if (!r->fields.n)
		return 1;
	for (size_t i = 0; i < r->fields.n; i++) {
		size_t n = strlen(r->fields.v[i]);

		if (!strncmp(path, r->fields.v[i], n) &&
		    (path[n] == '\0' || path[n] == '/' || r->fields.v[i][n - 1] == '/'))
			return 1;
	}
	return 0;
}

/* Hand the collected hits to emit, one finding per rule (and per limited
 * rule); a negative return from emit stops and is returned. */
static int report_hits(const struct kvs_ruleset *rs, struct hits *h,
		       rules_emit_fn *emit, void *arg, int *counts)
{
	struct kvs_evidence ev[RULES_MAX_EVIDENCE];
	int count = 0;

	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), hit_cmp);
	for (size_t i = 0; i < h->n;) {
		const struct rule *r = &rs->rules[h->v[i].rule];
		int limit = h->v[i].limit;
		struct kvs_finding f = {0};
		size_t j = i, ne = 0;
		int rc;

		while (j < h->n && h->v[j].rule == h->v[i].rule &&
		       h->v[j].limit == limit) {
			if (ne < RULES_MAX_EVIDENCE)
				ev[ne++] = (struct kvs_evidence){ h->v[j].path,
					h->v[j].start, h->v[j].end, 0 };
			j++;
		}
		f.references = (const char *const *)r->refs.v;
		f.n_references = r->refs.n;
		f.evidence = ev;
		f.n_evidence = ne;
		if (limit) {
			f.rule = r->limit_id;
			f.severity = KVS_SEV_MEDIUM;
			f.title = r->limit_title;
			f.rationale = "A pattern of this rule hit its pcre2 match, depth or "
				      "heap limit on this text, so the text could not be "
				      "screened completely by it; a person must read it.";
		} else {
			f.rule = r->id;
			f.severity = r->severity;
			f.title = r->title;
			f.rationale = r->rationale;
			count++;
			if (counts)
				counts[r->group]++;
		}
		rc = emit(arg, &f, limit);
		if (rc < 0)
			return rc;
		i = j;
	}
	return count;
}

/* The prefilter's callback, for main patterns and for context and
 * exclusion patterns alike: record an occurrence of a literal of pattern
 * id / CAND_ROLES (of its selective set with id & 1, of its anchoring set
 * with id & 2, of the other sets with id & 12; never none) at [lo, hi]. */
static void mark_literal(void *arg, size_t id, size_t lo, size_t hi)
{
	struct rules_tls *x = arg;
	size_t pat = id / CAND_ROLES;
	struct cand *c = &x->cand[pat];
	uint32_t sel = id & 1, anc = (id >> 1) & 1;
	uint32_t l = (uint32_t)lo, u = (uint32_t)hi, l0, u0, l1, u1;

	/* Which patterns and sets a literal is of is data that no branch
	 * predicts: the code selects instead of branching. */
	x->touched[x->n_touched] = pat;
	x->n_touched += c->seen == 0;
	c->seen |= (uint8_t)(id % CAND_ROLES);
	l0 = sel ? l : UINT32_MAX;
	u0 = sel ? u : 0;
	l1 = anc ? l : UINT32_MAX;
	u1 = anc ? u : 0;
	c->lo[0] = l0 < c->lo[0] ? l0 : c->lo[0];
	c->hi[0] = u0 > c->hi[0] ? u0 : c->hi[0];
	c->lo[1] = l1 < c->lo[1] ? l1 : c->lo[1];
	c->hi[1] = u1 > c->hi[1] ? u1 : c->hi[1];
	if (__builtin_expect(x->n_spill == x->spill_cap, 0) && x->spill_cap < RULES_MAX_SPILL) {
		size_t cap = x->spill_cap ? x->spill_cap * 2 : 1024;
		struct spill *v = realloc(x->spill, cap * sizeof(*v));

		if (v) {
			x->spill = v;
			x->spill_cap = cap;
		}
	}
	if (__builtin_expect(x->n_spill < x->spill_cap && c->nw != CAND_SPAN, 1)) {
		/* Written always, kept only for an anchoring literal. */
		x->spill[x->n_spill] = (struct spill){ { lo, hi }, c->spill };
		c->spill = anc ? (uint32_t)x->n_spill : c->spill;
		c->nw += anc;
		x->n_spill += anc;
	} else if (anc) {
		c->nw = CAND_SPAN;
	}
}

/* Forget the marks of the field screened last. */
static void cand_reset(struct rules_tls *x)
{
	for (size_t k = 0; k < x->n_touched; k++)
		x->cand[x->touched[k]] = CAND_UNMARKED;
	x->n_touched = 0;
	x->n_spill = 0;
}

/* Run rule i over the field if it is screened there. */
static int run_rule(const struct kvs_ruleset *rs, size_t i, const char *path,
		    const char *text, size_t len, struct rules_tls *x, struct hits *h)
{
	const struct rule *r = &rs->rules[i];

	if (!field_selected(r, path))
		return 0;
	return match_rule(r, i, path, text, len,
			  rs->prefilter && !r->always ? x->cand + r->pat_base : NULL, x, h);
}

/* Screen one field: with the prefilter, only the rules without a literal
 * and those with a marked pattern, in rule order. */
static int scan_field(const struct kvs_ruleset *rs, const char *path, const char *text,
		      size_t len, struct rules_tls *x, struct hits *h)
{
	size_t a = 0, last = SIZE_MAX, m = 0;
	int rc = 0;

	/* Marks hold 32-bit offsets: a longer field runs every rule whole. */
	x->scanned = rs->prefilter && rs->ac && len < UINT32_MAX;
	x->near_ac = rs->ac_near;
	x->near_text = text;
	x->near_len = len;
	x->near_done = 0;
	if (!x->scanned) {
		for (size_t i = 0; i < rs->n && rc == 0; i++)
			rc = run_rule(rs, i, path, text, len, x, h);
		return rc;
	}
	cand_reset(x);
	rules_ac_scan(rs->ac, text, len, mark_literal, x);
	/* Only patterns whose literal sets all occurred can match (the
	 * context and exclusion patterns are marked later, past n_pats). */
	for (size_t k = 0, n = x->n_touched; k < n; k++) {
		size_t pat = x->touched[k];
		const struct rule *r = &rs->rules[rs->pat_rule[pat]];
		uint8_t need = r->pats.v[pat - r->pat_base].need;

		if ((x->cand[pat].seen & need) == need)
			x->cands[m++] = pat;
	}
	x->n_cands = m;
	if (x->n_cands > 32) {
		/* Many patterns: set their bits and read them back in order. */
		size_t lo = SIZE_MAX, hi = 0;

		for (size_t k = 0; k < x->n_cands; k++) {
			size_t v = x->cands[k];

			x->sortbits[v / 64] |= (uint64_t)1 << (v % 64);
			lo = v / 64 < lo ? v / 64 : lo;
			hi = v / 64 > hi ? v / 64 : hi;
		}
		m = 0;
		for (size_t wi = lo; wi <= hi; wi++)
			for (uint64_t w = x->sortbits[wi]; w; w &= w - 1)
				x->cands[m++] = wi * 64 + (size_t)__builtin_ctzll(w);
		memset(x->sortbits + lo, 0, (hi - lo + 1) * sizeof(*x->sortbits));
	} else {
		/* Few patterns: insertion sort beats qsort's calls. */
		for (size_t k = 1; k < x->n_cands; k++) {
			size_t v = x->cands[k], j = k;

			for (; j > 0 && x->cands[j - 1] > v; j--)
				x->cands[j] = x->cands[j - 1];
			x->cands[j] = v;
		}
	}
	for (size_t k = 0; k <= x->n_cands && rc == 0; k++) {
		size_t i = k < x->n_cands ? rs->pat_rule[x->cands[k]] : rs->n;

		for (; a < rs->n_always && rs->always[a] <= i && rc == 0; a++)
			if (rs->always[a] != last)
				rc = run_rule(rs, last = rs->always[a], path, text, len, x, h);
		if (i < rs->n && i != last && rc == 0)
			rc = run_rule(rs, last = i, path, text, len, x, h);
	}
	return rc;
}

/* rules_scan, and with counts the rule findings per path of the set. */
static int scan(const struct kvs_ruleset *rs, const kvs_request *req,
		const kvs_report *rep, const char *prefix,
		rules_emit_fn *emit, void *arg, int *counts)
{
	const struct kvs_host *host = rs->host;
	struct kvs_text_iter it = KVS_TEXT_ITER_INIT;
	struct hits h = {0};
	struct rules_tls *x;
	const char *path, *text;
	size_t len, plen = prefix ? strlen(prefix) : 0;
	int rc = 0;

	x = tls_get(rs->n_marks ? rs->n_marks : 1);
	if (!x)
		return -ENOMEM;
	while (host->text_next(req, &it, &path, &text, &len)) {
		if (prefix && (strncmp(path, prefix, plen) ||
			       (path[plen] != '\0' && path[plen] != '/' &&
				plen && prefix[plen - 1] != '/')))
			continue;
		if (rep && host->report_expired && host->report_expired(rep))
			break;
		rc = scan_field(rs, path, text, len, x, &h);
		if (rc < 0)
			goto out;
	}
	rc = report_hits(rs, &h, emit, arg, counts);
out:
	free(h.v);
	return rc;
}

struct report_arg {
	const struct kvs_host *host;
	kvs_report *rep;
};

static int emit_report(void *arg, const struct kvs_finding *f, int limit)
{
	const struct report_arg *ra = arg;

	(void)limit;
	return ra->host->report_add(ra->rep, f);
}

int rules_scan(const struct kvs_ruleset *rs, const kvs_request *req,
	       const kvs_report *rep, const char *prefix,
	       rules_emit_fn *emit, void *arg)
{
	return scan(rs, req, rep, prefix, emit, arg, NULL);
}

int rules_screen(const struct kvs_ruleset *rs, const kvs_request *req,
		 kvs_report *rep, const char *prefix)
{
	struct report_arg ra = { rs->host, rep };

	return scan(rs, req, rep, prefix, emit_report, &ra, NULL);
}

int rules_screen_counted(const struct kvs_ruleset *rs, const kvs_request *req,
			 kvs_report *rep, const char *prefix, int *counts)
{
	struct report_arg ra = { rs->host, rep };

	return scan(rs, req, rep, prefix, emit_report, &ra, counts);
}
