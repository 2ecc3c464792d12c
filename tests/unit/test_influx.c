/*
 * test_influx.c - unit tests for the InfluxDB line protocol parser
 * (src/ingest/influx.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "ingest/influx.h"
#include "storage/batch.h"

#include "unit.h"

#define NOW 1732250000000LL

struct parsed {
    struct batch b;
    struct influx_stats st;
    struct saba_err err;
    int rc;
};

static void parse_prec(struct parsed *p, const char *s, enum influx_precision prec,
                       const struct batch_limits *lim)
{
    memset(p, 0, sizeof *p);
    batch_init(&p->b, lim);
    p->rc = influx_parse(s, strlen(s), prec, NOW, &p->b, &p->st, &p->err);
}

static void parse(struct parsed *p, const char *s)
{
    parse_prec(p, s, INFLUX_NS, NULL);
}

static void done(struct parsed *p)
{
    batch_free(&p->b);
}

static void assert_fails(const char *input, long line, const char *reason)
{
    struct parsed p;
    parse(&p, input);
    assert_int_equal(p.rc, SABA_EINVAL);
    assert_int_equal(p.err.code, SABA_EINVAL);
    assert_int_equal(p.err.line, line);
    if (!strstr(p.err.msg, reason))
        fail_msg("input %s: error \"%s\" does not mention \"%s\"", input, p.err.msg, reason);
    done(&p);
}

static void test_basic_naming_and_tags(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "cpu,host=web-1,region=eu usage=0.5,idle=99 1732250000123456789\n");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.st.lines, 1);
    assert_int_equal(p.b.nsamples, 2);
    assert_sample(&p, 0, "__name__=cpu_usage,host=web-1,region=eu", 1732250000123LL, 0.5);
    assert_sample(&p, 1, "__name__=cpu_idle,host=web-1,region=eu", 1732250000123LL, 99);
    done(&p);

    /* tags in any order give the same series; no tags at all is fine */
    parse(&p, "m,b=2,a=1 v=1 1000000\nm,a=1,b=2 v=2 2000000\nm v=3 3000000");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.st.lines, 3);
    assert_int_equal(p.b.nsamples, 3);
    assert_sample(&p, 0, "__name__=m_v,a=1,b=2", 1, 1);
    assert_sample(&p, 1, "__name__=m_v,a=1,b=2", 2, 2);
    assert_sample(&p, 2, "__name__=m_v", 3, 3);
    assert_int_equal(p.b.samples[0].hash, p.b.samples[1].hash);
    done(&p);
}

static void test_field_types(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "m f=1.5,i=-42i,u=42u,e=1e3,neg=-0.25,z=0,big=9007199254740993i,"
              "umax=18446744073709551615u,d=.5 1000000");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 9);
    assert_sample(&p, 0, "__name__=m_f", 1, 1.5);
    assert_sample(&p, 1, "__name__=m_i", 1, -42);
    assert_sample(&p, 2, "__name__=m_u", 1, 42);
    assert_sample(&p, 3, "__name__=m_e", 1, 1000);
    assert_sample(&p, 4, "__name__=m_neg", 1, -0.25);
    assert_sample(&p, 5, "__name__=m_z", 1, 0);
    assert_sample(&p, 6, "__name__=m_big", 1, 9007199254740992.0);
    assert_sample(&p, 7, "__name__=m_umax", 1, 18446744073709551616.0);
    assert_sample(&p, 8, "__name__=m_d", 1, 0.5);
    done(&p);

    /* booleans are 1 and 0 */
    parse(&p, "b a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 1000000");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 10);
    for (size_t i = 0; i < 10; i++)
        assert_double_bits_equal(p.b.samples[i].v, i < 5 ? 1.0 : 0.0);
    done(&p);

    /* string fields are skipped and counted */
    parse(&p, "s msg=\"hello, world\",v=1,path=\"C:\\\\dir \\\"x\\\"\" 1000000\n"
              "s only=\"x\" 2000000\n");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 1);
    assert_sample(&p, 0, "__name__=s_v", 1, 1);
    assert_int_equal(p.st.skipped_string_fields, 3);
    assert_int_equal(p.st.lines, 2);
    done(&p);
}

static void test_escapes(void **state)
{
    (void)state;
    struct parsed p;
    /* measurement: escaped comma and space */
    parse(&p, "my\\ meas\\,x,t=1 v=1 1000000");
    assert_int_equal(p.rc, 0);
    assert_sample(&p, 0, "__name__=my meas,x_v,t=1", 1, 1);
    done(&p);

    /* tag keys and values: comma, equals sign, space, backslash */
    parse(&p, "m,k\\ 1=a\\,b,k\\=2=c\\ d,k3=e\\=f,k4=g\\\\h v=1 1000000");
    assert_int_equal(p.rc, 0);
    assert_sample(&p, 0, "__name__=m_v,k 1=a,b,k3=e=f,k4=g\\h,k=2=c d", 1, 1);
    done(&p);

    /* field keys */
    parse(&p, "m f\\ x=1,f\\,y=2,f\\=z=3 1000000");
    assert_int_equal(p.rc, 0);
    assert_sample(&p, 0, "__name__=m_f x", 1, 1);
    assert_sample(&p, 1, "__name__=m_f,y", 1, 2);
    assert_sample(&p, 2, "__name__=m_f=z", 1, 3);
    done(&p);

    /* a backslash before another character is kept */
    parse(&p, "m\\x,t=a\\b v=1 1000000");
    assert_int_equal(p.rc, 0);
    assert_sample(&p, 0, "__name__=m\\x_v,t=a\\b", 1, 1);
    done(&p);
}

static void test_precisions(void **state)
{
    (void)state;
    static const struct {
        enum influx_precision prec;
        const char *ts;
        int64_t ms;
    } cases[] = {
        {INFLUX_NS, "1732250000123456789", 1732250000123LL},
        {INFLUX_US, "1732250000123456", 1732250000123LL},
        {INFLUX_MS, "1732250000123", 1732250000123LL},
        {INFLUX_S, "1732250000", 1732250000000LL},
        {INFLUX_M, "28870833", 28870833LL * 60000},
        {INFLUX_H, "481180", 481180LL * 3600000},
        {INFLUX_NS, "999999", 0}, /* sub-millisecond: floor */
        {INFLUX_US, "1999", 1},
        {INFLUX_S, "0", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct parsed p;
        char line[128];
        snprintf(line, sizeof line, "m v=1 %s", cases[i].ts);
        parse_prec(&p, line, cases[i].prec, NULL);
        assert_int_equal(p.rc, 0);
        assert_int_equal(p.b.nsamples, 1);
        assert_int_equal(p.b.samples[0].t, cases[i].ms);
        done(&p);
    }
    /* out of int64 range after conversion */
    struct parsed p;
    parse_prec(&p, "m v=1 9223372036854775807", INFLUX_S, NULL);
    assert_int_equal(p.rc, SABA_EINVAL);
    assert_int_equal(p.err.line, 1);
    done(&p);
    parse_prec(&p, "m v=1 9223372036854775807", INFLUX_H, NULL);
    assert_int_equal(p.rc, SABA_EINVAL);
    done(&p);
}

static void test_missing_timestamp_uses_now(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "m v=1\nm v=2 \nm,t=x v=3,w=4  \n");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(p.b.samples[i].t, NOW);
    done(&p);
}

static void test_whitespace_comments_crlf(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "\n# a comment line\n   \n\t  m v=1 1000000\r\n  # indented comment\r\n\r\n"
              "m v=2 2000000\r\nm  v=3   3000000  \n\nm v=4 4000000");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 4);
    assert_int_equal(p.st.lines, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_sample(&p, i, "__name__=m_v", (int64_t)(i + 1), (double)(i + 1));
    }
    done(&p);

    parse(&p, "");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 0);
    done(&p);
    parse(&p, "\n\n# only comments\n");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 0);
    assert_int_equal(p.st.lines, 0);
    done(&p);
}

static void test_errors_with_line_numbers(void **state)
{
    (void)state;
    assert_fails("m", 1, "missing fields");
    assert_fails("m,t=1", 1, "missing fields");
    assert_fails("m v=1 1000000\n\n# c\nm\n", 4, "missing fields");
    assert_fails("m v=1 1000000\nm v=abc 1000000\n", 2, "invalid number");
    assert_fails("m v=1x", 1, "invalid number");
    assert_fails("m v=0x10", 1, "invalid number");
    assert_fails("m v=inf", 1, "invalid number");
    assert_fails("m v=NaN", 1, "invalid number");
    assert_fails("m v=1e999", 1, "out of range");
    assert_fails("m v=1.5i", 1, "invalid integer");
    assert_fails("m v=99999999999999999999i", 1, "invalid integer");
    assert_fails("m v=-1u", 1, "negative");
    assert_fails("m v=i", 1, "invalid");
    assert_fails("m v=tru", 1, "invalid");
    assert_fails("m v=yes", 1, "invalid number");
    assert_fails("m v=", 1, "missing field value");
    assert_fails("m v", 1, "missing field value");
    assert_fails("m =1", 1, "missing field key");
    assert_fails("m v=1,", 1, "missing field key");
    assert_fails("m,=x v=1", 1, "missing tag key");
    assert_fails("m,t v=1", 1, "missing tag value");
    assert_fails("m,t= v=1", 1, "missing tag value");
    assert_fails(",t=1 v=1", 1, "missing measurement");
    assert_fails("a v=1\nb v=1\nc s=\"abc\n", 3, "unterminated string");
    assert_fails("m s=\"abc\\\"", 1, "unterminated string");
    assert_fails("m v=1 abc", 1, "invalid timestamp");
    assert_fails("m v=1 12.5", 1, "invalid timestamp");
    assert_fails("m v=1 1 2", 1, "invalid timestamp");
    assert_fails("m v=1 99999999999999999999", 1, "invalid timestamp");
    assert_fails("m\r\nm v=1\n", 1, "missing fields");
    assert_fails("a v=1\r\nb v=1\r\nc v=x\r\n", 3, "invalid number");
    /* the field is named in the reason */
    assert_fails("m good=1,bad=zz", 1, "\"bad\"");
    /* batch validation applies: a negative timestamp, a reserved tag */
    assert_fails("m v=1 -1000000", 1, "1970");
    assert_fails("m,__x=1 v=1 1000000", 1, "reserved");
    assert_fails("m,t=\xff v=1 1000000", 1, "UTF-8");

    /* a NUL byte */
    struct parsed p;
    memset(&p, 0, sizeof p);
    batch_init(&p.b, NULL);
    const char nul[] = "m v=1 1000000\nm\0 v=1 1000000\n";
    p.rc = influx_parse(nul, sizeof nul - 1, INFLUX_NS, NOW, &p.b, &p.st, &p.err);
    assert_int_equal(p.rc, SABA_EINVAL);
    assert_int_equal(p.err.line, 2);
    done(&p);

    /* an input that ends inside a line, without a newline, still counts it */
    parse(&p, "m v=1 1000000\nm v=1 1000000\nm v=");
    assert_int_equal(p.rc, SABA_EINVAL);
    assert_int_equal(p.err.line, 3);
    done(&p);
}

static void test_line_too_long(void **state)
{
    (void)state;
    struct batch_limits lim = batch_limits_default;
    lim.max_line_bytes = 32;
    struct parsed p;
    parse_prec(&p, "m v=1 1000000\nm,host=aaaaaaaaaaaaaaaaaaaaaaaaaaaaa v=1 1000000\n", INFLUX_NS,
               &lim);
    assert_int_equal(p.rc, SABA_ETOOBIG);
    assert_int_equal(p.err.code, SABA_ETOOBIG);
    assert_int_equal(p.err.line, 2);
    assert_non_null(strstr(p.err.msg, "32"));
    done(&p);
    /* exactly at the limit is fine */
    parse_prec(&p, "m,host=aaaaaaaaaaaaa v=1 1000000", INFLUX_NS, &lim);
    assert_int_equal(strlen("m,host=aaaaaaaaaaaaa v=1 1000000"), 32);
    assert_int_equal(p.rc, 0);
    done(&p);
    /* a comment is a line too */
    char big[64];
    memset(big, 'x', sizeof big);
    big[0] = '#';
    big[63] = '\0';
    parse_prec(&p, big, INFLUX_NS, &lim);
    assert_int_equal(p.rc, SABA_ETOOBIG);
    assert_int_equal(p.err.line, 1);
    done(&p);
}

static void test_many_tags_and_fields(void **state)
{
    (void)state;
    struct parsed p;
    /* 63 tags + __name__ = the default limit of 64 labels */
    char line[4096];
    size_t off = (size_t)snprintf(line, sizeof line, "m");
    for (int i = 0; i < 63; i++)
        off += (size_t)snprintf(line + off, sizeof line - off, ",t%02d=v", i);
    snprintf(line + off, sizeof line - off, " a=1,b=2 1000000");
    parse(&p, line);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.b.nsamples, 2);
    assert_int_equal(p.b.samples[0].nlabels, 64);
    done(&p);
    /* one more is rejected */
    snprintf(line + off, sizeof line - off, ",t99=v a=1 1000000");
    parse(&p, line);
    assert_int_equal(p.rc, SABA_EINVAL);
    assert_int_equal(p.err.line, 1);
    done(&p);
}

static void test_precision_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        enum influx_precision p;
    } ok[] = {
        {"n", INFLUX_NS},  {"ns", INFLUX_NS},       {"", INFLUX_NS},          {"u", INFLUX_US},
        {"us", INFLUX_US}, {"\xc2\xb5", INFLUX_US}, {"\xc2\xb5s", INFLUX_US}, {"ms", INFLUX_MS},
        {"s", INFLUX_S},   {"m", INFLUX_M},         {"h", INFLUX_H},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        enum influx_precision p = INFLUX_H;
        if (ok[i].p == INFLUX_H)
            p = INFLUX_NS;
        assert_int_equal(influx_precision_parse(ok[i].s, &p), 0);
        assert_int_equal(p, ok[i].p);
    }
    enum influx_precision p = INFLUX_S;
    assert_int_equal(influx_precision_parse(NULL, &p), 0);
    assert_int_equal(p, INFLUX_NS);
    const char *bad[] = {"x", "sec", "S", "MS", "NS", "mss", "d", "1", "nanoseconds", "us "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(influx_precision_parse(bad[i], &p), SABA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_naming_and_tags),
        cmocka_unit_test(test_field_types),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_precisions),
        cmocka_unit_test(test_missing_timestamp_uses_now),
        cmocka_unit_test(test_whitespace_comments_crlf),
        cmocka_unit_test(test_errors_with_line_numbers),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_many_tags_and_fields),
        cmocka_unit_test(test_precision_parse),
    };
    return cmocka_run_group_tests_name("influx", tests, NULL, NULL);
}
