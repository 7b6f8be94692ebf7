/* lists_fsf.c - loader for the EU Financial Sanctions Files (FSF) consolidated list XML.
 *
 * The official EU consolidated list of persons and entities subject to EU
 * financial sanctions, "xmlFullSanctionsList_1_1": a root <export
 * generationDate globalFileId> in the namespace
 * http://eu.europa.ec/fpi/fsd/export holding one <sanctionEntity logicalId
 * euReferenceNumber ...> per listing.  A mid-2026 file is about 25 MB, so it
 * is read with libxml2's streaming reader (xmlTextReader): no tree is built,
 * network access is off, no DTD is loaded, no entities are substituted and
 * libxml2's default size limits apply (no XML_PARSE_HUGE).
 *
 * Of each sanctionEntity (its direct children only):
 *   id           euReferenceNumber, else logicalId
 *   name         the wholeName of the first nameAlias with strong="true",
 *                else of the first nameAlias (firstName lastName when the
 *                wholeName is empty)
 *   aliases      every other nameAlias
 *   kind         subjectType code: "person" stays, "enterprise" is "entity"
 *   program      the first regulation: "programme numberTitle"
 *   reason       the first remark
 *   birthdate    every birthdate's birthdate (else its year), ';'-separated
 *   nationality  every citizenship's countryIso2Code, ';'-separated
 *   country      the first citizenship, else the first address country
 * ("00", FSF's unknown country, is left out).  The list date is the root's
 * generationDate, the version its globalFileId.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlreader.h>

#include "lists.h"

#define FSF_NS "http://eu.europa.ec/fpi/fsd/export"
#define FSF_MAX_REASON 4096u
#define FSF_MAX_JOINED 256u     /* bytes of the ';'-joined birth dates or codes */

/* One sanctionEntity being read. */
struct fsf_entry {
	const char *id, *logical_id;
	const char *strong, *first;  /* candidate primary names */
	const char **names;          /* every name alias, in order */
	size_t n_names;
	const char *kind, *program, *reason, *address_cc;
	char birth[FSF_MAX_JOINED];
	char nat[FSF_MAX_JOINED];
	int line;
};

struct fsf_reader {
	struct lists_ctx *ctx;
	const char *path;
	xmlTextReaderPtr r;
	struct lists_xml_err xe;     /* the first XML error */
};

/* Value of attribute `name` of the current element copied into the arena
 * (trimmed; at most `max` bytes), or NULL. */
static const char *attr(struct fsf_reader *fr, const char *name, size_t max)
{
	xmlChar *v = xmlTextReaderGetAttribute(fr->r, (const xmlChar *)name);
	const char *s;

	if (!v)
		return NULL;
	s = lists_strndup(fr->ctx->list, (const char *)v, strnlen((const char *)v, max));
	xmlFree(v);
	return s;
}

/* Append `v` to the ';'-joined buffer unless it is there already or does
 * not fit. */
static void join(char *buf, const char *v)
{
	size_t o = strlen(buf), n = strlen(v);
	const char *p = buf;

	for (;;) {
		const char *q = strchr(p, ';');
		size_t len = q ? (size_t)(q - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return;
		if (!q)
			break;
		p = q + 1;
	}
	if (o + n + 2 > FSF_MAX_JOINED)
		return;
	snprintf(buf + o, FSF_MAX_JOINED - o, "%s%s", o ? ";" : "", v);
}

static int is_country(const char *cc)
{
	return cc && strlen(cc) == 2 && strcmp(cc, "00") != 0;
}

static int is_el(const xmlChar *local, const char *name)
{
	return local && strcmp((const char *)local, name) == 0;
}

/* The nameAlias at the cursor: its wholeName, else "firstName lastName". */
static void read_alias(struct fsf_reader *fr, struct fsf_entry *e)
{
	struct kvs_list *l = fr->ctx->list;
	const char *whole = attr(fr, "wholeName", LISTS_MAX_NAME);
	xmlChar *strong;

	if (!whole) {
		const char *fn = attr(fr, "firstName", LISTS_MAX_NAME / 2);
		const char *ln = attr(fr, "lastName", LISTS_MAX_NAME / 2);
		char buf[LISTS_MAX_NAME + 2];

		if (!fn && !ln)
			return;
		snprintf(buf, sizeof(buf), "%s%s%s", fn ? fn : "", fn && ln ? " " : "",
			 ln ? ln : "");
		whole = lists_strdup(l, buf);
		if (!whole)
			return;
	}
	if (!e->first)
		e->first = whole;
	strong = xmlTextReaderGetAttribute(fr->r, (const xmlChar *)"strong");
	if (!e->strong && strong && strcmp((const char *)strong, "true") == 0)
		e->strong = whole;
	xmlFree(strong);
	if (e->n_names < LISTS_MAX_ALIASES + 1)
		e->names[e->n_names++] = whole;
}

/* The text of the element at the cursor (a remark), bounded. */
static const char *read_text(struct fsf_reader *fr)
{
	xmlChar *t = xmlTextReaderReadString(fr->r);
	const char *s;

	if (!t)
		return NULL;
	s = lists_strndup(fr->ctx->list, (const char *)t, strnlen((const char *)t, FSF_MAX_REASON));
	xmlFree(t);
	return s;
}

/* A direct child of a sanctionEntity, at the cursor. */
static void read_child(struct fsf_reader *fr, struct fsf_entry *e)
{
	const xmlChar *local = xmlTextReaderConstLocalName(fr->r);
	const char *v;

	if (is_el(local, "nameAlias")) {
		read_alias(fr, e);
	} else if (is_el(local, "subjectType")) {
		v = attr(fr, "code", 64);
		if (v && !e->kind)
			e->kind = strcmp(v, "enterprise") == 0 ? "entity" : v;
	} else if (is_el(local, "regulation")) {
		const char *prog = attr(fr, "programme", 64);
		const char *num = attr(fr, "numberTitle", 256);
		char buf[400];

		if (e->program || (!prog && !num))
			return;
		snprintf(buf, sizeof(buf), "%s%s%s%s", prog ? prog : "", prog && num ? " " : "",
			 num ? "Regulation " : "", num ? num : "");
		e->program = lists_strdup(fr->ctx->list, buf);
	} else if (is_el(local, "remark")) {
		if (!e->reason)
			e->reason = read_text(fr);
	} else if (is_el(local, "citizenship")) {
		v = attr(fr, "countryIso2Code", 8);
		if (is_country(v))
			join(e->nat, v);
	} else if (is_el(local, "birthdate")) {
		v = attr(fr, "birthdate", 32);
		if (!v)
			v = attr(fr, "year", 8);
		if (v)
			join(e->birth, v);
	} else if (is_el(local, "address")) {
		v = attr(fr, "countryIso2Code", 8);
		if (is_country(v) && !e->address_cc)
			e->address_cc = v;
	}
}

static int add_entry(struct fsf_reader *fr, struct fsf_entry *e)
{
	struct kvs_list *l = fr->ctx->list;
	const char *name = e->strong ? e->strong : e->first;
	const char *id = e->id ? e->id : e->logical_id;
	struct list_entry *le;
	char cc[3];

	if (!name) {
		lists_diag(fr->ctx, fr->path, e->line, "sanctionEntity %s without a name",
			   id ? id : "(no id)");
		return 0;
	}
	if (!id) {
		lists_diag(fr->ctx, fr->path, e->line,
			   "sanctionEntity \"%s\" without euReferenceNumber or logicalId", name);
		return 0;
	}
	le = lists_add(l, id, name, e->names, e->n_names);
	if (!le)
		return -ENOMEM;
	le->kind = e->kind ? lists_strdup(l, e->kind) : NULL;
	le->program = e->program;
	le->reason = e->reason;
	le->birthdate = e->birth[0] ? lists_strdup(l, e->birth) : NULL;
	le->nationality = e->nat[0] ? lists_strdup(l, e->nat) : NULL;
	if (e->nat[0]) {
		memcpy(cc, e->nat, 2);
		cc[2] = '\0';
		le->country = lists_strdup(l, cc);
	} else {
		le->country = e->address_cc;
	}
	return 0;
}

/* Line of the element at the cursor. */
static int node_line(struct fsf_reader *fr)
{
	xmlNodePtr n = xmlTextReaderCurrentNode(fr->r);

	return n ? (int)xmlGetLineNo(n) : xmlTextReaderGetParserLineNumber(fr->r);
}

/* The root element: <export> in the FSF namespace; sets date and version. */
static int read_root(struct fsf_reader *fr)
{
	const xmlChar *local = xmlTextReaderConstLocalName(fr->r);
	const xmlChar *ns = xmlTextReaderConstNamespaceUri(fr->r);
	xmlChar *v;
	int rc = 0;

	if (!is_el(local, "export") || !ns || strcmp((const char *)ns, FSF_NS) != 0) {
		lists_fatal(fr->ctx, fr->path, node_line(fr),
			    "root element <%s> in %s%s, not <export> in namespace " FSF_NS
			    " (not an EU FSF xmlFullSanctionsList_1_1 file)",
			    local ? (const char *)local : "?", ns ? "namespace " : "no namespace",
			    ns ? (const char *)ns : "");
		return -EINVAL;
	}
	v = xmlTextReaderGetAttribute(fr->r, (const xmlChar *)"generationDate");
	if (v) {
		rc = lists_set_date(fr->ctx->list, (const char *)v);
		xmlFree(v);
	}
	v = xmlTextReaderGetAttribute(fr->r, (const xmlChar *)"globalFileId");
	if (v && rc == 0) {
		rc = lists_set_version(fr->ctx->list, (const char *)v);
	}
	xmlFree(v);
	return rc;
}

static int fsf_load(struct lists_ctx *ctx, const char *path)
{
	struct fsf_reader fr = { .ctx = ctx, .path = path };
	struct fsf_entry e;
	const char **names = malloc((LISTS_MAX_ALIASES + 1) * sizeof(*names));
	int in_entity = 0, seen_root = 0, rc = 0, x;
	char *buf = NULL;
	size_t len;

	if (!names)
		return -ENOMEM;
	rc = lists_read_file(ctx, path, &buf, &len);
	if (rc < 0)
		goto fail;
	if (len > INT32_MAX) {
		rc = -EFBIG;
		goto fail;
	}
	fr.r = xmlReaderForMemory(buf, (int)len, path, NULL,
				  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!fr.r) {
		rc = -ENOMEM;
		goto fail;
	}
	xmlTextReaderSetStructuredErrorHandler(fr.r, (xmlStructuredErrorFunc)lists_xml_error, &fr.xe);
	while ((x = xmlTextReaderRead(fr.r)) == 1) {
		int type = xmlTextReaderNodeType(fr.r);
		int depth = xmlTextReaderDepth(fr.r);
		const xmlChar *local;

		if (type != XML_READER_TYPE_ELEMENT && type != XML_READER_TYPE_END_ELEMENT)
			continue;
		if (!seen_root) {
			seen_root = 1;
			rc = read_root(&fr);
			if (rc < 0)
				goto fail;
			continue;
		}
		local = xmlTextReaderConstLocalName(fr.r);
		if (depth == 1 && is_el(local, "sanctionEntity")) {
			if (type == XML_READER_TYPE_ELEMENT) {
				memset(&e, 0, sizeof(e));
				e.names = names;
				e.line = node_line(&fr);
				e.id = attr(&fr, "euReferenceNumber", 128);
				e.logical_id = attr(&fr, "logicalId", 128);
				in_entity = !xmlTextReaderIsEmptyElement(fr.r);
				if (!in_entity && (rc = add_entry(&fr, &e)) < 0)
					goto fail;
			} else if (in_entity) {
				in_entity = 0;
				if ((rc = add_entry(&fr, &e)) < 0)
					goto fail;
			}
		} else if (in_entity && depth == 2 && type == XML_READER_TYPE_ELEMENT) {
			read_child(&fr, &e);
		}
	}
	if (x < 0) {
		lists_fatal(ctx, path, fr.xe.line > 0 ? fr.xe.line
						       : xmlTextReaderGetParserLineNumber(fr.r),
			    "XML error: %s", fr.xe.msg[0] ? fr.xe.msg : "malformed document");
		rc = -EINVAL;
		goto fail;
	}
	if (!seen_root) {
		lists_fatal(ctx, path, 1, "no root element (not an EU FSF XML file)");
		rc = -EINVAL;
		goto fail;
	}
	rc = 0;
fail:
	if (fr.r)
		xmlFreeTextReader(fr.r);
	free(buf);
	free(names);
	return rc;
}

const struct lists_format lists_format_fsf = {
	.name = "eu_fsf",
	.load = fsf_load,
};
