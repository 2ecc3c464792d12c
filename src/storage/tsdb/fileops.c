/*
 * fileops.c - the POSIX file layer and the fault-injecting one (see fileops.h).
 *
 * The faulty layer wraps the POSIX calls and counts writes (write and
 * writev), fsyncs and renames; when the armed count is reached the call fails
 * with the armed errno without touching the file, or, for a torn write, after
 * writing the first half of the bytes (what a crash or a full disk can leave).
 */
#include "storage/tsdb/fileops.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Atomic uint64_t crash_countdown;

void fileops_crash_arm(uint64_t n)
{
    atomic_store(&crash_countdown, n);
}

/* A mutating call is about to run: crash here if this is the armed point. */
static void crash_point(void)
{
    if (atomic_load_explicit(&crash_countdown, memory_order_relaxed) &&
        atomic_fetch_sub(&crash_countdown, 1) == 1)
        raise(SIGKILL);
}

static int p_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags | O_CLOEXEC, mode);
}
static int p_close(int fd)
{
    return close(fd);
}
static ssize_t p_write(int fd, const void *p, size_t n)
{
    crash_point();
    return write(fd, p, n);
}
static ssize_t p_writev(int fd, const struct iovec *iov, int n)
{
    crash_point();
    return writev(fd, iov, n);
}
static ssize_t p_pread(int fd, void *p, size_t n, off_t off)
{
    return pread(fd, p, n, off);
}
static int p_fsync(int fd)
{
    crash_point();
    return fdatasync(fd);
}
static int p_ftruncate(int fd, off_t n)
{
    return ftruncate(fd, n);
}
static int p_rename(const char *a, const char *b)
{
    crash_point();
    return rename(a, b);
}
static int p_unlink(const char *p)
{
    crash_point();
    return unlink(p);
}
static int p_mkdir(const char *p, mode_t m)
{
    crash_point();
    return mkdir(p, m);
}
static int p_rmdir(const char *p)
{
    crash_point();
    return rmdir(p);
}

static const struct fileops posix_ops = {p_open,   p_close, p_write,     p_writev,
                                         p_pread,  p_fsync, p_ftruncate, p_rename,
                                         p_unlink, p_mkdir, p_rmdir};

const struct fileops *fops = &posix_ops;

/* ---- the faulty layer ---- */

static _Atomic uint64_t calls[FAULT_KINDS];
static _Atomic uint64_t armed_n[FAULT_KINDS];
static _Atomic int armed_errno;
static _Atomic bool armed_torn, fired;

/* True if this call of kind is the one that must fail. */
static bool hit(enum fault_kind k)
{
    uint64_t c = atomic_fetch_add(&calls[k], 1) + 1;
    uint64_t n = atomic_load(&armed_n[k]);
    if (n && c == n) {
        atomic_store(&fired, true);
        return true;
    }
    return false;
}

static ssize_t f_write(int fd, const void *p, size_t n)
{
    if (hit(FAULT_WRITE)) {
        if (atomic_load(&armed_torn) && n > 1)
            (void)!write(fd, p, n / 2);
        errno = atomic_load(&armed_errno);
        return -1;
    }
    return write(fd, p, n);
}

static ssize_t f_writev(int fd, const struct iovec *iov, int n)
{
    if (hit(FAULT_WRITE)) {
        if (atomic_load(&armed_torn) && n > 0 && iov[0].iov_len > 1)
            (void)!write(fd, iov[0].iov_base, iov[0].iov_len / 2);
        errno = atomic_load(&armed_errno);
        return -1;
    }
    return writev(fd, iov, n);
}

static int f_fsync(int fd)
{
    if (hit(FAULT_FSYNC)) {
        errno = atomic_load(&armed_errno);
        return -1;
    }
    return fdatasync(fd);
}

static int f_rename(const char *a, const char *b)
{
    if (hit(FAULT_RENAME)) {
        errno = atomic_load(&armed_errno);
        return -1;
    }
    return rename(a, b);
}

static const struct fileops faulty_ops = {p_open,   p_close, f_write,     f_writev,
                                          p_pread,  f_fsync, p_ftruncate, f_rename,
                                          p_unlink, p_mkdir, p_rmdir};

void fileops_fault_arm(enum fault_kind kind, uint64_t n, int e, bool torn)
{
    for (int k = 0; k < FAULT_KINDS; k++) {
        atomic_store(&calls[k], 0);
        atomic_store(&armed_n[k], 0);
    }
    atomic_store(&armed_n[kind], n);
    atomic_store(&armed_errno, e);
    atomic_store(&armed_torn, torn);
    atomic_store(&fired, false);
    fops = &faulty_ops;
}

void fileops_fault_reset(void)
{
    for (int k = 0; k < FAULT_KINDS; k++) {
        atomic_store(&calls[k], 0);
        atomic_store(&armed_n[k], 0);
    }
    atomic_store(&fired, false);
    fops = &posix_ops;
}

uint64_t fileops_fault_calls(enum fault_kind kind)
{
    return atomic_load(&calls[kind]);
}

bool fileops_fault_fired(void)
{
    return atomic_load(&fired);
}

/* ---- helpers ---- */

int fops_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t r = fops->write(fd, c, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

int fops_fsync_dir(const char *dir)
{
    int fd = fops->open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return -1;
    int rc = fops->fsync(fd);
    int e = errno;
    fops->close(fd);
    errno = e;
    return rc;
}

int fops_write_file_atomic(const char *dir, const char *name, const void *p, size_t n)
{
    struct buf tmp = BUF_INIT, dst = BUF_INIT;
    buf_printf(&tmp, "%s/%s.tmp", dir, name);
    buf_printf(&dst, "%s/%s", dir, name);
    int rc = -1, e = 0;
    int fd = fops->open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        goto out;
    if (fops_write_all(fd, p, n) != 0 || fops->fsync(fd) != 0) {
        e = errno;
        fops->close(fd);
        fops->unlink(tmp.data);
        errno = e;
        goto out;
    }
    fops->close(fd);
    if (fops->rename(tmp.data, dst.data) != 0) {
        e = errno;
        fops->unlink(tmp.data);
        errno = e;
        goto out;
    }
    rc = fops_fsync_dir(dir);
out:
    e = errno;
    buf_free(&tmp);
    buf_free(&dst);
    errno = e;
    return rc;
}

int fops_remove_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    struct buf p = BUF_INIT;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        buf_reset(&p);
        buf_printf(&p, "%s/%s", path, de->d_name);
        fops->unlink(p.data);
    }
    closedir(d);
    buf_free(&p);
    return fops->rmdir(path);
}

int fops_read_file(const char *path, uint8_t **data, size_t *n)
{
    int fd = fops->open(path, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        fops->close(fd);
        errno = e;
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    uint8_t *p = xmalloc(size ? size : 1);
    while (got < size) {
        ssize_t r = fops->pread(fd, p + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(p);
            fops->close(fd);
            errno = e;
            return -1;
        }
        got += (size_t)r;
    }
    fops->close(fd);
    *data = p;
    *n = size;
    return 0;
}

/* ---- buffered output ---- */

#define FLUSH_BYTES (1 << 20)

int fops_out_flush(struct fops_out *o)
{
    if (o->mem) {
        o->crc = crc32c(0, o->b.data, o->b.len);
        return 0;
    }
    if (!o->b.len)
        return 0;
    o->crc = crc32c(o->crc, o->b.data, o->b.len);
    int rc = fops_write_all(o->fd, o->b.data, o->b.len);
    buf_reset(&o->b);
    return rc;
}

int fops_out_put(struct fops_out *o, const void *p, size_t n)
{
    buf_append(&o->b, p, n);
    o->off += n;
    return o->b.len >= FLUSH_BYTES && !o->mem ? fops_out_flush(o) : 0;
}

int fops_out_u32(struct fops_out *o, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return fops_out_put(o, x, 4);
}

int fops_out_u64(struct fops_out *o, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return fops_out_put(o, x, 8);
}
