/* Open and read faults for suites of code that reads sysfs through the file
 * helpers (accelmon/util.h): errors that root cannot otherwise get (EACCES,
 * EOPNOTSUPP, EINVAL as drivers return them for restricted or unsupported
 * counters), and a count of opens. Link tests/fake_open.c into the test
 * program: it interposes openat, pread and close for the program's own code.
 */
#ifndef ACCELMON_TESTS_FAKE_OPEN_H
#define ACCELMON_TESTS_FAKE_OPEN_H

#include <stdbool.h>

/* Opens of paths ending in suffix fail with err (open: true) or their reads
 * do (open: false). At most 8 rules; suffix is not copied. */
void fake_open_fail(const char *suffix, int err, bool open);
/* Drop every rule and zero the counts. */
void fake_open_reset(void);
/* Opens so far; and of those, the ones whose path contains the watched
 * string (fake_open_watch, NULL: none). */
unsigned fake_open_count(void);
unsigned fake_open_watched(void);
void fake_open_watch(const char *needle);

/* Call fn(path, arg) at each open (path as given) and each pread (path
 * NULL) before it is made: a test looks at what the code under test says
 * it is doing while the call is in progress. fn NULL: none. */
void fake_open_during(void (*fn)(const char *path, void *arg), void *arg);

#endif
