/* test_lists.c - the list loaders on the real files and on malformed ones. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lists.h"
#include "shared_data.h"
#include "testutil.h"
#include "ck_main.h"

/* Diagnostics collected as "file-basename:line: message" lines. */
struct diags {
	char text[8192];
	int n;
};

static void collect(void *arg, const char *file, int line, int fatal,
		    const char *msg)
{
	struct diags *d = arg;
	const char *base = strrchr(file, '/');
	size_t o = strlen(d->text);

	snprintf(d->text + o, sizeof(d->text) - o, "%s:%d: %s\n",
		 base ? base + 1 : file, line, msg);
	d->n++;
}

static const char *shared_dir(void)
{
	const char *d = shared_data_dir();

	return d ? d : "/nonexistent";
}

static char *data(const char *rel)
{
	char *p;

	ck_assert(asprintf(&p, "%s/%s", shared_dir(), rel) > 0);
	return p;
}

static struct kvs_list *load(const char *fmt, const char *rel, int shared_data,
			     enum kvs_severity sev, struct diags *d)
{
	struct lists_load_opts o = { .diag = collect, .diag_arg = d };
	char *path = shared_data ? data(rel) : tu_src(rel);
	struct kvs_list *l = NULL;
	int rc = lists_load_private(fmt, path, fmt, sev, &o, &l);

	ck_assert_msg(rc == 0, "%s: %d\n%s", path, rc, d->text);
	free(path);
	return l;
}

static const struct list_entry *find(const struct kvs_list *l, const char *id)
{
	for (size_t i = 0; i < l->n_entries; i++)
		if (l->entries[i].id && strcmp(l->entries[i].id, id) == 0)
			return &l->entries[i];
	return NULL;
}

static int has_alias(const struct list_entry *e, const char *a)
{
	for (size_t i = 0; i < e->n_aliases; i++)
		if (strcmp(e->aliases[i], a) == 0)
			return 1;
	return 0;
}

START_TEST(ofac_sdn)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("ofac", "ofac-sdn-2021/sdn.csv", 1,
				  KVS_SEV_CRITICAL, &d);
	const struct list_entry *e;

	/* SOURCE.txt: 8,976 entries, 11,910 aliases (a few equal the
	 * primary name or repeat and are dropped). */
	ck_assert_uint_eq(l->n_entries, 8976);
	ck_assert_uint_gt(l->n_names - l->n_entries, 11850);
	ck_assert_uint_le(l->n_names - l->n_entries, 11910);
	ck_assert_int_eq(d.n, 0);
	e = find(l, "306");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->name, "BANCO NACIONAL DE CUBA");
	ck_assert(has_alias(e, "NATIONAL BANK OF CUBA"));
	ck_assert_str_eq(e->program, "CUBA");
	ck_assert_str_eq(e->country, "Switzerland");
	e = find(l, "22790");
	ck_assert_str_eq(e->name, "MADURO MOROS, Nicolas");
	ck_assert_int_eq(e->severity, KVS_SEV_CRITICAL);
	ck_assert_uint_eq(strlen(l->digest), 64);
	lists_free(l);
}
END_TEST

START_TEST(ofac_consolidated)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("ofac",
				  "ofac-consolidated-nonsdn-2025/cons_prim.csv",
				  1, KVS_SEV_HIGH, &d);
	const struct list_entry *e;

	ck_assert_uint_eq(l->n_entries, 442);
	ck_assert_uint_gt(l->n_names, 442 + 1000);
	e = find(l, "30947");
	ck_assert_str_eq(e->name, "HUAWEI TECHNOLOGIES CO., LTD.");
	lists_free(l);
}
END_TEST

START_TEST(csl)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("csl", "us-csl-2023-subset/csl.csv", 1,
				  KVS_SEV_HIGH, &d);
	const struct list_entry *e;
	size_t el = 0;

	/* 4,228 data rows: one repeated header (skipped silently) and the
	 * last row (physical line 4233), cut off inside a quoted field and
	 * reported. */
	ck_assert_uint_eq(l->n_entries, 4226);
	ck_assert_uint_eq(l->n_skipped, 1);
	ck_assert_str_eq(d.text, "csl.csv:4233: unterminated quoted field\n");
	for (size_t i = 0; i < l->n_entries; i++)
		el += strncmp(l->entries[i].program, "Entity List", 11) == 0;
	ck_assert_uint_eq(el, 919);
	e = find(l, "30882");
	ck_assert_str_eq(e->name, "China Telecom Corporation Limited");
	ck_assert(has_alias(e, "CHINA TELECOM CORP LTD"));
	ck_assert_str_eq(e->country, "CN");
	lists_free(l);
}
END_TEST

START_TEST(csl_strict_fails)
{
	struct diags d = { "", 0 };
	struct lists_load_opts o = { .strict = 1, .diag = collect, .diag_arg = &d };
	char *path = data("us-csl-2023-subset/csl.csv");
	struct kvs_list *l = NULL;

	ck_assert_int_eq(lists_load_private("csl", path, "csl", KVS_SEV_HIGH,
					    &o, &l), -EINVAL);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(d.text, "csl.csv:4233: unterminated quoted field\n"));
	ck_assert_ptr_nonnull(strstr(d.text, "list not loaded (strict)"));
	free(path);
}
END_TEST

START_TEST(un)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("un", "un-sc-consolidated-2026/UN_consolidated.xml",
				  1, KVS_SEV_CRITICAL, &d);
	const struct list_entry *e;
	size_t kp = 0;

	ck_assert_uint_eq(l->n_entries, 730 + 273);
	ck_assert_str_eq(l->date, "2026-02-27T00:00:09.554Z");
	for (size_t i = 0; i < l->n_entries; i++)
		kp += strcmp(l->entries[i].program, "DPRK") == 0;
	ck_assert_uint_eq(kp, 155);
	e = find(l, "CDi.002");
	ck_assert_str_eq(e->name, "FRANK KAKOLELE BWAMBALE");
	ck_assert(has_alias(e, "FRANK KAKORERE"));
	ck_assert_str_eq(e->country, "Democratic Republic of the Congo");
	/* Names in their original script are aliases. */
	e = find(l, "IQi.001");
	ck_assert_ptr_nonnull(e);
	ck_assert(has_alias(e, "صدام حسين التكريتي"));
	/* "A ; B" names give each part as an alias. */
	e = find(l, "CDe.003");
	ck_assert(has_alias(e, "GREAT LAKES BUSINESS COMPANY (GLBC)"));
	lists_free(l);
}
END_TEST

START_TEST(eu)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("eu", "eu-sanctions-by-regulation/consolidated",
				  1, KVS_SEV_CRITICAL, &d);
	const struct list_entry *e;

	ck_assert_uint_eq(l->n_entries, 8017);
	ck_assert_int_eq(d.n, 0);
	e = find(l, "32014R0833/1");
	ck_assert_str_eq(e->name, "SBERBANK");
	ck_assert_str_eq(e->program, "EU-RUS");
	lists_free(l);
}
END_TEST

START_TEST(aspi)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("aspi",
				  "aspi-china-defence-universities/china-defence-universities.json",
				  1, KVS_SEV_MEDIUM, &d);
	size_t high = 0, med = 0;
	const struct list_entry *beihang = NULL;

	ck_assert_uint_eq(l->n_entries, 159);
	for (size_t i = 0; i < l->n_entries; i++) {
		const struct list_entry *e = &l->entries[i];

		high += e->severity == KVS_SEV_HIGH;
		med += e->severity == KVS_SEV_MEDIUM;
		if (strcmp(e->name, "Beihang University") == 0)
			beihang = e;
	}
	/* SOURCE.txt: 80 civilian institutions, the rest defence-linked. */
	ck_assert_uint_eq(med, 80);
	ck_assert_uint_eq(high, 79);
	ck_assert_ptr_nonnull(beihang);
	ck_assert(has_alias(beihang, "北京航空航天大学"));
	ck_assert_str_eq(beihang->country, "CN");
	lists_free(l);
}
END_TEST

static const struct list_entry *find_name(const struct kvs_list *l,
					   const char *name)
{
	for (size_t i = 0; i < l->n_entries; i++)
		if (strcmp(l->entries[i].name, name) == 0)
			return &l->entries[i];
	return NULL;
}

START_TEST(table_formats)
{
	struct diags d = { "", 0 };
	struct kvs_list *l;
	const struct list_entry *e;

	/* DoD section 1260H: 397 rows; the footnote star is dropped. */
	l = load("table", "us-dod-1260h-chinese-military-companies/sanctions.csv", 1,
		 KVS_SEV_HIGH, &d);
	ck_assert_uint_eq(l->n_entries, 397);
	e = find_name(l, "360 Security Technology Inc. (Qihoo 360)");
	ck_assert_ptr_nonnull(e);
	ck_assert(has_alias(e, "Qihoo 360"));
	ck_assert_str_eq(e->id, "line 2");
	lists_free(l);
	/* DoD section 1286: 443 rows, "; "-separated aliases. */
	l = load("table", "us-dod-section-1286/section_1286.csv", 1, KVS_SEV_MEDIUM, &d);
	ck_assert_uint_eq(l->n_entries, 443);
	e = find_name(l, "Academy of Military Medical Sciences");
	ck_assert(has_alias(e, "AMMS"));
	ck_assert_ptr_nonnull(strstr(e->program, "Section 1286"));
	lists_free(l);
	/* BIS Denied Persons List, tab-separated: 665 rows. */
	l = load("table", "bis-denied-persons-2023/dpl.txt", 1, KVS_SEV_HIGH, &d);
	ck_assert_uint_eq(l->n_entries, 665);
	ck_assert_str_eq(l->entries[0].name, "I. ASH");
	ck_assert_str_eq(l->entries[0].country, "US");
	lists_free(l);
	ck_assert_int_eq(d.n, 0);
}
END_TEST


START_TEST(eu_fsf)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("eu_fsf", "tests/data/lists/eu_fsf.xml", 0, KVS_SEV_CRITICAL, &d);
	const struct list_entry *e;
	size_t persons = 0, entities = 0;

	/* make_eu_fsf.py: 83 listings of five regimes from the annexes. */
	ck_assert_uint_eq(l->n_entries, 83);
	ck_assert_int_eq(d.n, 0);
	ck_assert_str_eq(l->date, "2026-06-01T10:00:00.000+02:00");
	ck_assert_str_eq(l->version, "171234");
	for (size_t i = 0; i < l->n_entries; i++) {
		persons += strcmp(l->entries[i].kind, "person") == 0;
		entities += strcmp(l->entries[i].kind, "entity") == 0;
	}
	ck_assert_uint_eq(persons, 34);
	ck_assert_uint_eq(entities, 49);
	/* Russia/Ukraine, Reg. 269/2014: a person with aliases and a birth date. */
	e = find(l, "EU.269.1");
	ck_assert_str_eq(e->name, "Sergey Valeryevich AKSYONOV");
	ck_assert(has_alias(e, "Sergei Valerievich AKSENOV (Сергей Валерьевич АКСЁНОВ)"));
	ck_assert_str_eq(e->kind, "person");
	ck_assert_str_eq(e->birthdate, "1972-11-26");
	ck_assert_str_eq(e->program, "UKR Regulation 269/2014 (OJ L78)");
	ck_assert_ptr_nonnull(strstr(e->reason, "Prime Minister of Crimea"));
	ck_assert_int_eq(e->severity, KVS_SEV_CRITICAL);
	/* Reg. 833/2014 Annex IV: an enterprise, country from its address. */
	e = find_name(l, "Admiralty Shipyard JSC");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->kind, "entity");
	ck_assert_str_eq(e->country, "RU");
	ck_assert_ptr_null(e->nationality);
	ck_assert_str_eq(e->program, "RUS Regulation 833/2014 (OJ L229)");
	/* Iran: two birth years; DPRK: nationality from citizenship. */
	e = find_name(l, "Fereidoun Abbasi-Davani");
	ck_assert_str_eq(e->birthdate, "1958;1959");
	e = find_name(l, "Yun Ho-jin");
	ck_assert_str_eq(e->nationality, "KP");
	ck_assert_str_eq(e->country, "KP");
	ck_assert_str_eq(e->birthdate, "1944-10-13");
	ck_assert_ptr_nonnull(find_name(l, "Aliaksandr Piatrovich BARSUKOU"));
	lists_free(l);
}
END_TEST

START_TEST(eu_fsf_malformed)
{
	struct diags d = { "", 0 };
	struct lists_load_opts o = { .diag = collect, .diag_arg = &d };
	char *path = tu_src("tests/data/lists/bad_fsf_ns.xml"), *orig;
	char tmp[] = "/tmp/kvs-fsf-XXXXXX";
	struct kvs_list *l = NULL;
	const struct list_entry *e;
	FILE *f;
	int fd;

	/* Not the FSF namespace: refused, naming the root's line. */
	ck_assert_int_eq(lists_load_private("eu_fsf", path, "eu_fsf", KVS_SEV_HIGH, &o, &l),
			 -EINVAL);
	ck_assert_msg(strstr(d.text, "bad_fsf_ns.xml:3: root element <export> in no namespace, not <export> in "
			     "namespace http://eu.europa.ec/fpi/fsd/export") != NULL, "%s", d.text);
	free(path);
	/* The UN XML is not FSF either. */
	d.text[0] = '\0';
	path = tu_src("tests/data/lists/entity_un.xml");
	ck_assert_int_eq(lists_load_private("eu_fsf", path, "eu_fsf", KVS_SEV_HIGH, &o, &l),
			 -EINVAL);
	ck_assert_msg(strstr(d.text, "root element <CONSOLIDATED_LIST> in no namespace, not <export>") != NULL, "%s", d.text);
	free(path);
	/* An entry without a name is skipped with its line; names from
	 * firstName/lastName, the strong alias first, deduplicated codes. */
	d.text[0] = '\0';
	l = load("eu_fsf", "tests/data/lists/bad_fsf.xml", 0, KVS_SEV_HIGH, &d);
	ck_assert_str_eq(d.text, "bad_fsf.xml:3: sanctionEntity EU.7.1 without a name\n");
	ck_assert_uint_eq(l->n_entries, 2);
	e = find(l, "8");
	ck_assert_str_eq(e->name, "Ivan Ivanovich TESTOV");
	ck_assert(has_alias(e, "Ivan TESTOV"));
	ck_assert_str_eq(e->nationality, "RU;BY");
	ck_assert_str_eq(e->country, "RU");
	ck_assert_str_eq(e->birthdate, "1970;1971-02-03");
	ck_assert_str_eq(e->reason, "first remark");
	ck_assert_str_eq(find(l, "EU.9.1")->name, "Broken & Cut");
	lists_free(l);
	/* A file cut off in the middle is an XML error with its line. */
	path = tu_src("tests/data/lists/eu_fsf.xml");
	orig = tu_read_file(path);
	fd = mkstemp(tmp);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_uint_eq(fwrite(orig, 1, strlen(orig) / 2, f), strlen(orig) / 2);
	fclose(f);
	d.text[0] = '\0';
	ck_assert_int_eq(lists_load_private("eu_fsf", tmp, "eu_fsf", KVS_SEV_HIGH, &o, &l), -EINVAL);
	ck_assert_msg(strstr(d.text, ": XML error: ") != NULL, "%s", d.text);
	unlink(tmp);
	free(orig);
	free(path);
}
END_TEST

START_TEST(opensanctions)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("opensanctions", "tests/data/lists/opensanctions.csv", 0,
				  KVS_SEV_HIGH, &d);
	const struct list_entry *e;

	ck_assert_uint_eq(l->n_entries, 4);
	ck_assert_str_eq(d.text, "opensanctions.csv:6: empty name\n"
				 "opensanctions.csv:7: 6 fields where the header has 15\n");
	e = find(l, "NK-test-person-1");
	ck_assert_str_eq(e->name, "Ivan Ivanovich TESTOV");
	ck_assert(has_alias(e, "Иван Иванович ТЕСТОВ"));
	ck_assert(has_alias(e, "Ivan TESTOFF"));
	ck_assert_str_eq(e->kind, "person");
	ck_assert_str_eq(e->birthdate, "1971-02-03;1970");
	/* "suhh" (the Soviet Union) is no ISO 3166-1 code. */
	ck_assert_str_eq(e->nationality, "RU;BY");
	ck_assert_str_eq(e->country, "RU");
	ck_assert_str_eq(e->program, "EU Financial Sanctions Files (FSF);UK FCDO Sanctions List");
	ck_assert_str_eq(e->reason, "Asset freeze - EU - RUS - Regulation (EU) 269/2014");
	e = find(l, "NK-test-company-2");
	ck_assert_str_eq(e->kind, "entity");
	ck_assert(has_alias(e, "EDW JSC"));
	ck_assert_ptr_null(e->birthdate);
	ck_assert_str_eq(find(l, "NK-test-org-3")->kind, "entity");
	ck_assert_str_eq(find(l, "NK-test-vessel-4")->kind, "vessel");
	ck_assert_str_eq(find(l, "NK-test-vessel-4")->country, "KP");
	lists_free(l);
}
END_TEST

START_TEST(kvs_own_list)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("kvs", "conf/lists/institute-own.csv", 0,
				  KVS_SEV_HIGH, &d);

	ck_assert_uint_eq(l->n_entries, 2);
	ck_assert_int_eq(d.n, 0);
	ck_assert(has_alias(&l->entries[0], "EPT Trading"));
	ck_assert_int_eq(l->entries[1].severity, KVS_SEV_MEDIUM);
	lists_free(l);
}
END_TEST

START_TEST(kvs_malformed_rows)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("kvs", "tests/data/lists/bad_kvs.csv", 0,
				  KVS_SEV_HIGH, &d);

	ck_assert_uint_eq(l->n_entries, 1);
	ck_assert_str_eq(d.text,
		"bad_kvs.csv:3: severity \"severe\" is not one of info, low, medium, high, critical\n"
		"bad_kvs.csv:4: 2 fields where the header has 7\n"
		"bad_kvs.csv:5: unterminated quoted field\n");
	lists_free(l);
}
END_TEST

START_TEST(kvs_strict)
{
	struct diags d = { "", 0 };
	struct lists_load_opts o = { .strict = 1, .diag = collect, .diag_arg = &d };
	char *path = tu_src("tests/data/lists/bad_kvs.csv");
	struct kvs_list *l = NULL;

	ck_assert_int_eq(lists_load_private("kvs", path, "own", KVS_SEV_HIGH, &o, &l),
			 -EINVAL);
	ck_assert_int_eq(d.n, 4);
	free(path);
}
END_TEST

START_TEST(ofac_malformed_and_cp1252)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("ofac", "tests/data/lists/bad_sdn.csv", 0,
				  KVS_SEV_CRITICAL, &d);
	const struct list_entry *e;

	ck_assert_uint_eq(l->n_entries, 3);
	ck_assert_str_eq(d.text,
		"bad_sdn.csv:2: expected at least 4 fields starting with ent_num\n"
		"bad_sdn.csv:4: entry 174 has no name\n");
	/* Windows-1252 0xC9, 0xDC, 0x96 become UTF-8 É, Ü and an en dash. */
	e = find(l, "175");
	ck_assert_str_eq(e->name, "CAF\xc3\x89 M\xc3\x9cLLER \xe2\x80\x93 TEST");
	ck_assert(has_alias(e, "CAFE MUELLER"));
	ck_assert(has_alias(find(l, "36"), "AERO-CARIBBEAN"));
	lists_free(l);
}
END_TEST

START_TEST(un_malformed)
{
	struct diags d = { "", 0 };
	struct lists_load_opts o = { .diag = collect, .diag_arg = &d };
	char *path = tu_src("tests/data/lists/bad_un.xml");
	struct kvs_list *l = NULL;

	ck_assert_int_eq(lists_load_private("un", path, "un", KVS_SEV_HIGH, &o, &l),
			 -EINVAL);
	/* The streaming reader names the line of the mismatch. */
	ck_assert_msg(strstr(d.text, "bad_un.xml:0: XML error at line 5: Opening and ending tag "
			     "mismatch") != NULL, "%s", d.text);
	free(path);
	/* External entities are neither fetched nor expanded; an entry
	 * without a name is reported with its line and skipped. */
	d.text[0] = '\0';
	l = load("un", "tests/data/lists/entity_un.xml", 0, KVS_SEV_HIGH, &d);
	ck_assert_uint_eq(l->n_entries, 1);
	ck_assert_ptr_null(strstr(l->entries[0].name, "root"));
	ck_assert_str_eq(d.text, "entity_un.xml:5: INDIVIDUAL without a name\n");
	lists_free(l);
}
END_TEST

START_TEST(aspi_malformed)
{
	struct diags d = { "", 0 };
	struct kvs_list *l = load("aspi", "tests/data/lists/bad_aspi.json", 0,
				  KVS_SEV_MEDIUM, &d);

	ck_assert_uint_eq(l->n_entries, 1);
	ck_assert_str_eq(l->entries[0].name, "Good University");
	ck_assert(has_alias(&l->entries[0], "好大学"));
	ck_assert_int_eq(l->entries[0].severity, KVS_SEV_HIGH);
	ck_assert_str_eq(d.text, "bad_aspi.json:2: /values/1 has no \"value\" string\n");
	lists_free(l);
}
END_TEST

START_TEST(missing_file_and_format)
{
	struct diags d = { "", 0 };
	struct lists_load_opts o = { .diag = collect, .diag_arg = &d };
	struct kvs_list *l = NULL;

	ck_assert_int_eq(lists_load_private("kvs", "/nonexistent/x.csv", "x",
					    KVS_SEV_HIGH, &o, &l), -ENOENT);
	ck_assert_int_eq(lists_load_private("nope", "/etc/hostname", "x",
					    KVS_SEV_HIGH, &o, &l), -ENOTSUP);
	ck_assert_int_eq(lists_load_private("kvs", "/etc", "x", KVS_SEV_HIGH,
					    &o, &l), -EINVAL);
	ck_assert_ptr_null(l);
}
END_TEST

START_TEST(registry_shares)
{
	char *path = tu_src("tests/data/lists/good_kvs.csv");
	struct kvs_list *a = NULL, *b = NULL, *c = NULL;

	ck_assert_int_eq(lists_load("kvs", path, "own", KVS_SEV_HIGH, NULL, &a), 0);
	ck_assert_int_eq(lists_load("kvs", path, "own", KVS_SEV_HIGH, NULL, &b), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(a->refs, 2);
	/* Another name or severity is another list. */
	ck_assert_int_eq(lists_load("kvs", path, "own", KVS_SEV_LOW, NULL, &c), 0);
	ck_assert_ptr_ne(a, c);
	lists_release(a);
	lists_release(b);
	lists_release(c);
	free(path);
}
END_TEST

/* Mutated fixtures: every loader survives random damage (bytes replaced,
 * cut short, quotes and separators inserted), reporting or loading,
 * never crashing; the sanitizer run checks the memory accesses. */
START_TEST(mutations_never_crash)
{
	static const char *const fx[][2] = {
		{ "kvs", "conf/lists/institute-own.csv" },
		{ "ofac", "tests/data/lists/bad_sdn.csv" },
		{ "un", "tests/data/lists/entity_un.xml" },
		{ "aspi", "tests/data/lists/bad_aspi.json" },
		{ "table", "tests/data/lists/good_kvs.csv" },
		{ "csl", "tests/data/lists/good_kvs.csv" },
		{ "eu", "tests/data/lists/good_kvs.csv" },
		{ "eu_fsf", "tests/data/lists/bad_fsf.xml" },
		{ "opensanctions", "tests/data/lists/opensanctions.csv" },
	};
	static const char noise[] = "\",;\t\n\r<>&(){}[]\x1a\xff\xc3";
	char dir[] = "/tmp/kvs-lists-XXXXXX", path[64];
	unsigned seed = 12345;
	size_t loaded = 0, runs = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sdn.csv", dir);
	for (size_t f = 0; f < sizeof(fx) / sizeof(*fx); f++) {
		char *src = tu_src(fx[f][1]), *orig = tu_read_file(src);
		size_t n = strlen(orig);

		for (int round = 0; round < 200; round++) {
			char *b = malloc(n + 1);
			size_t len = n;
			struct kvs_list *l = NULL;
			FILE *out;

			memcpy(b, orig, n + 1);
			for (int k = 0; k < 1 + round % 8; k++) {
				size_t at = rand_r(&seed) % (len ? len : 1);

				b[at] = (rand_r(&seed) & 1) ? noise[rand_r(&seed) % (sizeof(noise) - 1)]
							   : (char)rand_r(&seed);
			}
			if (round % 5 == 0)
				len = rand_r(&seed) % (len + 1);
			out = fopen(path, "wb");
			ck_assert_ptr_nonnull(out);
			ck_assert_uint_eq(fwrite(b, 1, len, out), len);
			fclose(out);
			if (lists_load_private(fx[f][0], path, "m", KVS_SEV_HIGH, NULL, &l) == 0) {
				loaded++;
				lists_free(l);
			}
			runs++;
			free(b);
		}
		free(orig);
		free(src);
	}
	unlink(path);
	rmdir(dir);
	printf("mutated list files: %zu loads, %zu loaded\n", runs, loaded);
	ck_assert_uint_gt(loaded, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lists");
	TCase *real = tcase_create("real"), *bad = tcase_create("malformed");
	char probe[4096];

	snprintf(probe, sizeof(probe), "%s/INDEX.txt", shared_dir());

	if (access(probe, R_OK) == 0) {
		tcase_add_test(real, ofac_sdn);
		tcase_add_test(real, ofac_consolidated);
		tcase_add_test(real, csl);
		tcase_add_test(real, csl_strict_fails);
		tcase_add_test(real, un);
		tcase_add_test(real, eu);
		tcase_add_test(real, aspi);
		tcase_add_test(real, table_formats);
		suite_add_tcase(s, real);
	} else {
		fprintf(stderr, "shared/data not found: real-list tests skipped\n");
	}
	tcase_add_test(bad, kvs_own_list);
	tcase_add_test(bad, eu_fsf);
	tcase_add_test(bad, eu_fsf_malformed);
	tcase_add_test(bad, opensanctions);
	tcase_add_test(bad, kvs_malformed_rows);
	tcase_add_test(bad, kvs_strict);
	tcase_add_test(bad, ofac_malformed_and_cp1252);
	tcase_add_test(bad, un_malformed);
	tcase_add_test(bad, aspi_malformed);
	tcase_add_test(bad, missing_file_and_format);
	tcase_add_test(bad, registry_shares);
	tcase_add_test(bad, mutations_never_crash);
	suite_add_tcase(s, bad);
	return ck_main(s);
}
