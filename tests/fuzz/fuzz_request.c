/* fuzz_request.c - fuzz target for the request parser and validator.
 *
 * Built with libFuzzer (clang -fsanitize=fuzzer) for fuzzing, and with
 * replay.c as a plain program so `make check` replays the corpus under the
 * sanitizers without libFuzzer.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request_limits lim;
	struct request_error err;
	struct kvs_request *req;

	request_limits_default(&lim);
	lim.max_bytes = 65536;
	if (request_parse((const char *)data, size, &lim, &req, &err) == 0) {
		/* Walk what plugins would see. */
		for (size_t i = 0; i < req->n_texts; i++)
			(void)request_lookup(req, req->texts[i].path);
		request_unref(req);
	} else if (strlen(err.message) == 0) {
		__builtin_trap();
	}
	return 0;
}
