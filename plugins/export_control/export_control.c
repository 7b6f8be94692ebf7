/* export_control.c - the export_control plugin: EU dual-use and Common Military List screening with destination and end-use policy.
 *
 * Text screening is done by the host's rule engine (kvs_host.rules_*) with
 * four groups of rule sets: dual-use (Annex I), military (Common Military
 * List), catch-all end-use wording (Articles 4 and 5) and claimed
 * exemptions.  The plugin adds what text rules cannot: claimed
 * classifications of items checked against the list of Annex I entries, the
 * destination policy (intra-EU, EU001 general authorisation, other, arms
 * embargo) applied to what the rules found, and intangible transfers.
 * Sanctions bans, which prohibit where an embargo only requires a licence,
 * are weighed by sanctions.c from what this file found.
 *
 * create() loads everything once per configuration generation; screen() only
 * reads the state, so it runs on any number of worker threads at once.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvscreen/plugin.h"
#include "sanctions.h"

#define EC_MAX_SETS 64
#define EC_MAX_ENTRIES 4096
#define EC_MAX_DEST 64

struct ec_config {
	const char *const *rules;
	const char *const *military_rules;
	const char *const *catch_all_rules;
	const char *const *exemption_rules;
	const char *entries;
	const char *const *eu_countries;
	const char *const *eu001_countries;
	const char *const *embargoed;
	int intangible_is_export;
	const char *home_country;
	const char *sanctions;
};

/* Defaults, used when the configuration leaves a list empty. */
static const char *const def_rules[] = { "rules/export_control/dual-use", NULL };
static const char *const def_military[] = { "rules/export_control/military.conf", NULL };
static const char *const def_catch_all[] = { "rules/export_control/catch-all.conf", NULL };
static const char *const def_exemptions[] = { "rules/export_control/exemptions.conf", NULL };
/* EU-27 member states (ISO 3166-1 alpha-2; Greece is GR, not EL). */
static const char *const def_eu[] = {
	"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU",
	"IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES",
	"SE", NULL,
};
/* Union general export authorisation EU001: Regulation (EU) 2021/821
 * Annex II, Section A, Part 2 (Switzerland includes Liechtenstein). */
static const char *const def_eu001[] = {
	"AU", "CA", "IS", "JP", "NZ", "NO", "CH", "LI", "GB", "US", NULL,
};
/* EU arms embargoes in force in 2022 ("CC: legal basis"); source: the EU
 * Sanctions Map (sanctionsmap.eu) and the Council decisions named.  Some
 * (IQ, LB, AF, YE) target only non-government forces or listed persons; the
 * finding says so through the reference for a person to weigh. */
static const char *const def_embargoed[] = {
	"AF: Council Decision 2011/486/CFSP (Taliban-linked persons)",
	"BY: Council Decision 2012/642/CFSP",
	"CD: Council Decision 2010/788/CFSP (non-government forces)",
	"CF: Council Decision 2013/798/CFSP",
	"CN: Declaration of the European Council, Madrid, 27 June 1989",
	"HT: Council Decision (CFSP) 2022/2319",
	"IQ: Council Common Position 2003/495/CFSP (non-government forces)",
	"IR: Council Decision 2010/413/CFSP",
	"KP: Council Decision (CFSP) 2016/849",
	"LB: Council Common Position 2006/625/CFSP (non-government forces)",
	"LY: Council Decision (CFSP) 2015/1333",
	"MM: Council Decision 2013/184/CFSP",
	"RU: Council Decision 2014/512/CFSP",
	"SD: Council Decision 2014/450/CFSP",
	"SO: Council Decision 2010/231/CFSP",
	"SS: Council Decision 2015/740/CFSP",
	"SY: Council Decision 2013/255/CFSP",
	"VE: Council Decision (CFSP) 2017/2074",
	"YE: Council Decision 2014/932/CFSP (Houthi forces)",
	"ZW: Council Decision 2011/101/CFSP",
	NULL,
};

#define OFF(m) offsetof(struct ec_config, m)
static const struct kvs_option ec_options[] = {
	{ "rules", KVS_OPT_STRINGS, NULL, OFF(rules),
	  "dual-use rule files or folders of *.conf files (default rules/export_control/dual-use)", 0, 0, 0, NULL, NULL },
	{ "military_rules", KVS_OPT_STRINGS, NULL, OFF(military_rules),
	  "Common Military List rule files (default rules/export_control/military.conf)", 0, 0, 0, NULL, NULL },
	{ "catch_all_rules", KVS_OPT_STRINGS, NULL, OFF(catch_all_rules),
	  "Article 4/5 end-use rule files (default rules/export_control/catch-all.conf)", 0, 0, 0, NULL, NULL },
	{ "exemption_rules", KVS_OPT_STRINGS, NULL, OFF(exemption_rules),
	  "claimed-exemption rule files (default rules/export_control/exemptions.conf)", 0, 0, 0, NULL, NULL },
	{ "entries", KVS_OPT_PATH, "rules/export_control/annex-i-entries.txt", OFF(entries),
	  "file listing every Annex I entry, one per line, for checking claimed classifications", 0, 0, 0, NULL, NULL },
	{ "eu_countries", KVS_OPT_STRINGS, NULL, OFF(eu_countries),
	  "EU member states (ISO alpha-2); default EU-27", 0, 0, 0, NULL, NULL },
	{ "eu001_countries", KVS_OPT_STRINGS, NULL, OFF(eu001_countries),
	  "destinations of general authorisation EU001; default Annex II Section A", 0, 0, 0, NULL, NULL },
	{ "embargoed", KVS_OPT_STRINGS, NULL, OFF(embargoed),
	  "arms-embargoed destinations as \"CC: legal basis\"; default the EU embargoes of 2022", 0, 0, 0, NULL, NULL },
	{ "intangible_is_export", KVS_OPT_BOOL, "true", OFF(intangible_is_export),
	  "treat electronic, intangible and deemed transfers of listed software or technology as exports", 0, 0, 0, NULL, NULL },
	{ "home_country", KVS_OPT_STRING, "NL", OFF(home_country),
	  "the institute's own country: parties there are not a destination", 0, 0, 0, NULL, NULL },
	{ "sanctions", KVS_OPT_PATH, "rules/export_control/sanctions.conf", OFF(sanctions),
	  "sanctions bans (prohibitions, not licences): countries, goods, annexes and legal basis", 0, 0, 0, NULL, NULL },
	{ NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

enum ec_group { G_DUAL, G_MIL, G_CATCH, G_EXEMPT, G_N };

struct ec_embargo {
	char cc[3];
	char *ref;
};

struct ec_state {
	const struct kvs_host *host;
	/* Every rule path of every group in one set (one prefilter pass per
	 * field); path_group[k] is the group of path k. */
	kvs_ruleset *rules;
	size_t n_paths;
	unsigned char path_group[G_N * EC_MAX_SETS];
	char (*entries)[6];
	size_t n_entries;
	const char *const *eu;
	const char *const *eu001;
	struct ec_embargo *emb;
	size_t n_emb;
	int intangible;
	char home[3];
	struct sanctions *sanctions;
};

static const char *const *or_default(const char *const *v, const char *const *def)
{
	return v && v[0] ? v : def;
}

static void ec_destroy(void *p, const struct kvs_host *host)
{
	struct ec_state *st = p;

	(void)host;
	if (!st)
		return;
	if (st->rules)
		st->host->rules_free(st->rules);
	for (size_t i = 0; i < st->n_emb; i++)
		free(st->emb[i].ref);
	free(st->emb);
	free(st->entries);
	sanctions_free(st->sanctions);
	free(st);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Read the Annex I entries file: one 5-character code per line, # comments. */
static int load_entries(struct ec_state *st, const kvs_config_ctx *ctx, const char *file)
{
	FILE *fp = fopen(file, "r");
	char line[256];
	int lineno = 0, rc = 0;

	if (!fp) {
		st->host->config_error(ctx, "entries", NULL, 0, "cannot open %s: %s", file,
				       strerror(errno));
		return -errno;
	}
	st->entries = calloc(EC_MAX_ENTRIES, sizeof(*st->entries));
	if (!st->entries) {
		fclose(fp);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), fp)) {
		size_t n = strcspn(line, "\r\n");

		lineno++;
		line[n] = '\0';
		if (!n || line[0] == '#')
			continue;
		if (n != 5 || !isdigit((unsigned char)line[0]) || line[1] < 'A' || line[1] > 'E' ||
		    !isdigit((unsigned char)line[2]) || !isdigit((unsigned char)line[3]) ||
		    !isdigit((unsigned char)line[4]) || st->n_entries >= EC_MAX_ENTRIES) {
			st->host->config_error(ctx, NULL, file, lineno,
					       "not an Annex I entry (like 5A002): \"%.40s\"", line);
			rc = -EINVAL;
			continue;
		}
		memcpy(st->entries[st->n_entries++], line, 6);
	}
	fclose(fp);
	if (st->n_entries > 1)
		qsort(st->entries, st->n_entries, sizeof(*st->entries), entry_cmp);
	return rc;
}

static int parse_embargoes(struct ec_state *st, const kvs_config_ctx *ctx,
			   const char *const *v)
{
	size_t n = 0;

	while (v[n])
		n++;
	st->emb = calloc(n ? n : 1, sizeof(*st->emb));
	if (!st->emb)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *s = v[i];

		if (!isupper((unsigned char)s[0]) || !isupper((unsigned char)s[1]) || s[2] != ':' ||
		    s[3] != ' ' || !s[4]) {
			st->host->config_error(ctx, "embargoed", NULL, 0,
					       "entry %zu must read \"CC: legal basis\", not \"%.40s\"",
					       i + 1, s);
			return -EINVAL;
		}
		memcpy(st->emb[i].cc, s, 2);
		st->emb[i].ref = strdup(s + 4);
		if (!st->emb[i].ref)
			return -ENOMEM;
		st->n_emb = i + 1;
	}
	return 0;
}

static int ec_create(const struct kvs_host *host, const kvs_config_ctx *ctx,
		     const void *config, void **state)
{
	const struct ec_config *c = config;
	const char *const *lists[G_N];
	const char *paths[G_N * EC_MAX_SETS];
	struct ec_state *st;
	int rc = 0;

	if (!KVS_HOST_HAS(host, rules_screen_counted) || !host->rules_load_paths ||
	    !host->rules_free) {
		host->config_error(ctx, NULL, NULL, 0,
				   "the host has no rule engine with rule sets of several paths "
				   "(too old)");
		return -ENOTSUP;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->host = host;
	lists[G_DUAL] = or_default(c->rules, def_rules);
	lists[G_MIL] = or_default(c->military_rules, def_military);
	lists[G_CATCH] = or_default(c->catch_all_rules, def_catch_all);
	lists[G_EXEMPT] = or_default(c->exemption_rules, def_exemptions);
	for (int g = 0; g < G_N && rc == 0; g++)
		for (size_t i = 0; lists[g][i]; i++) {
			if (i == EC_MAX_SETS) {
				host->config_error(ctx, NULL, NULL, 0,
						   "more than %d rule paths in one option", EC_MAX_SETS);
				rc = -E2BIG;
				break;
			}
			paths[st->n_paths] = lists[g][i];
			st->path_group[st->n_paths++] = (unsigned char)g;
		}
	if (rc == 0)
		rc = host->rules_load_paths(ctx, paths, st->n_paths, &st->rules);
	if (c->entries) {
		int erc = load_entries(st, ctx, c->entries);

		if (erc < 0)
			rc = erc;
	}
	st->eu = or_default(c->eu_countries, def_eu);
	st->eu001 = or_default(c->eu001_countries, def_eu001);
	if (rc == 0)
		rc = parse_embargoes(st, ctx, or_default(c->embargoed, def_embargoed));
	st->intangible = c->intangible_is_export;
	snprintf(st->home, sizeof(st->home), "%s", c->home_country ? c->home_country : "");
	if (rc == 0 && c->sanctions)
		rc = sanctions_load(host, ctx, c->sanctions, &st->sanctions);
	if (rc < 0) {
		ec_destroy(st, host);
		return rc;
	}
	*state = st;
	return 0;
}

static int in_list(const char *const *v, const char *cc)
{
	for (size_t i = 0; v[i]; i++)
		if (!strcmp(v[i], cc))
			return 1;
	return 0;
}

static const struct ec_embargo *embargo_of(const struct ec_state *st, const char *cc)
{
	for (size_t i = 0; i < st->n_emb; i++)
		if (!strcmp(st->emb[i].cc, cc))
			return &st->emb[i];
	return NULL;
}

/* Report a finding; `action` is the officer's next step, or NULL. */
static int add_act(const struct kvs_host *h, kvs_report *rep, const char *rule,
		   enum kvs_severity sev, const char *title, const char *why,
		   const char *const *refs, size_t n_refs, const char *path, size_t len,
		   const char *action)
{
	struct kvs_evidence ev = { path, 0, len, 0 };
	struct kvs_finding f = {
		.rule = rule, .severity = sev, .title = title, .rationale = why,
		.references = refs, .n_references = n_refs,
		.evidence = path ? &ev : NULL, .n_evidence = path ? 1 : 0,
		.action = action,
	};

	return h->report_add(rep, &f);
}

static int add(const struct kvs_host *h, kvs_report *rep, const char *rule,
	       enum kvs_severity sev, const char *title, const char *why,
	       const char *const *refs, size_t n_refs, const char *path, size_t len)
{
	return add_act(h, rep, rule, sev, title, why, refs, n_refs, path, len, NULL);
}

#define ACT_LICENCE "Apply for an individual export licence at the CDIU (Douane) before " \
	"the item, software or technology leaves the EU"

/* Check items[].classification; counts the claimed dual-use and military
 * entries in *du and *ml.  Returns 0 or a negative errno. */
static int check_classifications(const struct ec_state *st, const kvs_request *req,
				 kvs_report *rep, int rules_hit, int *du, int *ml)
{
	const struct kvs_host *h = st->host;
	size_t n = h->get_size(req, "/items");
	static const char *const refs[] = { "EU 2021/821 Annex I", "EU Common Military List" };

	for (size_t i = 0; i < n && i < 1000; i++) {
		char ptr[64], code[16], title[160];
		const char *v;
		size_t len, k = 0;
		int rc = 0;

		snprintf(ptr, sizeof(ptr), "/items/%zu/classification", i);
		v = h->get_string(req, ptr, &len);
		if (!v || !len)
			continue;
		while (k < len && k + 1 < sizeof(code) && !isspace((unsigned char)v[k])) {
			code[k] = (char)toupper((unsigned char)v[k]);
			k++;
		}
		code[k] = '\0';
		if (!strncmp(code, "ML", 2) && isdigit((unsigned char)code[2])) {
			long cat = strtol(code + 2, NULL, 10);

			if (cat >= 1 && cat <= 22) {
				(*ml)++;
				continue;
			}
		} else if (k >= 5 && isdigit((unsigned char)code[0]) && code[1] >= 'A' &&
			   code[1] <= 'E' && (k == 5 || code[5] == '.')) {
			char key[6];

			memcpy(key, code, 5);
			key[5] = '\0';
			if (st->entries && bsearch(key, st->entries, st->n_entries,
						   sizeof(*st->entries), entry_cmp)) {
				(*du)++;
				continue;
			}
			if (!st->entries) {
				(*du)++;
				continue;
			}
		} else if (!strcmp(code, "EAR99") || !strcmp(code, "NONE") || !strcmp(code, "NLR") ||
			   !strcmp(code, "UNLISTED") || !strcmp(code, "N/A") || !strcmp(code, "-")) {
			if (rules_hit)
				rc = add(h, rep, "EC-CLASS-CONFLICT", KVS_SEV_MEDIUM,
					 "Item claimed as not listed, but its text points at listed entries",
					 "The requester classified the item as not listed; the text rules "
					 "found wording of listed entries. A person must classify it.",
					 refs, 2, ptr, len);
			if (rc < 0)
				return rc;
			continue;
		}
		snprintf(title, sizeof(title),
			 "Claimed classification \"%.40s\" is not an entry of the dual-use list or the Common Military List",
			 code);
		rc = add(h, rep, "EC-CLASS-UNKNOWN", KVS_SEV_MEDIUM, title,
			 "A classification that does not exist cannot be relied on; the item must be classified again.",
			 refs, 2, ptr, len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct dest {
	const char *cc;
	char path[64];
};

/* The countries the request sends something to, with their pointers. */
static size_t destinations(const struct ec_state *st, const kvs_request *req, struct dest *d)
{
	const struct kvs_host *h = st->host;
	size_t n = 0, np;
	enum kvs_request_type t = h->request_type(req);
	const char *v;

	if (t == KVS_REQ_EXPORT && (v = h->get_string(req, "/destination/country", NULL))) {
		d[n].cc = v;
		snprintf(d[n].path, sizeof(d[n].path), "/destination/country");
		n++;
	}
	np = h->get_size(req, "/parties");
	for (size_t i = 0; i < np && n < EC_MAX_DEST; i++) {
		char ptr[64];
		const char *role;

		snprintf(ptr, sizeof(ptr), "/parties/%zu/role", i);
		role = h->get_string(req, ptr, NULL);
		if (!role || (!strcmp(role, "funder") && t == KVS_REQ_EXPORT))
			continue;
		if (strcmp(role, "partner") && strcmp(role, "end_user") && strcmp(role, "consignee") &&
		    strcmp(role, "intermediary") && strcmp(role, "funder"))
			continue;
		snprintf(ptr, sizeof(ptr), "/parties/%zu/country", i);
		if ((v = h->get_string(req, ptr, NULL))) {
			d[n].cc = v;
			snprintf(d[n].path, sizeof(d[n].path), "%s", ptr);
			n++;
		}
	}
	np = h->get_size(req, "/people");
	for (size_t i = 0; i < np && n < EC_MAX_DEST; i++) {
		char ptr[64];

		snprintf(ptr, sizeof(ptr), "/people/%zu/nationality", i);
		if ((v = h->get_string(req, ptr, NULL))) {
			d[n].cc = v;
			snprintf(d[n].path, sizeof(d[n].path), "%s", ptr);
			n++;
		}
	}
	return n;
}

/* 1 if a party of the request is of kind "military". */
static int military_party(const struct kvs_host *h, const kvs_request *req)
{
	size_t np = h->get_size(req, "/parties");

	for (size_t i = 0; i < np; i++) {
		char ptr[64];
		const char *k;

		snprintf(ptr, sizeof(ptr), "/parties/%zu/kind", i);
		k = h->get_string(req, ptr, NULL);
		if (k && !strcmp(k, "military"))
			return 1;
	}
	return 0;
}

/* Apply the destination policy to what was found. */
static int check_destinations(const struct ec_state *st, const kvs_request *req,
			      kvs_report *rep, int du, int ml, int catch_all)
{
	const struct kvs_host *h = st->host;
	struct dest d[EC_MAX_DEST];
	size_t n = destinations(st, req, d);
	int mil_party = military_party(h, req);

	for (size_t i = 0; i < n; i++) {
		const struct ec_embargo *emb;
		char title[256];
		int rc = 0, dup = 0;

		for (size_t k = 0; k < i; k++)
			dup |= !strcmp(d[k].cc, d[i].cc);
		if (dup || strlen(d[i].cc) != 2 || !strcmp(d[i].cc, st->home))
			continue;
		emb = embargo_of(st, d[i].cc);
		if (emb) {
			const char *refs[] = { emb->ref, "EU 2021/821 Article 4", "Council Common Position 2008/944/CFSP" };

			if (ml) {
				snprintf(title, sizeof(title),
					 "Military-list item for %s, a destination under an EU arms embargo", d[i].cc);
				rc = add_act(h, rep, "EC-DEST-EMBARGO-ML", KVS_SEV_CRITICAL, title,
					 "Exports of Common Military List items to an arms-embargoed destination are prohibited.",
					 refs, 3, d[i].path, 2,
					 "Do not export; report the request to the export-control officer (the CDIU (Douane) grants no licence under an arms embargo)");
			}
			if (rc == 0 && du) {
				snprintf(title, sizeof(title),
					 "Dual-use item for %s, a destination under an EU arms embargo or sanctions", d[i].cc);
				rc = add_act(h, rep, "EC-DEST-EMBARGO-DU", KVS_SEV_HIGH, title,
					 "Dual-use items for an embargoed destination need an individual licence and may be prohibited by the sanctions regime.",
					 refs, 3, d[i].path, 2,
					 "Do not transfer until the export-control officer has checked the sanctions regulation; where it does not prohibit the transfer, apply for an individual export licence at the CDIU (Douane)");
			}
			if (rc == 0 && (catch_all || mil_party)) {
				snprintf(title, sizeof(title),
					 "Military or WMD end use or end user in %s, a destination under an EU arms embargo", d[i].cc);
				rc = add_act(h, rep, "EC-ART4-EMBARGO", KVS_SEV_HIGH, title,
					 "Article 4 catch-all: a licence is required even for unlisted items when they are intended for a military end use in an embargoed destination.",
					 refs, 3, d[i].path, 2,
					 "Apply for an export licence at the CDIU (Douane) under Article 4 before any transfer, or stop the transfer");
			}
		} else if (in_list(st->eu, d[i].cc)) {
			static const char *const refs[] = { "EU 2021/821 Article 11 and Annex IV",
				"Directive 2009/43/EC" };

			if (ml) {
				snprintf(title, sizeof(title),
					 "Military-list item for %s: intra-EU transfer licence needed", d[i].cc);
				rc = add_act(h, rep, "EC-DEST-EU-ML", KVS_SEV_MEDIUM, title,
					 "Transfers of defence-related products inside the EU need a transfer licence (general, global or individual).",
					 refs + 1, 1, d[i].path, 2,
					 "Use a general transfer licence where it covers the item, or apply for a transfer licence at the CDIU (Douane)");
			} else if (du) {
				snprintf(title, sizeof(title),
					 "Dual-use item for %s inside the EU: no licence unless listed in Annex IV", d[i].cc);
				rc = add_act(h, rep, "EC-DEST-EU", KVS_SEV_INFO, title,
					 "Dual-use items move freely inside the EU (Article 11): no licence is needed unless the item is listed in Annex IV, which then needs an intra-EU licence. The commercial documents must state that the item is subject to control if exported from the Union.",
					 refs, 1, d[i].path, 2,
					 "Check that the item is not in Annex IV (if it is, apply for an intra-EU licence at the CDIU (Douane)); state on the commercial documents that the item is subject to control if exported from the EU");
			}
		} else {
			/* Outside the EU: military items always need a licence;
			 * dual-use items may travel under EU001. */
			static const char *const eu001_refs[] = { "EU 2021/821 Annex II Section A (EU001)",
				"EU 2021/821 Article 27 (records, 5 years)" };
			static const char *const refs[] = { "EU 2021/821 Article 3", "EU 2021/821 Article 12" };

			if (ml) {
				snprintf(title, sizeof(title),
					 "Military-list item for %s: individual export licence needed", d[i].cc);
				rc = add_act(h, rep, "EC-DEST-ML-LICENCE", KVS_SEV_HIGH, title,
					 "Every export of Common Military List items outside the EU needs a licence.",
					 NULL, 0, d[i].path, 2,
					 "Apply for an individual export licence for military goods at the CDIU (Douane) before the export");
			}
			if (rc == 0 && du && in_list(st->eu001, d[i].cc)) {
				snprintf(title, sizeof(title),
					 "Dual-use item for %s: general authorisation EU001 may apply", d[i].cc);
				rc = add_act(h, rep, "EC-DEST-EU001", KVS_SEV_MEDIUM, title,
					 "The destination is an EU001 country: the Union general export authorisation EU001 covers most Annex I items for it, so no individual licence is needed, but the exporter must register its use and keep records; Annex II Section A Part 1 items are excluded and need an individual licence. A person must confirm the item's entry before relying on EU001.",
					 eu001_refs, 2, d[i].path, 2,
					 "Record the use of EU001 (register with the CDIU (Douane) before the first export) and keep records for 5 years (Art. 27 Reg. 2021/821)");
			} else if (rc == 0 && du) {
				snprintf(title, sizeof(title),
					 "Dual-use item for %s, outside the EU and EU001: individual licence needed", d[i].cc);
				rc = add_act(h, rep, "EC-DEST-LICENCE", KVS_SEV_HIGH, title,
					 "Annex I items leaving the EU for a destination without a general authorisation need an individual or global licence.",
					 refs, 2, d[i].path, 2, ACT_LICENCE);
			}
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Electronic, intangible and deemed transfers of software or technology. */
static int check_transfer(const struct ec_state *st, const kvs_request *req, kvs_report *rep,
			  int listed)
{
	const struct kvs_host *h = st->host;
	static const char *const refs[] = { "EU 2021/821 Article 2(2)(iv)", "EU 2021/821 Article 8" };
	size_t len, ni = h->get_size(req, "/items");
	const char *t = h->get_string(req, "/transfer", &len);
	int soft = 0;

	if (!st->intangible || !t || !strcmp(t, "physical"))
		return 0;
	for (size_t i = 0; i < ni; i++) {
		char ptr[64];
		const char *k;

		snprintf(ptr, sizeof(ptr), "/items/%zu/kind", i);
		k = h->get_string(req, ptr, NULL);
		soft |= k && (!strcmp(k, "software") || !strcmp(k, "technology"));
	}
	if (!soft && !listed)
		return 0;
	if (!strcmp(t, "deemed"))
		return add(h, rep, "EC-TRANSFER-DEEMED", listed ? KVS_SEV_MEDIUM : KVS_SEV_LOW,
			   "Deemed transfer: technology shared with a foreign person",
			   "EU law has no deemed-export rule, but the person may take the technology "
			   "out of the EU (an intangible export) and technical assistance can need "
			   "authorisation (Article 8); a person must assess it.",
			   refs, 2, "/transfer", len);
	return add(h, rep, "EC-TRANSFER-INTANGIBLE", listed ? KVS_SEV_MEDIUM : KVS_SEV_LOW,
		   "Electronic or intangible transfer of software or technology counts as an export",
		   "Sending software or technology by e-mail, download or cloud access to a "
		   "destination outside the EU is an export of D and E entries.",
		   refs, 1, "/transfer", len);
}

/* Screen with every rule and count the rule findings per group. */
static int screen_rules(const struct ec_state *st, const kvs_request *req, kvs_report *rep,
			int n[G_N])
{
	int counts[G_N * EC_MAX_SETS] = {0};
	int rc = st->host->rules_screen_counted(st->rules, req, rep, NULL, counts);

	if (rc < 0)
		return rc;
	for (size_t k = 0; k < st->n_paths; k++)
		n[st->path_group[k]] += counts[k];
	return 0;
}

static int ec_screen(void *state, const struct kvs_host *host, const kvs_request *req,
		     kvs_report *rep)
{
	const struct ec_state *st = state;
	int n[G_N] = {0}, rc = 0;

	(void)host;
	rc = screen_rules(st, req, rep, n);
	if (rc == 0)
		rc = check_classifications(st, req, rep, n[G_DUAL] + n[G_MIL], &n[G_DUAL], &n[G_MIL]);
	if (rc == 0)
		rc = check_destinations(st, req, rep, n[G_DUAL], n[G_MIL], n[G_CATCH]);
	if (rc == 0)
		rc = check_transfer(st, req, rep, n[G_DUAL] + n[G_MIL]);
	if (rc == 0 && st->sanctions) {
		struct sanctions_items it = {
			.dual_use = n[G_DUAL], .military = n[G_MIL], .rules = st->rules,
			.eu = st->eu, .home = st->home,
		};

		rc = sanctions_screen(st->sanctions, req, rep, &it);
	}
	return rc < 0 ? rc : 0;
}

KVS_PLUGIN_DECLARE = {
	KVS_PLUGIN_INIT,
	.name = "export_control",
	.version = "0.1.0",
	.description = "EU dual-use list (Reg. 2021/821 Annex I) and Common Military List screening "
		       "with destination, end-use and intangible-transfer policy",
	.types = KVS_REQ_EXPORT | KVS_REQ_PARTNERSHIP,
	.options = ec_options,
	.config_size = sizeof(struct ec_config),
	.create = ec_create,
	.screen = ec_screen,
	.destroy = ec_destroy,
};
