/* tap.h: a small TAP producer for the C unit tests, run by prove beside the Perl tests. */
#ifndef PD_TAP_H
#define PD_TAP_H

#include <stdint.h>

/* Each reports one test point ("ok N - name" or "not ok N - name") and returns
 * whether it passed; a failure also prints what was got and expected. */
int ok(int pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int is_str(const char *got, const char *expected, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int is_u64(uint64_t got, uint64_t expected, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints the plan ("1..N") and returns the exit status for main: 0 only if every test passed. */
int done_testing(void);

#endif
