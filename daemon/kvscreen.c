/* kvscreen.c - the command-line tool: screen requests offline, check the configuration, list plugins.
 *
 * `kvscreen screen` runs exactly the pipeline the daemon runs (same plugins,
 * same policy, same digest), on a private libuv loop, and prints verdicts in
 * the order the requests were given, whatever order they finish in.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lists_update.h"
#include "log.h"
#include "outbox_reader.h"
#include "pipeline.h"
#include "policy.h"
#include "report_cli.h"
#include "sink.h"
#include "workers.h"

enum {
	EXIT_OK = 0,
	EXIT_FAILURE_ = 1,   /* usage or operating error */
	EXIT_CONFIG = 2,     /* the configuration is invalid */
	EXIT_INVALID = 3,    /* at least one request was rejected */
	EXIT_LISTS = 4,      /* lists update: at least one list was not updated */
};

#define MAX_INFLIGHT 64

static void usage(FILE *f)
{
	fputs("Usage: kvscreen [--help] [--version] COMMAND [OPTIONS] [ARGS]\n"
	      "\n"
	      "Knowledge-security screening with the plugins and policy of kvscreend.\n"
	      "\n"
	      "Commands:\n"
	      "  screen [-c FILE] [--format json|text] REQUEST.json...\n"
	      "                     screen requests offline ('-' reads stdin); one verdict\n"
	      "                     per line (json) or a readable report (text)\n"
	      "  check-config [-c FILE]\n"
	      "                     validate the whole configuration, its plugins and files\n"
	      "  plugins [-c FILE] [--verbose]\n"
	      "                     list plugins, their versions and request types\n"
	      "  reload [-c FILE] [--socket PATH]\n"
	      "                     ask the running kvscreend to reload its configuration\n"
	      "                     and wait until the new one is in effect or refused\n"
	      "  rescreen [-c FILE] [--socket PATH] [--dry-run] [ID...]\n"
	      "                     screen the open cases (or those named) again in the\n"
	      "                     running kvscreend; changed verdicts are posted as new\n"
	      "                     versions (none with --dry-run); a progress bar on a\n"
	      "                     terminal, then a summary\n"
	      "  report [-c FILE] [-o REPORT.html] [--pdf REPORT.pdf] [--request REQ.json] ID|FILE\n"
	      "                     the case report of a stored verdict (by request id), a\n"
	      "                     verdict file, or a request file (screened here) as one\n"
	      "                     HTML page (stdout without -o); --pdf prints it with\n"
	      "                     headless Chromium\n"
	      "  audit verify [-c FILE] [LOG]\n"
	      "                     check the hash chain of the officer decisions' audit log\n"
	      "  lists [show] [-c FILE]\n"
	      "                     the lists the plugins use and where each is updated from\n"
	      "  lists update [-c FILE] [--dry-run] [--reload [--socket PATH]] [NAME...]\n"
	      "                     download the lists (or only those named), validate each\n"
	      "                     with the daemon's loader and replace its files atomically;\n"
	      "                     a list that fails keeps its files as they were\n"
	      "  outbox list|cat|follow|stored [-c FILE | --state DIR]\n"
	      "                     the messages of the outbox not yet delivered, or every\n"
	      "                     stored verdict (read-only)\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE  configuration file (default: $KVSCREEND_CONF or\n"
	      "                     " KVS_SYSCONFDIR "/kvscreend.conf)\n"
	      "  -h, --help         show this help and exit\n"
	      "  -V, --version      show the version and exit\n"
	      "\n"
	      "Exit status: 0 success; 1 usage or operating error (for reload: the\n"
	      "daemon cannot be reached); 2 invalid configuration (for reload: the\n"
	      "daemon refused the new one and runs the old); 3 at least one request\n"
	      "was rejected as invalid; 4 at least one list was not updated; 5 the\n"
	      "audit log's chain is broken (audit verify).\n"
	      "The decision of a verdict does not change the exit status.\n",
	      f);
}

static int open_engine(const char *config, struct engine **en)
{
	struct cfg_errors e = { .out = stderr };

	if (engine_open(config, en, &e) != 0) {
		fprintf(stderr, "kvscreen: %d error%s in the configuration\n", e.count,
			e.count == 1 ? "" : "s");
		return EXIT_CONFIG;
	}
	return EXIT_OK;
}

/* ---- screen ---- */

struct screen_ctx {
	uv_loop_t loop;
	struct engine *en;
	int text;
	char **files;
	size_t n_files, next_submit, next_print, inflight;
	json_t **verdicts;   /* by input position; NULL until done */
	char **errors;       /* by input position; set when rejected */
	int exit_code;
};

struct slot {
	struct screen_ctx *sc;
	size_t idx;
};

/* Read a whole file or stdin, refusing more than max bytes. */
static int read_input(const char *path, long long max, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 65536, n = 0;
	char *b;

	if (!f)
		return -errno;
	b = malloc(cap);
	if (!b)
		goto nomem;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nb;

			if ((long long)cap > max)
				break;
			cap *= 2;
			nb = realloc(b, cap);
			if (!nb)
				goto nomem;
			b = nb;
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(b);
		if (f != stdin)
			fclose(f);
		return -EIO;
	}
	if (f != stdin)
		fclose(f);
	*buf = b;
	*len = n;
	return 0;
nomem:
	free(b);
	if (f != stdin)
		fclose(f);
	return -ENOMEM;
}

static void print_text(const json_t *v)
{
	size_t i, k;
	json_t *f, *p, *ev;

	printf("%s: %s (score %lld)\n", json_string_value(json_object_get(v, "request_id")),
	       json_string_value(json_object_get(v, "decision")),
	       (long long)json_integer_value(json_object_get(v, "score")));
	f = json_object_get(v, "deciding");
	if (json_is_object(f))
		printf("  deciding: [%s] %s/%s: %s\n",
		       json_string_value(json_object_get(f, "severity")),
		       json_string_value(json_object_get(f, "plugin")),
		       json_string_value(json_object_get(f, "rule")),
		       json_string_value(json_object_get(f, "title")));
	if (json_array_size(json_object_get(v, "actions")))
		printf("  actions:\n");
	json_array_foreach(json_object_get(v, "actions"), i, p)
		printf("    - %s\n", json_string_value(p));
	json_array_foreach(json_object_get(v, "findings"), i, f) {
		json_t *refs = json_object_get(f, "references");

		printf("  [%s] %s/%s: %s\n", json_string_value(json_object_get(f, "severity")),
		       json_string_value(json_object_get(f, "plugin")),
		       json_string_value(json_object_get(f, "rule")),
		       json_string_value(json_object_get(f, "title")));
		if (json_object_get(f, "rationale"))
			printf("      %s\n", json_string_value(json_object_get(f, "rationale")));
		json_array_foreach(json_object_get(f, "evidence"), k, ev) {
			json_t *val = json_object_get(ev, "value");

			if (val) {     /* a whole number or boolean (ABI 3) */
				char *txt = json_dumps(val, JSON_ENCODE_ANY);

				printf("      at %s: %s\n", json_string_value(json_object_get(ev, "path")),
				       txt ? txt : "?");
				free(txt);
				continue;
			}
			printf("      at %s [%lld,%lld): \"%s\"\n",
			       json_string_value(json_object_get(ev, "path")),
			       (long long)json_integer_value(json_object_get(ev, "start")),
			       (long long)json_integer_value(json_object_get(ev, "end")),
			       json_string_value(json_object_get(ev, "text")));
		}
		json_array_foreach(refs, k, p)
			printf("      ref: %s\n", json_string_value(p));
		if (json_object_get(f, "action"))
			printf("      action: %s\n", json_string_value(json_object_get(f, "action")));
	}
	json_array_foreach(json_object_get(v, "plugins"), i, p)
		printf("  plugin %s %s: %s in %lld us\n",
		       json_string_value(json_object_get(p, "name")),
		       json_string_value(json_object_get(p, "version")),
		       json_string_value(json_object_get(p, "status")),
		       (long long)json_integer_value(json_object_get(p, "duration_us")));
	printf("  policy %s\n\n",
	       json_string_value(json_object_get(json_object_get(v, "policy"), "digest")));
}

static void flush_ready(struct screen_ctx *sc)
{
	while (sc->next_print < sc->n_files) {
		size_t i = sc->next_print;

		if (sc->errors[i]) {
			fprintf(stderr, "%s: %s\n", sc->files[i], sc->errors[i]);
			free(sc->errors[i]);
			sc->errors[i] = NULL;
		} else if (sc->verdicts[i]) {
			if (sc->text) {
				print_text(sc->verdicts[i]);
			} else {
				char *s = json_dumps(sc->verdicts[i], JSON_COMPACT);

				if (s)
					puts(s);
				free(s);
			}
			json_decref(sc->verdicts[i]);
			sc->verdicts[i] = NULL;
		} else {
			break;
		}
		sc->next_print++;
	}
	fflush(stdout);
}

static void submit_more(struct screen_ctx *sc);

static void screened(void *data, struct verdict *v)
{
	struct slot *sl = data;
	struct screen_ctx *sc = sl->sc;
	json_t *verdict = v ? verdict_json(v) : NULL;

	sc->verdicts[sl->idx] = verdict ? verdict : json_null();
	sc->inflight--;
	free(sl);
	flush_ready(sc);
	submit_more(sc);
}

static void reject(struct screen_ctx *sc, size_t idx, const char *msg)
{
	sc->errors[idx] = strdup(msg);
	if (!sc->errors[idx])
		sc->errors[idx] = strdup("out of memory");
	sc->exit_code = EXIT_INVALID;
}

static void submit_more(struct screen_ctx *sc)
{
	while (sc->next_submit < sc->n_files && sc->inflight < MAX_INFLIGHT) {
		size_t idx = sc->next_submit++;
		struct kvs_request *req;
		struct request_error err;
		struct slot *sl;
		char msg[1024];
		char *buf = NULL;
		size_t len = 0;
		int r;

		r = read_input(sc->files[idx], sc->en->cfg->limits.max_bytes, &buf, &len);
		if (r < 0) {
			snprintf(msg, sizeof(msg), "cannot read: %s", strerror(-r));
			reject(sc, idx, msg);
			continue;
		}
		r = request_parse(buf, len, &sc->en->cfg->limits, &req, &err);
		free(buf);
		if (r < 0) {
			request_error_format(&err, msg, sizeof(msg));
			reject(sc, idx, msg);
			continue;
		}
		sl = malloc(sizeof(*sl));
		if (sl) {
			sl->sc = sc;
			sl->idx = idx;
		}
		if (!sl || pipeline_submit(&sc->loop, sc->en, req, screened, sl) < 0) {
			free(sl);
			reject(sc, idx, "cannot screen: out of memory");
		} else {
			sc->inflight++;
		}
		request_unref(req);
	}
	flush_ready(sc);
}

static int set_threads(const struct engine *en)
{
	char n[16];

	/* The libuv pool reads this once, when it is first used. */
	snprintf(n, sizeof(n), "%lld", en->cfg->daemon.threads);
	return setenv("UV_THREADPOOL_SIZE", n, 0);
}

static int cmd_screen(const char *config, int text, char **files, size_t n_files)
{
	struct screen_ctx sc = { .text = text, .files = files, .n_files = n_files };
	int r;

	if (n_files == 0) {
		fprintf(stderr, "kvscreen screen: no request given (use - for stdin)\n");
		return EXIT_FAILURE_;
	}
	r = open_engine(config, &sc.en);
	if (r != EXIT_OK)
		return r;
	set_threads(sc.en);
	sc.verdicts = calloc(n_files, sizeof(*sc.verdicts));
	sc.errors = calloc(n_files, sizeof(*sc.errors));
	if (!sc.verdicts || !sc.errors || uv_loop_init(&sc.loop) != 0) {
		fprintf(stderr, "kvscreen: out of memory\n");
		free(sc.verdicts);
		free(sc.errors);
		engine_unref(sc.en);
		return EXIT_FAILURE_;
	}
	submit_more(&sc);
	uv_run(&sc.loop, UV_RUN_DEFAULT);
	uv_loop_close(&sc.loop);
	workers_shutdown();
	engine_unref(sc.en);
	free(sc.verdicts);
	free(sc.errors);
	return sc.exit_code;
}

/* ---- check-config, plugins ---- */

static int cmd_check_config(const char *config)
{
	struct engine *en;
	int r = open_engine(config, &en);

	if (r != EXIT_OK)
		return r;
	printf("configuration OK: %s (%zu plugin%s, policy digest %s)\n", config, en->plugins->n,
	       en->plugins->n == 1 ? "" : "s", en->digest);
	engine_unref(en);
	return EXIT_OK;
}

static const char *opt_type_name(enum kvs_opt_type t)
{
	switch (t) {
	case KVS_OPT_STRING: return "string";
	case KVS_OPT_PATH: return "path";
	case KVS_OPT_INT: return "integer";
	case KVS_OPT_BOOL: return "boolean";
	case KVS_OPT_REAL: return "number";
	case KVS_OPT_STRINGS: return "list of strings";
	case KVS_OPT_SEVERITY: return "severity";
	case KVS_OPT_ENUM: return "one of";
	case KVS_OPT_LISTS: return "lists";
	}
	return "?";
}

static int cmd_plugins(const char *config, int verbose)
{
	struct engine *en;
	int r = open_engine(config, &en);

	if (r != EXIT_OK)
		return r;
	for (size_t i = 0; i < en->plugins->n; i++) {
		const struct plugin *p = &en->plugins->v[i];
		const struct kvs_plugin *d = p->desc;
		char types[64] = "";

		for (unsigned t = 1; t <= KVS_REQ_INVESTMENT; t <<= 1)
			if (d->types & t) {
				strcat(types, types[0] ? "," : "");
				strcat(types, request_type_name((enum kvs_request_type)t));
			}
		printf("%-18s %-10s %-32s %s\n", d->name, d->version, types,
		       d->description ? d->description : "");
		if (!verbose)
			continue;
		printf("    file: %s\n    budget: %lld ms\n", p->cp->path, p->timeout_ms);
		for (const struct kvs_option *o = p->options; o && o->name; o++) {
			printf("    %s (%s", o->name, opt_type_name(o->type));
			for (size_t k = 0; o->type == KVS_OPT_ENUM && o->values && o->values[k]; k++)
				printf("%s%s", k ? "|" : " ", o->values[k]);
			printf("%s%s%s): %s\n", o->required ? ", required" : "",
			       o->def ? ", default " : "", o->def ? o->def : "",
			       o->help ? o->help : "");
		}
	}
	engine_unref(en);
	return EXIT_OK;
}

/* Hidden command for the documentation test (tests/man_options.sh): every
 * key the host parses itself, one per line as
 * group.key<TAB>type<TAB>default<TAB>help ("-" when there is no default). */
static int cmd_options(void)
{
	static const struct {
		const char *group;
		const struct kvs_option *table;
	} groups[] = {
		{ "daemon", cfg_daemon_options },
		{ "limits", cfg_limits_options },
		{ "sink", sink_options },
		{ "lists", cfg_lists_options },
		{ "intake.amqp", amqp_intake_options },
	};

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (const struct kvs_option *o = groups[g].table; o->name; o++)
			printf("%s.%s\t%s\t%s\t%s\n", groups[g].group, o->name,
			       opt_type_name(o->type), o->def ? o->def : "-",
			       o->help ? o->help : "");
	return EXIT_OK;
}

/* ---- reload ---- */

struct body {
	char *buf;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *data)
{
	struct body *b = data;
	size_t add = size * n;
	char *nb;

	if (b->len + add > (1u << 20))
		return 0;
	nb = realloc(b->buf, b->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + b->len, p, add);
	b->buf = nb;
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

static int cmd_reload(const char *config, const char *socket_path)
{
	struct cfg_errors e = { .out = stderr };
	struct kvs_cfg *cfg = NULL;
	struct body b = { NULL, 0 };
	char *sock = NULL;
	long status = 0;
	CURLcode cc;
	CURL *c;
	json_t *j;
	int rc = EXIT_FAILURE_;

	if (!socket_path) {
		if (cfg_load(config, &cfg, &e) != 0) {
			fprintf(stderr, "kvscreen reload: cannot find the daemon's socket in an invalid configuration (use --socket)\n");
			return EXIT_CONFIG;
		}
		if (!cfg->daemon.socket || !*cfg->daemon.socket) {
			fprintf(stderr, "kvscreen reload: %s has no daemon.socket (use --socket)\n", config);
			cfg_free(cfg);
			return EXIT_FAILURE_;
		}
		sock = strdup(cfg->daemon.socket);
		cfg_free(cfg);
	} else {
		sock = strdup(socket_path);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (!sock || !c) {
		fprintf(stderr, "kvscreen reload: out of memory\n");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, "http://localhost/v1/admin/reload");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		fprintf(stderr, "kvscreen reload: cannot reach kvscreend on %s: %s\n", sock,
			curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	j = b.buf ? json_loads(b.buf, 0, NULL) : NULL;
	if (status == 200) {
		printf("reloaded: policy %s\n",
		       json_string_value(json_object_get(j, "policy_digest")) ?: "?");
		rc = EXIT_OK;
	} else {
		const char *msg = json_string_value(
			json_object_get(json_object_get(j, "error"), "message"));

		fprintf(stderr, "%s%skvscreen reload: %s (HTTP %ld)\n", msg ? msg : "",
			msg && msg[0] && msg[strlen(msg) - 1] != '\n' ? "\n" : "",
			status == 422 ? "the daemon refused the new configuration and keeps running the old one"
				      : "the daemon did not reload",
			status);
		rc = status == 422 ? EXIT_CONFIG : EXIT_FAILURE_;
	}
	json_decref(j);
out:
	if (c)
		curl_easy_cleanup(c);
	curl_global_cleanup();
	free(b.buf);
	free(sock);
	return rc;
}

/* ---- rescreen ---- */

/* The daemon's socket: --socket, else daemon.socket of the configuration.
 * Returns a malloc'd path or NULL (and *rc). */
static char *daemon_socket(const char *config, const char *socket_path, const char *cmd, int *rc)
{
	struct cfg_errors e = { .out = stderr };
	struct kvs_cfg *cfg = NULL;
	char *sock;

	if (socket_path)
		return strdup(socket_path);
	if (cfg_load(config, &cfg, &e) != 0) {
		fprintf(stderr, "kvscreen %s: cannot find the daemon's socket in an invalid configuration (use --socket)\n", cmd);
		*rc = EXIT_CONFIG;
		return NULL;
	}
	if (!cfg->daemon.socket || !*cfg->daemon.socket) {
		fprintf(stderr, "kvscreen %s: %s has no daemon.socket (use --socket)\n", cmd, config);
		cfg_free(cfg);
		*rc = EXIT_FAILURE_;
		return NULL;
	}
	sock = strdup(cfg->daemon.socket);
	cfg_free(cfg);
	return sock;
}

/* One request to the daemon's Unix socket: *status and the JSON answer
 * (NULL if none).  Returns 0 or -1 (printed). */
static int admin_call(CURL *c, const char *sock, const char *path, const char *post,
		      long *status, json_t **out)
{
	struct body b = { NULL, 0 };
	char url[256];
	CURLcode cc;

	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (post) {
		struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");

		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		cc = curl_easy_perform(c);
		curl_slist_free_all(h);
	} else {
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		cc = curl_easy_perform(c);
	}
	if (cc != CURLE_OK) {
		fprintf(stderr, "kvscreen rescreen: cannot reach kvscreend on %s: %s\n", sock,
			curl_easy_strerror(cc));
		free(b.buf);
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	*out = b.buf ? json_loads(b.buf, 0, NULL) : NULL;
	free(b.buf);
	return 0;
}

static long long jint(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void progress_bar(const json_t *p)
{
	long long total = jint(p, "total"), done = jint(p, "done");
	int width = 40, fill = total > 0 ? (int)(done * width / total) : width;

	printf("\r[%.*s%*s] %lld/%lld  %.0f/s  changed %lld  errors %lld ", fill,
	       "########################################", width - fill, "", done, total,
	       json_real_value(json_object_get(p, "rate")),
	       jint(p, "changed_up") + jint(p, "changed_down") + jint(p, "changed_findings"),
	       jint(p, "errors"));
	fflush(stdout);
}

static int cmd_rescreen(const char *config, const char *socket_path, int dry_run, char **ids,
			size_t n_ids)
{
	int rc = EXIT_FAILURE_, tty = isatty(STDOUT_FILENO);
	json_t *req = json_pack("{s:b,s:[]}", "dry_run", dry_run, "ids"), *ans = NULL;
	long long run = 0;
	char *sock, *body = NULL;
	long status = 0;
	CURL *c = NULL;

	sock = daemon_socket(config, socket_path, "rescreen", &rc);
	if (!sock)
		goto out;
	for (size_t i = 0; i < n_ids; i++)
		json_array_append_new(json_object_get(req, "ids"), json_string(ids[i]));
	body = json_dumps(req, JSON_COMPACT);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (!c || !body) {
		fprintf(stderr, "kvscreen rescreen: out of memory\n");
		goto out;
	}
	if (admin_call(c, sock, "/v1/admin/rescreen", body, &status, &ans) < 0)
		goto out;
	if (status != 202) {
		const json_t *err = json_object_get(ans, "error");

		fprintf(stderr, "kvscreen rescreen: %s%s%s (HTTP %ld)\n",
			json_string_value(json_object_get(err, "message")) ?: "refused",
			json_object_get(err, "id") ? ": " : "",
			json_string_value(json_object_get(err, "id")) ?: "", status);
		goto out;
	}
	run = jint(ans, "run");
	for (;;) {
		json_t *p = NULL;
		struct timespec ts = { 0, 200 * 1000000 };

		if (tty)
			progress_bar(ans);
		if (!json_is_true(json_object_get(ans, "running")) || jint(ans, "run") != run)
			break;
		nanosleep(&ts, NULL);
		if (admin_call(c, sock, "/v1/admin/rescreen", NULL, &status, &p) < 0)
			goto out;
		json_decref(ans);
		ans = p;
	}
	if (tty)
		putchar('\n');
	printf("rescreen%s: %lld screened, %lld changed up, %lld changed down, %lld changed "
	       "findings, %lld unchanged, %lld errors\n", dry_run ? " (dry run, nothing posted)" : "",
	       jint(ans, "done") - jint(ans, "skipped"), jint(ans, "changed_up"),
	       jint(ans, "changed_down"), jint(ans, "changed_findings"), jint(ans, "unchanged"),
	       jint(ans, "errors"));
	rc = jint(ans, "errors") ? EXIT_FAILURE_ : EXIT_OK;
out:
	if (c)
		curl_easy_cleanup(c);
	if (sock)
		curl_global_cleanup();
	json_decref(ans);
	json_decref(req);
	free(body);
	free(sock);
	return rc;
}

/* ---- lists ---- */

/* kvscreen outbox: the state folder from --state or the configuration. */
static int cmd_outbox(const char *config, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	struct cfg_errors e = { .out = stderr };
	struct kvs_cfg *cfg = NULL;
	const char *state = NULL;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		if (c == 'c')
			config = optarg;
		else if (c == 'S')
			state = optarg;
		else
			return EXIT_FAILURE_;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "kvscreen outbox: unexpected argument \"%s\"\n", argv[optind + 1]);
		return EXIT_FAILURE_;
	}
	if (!state) {
		if (cfg_load(config, &cfg, &e) != 0)
			return EXIT_CONFIG;
		state = cfg->daemon.state_dir;
	}
	rc = outbox_reader_main(state, optind < argc ? argv[optind] : NULL, stdout, stderr);
	cfg_free(cfg);
	return rc;
}

static int cmd_lists(const char *config, const char *socket_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "reload", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct cfg_errors e = { .out = stderr };
	struct lists_update_opts o = { .out = stdout, .err = stderr };
	struct lists_update_result res;
	struct kvs_cfg *cfg = NULL;
	const char *sub = "show";
	int reload = 0, c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "c:s:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'r':
			reload = 1;
			break;
		default:
			return EXIT_FAILURE_;
		}
	}
	if (optind < argc)
		sub = argv[optind++];
	if (strcmp(sub, "show") != 0 && strcmp(sub, "update") != 0) {
		fprintf(stderr, "kvscreen lists: unknown command \"%s\" (show or update)\n", sub);
		return EXIT_FAILURE_;
	}
	if (strcmp(sub, "show") == 0 && (optind < argc || o.dry_run || reload)) {
		fprintf(stderr, "kvscreen lists show: takes no arguments\n");
		return EXIT_FAILURE_;
	}
	if (cfg_load(config, &cfg, &e) != 0) {
		fprintf(stderr, "kvscreen: %d error%s in the configuration\n", e.count,
			e.count == 1 ? "" : "s");
		return EXIT_CONFIG;
	}
	if (strcmp(sub, "show") == 0) {
		rc = lists_update_show(cfg, stdout, stderr);
		cfg_free(cfg);
		return rc == -EINVAL ? EXIT_CONFIG : rc < 0 ? EXIT_FAILURE_ : EXIT_OK;
	}
	o.only = (const char *const *)argv + optind;
	rc = lists_update_run(cfg, &o, &res);
	cfg_free(cfg);
	if (rc == -EINVAL)
		return EXIT_CONFIG;
	if (rc < 0 && rc != -EIO)
		return EXIT_FAILURE_;
	printf("lists update: %u %s, %u unchanged, %u failed, %u without a source%s\n",
	       res.updated, o.dry_run ? "would be updated (dry run)" : "updated", res.unchanged,
	       res.failed, res.skipped, res.failed ? " (their files are unchanged)" : "");
	if (res.updated && !o.dry_run) {
		if (reload) {
			fflush(stdout);
			c = cmd_reload(config, socket_path);
			if (!res.failed)
				return c;
		} else {
			printf("kvscreend uses the new lists after \"kvscreen reload\" "
			       "(or systemctl reload kvscreend)\n");
		}
	}
	return res.failed ? EXIT_LISTS : EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "socket", required_argument, NULL, 's' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = cfg_default_path();
	const char *cmd = NULL, *socket_path = NULL;
	int text = 0, verbose = 0, dry_run = 0, c;

	log_set_level(KVS_LOG_WARNING);
	/* Options may come before or after the command. */
	while ((c = getopt_long(argc, argv, "+c:f:s:vhV", longopts, NULL)) != -1 || optind < argc) {
		if (c == -1) {
			if (cmd)
				break;
			cmd = argv[optind++];
			/* These parse their own options (report_cli.c). */
			if (strcmp(cmd, "report") == 0 || strcmp(cmd, "audit") == 0)
				break;
			continue;
		}
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
				fprintf(stderr, "kvscreen: --format must be json or text\n");
				return EXIT_FAILURE_;
			}
			text = strcmp(optarg, "text") == 0;
			break;
		case 'v':
			verbose = 1;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("kvscreen %s (plugin ABI %u)\n", PACKAGE_VERSION, KVS_ABI_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_FAILURE_;
		}
	}
	if (!cmd) {
		usage(stderr);
		return EXIT_FAILURE_;
	}
	if (strcmp(cmd, "screen") == 0)
		return cmd_screen(config, text, argv + optind, (size_t)(argc - optind));
	if (strcmp(cmd, "lists") == 0)
		return cmd_lists(config, socket_path, argc - optind + 1, argv + optind - 1);
	if (strcmp(cmd, "outbox") == 0)
		return cmd_outbox(config, argc - optind + 1, argv + optind - 1);
	if (strcmp(cmd, "rescreen") == 0)
		return cmd_rescreen(config, socket_path, dry_run, argv + optind,
				    (size_t)(argc - optind));
	if (strcmp(cmd, "report") == 0)
		return report_cli_report(config, argc - optind + 1, argv + optind - 1);
	if (strcmp(cmd, "audit") == 0)
		return report_cli_audit(config, argc - optind + 1, argv + optind - 1);
	if (optind < argc) {
		fprintf(stderr, "kvscreen %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
		return EXIT_FAILURE_;
	}
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(config);
	if (strcmp(cmd, "plugins") == 0)
		return cmd_plugins(config, verbose);
	if (strcmp(cmd, "reload") == 0)
		return cmd_reload(config, socket_path);
	if (strcmp(cmd, "options") == 0)
		return cmd_options();
	fprintf(stderr, "kvscreen: unknown command \"%s\" (try --help)\n", cmd);
	return EXIT_FAILURE_;
}
