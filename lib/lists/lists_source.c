/* lists_source.c - parses and checks one list source, "name = URL [URL URL]". */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lists_source.h"

#define OFAC_EXPORTS "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/"

/* The EU Financial Sanctions Files consolidated list (FSF, XML 1.1): the
 * public download of the Commission's FSF platform, its token public. */
#define EU_FSF "https://webgate.ec.europa.eu/fsd/fsf/public/files/xmlFullSanctionsList_1_1/content?token=dG9rZW4tMjAxNw"
/* OpenSanctions' per-dataset exports (format opensanctions): the DoD and
 * UK lists are published by their governments as PDF or in formats of
 * their own; OpenSanctions republishes them in one CSV shape. */
#define OPENSANCTIONS "https://data.opensanctions.org/datasets/latest/"

/* Official addresses by the list names of the shipped configuration;
 * documented in kvscreend.conf(5) (LISTS). */
const char *const lists_source_defaults[] = {
	"ofac_sdn = " OFAC_EXPORTS "SDN.CSV " OFAC_EXPORTS "ALT.CSV " OFAC_EXPORTS "ADD.CSV",
	"ofac_nonsdn = " OFAC_EXPORTS "CONS_PRIM.CSV " OFAC_EXPORTS "CONS_ALT.CSV "
		OFAC_EXPORTS "CONS_ADD.CSV",
	"us_csl = https://data.trade.gov/downloadable_consolidated_screening_list/v1/consolidated.csv",
	"un_sc = https://scsanctions.un.org/resources/xml/en/consolidated.xml",
	"bis_dpl = https://www.bis.doc.gov/dpl/dpl.txt",
	"eu_fsf = " EU_FSF,
	"dod_1260h = " OPENSANCTIONS "us_dod_chinese_milcorps/targets.simple.csv",
	"dod_1286 = " OPENSANCTIONS "us_special_leg/targets.simple.csv",
	"uk_sanctions = " OPENSANCTIONS "gb_fcdo_sanctions/targets.simple.csv",
	NULL
};

void lists_source_clear(struct lists_source *s)
{
	for (size_t i = 0; i < s->n_urls; i++)
		free(s->urls[i]);
	memset(s, 0, sizeof(*s));
}

static int name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

int lists_source_parse(const char *s, int allow_http, struct lists_source *out, char *err,
		       size_t errlen)
{
	const char *p = s, *q;
	size_t n;

	memset(out, 0, sizeof(*out));
	while (*p == ' ' || *p == '\t')
		p++;
	for (q = p; name_char((unsigned char)*q); q++)
		;
	n = (size_t)(q - p);
	if (n == 0 || n >= LISTS_SOURCE_MAX_NAME) {
		snprintf(err, errlen, "\"%.64s\" does not start with a list name ([A-Za-z0-9_.-], at most %d characters)",
			 s, LISTS_SOURCE_MAX_NAME - 1);
		return -EINVAL;
	}
	memcpy(out->name, p, n);
	out->name[n] = '\0';
	p = q;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '=') {
		snprintf(err, errlen, "\"%.64s\" is not \"name = URL [URL URL]\"", s);
		return -EINVAL;
	}
	p++;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		for (q = p; *q && *q != ' ' && *q != '\t'; q++)
			if ((unsigned char)*q < 0x21 || (unsigned char)*q == 0x7f) {
				snprintf(err, errlen, "%s: control character in a URL", out->name);
				goto fail;
			}
		n = (size_t)(q - p);
		if (out->n_urls == LISTS_SOURCE_MAX_URLS) {
			snprintf(err, errlen, "%s: more than %d URLs", out->name,
				 LISTS_SOURCE_MAX_URLS);
			goto fail;
		}
		if (n >= LISTS_SOURCE_MAX_URL) {
			snprintf(err, errlen, "%s: URL longer than %d bytes", out->name, LISTS_SOURCE_MAX_URL - 1);
			goto fail;
		}
		if (!(n > 8 && strncasecmp(p, "https://", 8) == 0) &&
		    !(allow_http && n > 7 && strncasecmp(p, "http://", 7) == 0)) {
			snprintf(err, errlen, "%s: \"%.*s\": only https:// URLs%s", out->name,
				 (int)(n > 80 ? 80 : n), p,
				 allow_http ? " and http:// URLs" : " (lists.allow_http also permits http://)");
			goto fail;
		}
		out->urls[out->n_urls] = strndup(p, n);
		if (!out->urls[out->n_urls]) {
			snprintf(err, errlen, "out of memory");
			lists_source_clear(out);
			return -ENOMEM;
		}
		out->n_urls++;
		p = q;
	}
	return 0;
fail:
	lists_source_clear(out);
	return -EINVAL;
}

int lists_source_check(const char *s, int allow_http, char *err, size_t errlen)
{
	struct lists_source src;
	int rc = lists_source_parse(s, allow_http, &src, err, errlen);

	if (rc == 0)
		lists_source_clear(&src);
	return rc;
}

int lists_source_has(const char *const *configured, const char *name)
{
	for (int pass = 0; pass < 2; pass++) {
		const char *const *v = pass ? lists_source_defaults : configured;

		for (size_t i = 0; v && v[i]; i++) {
			struct lists_source s;
			char err[256];
			int n;

			if (lists_source_parse(v[i], 1, &s, err, sizeof(err)) < 0)
				continue;
			n = strcmp(s.name, name) == 0 ? (s.n_urls > 0 ? 1 : 0) : -1;
			lists_source_clear(&s);
			if (n >= 0)
				return n;
		}
	}
	return 0;
}
