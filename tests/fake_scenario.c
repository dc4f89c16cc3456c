/* Scenario files and call counts of the vendor-library test doubles: the
 * one INI reader behind tests/fake_nvml and tests/fake_dcmi (see
 * fake_scenario.h).
 */
#include "fake_scenario.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *scn_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int fake_scn_load(const char *path, void *base, size_t stride, int max)
{
	struct fake_scn *cur = NULL;
	char line[256];
	int n = 0;
	FILE *f;

	if (!path || !(f = fopen(path, "r")))
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *s = scn_trim(line), *eq;

		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');

			if (!e || n == max) {
				cur = NULL; /* its keys are dropped with it */
				continue;
			}
			*e = '\0';
			cur = (struct fake_scn *)((char *)base + (size_t)n++ * stride);
			snprintf(cur->name, sizeof(cur->name), "%s", s + 1);
			cur->nkv = 0;
			continue;
		}
		eq = strchr(s, '=');
		if (!cur || !eq || cur->nkv == FAKE_SCN_KEYS)
			continue;
		*eq = '\0';
		snprintf(cur->kv[cur->nkv].key, sizeof(cur->kv[0].key), "%s",
			 scn_trim(s));
		snprintf(cur->kv[cur->nkv].val, sizeof(cur->kv[0].val), "%s",
			 scn_trim(eq + 1));
		cur->nkv++;
	}
	fclose(f);
	return n;
}

int fake_scn_load_env(const char *env, void *base, size_t stride, int max, int *nsec)
{
	int n;

	if (*nsec >= 0)
		return 1;
	n = fake_scn_load(getenv(env), base, stride, max);
	if (n < 0)
		return n;
	*nsec = n;
	return 0;
}

int fake_scn_int(const struct fake_scn *s, const char *key, int dflt)
{
	const char *v = fake_scn_str(s, key);

	return v ? atoi(v) : dflt;
}

const char *fake_scn_str(const struct fake_scn *s, const char *key)
{
	if (!s)
		return NULL;
	for (int i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].val;
	return NULL;
}

int fake_scn_num(const struct fake_scn *s, const char *key, long tick, double *out)
{
	const char *v = fake_scn_str(s, key);
	char *end;
	double x;

	if (!v)
		return 0;
	x = (strncmp(v, "0x", 2) == 0) ? (double)strtoull(v, &end, 16) : strtod(v, &end);
	if (*end == '+')
		x += strtod(end + 1, NULL) * (double)tick;
	*out = x;
	return 1;
}

int fake_scn_in_ticks(const char *s, long tick)
{
	while (s && *s) {
		char *e;
		long from = strtol(s, &e, 10), to = LONG_MAX;

		if (e == s)
			return 0;
		if (*e == '-')
			to = strtol(e + 1, &e, 10);
		if (tick >= from && tick <= to)
			return 1;
		s = *e == ',' ? e + 1 : e + strlen(e);
	}
	return 0;
}

#define SCN_MAX_FNS 64
static struct {
	const char *fn;
	long n;
} scn_calls[SCN_MAX_FNS];

long fake_scn_count(const char *fn)
{
	int i;

	for (i = 0; i < SCN_MAX_FNS && scn_calls[i].fn; i++)
		if (strcmp(scn_calls[i].fn, fn) == 0)
			break;
	if (i == SCN_MAX_FNS)
		return 0;
	scn_calls[i].fn = fn;
	return ++scn_calls[i].n;
}

long fake_scn_calls(const char *fn)
{
	for (int i = 0; i < SCN_MAX_FNS && scn_calls[i].fn; i++)
		if (strcmp(scn_calls[i].fn, fn) == 0)
			return scn_calls[i].n;
	return 0;
}

unsigned long long fake_scn_list_ull(const struct fake_scn *sc, const char *key,
				     unsigned i, unsigned long long dflt)
{
	const char *s = fake_scn_str(sc, key);

	for (unsigned k = 0; s && *s; k++) {
		char *e;
		unsigned long long v = strtoull(s, &e, 10);

		if (e == s)
			break;
		if (k == i)
			return v;
		s = *e == ',' ? e + 1 : e + strlen(e);
	}
	return dflt;
}
