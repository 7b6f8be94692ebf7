/* report_cli.c - `kvscreen report` (the case report as HTML or PDF) and `kvscreen audit verify`.
 *
 * `report` takes a request id (the verdict is read from the state folder's
 * store/, the officer decisions from its audit log), a stored verdict file,
 * or a request file (screened here with the configuration's plugins and
 * policy, so that the report can show the request text).  The PDF is printed
 * by headless Chromium from the HTML file; without Chromium --pdf fails with
 * a message saying so.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "outbox.h"
#include "pipeline.h"
#include "report.h"
#include "outbox_reader.h"
#include "report_cli.h"
#include "workers.h"

#define CHROMIUM_TIMEOUT_S 120

/* ---- inputs ---- */

static json_t *load_json_file(const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	if (!j)
		snprintf(err, errlen, "%.512s:%d: %.256s", path, je.line, je.text);
	return j;
}

/* The stored verdict of id under state_dir (new reference) or NULL: from
 * the outbox's segments, else from a store/ID.SHA256.json file of an
 * outbox written before segments (docs/outbox.md). */
static json_t *stored_verdict(const char *state_dir, const char *id, char *err, size_t errlen)
{
	char dir[4096], path[4096 + 300], *text = NULL;
	size_t il = strlen(id);
	struct dirent *de;
	json_error_t je;
	json_t *v = NULL;
	DIR *d;
	int rc = outbox_reader_find(state_dir, id, &text);

	if (rc == 0) {
		v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
		free(text);
		if (!v)
			snprintf(err, errlen, "the stored verdict of \"%s\" is not JSON: %.256s", id,
				 je.text);
		return v;
	}
	if (rc != -ENOENT) {
		snprintf(err, errlen, "%.512s: cannot read the outbox: %s", state_dir, strerror(-rc));
		return NULL;
	}
	snprintf(dir, sizeof(dir), "%s/store", state_dir);
	d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "%.512s: %s", dir, strerror(errno));
		return NULL;
	}
	while ((de = readdir(d))) {
		/* ID.SHA256.json */
		if (strlen(de->d_name) != il + 1 + 64 + 5 || strncmp(de->d_name, id, il) != 0 ||
		    de->d_name[il] != '.' || strcmp(de->d_name + il + 65, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		v = load_json_file(path, err, errlen);
		break;
	}
	closedir(d);
	if (!v && !*err)
		snprintf(err, errlen, "no stored verdict with id \"%s\" in %.512s", id, state_dir);
	return v;
}

struct one_screen {
	json_t *verdict;
};

static void one_screened(void *data, struct verdict *v)
{
	((struct one_screen *)data)->verdict = v ? verdict_json(v) : NULL;
}

/* Screen the request text buf with the engine of config (blocking). */
static json_t *screen_request(const char *config, const char *buf, size_t len, char *err,
			      size_t errlen)
{
	struct cfg_errors e = { .out = stderr };
	struct one_screen os = { NULL };
	struct kvs_request *req = NULL;
	struct request_error rerr;
	struct engine *en = NULL;
	uv_loop_t loop;

	if (engine_open(config, &en, &e) != 0) {
		snprintf(err, errlen, "%d error%s in the configuration", e.count,
			 e.count == 1 ? "" : "s");
		return NULL;
	}
	if (request_parse(buf, len, &en->cfg->limits, &req, &rerr) < 0) {
		request_error_format(&rerr, err, errlen);
		engine_unref(en);
		return NULL;
	}
	if (uv_loop_init(&loop) != 0) {
		snprintf(err, errlen, "cannot start an event loop");
		goto out;
	}
	if (pipeline_submit(&loop, en, req, one_screened, &os) < 0)
		snprintf(err, errlen, "cannot screen: out of memory");
	else
		uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	workers_shutdown();
out:
	request_unref(req);
	engine_unref(en);
	return os.verdict;
}

/* ---- PDF through headless Chromium ---- */

static char *find_chromium(void)
{
	static const char *const names[] = { "chromium", "chromium-browser", "google-chrome",
					     "google-chrome-stable" };
	const char *env = getenv("KVS_CHROMIUM"), *path = getenv("PATH");

	if (env && *env)
		return access(env, X_OK) == 0 ? strdup(env) : NULL;
	for (size_t i = 0; path && i < sizeof(names) / sizeof(names[0]); i++) {
		const char *p = path;

		while (*p) {
			const char *e = strchr(p, ':');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			char cand[4096];

			if (n && snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, names[i]) <
					 (int)sizeof(cand) && access(cand, X_OK) == 0)
				return strdup(cand);
			p += n + (e ? 1 : 0);
		}
	}
	return NULL;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

/* Print html_path to pdf_path; 0, or 1 with a message on stderr. */
static int print_pdf(const char *html_path, const char *pdf_path)
{
	char *chromium = find_chromium(), profile[] = "/tmp/kvscreen-chromium.XXXXXX";
	char arg_profile[64], arg_pdf[4200], url[4200], abs_html[4096], head[5] = "";
	struct stat st;
	time_t deadline;
	pid_t pid;
	int status = 0, rc = 1, fd;

	if (!chromium) {
		fprintf(stderr, "kvscreen report: --pdf needs Chromium (Debian package \"chromium\"; "
			"or set KVS_CHROMIUM to its path): none found in PATH\n");
		return 1;
	}
	if (!realpath(html_path, abs_html) || !mkdtemp(profile)) {
		fprintf(stderr, "kvscreen report: %s: %s\n", html_path, strerror(errno));
		free(chromium);
		return 1;
	}
	snprintf(arg_profile, sizeof(arg_profile), "--user-data-dir=%s", profile);
	snprintf(arg_pdf, sizeof(arg_pdf), "--print-to-pdf=%s", pdf_path);
	snprintf(url, sizeof(url), "file://%s", abs_html);
	unlink(pdf_path);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		setpgid(0, 0);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		/* Root cannot use Chromium's sandbox; the page has no script and
		 * no external resource (CSP default-src 'none'). */
		if (geteuid() == 0)
			execl(chromium, chromium, "--headless", "--no-sandbox", "--disable-gpu",
			      "--no-first-run", "--no-default-browser-check", "--disable-extensions",
			      "--no-pdf-header-footer", arg_profile, arg_pdf, url, (char *)NULL);
		else
			execl(chromium, chromium, "--headless", "--disable-gpu", "--no-first-run",
			      "--no-default-browser-check", "--disable-extensions",
			      "--no-pdf-header-footer", arg_profile, arg_pdf, url, (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		fprintf(stderr, "kvscreen report: cannot start %s: %s\n", chromium, strerror(errno));
		goto out;
	}
	deadline = time(NULL) + CHROMIUM_TIMEOUT_S;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = -1;
			break;
		}
		if (time(NULL) > deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "kvscreen report: %s did not finish the PDF within %d s\n",
				chromium, CHROMIUM_TIMEOUT_S);
			goto out;
		}
		usleep(100 * 1000);
	}
	/* Chromium may leave helpers behind in its process group. */
	kill(-pid, SIGKILL);
	fd = open(pdf_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 5 || read(fd, head, 4) != 4 ||
	    memcmp(head, "%PDF", 4) != 0) {
		fprintf(stderr, "kvscreen report: %s did not produce a PDF in %s (exit status %d)\n",
			chromium, pdf_path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	rc = 0;
out:
	nftw(profile, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(chromium);
	return rc;
}

/* ---- report ---- */

static int write_html(const struct report_input *in, const char *path)
{
	char tmp[4200];
	FILE *f;
	int rc;

	if (!path) {
		rc = report_render(in, stdout);
		return rc < 0 || fflush(stdout) != 0 ? -EIO : 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	rc = report_render(in, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int report_cli_report(const char *config, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "pdf", required_argument, NULL, 'p' },
		{ "request", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	const char *out = NULL, *pdf = NULL, *req_path = NULL, *arg;
	struct cfg_errors e = { .out = stderr };
	struct report_input in = { 0 };
	struct kvs_cfg *cfg = NULL;
	json_t *verdict = NULL, *request = NULL, *by_id = NULL, *file = NULL;
	struct audit_check ac;
	char err[2048] = "", audit_path[4096], tmp_html[] = "/tmp/kvscreen-report.XXXXXX.html";
	int c, rc = 1, tmp_fd = -1;

	optind = 0;
	while ((c = getopt_long(argc, argv, "c:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'o': out = optarg; break;
		case 'p': pdf = optarg; break;
		case 'r': req_path = optarg; break;
		default: return 1;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: kvscreen report [-c FILE] [-o REPORT.html] [--pdf REPORT.pdf] "
			"[--request REQUEST.json] ID|FILE\n");
		return 1;
	}
	arg = argv[optind];
	if (cfg_load(config, &cfg, &e) != 0) {
		fprintf(stderr, "kvscreen: %d error%s in the configuration\n", e.count,
			e.count == 1 ? "" : "s");
		return 2;
	}
	if (access(arg, F_OK) == 0) {
		const char *schema;

		file = load_json_file(arg, err, sizeof(err));
		if (!file)
			goto fail;
		schema = json_string_value(json_object_get(file, "schema"));
		if (schema && strcmp(schema, "kvscreen.verdict/v1") == 0) {
			verdict = json_incref(file);
		} else {
			/* A request: screen it here, so the report has its text. */
			char *text = json_dumps(file, JSON_COMPACT);

			if (!text) {
				snprintf(err, sizeof(err), "out of memory");
				goto fail;
			}
			verdict = screen_request(config, text, strlen(text), err, sizeof(err));
			free(text);
			if (!verdict)
				goto fail;
			request = json_incref(file);
		}
	} else if (outbox_id_valid(arg)) {
		verdict = stored_verdict(cfg->daemon.state_dir, arg, err, sizeof(err));
		if (!verdict)
			goto fail;
	} else {
		snprintf(err, sizeof(err), "%.512s: no such file, and not a request id", arg);
		goto fail;
	}
	if (req_path && !request) {
		request = load_json_file(req_path, err, sizeof(err));
		if (!request)
			goto fail;
		if (!json_equal(json_object_get(request, "id"), json_object_get(verdict, "request_id"))) {
			snprintf(err, sizeof(err), "%.512s: its id is not the verdict's request_id",
				 req_path);
			goto fail;
		}
	}
	snprintf(audit_path, sizeof(audit_path), "%s/" AUDIT_FILE, cfg->daemon.state_dir);
	rc = audit_read_file(audit_path, &by_id, &ac);
	if (rc < 0) {
		snprintf(err, sizeof(err), "%.512s: %s", audit_path, strerror(-rc));
		rc = 1;
		goto fail;
	}
	rc = 1;
	if (ac.broken) {
		snprintf(err, sizeof(err), "the audit log %.400s is broken at record %llu (%s): only the "
			 "decisions before it are shown; run \"kvscreen audit verify\"", audit_path,
			 ac.broken, ac.message);
		in.note = err;
		fprintf(stderr, "kvscreen report: %s\n", err);
	}
	in.verdict = verdict;
	in.request = request;
	in.decisions = json_object_get(by_id,
				       json_string_value(json_object_get(verdict, "request_id")) ?: "");
	if (!out && pdf) {
		tmp_fd = mkstemps(tmp_html, 5);
		if (tmp_fd < 0) {
			snprintf(err, sizeof(err), "cannot make a temporary file: %s", strerror(errno));
			goto fail;
		}
		close(tmp_fd);
	}
	c = write_html(&in, out ? out : pdf ? tmp_html : NULL);
	if (c < 0) {
		snprintf(err, sizeof(err), "%.512s: %s", out ? out : pdf ? tmp_html : "stdout",
			 strerror(-c));
		goto fail;
	}
	rc = pdf ? print_pdf(out ? out : tmp_html, pdf) : 0;
	err[0] = '\0';
fail:
	if (tmp_fd >= 0)
		unlink(tmp_html);
	if (rc && err[0] && in.note != err)
		fprintf(stderr, "kvscreen report: %s\n", err);
	json_decref(by_id);
	json_decref(file);
	json_decref(verdict);
	json_decref(request);
	cfg_free(cfg);
	return rc;
}

/* ---- audit ---- */

int report_cli_audit(const char *config, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct cfg_errors e = { .out = stderr };
	struct kvs_cfg *cfg = NULL;
	struct audit_check ac;
	char path[4096];
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		if (c != 'c')
			return 1;
		config = optarg;
	}
	if (optind >= argc || strcmp(argv[optind], "verify") != 0 || argc - optind > 2) {
		fprintf(stderr, "usage: kvscreen audit verify [-c FILE] [AUDIT-LOG]\n");
		return 1;
	}
	if (argc - optind == 2) {
		snprintf(path, sizeof(path), "%s", argv[optind + 1]);
	} else {
		if (cfg_load(config, &cfg, &e) != 0) {
			fprintf(stderr, "kvscreen: %d error%s in the configuration\n", e.count,
				e.count == 1 ? "" : "s");
			return 2;
		}
		snprintf(path, sizeof(path), "%s/" AUDIT_FILE, cfg->daemon.state_dir);
		cfg_free(cfg);
	}
	rc = audit_verify_file(path, &ac);
	if (rc < 0) {
		fprintf(stderr, "kvscreen audit verify: %s: %s\n", path, strerror(-rc));
		return 1;
	}
	if (ac.broken) {
		printf("%s: record %llu is broken: %s\n"
		       "%s: records 1 to %llu are intact (head %s)\n", path, ac.broken, ac.message,
		       path, ac.records, ac.head);
		return 5;
	}
	printf("%s: %llu record%s, chain intact; head: record %llu, hash %s\n", path, ac.records,
	       ac.records == 1 ? "" : "s", ac.records, ac.head);
	return 0;
}
