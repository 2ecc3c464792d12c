/*
 * dtoa.h - the shortest decimal digits of a double.
 *
 * Query results are mostly arbitrary doubles (rates, averages), and printing
 * each one as the shortest string that reads back as the same double (what
 * Prometheus prints) with printf and strtod took more than half of a large
 * query's time. Google's double-conversion library (Debian
 * libdouble-conversion) does it with Grisu/bignum in a fraction of that; it
 * is C++, so this is its C face.
 */
#ifndef SABA_BASE_DTOA_H
#define SABA_BASE_DTOA_H

#ifdef __cplusplus
extern "C" {
#endif

#define DTOA_MAX_DIGITS 17

/* For finite, nonzero v: write the shortest digits d1..dn (n <= 17, no sign,
 * no terminator) that read back as |v| to digits, and *point such that
 * |v| = 0.d1..dn x 10^point. Returns n. */
int dtoa_shortest(double v, char *digits, int *point);

#ifdef __cplusplus
}
#endif

#endif
