/*
 * err.h - error codes and the caller-owned error report.
 *
 * Functions return 0 or a negative SABA_E* code. When a caller passes a
 * struct saba_err, the callee fills in the human text (and, for parsers, the
 * 1-based line number) that becomes an HTTP 400 body or a CLI message.
 */
#ifndef SABA_BASE_ERR_H
#define SABA_BASE_ERR_H

enum {
    SABA_OK = 0,
    SABA_EINVAL = -1,  /* bad input: syntax, range, limits */
    SABA_ETOOBIG = -2, /* input exceeds a size limit (HTTP 413) */
    SABA_EIO = -3,     /* a file operation failed */
    SABA_ELOCKED = -4, /* the data directory belongs to another process */
    SABA_ENOTFOUND = -5,
    SABA_ECORRUPT = -6, /* stored data failed a checksum or decode */
    SABA_EEXEC = -7,    /* a query could not be executed (HTTP 422) */
    SABA_ENOSPC = -8,   /* the disk is full: writes are refused until space is back (HTTP 507) */
};

struct saba_err {
    int code;      /* the SABA_E* code, 0 if no error was recorded */
    long line;     /* 1-based input line, 0 if not tied to a line */
    char msg[512]; /* NUL-terminated reason, without the line number */
};

/* Record an error in e (e may be NULL) and return code, so that callers can
 * write `return err_set(e, SABA_EINVAL, line, "bad %s", x);`. */
int err_set(struct saba_err *e, int code, long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
