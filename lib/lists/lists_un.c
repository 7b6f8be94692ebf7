/* lists_un.c - loader for the UN Security Council consolidated list XML.
 *
 * Parsed with libxml2 with network access off, no DTD loading and no entity
 * substitution (XML_PARSE_NONET, no XML_PARSE_NOENT/DTDLOAD) and libxml2's
 * default size limits (no XML_PARSE_HUGE).  Every INDIVIDUAL and ENTITY
 * becomes an entry: id REFERENCE_NUMBER (e.g. "KPe.001"), name the
 * FIRST..FOURTH_NAME parts joined, aliases the ALIAS_NAMEs of quality other
 * than "Low", the NAME_ORIGINAL_SCRIPT and, for names written "A ; B", each
 * part; program UN_LIST_TYPE; country the first NATIONALITY (individuals)
 * or address country (entities).  The list date is the root's dateGenerated.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

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

static int un_load(struct lists_ctx *ctx, const char *path)
{
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	xmlDoc *doc = NULL;
	const xmlNode *root;
	xmlChar *date;
	char *buf = NULL;
	size_t len;
	int rc;

	if (!av)
		return -ENOMEM;
	rc = lists_read_file(ctx, path, &buf, &len);
	if (rc < 0)
		goto fail;
	if (len > INT32_MAX) {
		rc = -EFBIG;
		goto fail;
	}
	doc = xmlReadMemory(buf, (int)len, path, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *err = xmlGetLastError();

		lists_diag(ctx, path, 0, "XML error at line %d: %s",
			   err ? err->line : 0,
			   err && err->message ? err->message : "unknown");
		rc = -EINVAL;
		goto fail;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "CONSOLIDATED_LIST")) {
		lists_diag(ctx, path, 0, "root element is not CONSOLIDATED_LIST");
		rc = -EINVAL;
		goto fail;
	}
	date = xmlGetProp(root, (const xmlChar *)"dateGenerated");
	if (date) {
		rc = lists_set_date(ctx->list, (const char *)date);
		xmlFree(date);
		if (rc < 0)
			goto fail;
	}
	for (const xmlNode *g = root->children; g; g = g->next) {
		int ind = is(g, "INDIVIDUALS");

		if (!ind && !is(g, "ENTITIES"))
			continue;
		for (const xmlNode *n = g->children; n; n = n->next) {
			if (!is(n, ind ? "INDIVIDUAL" : "ENTITY"))
				continue;
			rc = add_one(ctx, path, n, ind, av);
			if (rc < 0)
				goto fail;
		}
	}
	rc = 0;
fail:
	xmlFreeDoc(doc);
	free(buf);
	free(av);
	return rc;
}

const struct lists_format lists_format_un = {
	.name = "un",
	.load = un_load,
};
