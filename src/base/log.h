/*
 * log.h - structured log lines on stderr.
 *
 * One line per event in logfmt: ts=... level=... sub=<subsystem> msg="..." k=v.
 * The log_* macros test the level before formatting, so a disabled debug line
 * costs one comparison. log_ratelimited() lets a hot path complain at most
 * once per interval per call site without flooding the log.
 */
#ifndef SABA_BASE_LOG_H
#define SABA_BASE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

extern enum log_level log_threshold;

void log_set_level(enum log_level lvl);
/* Parse "debug", "info", "warn" or "error". Returns 0 or SABA_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Write one line. fmt continues the line after sub=...: by convention it starts
 * with msg="..." and follows with key=value pairs. Use the macros below. */
void log_write(enum log_level lvl, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True at most once per interval_ms for the given per-call-site state word. */
bool log_ratelimited(int64_t *last_ms, int64_t interval_ms);

#define log_at(lvl, sub, ...)                                                                      \
    do {                                                                                           \
        if ((lvl) >= log_threshold)                                                                \
            log_write((lvl), (sub), __VA_ARGS__);                                                  \
    } while (0)
#define log_debug(sub, ...) log_at(LOG_LVL_DEBUG, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_at(LOG_LVL_INFO, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_at(LOG_LVL_WARN, sub, __VA_ARGS__)
#define log_error(sub, ...) log_at(LOG_LVL_ERROR, sub, __VA_ARGS__)

#endif
