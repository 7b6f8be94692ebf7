/* bench_investment.c - time the investment plugin's screen() on typical requests through the pipeline.
 *
 * Usage: bench_investment [ITERATIONS]
 * Opens an engine with the investment plugin alone (the in-tree rule files
 * and the institute's own list), screens each sample request ITERATIONS
 * times, and prints the plugin's own duration (the pipeline's duration_us,
 * measured around screen()) as mean, median, 99th percentile and maximum,
 * plus the end-to-end time per request through the pipeline.  Exits 1 when
 * the mean of any sample exceeds 200 us (the target of issue 8).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

static const char *srcdir(void)
{
	const char *s = getenv("KVS_SRCDIR");

	return s && *s ? s : KVS_SRCDIR;
}

static const char *builddir(void)
{
	const char *b = getenv("KVS_BUILDDIR");

	return b && *b ? b : KVS_BUILDDIR;
}

static void got_verdict(void *data, struct verdict *v)
{
	*(json_t **)data = v ? verdict_json(v) : NULL;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	char conf_path[] = "/tmp/kvs-bench-XXXXXX", *conf_file, *spinoff, *path, *longreq;
	struct cfg_errors e = { .out = stderr };
	struct engine *en = NULL;
	long long *us;
	int fails = 0;
	FILE *f;
	const char *names[4];
	char *reqs[4];
	char text[6000];

	if (iters < 1 || iters > 1000000 || !mkdtemp(conf_path))
		return 2;
	if (asprintf(&conf_file, "%s/kvscreend.conf", conf_path) < 0 || !(f = fopen(conf_file, "w")))
		return 2;
	fprintf(f, "daemon: { plugin_dir = \"%s/plugins\"; threads = 1; };\n"
		"plugins: { investment: {\n"
		"  highly_sensitive_rules = [ \"%s/conf/rules/investment/sensitive-technology.conf\" ];\n"
		"  military_rules = [ \"%s/conf/rules/investment/military.conf\" ];\n"
		"  dual_use_rules = [ \"%s/conf/rules/investment/dual-use.conf\" ];\n"
		"  lists = [ \"kvs:institute_own:high:%s/conf/lists/institute-own.csv\" ];\n"
		"}; };\n", builddir(), srcdir(), srcdir(), srcdir(), srcdir());
	fclose(f);
	if (engine_open(conf_file, &en, &e) != 0)
		return 2;

	if (asprintf(&path, "%s/conf/examples/investment-spinoff.json", srcdir()) < 0 ||
	    !(spinoff = read_file(path)))
		return 2;
	/* A 5 KB description of ordinary research prose with one hit at the end. */
	text[0] = '\0';
	while (strlen(text) < 5000)
		strcat(text, "The company builds software for logistics planning and warehouse "
			     "robotics and sells it to retailers across Europe. ");
	strcat(text, "It also designs photonic chips.");
	if (asprintf(&longreq,
		     "{\"id\":\"b2\",\"type\":\"investment\",\"title\":\"Series B\",\"description\":\"%s\","
		     "\"parties\":[{\"role\":\"target\",\"name\":\"Logi B.V.\",\"country\":\"NL\"},"
		     "{\"role\":\"acquirer\",\"name\":\"Great Wall Tech\",\"country\":\"CN\","
		     "\"state_owned\":true,\"aliases\":[\"GWT\",\"Great Wall Technology\"]}],"
		     "\"investment\":{\"instrument\":\"equity\",\"current_voting_rights_percent\":9,"
		     "\"voting_rights_percent\":12,\"board_seats\":1,\"board_size\":5}}", text) < 0)
		return 2;
	names[0] = "spin-off example";
	reqs[0] = spinoff;
	names[1] = "5 KB description, state-owned acquirer";
	reqs[1] = longreq;
	names[2] = "partnership with funding";
	reqs[2] = "{\"id\":\"b3\",\"type\":\"partnership\",\"title\":\"Joint lab on integrated photonics\","
		  "\"parties\":[{\"role\":\"partner\",\"name\":\"Shenzhen Photon Co\",\"country\":\"CN\","
		  "\"kind\":\"company\"}],\"cooperation\":{\"form\":\"joint_lab\",\"funding\":[{\"source\":"
		  "\"Provincial Fund\",\"country\":\"CN\",\"state_linked\":true}]},"
		  "\"investment\":{\"instrument\":\"joint_venture\",\"voting_rights_percent\":30}}";
	names[3] = "listed parent, vital provider";
	reqs[3] = "{\"id\":\"b4\",\"type\":\"investment\",\"parties\":[{\"role\":\"target\",\"name\":"
		  "\"Haven B.V.\",\"country\":\"NL\",\"activities\":[\"vital_provider\"]},{\"role\":"
		  "\"acquirer\",\"name\":\"Harbour Ventures\",\"parent\":\"Example Photonics\"}],"
		  "\"investment\":{\"voting_rights_percent\":60}}";

	us = calloc((size_t)iters, sizeof(*us));
	printf("investment plugin, %ld iterations per request (duration_us of screen())\n", iters);
	for (int k = 0; k < 4; k++) {
		struct request_error err;
		struct kvs_request *req;
		uint64_t t0;
		double mean = 0, wall;
		const char *decision = "?";

		if (request_parse(reqs[k], strlen(reqs[k]), &en->cfg->limits, &req, &err) < 0) {
			fprintf(stderr, "%s: invalid request: %s\n", names[k], err.message);
			return 2;
		}
		t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			json_t *v = NULL;
			uv_loop_t loop;

			uv_loop_init(&loop);
			pipeline_submit(&loop, en, req, got_verdict, &v);
			uv_run(&loop, UV_RUN_DEFAULT);
			uv_loop_close(&loop);
			if (!v)
				return 2;
			us[i] = json_integer_value(json_object_get(json_array_get(
				json_object_get(v, "plugins"), 0), "duration_us"));
			if (i == 0)
				decision = strcmp(json_string_value(json_object_get(v, "decision")), "escalate")
					? (strcmp(json_string_value(json_object_get(v, "decision")), "deny")
					   ? "other" : "deny") : "escalate";
			json_decref(v);
			mean += (double)us[i];
		}
		wall = (double)(now_ns() - t0) / 1000.0 / (double)iters;
		request_unref(req);
		mean /= (double)iters;
		qsort(us, (size_t)iters, sizeof(*us), cmp_ll);
		printf("  %-42s %-8s mean %6.1f us  p50 %4lld  p99 %4lld  max %5lld  "
		       "(pipeline end to end %.1f us)\n", names[k], decision, mean, us[iters / 2],
		       us[iters * 99 / 100], us[iters - 1], wall);
		if (mean > 200)
			fails++;
	}
	free(us);
	free(longreq);
	free(spinoff);
	free(path);
	engine_unref(en);
	unlink(conf_file);
	rmdir(conf_path);
	free(conf_file);
	return fails ? 1 : 0;
}
