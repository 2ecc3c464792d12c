/*
 * log.c - logfmt lines on stderr (see log.h).
 *
 * Each line is formatted into a local buffer and written with a single
 * write(2), so lines from different threads never interleave.
 */
#include "base/log.h"
#include "base/err.h"
#include "base/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_LVL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level lvl)
{
    log_threshold = lvl;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return SABA_EINVAL;
}

void log_write(enum log_level lvl, const char *sub, const char *fmt, ...)
{
    char line[2048];
    int64_t now = now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ level=%s sub=%s ", (int)(now % 1000),
                          level_names[lvl], sub);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

bool log_ratelimited(int64_t *last_ms, int64_t interval_ms)
{
    int64_t now = now_ms();
    int64_t last = __atomic_load_n(last_ms, __ATOMIC_RELAXED);
    if (last && now - last < interval_ms)
        return false;
    return __atomic_compare_exchange_n(last_ms, &last, now, false, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED);
}
