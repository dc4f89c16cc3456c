/* Scenario files of the vendor-library test doubles (tests/fake_nvml,
 * tests/fake_dcmi): INI sections of `key = value` lines, numbers that grow
 * per tick ("BASE+STEP"), tick lists ("FROM-TO,FROM"), and per-symbol call
 * counts. Compiled into each fake .so (hidden symbols), so every fake has
 * its own state; no allocation.
 */
#ifndef ACCELMON_TESTS_FAKE_SCENARIO_H
#define ACCELMON_TESTS_FAKE_SCENARIO_H

#include <stddef.h>

#define FAKE_SCN_KEYS 48

struct fake_scn_kv {
	char key[40];
	char val[160];
};

/* One [section]: the first member of each fake's own section struct. */
struct fake_scn {
	char name[24];
	int nkv;
	struct fake_scn_kv kv[FAKE_SCN_KEYS];
};

/* Read the INI file at path into max records of `stride` bytes starting at
 * base, each beginning with a struct fake_scn (the rest of each record is
 * left as it is). Blank lines and lines starting with # or ; are skipped;
 * sections and keys past the limits are dropped. The number of sections,
 * or -ENOENT when path is NULL or cannot be opened. */
int fake_scn_load(const char *path, void *base, size_t stride, int max);

/* fake_scn_load of the file named by environment variable env, once:
 * *nsec < 0 means not loaded yet. 0 when it has just been read (*nsec set:
 * the caller fills in the rest of its records), 1 when it was already,
 * -ENOENT when the variable is unset or the file unreadable. */
int fake_scn_load_env(const char *env, void *base, size_t stride, int max, int *nsec);

/* key's value as an int (atoi), or dflt when the key is missing. */
int fake_scn_int(const struct fake_scn *s, const char *key, int dflt);

/* The value of key in s (NULL s or missing key: NULL). */
const char *fake_scn_str(const struct fake_scn *s, const char *key);

/* key's value as a number: "BASE" or "BASE+STEP" (BASE + STEP x tick),
 * decimal or 0x hex. 1 with *out set, or 0 when the key is missing. */
int fake_scn_num(const struct fake_scn *s, const char *key, long tick, double *out);

/* Item i of key's comma-separated list ("4242,4343") in s, else dflt. */
unsigned long long fake_scn_list_ull(const struct fake_scn *s, const char *key,
				     unsigned i, unsigned long long dflt);

/* Whether tick is in a list "FROM[-TO],..." (FROM alone: from then on). */
int fake_scn_in_ticks(const char *list, long tick);

/* Count a call of fn (a string literal); returns its count so far. */
long fake_scn_count(const char *fn);
/* Calls of fn so far. */
long fake_scn_calls(const char *fn);

#endif
