/* outbox_reader.h - `kvscreen outbox`: a read-only view of an outbox's undelivered messages. */
#ifndef KVS_OUTBOX_READER_H
#define KVS_OUTBOX_READER_H

#include <stdio.h>

/* Run `kvscreen outbox CMD` (list, cat, follow or help) on the outbox under
 * state_dir, printing to out (results) and err (errors).  Returns the exit
 * status: 0, or 1 for a usage or read error.  follow returns only on an
 * error. */
int outbox_reader_main(const char *state_dir, const char *cmd, FILE *out, FILE *err);

/* The stored verdict of `id` (read-only, from the segments under
 * state_dir/store/seg and state_dir/outbox/seg): 0 and a malloc'ed,
 * NUL-terminated copy in *json, -ENOENT, or another negative errno. */
int outbox_reader_find(const char *state_dir, const char *id, char **json);

#endif
