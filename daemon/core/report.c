/* report.c - renders the officer's case report (report.h) as one self-contained HTML page.
 *
 * Order of the page: what was asked (title, type, dates, parties with their
 * list hits), what was decided and why (decision, the deciding finding,
 * required actions, officer decisions), the findings by plugin, the request
 * text with the evidence highlighted in place, and what the screening rested
 * on (list versions, plugins, policy digest, verdict versions).  Findings are
 * numbered f-1.. in verdict order, evidence ev-F-E (finding F, span E).
 */
#include "config.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "report.h"
#include "request.h"

static const char css[] =
	":root{color-scheme:light}"
	"body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111;"
	"background:#fff;margin:0 auto;max-width:60rem;padding:1rem 1.5rem}"
	"h1{font-size:1.6rem;margin:.2rem 0 .5rem}h2{font-size:1.25rem;border-bottom:2px solid #333;"
	"margin-top:2rem}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}h4{font-size:1rem;margin:0 0 .3rem}"
	".kicker{text-transform:uppercase;letter-spacing:.08em;font-size:.8rem;color:#444;margin:0}"
	"dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}"
	"dl.meta dt{font-weight:600}dl.meta dd{margin:0}"
	"code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.88em;"
	"overflow-wrap:anywhere}"
	".note{border:2px solid #8a5a00;background:#fff4d6;padding:.5rem .8rem}"
	".decision{font-size:1.3rem;font-weight:700;padding:.5rem .8rem;border:3px solid #111;"
	"display:inline-block}"
	".d-clear{background:#e3f4e6;border-color:#1b5e20}.d-review{background:#fff4d6;"
	"border-color:#8a5a00}.d-escalate{background:#ffe3cc;border-color:#a23b00}"
	".d-deny{background:#ffd9d9;border-color:#8b0000}"
	".sev{display:inline-block;font-weight:700;font-size:.8rem;text-transform:uppercase;"
	"border:1px solid #111;padding:0 .35rem;margin-right:.4rem;background:#fff}"
	".sev-critical,.sev-high{background:#8b0000;color:#fff}.sev-medium{background:#ffe0b2}"
	".sev-low{background:#e8eef7}.sev-info{background:#f2f2f2}"
	"article.finding{border:1px solid #999;border-left-width:6px;padding:.5rem .8rem;"
	"margin:.6rem 0;break-inside:avoid}"
	"article.deciding{border-color:#111;border-width:2px 2px 2px 8px}"
	".rule{color:#333;margin:0}"
	"table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{border:1px solid #999;"
	"padding:.25rem .45rem;text-align:left;vertical-align:top}th{background:#eee}"
	"mark{background:#ffe066;color:#000;border-bottom:2px solid #000;padding:0 .05em}"
	"mark mark{border-bottom-style:double}"
	"sup.ref a{text-decoration:none;font-weight:700}"
	"dl.req dt{font-weight:600;margin-top:.5rem}dl.req dd{margin:0 0 0 1rem;white-space:pre-wrap}"
	"a{color:#0b3d91}a:focus{outline:3px solid #000}"
	"footer{margin-top:2rem;border-top:1px solid #999;font-size:.85rem;color:#333}"
	"@media print{body{max-width:none;font-size:10.5pt;padding:0}a{color:#000}"
	"h2{break-after:avoid}tr,article{break-inside:avoid}"
	"mark{background:#ddd}.decision{border-width:2px}"
	"@page{margin:16mm 14mm}}";

static const char *const sev_names[] = { "info", "low", "medium", "high", "critical" };

struct span {
	size_t start, end;
	unsigned f, e;               /* finding and evidence numbers (1-based) */
	const char *leaf;            /* the request string it lies in, or NULL */
	const json_t *node;          /* the request number or boolean it marks
				      * whole (evidence with a "value"), or NULL */
	const char *why;             /* why it could not be placed */
};

struct ctx {
	FILE *out;
	const json_t *v, *req;
	struct span *spans;
	size_t n_spans;
};

/* ---- escaping ---- */

/* Element text and double-quoted attribute values alike: the five
 * significant characters become references, C0 controls but tab, newline
 * and carriage return (and DEL) become U+FFFD.  The input is valid UTF-8
 * (jansson guarantees it), cut by the callers only at character boundaries. */
static void esc_n(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				fputs("\xef\xbf\xbd", f);
			else
				fputc(c, f);
		}
	}
}

static void esc(FILE *f, const char *s)
{
	if (s)
		esc_n(f, s, strlen(s));
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int sev_rank(const char *s)
{
	for (int i = 0; s && i < 5; i++)
		if (strcmp(s, sev_names[i]) == 0)
			return i;
	return 0;
}

static void sev_badge(FILE *f, const char *s)
{
	int r = sev_rank(s);

	fprintf(f, "<span class=\"sev sev-%s\">%s</span>", sev_names[r], sev_names[r]);
}

/* ---- evidence spans ---- */

static int utf8_boundary(const char *s, size_t len, size_t off)
{
	return off == len || ((unsigned char)s[off] & 0xc0) != 0x80;
}

/* Why evidence quoting `value` at request value target cannot be placed,
 * or NULL when it can (the whole value is marked). */
static const char *scalar_evidence(const json_t *target, const json_t *value)
{
	if (!json_is_number(target) && !json_is_boolean(target))
		return "the path does not name a number or boolean of the request";
	if (json_is_number(target) && json_is_number(value) ?
	    json_number_value(target) != json_number_value(value) : !json_equal(target, value))
		return "the value at its path differs from the quoted evidence";
	return NULL;
}

/* A number, boolean or null of the request or of evidence, as JSON. */
static void scalar(FILE *f, const json_t *v)
{
	if (json_is_integer(v))
		fprintf(f, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		fprintf(f, "%g", json_real_value(v));
	else
		fputs(json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null", f);
}

/* Collect every evidence span of the verdict and decide where it goes. */
static int collect_spans(struct ctx *c)
{
	const json_t *f, *ev;
	size_t i, k, n = 0;

	json_array_foreach(json_object_get(c->v, "findings"), i, f)
		n += json_array_size(json_object_get(f, "evidence"));
	c->spans = calloc(n ? n : 1, sizeof(*c->spans));
	if (!c->spans)
		return -ENOMEM;
	json_array_foreach(json_object_get(c->v, "findings"), i, f) {
		json_array_foreach(json_object_get(f, "evidence"), k, ev) {
			struct span *s = &c->spans[c->n_spans++];
			const json_t *target, *js = json_object_get(ev, "start"),
				      *je = json_object_get(ev, "end");
			const char *text = str(ev, "text"), *t;
			size_t tl;

			s->f = (unsigned)i + 1;
			s->e = (unsigned)k + 1;
			if (!c->req) {
				s->why = "the request is not available";
				continue;
			}
			target = json_pointer_get(c->req, str(ev, "path"));
			if (json_object_get(ev, "value")) {
				s->why = scalar_evidence(target, json_object_get(ev, "value"));
				s->node = s->why ? NULL : target;
				continue;
			}
			if (!json_is_string(target)) {
				s->why = "the path does not name a text of the request";
				continue;
			}
			t = json_string_value(target);
			tl = json_string_length(target);
			if (!json_is_integer(js) || !json_is_integer(je) || json_integer_value(js) < 0 ||
			    json_integer_value(je) <= json_integer_value(js) ||
			    (size_t)json_integer_value(je) > tl) {
				s->why = "its offsets lie outside the text";
				continue;
			}
			s->start = (size_t)json_integer_value(js);
			s->end = (size_t)json_integer_value(je);
			if (!utf8_boundary(t, tl, s->start) || !utf8_boundary(t, tl, s->end)) {
				s->why = "its offsets split a UTF-8 character";
				continue;
			}
			if (text && (strlen(text) != s->end - s->start ||
				     memcmp(text, t + s->start, s->end - s->start) != 0)) {
				s->why = "the text at its offsets differs from the quoted evidence";
				continue;
			}
			s->leaf = t;
		}
	}
	return 0;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void finding_title_attr(struct ctx *c, unsigned fno)
{
	const json_t *f = json_array_get(json_object_get(c->v, "findings"), fno - 1);

	fprintf(c->out, " title=\"finding %u: ", fno);
	esc(c->out, str(f, "title"));
	fputc('"', c->out);
}

/* Write string s (len bytes, a leaf of the request) with its spans marked. */
static void marked_text(struct ctx *c, const char *s, size_t len)
{
	size_t *cut, n = 0, m = 0;

	cut = malloc((2 * c->n_spans + 2) * sizeof(*cut));
	if (!cut) {
		esc_n(c->out, s, len);
		return;
	}
	cut[n++] = 0;
	cut[n++] = len;
	for (size_t i = 0; i < c->n_spans; i++)
		if (c->spans[i].leaf == s) {
			cut[n++] = c->spans[i].start;
			cut[n++] = c->spans[i].end;
		}
	qsort(cut, n, sizeof(*cut), cmp_size);
	for (size_t i = 0; i < n; i++)
		if (m == 0 || cut[i] != cut[m - 1])
			cut[m++] = cut[i];
	for (size_t g = 0; g + 1 < m; g++) {
		size_t a = cut[g], b = cut[g + 1];
		unsigned opened = 0, covered = 0, last_f = 0;

		for (size_t i = 0; i < c->n_spans; i++) {
			struct span *sp = &c->spans[i];

			if (sp->leaf != s || sp->start > a || sp->end < b)
				continue;
			covered++;
			if (sp->start == a) {
				fprintf(c->out, "<mark id=\"ev-%u-%u\"", sp->f, sp->e);
				finding_title_attr(c, sp->f);
				fputc('>', c->out);
				opened++;
			}
		}
		if (covered && !opened) {
			fputs("<mark>", c->out);
			opened = 1;
		}
		esc_n(c->out, s + a, b - a);
		while (opened--)
			fputs("</mark>", c->out);
		for (size_t i = 0; i < c->n_spans; i++) {
			struct span *sp = &c->spans[i];

			if (sp->leaf == s && sp->end == b && sp->f != last_f) {
				fprintf(c->out, "<sup class=\"ref\"><a href=\"#f-%u\" "
					"aria-label=\"finding %u\">[%u]</a></sup>", sp->f, sp->f, sp->f);
				last_f = sp->f;
			}
		}
	}
	free(cut);
}

/* Write number or boolean v of the request, marked whole by its evidence. */
static void marked_scalar(struct ctx *c, const json_t *v)
{
	unsigned opened = 0, last_f = 0;

	for (size_t i = 0; i < c->n_spans; i++)
		if (c->spans[i].node == v) {
			fprintf(c->out, "<mark id=\"ev-%u-%u\"", c->spans[i].f, c->spans[i].e);
			finding_title_attr(c, c->spans[i].f);
			fputc('>', c->out);
			opened++;
		}
	scalar(c->out, v);
	while (opened--)
		fputs("</mark>", c->out);
	for (size_t i = 0; i < c->n_spans; i++)
		if (c->spans[i].node == v && c->spans[i].f != last_f) {
			last_f = c->spans[i].f;
			fprintf(c->out, "<sup class=\"ref\"><a href=\"#f-%u\" "
				"aria-label=\"finding %u\">[%u]</a></sup>", last_f, last_f, last_f);
		}
}

/* One evidence item as the verdict quotes it: "text" [start, end) in a
 * string, or the value of a number or boolean. */
static void quoted_evidence(FILE *f, const json_t *ev)
{
	const json_t *val = json_object_get(ev, "value");

	fputs("&ldquo;", f);
	if (val)
		scalar(f, val);
	else
		esc(f, str(ev, "text"));
	fputs("&rdquo; in <code>", f);
	esc(f, str(ev, "path"));
	fputs("</code>", f);
	if (!val)
		fprintf(f, " [%lld, %lld)",
			(long long)json_integer_value(json_object_get(ev, "start")),
			(long long)json_integer_value(json_object_get(ev, "end")));
}

/* ---- sections ---- */

static void meta_row(FILE *f, const char *label, const char *value)
{
	if (!value || !*value)
		return;
	fprintf(f, "<dt>%s</dt><dd>", label);
	esc(f, value);
	fputs("</dd>", f);
}

static long long verdict_version(const json_t *v)
{
	json_int_t n = json_integer_value(json_object_get(v, "version"));

	return n > 0 ? (long long)n : 1;
}

static void header(struct ctx *c, const struct report_input *in)
{
	FILE *f = c->out;
	const char *title = str(c->req, "title");
	const json_t *inst = json_object_get(c->req, "institution");
	char ver[32];

	fputs("<header><p class=\"kicker\">Knowledge-security case report</p><h1>", f);
	if (title && *title)
		esc(f, title);
	else {
		fputs("Request ", f);
		esc(f, str(c->v, "request_id"));
	}
	fputs("</h1><dl class=\"meta\">", f);
	meta_row(f, "Request id", str(c->v, "request_id"));
	meta_row(f, "Type", c->req ? str(c->req, "type") : "unknown (the request is not available)");
	meta_row(f, "Request date", str(c->req, "date"));
	meta_row(f, "Screened", str(c->v, "screened_at"));
	snprintf(ver, sizeof(ver), "%lld", verdict_version(c->v));
	meta_row(f, "Verdict version", ver);
	if (inst) {
		meta_row(f, "Institution", str(inst, "name"));
		meta_row(f, "Unit", str(inst, "unit"));
	}
	fputs("</dl></header>", f);
	if (in->note) {
		fputs("<p class=\"note\" role=\"note\"><strong>Note:</strong> ", f);
		esc(f, in->note);
		fputs("</p>", f);
	}
	if (!c->req)
		fputs("<p class=\"note\" role=\"note\"><strong>Note:</strong> the request itself is "
		      "not available to this report (only its verdict is stored): parties, dates and "
		      "the request text are shown as far as the verdict quotes them, and the evidence "
		      "is shown as quoted, not in its context.</p>", f);
}

static int deciding_index(const json_t *v)
{
	const json_t *d = json_object_get(v, "deciding"), *f;
	size_t i;

	if (!json_is_object(d))
		return -1;
	json_array_foreach(json_object_get(v, "findings"), i, f)
		if (json_equal(f, d))
			return (int)i;
	return -1;
}

static const char *decision_meaning(const char *d)
{
	if (!d)
		return "";
	if (strcmp(d, "clear") == 0)
		return "No finding calls for action: the institute may proceed.";
	if (strcmp(d, "review") == 0)
		return "An officer reviews the findings and records a decision before the institute commits.";
	if (strcmp(d, "escalate") == 0)
		return "Escalated: the research-security or export-control officer decides; do not "
		       "proceed until a decision is recorded.";
	if (strcmp(d, "deny") == 0)
		return "Do not proceed: a prohibition applies.";
	return "";
}

static void decision_row(FILE *f, const json_t *r)
{
	const char *src = str(r, "officer_source");

	fprintf(f, "<tr><td>%lld</td><td>", (long long)json_integer_value(json_object_get(r, "seq")));
	esc(f, str(r, "at"));
	fputs("</td><td>", f);
	esc(f, str(r, "officer"));
	if (src)
		fprintf(f, "<br><small>(%s)</small>", strcmp(src, "token") == 0
			? "identified by a named API token" : "as given in the decision request");
	fputs("</td><td><strong>", f);
	esc(f, str(r, "decision"));
	fputs("</strong></td><td>", f);
	esc(f, str(r, "conditions"));
	fputs("</td><td>", f);
	esc(f, str(r, "reason"));
	fprintf(f, "</td><td>%lld</td><td><code>",
		(long long)json_integer_value(json_object_get(r, "verdict_version")));
	esc(f, str(r, "hash"));
	fputs("</code></td></tr>", f);
}

static void decisions_table(FILE *f, const json_t *decisions)
{
	const json_t *r;
	size_t i;

	if (!json_array_size(decisions)) {
		fputs("<p>No officer decision is recorded for this request.</p>", f);
		return;
	}
	fputs("<table><caption class=\"mono\">Audit log records (hash-chained, append-only)</caption>"
	      "<thead><tr><th scope=\"col\">Record</th><th scope=\"col\">When (UTC)</th>"
	      "<th scope=\"col\">Officer</th><th scope=\"col\">Decision</th>"
	      "<th scope=\"col\">Conditions</th><th scope=\"col\">Reason</th>"
	      "<th scope=\"col\">On verdict version</th><th scope=\"col\">Record hash</th></tr></thead><tbody>",
	      f);
	json_array_foreach(decisions, i, r)
		decision_row(f, r);
	fputs("</tbody></table>", f);
}

static void summary(struct ctx *c, const struct report_input *in)
{
	FILE *f = c->out;
	const char *d = str(c->v, "decision");
	int di = deciding_index(c->v);
	const json_t *a, *last;
	size_t i;

	fputs("<section id=\"decision\" aria-labelledby=\"h-decision\"><h2 id=\"h-decision\">"
	      "Decision</h2>", f);
	/* The class is one of four fixed names, never the input's text. */
	fprintf(f, "<p class=\"decision d-%s\">Verdict: ",
		d && (!strcmp(d, "clear") || !strcmp(d, "escalate") || !strcmp(d, "deny"))
			? (d[0] == 'c' ? "clear" : d[0] == 'e' ? "escalate" : "deny") : "review");
	esc(f, d ? d : "unknown");
	fprintf(f, " <small>(score %lld of 100)</small></p><p>",
		(long long)json_integer_value(json_object_get(c->v, "score")));
	esc(f, decision_meaning(d));
	fputs("</p>", f);
	if (di >= 0) {
		const json_t *df = json_array_get(json_object_get(c->v, "findings"), (size_t)di);

		fputs("<h3>Deciding finding</h3><p>", f);
		sev_badge(f, str(df, "severity"));
		fprintf(f, "<a href=\"#f-%d\">", di + 1);
		esc(f, str(df, "title"));
		fputs("</a> <span class=\"rule\">(<code>", f);
		esc(f, str(df, "plugin"));
		fputs("/", f);
		esc(f, str(df, "rule"));
		fputs("</code>)</span></p>", f);
	} else {
		fputs("<p>No finding above <em>info</em> decided this verdict.</p>", f);
	}
	fputs("<h3>Required actions</h3>", f);
	if (json_array_size(json_object_get(c->v, "actions"))) {
		fputs("<ol>", f);
		json_array_foreach(json_object_get(c->v, "actions"), i, a) {
			fputs("<li>", f);
			esc(f, json_string_value(a));
			fputs("</li>", f);
		}
		fputs("</ol>", f);
	} else {
		fputs("<p>None.</p>", f);
	}
	fputs("<h3>Officer decision</h3>", f);
	last = json_array_get(in->decisions, json_array_size(in->decisions) - 1);
	if (json_array_size(in->decisions) && last) {
		fputs("<p>Latest: <strong>", f);
		esc(f, str(last, "decision"));
		fputs("</strong> by ", f);
		esc(f, str(last, "officer"));
		fputs(" at ", f);
		esc(f, str(last, "at"));
		fputs(" (full record under <a href=\"#history\">History</a>).</p>", f);
	} else {
		fputs("<p>No officer decision is recorded yet.</p>", f);
	}
	fputs("</section>", f);
}

/* Links to the findings with evidence under prefix (e.g. "/parties/0/"). */
static void hits(struct ctx *c, const char *prefix)
{
	const json_t *f, *ev;
	size_t i, k, pl = strlen(prefix), n = 0;

	json_array_foreach(json_object_get(c->v, "findings"), i, f) {
		json_array_foreach(json_object_get(f, "evidence"), k, ev) {
			const char *p = str(ev, "path");

			if (!p || strncmp(p, prefix, pl) != 0)
				continue;
			fputs(n++ ? "<br>" : "", c->out);
			sev_badge(c->out, str(f, "severity"));
			fprintf(c->out, "<a href=\"#f-%zu\">", i + 1);
			esc(c->out, str(f, "title"));
			fputs("</a>", c->out);
			break;
		}
	}
	if (!n)
		fputs("none", c->out);
}

static void parties(struct ctx *c)
{
	FILE *f = c->out;
	const json_t *p, *al, *a;
	size_t i, k;
	char prefix[48];

	fputs("<section id=\"parties\" aria-labelledby=\"h-parties\"><h2 id=\"h-parties\">Parties "
	      "and people</h2>", f);
	if (!c->req) {
		fputs("<p>The parties are listed in the request, which is not available. Findings "
		      "on names of parties are under <a href=\"#findings\">Findings</a>.</p></section>", f);
		return;
	}
	fputs("<table><thead><tr><th scope=\"col\">Role</th><th scope=\"col\">Name</th>"
	      "<th scope=\"col\">Country</th><th scope=\"col\">Kind</th><th scope=\"col\">State-owned</th>"
	      "<th scope=\"col\">List hits and findings</th></tr></thead><tbody>", f);
	json_array_foreach(json_object_get(c->req, "parties"), i, p) {
		fputs("<tr><td>", f);
		esc(f, str(p, "role"));
		fputs("</td><td>", f);
		esc(f, str(p, "name"));
		al = json_object_get(p, "aliases");
		if (json_array_size(al)) {
			fputs("<br><small>also: ", f);
			json_array_foreach(al, k, a) {
				fputs(k ? "; " : "", f);
				esc(f, json_string_value(a));
			}
			fputs("</small>", f);
		}
		fputs("</td><td>", f);
		esc(f, str(p, "country"));
		fputs("</td><td>", f);
		esc(f, str(p, "kind"));
		fprintf(f, "</td><td>%s</td><td>", json_is_true(json_object_get(p, "state_owned")) ? "yes"
			: json_is_false(json_object_get(p, "state_owned")) ? "no" : "not stated");
		snprintf(prefix, sizeof(prefix), "/parties/%zu/", i);
		hits(c, prefix);
		fputs("</td></tr>", f);
	}
	json_array_foreach(json_object_get(c->req, "people"), i, p) {
		fputs("<tr><td>person", f);
		if (str(p, "role")) {
			fputs(": ", f);
			esc(f, str(p, "role"));
		}
		fputs("</td><td>", f);
		esc(f, str(p, "name"));
		if (str(p, "affiliation")) {
			fputs("<br><small>", f);
			esc(f, str(p, "affiliation"));
			fputs("</small>", f);
		}
		fputs("</td><td>", f);
		esc(f, str(p, "nationality"));
		fputs("</td><td>individual</td><td>-</td><td>", f);
		snprintf(prefix, sizeof(prefix), "/people/%zu/", i);
		hits(c, prefix);
		fputs("</td></tr>", f);
	}
	fputs("</tbody></table></section>", f);
}

static void finding(struct ctx *c, const json_t *fd, size_t i, int deciding)
{
	FILE *f = c->out;
	const json_t *ev, *r;
	size_t k;

	fprintf(f, "<li><article class=\"finding%s\" id=\"f-%zu\" aria-labelledby=\"fh-%zu\">"
		"<h4 id=\"fh-%zu\">", deciding ? " deciding" : "", i + 1, i + 1, i + 1);
	sev_badge(f, str(fd, "severity"));
	esc(f, str(fd, "title"));
	fputs("</h4><p class=\"rule\">", f);
	if (deciding)
		fputs("<strong>Deciding finding.</strong> ", f);
	fprintf(f, "Finding %zu, rule <code>", i + 1);
	esc(f, str(fd, "rule"));
	fputs("</code></p>", f);
	if (str(fd, "rationale")) {
		fputs("<p>", f);
		esc(f, str(fd, "rationale"));
		fputs("</p>", f);
	}
	if (json_array_size(json_object_get(fd, "evidence"))) {
		fputs("<p>Evidence:</p><ul class=\"evidence\">", f);
		json_array_foreach(json_object_get(fd, "evidence"), k, ev) {
			fprintf(f, "<li><a href=\"#ev-%zu-%zu\">", i + 1, k + 1);
			quoted_evidence(f, ev);
			fputs("</a></li>", f);
		}
		fputs("</ul>", f);
	}
	fputs("<p><strong>Legal basis:</strong> ", f);
	if (json_array_size(json_object_get(fd, "references"))) {
		fputs("</p><ul class=\"refs\">", f);
		json_array_foreach(json_object_get(fd, "references"), k, r) {
			fputs("<li>", f);
			esc(f, json_string_value(r));
			fputs("</li>", f);
		}
		fputs("</ul>", f);
	} else {
		fputs("none given (a finding about the screening itself).</p>", f);
	}
	if (str(fd, "action")) {
		fputs("<p><strong>Action:</strong> ", f);
		esc(f, str(fd, "action"));
		fputs("</p>", f);
	}
	fputs("</article></li>", f);
}

static void findings(struct ctx *c)
{
	FILE *f = c->out;
	const json_t *all = json_object_get(c->v, "findings"), *fd, *pl;
	int di = deciding_index(c->v);
	const char *seen[64];
	size_t n_seen = 0, i, j;

	fputs("<section id=\"findings\" aria-labelledby=\"h-findings\"><h2 id=\"h-findings\">"
	      "Findings by plugin</h2>", f);
	if (!json_array_size(all))
		fputs("<p>No findings.</p>", f);
	/* Plugins in order of their first finding; within one, by severity. */
	json_array_foreach(all, i, fd) {
		const char *name = str(fd, "plugin");
		int dup = 0;

		if (!name)
			name = "";
		for (j = 0; j < n_seen; j++)
			dup |= strcmp(seen[j], name) == 0;
		if (dup || n_seen == 64)
			continue;
		seen[n_seen++] = name;
		fputs("<section class=\"plugin\"><h3>", f);
		esc(f, *name ? name : "(no plugin)");
		json_array_foreach(json_object_get(c->v, "plugins"), j, pl)
			if (str(pl, "name") && strcmp(str(pl, "name"), name) == 0) {
				fputs(" <small>(version ", f);
				esc(f, str(pl, "version"));
				fputs(", ", f);
				esc(f, str(pl, "status"));
				fputs(")</small>", f);
			}
		fputs("</h3><ol class=\"findings\">", f);
		for (int r = 4; r >= 0; r--) {
			const json_t *g;
			size_t m;

			json_array_foreach(all, m, g) {
				const char *gn = str(g, "plugin");

				if (strcmp(gn ? gn : "", name) == 0 && sev_rank(str(g, "severity")) == r)
					finding(c, g, m, (int)m == di);
			}
		}
		fputs("</ol></section>", f);
	}
	fputs("</section>", f);
}

static void request_leaf(struct ctx *c, const json_t *v, char *path, size_t plen, size_t cap)
{
	FILE *f = c->out;
	const char *key;
	const json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, x) {
			size_t n = plen;

			if (plen == 0 && strcmp(key, "schema") == 0)
				continue;
			if (n + 1 < cap)
				path[n++] = '/';
			for (const char *k = key; *k && n + 2 < cap; k++) {
				if (*k == '~' || *k == '/') {
					path[n++] = '~';
					path[n++] = *k == '~' ? '0' : '1';
				} else {
					path[n++] = *k;
				}
			}
			path[n] = '\0';
			request_leaf(c, x, path, n, cap);
		}
		return;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			int n = snprintf(path + plen, cap - plen, "/%zu", i);

			request_leaf(c, x, path, n > 0 && (size_t)n < cap - plen ? plen + (size_t)n : plen,
				     cap);
		}
		return;
	}
	path[plen] = '\0';
	fputs("<dt><code>", f);
	esc(f, path);
	fputs("</code></dt><dd>", f);
	if (json_is_string(v)) {
		marked_text(c, json_string_value(v), json_string_length(v));
	} else {
		marked_scalar(c, v);
	}
	fputs("</dd>", f);
}

static void request_text(struct ctx *c)
{
	FILE *f = c->out;
	size_t unplaced = 0;
	char path[1024];

	fputs("<section id=\"request\" aria-labelledby=\"h-request\"><h2 id=\"h-request\">"
	      "Request text with the evidence</h2>", f);
	if (c->req) {
		fputs("<p>Every field of the request, by its JSON pointer; the words a finding rests "
		      "on are <mark>marked</mark> and followed by the number of their finding.</p>"
		      "<dl class=\"req\">", f);
		path[0] = '\0';
		request_leaf(c, c->req, path, 0, sizeof(path));
		fputs("</dl>", f);
	}
	for (size_t i = 0; i < c->n_spans; i++)
		unplaced += !c->spans[i].leaf && !c->spans[i].node;
	if (unplaced) {
		fprintf(f, "<h3>Evidence %s</h3><ul class=\"evidence\">",
			c->req ? "that could not be placed in the request" : "as quoted in the verdict");
		for (size_t i = 0; i < c->n_spans; i++) {
			const struct span *s = &c->spans[i];
			const json_t *ev;

			if (s->leaf || s->node)
				continue;
			ev = json_array_get(json_object_get(json_array_get(json_object_get(c->v,
				"findings"), s->f - 1), "evidence"), s->e - 1);
			fputs("<li><code>", f);
			esc(f, str(ev, "path"));
			fputs("</code>", f);
			if (!json_object_get(ev, "value"))
				fprintf(f, " [%lld, %lld)",
					(long long)json_integer_value(json_object_get(ev, "start")),
					(long long)json_integer_value(json_object_get(ev, "end")));
			fprintf(f, ": &ldquo;<mark id=\"ev-%u-%u\"", s->f, s->e);
			finding_title_attr(c, s->f);
			fputc('>', f);
			if (json_object_get(ev, "value"))
				scalar(f, json_object_get(ev, "value"));
			else
				esc(f, str(ev, "text"));
			fprintf(f, "</mark>&rdquo;<sup class=\"ref\"><a href=\"#f-%u\" aria-label=\"finding "
				"%u\">[%u]</a></sup>", s->f, s->f, s->f);
			if (c->req) {
				fputs(" <em>(not placed: ", f);
				esc(f, s->why);
				fputs(")</em>", f);
			}
			fputs("</li>", f);
		}
		fputs("</ul>", f);
	}
	fputs("</section>", f);
}

static void basis(struct ctx *c)
{
	FILE *f = c->out;
	const json_t *fd, *p;
	size_t i;
	int lists = 0;

	fputs("<section id=\"basis\" aria-labelledby=\"h-basis\"><h2 id=\"h-basis\">What the "
	      "screening rested on</h2><h3>List versions</h3>", f);
	json_array_foreach(json_object_get(c->v, "findings"), i, fd) {
		const char *rule = str(fd, "rule"), *why = str(fd, "rationale");
		size_t rl = rule ? strlen(rule) : 0;

		if (rl < 6 || strcmp(rule + rl - 6, ".lists") != 0 || !why)
			continue;
		lists = 1;
		fputs("<ul class=\"lists\">", f);
		/* "Screened against a (...); b (...)": one list per item. */
		if (strncmp(why, "Screened against ", 17) == 0)
			why += 17;
		for (const char *s = why, *e; *s; s = *e ? e + 2 : e) {
			e = strstr(s, "; ");
			if (!e)
				e = s + strlen(s);
			fputs("<li>", f);
			esc_n(f, s, (size_t)(e - s));
			fputs("</li>", f);
		}
		fprintf(f, "</ul><p><small>(from finding <a href=\"#f-%zu\">%zu</a>)</small></p>", i + 1,
			i + 1);
	}
	if (!lists)
		fputs("<p>The verdict names no list versions.</p>", f);
	fputs("<h3>Plugins</h3><table><thead><tr><th scope=\"col\">Plugin</th><th scope=\"col\">"
	      "Version</th><th scope=\"col\">Status</th><th scope=\"col\">Time (&micro;s)</th></tr>"
	      "</thead><tbody>", f);
	json_array_foreach(json_object_get(c->v, "plugins"), i, p) {
		fputs("<tr><td>", f);
		esc(f, str(p, "name"));
		fputs("</td><td>", f);
		esc(f, str(p, "version"));
		fputs("</td><td>", f);
		esc(f, str(p, "status"));
		if (json_array_size(json_object_get(p, "lists_missing"))) {
			const json_t *m;
			size_t k;

			fputs("; <strong>screened without</strong> (not downloaded):", f);
			json_array_foreach(json_object_get(p, "lists_missing"), k, m) {
				fputs(k ? ", " : " ", f);
				esc(f, json_string_value(m));
			}
		}
		fprintf(f, "</td><td>%lld</td></tr>",
			(long long)json_integer_value(json_object_get(p, "duration_us")));
	}
	fputs("</tbody></table><dl class=\"meta\">", f);
	meta_row(f, "Policy digest", str(json_object_get(c->v, "policy"), "digest"));
	meta_row(f, "kvscreend version", str(json_object_get(c->v, "daemon"), "version"));
	meta_row(f, "Verdict schema", str(c->v, "schema"));
	fputs("</dl></section>", f);
}

static void history(struct ctx *c, const struct report_input *in)
{
	FILE *f = c->out;
	const json_t *h, *one[1] = { c->v };
	size_t n = json_array_size(in->history), i;

	fputs("<section id=\"history\" aria-labelledby=\"h-history\"><h2 id=\"h-history\">"
	      "History</h2><h3>Verdict versions</h3><table><thead><tr><th scope=\"col\">Version</th>"
	      "<th scope=\"col\">Screened (UTC)</th><th scope=\"col\">Decision</th>"
	      "<th scope=\"col\">Reason for re-screening</th><th scope=\"col\">Policy digest</th>"
	      "</tr></thead><tbody>", f);
	for (i = 0; i < (n ? n : 1); i++) {
		h = n ? json_array_get(in->history, i) : one[0];
		fprintf(f, "<tr><td>%lld</td><td>", verdict_version(h));
		esc(f, str(h, "screened_at"));
		fputs("</td><td>", f);
		esc(f, str(h, "decision"));
		fputs("</td><td>", f);
		esc(f, str(h, "reason") ? str(h, "reason") : verdict_version(h) == 1 ? "first screening" : "");
		fputs("</td><td><code>", f);
		esc(f, str(json_object_get(h, "policy"), "digest"));
		fputs("</code></td></tr>", f);
	}
	fputs("</tbody></table><h3>Officer decisions</h3>", f);
	decisions_table(f, in->decisions);
	fputs("</section>", f);
}

/* ---- the page ---- */

int report_csp(char *buf, size_t len)
{
	unsigned char md[32];
	unsigned char b64[48];
	int n;

	if (digest_sha256(css, sizeof(css) - 1, md) < 0)
		return -EIO;
	EVP_EncodeBlock(b64, md, 32);
	n = snprintf(buf, len, "default-src 'none'; style-src 'sha256-%s'; img-src 'none'; "
		     "base-uri 'none'; form-action 'none'; frame-ancestors 'none'", b64);
	return n > 0 && (size_t)n < len ? 0 : -ENOSPC;
}

int report_render(const struct report_input *in, FILE *out)
{
	struct ctx c = { .out = out, .v = in->verdict };
	char csp[256], now[32];
	time_t t = time(NULL);
	struct tm tm;
	int rc;

	if (!json_is_object(in->verdict))
		return -EINVAL;
	c.req = json_is_object(in->request) ? in->request : NULL;
	rc = report_csp(csp, sizeof(csp));
	if (rc < 0)
		return rc;
	rc = collect_spans(&c);
	if (rc < 0)
		return rc;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta http-equiv=\"Content-Security-Policy\" content=\"%s\">"
		"<meta name=\"referrer\" content=\"no-referrer\">"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		"<title>Case report ", csp);
	esc(out, str(c.v, "request_id"));
	fputs(": ", out);
	esc(out, str(c.v, "decision"));
	fprintf(out, "</title><style>%s</style></head>\n<body>", css);
	header(&c, in);
	fputs("<nav aria-label=\"Sections\"><a href=\"#decision\">Decision</a> &middot; "
	      "<a href=\"#parties\">Parties</a> &middot; <a href=\"#findings\">Findings</a> &middot; "
	      "<a href=\"#request\">Request text</a> &middot; <a href=\"#basis\">Basis</a> &middot; "
	      "<a href=\"#history\">History</a></nav><main>", out);
	summary(&c, in);
	parties(&c);
	findings(&c);
	request_text(&c);
	basis(&c);
	history(&c, in);
	fprintf(out, "</main><footer><p>Made by kvscreen %s at %s from the stored verdict%s. "
		"The audit log is the record of officer decisions; check it with "
		"<code>kvscreen audit verify</code>.</p></footer></body></html>\n",
		PACKAGE_VERSION, now, c.req ? " and its request" : "");
	free(c.spans);
	return ferror(out) ? -EIO : 0;
}
