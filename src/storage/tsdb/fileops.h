/*
 * fileops.h - the file layer of the tsdb: every open, write, fsync, rename,
 * unlink, truncate and mmap of the engine goes through one table of
 * function pointers, as SQLite's VFS does.
 *
 * Production uses the POSIX calls unchanged. Tests install the faulty layer
 * (fileops_fault_arm) that fails the N-th write, fsync or rename with a
 * chosen errno, optionally tearing a write (half of it reaches the file
 * before the error), so a test can loop N over every fault point of an
 * operation and check what the engine promises at each one.
 *
 * Thread-safety: the table pointer is swapped only by tests, before and after
 * the operation they exercise; the fault counters are atomic.
 */
#ifndef SABA_STORAGE_TSDB_FILEOPS_H
#define SABA_STORAGE_TSDB_FILEOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/buf.h"

struct fileops {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*write)(int fd, const void *p, size_t n);
    ssize_t (*writev)(int fd, const struct iovec *iov, int n);
    ssize_t (*pread)(int fd, void *p, size_t n, off_t off);
    int (*fsync)(int fd); /* also stands for fdatasync */
    int (*ftruncate)(int fd, off_t n);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    int (*rmdir)(const char *path);
};

/* The table in use (the POSIX one unless a test armed faults). */
extern const struct fileops *fops;

/* Which kind of call a fault hits. */
enum fault_kind { FAULT_WRITE, FAULT_FSYNC, FAULT_RENAME, FAULT_KINDS };

/* Make the n-th (1-based) call of kind fail with errno e from now on (n
 * counts from this call); torn: a failing write first writes half its bytes.
 * n = 0 disarms. Installs the faulty table. */
void fileops_fault_arm(enum fault_kind kind, uint64_t n, int e, bool torn);
/* Disarm everything and reinstall the POSIX table. */
void fileops_fault_reset(void);
/* Calls of kind seen since the last arm/reset, and whether the armed fault fired. */
uint64_t fileops_fault_calls(enum fault_kind kind);
bool fileops_fault_fired(void);

/* Crash points (tests only): after fileops_crash_arm(n), the n-th mutating
 * call (write, fsync, rename, unlink, mkdir, rmdir) raises SIGKILL before
 * it runs, as a kill -9 at that moment would. n = 0 disarms. Returns whether
 * a crash was armed before. */
void fileops_crash_arm(uint64_t n);

/* Helpers built on the table. Each returns 0 or -1 with errno set. */
/* Write all n bytes (retrying short writes and EINTR). */
int fops_write_all(int fd, const void *p, size_t n);
/* fsync a directory, so a rename or unlink inside it is durable. */
int fops_fsync_dir(const char *dir);
/* Write a whole file atomically: path.tmp, fsync, rename to path, fsync dir. */
int fops_write_file_atomic(const char *dir, const char *name, const void *p, size_t n);
/* Remove a directory and the regular files in it (one level). */
int fops_remove_dir(const char *path);
/* Read a whole file into a malloc'ed buffer. */
int fops_read_file(const char *path, uint8_t **data, size_t *n);

/* A buffered output file with a running CRC-32C of what was flushed. With
 * mem set, nothing is written: the whole output stays in b (the block
 * writer compresses its index at the end) and a flush only computes crc over
 * all of b. */
struct fops_out {
    int fd;
    struct buf b;
    uint64_t off; /* bytes emitted so far (flushed + buffered) */
    uint32_t crc; /* of the flushed bytes */
    bool mem;
};
int fops_out_put(struct fops_out *o, const void *p, size_t n);
int fops_out_u32(struct fops_out *o, uint32_t v);
int fops_out_u64(struct fops_out *o, uint64_t v);
int fops_out_flush(struct fops_out *o);

#endif
