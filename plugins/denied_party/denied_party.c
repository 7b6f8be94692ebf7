/* denied_party.c - screens every party and person of a request against
 * sanctions and restricted-party lists through the host's list service.
 *
 * The host loads the configured lists (a KVS_OPT_LISTS option, shared with other
 * plugins) and the allow-list of decided false positives; both are
 * immutable afterwards, so screen() runs concurrently without locks.
 * screen() matches every party (partner, funder, end user, consignee,
 * intermediary, acquirer, target) by name, alias, parent and ultimate
 * beneficial owner(s), every person's name and affiliation and every
 * funding source; each hit becomes a finding with
 * the list entry, the alias that matched, the score and its parts, and the
 * whole name as evidence.  When the request gives a party's ISO country and
 * the entry's differs, country_penalty is taken off the score.  A hit on a
 * person is weighed by date of birth and nationality (docs/name-matching.md):
 * a contradiction makes it an info namesake finding, and without an
 * agreeing date of birth it is at most high ("name only — verify
 * identity").  A hit on the allow-list becomes an info finding
 * saying it was suppressed and by whose decision.  Every verdict also
 * carries the versions of the lists used, and a finding when a list is
 * older than max_age_days, and one when a configured list is not
 * downloaded yet (the host's empty placeholder, entries 0).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvscreen/plugin.h"

#define DP_MAX_LISTS 32
#define DP_MAX_HITS 16
#define DP_MAX_ALLOW 10000
#define DP_MAX_LINE 4096

struct dp_config {
	struct kvs_list *const *lists;
	double threshold;
	int strict;
	const char *allow_list;
	long long max_hits;
	long long max_age_days;
	double country_penalty;
	double identity_penalty;
	double identity_bonus;
	const char *const *list_dates;
	enum kvs_severity stale_severity;
	enum kvs_severity missing_severity;
};

struct dp_allow {
	char *entry_id;
	char *norm;              /* normalised name as submitted */
	char *who;
	char *reason;
	int line;
};

struct dp_state {
	const struct kvs_host *host;
	const struct dp_config *cfg;
	struct kvs_list *lists[DP_MAX_LISTS]; /* the host's, from the options */
	size_t n_lists;
	struct dp_allow *allow;
	size_t n_allow;
	char *versions;          /* rationale of the list-versions finding */
	char *missing;           /* the lists not downloaded yet, or NULL */
	enum kvs_severity missing_severity;
	time_t data_time[DP_MAX_LISTS]; /* date of each list's data */
	enum kvs_severity stale_severity;
};

static const struct kvs_option dp_options[] = {
	{ "lists", KVS_OPT_LISTS, NULL, offsetof(struct dp_config, lists),
	  "lists to screen against, each \"format:name:severity:path\" with "
	  "format ofac|csl|un|eu|eu_fsf|aspi|kvs|table|opensanctions, severity info..critical, path "
	  "relative to the configuration file", 1, 0, 0, NULL, "strict" },
	{ "threshold", KVS_OPT_REAL, "0.86", offsetof(struct dp_config, threshold),
	  "minimum similarity (0..1) of a name to a listed name", 0, 0.5, 1.0, NULL, NULL },
	{ "strict", KVS_OPT_BOOL, "false", offsetof(struct dp_config, strict),
	  "a malformed list row fails the load instead of being skipped", 0, 0, 0, NULL, NULL },
	{ "allow_list", KVS_OPT_PATH, NULL, offsetof(struct dp_config, allow_list),
	  "CSV of decided false positives: entry_id,name,decided_by,reason", 0, 0, 0, NULL, NULL },
	{ "max_hits", KVS_OPT_INT, "5", offsetof(struct dp_config, max_hits),
	  "findings reported per screened name at most", 0, 1, DP_MAX_HITS, NULL, NULL },
	{ "max_age_days", KVS_OPT_INT, "31", offsetof(struct dp_config, max_age_days),
	  "a list whose data is older than this many days is a finding", 0, 1, 36500, NULL, NULL },
	{ "country_penalty", KVS_OPT_REAL, "0.05",
	  offsetof(struct dp_config, country_penalty),
	  "subtracted from the score when the request gives the party's country "
	  "and the list entry's ISO country code differs", 0, 0.0, 1.0, NULL, NULL },
	{ "identity_penalty", KVS_OPT_REAL, "0.2",
	  offsetof(struct dp_config, identity_penalty),
	  "subtracted from the score of a hit on a person when the request's date "
	  "of birth or nationality contradicts the list entry's; the hit becomes an "
	  "info finding (denied_party.namesake)", 0, 0.0, 1.0, NULL, NULL },
	{ "identity_bonus", KVS_OPT_REAL, "0.03",
	  offsetof(struct dp_config, identity_bonus),
	  "added to the score of a hit on a person for each of date of birth and "
	  "nationality that agrees with the list entry", 0, 0.0, 0.2, NULL, NULL },
	{ "list_dates", KVS_OPT_STRINGS, NULL, offsetof(struct dp_config, list_dates),
	  "\"name=YYYY-MM-DD\" or \"name=YYYY-MM-DD@SHA256\": the date of a list "
	  "whose files carry none (OFAC's legacy CSV), for max_age_days; with a "
	  "digest (8 to 64 hex digits of the list's sha256, as verdicts show it) only "
	  "while the list is that file, so an updated list counts from its file's "
	  "modification time", 0, 0, 0, NULL, NULL },
	{ "stale_severity", KVS_OPT_SEVERITY, "medium", offsetof(struct dp_config, stale_severity),
	  "severity of the finding on a list older than max_age_days (info..critical)",
	  0, 0, 0, NULL, NULL },
	{ "missing_severity", KVS_OPT_SEVERITY, "medium",
	  offsetof(struct dp_config, missing_severity),
	  "severity of the finding, in every verdict, on a configured list that "
	  "is not downloaded yet (info..critical)", 0, 0, 0, NULL, NULL },
	{ NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

static void dp_destroy(void *p, const struct kvs_host *host)
{
	struct dp_state *st = p;

	(void)host;
	if (!st)
		return;
	for (size_t i = 0; i < st->n_allow; i++) {
		free(st->allow[i].entry_id);
		free(st->allow[i].norm);
		free(st->allow[i].who);
		free(st->allow[i].reason);
	}
	free(st->allow);
	free(st->versions);
	free(st->missing);
	free(st);
}

/* Split off the next comma-separated field of *p (no quoting: the last
 * field takes the rest of the line). */
static char *field(char **p, int last)
{
	char *s = *p, *c;

	if (!s)
		return NULL;
	c = last ? NULL : strchr(s, ',');
	if (c) {
		*c = '\0';
		*p = c + 1;
	} else {
		*p = NULL;
	}
	while (*s == ' ')
		s++;
	return s;
}

static int load_allow(struct dp_state *st, const kvs_config_ctx *ctx,
		      const char *path)
{
	const struct kvs_host *h = st->host;
	char line[DP_MAX_LINE + 2];
	FILE *f = fopen(path, "r");
	int ln = 0, rc = 0;

	if (!f) {
		h->config_error(ctx, "allow_list", NULL, 0, "cannot open %s", path);
		return -ENOENT;
	}
	st->allow = calloc(DP_MAX_ALLOW, sizeof(*st->allow));
	if (!st->allow) {
		fclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *id, *name, *who, *why, norm[512];
		struct dp_allow *a;
		size_t len = strlen(line);

		ln++;
		if (len > DP_MAX_LINE) {
			h->config_error(ctx, NULL, path, ln, "line too long");
			rc = -EINVAL;
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#' ||
		    strncmp(line, "entry_id,", 9) == 0)
			continue;
		id = field(&p, 0);
		name = field(&p, 0);
		who = field(&p, 0);
		why = field(&p, 1);
		if (why && why[0] == '"' && strlen(why) > 1 &&
		    why[strlen(why) - 1] == '"') {
			why[strlen(why) - 1] = '\0';
			why++;
		}
		if (!id || !*id || !name || !*name || !who || !*who || !why ||
		    !*why) {
			h->config_error(ctx, NULL, path, ln,
					"expected entry_id,name,decided_by,reason");
			rc = -EINVAL;
			break;
		}
		if (h->lists_normalise(name, strlen(name), norm, sizeof(norm)) < 0) {
			h->config_error(ctx, NULL, path, ln,
					"name \"%s\" has nothing to match", name);
			rc = -EINVAL;
			break;
		}
		if (st->n_allow == DP_MAX_ALLOW) {
			h->config_error(ctx, NULL, path, ln,
					"more than %d allow-list rows", DP_MAX_ALLOW);
			rc = -EINVAL;
			break;
		}
		a = &st->allow[st->n_allow++];
		a->entry_id = strdup(id);
		a->norm = strdup(norm);
		a->who = strdup(who);
		a->reason = strdup(why);
		a->line = ln;
		if (!a->entry_id || !a->norm || !a->who || !a->reason) {
			rc = -ENOMEM;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* Parse "YYYY-MM-DD..." into *t; 0 or -EINVAL. */
static int parse_date(const char *s, time_t *t)
{
	struct tm tm = { 0 };

	if (!s || sscanf(s, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday) != 3 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = timegm(&tm);
	return 0;
}

/* Split a list_dates entry "name=YYYY-MM-DD[@HEX]": 0 with *date and
 * *digest (NULL without one) pointing into e, or -EINVAL. */
static int parse_list_date(const char *e, size_t *name_len, time_t *date, const char **digest)
{
	const char *eq = strchr(e, '='), *at;
	char d[11];

	if (!eq || eq == e)
		return -EINVAL;
	at = strchr(eq, '@');
	if ((at ? (size_t)(at - eq - 1) : strlen(eq + 1)) != 10)
		return -EINVAL;
	memcpy(d, eq + 1, 10);
	d[10] = '\0';
	if (parse_date(d, date) < 0)
		return -EINVAL;
	*name_len = (size_t)(eq - e);
	*digest = NULL;
	if (at) {
		size_t n = strlen(at + 1);

		if (n < 8 || n > 64 || strspn(at + 1, "0123456789abcdef") != n)
			return -EINVAL;
		*digest = at + 1;
	}
	return 0;
}

/* The date of a list's data: its own date, else the one configured in
 * list_dates (while the list is the dated file, when the entry names its
 * digest), else the file's modification time. */
static time_t data_time(const struct dp_config *cfg,
			const struct kvs_list_info *in)
{
	size_t nl = strlen(in->name);
	time_t t;

	if (parse_date(in->date, &t) == 0)
		return t;
	for (size_t i = 0; cfg->list_dates && cfg->list_dates[i]; i++) {
		const char *dg;
		size_t n;

		if (parse_list_date(cfg->list_dates[i], &n, &t, &dg) == 0 && n == nl &&
		    !strncmp(cfg->list_dates[i], in->name, nl) &&
		    (!dg || (in->digest && !strncmp(in->digest, dg, strlen(dg)))))
			return t;
	}
	return (time_t)in->mtime;
}

static const char *date_str(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
		return "unknown";
	return buf;
}

static int describe_lists(struct dp_state *st)
{
	char buf[4096], d[32];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < st->n_lists; i++) {
		struct kvs_list_info in = KVS_LIST_INFO_INIT;

		st->host->lists_info(st->lists[i], &in);
		st->data_time[i] = data_time(st->cfg, &in);
		if (o < sizeof(buf))
			o += (size_t)snprintf(buf + o, sizeof(buf) - o,
				"%s%s (%s, %zu entries, %zu names, %zu rows skipped, data date %s, sha256 %.16s)",
				i ? "; " : "Screened against ", in.name, in.format,
				in.entries, in.names, in.skipped,
				in.date ? in.date : date_str(st->data_time[i], d, sizeof(d)),
				in.digest);
	}
	st->versions = strdup(buf);
	if (!st->versions)
		return -ENOMEM;
	/* A list with no entries is one the host could not find yet but can
	 * download (plugin.h, lists_load). */
	o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < st->n_lists; i++) {
		struct kvs_list_info in = KVS_LIST_INFO_INIT;

		st->host->lists_info(st->lists[i], &in);
		if (in.entries || o >= sizeof(buf))
			continue;
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s (%s, %s)", o ? ", " : "",
				      in.name, in.format, in.path);
	}
	if (o && !(st->missing = strdup(buf)))
		return -ENOMEM;
	return 0;
}

/* Say that lists are missing, in every verdict: screening without them
 * could miss a listed party. */
static int report_missing(const struct dp_state *st, kvs_report *rep)
{
	static const char *const refs[] = {
		"kvscreend.conf(5), LISTS: kvscreen lists update",
	};
	char why[4600];
	struct kvs_finding f = {
		.references = refs, .n_references = 1,
		.rule = "denied_party.list_missing",
		.severity = (enum kvs_severity)st->missing_severity,
		.title = "A configured sanctions list is not downloaded: this screening did not use it",
		.rationale = why,
		.action = "Run \"kvscreen lists update --reload\" (as the kvscreend user) to download "
			  "the missing list, then screen this request again",
	};

	if (!st->missing)
		return 0;
	snprintf(why, sizeof(why),
		 "Not downloaded yet, so no name was screened against: %s.  The file is not "
		 "shipped with kvscreend; \"kvscreen lists update\" fetches it from its official "
		 "address (kvscreend.conf(5), LISTS).  Until then a party on that list is not found.",
		 st->missing);
	return st->host->report_add(rep, &f);
}

/* Report the lists older than max_age_days now, if any. */
static int report_stale(const struct dp_state *st, kvs_report *rep)
{
	char why[2048];
	size_t o = 0;
	time_t now = time(NULL);
	struct kvs_finding f = {
		.rule = "denied_party.stale_list",
		.severity = (enum kvs_severity)st->stale_severity,
		.title = "A denied-party list is out of date: update it",
		.rationale = why,
		.action = "Update the lists with \"kvscreen lists update\" (and enable "
			  "kvscreend-lists-update.timer), then screen again",
	};

	why[0] = '\0';
	for (size_t i = 0; i < st->n_lists; i++) {
		struct kvs_list_info in = KVS_LIST_INFO_INIT;
		long age = (long)((now - st->data_time[i]) / 86400);

		if (age <= st->cfg->max_age_days || o >= sizeof(why))
			continue;
		st->host->lists_info(st->lists[i], &in);
		if (!in.entries)
			continue; /* missing: report_missing() says so */
		o += (size_t)snprintf(why + o, sizeof(why) - o,
				      "%s%s is %ld days old (max_age_days %lld)",
				      o ? "; " : "", in.name, age,
				      st->cfg->max_age_days);
	}
	return o ? st->host->report_add(rep, &f) : 0;
}

static int dp_create(const struct kvs_host *host, const kvs_config_ctx *ctx,
		     const void *config, void **state)
{
	const struct dp_config *cfg = config;
	struct dp_state *st;
	int rc = 0;

	if (!KVS_HOST_HAS(host, lists_normalise)) {
		host->log(ctx, KVS_LOG_ERR, "host has no list service");
		return -ENOTSUP;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->host = host;
	st->cfg = cfg;
	for (size_t i = 0; cfg->lists && cfg->lists[i]; i++) {
		if (st->n_lists == DP_MAX_LISTS) {
			host->config_error(ctx, "lists", NULL, 0, "more than %d lists", DP_MAX_LISTS);
			rc = -EINVAL;
			goto fail;
		}
		st->lists[st->n_lists++] = cfg->lists[i];
	}
	for (size_t i = 0; cfg->list_dates && cfg->list_dates[i]; i++) {
		const char *dg;
		size_t n;
		time_t t;

		if (parse_list_date(cfg->list_dates[i], &n, &t, &dg) < 0) {
			host->config_error(ctx, "list_dates", NULL, 0,
				"\"%s\" is not name=YYYY-MM-DD or name=YYYY-MM-DD@SHA256 "
				"(8 to 64 lower-case hex digits)", cfg->list_dates[i]);
			rc = -EINVAL;
			goto fail;
		}
	}
	st->stale_severity = cfg->stale_severity;
	st->missing_severity = cfg->missing_severity;
	if (!st->n_lists) {
		host->config_error(ctx, "lists", NULL, 0, "no lists configured");
		rc = -EINVAL;
		goto fail;
	}
	if (cfg->allow_list && (rc = load_allow(st, ctx, cfg->allow_list)) < 0)
		goto fail;
	rc = describe_lists(st);
	if (rc < 0)
		goto fail;
	*state = st;
	return 0;
fail:
	dp_destroy(st, host);
	return rc;
}

static const struct dp_allow *allowed(const struct dp_state *st,
				      const char *norm, const char *entry_id)
{
	for (size_t i = 0; i < st->n_allow; i++)
		if (strcmp(st->allow[i].entry_id, entry_id) == 0 &&
		    strcmp(st->allow[i].norm, norm) == 0)
			return &st->allow[i];
	return NULL;
}

static int is_iso2(const char *c)
{
	return c && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
	       !c[2];
}

/* Whom a screened name stands for, and what the request says of them. */
struct dp_subject {
	int person;              /* a natural person (people, individual parties) */
	const char *country;     /* a party's ISO country, or NULL */
	const char *nationality; /* a person's ISO nationality, or NULL */
	const char *birth_date;  /* "YYYY" or "YYYY-MM-DD", or NULL */
};

/* Compare a request's date of birth with the entry's (';'-separated
 * "YYYY[-MM[-DD]]"): 1 when one agrees on every part both give, -1 when
 * none does, 0 when either side has none. */
static int dob_agrees(const char *req, const char *list)
{
	int ry, rm = 0, rd = 0, any = 0;

	if (!req || !list || sscanf(req, "%4d-%2d-%2d", &ry, &rm, &rd) < 1)
		return 0;
	for (const char *p = list; *p;) {
		int y, m = 0, d = 0, k = sscanf(p, "%4d-%2d-%2d", &y, &m, &d);

		if (k >= 1) {
			any = 1;
			if (y == ry && (!m || !rm || m == rm) && (!d || !rd || d == rd))
				return 1;
		}
		p += strcspn(p, ";");
		p += *p == ';';
		p += strspn(p, " ");
	}
	return any ? -1 : 0;
}

/* 1 when the ISO code is among the entry's ';'-separated codes, -1 when
 * the entry has codes and it is not, 0 when either side has none. */
static int nationality_agrees(const char *req, const char *list)
{
	int any = 0;

	if (!req || !list)
		return 0;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ";");

		if (n == 2) {
			any = 1;
			if (strncmp(p, req, 2) == 0)
				return 1;
		}
		p += n;
		p += *p == ';';
		p += strspn(p, " ");
	}
	return any ? -1 : 0;
}

/* Words of the normalised request name a and listed name b: those in
 * both, and those of each side alone, as "tokens in common: ...". */
static void explain_tokens(const char *a, const char *b, char *out, size_t len)
{
	char both[512] = "", qa[512] = "", lb[512] = "";
	size_t ob = 0, oq = 0, ol = 0;

	for (int side = 0; side < 2; side++) {
		const char *s = side ? b : a, *o = side ? a : b;

		while (*s) {
			size_t n = strcspn(s, " "), found = 0;

			for (const char *t = o; *t && !found;) {
				size_t m = strcspn(t, " ");

				found = m == n && strncmp(s, t, n) == 0;
				t += m + (t[m] == ' ');
			}
			if (found && !side && ob < sizeof(both))
				ob += (size_t)snprintf(both + ob, sizeof(both) - ob, "%s%.*s",
						       ob ? " " : "", (int)n, s);
			else if (!found && !side && oq < sizeof(qa))
				oq += (size_t)snprintf(qa + oq, sizeof(qa) - oq, "%s%.*s",
						       oq ? " " : "", (int)n, s);
			else if (!found && side && ol < sizeof(lb))
				ol += (size_t)snprintf(lb + ol, sizeof(lb) - ol, "%s%.*s",
						       ol ? " " : "", (int)n, s);
			s += n + (s[n] == ' ');
		}
	}
	snprintf(out, len, "; words in common: %s; only in the request: %s; only in the list: %s",
		 ob ? both : "none", oq ? qa : "none", ol ? lb : "none");
}

/* A person's match m: compare the request's date of birth and nationality
 * with the list's (*dob, *nat: 1 agrees, -1 disagrees, 0 not compared),
 * describe that in idm, and adjust *score and *sev: a disagreement makes
 * a namesake (info), agreement raises the score, and without an agreeing
 * date of birth the match is a name only (*name_only), at most high. */
static void weigh_identity(const struct dp_state *st, const struct dp_subject *sub,
			   const struct kvs_list_match *m, double *score, enum kvs_severity *sev,
			   int *dob, int *nat, int *name_only, char *idm, size_t idm_len)
{
	*dob = dob_agrees(sub->birth_date, m->birthdate);
	*nat = nationality_agrees(sub->nationality, m->nationality);
	snprintf(idm, idm_len,
		 "; person: date of birth %s (request %s, list %s), "
		 "nationality %s (request %s, list %s)",
		 *dob > 0 ? "agrees" : *dob < 0 ? "DISAGREES" : "not compared",
		 sub->birth_date ? sub->birth_date : "none",
		 m->birthdate ? m->birthdate : "none",
		 *nat > 0 ? "agrees" : *nat < 0 ? "DISAGREES" : "not compared",
		 sub->nationality ? sub->nationality : "none",
		 m->nationality ? m->nationality : "none");
	if (*dob < 0 || *nat < 0) {
		/* A namesake: below the threshold, an info finding. */
		*score -= st->cfg->identity_penalty;
		*sev = KVS_SEV_INFO;
		return;
	}
	*score += st->cfg->identity_bonus * (*dob + *nat);
	if (*score > 1.0)
		*score = 1.0;
	/* Only an agreeing date of birth identifies a person; a name (and
	 * nationality) alone is at most escalate. */
	if (*dob <= 0 && *sev > KVS_SEV_HIGH) {
		*sev = KVS_SEV_HIGH;
		*name_only = 1;
	} else if (*dob <= 0) {
		*name_only = 1;
	}
}

/* Screen the string at `path`, if any, and report its hits; `sub` says
 * whom it names. */
static int screen_name(const struct dp_state *st, const kvs_request *req,
		       kvs_report *rep, const char *path, const char *what,
		       const struct dp_subject *sub)
{
	const char *country = sub->country;
	const struct kvs_host *h = st->host;
	struct kvs_list_match m[DP_MAX_HITS];
	size_t len, max = (size_t)st->cfg->max_hits;
	const char *s = h->get_string(req, path, &len);
	char norm[512], title[512], why[3072], ref[256], cm[96], idm[384], tk[1600];
	int n, rc;

	if (!s || !len)
		return 0;
	if (max > DP_MAX_HITS)
		max = DP_MAX_HITS;
	m[0].size = sizeof(m[0]);
	n = h->lists_match((const struct kvs_list *const *)st->lists,
			   st->n_lists, s, len, st->cfg->threshold, m, max);
	if (n <= 0)
		return n;
	if (h->lists_normalise(s, len, norm, sizeof(norm)) < 0)
		norm[0] = '\0';
	for (int i = 0; i < n && (size_t)i < max; i++) {
		const struct dp_allow *a = allowed(st, norm, m[i].entry_id);
		const char *refs[1] = { ref };
		double score = m[i].score;
		struct kvs_evidence ev = { .path = path, .start = 0, .end = len };
		struct kvs_finding f = {
			.title = title, .rationale = why,
			.references = refs, .n_references = 1,
			.evidence = &ev, .n_evidence = 1,
		};

		int person = sub->person ||
			     (m[i].kind && strcmp(m[i].kind, "person") == 0);
		int dob = 0, nat = 0, name_only = 0;
		enum kvs_severity sev = m[i].severity;

		cm[0] = idm[0] = '\0';
		if (person)
			weigh_identity(st, sub, &m[i], &score, &sev, &dob, &nat, &name_only,
				       idm, sizeof(idm));
		if (is_iso2(country) && is_iso2(m[i].country) &&
		    strcmp(country, m[i].country) != 0) {
			score -= st->cfg->country_penalty;
			if (score < st->cfg->threshold && sev != KVS_SEV_INFO)
				continue;
			snprintf(cm, sizeof(cm),
				 "; country mismatch: request %s, list %s (-%.2f)",
				 country, m[i].country, st->cfg->country_penalty);
		}
		snprintf(ref, sizeof(ref), "%s entry %s%s%s", m[i].list,
			 m[i].entry_id, m[i].program ? " (" : "",
			 m[i].program ? m[i].program : "");
		if (m[i].program)
			strncat(ref, ")", sizeof(ref) - strlen(ref) - 1);
		snprintf(title, sizeof(title), "%s \"%.*s\" matches %s entry %s \"%s\"%s",
			 what, (int)(len > 120 ? 120 : len), s, m[i].list,
			 m[i].entry_id, m[i].primary_name,
			 sev == KVS_SEV_INFO && person ? " (identifiers disagree: a namesake)"
			 : name_only ? " (name only — verify identity)" : "");
		explain_tokens(norm, m[i].normalised, tk, sizeof(tk));
		snprintf(why, sizeof(why),
			 "\"%.*s\" matches %s \"%s\" of %s entry %s \"%s\" with score %.3f "
			 "(name similarity %.3f: query coverage %.3f, listed-name coverage %.3f; "
			 "normalised \"%s\" vs \"%s\"%s%s)%s%s%s%s%s%s%s",
			 (int)(len > 200 ? 200 : len), s,
			 strcmp(m[i].matched_name, m[i].primary_name) ? "the alias" : "the name",
			 m[i].matched_name, m[i].list, m[i].entry_id,
			 m[i].primary_name, score, m[i].score, m[i].cov_query,
			 m[i].cov_name, norm, m[i].normalised, tk, cm, idm,
			 m[i].country ? "; country " : "",
			 m[i].country ? m[i].country : "",
			 m[i].program ? "; program " : "",
			 m[i].program ? m[i].program : "",
			 m[i].reason ? "; listed for: " : "",
			 m[i].reason ? m[i].reason : "");
		if (a) {
			char why2[3600];

			snprintf(why2, sizeof(why2),
				 "Suppressed by the allow-list (line %d, decided by %s: %s). %s",
				 a->line, a->who, a->reason, why);
			f.rule = "denied_party.allow_listed";
			f.severity = KVS_SEV_INFO;
			f.rationale = why2;
			rc = h->report_add(rep, &f);
		} else {
			f.rule = sev == KVS_SEV_INFO && person && (dob < 0 || nat < 0)
				 ? "denied_party.namesake" : "denied_party.match";
			f.severity = sev;
			if (name_only)
				f.action = "Name only — verify identity: compare the "
					   "person's date of birth and nationality with "
					   "the list entry before deciding";
			rc = h->report_add(rep, &f);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* How a party's role names it in a finding's title. */
static const char *party_label(const char *role)
{
	static const char *const map[][2] = {
		{ "partner", "Partner" }, { "funder", "Funder" }, { "end_user", "End user" },
		{ "consignee", "Consignee" }, { "intermediary", "Intermediary" },
		{ "acquirer", "Acquirer" }, { "target", "Investment target" },
	};

	for (size_t i = 0; role && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(role, map[i][0]) == 0)
			return map[i][1];
	return "Party";
}

static const char *party_noun(const char *role)
{
	static const char *const map[][2] = {
		{ "partner", "partner" }, { "funder", "funder" }, { "end_user", "end user" },
		{ "consignee", "consignee" }, { "intermediary", "intermediary" },
		{ "acquirer", "acquirer" }, { "target", "investment target" },
	};

	for (size_t i = 0; role && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(role, map[i][0]) == 0)
			return map[i][1];
	return "party";
}

/* Screen /parties/i/member, a string or an array of strings. */
static int screen_names(const struct dp_state *st, const kvs_request *req, kvs_report *rep,
			size_t i, const char *member, const char *what,
			const struct dp_subject *sub)
{
	const struct kvs_host *h = st->host;
	char p[96];
	size_t m;
	int rc = 0;

	snprintf(p, sizeof(p), "/parties/%zu/%s", i, member);
	if (h->value_kind(req, p) != KVS_KIND_ARRAY)
		return screen_name(st, req, rep, p, what, sub);
	m = h->get_size(req, p);
	for (size_t j = 0; rc == 0 && j < m; j++) {
		snprintf(p, sizeof(p), "/parties/%zu/%s/%zu", i, member, j);
		rc = screen_name(st, req, rep, p, what, sub);
	}
	return rc;
}

static int dp_screen(void *state, const struct kvs_host *h,
		     const kvs_request *req, kvs_report *rep)
{
	const struct dp_state *st = state;
	char p[96];
	size_t n;
	int rc = 0;
	struct kvs_finding f = {
		.rule = "denied_party.lists", .severity = KVS_SEV_INFO,
		.title = "List versions used for denied-party screening",
		.rationale = st->versions,
	};

	rc = h->report_add(rep, &f);
	if (rc == 0)
		rc = report_stale(st, rep);
	if (rc == 0)
		rc = report_missing(st, rep);
	n = h->get_size(req, "/parties");
	for (size_t i = 0; rc == 0 && i < n && !h->report_expired(rep); i++) {
		struct dp_subject sub = { 0 }, org = { 0 };
		const char *kind, *role;
		char what[64];

		snprintf(p, sizeof(p), "/parties/%zu/country", i);
		sub.country = h->get_string(req, p, NULL);
		snprintf(p, sizeof(p), "/parties/%zu/kind", i);
		kind = h->get_string(req, p, NULL);
		sub.person = kind && strcmp(kind, "individual") == 0;
		snprintf(p, sizeof(p), "/parties/%zu/birth_date", i);
		sub.birth_date = h->get_string(req, p, NULL);
		snprintf(p, sizeof(p), "/parties/%zu/role", i);
		role = h->get_string(req, p, NULL);
		snprintf(what, sizeof(what), "%s", party_label(role));
		snprintf(p, sizeof(p), "/parties/%zu/name", i);
		rc = screen_name(st, req, rep, p, what, &sub);
		snprintf(p, sizeof(p), "/parties/%zu/parent", i);
		snprintf(what, sizeof(what), "Parent of the %s", party_noun(role));
		if (rc == 0)
			rc = screen_name(st, req, rep, p, what, &org);
		snprintf(what, sizeof(what), "Alias of the %s", party_noun(role));
		if (rc == 0)
			rc = screen_names(st, req, rep, i, "aliases", what, &sub);
		/* The ultimate beneficial owner(s): a name or an array of names,
		 * person or company; the list entry's kind decides the person rule. */
		snprintf(what, sizeof(what), "Ultimate beneficial owner of the %s", party_noun(role));
		if (rc == 0)
			rc = screen_names(st, req, rep, i, "ubo", what, &org);
	}
	n = h->get_size(req, "/people");
	for (size_t i = 0; rc == 0 && i < n && !h->report_expired(rep); i++) {
		struct dp_subject sub = { .person = 1 }, org = { 0 };

		snprintf(p, sizeof(p), "/people/%zu/nationality", i);
		sub.nationality = h->get_string(req, p, NULL);
		snprintf(p, sizeof(p), "/people/%zu/birth_date", i);
		sub.birth_date = h->get_string(req, p, NULL);
		snprintf(p, sizeof(p), "/people/%zu/name", i);
		rc = screen_name(st, req, rep, p, "Person", &sub);
		snprintf(p, sizeof(p), "/people/%zu/affiliation", i);
		if (rc == 0)
			rc = screen_name(st, req, rep, p, "Affiliation", &org);
	}
	n = h->get_size(req, "/cooperation/funding");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		snprintf(p, sizeof(p), "/cooperation/funding/%zu/source", i);
		rc = screen_name(st, req, rep, p, "Funder", &(struct dp_subject){ 0 });
	}
	return rc;
}

KVS_PLUGIN_DECLARE = {
	KVS_PLUGIN_INIT,
	.name = "denied_party",
	.version = "0.1.0",
	.description = "sanctions and restricted-party screening of every party and person",
	.types = KVS_REQ_PARTNERSHIP | KVS_REQ_EXPORT | KVS_REQ_INVESTMENT,
	.options = dp_options,
	.config_size = sizeof(struct dp_config),
	.create = dp_create,
	.screen = dp_screen,
	.destroy = dp_destroy,
};
