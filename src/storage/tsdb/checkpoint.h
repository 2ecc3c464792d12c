/*
 * checkpoint.h - WAL checkpoints: the head written out so old WAL segments
 * can be deleted and restart time does not grow with history.
 *
 * When the head is cut into a block at time T, the WAL is rotated (segment N
 * sealed), the head drops samples before T, and the head's remaining series
 * and chunks are written to wal/checkpoint.<N> (temp, fsync, rename). Then
 * segments <= N are deleted. Opening loads the newest checkpoint and replays
 * only segments > N. Layout in FORMAT.md ("WAL checkpoint").
 */
#ifndef SABA_STORAGE_TSDB_CHECKPOINT_H
#define SABA_STORAGE_TSDB_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/tsdb/head.h"

struct checkpoint_check;

/* Write waldir/checkpoint.<seg> holding every series of h that has samples,
 * and cut_t. Older checkpoints are removed afterwards. Returns 0 or SABA_EIO. */
int checkpoint_write(const char *waldir, uint32_t seg, int64_t cut_t, struct head *h,
                     struct saba_err *err);

/* Load the newest checkpoint of waldir into h (an empty head). *seg is its
 * segment number, or -1 if there is none (then *cut_t = INT64_MIN). Returns 0,
 * or SABA_ECORRUPT / SABA_EIO with the file named in err (then h holds part
 * of it and is only good for head_free). The file stays mapped, read-only,
 * while h uses chunks in it (head_adopt_image): it may be unlinked meanwhile,
 * but not rewritten in place. */
int checkpoint_load(const char *waldir, struct head *h, int64_t *seg, int64_t *cut_t,
                    struct checkpoint_check **pending, struct saba_err *err);

/* A large checkpoint's CRC and chunks are checked on a second thread while
 * the head is built. Given pending, checkpoint_load returns once the head is
 * built, the check maybe still running (a WAL replay can go ahead meanwhile);
 * checkpoint_check_finish waits for it and returns 0, or SABA_ECORRUPT with
 * the reason (then throw h away). Until then h must not be freed, nor used
 * except to replay into it. It must be called (NULL: nothing to do). */
int checkpoint_check_finish(struct checkpoint_check *c, struct saba_err *err);

/* Decode a checkpoint image into h. Pure; used by checkpoint_load and the fuzz
 * target. h copies what it keeps unless p lies in an image h adopted. Returns 0
 * or SABA_ECORRUPT. */
int checkpoint_decode(const uint8_t *p, size_t n, struct head *h, int64_t *cut_t,
                      struct saba_err *err);

#endif
