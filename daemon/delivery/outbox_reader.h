/* outbox_reader.h - `kvscreen outbox`: a read-only view of an outbox's undelivered messages. */
#ifndef KVS_OUTBOX_READER_H
#define KVS_OUTBOX_READER_H

#include <stdio.h>

/* Run `kvscreen outbox CMD` (list, cat, follow or help) on the outbox under
 * state_dir, printing to out (results) and err (errors).  Returns the exit
 * status: 0, or 1 for a usage or read error.  follow returns only on an
 * error. */
int outbox_reader_main(const char *state_dir, const char *cmd, FILE *out, FILE *err);

#endif
