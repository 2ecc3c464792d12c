/*
 * matcher.c - label matchers over PCRE2 (see matcher.h).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "storage/matcher.h"
#include "base/alloc.h"
#include "base/buf.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct matcher {
    enum matcher_type type;
    char *name, *value, *str;
    pcre2_code *re;
};

int matcher_new(enum matcher_type type, const char *name, const char *value, struct matcher **out,
                struct saba_err *err)
{
    struct matcher *m = xcalloc(1, sizeof *m);
    m->type = type;
    m->name = xstrdup(name);
    m->value = xstrdup(value);
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    struct buf s = BUF_INIT;
    buf_puts(&s, name);
    buf_puts(&s, ops[type]);
    buf_put_json_str(&s, value, strlen(value));
    m->str = buf_steal(&s);
    if (type == MATCH_RE || type == MATCH_NRE) {
        struct buf pat = BUF_INIT;
        buf_printf(&pat, "^(?:%s)$", value);
        int ec;
        PCRE2_SIZE eo;
        /* NEVER_BACKSLASH_C and no backrefs keep to RE2's feature set; UTF
         * makes . match a character, not a byte, as in Go. */
        m->re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len,
                              PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | PCRE2_DOLLAR_ENDONLY, &ec, &eo,
                              NULL);
        buf_free(&pat);
        if (!m->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            int rc = err_set(err, SABA_EINVAL, 0, "error parsing regexp %s: %s", m->str,
                             (const char *)msg);
            matcher_free(m);
            return rc;
        }
        uint32_t backrefs = 0;
        pcre2_pattern_info(m->re, PCRE2_INFO_BACKREFMAX, &backrefs);
        if (backrefs) {
            int rc = err_set(err, SABA_EINVAL, 0,
                             "error parsing regexp %s: backreferences are not supported", m->str);
            matcher_free(m);
            return rc;
        }
        pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE);
    }
    *out = m;
    return 0;
}

void matcher_free(struct matcher *m)
{
    if (!m)
        return;
    pcre2_code_free(m->re);
    free(m->name);
    free(m->value);
    free(m->str);
    free(m);
}

enum matcher_type matcher_type(const struct matcher *m)
{
    return m->type;
}

const char *matcher_name(const struct matcher *m)
{
    return m->name;
}

const char *matcher_value(const struct matcher *m)
{
    return m->value;
}

const char *matcher_string(const struct matcher *m)
{
    return m->str;
}

bool matcher_matches(const struct matcher *m, const char *value, size_t n)
{
    switch (m->type) {
    case MATCH_EQ:
        return strlen(m->value) == n && memcmp(m->value, value, n) == 0;
    case MATCH_NEQ:
        return !(strlen(m->value) == n && memcmp(m->value, value, n) == 0);
    case MATCH_RE:
    case MATCH_NRE: {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(m->re, NULL);
        int r = pcre2_match(m->re, (PCRE2_SPTR)value, n, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        return (r >= 0) == (m->type == MATCH_RE);
    }
    }
    return false;
}
