/* am_parse_u64: the one unsigned-number rule of every collector (sysfs
 * counters and sizes in decimal, PCI ids in 0x hex), so two collectors never
 * disagree on what a file holds. Part of the public helpers (accelmon/util.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "accelmon/util.h"

static int parse_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int parse_digit(char c, unsigned base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int am_parse_u64(const char *s, size_t n, uint64_t *out)
{
	size_t i = 0, first;
	unsigned base = 10;
	uint64_t v = 0;
	int range = 0;

	if (!s || !out)
		return -EINVAL;
	if (n == (size_t)-1)
		n = strlen(s);
	while (i < n && parse_space(s[i]))
		i++;
	/* "0x" only counts as a prefix when a hex digit follows: "0x" alone
	 * is not a number, "0" followed by junk neither. */
	if (n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
	    parse_digit(s[i + 2], 16) >= 0) {
		base = 16;
		i += 2;
	}
	first = i;
	for (int d; i < n && (d = parse_digit(s[i], base)) >= 0; i++) {
		/* Keep scanning after an overflow: "123...x" is -EINVAL, not
		 * -ERANGE; only a well-formed number is too large. */
		if (v > (UINT64_MAX - (unsigned)d) / base)
			range = 1;
		else
			v = v * base + (unsigned)d;
	}
	if (i == first)
		return -EINVAL;
	/* Trailing NULs are padding (dump tools, some drivers), not text: a
	 * value followed by them is the value. */
	while (i < n && (parse_space(s[i]) || s[i] == '\0'))
		i++;
	if (i != n)
		return -EINVAL;
	if (range)
		return -ERANGE;
	*out = v;
	return 0;
}
