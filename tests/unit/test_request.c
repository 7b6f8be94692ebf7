/* test_request.c - request validation: every rule, good and bad. */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "jsonw.h"
#include "request.h"
#include "ck_main.h"

static struct request_limits lim;

static void setup(void)
{
	request_limits_default(&lim);
}

/* Parse `json`; when `want` is NULL it must be valid, else the formatted
 * error ("path: message") must equal `want`. */
static void expect(const char *json, const char *want)
{
	struct request_error err;
	struct kvs_request *req = NULL;
	char msg[1024];
	int r = request_parse(json, strlen(json), &lim, &req, &err);

	if (!want) {
		request_error_format(&err, msg, sizeof(msg));
		ck_assert_msg(r == 0, "expected valid, got: %s (for %s)", msg, json);
		request_unref(req);
		return;
	}
	ck_assert_msg(r < 0, "expected rejection \"%s\" for %s", want, json);
	ck_assert_ptr_null(req);
	request_error_format(&err, msg, sizeof(msg));
	ck_assert_str_eq(msg, want);
}

/* 1 when s is valid UTF-8 (jansson decodes it). */
static int valid_utf8(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* Parse `json`, which must fail with a valid UTF-8 message starting with
 * `start`; with `echo` set it must quote "<lead><the first `n` bytes of
 * echo>" (the cut at a character boundary). */
static void expect_prefix(const char *json, const char *start, const char *lead,
			  const char *echo, int n)
{
	struct request_error err;
	struct kvs_request *req = NULL;
	char msg[1024], quote[256];

	ck_assert_int_lt(request_parse(json, strlen(json), &lim, &req, &err), 0);
	request_error_format(&err, msg, sizeof(msg));
	ck_assert_msg(valid_utf8(msg), "not UTF-8: %s", msg);
	ck_assert_msg(valid_utf8(err.message) && valid_utf8(err.path), "not UTF-8: %s", msg);
	ck_assert_msg(strncmp(msg, start, strlen(start)) == 0, "%s", msg);
	if (echo) {
		snprintf(quote, sizeof(quote), "got \"%s%.*s\"", lead, n, echo);
		ck_assert_msg(strstr(msg, quote), "%s lacks %s", msg, quote);
	}
}

START_TEST(good_requests)
{
	expect("{\"schema\":\"kvscreen.request/v1\",\"id\":\"p-1\",\"type\":\"partnership\","
	       "\"title\":\"Joint lab\",\"description\":\"quantum sensing\","
	       "\"institution\":{\"name\":\"TU\",\"unit\":\"EWI\"},"
	       "\"technology\":{\"keywords\":[\"quantum\",\"sensor\"],\"trl\":4},"
	       "\"parties\":[{\"role\":\"partner\",\"name\":\"X Univ\",\"aliases\":[\"XU\"],"
	       "\"country\":\"CN\",\"kind\":\"university\",\"state_owned\":true,\"parent\":\"MoE\"}],"
	       "\"people\":[{\"name\":\"A B\",\"nationality\":\"IR\",\"birth_date\":\"2000-02-29\",\"role\":\"PhD\",\"affiliation\":\"X\"}],"
	       "\"cooperation\":{\"form\":\"joint_lab\",\"duration_months\":36,\"access\":[\"lab\",\"datasets\"],"
	       "\"funding\":[{\"source\":\"CSC\",\"country\":\"CN\",\"amount_eur\":12000.5,\"state_linked\":true}]},"
	       "\"investment\":{\"instrument\":\"equity\",\"stake_percent\":10}}", NULL);
	expect("{\"id\":\"e.2:x_y\",\"type\":\"export\",\"items\":[{\"description\":\"FPGA board\","
	       "\"quantity\":2,\"value_eur\":900,\"hs_code\":\"8471\",\"classification\":\"3A001\",\"kind\":\"goods\"}],"
	       "\"destination\":{\"country\":\"US\"},\"end_use\":\"research\",\"transfer\":\"physical\"}", NULL);
	expect("{\"id\":\"i1\",\"type\":\"investment\",\"investment\":{\"instrument\":\"acquisition\","
	       "\"stake_percent\":51,\"voting_rights_percent\":51,\"board_seats\":2,\"control\":true},"
	       "\"parties\":[{\"role\":\"target\",\"name\":\"Spin BV\",\"country\":\"NL\","
	       "\"activities\":[\"highly_sensitive_technology\"]},{\"role\":\"acquirer\",\"name\":\"Fund\"}]}", NULL);
}
END_TEST

START_TEST(bad_documents)
{
	expect("", "malformed JSON at line 1 column 0 (byte 0): '[' or '{' expected");
	expect("{\"id\":\"a\",", "malformed JSON at line 1 column 10 (byte 10): string or '}' expected");
	expect("[1]", "expected an object, got an array");
	expect("{\"id\":\"a\",\"id\":\"b\",\"type\":\"export\"}",
	       "malformed JSON at line 1 column 14 (byte 14): duplicate object key");
	/* The parser's reason never quotes the source (a spool file's error
	 * file would carry it). */
	expect("root:$6$SECRETHASH:19000:0:99999:7:::",
	       "malformed JSON at line 1 column 4 (byte 4): '[' or '{' expected");
	expect("{\"type\":\"export\"}", "/id: required member is missing");
	expect("{\"id\":\"a\"}", "/type: required member is missing");
	expect("{\"id\":\"a\",\"type\":\"loan\"}",
	       "/type: expected one of partnership, export, investment, got \"loan\"");
	expect("{\"id\":\"a\",\"type\":7}", "/type: expected a string, got an integer");
	expect("{\"id\":\"a b\",\"type\":\"export\"}",
	       "/id: expected 1 to 128 characters of [A-Za-z0-9._:-], not starting with a dot");
	expect("{\"id\":\"\",\"type\":\"export\"}",
	       "/id: expected 1 to 128 characters of [A-Za-z0-9._:-], not starting with a dot");
	/* Ids name files: ".", ".." and hidden names are not ids. */
	expect("{\"id\":\".\",\"type\":\"export\"}",
	       "/id: expected 1 to 128 characters of [A-Za-z0-9._:-], not starting with a dot");
	expect("{\"id\":\"..\",\"type\":\"export\"}",
	       "/id: expected 1 to 128 characters of [A-Za-z0-9._:-], not starting with a dot");
	expect("{\"id\":\".hidden\",\"type\":\"export\"}",
	       "/id: expected 1 to 128 characters of [A-Za-z0-9._:-], not starting with a dot");
	expect("{\"id\":\"a.b..c.\",\"type\":\"export\"}", NULL);
	expect("{\"id\":\"a\",\"type\":\"export\",\"schema\":\"v2\"}",
	       "/schema: expected \"kvscreen.request/v1\", got \"v2\"");
	expect("{\"id\":\"a\",\"type\":\"export\",\"colour\":\"red\"}", "/colour: unknown member \"colour\"");
	expect("{\"id\":\"a\",\"type\":\"export\",\"a/b~c\":1}", "/a~1b~0c: unknown member \"a/b~c\"");
}
END_TEST

/* A party's ubo is one name or an array of names, nothing else. */
START_TEST(ubo_names)
{
	expect("{\"id\":\"u1\",\"type\":\"investment\",\"parties\":[{\"role\":\"acquirer\","
	       "\"name\":\"Fund\",\"ubo\":\"Jan Jansen\"}]}", NULL);
	expect("{\"id\":\"u2\",\"type\":\"investment\",\"parties\":[{\"role\":\"acquirer\","
	       "\"name\":\"Fund\",\"ubo\":[\"Jan Jansen\",\"Piet Pietersen\"]}]}", NULL);
	expect("{\"id\":\"u3\",\"type\":\"investment\",\"parties\":[{\"role\":\"acquirer\","
	       "\"name\":\"Fund\",\"ubo\":42}]}",
	       "/parties/0/ubo: expected a string or an array of strings, got an integer");
	expect("{\"id\":\"u4\",\"type\":\"investment\",\"parties\":[{\"role\":\"acquirer\","
	       "\"name\":\"Fund\",\"ubo\":[\"Jan\",{}]}]}",
	       "/parties/0/ubo/1: expected a string, got an object");
}
END_TEST

START_TEST(bad_fields)
{
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"parties\":[{\"role\":\"partner\",\"name\":\"x\"},"
	       "{\"role\":\"partner\",\"name\":\"y\",\"country\":\"Chinaa\"}]}",
	       "/parties/1/country: expected ISO 3166-1 alpha-2 code, got \"Chinaa\"");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"parties\":[{\"role\":\"partner\",\"name\":\"x\",\"country\":\"XX\"}]}",
	       "/parties/0/country: expected ISO 3166-1 alpha-2 code, got \"XX\"");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"parties\":[{\"role\":\"boss\",\"name\":\"x\"}]}",
	       "/parties/0/role: expected one of partner, funder, end_user, consignee, intermediary, acquirer, target, got \"boss\"");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"parties\":[{\"role\":\"partner\"}]}",
	       "/parties/0/name: required member is missing");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"parties\":{}}",
	       "/parties: expected an array, got an object");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"parties\":[{\"role\":\"partner\",\"name\":\"x\",\"state_owned\":\"yes\"}]}",
	       "/parties/0/state_owned: expected a boolean, got a string");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"technology\":{\"trl\":10}}",
	       "/technology/trl: expected an integer from 1 to 9, got 10");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"technology\":{\"trl\":2.5}}",
	       "/technology/trl: expected an integer, got a number");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"technology\":{\"keywords\":[\"a\",3]}}",
	       "/technology/keywords/1: expected a string, got an integer");
	expect("{\"id\":\"a\",\"type\":\"investment\",\"investment\":{\"stake_percent\":101}}",
	       "/investment/stake_percent: expected a number from 0 to 100, got 101");
	expect("{\"id\":\"a\",\"type\":\"export\",\"items\":[{\"value_eur\":-1}]}",
	       "/items/0/value_eur: expected a number from 0 to 1e+15, got -1");
	expect("{\"id\":\"a\",\"type\":\"export\",\"transfer\":\"teleport\"}",
	       "/transfer: expected one of physical, electronic, intangible, deemed, got \"teleport\"");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"cooperation\":{\"access\":[\"moon\"]}}",
	       "/cooperation/access/0: expected one of lab, infrastructure, datasets, classified, got \"moon\"");
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"people\":[{\"name\":\"x\",\"nationality\":\"nl\"}]}",
	       "/people/0/nationality: expected ISO 3166-1 alpha-2 code, got \"nl\"");
	/* A date of birth is "YYYY" or a real "YYYY-MM-DD". */
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"people\":[{\"name\":\"x\",\"birth_date\":\"1978-02-30\"}]}",
	       "/people/0/birth_date: expected a date \"YYYY\" or \"YYYY-MM-DD\", got \"1978-02-30\"");
	expect("{\"id\":\"a\",\"type\":\"export\",\"parties\":[{\"role\":\"end_user\",\"name\":\"x\",\"birth_date\":\"78\"}]}",
	       "/parties/0/birth_date: expected a date \"YYYY\" or \"YYYY-MM-DD\", got \"78\"");
	expect("{\"id\":\"a\",\"type\":\"investment\",\"parties\":[{\"role\":\"target\",\"name\":\"x\",\"activities\":[\"bakery\"]}]}",
	       "/parties/0/activities/0: expected one of vital_provider, business_campus, military_goods, dual_use_goods, highly_sensitive_technology, got \"bakery\"");
}
END_TEST

/* A message that echoes a value cuts it at a character boundary, so the
 * message is valid UTF-8 (the HTTP layer could not encode it otherwise and
 * answered 500). */
START_TEST(echo_cut_on_character)
{
	char json[2048], want[256], e300[601];
	size_t n = 0;

	for (int i = 0; i < 300; i++) {
		e300[n++] = (char)0xC3;
		e300[n++] = (char)0xA9;
	}
	e300[n] = '\0';
	/* "x" and 15 "é" fill 31 bytes; the 16th would end at byte 33. */
	snprintf(json, sizeof(json), "{\"id\":\"a\",\"type\":\"x%s\"}", e300);
	snprintf(want, sizeof(want),
		 "/type: expected one of partnership, export, investment, got \"x%.30s\"", e300);
	expect(json, want);
	snprintf(json, sizeof(json),
		 "{\"id\":\"a\",\"type\":\"partnership\",\"parties\":[{\"role\":\"partner\","
		 "\"name\":\"n\",\"kind\":\"x%s\"}]}", e300);
	expect_prefix(json, "/parties/0/kind: expected one of ", "x", e300, 30);
	snprintf(json, sizeof(json), "{\"id\":\"a\",\"type\":\"export\",\"x%s\":1}", e300);
	expect_prefix(json, "/x", NULL, NULL, 0);
	snprintf(json, sizeof(json), "{\"id\":\"a\",\"type\":\"export\",\"schema\":\"x%s\"}", e300);
	snprintf(want, sizeof(want), "/schema: expected \"kvscreen.request/v1\", got \"x%.62s\"", e300);
	expect(json, want);
	snprintf(json, sizeof(json),
		 "{\"id\":\"a\",\"type\":\"partnership\",\"people\":[{\"name\":\"x\",\"nationality\":\"%s\"}]}",
		 e300);
	snprintf(want, sizeof(want), "/people/0/nationality: expected ISO 3166-1 alpha-2 code, got \"%.32s\"",
		 e300);
	expect(json, want);
}
END_TEST

START_TEST(type_specific_members)
{
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"items\":[]}",
	       "/items: member \"items\" is not allowed in a request of type partnership");
	expect("{\"id\":\"a\",\"type\":\"export\",\"cooperation\":{}}",
	       "/cooperation: member \"cooperation\" is not allowed in a request of type export");
	expect("{\"id\":\"a\",\"type\":\"export\",\"investment\":{}}",
	       "/investment: member \"investment\" is not allowed in a request of type export");
}
END_TEST

START_TEST(limits)
{
	char *big;
	size_t n = 70 * 1024;

	lim.max_bytes = 100;
	expect("{\"id\":\"a\",\"type\":\"export\",\"title\":\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"}",
	       "request of 137 bytes exceeds the limit of 100 bytes");
	request_limits_default(&lim);
	lim.max_string = 65536;
	big = malloc(n + 64);
	strcpy(big, "{\"id\":\"a\",\"type\":\"export\",\"title\":\"");
	memset(big + strlen(big), 'x', n);
	strcpy(big + 35 + n, "\"}");
	expect(big, "/title: string of 71680 bytes exceeds the limit of 65536");
	free(big);
	/* The defaults take a description of 1 MiB (a long proposal), not a
	 * byte more. */
	request_limits_default(&lim);
	n = 1 << 20;
	big = malloc(n + 128);
	for (size_t k = 0; k < 2; k++) {
		size_t h;

		strcpy(big, "{\"id\":\"a\",\"type\":\"partnership\",\"description\":\"");
		h = strlen(big);
		for (size_t i = 0; i < n + k; i++)
			big[h + i] = "proposal text "[i % 14];
		strcpy(big + h + n + k, "\"}");
		expect(big, k ? "/description: string of 1048577 bytes exceeds the limit of 1048576"
			      : NULL);
	}
	free(big);
	lim.max_array = 2;
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"technology\":{\"keywords\":[\"a\",\"b\",\"c\"]}}",
	       "/technology/keywords: array of 3 elements exceeds the limit of 2");
	request_limits_default(&lim);
	lim.max_depth = 2;
	expect("{\"id\":\"a\",\"type\":\"partnership\",\"technology\":{\"keywords\":[\"a\"]}}",
	       "/technology/keywords: nesting deeper than 2 levels");
	request_limits_default(&lim);
	lim.max_text = 10;
	expect("{\"id\":\"a\",\"type\":\"export\",\"title\":\"0123456789\"}",
	       "/title: text of the request exceeds the limit of 10 bytes");
}
END_TEST

START_TEST(utf8)
{
	/* Invalid UTF-8 is refused by the JSON parser, NUL escapes too. */
	expect("{\"id\":\"a\",\"type\":\"export\",\"title\":\"\xff\xfe\"}",
	       "malformed JSON at line 1 column 35 (byte 35): unable to decode byte 0xff");
	expect("{\"id\":\"a\",\"type\":\"export\",\"title\":\"a\\u0000b\"}",
	       "malformed JSON at line 1 column 44 (byte 44): \\u0000 is not allowed without JSON_ALLOW_NUL");
	expect("{\"id\":\"a\",\"type\":\"export\",\"title\":\"Z\xc3\xbcrich \xe5\x8c\x97\xe4\xba\xac\"}", NULL);
}
END_TEST

START_TEST(texts_and_pointers)
{
	const char *json = "{\"id\":\"t1\",\"type\":\"export\",\"title\":\"T\",\"items\":[{\"description\":\"laser\"},"
			   "{\"description\":\"gyro\",\"hs_code\":\"9014\"}],\"end_use\":\"research\","
			   "\"parties\":[{\"role\":\"consignee\",\"name\":\"a/b~c\"}]}";
	struct request_error err;
	struct kvs_request *req;

	ck_assert_int_eq(request_parse(json, strlen(json), &lim, &req, &err), 0);
	ck_assert_str_eq(req->id, "t1");
	ck_assert_int_eq(req->type, KVS_REQ_EXPORT);
	/* hs_code is not free text; names are.  Texts come in schema order,
	 * not document order. */
	ck_assert_uint_eq(req->n_texts, 5);
	ck_assert_str_eq(req->texts[0].path, "/title");
	ck_assert_str_eq(req->texts[1].path, "/parties/0/name");
	ck_assert_str_eq(req->texts[2].path, "/items/0/description");
	ck_assert_str_eq(req->texts[3].path, "/items/1/description");
	ck_assert_str_eq(req->texts[4].path, "/end_use");
	ck_assert_str_eq(json_string_value(request_lookup(req, "/items/1/description")), "gyro");
	ck_assert_str_eq(json_string_value(request_lookup(req, "/parties/0/name")), "a/b~c");
	ck_assert_ptr_null(request_lookup(req, "/items/01/description"));
	ck_assert_ptr_null(request_lookup(req, "/items/9"));
	ck_assert_ptr_null(request_lookup(req, "/items/-1"));
	ck_assert_ptr_null(request_lookup(req, "items"));
	ck_assert_ptr_null(request_lookup(req, "/title/x"));
	ck_assert_ptr_null(request_lookup(req, "/a~2"));
	ck_assert_ptr_eq(request_lookup(req, ""), req->root);
	/* The canonical form sorts keys, so the same request in any key order
	 * gives the same idempotency digest. */
	ck_assert_ptr_nonnull(strstr(req->canonical, "{\"end_use\":\"research\",\"id\":\"t1\""));
	request_unref(req);
}
END_TEST

START_TEST(investment_block)
{
	/* Holding before and after, board size, UBO and security history. */
	expect("{\"id\":\"i2\",\"type\":\"investment\",\"investment\":{\"instrument\":\"equity\","
	       "\"current_stake_percent\":9,\"stake_percent\":10,\"current_voting_rights_percent\":9.5,"
	       "\"voting_rights_percent\":10,\"current_board_seats\":0,\"board_seats\":1,"
	       "\"board_size\":5,\"current_control\":false},"
	       "\"parties\":[{\"role\":\"acquirer\",\"name\":\"Fund\",\"ubo\":\"J. Doe\","
	       "\"security_history\":[\"sabotage case 2019\"]}]}", NULL);
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":{\"stake_percent\":100.5}}",
	       "/investment/stake_percent: expected a number from 0 to 100, got 100.5");
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":{\"voting_rights_percent\":-1}}",
	       "/investment/voting_rights_percent: expected a number from 0 to 100, got -1");
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":{\"current_stake_percent\":101}}",
	       "/investment/current_stake_percent: expected a number from 0 to 100, got 101");
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":{\"board_size\":0}}",
	       "/investment/board_size: expected an integer from 1 to 1000, got 0");
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":{\"current_control\":1}}",
	       "/investment/current_control: expected a boolean, got an integer");
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":"
	       "{\"current_voting_rights_percent\":30,\"voting_rights_percent\":25}}",
	       "/investment/current_voting_rights_percent: 30 exceeds voting_rights_percent (25): the "
	       "holding before the transaction cannot be larger than after it");
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":"
	       "{\"current_stake_percent\":12.5,\"stake_percent\":12}}",
	       "/investment/current_stake_percent: 12.5 exceeds stake_percent (12): the "
	       "holding before the transaction cannot be larger than after it");
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":"
	       "{\"current_board_seats\":2,\"board_seats\":1}}",
	       "/investment/current_board_seats: 2 exceeds board_seats (1): the "
	       "holding before the transaction cannot be larger than after it");
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":"
	       "{\"board_seats\":6,\"board_size\":5}}",
	       "/investment/board_seats: 6 exceeds board_size (5)");
	/* Equal before and after is a valid (if uneventful) transaction. */
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"investment\":"
	       "{\"current_voting_rights_percent\":25,\"voting_rights_percent\":25,\"board_seats\":5,"
	       "\"board_size\":5}}", NULL);
	expect("{\"id\":\"i3\",\"type\":\"investment\",\"parties\":[{\"role\":\"acquirer\","
	       "\"name\":\"F\",\"security_history\":[3]}]}",
	       "/parties/0/security_history/0: expected a string, got an integer");
}
END_TEST

/* jsonw_dump must give json_dumps()'s text, byte for byte, sorted or not:
 * the stored request digests and verdict texts depend on it. */
static void same_text(const json_t *j)
{
	for (int sort = 0; sort <= 1; sort++) {
		char *want = json_dumps(j, JSON_COMPACT | (sort ? JSON_SORT_KEYS : 0));
		size_t len = 12345;
		char *got = jsonw_dump(j, sort, &len);

		if (!want) {
			ck_assert_msg(got == NULL, "jansson refuses, jsonw gave %s", got);
			continue;
		}
		ck_assert_msg(got != NULL, "jsonw refused %s", want);
		ck_assert_str_eq(got, want);
		ck_assert_uint_eq(len, strlen(want));
		free(want);
		free(got);
	}
}

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

/* A random string: plain text (runs longer than the 8 bytes jsonw tests
 * at once), every control character, quotes, backslashes and their
 * neighbours, slashes, DEL and two- to four-byte UTF-8. */
static json_t *rnd_string(void)
{
	static const char *const parts[] = { "a", "Z", " ", "/", "\"", "\\", "\x7f", "\n", "\t",
		"\x01", "\x1f", "\b", "\f", "\r", "\xc3\xbc", "\xe5\x8c\x97", "\xf0\x9f\x98\x80",
		"\xe2\x80\xa8", "plain words ", "\xef\xbf\xbf", "!", "#", "[", "]", "~",
		"the eight-byte runs of jsonw " };
	char buf[512];
	size_t n = 0, k = rnd(24);

	for (size_t i = 0; i < k; i++) {
		const char *p = parts[rnd(sizeof(parts) / sizeof(parts[0]))];

		memcpy(buf + n, p, strlen(p));
		n += strlen(p);
	}
	buf[n] = '\0';
	return json_stringn(buf, n);
}

static json_t *rnd_value(int depth)
{
	static const double reals[] = { 0.1, -0.0, 5.0, 1e300, -2.5e-300, 123456789.125, 1.0 / 3,
		4.940656458412465e-324, 100.0, 1e21, 1e-7 };
	json_t *j;
	size_t n;

	switch (rnd(depth > 3 ? 6 : 8)) {
	case 0: return rnd_string();
	case 1: return json_integer((json_int_t)rnd(1000000) - 500000);
	case 2: return json_integer(rnd(2) ? INT64_MAX : INT64_MIN);
	case 3: return json_real(reals[rnd(sizeof(reals) / sizeof(reals[0]))]);
	case 4: return rnd(2) ? json_true() : json_false();
	case 5: return json_null();
	case 6:
		j = json_array();
		for (n = rnd(5); n > 0; n--)
			json_array_append_new(j, rnd_value(depth + 1));
		return j;
	default:
		j = json_object();
		for (n = rnd(40); n > 0; n--) {
			json_t *key = rnd_string();

			json_object_set_new(j, json_string_value(key), rnd_value(depth + 1));
			json_decref(key);
		}
		return j;
	}
}

START_TEST(canonical_text)
{
	static const char *const examples[] = { "export-fpga-board.json", "export-harmless.json",
		"investment-spinoff.json", "partnership-joint-lab.json" };
	char path[4096];
	json_t *j;

	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		snprintf(path, sizeof(path), "%s/conf/examples/%s", KVS_SRCDIR, examples[i]);
		j = json_load_file(path, 0, NULL);
		ck_assert_msg(j != NULL, "%s", path);
		same_text(j);
		json_decref(j);
	}
	for (int i = 0; i < 3000; i++) {
		json_t *root = json_object();

		json_object_set_new(root, "v", rnd_value(0));
		json_object_set_new(root, "w", rnd_value(0));
		same_text(root);
		same_text(json_object_get(root, "v"));
		json_decref(root);
	}
	/* Empty containers, a key with every kind of escape, and what
	 * json_dumps refuses: a bare value, a string that is not UTF-8. */
	j = json_pack("{s:{}, s:[], s:[[],{}], s:s}", "a", "b", "c", "q\"\\\n\x01/", "\xc3\xa9");
	same_text(j);
	json_decref(j);
	j = json_string("x");
	same_text(j);
	json_decref(j);
	j = json_pack("{s:o}", "bad", json_stringn_nocheck("\xc3(", 2));
	same_text(j);
	json_decref(j);
	j = json_pack("{s:o}", "cut", json_stringn_nocheck("ab\xe5\x8c", 4));
	same_text(j);
	json_decref(j);
}
END_TEST

/* jsonr_load must give json_loadb(JSON_REJECT_DUPLICATES)'s tree, or NULL
 * (then jansson decides); it must never accept what jansson refuses.
 * Returns 1 when the fast parser took the text. */
static int same_tree(const char *text, size_t len)
{
	json_t *want = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *got = jsonr_load(text, len);
	int took = got != NULL;

	if (!want) {
		ck_assert_msg(got == NULL, "jsonr accepts what jansson refuses: %.*s", (int)len, text);
		return 0;
	}
	if (got) {
		char *a = jsonw_dump(want, 0, NULL), *b = jsonw_dump(got, 0, NULL);

		/* json_equal tells integers from reals; the text tells key order. */
		ck_assert_msg(json_equal(want, got), "different trees for %.*s", (int)len, text);
		ck_assert_str_eq(a, b);
		free(a);
		free(b);
	}
	json_decref(want);
	json_decref(got);
	return took;
}

START_TEST(fast_parser)
{
	static const char *const texts[] = {
		"{}", "[]", " [ 1 , -0 , 0.5 , -1.5e-3 , 1E+2 , 2e400 , 1e-400 , 9223372036854775807 ] ",
		"[9223372036854775808]", "[-9223372036854775809]", "[01]", "[1.]", "[.5]", "[-]", "[+1]",
		"[1e]", "[1x]", "[truex]", "[true1]", "[nul]", "[null,false,true]", "{\"a\":1,\"a\":2}",
		"{\"a\":1,}", "[1,]", "{\"a\" 1}", "{\"a\":}", "{1:2}", "\"str\"", "1", "", " ",
		"{}x", "{} {}", "\xef\xbb\xbf{}", "[\"\\u0000\"]", "[\"\\ud800\"]", "[\"\\udc00\"]",
		"[\"\\ud83d\\ude00\"]", "[\"\\ud83d\\u0041\"]", "[\"\\u00e9\\u00E9\\u20ac\"]",
		"[\"\\x\"]", "[\"\\u12\"]", "[\"\\u12g4\"]", "[\"a\tb\"]", "[\"a\x7f\"]",
		"[\"\xc3\xa9\xe5\x8c\x97\xf0\x9f\x98\x80\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]",
		"[\"\xf4\x90\x80\x80\"]", "[\"\xe5\x8c\"]", "[\"unterminated", "{\"k\\n\\\"\":\"v\\/\"}",
		"{\"\":\"\"}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"[1]\n", "\t\r\n{\"a\":[true,false,null]}\n", "[\"a\"\"b\"]", "[1 2]",
	};
	char path[4096];
	int took = 0;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		same_tree(texts[i], strlen(texts[i]));
	/* Random trees as text, and every cut and many single-byte changes
	 * of them: the fast parser must agree with jansson on each. */
	rnd_state = 777;
	for (int i = 0; i < 2000; i++) {
		json_t *root = json_pack("{s:o,s:o}", "v", rnd_value(0), "w", rnd_value(0));
		size_t len;
		char *text = jsonw_dump(root, 0, &len);

		took += same_tree(text, len);
		for (int m = 0; m < 8 && len > 0; m++) {
			size_t at = rnd((unsigned)len);
			char keep = text[at];
			static const char bytes[] = "\"\\{}[],:0-.eE \x01\x80\xc3tfnu/";

			same_tree(text, at);
			text[at] = bytes[rnd(sizeof(bytes) - 1)];
			same_tree(text, len);
			text[at] = keep;
		}
		free(text);
		json_decref(root);
	}
	ck_assert_int_eq(took, 2000);
	for (const char **e = (const char *[]){ "export-fpga-board.json", "export-harmless.json",
			"investment-spinoff.json", "partnership-joint-lab.json", NULL }; *e; e++) {
		FILE *fp;
		char buf[65536];
		size_t n;

		snprintf(path, sizeof(path), "%s/conf/examples/%s", KVS_SRCDIR, *e);
		fp = fopen(path, "rb");
		ck_assert_ptr_nonnull(fp);
		n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		ck_assert_int_eq(same_tree(buf, n), 1);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("request");
	TCase *tc = tcase_create("validation");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, good_requests);
	tcase_add_test(tc, bad_documents);
	tcase_add_test(tc, bad_fields);
	tcase_add_test(tc, ubo_names);
	tcase_add_test(tc, echo_cut_on_character);
	tcase_add_test(tc, type_specific_members);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, utf8);
	tcase_add_test(tc, texts_and_pointers);
	tcase_add_test(tc, investment_block);
	tcase_add_test(tc, canonical_text);
	tcase_add_test(tc, fast_parser);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
