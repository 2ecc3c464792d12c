/*
 * outbox.h - batches waiting for the server: in memory up to a bound, then
 * in an on-disk spool, sent oldest first.
 *
 * A batch is one interval's samples as the compressed HTTP body. Invariants:
 *   1. Every spooled batch is older than every batch in memory (when memory
 *      is full its oldest batch moves to the spool), so "spool first, then
 *      memory" is the order the batches were made in.
 *   2. The spool holds at most spool_bytes; beyond it the oldest spooled
 *      batches are deleted and the count is logged: the only way a batch is
 *      lost, and it is never silent.
 *   3. A batch leaves the outbox only by outbox_pop (the server took it or
 *      refused it as bad input) or by (2).
 * On graceful stop outbox_close spools what is still in memory, and
 * outbox_open picks the spool up again, so agent restarts lose nothing.
 *
 * Spool files are DIR/<seq, 16 hex digits>.batch, each exactly one request
 * body (a gzip member: its CRC-32 and length trailer detect a torn or
 * corrupt file, which the server then refuses and the agent drops). They
 * are written to a temporary name, fsynced and renamed.
 */
#ifndef SABA_AGENT_OUTBOX_H
#define SABA_AGENT_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct outbox;

/* Open (creating dir if needed) and load the batches spooled by an earlier
 * run. 0 or SABA_EIO. */
int outbox_open(const char *dir, int64_t memory_bytes, int64_t spool_bytes, struct outbox **out,
                struct saba_err *err);
/* Spool what is in memory and free. outbox_close(NULL) does nothing. */
void outbox_close(struct outbox *o);

/* Add the newest batch (copied). */
void outbox_push(struct outbox *o, const void *data, size_t n);
/* The oldest batch: 0 and *data, *n (valid until the next outbox call), or
 * SABA_ENOTFOUND if empty. A spooled batch that cannot be read is dropped
 * (logged) and the next one returned. */
int outbox_peek(struct outbox *o, const void **data, size_t *n);
/* Remove the oldest batch. */
void outbox_pop(struct outbox *o);

size_t outbox_count(const struct outbox *o);     /* batches in memory and spool */
size_t outbox_spooled(const struct outbox *o);   /* of which on disk */
uint64_t outbox_dropped(const struct outbox *o); /* batches deleted by invariant 2 */

#endif
