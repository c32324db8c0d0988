/* tap.c: a small TAP producer for the C unit tests (ok, is_str, is_u64, done_testing). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "tap.h"

static unsigned num_tests, num_failed;

static int report(int pass, const char *fmt, va_list ap)
{
    num_tests++;
    if (!pass)
        num_failed++;
    printf("%sok %u - ", pass ? "" : "not ", num_tests);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    return pass;
}

int ok(int pass, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(pass, fmt, ap);
    va_end(ap);
    return pass;
}

int is_str(const char *got, const char *expected, const char *fmt, ...)
{
    va_list ap;
    int pass = got != NULL && expected != NULL ? strcmp(got, expected) == 0 : got == expected;

    va_start(ap, fmt);
    report(pass, fmt, ap);
    va_end(ap);
    if (!pass)
        printf("#          got: %s%s%s\n#     expected: %s%s%s\n", got ? "'" : "", got ? got : "NULL", got ? "'" : "",
               expected ? "'" : "", expected ? expected : "NULL", expected ? "'" : "");
    return pass;
}

int is_u64(uint64_t got, uint64_t expected, const char *fmt, ...)
{
    va_list ap;
    int pass = got == expected;

    va_start(ap, fmt);
    report(pass, fmt, ap);
    va_end(ap);
    if (!pass)
        printf("#          got: %llu\n#     expected: %llu\n", (unsigned long long)got, (unsigned long long)expected);
    return pass;
}

int done_testing(void)
{
    printf("1..%u\n", num_tests);
    if (num_failed != 0)
        printf("# failed %u of %u tests\n", num_failed, num_tests);
    return num_failed == 0 ? 0 : 1;
}
