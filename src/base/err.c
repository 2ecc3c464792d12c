/*
 * err.c - filling in a struct saba_err (see err.h).
 */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(struct saba_err *e, int code, long line, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    e->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}
