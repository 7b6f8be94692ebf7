/* verdict.c - the verdict written as JSON from its structs, and what consumers read of it (see verdict.h).
 *
 * The text is the one documented in docs/api.md; the members of a
 * finding come in one order for plugin and host findings alike: rule,
 * severity, title, references, evidence, rationale, action, plugin.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "verdict.h"

#define W(w, lit) JSONW_LIT(w, lit)

static void put_cstr(struct jsonw *w, const char *s)
{
	jsonw_str(w, s, strlen(s));
}

/* A name of the daemon's own tables (a severity, a decision): plain ASCII,
 * written as it is. */
static void put_name(struct jsonw *w, const char *s)
{
	jsonw_raw(w, s, strlen(s));
}

static void put_evidence(struct jsonw *w, const struct evidence *e)
{
	W(w, "{\"path\":");
	put_cstr(w, e->path);
	if (e->value) {
		W(w, ",\"value\":");
		jsonw_value(w, e->value);
	} else {
		W(w, ",\"start\":");
		jsonw_int(w, (long long)e->start);
		W(w, ",\"end\":");
		jsonw_int(w, (long long)e->end);
		W(w, ",\"text\":");
		jsonw_str(w, e->text, e->end - e->start);
	}
	W(w, "}");
}

static void put_finding(struct jsonw *w, const struct finding *f)
{
	W(w, "{\"rule\":");
	put_cstr(w, f->rule);
	W(w, ",\"severity\":\"");
	put_name(w, kvs_severity_name(f->severity));
	W(w, "\",\"title\":");
	put_cstr(w, f->title);
	W(w, ",\"references\":[");
	for (size_t i = 0; i < f->n_refs; i++) {
		if (i)
			W(w, ",");
		put_cstr(w, f->refs[i]);
	}
	W(w, "],\"evidence\":[");
	for (size_t i = 0; i < f->n_ev; i++) {
		if (i)
			W(w, ",");
		put_evidence(w, &f->ev[i]);
	}
	W(w, "]");
	if (f->rationale) {
		W(w, ",\"rationale\":");
		put_cstr(w, f->rationale);
	}
	if (f->action) {
		W(w, ",\"action\":");
		put_cstr(w, f->action);
	}
	W(w, ",\"plugin\":");
	put_cstr(w, f->plugin);
	W(w, "}");
}

/* The actions of the findings: the deciding finding's first, then by
 * severity, highest first, and document order; each text once. */
static void put_actions(struct jsonw *w, const struct verdict *v)
{
	const char *few[64], **seen = few;
	size_t n_seen = 0;

	if (v->n_findings > 64 && !(seen = malloc(v->n_findings * sizeof(*seen)))) {
		w->failed = 1;
		return;
	}
	W(w, "[");
	for (int sev = KVS_SEV_CRITICAL + 1; sev >= KVS_SEV_INFO; sev--)
		for (size_t i = 0; i < v->n_findings; i++) {
			const struct finding *f = v->findings[i];
			size_t k;

			/* The pass "above critical" is the deciding finding's. */
			if (sev > KVS_SEV_CRITICAL ? i > 0 || !v->has_deciding
						   : (int)f->severity != sev)
				continue;
			if (!f->action)
				continue;
			for (k = 0; k < n_seen && strcmp(seen[k], f->action) != 0; k++)
				;
			if (k < n_seen)
				continue;
			if (n_seen)
				W(w, ",");
			seen[n_seen++] = f->action;
			put_cstr(w, f->action);
		}
	W(w, "]");
	if (seen != few)
		free(seen);
}

/* The extra members of `extra`, each preceded by a comma. */
static void put_extra(struct jsonw *w, const json_t *extra)
{
	const char *key;
	json_t *val;

	json_object_foreach((json_t *)extra, key, val) {
		W(w, ",");
		put_cstr(w, key);
		W(w, ":");
		jsonw_value(w, val);
	}
}

char *verdict_text(const struct verdict *v, const json_t *extra, size_t *len)
{
	struct jsonw w = JSONW_INIT;

	W(&w, "{\"schema\":\"kvscreen.verdict/v1\",\"request_id\":");
	put_cstr(&w, v->request_id);
	W(&w, ",\"decision\":\"");
	put_name(&w, decision_name(v->decision));
	W(&w, "\",\"score\":");
	jsonw_int(&w, v->score);
	W(&w, ",\"screened_at\":");
	put_cstr(&w, v->screened_at);
	W(&w, ",\"deciding\":");
	if (v->has_deciding)
		put_finding(&w, v->findings[0]);
	else
		W(&w, "null");
	W(&w, ",\"actions\":");
	put_actions(&w, v);
	W(&w, ",\"findings\":[");
	for (size_t i = 0; i < v->n_findings; i++) {
		if (i)
			W(&w, ",");
		put_finding(&w, v->findings[i]);
	}
	W(&w, "],\"plugins\":[");
	for (size_t i = 0; i < v->n_plugins; i++) {
		const struct verdict_plugin *p = &v->plugins[i];

		if (i)
			W(&w, ",");
		W(&w, "{\"name\":");
		put_cstr(&w, p->name);
		W(&w, ",\"version\":");
		put_cstr(&w, p->version);
		W(&w, ",\"status\":");
		put_cstr(&w, p->status);
		W(&w, ",\"duration_us\":");
		jsonw_int(&w, p->duration_us);
		if (p->lists_missing) {
			W(&w, ",\"lists_missing\":");
			jsonw_value(&w, p->lists_missing);
		}
		W(&w, "}");
	}
	W(&w, "],\"policy\":{\"digest\":");
	put_cstr(&w, v->policy);
	W(&w, "},\"daemon\":{\"version\":\"" PACKAGE_VERSION "\"}");
	if (extra)
		put_extra(&w, extra);
	W(&w, "}");
	return jsonw_finish(&w, len);
}

void verdict_decide(struct verdict *v)
{
	long best = -1;
	int best_sev = KVS_SEV_INFO, best_act = 0;

	for (size_t i = 0; i < v->n_findings; i++) {
		int sev = (int)v->findings[i]->severity, act = v->findings[i]->action != NULL;

		if (sev > best_sev || (sev == best_sev && best >= 0 && act && !best_act)) {
			best = (long)i;
			best_sev = sev;
			best_act = act;
		}
	}
	v->has_deciding = best >= 0;
	if (best > 0) {
		struct finding *f = v->findings[best];

		memmove(v->findings + 1, v->findings, (size_t)best * sizeof(*v->findings));
		v->findings[0] = f;
	}
}

char *verdict_take_text(struct verdict *v, size_t *len)
{
	char *t = v->text ? v->text : verdict_text(v, NULL, &v->len);

	if (len)
		*len = t ? v->len : 0;
	v->text = NULL;
	v->len = 0;
	return t;
}

json_t *verdict_json(const struct verdict *v)
{
	size_t len;
	char *t = verdict_text(v, NULL, &len);
	json_t *j = t ? json_loadb(t, len, 0, NULL) : NULL;

	free(t);
	return j;
}

int verdict_plugins_ok(const struct verdict *v)
{
	for (size_t i = 0; i < v->n_plugins; i++)
		if (strcmp(v->plugins[i].status, "ok") != 0)
			return 0;
	return 1;
}

/* ---- The re-screening summary ----
 * Its text is compared with the one stored when the case was screened
 * before, so it is the text the first version wrote: keys
 * "plugin|rule|severity|ref;ref;..." with the references cut to 2047 bytes
 * and the key to 4095, a key cut inside a UTF-8 character left out. */

static void cat(char *buf, size_t size, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + 1 >= size)
		return;
	if (n > size - 1 - *o)
		n = size - 1 - *o;
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *verdict_summary(const struct verdict *v)
{
	struct jsonw w = JSONW_INIT;
	struct arena a = ARENA_INIT;
	char **keys = v->n_findings ? arena_alloc(&a, v->n_findings * sizeof(*keys)) : NULL;
	size_t n = 0;

	if (v->n_findings && !keys)
		return NULL;
	for (size_t i = 0; i < v->n_findings; i++) {
		const struct finding *f = v->findings[i];
		char refs[2048] = "", key[4096] = "";
		size_t o = 0, k = 0;

		for (size_t r = 0; r < f->n_refs && o < sizeof(refs) - 1; r++) {
			if (o)
				cat(refs, sizeof(refs), &o, ";");
			cat(refs, sizeof(refs), &o, f->refs[r]);
		}
		cat(key, sizeof(key), &k, f->plugin);
		cat(key, sizeof(key), &k, "|");
		cat(key, sizeof(key), &k, f->rule);
		cat(key, sizeof(key), &k, "|");
		cat(key, sizeof(key), &k, kvs_severity_name(f->severity));
		cat(key, sizeof(key), &k, "|");
		cat(key, sizeof(key), &k, refs);
		if (!utf8_valid(key, k))
			continue;
		if (!(keys[n++] = arena_strndup(&a, key, k))) {
			arena_free(&a);
			return NULL;
		}
	}
	if (n > 1)
		qsort(keys, n, sizeof(*keys), cmp_str);
	W(&w, "{\"d\":\"");
	put_name(&w, decision_name(v->decision));
	W(&w, "\",\"k\":[");
	for (size_t i = 0, out = 0; i < n; i++) {
		if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0)
			continue;
		if (out++)
			W(&w, ",");
		put_cstr(&w, keys[i]);
	}
	W(&w, "]}");
	arena_free(&a);
	return jsonw_finish(&w, NULL);
}

void verdict_clear(struct verdict *v)
{
	free(v->text);
	v->text = NULL;
	arena_free(&v->arena);
}
