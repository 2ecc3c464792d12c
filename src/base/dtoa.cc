/*
 * dtoa.cc - dtoa_shortest() on double-conversion (see dtoa.h).
 */
#include "base/dtoa.h"

#include <double-conversion/double-conversion.h>

int dtoa_shortest(double v, char *digits, int *point)
{
    using double_conversion::DoubleToStringConverter;
    char buf[DoubleToStringConverter::kBase10MaximalLength + 1];
    bool sign;
    int length;
    DoubleToStringConverter::DoubleToAscii(v, DoubleToStringConverter::SHORTEST, 0, buf, sizeof buf,
                                           &sign, &length, point);
    for (int i = 0; i < length; i++)
        digits[i] = buf[i];
    return length;
}
