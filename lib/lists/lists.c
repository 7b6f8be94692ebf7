/* lists.c - the registry of loaded lists: loading, sharing and freeing them.
 *
 * The registry is a process-wide singly linked list of shared lists guarded
 * by one mutex; it is only touched by lists_load() and lists_release(), which
 * run from plugin create()/destroy(), never on the screening hot path.  A
 * shared list is reused while its file's size and mtime are unchanged.
 * Loading happens outside the lock (two threads loading the same new list
 * may both load it; the second one found in the registry wins and the other
 * copy is freed).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/xmlerror.h>
#include <openssl/evp.h>

#include "lists.h"
#include "namematch.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvs_list *registry;

static const struct lists_format *const formats[] = {
	&lists_format_ofac, &lists_format_csl, &lists_format_un,
	&lists_format_eu, &lists_format_aspi, &lists_format_kvs,
	&lists_format_table, &lists_format_fsf, &lists_format_opensanctions,
};

const struct lists_format *lists_format_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i]->name, name) == 0)
			return formats[i];
	return NULL;
}

/* List files may write a severity in any case ("High"); the names are
 * kvscreen/plugin.h's. */
int lists_severity_parse(const char *s)
{
	char low[16];
	size_t i;

	for (i = 0; s && s[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)tolower((unsigned char)s[i]);
	if (!s || s[i])
		return -EINVAL;
	low[i] = '\0';
	return kvs_severity_parse(low) < 0 ? -EINVAL : kvs_severity_parse(low);
}

int lists_spec_parse(const char *spec, struct lists_spec *out, const char **why)
{
	const char *c1 = spec ? strchr(spec, ':') : NULL;
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	const char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
	char sev[16];
	int s;

	memset(out, 0, sizeof(*out));
	if (!c3 || c1 == spec || c2 == c1 + 1 || !c3[1]) {
		*why = "is not format:name:severity:path";
		return -EINVAL;
	}
	if ((size_t)(c1 - spec) >= sizeof(out->format) ||
	    (size_t)(c2 - c1 - 1) >= sizeof(out->name)) {
		*why = "has a format or name that is too long";
		return -EINVAL;
	}
	memcpy(out->format, spec, (size_t)(c1 - spec));
	memcpy(out->name, c1 + 1, (size_t)(c2 - c1 - 1));
	if (!lists_format_find(out->format)) {
		*why = "has an unknown list format (ofac, csl, un, eu, eu_fsf, aspi, kvs, table, opensanctions)";
		return -EINVAL;
	}
	s = (size_t)(c3 - c2 - 1) < sizeof(sev) ? 0 : -1;
	if (s == 0) {
		memcpy(sev, c2 + 1, (size_t)(c3 - c2 - 1));
		sev[c3 - c2 - 1] = '\0';
		s = kvs_severity_parse(sev);
	}
	if (s < 0) {
		*why = "has an unknown severity (" KVS_SEVERITY_CHOICES ")";
		return -EINVAL;
	}
	out->severity = (enum kvs_severity)s;
	out->path = c3 + 1;
	return 0;
}

const char *lists_severity_name(enum kvs_severity s)
{
	return (unsigned)s <= KVS_SEV_CRITICAL ? kvs_severity_name(s) : "unknown";
}

struct list_entry *lists_add(struct kvs_list *l, const char *id,
			     const char *name, const char **aliases,
			     size_t n_aliases)
{
	struct list_entry *e;
	const char **av = NULL;
	size_t n = 0;

	if (!name)
		return NULL;
	if (l->n_entries == l->cap_entries) {
		size_t cap = l->cap_entries ? l->cap_entries * 2 : 256;
		struct list_entry *v;

		if (l->n_entries >= LISTS_MAX_ENTRIES)
			return NULL;
		v = realloc(l->entries, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->entries = v;
		l->cap_entries = cap;
	}
	if (n_aliases > LISTS_MAX_ALIASES)
		n_aliases = LISTS_MAX_ALIASES;
	if (n_aliases) {
		av = arena_alloc(&l->arena, n_aliases * sizeof(*av));
		if (!av)
			return NULL;
		for (size_t i = 0; i < n_aliases; i++) {
			int dup = !aliases[i] || strcmp(aliases[i], name) == 0;

			for (size_t j = 0; !dup && j < n; j++)
				dup = strcmp(av[j], aliases[i]) == 0;
			if (!dup)
				av[n++] = aliases[i];
		}
	}
	e = &l->entries[l->n_entries++];
	memset(e, 0, sizeof(*e));
	e->id = id;
	e->name = name;
	e->aliases = av;
	e->n_aliases = n;
	e->severity = l->severity;
	l->n_names += 1 + n;
	return e;
}

void lists_split(struct kvs_list *l, const char *s, const char *sep,
		 const char **v, size_t cap, size_t *n)
{
	size_t sl = strlen(sep);

	while (s && *s && *n < cap) {
		const char *q = strstr(s, sep);
		size_t len = q ? (size_t)(q - s) : strlen(s);
		const char *a = len < LISTS_MAX_NAME ? lists_strndup(l, s, len)
						     : NULL;

		if (a)
			v[(*n)++] = a;
		s = q ? q + sl : NULL;
	}
}

static int set_str(char **dst, const char *v)
{
	char *c = v ? strdup(v) : NULL;

	if (v && !c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

int lists_set_version(struct kvs_list *l, const char *v)
{
	return set_str(&l->version, v);
}

int lists_set_date(struct kvs_list *l, const char *d)
{
	return set_str(&l->date, d);
}

void lists_diag(struct lists_ctx *ctx, const char *file, int line,
		const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		ctx->errors++;
	if (ctx->opts && ctx->opts->diag)
		ctx->opts->diag(ctx->opts->diag_arg, file, line,
				line <= 0 || ctx->opts->strict, msg);
}

void lists_fatal(struct lists_ctx *ctx, const char *file, int line,
		 const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->opts && ctx->opts->diag)
		ctx->opts->diag(ctx->opts->diag_arg, file, line, 1, msg);
}

void lists_digest_add(struct lists_ctx *ctx, const void *p, size_t n)
{
	if (ctx->sha)
		EVP_DigestUpdate(ctx->sha, p, n);
}

void lists_xml_error(void *arg, const struct _xmlError *e)
{
	struct lists_xml_err *xe = arg;

	if (xe->msg[0] || !e)
		return;
	snprintf(xe->msg, sizeof(xe->msg), "%s", e->message ? e->message : "XML error");
	xe->msg[strcspn(xe->msg, "\n")] = '\0';
	xe->line = e->line;
}

int lists_read_file(struct lists_ctx *ctx, const char *path, char **buf,
		    size_t *len)
{
	struct stat st;
	char *b = NULL;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		lists_diag(ctx, path, 0, "cannot open: %s", strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		lists_diag(ctx, path, 0, "not a regular file");
		rc = -EINVAL;
		goto fail;
	}
	if ((unsigned long long)st.st_size > LISTS_MAX_FILE_SIZE) {
		lists_diag(ctx, path, 0, "file larger than %u bytes",
			   LISTS_MAX_FILE_SIZE);
		rc = -EFBIG;
		goto fail;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		rc = -ENOMEM;
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			lists_diag(ctx, path, 0, "read error");
			rc = -EIO;
			goto fail;
		}
		got += (size_t)r;
	}
	b[got] = '\0';
	close(fd);
	lists_digest_add(ctx, b, got);
	*buf = b;
	*len = got;
	return 0;
fail:
	free(b);
	close(fd);
	return rc;
}

void lists_free(struct kvs_list *l)
{
	if (!l)
		return;
	nm_index_free(l->index);
	arena_free(&l->arena);
	free(l->entries);
	free(l->name);
	free(l->format);
	free(l->path);
	free(l->version);
	free(l->date);
	free(l);
}

static int stat_key(const char *path, long long *mtime_ns, long long *size)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	*mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL +
		    st.st_mtim.tv_nsec;
	*size = (long long)st.st_size;
	return 0;
}

int lists_load_private(const char *format, const char *path, const char *name,
		       enum kvs_severity severity,
		       const struct lists_load_opts *opts,
		       struct kvs_list **out)
{
	static const struct lists_load_opts no_opts;
	const struct lists_format *f = lists_format_find(format);
	struct lists_ctx ctx = { .opts = opts ? opts : &no_opts };
	struct kvs_list *l = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int rc;

	*out = NULL;
	if (!f) {
		lists_diag(&ctx, path, 0, "unknown list format \"%s\"",
			   format ? format : "");
		return -ENOTSUP;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->arena.next_size = 256u << 10;
	l->severity = severity;
	l->refs = 1;
	l->name = strdup(name ? name : format);
	l->format = strdup(format);
	l->path = strdup(path);
	ctx.list = l;
	ctx.sha = EVP_MD_CTX_new();
	if (!l->name || !l->format || !l->path || !ctx.sha ||
	    !EVP_DigestInit_ex(ctx.sha, EVP_sha256(), NULL)) {
		rc = -ENOMEM;
		goto fail;
	}
	(void)stat_key(path, &l->mtime_ns, &l->size);
	rc = f->load(&ctx, path);
	if (rc == 0 && l->arena.failed)
		rc = -ENOMEM;
	if (rc < 0)
		goto fail;
	l->n_skipped = (size_t)ctx.errors;
	if (ctx.errors && ctx.opts->strict) {
		lists_diag(&ctx, path, 0,
			   "%d malformed row(s); list not loaded (strict)",
			   ctx.errors);
		rc = -EINVAL;
		goto fail;
	}
	if (!l->n_entries) {
		lists_diag(&ctx, path, 0, "no entries loaded");
		rc = -EINVAL;
		goto fail;
	}
	EVP_DigestFinal_ex(ctx.sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(l->digest + 2 * i, 3, "%02x", md[i]);
	rc = nm_index_build(l, &l->index);
	if (rc < 0)
		goto fail;
	EVP_MD_CTX_free(ctx.sha);
	*out = l;
	return 0;
fail:
	EVP_MD_CTX_free(ctx.sha);
	lists_free(l);
	return rc;
}

int lists_placeholder(const char *format, const char *path, const char *name,
		      enum kvs_severity severity, struct kvs_list **out)
{
	struct kvs_list *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->severity = severity;
	l->refs = 1;
	l->missing = 1;
	l->name = strdup(name ? name : format);
	l->format = strdup(format);
	l->path = strdup(path);
	if (!l->name || !l->format || !l->path) {
		lists_free(l);
		return -ENOMEM;
	}
	snprintf(l->digest, sizeof(l->digest), "none (not downloaded)");
	*out = l;
	return 0;
}

static int same_key(const struct kvs_list *l, const char *format,
		    const char *path, const char *name,
		    enum kvs_severity severity)
{
	return strcmp(l->format, format) == 0 && strcmp(l->path, path) == 0 &&
	       strcmp(l->name, name ? name : format) == 0 &&
	       l->severity == severity;
}

int lists_load(const char *format, const char *path, const char *name,
	       enum kvs_severity severity, const struct lists_load_opts *opts,
	       struct kvs_list **out)
{
	struct kvs_list *l, *fresh = NULL;
	long long mt = 0, sz = 0;
	int rc;

	*out = NULL;
	if (!format || !path)
		return -EINVAL;
	(void)stat_key(path, &mt, &sz);
	pthread_mutex_lock(&registry_lock);
	for (l = registry; l; l = l->next) {
		if (same_key(l, format, path, name, severity) &&
		    l->mtime_ns == mt && l->size == sz) {
			l->refs++;
			pthread_mutex_unlock(&registry_lock);
			*out = l;
			return 0;
		}
	}
	pthread_mutex_unlock(&registry_lock);

	rc = lists_load_private(format, path, name, severity, opts, &fresh);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&registry_lock);
	for (l = registry; l; l = l->next) {
		if (same_key(l, format, path, name, severity) &&
		    l->mtime_ns == fresh->mtime_ns && l->size == fresh->size) {
			l->refs++;
			pthread_mutex_unlock(&registry_lock);
			lists_free(fresh);
			*out = l;
			return 0;
		}
	}
	fresh->next = registry;
	registry = fresh;
	pthread_mutex_unlock(&registry_lock);
	*out = fresh;
	return 0;
}

void lists_release(struct kvs_list *l)
{
	struct kvs_list **pp;
	int last = 0;

	if (!l)
		return;
	pthread_mutex_lock(&registry_lock);
	if (--l->refs == 0) {
		last = 1;
		for (pp = &registry; *pp; pp = &(*pp)->next) {
			if (*pp == l) {
				*pp = l->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&registry_lock);
	if (last)
		lists_free(l);
}

/* ---- Identity data of listed persons ------------------------------------ */

/* Country names as the UN and OFAC lists write nationalities, lower case,
 * to ISO 3166-1 alpha-2; sorted (strcmp) for bsearch. */
static const struct country_name { const char *name, *code; } country_names[] = {
	{ "afghanistan", "AF" },
	{ "albania", "AL" },
	{ "algeria", "DZ" },
	{ "angola", "AO" },
	{ "argentina", "AR" },
	{ "armenia", "AM" },
	{ "australia", "AU" },
	{ "austria", "AT" },
	{ "azerbaijan", "AZ" },
	{ "bahrain", "BH" },
	{ "bangladesh", "BD" },
	{ "belarus", "BY" },
	{ "belgium", "BE" },
	{ "belize", "BZ" },
	{ "benin", "BJ" },
	{ "bhutan", "BT" },
	{ "bolivia", "BO" },
	{ "bosnia and herzegovina", "BA" },
	{ "botswana", "BW" },
	{ "brazil", "BR" },
	{ "brunei", "BN" },
	{ "bulgaria", "BG" },
	{ "burkina faso", "BF" },
	{ "burma", "MM" },
	{ "burundi", "BI" },
	{ "cambodia", "KH" },
	{ "cameroon", "CM" },
	{ "canada", "CA" },
	{ "central african republic", "CF" },
	{ "chad", "TD" },
	{ "chile", "CL" },
	{ "china", "CN" },
	{ "colombia", "CO" },
	{ "comoros", "KM" },
	{ "congo", "CG" },
	{ "costa rica", "CR" },
	{ "cote d'ivoire", "CI" },
	{ "croatia", "HR" },
	{ "cuba", "CU" },
	{ "cyprus", "CY" },
	{ "czech republic", "CZ" },
	{ "czechia", "CZ" },
	{ "democratic people's republic of korea", "KP" },
	{ "democratic republic of the congo", "CD" },
	{ "denmark", "DK" },
	{ "djibouti", "DJ" },
	{ "dominican republic", "DO" },
	{ "ecuador", "EC" },
	{ "egypt", "EG" },
	{ "el salvador", "SV" },
	{ "eritrea", "ER" },
	{ "estonia", "EE" },
	{ "ethiopia", "ET" },
	{ "fiji", "FJ" },
	{ "finland", "FI" },
	{ "france", "FR" },
	{ "gabon", "GA" },
	{ "gambia", "GM" },
	{ "georgia", "GE" },
	{ "germany", "DE" },
	{ "ghana", "GH" },
	{ "greece", "GR" },
	{ "guatemala", "GT" },
	{ "guinea", "GN" },
	{ "guinea-bissau", "GW" },
	{ "haiti", "HT" },
	{ "honduras", "HN" },
	{ "hong kong", "HK" },
	{ "hungary", "HU" },
	{ "iceland", "IS" },
	{ "india", "IN" },
	{ "indonesia", "ID" },
	{ "iran", "IR" },
	{ "iran (islamic republic of)", "IR" },
	{ "iraq", "IQ" },
	{ "ireland", "IE" },
	{ "israel", "IL" },
	{ "italy", "IT" },
	{ "ivory coast", "CI" },
	{ "jamaica", "JM" },
	{ "japan", "JP" },
	{ "jordan", "JO" },
	{ "kazakhstan", "KZ" },
	{ "kenya", "KE" },
	{ "korea, north", "KP" },
	{ "korea, south", "KR" },
	{ "kosovo", "XK" },
	{ "kuwait", "KW" },
	{ "kyrgyzstan", "KG" },
	{ "laos", "LA" },
	{ "latvia", "LV" },
	{ "lebanon", "LB" },
	{ "liberia", "LR" },
	{ "libya", "LY" },
	{ "lithuania", "LT" },
	{ "luxembourg", "LU" },
	{ "macau", "MO" },
	{ "madagascar", "MG" },
	{ "malawi", "MW" },
	{ "malaysia", "MY" },
	{ "maldives", "MV" },
	{ "mali", "ML" },
	{ "malta", "MT" },
	{ "mauritania", "MR" },
	{ "mexico", "MX" },
	{ "moldova", "MD" },
	{ "mongolia", "MN" },
	{ "montenegro", "ME" },
	{ "morocco", "MA" },
	{ "mozambique", "MZ" },
	{ "myanmar", "MM" },
	{ "namibia", "NA" },
	{ "nepal", "NP" },
	{ "netherlands", "NL" },
	{ "new zealand", "NZ" },
	{ "nicaragua", "NI" },
	{ "niger", "NE" },
	{ "nigeria", "NG" },
	{ "north korea", "KP" },
	{ "north macedonia", "MK" },
	{ "norway", "NO" },
	{ "oman", "OM" },
	{ "pakistan", "PK" },
	{ "palestinian", "PS" },
	{ "panama", "PA" },
	{ "papua new guinea", "PG" },
	{ "paraguay", "PY" },
	{ "peru", "PE" },
	{ "philippines", "PH" },
	{ "poland", "PL" },
	{ "portugal", "PT" },
	{ "qatar", "QA" },
	{ "republic of korea", "KR" },
	{ "romania", "RO" },
	{ "russia", "RU" },
	{ "russian federation", "RU" },
	{ "rwanda", "RW" },
	{ "saudi arabia", "SA" },
	{ "senegal", "SN" },
	{ "serbia", "RS" },
	{ "sierra leone", "SL" },
	{ "singapore", "SG" },
	{ "slovakia", "SK" },
	{ "slovenia", "SI" },
	{ "somalia", "SO" },
	{ "south africa", "ZA" },
	{ "south korea", "KR" },
	{ "south sudan", "SS" },
	{ "spain", "ES" },
	{ "sri lanka", "LK" },
	{ "state of palestine", "PS" },
	{ "sudan", "SD" },
	{ "sweden", "SE" },
	{ "switzerland", "CH" },
	{ "syria", "SY" },
	{ "syrian arab republic", "SY" },
	{ "taiwan", "TW" },
	{ "tajikistan", "TJ" },
	{ "tanzania", "TZ" },
	{ "thailand", "TH" },
	{ "togo", "TG" },
	{ "trinidad and tobago", "TT" },
	{ "tunisia", "TN" },
	{ "turkey", "TR" },
	{ "turkiye", "TR" },
	{ "turkmenistan", "TM" },
	{ "t\xc3\xbcrkiye", "TR" },
	{ "uganda", "UG" },
	{ "ukraine", "UA" },
	{ "united arab emirates", "AE" },
	{ "united kingdom", "GB" },
	{ "united kingdom of great britain and northern ireland", "GB" },
	{ "united republic of tanzania", "TZ" },
	{ "united states", "US" },
	{ "united states of america", "US" },
	{ "uruguay", "UY" },
	{ "uzbekistan", "UZ" },
	{ "venezuela", "VE" },
	{ "viet nam", "VN" },
	{ "vietnam", "VN" },
	{ "west bank", "PS" },
	{ "yemen", "YE" },
	{ "zambia", "ZM" },
	{ "zimbabwe", "ZW" },
};

static int cmp_country(const void *k, const void *e)
{
	return strcmp(k, ((const struct country_name *)e)->name);
}

const char *lists_country_code(const char *name, size_t n)
{
	char low[64];
	const struct country_name *c;

	while (n && (*name == ' ' || *name == '\t')) {
		name++;
		n--;
	}
	while (n && (name[n - 1] == ' ' || name[n - 1] == '.' || name[n - 1] == '\t'))
		n--;
	if (!n || n >= sizeof(low))
		return NULL;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	low[n] = '\0';
	c = bsearch(low, country_names, sizeof(country_names) / sizeof(*country_names),
		    sizeof(*country_names), cmp_country);
	return c ? c->code : NULL;
}

int lists_country_names_sorted(void)
{
	for (size_t i = 1; i < sizeof(country_names) / sizeof(*country_names); i++)
		if (strcmp(country_names[i - 1].name, country_names[i].name) >= 0)
			return 0;
	return 1;
}

/* Append s (n bytes) to the ';'-separated set in buf (cap bytes) unless it
 * is there already. */
static void set_add(char *buf, size_t cap, const char *s, size_t n)
{
	size_t o = strlen(buf);

	for (const char *p = buf; *p;) {
		size_t k = strcspn(p, ";");

		if (k == n && strncmp(p, s, n) == 0)
			return;
		p += k + (p[k] == ';');
	}
	if (o + n + 2 > cap)
		return;
	if (o)
		buf[o++] = ';';
	memcpy(buf + o, s, n);
	buf[o + n] = '\0';
}

void lists_identity_add_date(char *buf, size_t cap, int y, int m, int d)
{
	char t[16];
	int n;

	if (y < 1800 || y > 2999)
		return;
	if (m >= 1 && m <= 12 && d >= 1 && d <= 31)
		n = snprintf(t, sizeof(t), "%04d-%02d-%02d", y, m, d);
	else if (m >= 1 && m <= 12)
		n = snprintf(t, sizeof(t), "%04d-%02d", y, m);
	else
		n = snprintf(t, sizeof(t), "%04d", y);
	set_add(buf, cap, t, (size_t)n);
}

void lists_identity_add_code(char *buf, size_t cap, const char *code)
{
	if (code && strlen(code) == 2)
		set_add(buf, cap, code, 2);
}

/* The month of an English month name's first three letters, or 0. */
static int month_of(const char *s)
{
	static const char *const m[] = { "jan", "feb", "mar", "apr", "may", "jun",
		"jul", "aug", "sep", "oct", "nov", "dec" };

	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, m[i], 3) == 0)
			return i + 1;
	return 0;
}

void lists_identity_add_text_date(char *buf, size_t cap, const char *s, size_t n)
{
	char t[48], mon[16];
	int y = 0, m = 0, d = 0;

	if (n >= sizeof(t))
		n = sizeof(t) - 1;
	memcpy(t, s, n);
	t[n] = '\0';
	if (sscanf(t, "%4d-%2d-%2d", &y, &m, &d) >= 1 && y >= 1800) {
		/* ISO, possibly partial. */
	} else if (sscanf(t, "%2d.%2d.%4d", &d, &m, &y) == 3) {
		/* "11.8.1960", as the EU annexes write dates. */
	} else if (sscanf(t, "%2d %15s %4d", &d, mon, &y) == 3) {
		m = month_of(mon);
	} else if (sscanf(t, "%15s %4d", mon, &y) == 2 && month_of(mon)) {
		m = month_of(mon);
		d = 0;
	} else {
		return;
	}
	lists_identity_add_date(buf, cap, y, m, d);
}

const char *lists_identity_from_remarks(struct kvs_list *l, const char *r,
					 const char **nationality)
{
	char dob[128] = "", nat[64] = "";

	*nationality = NULL;
	if (!r)
		return NULL;
	for (const char *p = r; *p;) {
		size_t n = strcspn(p, ";");
		const char *q = p;

		while (q < p + n && *q == ' ')
			q++;
		if (strncmp(q, "alt. ", 5) == 0)
			q += 5;
		if (strncmp(q, "DOB ", 4) == 0) {
			q += 4;
			if (strncmp(q, "circa ", 6) == 0)
				q += 6;
			/* "DOB 1960 to 1962": the first year only. */
			lists_identity_add_text_date(dob, sizeof(dob), q,
						     (size_t)(p + n - q));
		} else if (strncmp(q, "nationality ", 12) == 0 ||
			   strncmp(q, "citizen ", 8) == 0) {
			q += q[0] == 'n' ? 12 : 8;
			lists_identity_add_code(nat, sizeof(nat),
						lists_country_code(q, (size_t)(p + n - q)));
		}
		p += n + (p[n] == ';');
	}
	if (nat[0])
		*nationality = lists_strdup(l, nat);
	return dob[0] ? lists_strdup(l, dob) : NULL;
}
