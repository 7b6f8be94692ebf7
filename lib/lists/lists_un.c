/* lists_un.c - loader for the UN Security Council consolidated list XML.
 *
 * Parsed with libxml2's streaming reader, one entry at a time, with network
 * access off, no DTD loading and no entity substitution (XML_PARSE_NONET,
 * no XML_PARSE_NOENT/DTDLOAD) and libxml2's default size limits (no
 * XML_PARSE_HUGE).  Every INDIVIDUAL and ENTITY becomes an entry: id
 * REFERENCE_NUMBER (e.g. "KPe.001"), name the
 * FIRST..FOURTH_NAME parts joined, aliases the ALIAS_NAMEs of quality other
 * than "Low", the NAME_ORIGINAL_SCRIPT and, for names written "A ; B", each
 * part; program UN_LIST_TYPE; country the first NATIONALITY (individuals)
 * or address country (entities).  The list date is the root's dateGenerated.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlreader.h>

#include "lists.h"

static int is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
	if (!n)
		return NULL;
	for (const xmlNode *c = n->children; c; c = c->next)
		if (is(c, name))
			return c;
	return NULL;
}

/* Text of an element (trimmed, bounded) copied into the list's arena. */
static const char *text(struct kvs_list *l, const xmlNode *n)
{
	const xmlNode *t;

	if (!n)
		return NULL;
	for (t = n->children; t; t = t->next)
		if (t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE)
			break;
	if (!t || !t->content)
		return NULL;
	return lists_strndup(l, (const char *)t->content,
			     strnlen((const char *)t->content, 4096));
}

/* Kind, dates of birth (INDIVIDUAL_DATE_OF_BIRTH: DATE, else YEAR, else
 * FROM_YEAR) and nationalities (NATIONALITY/VALUE names as ISO codes) of
 * an individual. */
static void identity(struct kvs_list *l, struct list_entry *e, const xmlNode *n)
{
	char d[128] = "", c[64] = "";

	e->kind = "person";
	for (const xmlNode *x = n->children; x; x = x->next) {
		if (is(x, "INDIVIDUAL_DATE_OF_BIRTH")) {
			const char *v = text(l, child(x, "DATE"));

			if (!v)
				v = text(l, child(x, "YEAR"));
			if (!v)
				v = text(l, child(x, "FROM_YEAR"));
			if (v)
				lists_identity_add_text_date(d, sizeof(d), v, strlen(v));
		} else if (is(x, "NATIONALITY")) {
			for (const xmlNode *v = x->children; v; v = v->next) {
				const char *s = is(v, "VALUE") ? text(l, v) : NULL;

				if (s)
					lists_identity_add_code(c, sizeof(c),
						lists_country_code(s, strlen(s)));
			}
		}
	}
	e->birthdate = d[0] ? lists_strdup(l, d) : NULL;
	e->nationality = c[0] ? lists_strdup(l, c) : NULL;
}

static int add_one(struct lists_ctx *ctx, const char *path, const xmlNode *n,
		   int individual, const char **av)
{
	static const char *const parts[] = {
		"FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME",
	};
	struct kvs_list *l = ctx->list;
	char name[LISTS_MAX_NAME];
	size_t o = 0, na = 0;
	const char *id, *s;
	struct list_entry *e;

	name[0] = '\0';
	for (size_t i = 0; i < 4; i++) {
		s = text(l, child(n, parts[i]));
		if (s && o + strlen(s) + 2 < sizeof(name))
			o += (size_t)snprintf(name + o, sizeof(name) - o, "%s%s",
					      o ? " " : "", s);
	}
	if (!o) {
		lists_diag(ctx, path, (int)xmlGetLineNo(n), "%s without a name",
			   individual ? "INDIVIDUAL" : "ENTITY");
		return 0;
	}
	id = text(l, child(n, "REFERENCE_NUMBER"));
	if (!id)
		id = text(l, child(n, "DATAID"));
	if (strstr(name, " ; "))
		lists_split(l, name, " ; ", av, LISTS_MAX_ALIASES, &na);
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (na >= LISTS_MAX_ALIASES)
			break;
		if (is(c, "NAME_ORIGINAL_SCRIPT")) {
			if ((s = text(l, c)))
				av[na++] = s;
		} else if (is(c, individual ? "INDIVIDUAL_ALIAS"
					    : "ENTITY_ALIAS")) {
			const char *q = text(l, child(c, "QUALITY"));

			if (q && strcmp(q, "Low") == 0)
				continue;
			if ((s = text(l, child(c, "ALIAS_NAME"))))
				av[na++] = s;
		}
	}
	e = lists_add(l, id, lists_strdup(l, name), av, na);
	if (!e)
		return -ENOMEM;
	e->program = text(l, child(n, "UN_LIST_TYPE"));
	e->reason = text(l, child(n, "COMMENTS1"));
	if (individual) {
		e->country = text(l, child(child(n, "NATIONALITY"), "VALUE"));
		identity(l, e, n);
	} else {
		e->kind = "entity";
	}
	if (!individual)
		e->country = text(l, child(child(n, "ENTITY_ADDRESS"), "COUNTRY"));
	return 0;
}

/* The root's dateGenerated as the list date; -EINVAL when the root is not
 * CONSOLIDATED_LIST. */
static int read_root(struct lists_ctx *ctx, const char *path, xmlTextReaderPtr r)
{
	xmlChar *date;
	int rc = 0;

	if (strcmp((const char *)xmlTextReaderConstLocalName(r), "CONSOLIDATED_LIST") != 0) {
		lists_diag(ctx, path, 0, "root element is not CONSOLIDATED_LIST");
		return -EINVAL;
	}
	date = xmlTextReaderGetAttribute(r, (const xmlChar *)"dateGenerated");
	if (date) {
		rc = lists_set_date(ctx->list, (const char *)date);
		xmlFree(date);
	}
	return rc;
}

/* Read with libxml2's streaming reader: each INDIVIDUAL and ENTITY is
 * expanded into a tree of its own, handed to add_one() and freed as the
 * reader moves on, so the document is never a tree as a whole (which took
 * ten times the file's size while loading). */
static int un_load(struct lists_ctx *ctx, const char *path)
{
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	xmlTextReaderPtr r = NULL;
	struct lists_xml_err ue = { "", 0 };
	int rc, x, group = 0, seen_root = 0; /* group: 1 INDIVIDUALS, 2 ENTITIES */
	char *buf = NULL;
	size_t len;

	if (!av)
		return -ENOMEM;
	rc = lists_read_file(ctx, path, &buf, &len);
	if (rc < 0)
		goto fail;
	if (len > INT32_MAX) {
		rc = -EFBIG;
		goto fail;
	}
	r = xmlReaderForMemory(buf, (int)len, path, NULL,
			       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!r) {
		rc = -ENOMEM;
		goto fail;
	}
	xmlTextReaderSetStructuredErrorHandler(r, (xmlStructuredErrorFunc)lists_xml_error, &ue);
	x = xmlTextReaderRead(r);
	while (x == 1) {
		int depth = xmlTextReaderDepth(r);
		const char *name = (const char *)xmlTextReaderConstLocalName(r);
		const xmlNode *n;

		if (xmlTextReaderNodeType(r) != XML_READER_TYPE_ELEMENT) {
			x = xmlTextReaderRead(r);
			continue;
		}
		if (!seen_root) {
			seen_root = 1;
			if ((rc = read_root(ctx, path, r)) < 0)
				goto fail;
		} else if (depth == 1) {
			group = strcmp(name, "INDIVIDUALS") == 0 ? 1
				: strcmp(name, "ENTITIES") == 0 ? 2 : 0;
		} else if (depth == 2 && group &&
			   strcmp(name, group == 1 ? "INDIVIDUAL" : "ENTITY") == 0) {
			n = xmlTextReaderExpand(r);
			if (!n) {
				x = -1;	/* a malformed entry: the error below */
				break;
			}
			if ((rc = add_one(ctx, path, n, group == 1, av)) < 0)
				goto fail;
			x = xmlTextReaderNext(r);
			continue;
		}
		x = xmlTextReaderRead(r);
	}
	if (x < 0) {
		lists_diag(ctx, path, 0, "XML error at line %d: %s",
			   ue.line > 0 ? ue.line : xmlTextReaderGetParserLineNumber(r),
			   ue.msg[0] ? ue.msg : "malformed document");
		rc = -EINVAL;
		goto fail;
	}
	if (!seen_root) {
		lists_diag(ctx, path, 0, "root element is not CONSOLIDATED_LIST");
		rc = -EINVAL;
		goto fail;
	}
	rc = 0;
fail:
	xmlFreeTextReader(r);
	free(buf);
	free(av);
	return rc;
}

const struct lists_format lists_format_un = {
	.name = "un",
	.load = un_load,
};
