/* report.h - the officer's case report: one verdict (and what is known around it) as one HTML page.
 *
 * The page is self-contained: inline CSS (allowed by its hash in the
 * Content-Security-Policy, report_csp()), no script, no external resource,
 * no link but fragments of the page itself.  Every text taken from the
 * inputs is escaped for its context (element text or a double-quoted
 * attribute); ids and links are made by the renderer, never taken from the
 * inputs.  An evidence span is highlighted in place only when the request is
 * given, its path names a string of the request, 0 <= start < end <= length,
 * both offsets fall on UTF-8 character boundaries and the bytes equal the
 * evidence's text; any other span is listed, quoted from the verdict, with
 * the reason it could not be placed.  Either way every evidence link of a
 * finding leads to a <mark> with the id it names.
 *
 * Pure function of its inputs apart from the footer's generation time; no
 * I/O but the stream it writes; safe on any thread.
 */
#ifndef KVS_REPORT_H
#define KVS_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct report_input {
	const json_t *verdict;     /* required: kvscreen.verdict/v1 */
	const json_t *request;     /* optional: the request the verdict answers */
	const json_t *decisions;   /* optional: array of audit records (audit.h) */
	const json_t *history;     /* optional: array of all verdict versions, oldest first */
	const char *note;          /* optional: a warning shown at the top */
};

/* Write the page to out.  Returns 0, -EINVAL when in->verdict is not an
 * object, or -EIO when the stream fails. */
int report_render(const struct report_input *in, FILE *out);
/* The Content-Security-Policy the page needs (and carries in a meta
 * element): nothing but its own inline style, identified by its SHA-256.
 * Returns 0 or a negative errno. */
int report_csp(char *buf, size_t len);

#endif
