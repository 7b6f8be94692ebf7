/* lists_source.c - parses and checks one list source, "name = URL [URL URL]". */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lists_source.h"

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
