/* namematch.c - name normalisation, similarity and the per-list name index.
 *
 * The index is built once by nm_index_build() on the loading thread and is
 * read-only afterwards; nm_match() keeps its working memory on the stack or
 * in a struct nm_scratch of the calling thread, so concurrent queries need
 * no lock.
 *
 * Where the time goes, and what keeps it down (tests/bench/README.md has
 * the figures): a name is normalised and its keys hashed once for all
 * lists (the scratch caches it); marking the names that share a key costs
 * one word per posting; the bound of a pattern of marks is computed once;
 * the candidates' tokens are stored side by side with a character set
 * that bounds Jaro matches, and Jaro-Winkler stops once the token floor is
 * out of reach.  None of this changes a result: every shortcut gives up
 * only on pairs or names that could not reach the floor or threshold, and
 * computes the others with the same arithmetic as before.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "namematch.h"

/* ---- Normalisation ------------------------------------------------------ */

/* Cyrillic (after case folding and mark stripping) to Latin, after the
 * common English-language (BGN/PCGN-like) romanisation. */
static const char *cyrillic_latin(uint32_t c)
{
	static const char *const basic[32] = {
		"a", "b", "v", "g", "d", "e", "zh", "z", "i", "y", "k", "l",
		"m", "n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch",
		"sh", "shch", "", "y", "", "e", "yu", "ya",
	};

	if (c >= 0x430 && c <= 0x44f)
		return basic[c - 0x430];
	switch (c) {
	case 0x450: case 0x451: return "e";     /* ѐ ё */
	case 0x452: return "dj";                /* ђ */
	case 0x453: return "g";                 /* ѓ */
	case 0x454: return "ye";                /* є */
	case 0x455: return "dz";                /* ѕ */
	case 0x456: case 0x457: return "i";     /* і ї */
	case 0x458: return "j";                 /* ј */
	case 0x459: return "lj";                /* љ */
	case 0x45a: return "nj";                /* њ */
	case 0x45b: return "c";                 /* ћ */
	case 0x45c: return "k";                 /* ќ */
	case 0x45d: return "i";                 /* ѝ */
	case 0x45e: return "u";                 /* ў */
	case 0x45f: return "dz";                /* џ */
	case 0x491: return "g";                 /* ґ */
	case 0x4e9: return "o";                 /* ө */
	case 0x4af: case 0x4b1: return "u";     /* ү ұ */
	case 0x493: return "g";                 /* ғ */
	case 0x49b: return "k";                 /* қ */
	case 0x4a3: return "n";                 /* ң */
	case 0x4bb: return "h";                 /* һ */
	case 0x4d9: return "a";                 /* ә */
	default: return NULL;
	}
}

/* Latin letters that Unicode does not decompose: ligatures and letters
 * with a stroke (after case folding). */
static const char *latin_letters(uint32_t c)
{
	switch (c) {
	case 0xe6: return "ae";     /* æ */
	case 0xf0: return "d";      /* ð */
	case 0xf8: return "o";      /* ø */
	case 0xfe: return "th";     /* þ */
	case 0x111: return "d";     /* đ */
	case 0x127: return "h";     /* ħ */
	case 0x131: return "i";     /* ı */
	case 0x142: return "l";     /* ł */
	case 0x153: return "oe";    /* œ */
	case 0x167: return "t";     /* ŧ */
	default: return NULL;
	}
}

/* Words dropped from names: legal forms and connectives.  They carry no
 * identity ("Huawei Technologies Co., Ltd." is "Huawei Technologies").
 * Sorted (strcmp) for bsearch; test_namematch checks the order. */
static const char *const dropped_words[] = {
	"ab", "ag", "aka", "akcionernoe", "aktsionernoe", "aktsionernogo",
	"aktsionernoye", "and", "ano", "ao", "aps", "as", "asa", "bhd", "bv",
	"bvba", "cjsc", "co", "company", "corp", "corporation", "cv", "cvba",
	"eirl", "eood", "et", "ev", "fgau", "fgbou", "fgbu", "fgbun", "fgu", "fgup",
	"fka", "for", "fzc", "fzco", "fze", "fzllc", "gbr", "ggmbh", "gmbh", "gup",
	"inc", "incorporated", "jsc", "kft", "kg", "kgaa", "kk", "limited", "llc",
	"llp", "lp", "ltd", "ltda", "mbh", "mup", "nao", "nka", "nko", "nv", "oao",
	"obschestvo", "obshchestva", "obshchestvo", "obshhestvo", "of",
	"ogranichennoi", "ogranichennoj", "ogranichennoy", "ohg", "ojsc", "ooo",
	"otkrytoe", "otkrytoye", "otvetstvennostiu", "otvetstvennostju",
	"otvetstvennostyu", "oy", "oyj", "pao", "pjsc", "plc", "pte", "pty",
	"publichnoe", "publichnoye", "pvt", "sa", "sae", "sal", "sarl", "sas",
	"sdn", "sp", "spa", "sprl", "srl", "tbk", "the", "tov", "tovarishchestvo",
	"tovarystvo", "ug", "und", "y", "zakrytoe", "zakrytoye", "zao",
};

/* Abbreviations and foreign forms mapped to one English word; sorted by
 * `from` for bsearch. */
static const struct word_pair { const char *from, *to; } word_map[] = {
	{ "acad", "academy" },
	{ "academia", "academy" },
	{ "academie", "academy" },
	{ "admin", "administration" },
	{ "adv", "advanced" },
	{ "aeronautics", "aeronautical" },
	{ "aerosp", "aerospace" },
	{ "agcy", "agency" },
	{ "akademie", "academy" },
	{ "akademii", "academy" },
	{ "akademiya", "academy" },
	{ "assn", "association" },
	{ "assoc", "association" },
	{ "astronautics", "astronautical" },
	{ "aviat", "aviation" },
	{ "bjudzhetnoe", "budgetary" },
	{ "bldg", "building" },
	{ "bur", "bureau" },
	{ "byudzhetnoe", "budgetary" },
	{ "byudzhetnoye", "budgetary" },
	{ "centre", "center" },
	{ "centro", "center" },
	{ "centrum", "center" },
	{ "chem", "chemical" },
	{ "coll", "college" },
	{ "comm", "communication" },
	{ "commun", "communication" },
	{ "constr", "construction" },
	{ "ctr", "center" },
	{ "daxue", "university" },
	{ "defence", "defense" },
	{ "dept", "department" },
	{ "dev", "development" },
	{ "devt", "development" },
	{ "div", "division" },
	{ "ecole", "school" },
	{ "educ", "education" },
	{ "elec", "electronic" },
	{ "electr", "electronic" },
	{ "electronics", "electronic" },
	{ "eng", "engineering" },
	{ "engg", "engineering" },
	{ "engr", "engineering" },
	{ "engrg", "engineering" },
	{ "equip", "equipment" },
	{ "etudes", "studies" },
	{ "fed", "federal" },
	{ "federalnoe", "federal" },
	{ "federalnoje", "federal" },
	{ "federalnoye", "federal" },
	{ "federalnyy", "federal" },
	{ "fondation", "foundation" },
	{ "forschung", "research" },
	{ "forschungs", "research" },
	{ "gesellschaft", "society" },
	{ "gosudarstvennoe", "state" },
	{ "gosudarstvennoje", "state" },
	{ "gosudarstvennoye", "state" },
	{ "gosudarstvenny", "state" },
	{ "gosudarstvennyi", "state" },
	{ "gosudarstvennyy", "state" },
	{ "gov", "government" },
	{ "govt", "government" },
	{ "grp", "group" },
	{ "hldgs", "holding" },
	{ "hochschule", "college" },
	{ "hogeschool", "college" },
	{ "holdings", "holding" },
	{ "hosp", "hospital" },
	{ "hq", "headquarters" },
	{ "imeni", "named" },
	{ "ind", "industry" },
	{ "industries", "industry" },
	{ "info", "information" },
	{ "inst", "institute" },
	{ "institut", "institute" },
	{ "instituta", "institute" },
	{ "institutes", "institute" },
	{ "institutet", "institute" },
	{ "instituto", "institute" },
	{ "instituut", "institute" },
	{ "instn", "institution" },
	{ "instytut", "institute" },
	{ "intl", "international" },
	{ "investigacion", "research" },
	{ "issledovatelskii", "research" },
	{ "issledovatelskiy", "research" },
	{ "issledovatelsky", "research" },
	{ "istituto", "institute" },
	{ "koncern", "concern" },
	{ "kontsern", "concern" },
	{ "lab", "laboratory" },
	{ "laboratoire", "laboratory" },
	{ "laboratories", "laboratory" },
	{ "laboratorio", "laboratory" },
	{ "laboratorium", "laboratory" },
	{ "laboratoriya", "laboratory" },
	{ "labs", "laboratory" },
	{ "mach", "machinery" },
	{ "machy", "machinery" },
	{ "med", "medical" },
	{ "mfg", "manufacturing" },
	{ "mfr", "manufacturing" },
	{ "mgmt", "management" },
	{ "nacional", "national" },
	{ "nat", "national" },
	{ "nationale", "national" },
	{ "natl", "national" },
	{ "natn", "national" },
	{ "natsionalnyi", "national" },
	{ "natsionalnyy", "national" },
	{ "nauchno", "science" },
	{ "nauchnoe", "science" },
	{ "nauchnoje", "science" },
	{ "nauchnoye", "science" },
	{ "nauchnyi", "science" },
	{ "nauchnyy", "science" },
	{ "nazionale", "national" },
	{ "obedinenie", "association" },
	{ "obyedineniye", "association" },
	{ "onderzoek", "research" },
	{ "org", "organization" },
	{ "organisation", "organization" },
	{ "orgn", "organization" },
	{ "phys", "physics" },
	{ "politechnika", "polytechnic" },
	{ "politecnico", "polytechnic" },
	{ "polytech", "polytechnic" },
	{ "polytechnical", "polytechnic" },
	{ "polytechnique", "polytechnic" },
	{ "predprijatie", "enterprise" },
	{ "predpriyatie", "enterprise" },
	{ "predpriyatiye", "enterprise" },
	{ "prod", "production" },
	{ "proizvodstvennoe", "production" },
	{ "proizvodstvennoje", "production" },
	{ "proizvodstvennoye", "production" },
	{ "recherche", "research" },
	{ "recherches", "research" },
	{ "res", "research" },
	{ "ricerca", "research" },
	{ "rijksuniversiteit", "university" },
	{ "sch", "school" },
	{ "sci", "science" },
	{ "sciences", "science" },
	{ "scientific", "science" },
	{ "scientifique", "science" },
	{ "shipbldg", "shipbuilding" },
	{ "soc", "society" },
	{ "societe", "society" },
	{ "staatlich", "state" },
	{ "staatliche", "state" },
	{ "stichting", "foundation" },
	{ "stiftung", "foundation" },
	{ "sys", "system" },
	{ "syst", "system" },
	{ "systems", "system" },
	{ "tech", "technology" },
	{ "techn", "technology" },
	{ "technik", "technology" },
	{ "technisch", "technical" },
	{ "technische", "technical" },
	{ "technol", "technology" },
	{ "technological", "technology" },
	{ "technologie", "technology" },
	{ "technologies", "technology" },
	{ "technologique", "technology" },
	{ "tekhnicheskii", "technical" },
	{ "tekhnicheskiy", "technical" },
	{ "tekhnologii", "technology" },
	{ "tekhnologiy", "technology" },
	{ "telecom", "telecommunication" },
	{ "telecommunications", "telecommunication" },
	{ "tsentr", "center" },
	{ "uchrezhdenie", "institution" },
	{ "uchrezhdenije", "institution" },
	{ "uchrezhdeniye", "institution" },
	{ "uni", "university" },
	{ "unitarnoe", "unitary" },
	{ "unitarnoye", "unitary" },
	{ "univ", "university" },
	{ "universidad", "university" },
	{ "universidade", "university" },
	{ "universita", "university" },
	{ "universitaet", "university" },
	{ "universitat", "university" },
	{ "universitatea", "university" },
	{ "universite", "university" },
	{ "universiteit", "university" },
	{ "universitet", "university" },
	{ "universiteta", "university" },
	{ "uniwersytet", "university" },
	{ "wetenschappen", "science" },
	{ "wissenschaft", "science" },
	{ "wissenschaften", "science" },
	{ "zavod", "plant" },
	{ "zentrum", "center" },
};

/* Boilerplate: words of official names that say what kind of body an
 * organisation is rather than which one ("Federal State Budgetary
 * Institution of Science", "named after", "National Research
 * University").  They stay in the name but weigh NM_BOILER_WEIGHT, less
 * than any word's inverse document frequency (at least ln 2), so a query
 * that covers a listed name's
 * distinctive words reaches it with or without them.  Sorted for bsearch;
 * words after the abbreviation map (its targets). */
static const char *const boiler_words[] = {
	"after", "autonomous", "budgetary", "closed", "commercial", "educational",
	"enterprise", "establishment", "federal", "higher", "holding",
	"institution", "joint", "liability", "named", "national", "non",
	"noncommercial", "open", "organization", "professional", "public",
	"research", "society", "state", "stock", "subsidiary", "unitary",
};

/* Boilerplate that also makes a name: "Caribe Holding" is the holding
 * of a group, "Caribe National" or "Caribe Research" a body of its own,
 * whereas "Joint Stock Company Caribe" is Caribe.  They weigh
 * NM_BOILER_WEIGHT like all boilerplate, but a query having one besides
 * a listed name of one distinctive word names something more specific
 * than it (score_ref).  Sorted for bsearch. */
static const char *const naming_boiler_words[] = {
	"holding", "national", "research",
};

/* Words that make a name an organisation's: only such names get their
 * initials indexed as an acronym.  Sorted for bsearch. */
static const char *const org_words[] = {
	"academy", "aerospace", "bureau", "center", "college", "concern",
	"engineering", "group", "industry", "institute", "laboratory",
	"polytechnic", "research", "school", "science", "technology",
	"university",
};

static int cmp_word(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

/* Whether a and b (NUL-terminated) are at most one substitution,
 * insertion, deletion or swap of neighbours apart. */
static int one_edit(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), i = 0;

	if (na > nb + 1 || nb > na + 1)
		return 0;
	while (i < na && i < nb && a[i] == b[i])
		i++;
	if (i == na || i == nb)
		return 1;
	if (na == nb)
		return strcmp(a + i + 1, b + i + 1) == 0 ||
		       (a[i] == b[i + 1] && a[i + 1] == b[i] &&
			strcmp(a + i + 2, b + i + 2) == 0);
	return na > nb ? strcmp(a + i + 1, b + i) == 0 : strcmp(a + i, b + i + 1) == 0;
}

/* Long legal forms that are also dropped when misspelt by one edit
 * ("Corpoartion", "Limtied"): too long to be another word. */
static const char *const dropped_long[] = {
	"company", "corporation", "incorporated", "limited",
};

static int is_dropped(const char *w)
{
	size_t n = strlen(w);

	if (n >= 6 && n <= 13 && w[0] >= 'a' && w[0] <= 'z')
		for (size_t i = 0; i < sizeof(dropped_long) / sizeof(*dropped_long); i++)
			if (w[0] == dropped_long[i][0] && one_edit(w, dropped_long[i]))
				return 1;

	return bsearch(w, dropped_words, sizeof(dropped_words) / sizeof(*dropped_words),
		       sizeof(*dropped_words), cmp_word) != NULL;
}

static const char *mapped(const char *w)
{
	const struct word_pair *p = bsearch(w, word_map,
					    sizeof(word_map) / sizeof(*word_map),
					    sizeof(*word_map), cmp_word);

	return p ? p->to : NULL;
}

static int in_table(const char *const *t, size_t n, const char *w)
{
	return bsearch(w, t, n, sizeof(*t), cmp_word) != NULL;
}

/* The ASCII word of a token in w (at least NM_MAX_TOKEN + 1 bytes), or 0
 * when it has other code points (no table holds such words). */
static int cps_ascii(const uint32_t *cp, size_t n, char *w)
{
	for (size_t i = 0; i < n; i++) {
		if (cp[i] >= 0x80)
			return 0;
		w[i] = (char)cp[i];
	}
	w[n] = '\0';
	return 1;
}

int nm_is_boilerplate(const uint32_t *cp, size_t n)
{
	char w[NM_MAX_TOKEN + 1];

	return n <= NM_MAX_TOKEN && cps_ascii(cp, n, w) &&
	       in_table(boiler_words, sizeof(boiler_words) / sizeof(*boiler_words), w);
}

/* 1 when the boilerplate token names a body of its own (see
 * naming_boiler_words). */
static int is_naming_boiler(const uint32_t *cp, size_t n)
{
	char w[NM_MAX_TOKEN + 1];

	return n <= NM_MAX_TOKEN && cps_ascii(cp, n, w) &&
	       in_table(naming_boiler_words,
			sizeof(naming_boiler_words) / sizeof(*naming_boiler_words), w);
}

static int is_org_word(const uint32_t *cp, size_t n)
{
	char w[NM_MAX_TOKEN + 1];

	return n <= NM_MAX_TOKEN && cps_ascii(cp, n, w) &&
	       in_table(org_words, sizeof(org_words) / sizeof(*org_words), w);
}

int nm_tables_sorted(void)
{
	for (size_t i = 1; i < sizeof(boiler_words) / sizeof(*boiler_words); i++)
		if (strcmp(boiler_words[i - 1], boiler_words[i]) >= 0)
			return 0;
	for (size_t i = 1; i < sizeof(org_words) / sizeof(*org_words); i++)
		if (strcmp(org_words[i - 1], org_words[i]) >= 0)
			return 0;
	for (size_t i = 0; i < sizeof(naming_boiler_words) / sizeof(*naming_boiler_words); i++)
		if ((i && strcmp(naming_boiler_words[i - 1], naming_boiler_words[i]) >= 0) ||
		    !in_table(boiler_words, sizeof(boiler_words) / sizeof(*boiler_words),
			      naming_boiler_words[i]))
			return 0;
	for (size_t i = 1; i < sizeof(dropped_words) / sizeof(*dropped_words); i++)
		if (strcmp(dropped_words[i - 1], dropped_words[i]) >= 0)
			return 0;
	for (size_t i = 1; i < sizeof(word_map) / sizeof(*word_map); i++)
		if (strcmp(word_map[i - 1].from, word_map[i].from) >= 0)
			return 0;
	return 1;
}

struct tokbuf {
	uint32_t cp[NM_MAX_TOKEN];
	size_t n;
	size_t seg;              /* letters since the token start or a dot */
	int abbr;                /* every segment so far is one letter */
};

/* Append the current token to out (unless empty); `drop` marks words that
 * are removed later when something else remains. */
static void emit(struct nm_name *out, struct tokbuf *t, uint8_t *drop)
{
	char w[NM_MAX_TOKEN * 4 + 1];
	size_t wl = 0;
	const char *m;

	if (t->n == 0)
		goto reset;
	if (out->n >= NM_MAX_TOKENS)
		goto reset;
	for (size_t i = 0; i < t->n; i++) {
		utf8proc_ssize_t k = utf8proc_encode_char(
		    (utf8proc_int32_t)t->cp[i], (utf8proc_uint8_t *)w + wl);

		wl += (size_t)k;
	}
	w[wl] = '\0';
	m = mapped(w);
	if (m) {
		size_t i;

		for (i = 0; m[i] && i < NM_MAX_TOKEN; i++)
			out->cp[out->n][i] = (unsigned char)m[i];
		out->len[out->n] = (uint8_t)i;
		drop[out->n] = 0;
	} else {
		memcpy(out->cp[out->n], t->cp, t->n * sizeof(uint32_t));
		out->len[out->n] = (uint8_t)t->n;
		drop[out->n] = (uint8_t)is_dropped(w);
	}
	out->n++;
reset:
	t->n = 0;
	t->seg = 0;
	t->abbr = 1;
}

static void put(struct tokbuf *t, uint32_t c)
{
	if (t->n < NM_MAX_TOKEN)
		t->cp[t->n++] = c;
	t->seg++;
}

static int is_alnum_cat(utf8proc_category_t k)
{
	switch (k) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
		return 1;
	default:
		return 0;
	}
}

/* Whether the code points cp spell the ASCII word w (of the same length). */
static int cps_is(const uint32_t *cp, const char *w)
{
	for (size_t i = 0; w[i]; i++)
		if (cp[i] != (unsigned char)w[i])
			return 0;
	return 1;
}

int nm_normalise(const char *s, size_t len, struct nm_name *out)
{
	return nm_normalise_ex(s, len, 0, out);
}

static int is_ascii(const char *s, size_t len)
{
	unsigned char any = 0;

	for (size_t i = 0; i < len; i++)
		any |= (unsigned char)s[i];
	return any < 0x80;
}

/* Case-folded, compatibility-decomposed, mark-stripped and recomposed code
 * points of s (len bytes, at most cap code points out) into buf; returns
 * how many or -EINVAL.  utf8proc maps every ASCII character to itself
 * except A-Z, which it folds (test_namematch checks both, and the output
 * for every listed name), so ASCII input skips it unless flags has
 * NM_NO_SHORTCUT. */
static utf8proc_ssize_t fold(const char *s, size_t len, unsigned flags,
			     utf8proc_int32_t *buf, utf8proc_ssize_t cap)
{
	const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPAT |
				      UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD |
				      UTF8PROC_STRIPMARK | UTF8PROC_IGNORE |
				      UTF8PROC_LUMP;
	utf8proc_ssize_t n = 0;
	int last_bc = 0;

	if (!(flags & NM_NO_SHORTCUT) && (utf8proc_ssize_t)len <= cap &&
	    is_ascii(s, len)) {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			buf[i] = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
		}
		return (utf8proc_ssize_t)len;
	}
	/* Decompose code point by code point, so invalid bytes are skipped
	 * rather than failing the whole name. */
	for (size_t i = 0; i < len;) {
		utf8proc_int32_t c;
		utf8proc_ssize_t r = utf8proc_iterate(
		    (const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i),
		    &c);

		if (r <= 0) {
			i++;
			continue;
		}
		i += (size_t)r;
		r = utf8proc_decompose_char(c, buf + n, cap - n, opt, &last_bc);
		if (r < 0 || r > cap - n)
			break;
		n += r;
	}
	n = utf8proc_normalize_utf32(buf, n, opt);
	return n < 0 ? -EINVAL : n;
}

/* Whether c, case-folded, is a letter or digit (the shortcut of ASCII
 * gives what utf8proc's categories give). */
static int is_alnum(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		       (c >= 'A' && c <= 'Z');
	return is_alnum_cat(utf8proc_category((utf8proc_int32_t)c));
}

int nm_normalise_ex(const char *s, size_t len, unsigned flags,
		    struct nm_name *out)
{
	int depth = 0;
	enum { CAP = 2048 };
	utf8proc_int32_t buf[CAP];
	utf8proc_ssize_t n;
	uint8_t drop[NM_MAX_TOKENS];
	struct tokbuf t = { .abbr = 1 };
	size_t o = 0, keep = 0, kept;

	out->n = 0;
	out->norm[0] = '\0';
	if (len > LISTS_MAX_NAME)
		len = LISTS_MAX_NAME;
	n = fold(s, len, flags, buf, CAP);
	if (n < 0)
		return -EINVAL;

	for (utf8proc_ssize_t i = 0; i < n; i++) {
		uint32_t c = (uint32_t)buf[i];
		const char *tr;

		if ((flags & NM_DROP_PARENS) && (c == '(' || c == '[')) {
			depth++;
			emit(out, &t, drop);
			continue;
		}
		if (depth > 0) {
			if (c == ')' || c == ']')
				depth--;
			continue;
		}
		if (c == '\'' || c == 0x2bc || c == 0x2b9)
			continue;
		if (c == '.') {
			if (t.n && t.seg == 1 && t.abbr) {
				t.seg = 0;
				continue;
			}
			emit(out, &t, drop);
			continue;
		}
		if (c >= 0x80 && ((tr = cyrillic_latin(c)) != NULL ||
				  (tr = latin_letters(c)) != NULL)) {
			for (; *tr; tr++)
				put(&t, (unsigned char)*tr);
			if (t.seg > 1)
				t.abbr = 0;
			continue;
		}
		if (is_alnum(c)) {
			put(&t, c);
			if (t.seg > 1)
				t.abbr = 0;
			continue;
		}
		emit(out, &t, drop);
	}
	emit(out, &t, drop);

	/* "Institution of Science" is one boilerplate phrase of Russian
	 * official names ("Federal State Budgetary Institution of
	 * Science"): its "science" names no field. */
	for (size_t i = 1, p = 0; i < out->n; p = drop[i] ? p : i, i++)
		if (out->len[i] == 7 && out->len[p] == 11 && !drop[p] &&
		    cps_is(out->cp[i], "science") &&
		    cps_is(out->cp[p], "institution"))
			drop[i] = 1;

	/* Drop legal forms and connectives unless nothing else is left. */
	for (size_t i = 0; i < out->n; i++)
		keep += !drop[i];
	if (keep) {
		kept = 0;
		for (size_t i = 0; i < out->n; i++) {
			if (drop[i])
				continue;
			if (kept != i) {
				memcpy(out->cp[kept], out->cp[i],
				       out->len[i] * sizeof(uint32_t));
				out->len[kept] = out->len[i];
			}
			kept++;
		}
		out->n = kept;
	}
	if (!out->n)
		return -EINVAL;
	for (size_t i = 0; i < out->n; i++) {
		for (size_t j = 0; j < out->len[i]; j++) {
			uint8_t u[4];
			utf8proc_ssize_t k = utf8proc_encode_char(
			    (utf8proc_int32_t)out->cp[i][j], u);

			if (o + (size_t)k + 2 > NM_MAX_NORM)
				goto done;
			memcpy(out->norm + o, u, (size_t)k);
			o += (size_t)k;
		}
		if (i + 1 < out->n && o + 2 < NM_MAX_NORM)
			out->norm[o++] = ' ';
	}
done:
	out->norm[o] = '\0';
	return 0;
}

/* ---- Similarity --------------------------------------------------------- */

/* The bit of code point c in a code_sig(): one each for a-z and 0-9, the
 * rest hashed onto the other 28. */
static uint64_t code_bit(uint32_t c)
{
	if (c >= 'a' && c <= 'z')
		return 1ull << (c - 'a');
	if (c >= '0' && c <= '9')
		return 1ull << (26 + c - '0');
	return 1ull << (36 + (c * 2654435761u >> 16) % 28);
}

/* The set of the code points of a token (its first NM_MAX_TOKEN).  A
 * character of a can only match one of b when its bit is in b's set, so
 * Jaro matches number at most popcount(sig_a & sig_b) plus the repeats
 * of a, na - popcount(sig_a) (sig_match_bound). */
static uint64_t code_sig(const uint32_t *s, size_t n)
{
	uint64_t sig = 0;

	if (n > NM_MAX_TOKEN)
		n = NM_MAX_TOKEN;
	for (size_t i = 0; i < n; i++)
		sig |= code_bit(s[i]);
	return sig;
}

/* Bits set in x (no popcnt instruction in the baseline x86-64 ISA, and the
 * library call costs more than this). */
static size_t popcount64(uint64_t x)
{
	x -= (x >> 1) & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (size_t)((x * 0x0101010101010101ull) >> 56);
}

/* The bound of code_sig() on the matches of tokens of na and nb code
 * points whose sets sa and sb have ka and kb bits. */
static size_t sig_match_bound(uint64_t sa, size_t ka, size_t na, uint64_t sb,
			      size_t kb, size_t nb)
{
	size_t both = popcount64(sa & sb);
	size_t ra = na - ka, rb = nb - kb;

	return both + (ra < rb ? ra : rb);
}

/* Jaro-Winkler of a and b when it may reach floor, else -1: gives up when
 * floor needs more matching characters than m_ub (a bound the caller
 * knows) or, during the scan, than the characters of a left can bring,
 * even without transpositions. */
static double jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b,
			   size_t nb, double floor, size_t m_ub)
{
	uint8_t ma[NM_MAX_TOKEN] = { 0 }, mb[NM_MAX_TOKEN] = { 0 };
	size_t m = 0, tr = 0, k = 0, win, prefix = 0, m_min = 0;
	double j;

	if (na > NM_MAX_TOKEN)
		na = NM_MAX_TOKEN;
	if (nb > NM_MAX_TOKEN)
		nb = NM_MAX_TOKEN;
	if (!na || !nb)
		return na == nb ? 1.0 : 0.0;
	while (prefix < 4 && prefix < na && prefix < nb && a[prefix] == b[prefix])
		prefix++;
	if (floor > 0) {
		/* The result is j + 0.1 * prefix * (1 - j) with the Jaro
		 * similarity j <= (m / na + m / nb + 1) / 3; the slack keeps
		 * rounding from giving up on a result at the floor. */
		double jn = (floor - 0.1 * (double)prefix) /
			    (1.0 - 0.1 * (double)prefix);
		double need = (3.0 * jn - 1.0) / (1.0 / (double)na + 1.0 / (double)nb) -
			      1e-6;

		if (need > (double)na || need > (double)m_ub)
			return -1.0;
		if (need > 0)
			m_min = (size_t)ceil(need);
	}
	win = (na > nb ? na : nb) / 2;
	win = win ? win - 1 : 0;
	for (size_t i = 0; i < na; i++) {
		size_t lo = i > win ? i - win : 0;
		size_t hi = i + win + 1 < nb ? i + win + 1 : nb;

		for (size_t x = lo; x < hi; x++) {
			if (!mb[x] && a[i] == b[x]) {
				ma[i] = mb[x] = 1;
				m++;
				break;
			}
		}
		if (m + (na - 1 - i) < m_min)
			return -1.0;
	}
	if (!m)
		return 0.0;
	for (size_t i = 0; i < na; i++) {
		if (!ma[i])
			continue;
		while (!mb[k])
			k++;
		if (a[i] != b[k])
			tr++;
		k++;
	}
	j = ((double)m / na + (double)m / nb + (double)(m - tr / 2) / m) / 3.0;
	return j + prefix * 0.1 * (1.0 - j);
}

double nm_jaro_winkler(const uint32_t *a, size_t na, const uint32_t *b,
		       size_t nb)
{
	return jaro_winkler(a, na, b, nb, 0, SIZE_MAX);
}

/* nm_token_similarity_min() knowing that at most m_ub characters can
 * match. */
static double token_similarity(const uint32_t *a, size_t na, const uint32_t *b,
			       size_t nb, double floor, size_t m_ub)
{
	size_t mx = na > nb ? na : nb, d = na > nb ? na - nb : nb - na;
	double scale, jw;

	if (!mx)
		return 1.0;
	if (na == nb && memcmp(a, b, na * sizeof(*a)) == 0)
		return 1.0;
	scale = 1.0 - 0.5 * (double)(d ? d - 1 : 0) / (double)mx;
	/* scale >= 0.5, so the result reaches floor only when Jaro-Winkler
	 * reaches (floor + 0.3 / mx) / scale. */
	jw = jaro_winkler(a, na, b, nb,
			  floor > 0 ? (floor + 0.3 / (double)mx) / scale - 1e-9 : 0,
			  m_ub);
	if (jw < 0)
		return -1.0;
	return jw * scale - 0.3 / (double)mx;
}

double nm_token_similarity_min(const uint32_t *a, size_t na,
			       const uint32_t *b, size_t nb, double floor)
{
	size_t ka = na < NM_MAX_TOKEN ? na : NM_MAX_TOKEN;
	size_t kb = nb < NM_MAX_TOKEN ? nb : NM_MAX_TOKEN;
	uint64_t sa = code_sig(a, ka), sb = code_sig(b, kb);

	return token_similarity(a, na, b, nb, floor,
				sig_match_bound(sa, popcount64(sa), ka,
						sb, popcount64(sb), kb));
}

double nm_token_similarity(const uint32_t *a, size_t na, const uint32_t *b,
			   size_t nb)
{
	return nm_token_similarity_min(a, na, b, nb, 0);
}

/* Upper bound of Jaro-Winkler for strings of these lengths whose first
 * characters differ (then there is no prefix bonus). */
static double jaro_bound(size_t na, size_t nb)
{
	double m = (double)(na < nb ? na : nb);

	return (m / na + m / nb + 1.0) / 3.0;
}

/* Upper bound of nm_token_similarity for tokens of these lengths, whose
 * first code points are equal or not. */
static double token_bound(size_t na, size_t nb, int same_first)
{
	size_t mx = na > nb ? na : nb, d = na > nb ? na - nb : nb - na;
	double j = jaro_bound(na, nb);

	if (same_first)
		j += 0.4 * (1.0 - j);
	return j * (1.0 - 0.5 * (double)(d ? d - 1 : 0) / (double)mx) -
	       0.3 / (double)mx;
}

/* ---- Index --------------------------------------------------------------- */

/* A slot of the interner's table: id + 1 (0: free) and the high half of
 * the string's hash, so most probes need not read the string. */
struct slot {
	uint32_t id1;
	uint32_t tag;
};

/* Interns code point strings: id -> (offset, length) in one pool, looked up
 * through an open-addressing table. */
struct interner {
	uint32_t *pool;
	size_t npool, cappool;
	uint32_t *off;
	uint8_t *len;
	size_t n, cap;
	struct slot *slots;
	size_t nslots;           /* power of two */
};

#define NKEYS 6

struct nm_tok {
	float w;                 /* inverse document frequency */
	uint32_t key[NKEYS];     /* blocking key ids */
	uint8_t boiler;          /* nm_is_boilerplate() */
};

/* Blocking keys of a token besides the token itself: its first four code
 * points; the first four left after deleting one of its first four, so two
 * tokens one edit apart (substitution, insertion, deletion or, through two
 * deletions, transposition) always share a key ("taesong" and "daesong"
 * give "aeso", "inest" and "invest" "ines", "dune" and "odune" "dune");
 * and a marker plus its first three consonants ("muhammad" and "mohammed"
 * give "mhm") for vowel variants of transliterated names.  Prefix and
 * deletion keys share one name space.  Each returns the number of code
 * points written to k (at most 4). */
static size_t key_prefix(const uint32_t *t, size_t n, uint32_t *k)
{
	size_t m = n < 4 ? n : 4;

	memcpy(k, t, m * sizeof(*k));
	return m;
}

static size_t key_skeleton(const uint32_t *t, size_t n, uint32_t *k)
{
	size_t m = 0;

	k[m++] = 1;
	for (size_t i = 0; i < n && m < 4; i++) {
		uint32_t c = t[i];

		if (i > 0 && (c == 'a' || c == 'e' || c == 'i' || c == 'o' ||
			      c == 'u' || c == 'y' || c == 'h' || c == 'w'))
			continue;
		if (m > 1 && k[m - 1] == c)
			continue;
		k[m++] = c;
	}
	return m;
}

/* The prefix key of t with its code point p deleted (p < 4), or 0 when t
 * is too short to have one. */
static size_t key_deletion(const uint32_t *t, size_t n, size_t p, uint32_t *k)
{
	size_t m = 0;

	if (n < 2 || p >= n || p >= 4)
		return 0;
	for (size_t i = 0; i < n && m < 4; i++)
		if (i != p)
			k[m++] = t[i];
	return m;
}

static size_t key_make(int kind, const uint32_t *t, size_t n, uint32_t *k)
{
	switch (kind) {
	case 0: return key_prefix(t, n, k);
	case 1: return key_skeleton(t, n, k);
	default: return key_deletion(t, n, (size_t)(kind - 2), k);
	}
}

struct nm_ref {
	uint32_t entry;
	uint32_t alias;          /* 0: primary name; i + 1: alias i */
	uint32_t tok;            /* first token id in name_toks */
	uint32_t ntok;
	float wsum;              /* sum of its token weights */
	uint8_t ndist;           /* distinctive (non-boilerplate) tokens,
				  * at most NM_MAX_TOKENS */
	uint8_t exact_only;      /* a vessel's or aircraft's name: only an
				  * exact match of the whole name counts */
	const char *norm;
};

/* A token of a listed name with what scoring reads of it, so that a name's
 * tokens lie side by side. */
struct nm_rtok {
	uint32_t id;             /* token id */
	float w;                 /* its weight, as tok[id].w */
	uint64_t sig;            /* code_sig() of its code points */
	uint32_t off;            /* its code points in toks.pool */
	uint32_t first;          /* its first code point */
	uint8_t len;             /* code points */
	uint8_t nsig;            /* bits set in sig */
	uint8_t boiler;          /* nm_is_boilerplate() */
};

struct nm_index {
	struct interner toks, pres;
	struct nm_tok *tok;
	struct nm_ref *refs;
	size_t nrefs, cap_refs;
	uint32_t *name_toks;             /* token ids of the names (build) */
	size_t n_name_toks, cap_name_toks;
	struct nm_rtok *rtok;            /* the same with their scoring data */
	uint32_t *tok_start, *tok_post;  /* CSR postings: token -> refs */
	uint32_t *pre_start, *pre_post;  /* prefix -> refs */
	float w_unknown;
	/* Bit nb of reach[na][same]: token_bound(na, nb, same) reaches
	 * NM_TOKEN_FLOOR, so tokens of these lengths may be similar. */
	uint64_t reach[NM_MAX_TOKEN + 1][2];
};

_Static_assert(NM_MAX_TOKEN < 64, "reach holds a bit per token length");

static uint64_t hash_cps(const uint32_t *k, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= k[i];
		h *= 1099511628211ULL;
	}
	return h ^ n;
}

static int cps_equal(const uint32_t *a, const uint32_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* Look up k (n code points, hash h = hash_cps(k, n)): 1 and *id when
 * found, else 0 and in *slot the free slot where it would go. */
static int intern_find(const struct interner *in, const uint32_t *k, size_t n,
		       uint64_t h, uint32_t *id, size_t *slot)
{
	size_t mask = in->nslots - 1, i;
	uint32_t tag = (uint32_t)(h >> 32);

	for (i = h & mask;; i = (i + 1) & mask) {
		uint32_t s = in->slots[i].id1;

		if (!s)
			break;
		if (in->slots[i].tag == tag && in->len[s - 1] == n &&
		    cps_equal(in->pool + in->off[s - 1], k, n)) {
			*id = s - 1;
			return 1;
		}
	}
	*slot = i;
	return 0;
}

/* 1 and *id when found; with insert, 0 and the new *id; -ENOENT; -ENOMEM. */
static int intern(struct interner *in, const uint32_t *k, size_t n,
		  int insert, uint32_t *id)
{
	size_t i;
	uint64_t h;

	if (!in->nslots) {
		if (!insert)
			return -ENOENT;
		in->nslots = 1024;
		in->slots = calloc(in->nslots, sizeof(*in->slots));
		if (!in->slots)
			return -ENOMEM;
	}
	h = hash_cps(k, n);
	if (intern_find(in, k, n, h, id, &i))
		return 1;
	if (!insert)
		return -ENOENT;
	if (in->n == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 1024;
		uint32_t *off = realloc(in->off, cap * sizeof(*off));
		uint8_t *len;

		if (!off)
			return -ENOMEM;
		in->off = off;
		len = realloc(in->len, cap);
		if (!len)
			return -ENOMEM;
		in->len = len;
		in->cap = cap;
	}
	if (in->npool + n > in->cappool) {
		size_t cap = in->cappool ? in->cappool * 2 : 8192;
		uint32_t *p;

		while (cap < in->npool + n)
			cap *= 2;
		p = realloc(in->pool, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		in->pool = p;
		in->cappool = cap;
	}
	memcpy(in->pool + in->npool, k, n * sizeof(*k));
	in->off[in->n] = (uint32_t)in->npool;
	in->len[in->n] = (uint8_t)n;
	in->npool += n;
	in->slots[i].id1 = (uint32_t)(in->n + 1);
	in->slots[i].tag = (uint32_t)(h >> 32);
	*id = (uint32_t)in->n++;
	/* Keep the load factor under one half. */
	if (in->n * 2 > in->nslots) {
		size_t ns = in->nslots * 2;
		struct slot *sl = calloc(ns, sizeof(*sl));

		if (!sl)
			return -ENOMEM;
		for (size_t x = 0; x < in->n; x++) {
			uint64_t hx = hash_cps(in->pool + in->off[x], in->len[x]);
			size_t j = hx & (ns - 1);

			while (sl[j].id1)
				j = (j + 1) & (ns - 1);
			sl[j].id1 = (uint32_t)(x + 1);
			sl[j].tag = (uint32_t)(hx >> 32);
		}
		free(in->slots);
		in->slots = sl;
		in->nslots = ns;
	}
	return 0;
}

static void interner_free(struct interner *in)
{
	free(in->pool);
	free(in->off);
	free(in->len);
	free(in->slots);
}

void nm_index_free(struct nm_index *ix)
{
	if (!ix)
		return;
	interner_free(&ix->toks);
	interner_free(&ix->pres);
	free(ix->tok);
	free(ix->refs);
	free(ix->name_toks);
	free(ix->rtok);
	free(ix->tok_start);
	free(ix->tok_post);
	free(ix->pre_start);
	free(ix->pre_post);
	free(ix);
}

/* Add one normalised form of a name of entry e to the index (pass 1). */
static int index_form(struct kvs_list *l, struct nm_index *ix, uint32_t e,
		      uint32_t alias, const char *name, unsigned flags,
		      struct nm_name *nn)
{
	struct nm_ref *r;
	int rc;

	if (nm_normalise_ex(name, strlen(name), flags, nn) < 0)
		return 0;        /* nothing matchable in this name */
	if (ix->nrefs == ix->cap_refs) {
		size_t cap = ix->cap_refs ? ix->cap_refs * 2 : 1024;
		struct nm_ref *v = realloc(ix->refs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ix->refs = v;
		ix->cap_refs = cap;
	}
	if (ix->n_name_toks + nn->n > ix->cap_name_toks) {
		size_t cap = ix->cap_name_toks ? ix->cap_name_toks * 2 : 4096;
		uint32_t *v = realloc(ix->name_toks, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ix->name_toks = v;
		ix->cap_name_toks = cap;
	}
	r = &ix->refs[ix->nrefs];
	r->entry = e;
	r->alias = alias;
	r->tok = (uint32_t)ix->n_name_toks;
	r->ntok = (uint32_t)nn->n;
	r->norm = lists_strdup(l, nn->norm);
	if (!r->norm)
		return -ENOMEM;
	for (size_t i = 0; i < nn->n; i++) {
		uint32_t id;

		rc = intern(&ix->toks, nn->cp[i], nn->len[i], 1, &id);
		if (rc < 0)
			return rc;
		ix->name_toks[ix->n_name_toks++] = id;
	}
	ix->nrefs++;
	return 0;
}

/* The initials of an organisation's name nn ("university science
 * technology china" -> "ustc") into buf (NM_ACRONYM_MAX + 1 bytes), or 0
 * when it has none: fewer than NM_ACRONYM_MIN or more than NM_ACRONYM_MAX
 * words, no word saying it is an organisation, or a word not starting
 * with a Latin letter. */
static int initials(const struct nm_name *nn, char *buf)
{
	int org = 0;

	if (nn->n < NM_ACRONYM_MIN || nn->n > NM_ACRONYM_MAX)
		return 0;
	for (size_t i = 0; i < nn->n; i++) {
		uint32_t c = nn->cp[i][0];

		if (c < 'a' || c > 'z')
			return 0;
		buf[i] = (char)c;
		org |= is_org_word(nn->cp[i], nn->len[i]);
	}
	buf[nn->n] = '\0';
	return org;
}

/* Index a name; a name with a parenthesised part ("National University of
 * Defense Technology (NUDT)") is also indexed without it, and the part on
 * its own when it is a word of three or more characters (an acronym).  An
 * organisation's name is also indexed under its initials, which only an
 * exact one-word query reaches (score_ref). */
static int index_name(struct kvs_list *l, struct nm_index *ix, uint32_t e,
		      uint32_t alias, const char *name, struct nm_name *nn)
{
	const char *open = strchr(name, '('), *close;
	char acr[NM_ACRONYM_MAX + 1];
	int rc = index_form(l, ix, e, alias, name, open ? NM_DROP_PARENS : 0, nn);

	if (rc == 0 && nn->n && initials(nn, acr))
		rc = index_form(l, ix, e, alias, acr, 0, nn);
	if (rc < 0 || !open)
		return rc;
	rc = index_form(l, ix, e, alias, name, 0, nn);
	close = strchr(open, ')');
	if (rc == 0 && close && close - open > 3 && close - open < 40 &&
	    !memchr(open + 1, ' ', (size_t)(close - open - 1))) {
		char part[40];

		memcpy(part, open + 1, (size_t)(close - open - 1));
		part[close - open - 1] = '\0';
		rc = index_form(l, ix, e, alias, part, 0, nn);
	}
	return rc;
}

/* Build CSR postings key -> refs from the per-ref key lists; `key_of` maps
 * a token id to the key (token itself or its prefix). */
static int build_postings(struct nm_index *ix, size_t nkeys, int prefix,
			  uint32_t **startp, uint32_t **postp)
{
	uint32_t *start = calloc(nkeys + 1, sizeof(uint32_t));
	uint32_t *fill = NULL, *post = NULL;
	size_t total = 0;

	if (!start)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t r = 0; r < ix->nrefs; r++) {
			const struct nm_ref *ref = &ix->refs[r];

			for (uint32_t x = 0; x < ref->ntok * (prefix ? NKEYS : 1u); x++) {
				uint32_t i = prefix ? x / NKEYS : x;
				uint32_t t = ix->name_toks[ref->tok + i];
				uint32_t k = !prefix ? t : ix->tok[t].key[x % NKEYS];
				int dup = 0;

				for (uint32_t y = 0; y < x && !dup; y++) {
					uint32_t t2 = ix->name_toks[ref->tok + (prefix ? y / NKEYS : y)];

					dup = (!prefix ? t2 : ix->tok[t2].key[y % NKEYS]) == k;
				}
				if (dup)
					continue;
				if (pass == 0)
					start[k + 1]++;
				else
					post[fill[k]++] = (uint32_t)r;
			}
		}
		if (pass == 0) {
			for (size_t k = 0; k < nkeys; k++)
				start[k + 1] += start[k];
			total = start[nkeys];
			post = malloc((total ? total : 1) * sizeof(uint32_t));
			fill = malloc((nkeys ? nkeys : 1) * sizeof(uint32_t));
			if (!post || !fill) {
				free(post);
				free(fill);
				free(start);
				return -ENOMEM;
			}
			memcpy(fill, start, nkeys * sizeof(uint32_t));
		}
	}
	free(fill);
	*startp = start;
	*postp = post;
	return 0;
}

int nm_index_build(struct kvs_list *l, struct nm_index **out)
{
	struct nm_index *ix = calloc(1, sizeof(*ix));
	struct nm_name *nn = malloc(sizeof(*nn));
	int rc = -ENOMEM;

	*out = NULL;
	if (!ix || !nn)
		goto fail;
	for (size_t e = 0; e < l->n_entries; e++) {
		const struct list_entry *en = &l->entries[e];

		rc = index_name(l, ix, (uint32_t)e, 0, en->name, nn);
		for (size_t a = 0; rc == 0 && a < en->n_aliases; a++)
			rc = index_name(l, ix, (uint32_t)e, (uint32_t)a + 1,
					en->aliases[a], nn);
		if (rc < 0)
			goto fail;
	}
	rc = -ENOMEM;
	ix->tok = calloc(ix->toks.n ? ix->toks.n : 1, sizeof(*ix->tok));
	if (!ix->tok)
		goto fail;
	for (size_t t = 0; t < ix->toks.n; t++) {
		const uint32_t *cp = ix->toks.pool + ix->toks.off[t];
		uint32_t k[4];

		for (int kind = 0; kind < NKEYS; kind++) {
			size_t n = key_make(kind, cp, ix->toks.len[t], k);

			/* A token too short for a deletion key uses its
			 * prefix key again (deduplicated per name). */
			if (!n)
				n = key_prefix(cp, ix->toks.len[t], k);
			rc = intern(&ix->pres, k, n, 1, &ix->tok[t].key[kind]);
			if (rc < 0)
				goto fail;
		}
	}
	rc = build_postings(ix, ix->toks.n, 0, &ix->tok_start, &ix->tok_post);
	if (rc < 0)
		goto fail;
	rc = build_postings(ix, ix->pres.n, 1, &ix->pre_start, &ix->pre_post);
	if (rc < 0)
		goto fail;
	for (size_t t = 0; t < ix->toks.n; t++) {
		double df = ix->tok_start[t + 1] - ix->tok_start[t];

		ix->tok[t].w = (float)log(1.0 + (double)ix->nrefs / df);
		ix->tok[t].boiler = (uint8_t)nm_is_boilerplate(
		    ix->toks.pool + ix->toks.off[t], ix->toks.len[t]);
		if (ix->tok[t].boiler)
			ix->tok[t].w = (float)NM_BOILER_WEIGHT;
	}
	ix->w_unknown = (float)log(1.0 + (double)ix->nrefs / 0.5);
	for (size_t na = 1; na <= NM_MAX_TOKEN; na++)
		for (int same = 0; same < 2; same++)
			for (size_t nb = 1; nb <= NM_MAX_TOKEN; nb++)
				if (!(token_bound(na, nb, same) < NM_TOKEN_FLOOR))
					ix->reach[na][same] |= 1ull << nb;
	for (size_t r = 0; r < ix->nrefs; r++) {
		struct nm_ref *ref = &ix->refs[r];
		const char *kind = l->entries[ref->entry].kind;
		uint32_t nd = 0;

		ref->wsum = 0;
		for (uint32_t j = 0; j < ref->ntok; j++) {
			const struct nm_tok *t = &ix->tok[ix->name_toks[ref->tok + j]];

			ref->wsum += t->w;
			nd += !t->boiler;
		}
		ref->ndist = (uint8_t)(nd < NM_MAX_TOKENS ? nd : NM_MAX_TOKENS);
		ref->exact_only = kind && (strcmp(kind, "vessel") == 0 ||
					   strcmp(kind, "aircraft") == 0);
	}
	rc = -ENOMEM;
	ix->rtok = malloc((ix->n_name_toks ? ix->n_name_toks : 1) *
			  sizeof(*ix->rtok));
	if (!ix->rtok)
		goto fail;
	for (size_t j = 0; j < ix->n_name_toks; j++) {
		struct nm_rtok *t = &ix->rtok[j];
		uint32_t id = ix->name_toks[j];

		t->id = id;
		t->w = ix->tok[id].w;
		t->off = ix->toks.off[id];
		t->len = ix->toks.len[id];
		t->first = ix->toks.pool[t->off];
		t->sig = code_sig(ix->toks.pool + t->off, t->len);
		t->nsig = (uint8_t)popcount64(t->sig);
		t->boiler = ix->tok[id].boiler;
	}
	/* Matching reads the tokens of names from rtok only. */
	free(ix->name_toks);
	ix->name_toks = NULL;
	free(nn);
	*out = ix;
	return 0;
fail:
	free(nn);
	nm_index_free(ix);
	return rc;
}

/* ---- Matching ------------------------------------------------------------ */

/* A query token prepared once for all lists: its hash and blocking keys
 * (klen 0: no key of that kind). */
struct qtok {
	int boiler;              /* nm_is_boilerplate() */
	int naming;              /* is_naming_boiler() */
	uint64_t hash;
	uint64_t sig;            /* code_sig() */
	size_t nsig;             /* bits set in sig */
	uint64_t khash[NKEYS];
	uint32_t key[NKEYS][4];
	uint8_t klen[NKEYS];
};

/* A normalised name prepared for matching against any number of lists. */
struct prepared {
	const struct nm_name *q;
	struct qtok tok[NM_MAX_TOKENS];
};

static void prepare(const struct nm_name *q, struct prepared *p)
{
	p->q = q;
	for (size_t i = 0; i < q->n; i++) {
		struct qtok *t = &p->tok[i];

		t->boiler = nm_is_boilerplate(q->cp[i], q->len[i]);
		t->naming = t->boiler && is_naming_boiler(q->cp[i], q->len[i]);
		t->hash = hash_cps(q->cp[i], q->len[i]);
		t->sig = code_sig(q->cp[i], q->len[i]);
		t->nsig = popcount64(t->sig);
		for (int kind = 0; kind < NKEYS; kind++) {
			t->klen[kind] = (uint8_t)key_make(kind, q->cp[i],
							  q->len[i], t->key[kind]);
			t->khash[kind] = hash_cps(t->key[kind], t->klen[kind]);
		}
	}
}

/* 1 and *id when the interner holds k (hash h), else 0. */
static int lookup(const struct interner *in, const uint32_t *k, size_t n,
		  uint64_t h, uint32_t *id)
{
	size_t slot;

	return in->nslots && intern_find(in, k, n, h, id, &slot);
}

/* A prepared name against one list. */
struct query {
	const struct prepared *p;
	uint32_t tid[NM_MAX_TOKENS];     /* token id or UINT32_MAX */
	float w[NM_MAX_TOKENS];
	double wsum;
	size_t ndist;                    /* distinctive (non-boilerplate) tokens */
};

/* Token similarities of one nm_match() call, by query token and listed
 * token (direct-mapped, so a collision only costs a recomputation); an
 * entry is valid when its gen is the call's. */
struct nm_simmemo {
	uint32_t key;            /* token id * NM_MAX_TOKENS + query token */
	uint32_t gen;
	double s;                /* token_similarity() at NM_TOKEN_FLOOR */
};

#define SIMMEMO_BITS 10

/* nm_token_similarity_min(query token i, t, NM_TOKEN_FLOOR), remembered in
 * memo for the other names with token t. */
static double memo_similarity(const struct nm_index *ix, const struct query *qq,
			      size_t i, const struct nm_rtok *t,
			      struct nm_simmemo *memo, uint32_t gen)
{
	const struct nm_name *q = qq->p->q;
	const struct qtok *qt = &qq->p->tok[i];
	uint32_t key = t->id * NM_MAX_TOKENS + (uint32_t)i;
	struct nm_simmemo *e = &memo[(key * 0x9e3779b1u) >> (32 - SIMMEMO_BITS)];

	if (e->gen != gen || e->key != key) {
		e->key = key;
		e->gen = gen;
		e->s = token_similarity(q->cp[i], q->len[i],
					ix->toks.pool + t->off, t->len,
					NM_TOKEN_FLOOR,
					sig_match_bound(qt->sig, qt->nsig, q->len[i],
							t->sig, t->nsig, t->len));
	}
	return e->s;
}

/* Least similarity of a pair of distinctive words when either name has
 * only one (a lone word is the whole identity): that of two one-word
 * names, NM_SINGLE_FLOOR, and equality when either word has at most
 * NM_ACRONYM_EXACT code points (CARIBE / CARIBO, USTC / UESTC). */
static double lone_floor(size_t na, size_t nb)
{
	return na <= NM_ACRONYM_EXACT || nb <= NM_ACRONYM_EXACT ? 1.0 :
	       NM_SINGLE_FLOOR;
}

/* Score one name: sets the coverage of the query and of the name.  Rules
 * that only lower a score (so the candidate bounds stay bounds):
 * - where the query or the name has one distinctive word, distinctive
 *   words pair only at lone_floor(); a name or query of boilerplate only
 *   counts all its words as distinctive;
 * - a name of one distinctive word scores at most NM_WEAK_SCORE when the
 *   query has a word it does not cover other than boilerplate of official
 *   forms ("Caribe Holding" vs CARIBE; "Joint Stock Company X" is X);
 * - a vessel's or aircraft's name scores at most NM_WEAK_SCORE unless
 *   every word on both sides is matched exactly. */
static double score_ref(const struct nm_index *ix, const struct query *qq,
			const struct nm_ref *r, struct nm_simmemo *memo,
			uint32_t gen, double *cov_q, double *cov_c)
{
	const struct nm_name *q = qq->p->q;
	const struct qtok *qt = qq->p->tok;
	const struct nm_rtok *rt = ix->rtok + r->tok;
	double bq[NM_MAX_TOKENS] = { 0 }, bc[NM_MAX_TOKENS] = { 0 };
	double nq = 0, nc_sum = 0, wc = 0, s;
	uint32_t nc = r->ntok < NM_MAX_TOKENS ? r->ntok : NM_MAX_TOKENS;
	/* Which words are distinctive: all when a side has no other. */
	int qall = qq->ndist == 0, call = r->ndist == 0;
	size_t dq = qall ? q->n : qq->ndist, dc = call ? nc : r->ndist;
	int lone = dq == 1 || dc == 1, exact = 1, weak = 0;

	for (uint32_t j = 0; j < nc; j++) {
		const struct nm_rtok *t = &rt[j];
		int cdist = call || !t->boiler;

		for (size_t i = 0; i < q->n; i++) {
			double sim;

			if (qq->tid[i] == t->id) {
				sim = 1.0;
			} else {
				double floor = lone && cdist && (qall || !qt[i].boiler) ?
					lone_floor(q->len[i], t->len) : NM_TOKEN_FLOOR;

				if (!(ix->reach[q->len[i]][q->cp[i][0] == t->first] >>
				      t->len & 1))
					continue;
				/* At NM_TOKEN_FLOOR, exact down to it, so
				 * also right for the higher floors. */
				sim = memo_similarity(ix, qq, i, t, memo, gen);
				if (sim < floor)
					continue;
			}
			if (sim > bq[i])
				bq[i] = sim;
			if (sim > bc[j])
				bc[j] = sim;
		}
	}
	for (size_t i = 0; i < q->n; i++) {
		nq += qq->w[i] * bq[i];
		exact &= bq[i] == 1.0;
		weak |= bq[i] == 0 && (!qt[i].boiler || qt[i].naming);
	}
	for (uint32_t j = 0; j < nc; j++) {
		float w = rt[j].w;

		nc_sum += w * bc[j];
		wc += w;
		exact &= bc[j] == 1.0;
	}
	*cov_q = qq->wsum > 0 ? nq / qq->wsum : 0;
	*cov_c = wc > 0 ? nc_sum / wc : 0;
	s = NM_QUERY_SHARE * *cov_q + (1.0 - NM_QUERY_SHARE) * *cov_c;
	if (((weak && dc == 1) || (r->exact_only && !exact)) && s > NM_WEAK_SCORE)
		s = NM_WEAK_SCORE;
	return s;
}

/* Insert a hit into hits[0..*n) of capacity max, ordered by score and then
 * by entry (list order), so the result does not depend on visiting order. */
static void keep_hit(struct nm_hit *hits, size_t *n, size_t max,
		     const struct nm_hit *h)
{
	size_t i;

	if (!max)
		return;
	if (*n == max) {
		const struct nm_hit *w = &hits[max - 1];

		if (w->score > h->score ||
		    (w->score == h->score && w->entry < h->entry))
			return;
		(*n)--;
	}
	for (i = *n; i > 0 && (hits[i - 1].score < h->score ||
			       (hits[i - 1].score == h->score &&
				hits[i - 1].entry > h->entry)); i--)
		hits[i] = hits[i - 1];
	hits[i] = *h;
	(*n)++;
}

/* Set bit on every ref of one posting list in m, appending the refs not
 * marked before to touched (which has room for one more than there are
 * refs). */
static void mark(uint32_t *m, uint32_t *touched, size_t *nt,
		 const uint32_t *p, const uint32_t *e, uint32_t bit)
{
	size_t n = *nt;

	for (; p < e; p++) {
		uint32_t r = *p, old = m[r];

		touched[n] = r;
		n += !old;
		m[r] = old | bit;
	}
	*nt = n;
}

void nm_scratch_fini(struct nm_scratch *sc)
{
	free(sc->mark);
	free(sc->cand);
	free(sc->bitmap);
	free(sc->memo);
	free(sc->qc);
	memset(sc, 0, sizeof(*sc));
}

/* Make sc hold at least n marks and bits (zeroed) and n + 1 candidates;
 * keeps its cached name. */
static int scratch_reserve(struct nm_scratch *sc, size_t n)
{
	uint32_t *m, *c;
	uint64_t *b;

	if (!sc->memo) {
		sc->memo = calloc((size_t)1 << SIMMEMO_BITS, sizeof(*sc->memo));
		if (!sc->memo)
			return -ENOMEM;
	}
	if (sc->cap >= n)
		return 0;
	m = calloc(n, sizeof(*m));
	c = malloc((n + 1) * sizeof(*c));
	b = calloc((n + 63) / 64, sizeof(*b));
	if (!m || !c || !b) {
		free(m);
		free(c);
		free(b);
		return -ENOMEM;
	}
	free(sc->mark);
	free(sc->cand);
	free(sc->bitmap);
	sc->mark = m;
	sc->cand = c;
	sc->bitmap = b;
	sc->cap = n;
	return 0;
}

/* The posting lists the query tokens follow, and what the candidate
 * bound counts for the tokens with a key not followed. */
struct follow {
	const uint32_t *ps[NM_MAX_TOKENS][NKEYS + 1];  /* NULL: not followed */
	const uint32_t *pe[NM_MAX_TOKENS][NKEYS + 1];
	int big[NM_MAX_TOKENS];  /* the token has a key not followed */
	int all;                 /* every key is followed */
	double big_w;            /* the weight of the big tokens */
};

/* Which posting lists to follow.  Keys held by more than NM_MAX_POSTING
 * names are not followed unless the query tokens having them could reach
 * the threshold on their own.  A token's own list is a subset of its
 * prefix key's (every name with the token has its prefix), and one key
 * may come twice (two deletions giving the same prefix): such lists are
 * left out, which changes no mark. */
static void follow_keys(const struct nm_index *ix, const struct query *qq,
			double threshold, struct follow *f)
{
	const struct nm_name *q = qq->p->q;
	uint32_t ids[NKEYS];

	f->big_w = 0;
	for (size_t i = 0; i < q->n; i++) {
		const struct qtok *t = &qq->p->tok[i];

		f->big[i] = 0;
		for (int kind = 0; kind <= NKEYS; kind++) {
			uint32_t id;
			int dup = 0;

			f->ps[i][kind] = f->pe[i][kind] = NULL;
			if (kind == NKEYS) {
				if (qq->tid[i] == UINT32_MAX)
					continue;
				f->ps[i][kind] = ix->tok_post + ix->tok_start[qq->tid[i]];
				f->pe[i][kind] = ix->tok_post + ix->tok_start[qq->tid[i] + 1];
			} else {
				if (!t->klen[kind] ||
				    !lookup(&ix->pres, t->key[kind], t->klen[kind],
					    t->khash[kind], &id))
					continue;
				ids[kind] = id;
				for (int k = 0; k < kind && !dup; k++)
					dup = f->ps[i][k] && ids[k] == id;
				f->ps[i][kind] = ix->pre_post + ix->pre_start[id];
				f->pe[i][kind] = ix->pre_post + ix->pre_start[id + 1];
			}
			if (f->pe[i][kind] - f->ps[i][kind] > NM_MAX_POSTING)
				f->big[i] = 1;
			if (dup)
				f->ps[i][kind] = NULL;
		}
		if (f->big[i])
			f->big_w += qq->w[i];
	}
	f->all = NM_QUERY_SHARE * f->big_w / qq->wsum +
		 (1.0 - NM_QUERY_SHARE) >= threshold - 1e-9;
	for (size_t i = 0; i < q->n; i++) {
		for (int kind = 0; kind <= NKEYS; kind++)
			if (f->ps[i][kind] && !f->all &&
			    f->pe[i][kind] - f->ps[i][kind] > NM_MAX_POSTING)
				f->ps[i][kind] = NULL;
		if (f->ps[i][0])
			f->ps[i][NKEYS] = NULL;
	}
}

/* Whether a name marked by the query tokens in bits may reach the
 * threshold: every name token matched, and of the query tokens those that
 * marked it plus those with a key not followed (which may match any
 * name). */
static int bound_reaches(const struct query *qq, const struct follow *f,
			 uint32_t bits, double threshold)
{
	size_t n = qq->p->q->n;
	float w = 0;
	double hw;

	for (size_t i = 0; i < n; i++)
		if (bits & (1u << i))
			w += qq->w[i];
	hw = w;
	for (size_t i = 0; !f->all && f->big_w > 0 && i < n; i++)
		if (f->big[i] && !(bits & (1u << i)))
			hw += qq->w[i];
	return NM_QUERY_SHARE * hw / qq->wsum +
	       (1.0 - NM_QUERY_SHARE) >= threshold - 1e-9;
}

/* Sort the n distinct refs in cand (all under nrefs) ascending: a few by
 * insertion, many through the bitmap (all zero, left so). */
static void sort_refs(uint32_t *cand, size_t n, size_t nrefs, uint64_t *bitmap)
{
	size_t k = 0;

	if (n <= 32) {
		for (size_t c = 1; c < n; c++) {
			uint32_t r = cand[c];

			for (k = c; k > 0 && cand[k - 1] > r; k--)
				cand[k] = cand[k - 1];
			cand[k] = r;
		}
		return;
	}
	for (size_t c = 0; c < n; c++)
		bitmap[cand[c] / 64] |= 1ull << (cand[c] % 64);
	for (size_t w = 0; w < (nrefs + 63) / 64; w++) {
		uint64_t x = bitmap[w];

		bitmap[w] = 0;
		for (; x; x &= x - 1)
			cand[k++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(x));
	}
}

/* Postings one binary search costs about as much as marking. */
#define SEARCH_COST 16

/* Set bit in m on the refs of touched[0..nt) that are in one of the
 * sorted lists ps[k]..pe[k] (k < NKEYS + 1, NULL: none), by binary
 * search. */
static void mark_found(uint32_t *m, const uint32_t *touched, size_t nt,
		       const uint32_t *const *ps, const uint32_t *const *pe,
		       uint32_t bit)
{
	for (size_t c = 0; c < nt; c++) {
		uint32_t r = touched[c];

		for (int k = 0; k <= NKEYS; k++) {
			const uint32_t *b = ps[k];
			size_t n = ps[k] ? (size_t)(pe[k] - ps[k]) : 0;

			if (!n)
				continue;
			while (n > 1) {
				size_t half = n / 2;

				b = b[half] <= r ? b + half : b;
				n -= half;
			}
			if (*b == r) {
				m[r] |= bit;
				break;
			}
		}
	}
}

/* Set bit in m on the refs of one posting list already marked. */
static void mark_more(uint32_t *m, const uint32_t *p, const uint32_t *e,
		      uint32_t bit)
{
	for (; p < e; p++) {
		uint32_t old = m[*p];

		m[*p] = old | (bit & -(uint32_t)(old != 0));
	}
}

/* Mark in m which query tokens share a followed key with each ref and
 * list the refs so marked in touched; returns how many.  Tokens go rarest
 * first; once the tokens left could not bring a name to the bound on their
 * own, a name none of the earlier tokens marked cannot become a candidate,
 * so the later tokens only add their bits to names already marked, by
 * binary search when there are few of those.  The marks of the names
 * listed are as if every token marked every name. */
static size_t mark_all(const struct query *qq, const struct follow *f,
		       double threshold, uint32_t *m, uint32_t *touched)
{
	size_t n = qq->p->q->n, ord[NM_MAX_TOKENS], vol[NM_MAX_TOKENS];
	size_t lists[NM_MAX_TOKENS], nt = 0;
	uint32_t rest = 0;
	int touch = 1;

	for (size_t i = 0; i < n; i++) {
		size_t k;

		vol[i] = lists[i] = 0;
		for (int kind = 0; kind <= NKEYS; kind++)
			if (f->ps[i][kind]) {
				vol[i] += (size_t)(f->pe[i][kind] - f->ps[i][kind]);
				lists[i]++;
			}
		if (vol[i])
			rest |= 1u << i;
		for (k = i; k > 0 && vol[ord[k - 1]] > vol[i]; k--)
			ord[k] = ord[k - 1];
		ord[k] = i;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = ord[k];

		if (!vol[i])
			continue;
		/* The margin covers the rounding of the float sum. */
		if (touch && !bound_reaches(qq, f, rest, threshold - 1e-4))
			touch = 0;
		rest &= ~(1u << i);
		if (!touch && nt * lists[i] * SEARCH_COST < vol[i]) {
			mark_found(m, touched, nt, f->ps[i], f->pe[i], 1u << i);
			continue;
		}
		for (int kind = 0; kind <= NKEYS; kind++) {
			if (!f->ps[i][kind])
				continue;
			if (touch)
				mark(m, touched, &nt, f->ps[i][kind],
				     f->pe[i][kind], 1u << i);
			else
				mark_more(m, f->ps[i][kind], f->pe[i][kind],
					  1u << i);
		}
	}
	return nt;
}

/* Fill sc->cand with the refs that share a followed key with the query
 * and whose bound reaches the threshold, in ref order; returns how many. */
static size_t candidates(const struct nm_index *ix, const struct query *qq,
			 double threshold, struct nm_scratch *sc)
{
	const struct nm_name *q = qq->p->q;
	uint32_t *m = sc->mark, *cand = sc->cand;
	struct follow f;
	size_t nt = 0, ncand = 0;
	int8_t memo[256];        /* bound per pattern of bits, -1: unknown */
	struct { uint32_t bits; int ok; } memo_hi[64];  /* the others, by hash */

	follow_keys(ix, qq, threshold, &f);
	nt = mark_all(qq, &f, threshold, m, cand);
	memset(memo, -1, sizeof(memo));
	if (q->n > 8)
		memset(memo_hi, 0, sizeof(memo_hi));
	for (size_t c = 0; c < nt; c++) {
		uint32_t r = cand[c], bits = m[r];
		int ok;

		m[r] = 0;        /* zero again for the next call */
		if (bits < sizeof(memo)) {
			if (memo[bits] < 0)
				memo[bits] = (int8_t)bound_reaches(qq, &f, bits,
								   threshold);
			ok = memo[bits];
		} else {
			size_t h = (bits * 0x9e3779b1u) >> 26;

			if (memo_hi[h].bits != bits) {
				memo_hi[h].bits = bits;
				memo_hi[h].ok = bound_reaches(qq, &f, bits,
							      threshold);
			}
			ok = memo_hi[h].ok;
		}
		if (ok)
			cand[ncand++] = r;
	}
	sort_refs(cand, ncand, ix->nrefs, sc->bitmap);
	return ncand;
}

/* nm_match() of a prepared name; sc is not NULL. */
static int match(const struct kvs_list *l, const struct prepared *p,
		 double threshold, int brute, struct nm_hit *hits, size_t max,
		 struct nm_scratch *sc)
{
	const struct nm_index *ix = l->index;
	const struct nm_name *q = p->q;
	struct query qq = { .p = p };
	uint32_t *cand;
	size_t ncand = 0, nhits = 0;
	int found = 0;
	uint32_t best_entry = UINT32_MAX;
	struct nm_hit best = { 0 };
	const struct nm_ref *best_ref = NULL;

	if (!ix || !q->n || !ix->nrefs)
		return 0;
	/* The lookups below miss the cache: start loading their slots. */
	for (size_t i = 0; i < q->n; i++) {
		__builtin_prefetch(&ix->toks.slots[p->tok[i].hash &
						   (ix->toks.nslots - 1)]);
		for (int kind = 0; !brute && kind < NKEYS; kind++)
			__builtin_prefetch(&ix->pres.slots[p->tok[i].khash[kind] &
							   (ix->pres.nslots - 1)]);
	}
	for (size_t i = 0; i < q->n; i++) {
		uint32_t id;

		if (lookup(&ix->toks, q->cp[i], q->len[i], p->tok[i].hash, &id)) {
			qq.tid[i] = id;
			qq.w[i] = ix->tok[id].w;
		} else {
			qq.tid[i] = UINT32_MAX;
			qq.w[i] = ix->w_unknown;
			if (p->tok[i].boiler)
				qq.w[i] = (float)NM_BOILER_WEIGHT;
		}
		qq.wsum += qq.w[i];
		qq.ndist += !p->tok[i].boiler;
	}
	if (scratch_reserve(sc, ix->nrefs) < 0)
		return -ENOMEM;
	if (++sc->gen == 0) {    /* wrapped: no entry may look valid */
		memset(sc->memo, 0, sizeof(*sc->memo) << SIMMEMO_BITS);
		sc->gen = 1;
	}
	cand = sc->cand;
	if (brute) {
		for (size_t r = 0; r < ix->nrefs; r++)
			cand[ncand++] = (uint32_t)r;
	} else {
		ncand = candidates(ix, &qq, threshold, sc);
	}

	/* Refs are in entry order, so the best name of each entry is found
	 * in one sweep. */
	for (size_t c = 0; c <= ncand; c++) {
		const struct nm_ref *r = c < ncand ? &ix->refs[cand[c]] : NULL;
		double s, cq, cc;

		/* Load the refs and their tokens a few candidates ahead. */
		if (c + 8 < ncand)
			__builtin_prefetch(&ix->refs[cand[c + 8]]);
		if (c + 4 < ncand)
			__builtin_prefetch(&ix->rtok[ix->refs[cand[c + 4]].tok]);

		if (!r || r->entry != best_entry) {
			if (best_entry != UINT32_MAX && best.score >= threshold) {
				const struct list_entry *e = best.entry;

				best.matched = best_ref->alias ?
					e->aliases[best_ref->alias - 1] : e->name;
				best.norm = best_ref->norm;
				keep_hit(hits, &nhits, max, &best);
				found++;
			}
			if (!r)
				break;
			best_entry = r->entry;
			best.score = -1;
		}
		s = score_ref(ix, &qq, r, sc->memo, sc->gen, &cq, &cc);
		if (s > best.score) {
			best_ref = r;
			best.entry = &l->entries[r->entry];
			best.score = s;
			best.cov_query = cq;
			best.cov_name = cc;
		}
	}
	return found;
}

int nm_match(const struct kvs_list *l, const struct nm_name *q,
	     double threshold, int brute, struct nm_hit *hits, size_t max,
	     struct nm_scratch *sc)
{
	struct nm_scratch own = { 0 };
	struct prepared p;
	int rc;

	prepare(q, &p);
	rc = match(l, &p, threshold, brute, hits, max, sc ? sc : &own);
	nm_scratch_fini(&own);
	return rc;
}

/* The name last given to nm_match_name() with this scratch, normalised
 * and prepared: as given and, when it has parenthesised parts, without
 * them.  prep[i].q points to name[i]. */
struct nm_qcache {
	int valid;
	int nforms;              /* 0: nothing of the name is left to match */
	size_t len;
	struct nm_name name[2];
	struct prepared prep[2];
	char text[LISTS_MAX_NAME];
};

/* Whether a and b have the same tokens (then they match the same). */
static int same_tokens(const struct nm_name *a, const struct nm_name *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] ||
		    memcmp(a->cp[i], b->cp[i], a->len[i] * sizeof(uint32_t)))
			return 0;
	return 1;
}

/* Point *out to s (len bytes) normalised and prepared, from the cache of
 * sc when s is the name it holds.  The form without parentheses is kept
 * only when it differs: matching the same tokens again would give the
 * same hits, which the merge of nm_match_name() leaves unchanged. */
static int qcache_get(struct nm_scratch *sc, const char *s, size_t len,
		      const struct nm_qcache **out)
{
	struct nm_qcache *qc = sc->qc;

	if (!qc) {
		qc = malloc(sizeof(*qc));
		if (!qc)
			return -ENOMEM;
		qc->valid = 0;
		sc->qc = qc;
	}
	*out = qc;
	if (qc->valid && qc->len == len && (!len || memcmp(qc->text, s, len) == 0))
		return 0;
	qc->valid = 0;
	qc->nforms = 0;
	if (nm_normalise(s, len, &qc->name[0]) == 0) {
		prepare(&qc->name[0], &qc->prep[0]);
		qc->nforms = 1;
		if (len && memchr(s, '(', len) &&
		    nm_normalise_ex(s, len, NM_DROP_PARENS, &qc->name[1]) == 0 &&
		    !same_tokens(&qc->name[0], &qc->name[1])) {
			prepare(&qc->name[1], &qc->prep[1]);
			qc->nforms = 2;
		}
	}
	if (len <= sizeof(qc->text)) {
		if (len)
			memcpy(qc->text, s, len);
		qc->len = len;
		qc->valid = 1;
	}
	return 0;
}

int nm_match_name(const struct kvs_list *l, const char *s, size_t len,
		  double threshold, int brute, struct nm_hit *hits, size_t max,
		  struct nm_scratch *sc)
{
	struct nm_scratch own = { 0 };
	const struct nm_qcache *qc;
	struct nm_hit *more = NULL;
	size_t n = 0;
	int rc, rc2;

	if (!sc)
		sc = &own;
	rc = qcache_get(sc, s, len, &qc);
	if (rc < 0 || !qc->nforms)
		goto out;
	rc = match(l, &qc->prep[0], threshold, brute, hits, max, sc);
	if (rc < 0 || qc->nforms < 2)
		goto out;
	/* Also the name without its parenthesised parts; keep the better
	 * score of each entry. */
	more = malloc((max ? max : 1) * sizeof(*more));
	if (!more) {
		rc = -ENOMEM;
		goto out;
	}
	rc2 = match(l, &qc->prep[1], threshold, brute, more, max, sc);
	if (rc2 < 0) {
		rc = rc2;
		goto out;
	}
	n = (size_t)rc < max ? (size_t)rc : max;
	for (size_t k = 0; k < (size_t)rc2 && k < max; k++) {
		size_t j;

		for (j = 0; j < n && hits[j].entry != more[k].entry; j++)
			;
		if (j < n) {
			if (more[k].score > hits[j].score) {
				hits[j] = more[k];
				/* Restore the order. */
				while (j > 0 && hits[j - 1].score < hits[j].score) {
					struct nm_hit t = hits[j - 1];

					hits[j - 1] = hits[j];
					hits[j] = t;
					j--;
				}
			}
			continue;
		}
		rc++;
		keep_hit(hits, &n, max, &more[k]);
	}
out:
	free(more);
	nm_scratch_fini(&own);
	return rc;
}
