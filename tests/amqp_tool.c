/* amqp_tool.c - publishes request messages to and takes messages from a RabbitMQ queue over AMQP 0-9-1, for the intake tests and benchmark.
 *
 * Usage: amqp_tool publish --url URL --queue Q --prefix P --count N
 *            [--first K] [--body TEXT] [--message-id] [--password-file F]
 *          Publishes N persistent messages to the default exchange with
 *          routing key Q, with publisher confirms; the body is TEXT (default
 *          {"id":"%ID%","type":"export"}) with every %ID% replaced by P-i
 *          (i = K .. K+N-1, K default 1); --message-id sets message_id P-i.
 *          Exits 0 once the broker confirmed all N, 1 on a refusal or error.
 *        amqp_tool get --url URL --queue Q --count N [--wait-ms T]
 *            [--password-file F]
 *          Consumes (and acks) from Q until N distinct keys were seen or T ms
 *          (default 60000) passed without a message; the key of a message is
 *          its body's "request_id", else its "id", else its message_id.
 *          Prints one JSON line per message on stdout:
 *          {"message_id":..., "headers":{name: string value}, "body": text},
 *          and "received M messages, D distinct, in MS ms" on stderr.  Exits
 *          0 when N distinct keys were seen.
 * The URL may name a vhost; the user is the URL's (password from the file)
 * or guest/guest.
 */
#include "config.h"

#include <amqp.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "amqp_conn.h"

#define MAX_COUNT 1000000
#define MAX_BODY 65536

static char *expand(const char *tmpl, const char *id)
{
	size_t n = 0, idl = strlen(id);
	char *out, *o;

	for (const char *p = tmpl; *p; p++)
		n += strncmp(p, "%ID%", 4) == 0 ? idl : 1;
	out = o = malloc(n + 1);
	if (!out)
		return NULL;
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "%ID%", 4) == 0) {
			memcpy(o, id, idl);
			o += idl;
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static int publish(amqp_connection_state_t conn, const char *queue, const char *prefix,
		   long first, long count, const char *tmpl, bool with_mid)
{
	uint64_t confirmed = 0;
	long sent = 0;
	int bad = 0;

	amqp_confirm_select(conn, 1);
	if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "amqp_tool: confirm.select failed\n");
		return 1;
	}
	while (confirmed < (uint64_t)count) {
		/* Keep at most 1000 unconfirmed messages out. */
		while (sent < count && (uint64_t)sent - confirmed < 1000) {
			amqp_basic_properties_t p = { 0 };
			char id[128];
			char *body;
			int st;

			snprintf(id, sizeof(id), "%s-%ld", prefix, first + sent);
			body = expand(tmpl, id);
			if (!body)
				return 1;
			p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
			p.delivery_mode = AMQP_DELIVERY_PERSISTENT;
			p.content_type = amqp_cstring_bytes("application/json");
			if (with_mid) {
				p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
				p.message_id = amqp_cstring_bytes(id);
			}
			st = amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0,
						0, &p, amqp_cstring_bytes(body));
			free(body);
			if (st != AMQP_STATUS_OK) {
				fprintf(stderr, "amqp_tool: publish: %s\n", amqp_error_string2(st));
				return 1;
			}
			sent++;
		}
		{
			amqp_frame_t f;
			struct timeval tv = { 30, 0 };
			int st = amqp_simple_wait_frame_noblock(conn, &f, &tv);

			if (st != AMQP_STATUS_OK) {
				fprintf(stderr, "amqp_tool: waiting for confirmations: %s\n",
					amqp_error_string2(st));
				return 1;
			}
			if (f.frame_type != AMQP_FRAME_METHOD)
				continue;
			if (f.payload.method.id == AMQP_BASIC_ACK_METHOD ||
			    f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
				const amqp_basic_ack_t *a = f.payload.method.decoded;
				uint64_t upto = a->multiple ? a->delivery_tag : confirmed + 1;

				if (f.payload.method.id == AMQP_BASIC_NACK_METHOD)
					bad++;
				if (upto > confirmed)
					confirmed = upto;
			} else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
				   f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
				fprintf(stderr, "amqp_tool: the broker closed the channel\n");
				return 1;
			}
		}
	}
	if (bad)
		fprintf(stderr, "amqp_tool: the broker refused %d messages\n", bad);
	return bad ? 1 : 0;
}

static json_t *bytes_json(amqp_bytes_t b)
{
	return json_stringn(b.bytes ? b.bytes : "", b.len);
}

static int get(amqp_connection_state_t conn, const char *queue, long count, long wait_ms)
{
	json_t *seen = json_object();
	uint64_t start = uv_hrtime();
	long received = 0;

	amqp_basic_qos(conn, 1, 0, 500, 0);
	amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
			   amqp_empty_table);
	if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "amqp_tool: basic.consume on %s failed\n", queue);
		return 1;
	}
	while ((long)json_object_size(seen) < count) {
		struct timeval tv = { wait_ms / 1000, (wait_ms % 1000) * 1000 };
		amqp_envelope_t env;
		amqp_rpc_reply_t r;
		json_t *line, *h, *body;
		const char *key = NULL;
		char *text;

		amqp_maybe_release_buffers(conn);
		r = amqp_consume_message(conn, &env, &tv, 0);
		if (r.reply_type != AMQP_RESPONSE_NORMAL)
			break;
		received++;
		h = json_object();
		if (env.message.properties._flags & AMQP_BASIC_HEADERS_FLAG) {
			amqp_table_t *t = &env.message.properties.headers;
			for (int i = 0; i < t->num_entries; i++) {
				char name[256];
				amqp_field_value_t *v = &t->entries[i].value;

				amqp_conn_text(t->entries[i].key, name, sizeof(name));
				if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES)
					json_object_set_new(h, name, bytes_json(v->value.bytes));
				else
					json_object_set_new(h, name, json_string("(not a string)"));
			}
		}
		line = json_object();
		json_object_set_new(line, "message_id",
				    env.message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG
					    ? bytes_json(env.message.properties.message_id)
					    : json_null());
		json_object_set_new(line, "headers", h);
		json_object_set_new(line, "body", bytes_json(env.message.body));
		body = json_loadb(env.message.body.bytes, env.message.body.len, 0, NULL);
		if (json_is_string(json_object_get(body, "request_id")))
			key = json_string_value(json_object_get(body, "request_id"));
		else if (json_is_string(json_object_get(body, "id")))
			key = json_string_value(json_object_get(body, "id"));
		else if (json_is_string(json_object_get(line, "message_id")))
			key = json_string_value(json_object_get(line, "message_id"));
		json_object_set_new(seen, key ? key : "", json_true());
		json_decref(body);
		text = json_dumps(line, JSON_COMPACT);
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(line);
		amqp_basic_ack(conn, 1, env.delivery_tag, 0);
		amqp_destroy_envelope(&env);
	}
	fflush(stdout);
	fprintf(stderr, "received %ld messages, %zu distinct, in %llu ms\n", received,
		json_object_size(seen), (unsigned long long)((uv_hrtime() - start) / 1000000u));
	count -= (long)json_object_size(seen);
	json_decref(seen);
	return count <= 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "queue", required_argument, NULL, 'q' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "first", required_argument, NULL, 'f' },
		{ "body", required_argument, NULL, 'b' },
		{ "message-id", no_argument, NULL, 'm' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "wait-ms", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *queue = NULL, *prefix = "req", *pwfile = NULL;
	const char *tmpl = "{\"id\":\"%ID%\",\"type\":\"export\"}";
	long count = 1, first = 1, wait_ms = 60000;
	bool with_mid = false;
	struct amqp_conn_cfg cc;
	amqp_connection_state_t conn;
	int c, rc;

	if (argc < 2 || (strcmp(argv[1], "publish") != 0 && strcmp(argv[1], "get") != 0)) {
		fprintf(stderr, "usage: amqp_tool publish|get ... (see amqp_tool.c)\n");
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'q': queue = optarg; break;
		case 'p': prefix = optarg; break;
		case 'n': count = atol(optarg); break;
		case 'f': first = atol(optarg); break;
		case 'b': tmpl = optarg; break;
		case 'm': with_mid = true; break;
		case 'P': pwfile = optarg; break;
		case 'w': wait_ms = atol(optarg); break;
		default: return 2;
		}
	}
	if (!url || !queue || count < 1 || count > MAX_COUNT || wait_ms < 1 ||
	    strlen(prefix) > 64 || strlen(tmpl) > MAX_BODY) {
		fprintf(stderr, "amqp_tool: --url, --queue and a count of 1..%d are required\n",
			MAX_COUNT);
		return 2;
	}
	if (amqp_conn_setup(&cc, "amqp_tool", url, "/", "", pwfile, true, NULL, 0, 30000,
			    5000) < 0 ||
	    amqp_conn_open(&cc, "kvscreen amqp_tool", 1, &conn) < 0) {
		fprintf(stderr, "amqp_tool: cannot connect to %s\n", url);
		amqp_conn_free(&cc);
		return 1;
	}
	if (strcmp(argv[1], "publish") == 0)
		rc = publish(conn, queue, prefix, first, count, tmpl, with_mid);
	else
		rc = get(conn, queue, count, wait_ms);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	amqp_conn_free(&cc);
	return rc;
}
