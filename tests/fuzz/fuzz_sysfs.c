/* libFuzzer target for the SDK's sysfs value readers (agent/sdk/parse.c,
 * files.c, pci.c): am_parse_u64 against an independent model of the rule in
 * accelmon/util.h (length-bounded and NUL-terminated), am_read_u64_at on a
 * file holding the input, and am_pci_identity on a scratch PCI function
 * whose vendor, device, class and numa_node files are the input split at
 * 0xff bytes. Any disagreement aborts. Built by `make fuzz`:
 *   make fuzz-sysfs && tests/fuzz/fuzz_sysfs tests/fuzz/corpus/sysfs
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int m_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int m_digit(unsigned char c, int base)
{
	int d = c >= '0' && c <= '9'   ? c - '0'
		: c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10
				       : 99;
	return d < base ? d : -1;
}

/* The rule, written again from its description: white space, decimal
 * digits or 0x and hex digits, white space and NULs; nothing else. */
static int model(const unsigned char *s, size_t n, uint64_t *out)
{
	size_t i = 0, first;
	int base = 10, big = 0;
	unsigned __int128 v = 0;

	while (i < n && m_space(s[i]))
		i++;
	if (i + 2 < n && s[i] == '0' && (s[i + 1] | 0x20) == 'x' &&
	    m_digit(s[i + 2], 16) >= 0) {
		base = 16;
		i += 2;
	}
	for (first = i; i < n && m_digit(s[i], base) >= 0; i++) {
		v = v * (unsigned)base + (unsigned)m_digit(s[i], base);
		if (v > UINT64_MAX) {
			big = 1;
			v = 0;
		}
	}
	if (i == first)
		return -EINVAL;
	while (i < n && (m_space(s[i]) || s[i] == '\0'))
		i++;
	if (i != n)
		return -EINVAL;
	if (big)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

static char dir[64];

static void write_file(const char *name, const uint8_t *p, size_t n)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
		abort();
	close(fd);
}

/* What am_pci_identity must report for an attribute file of n bytes. */
static uint64_t want_attr(const uint8_t *p, size_t n, uint64_t max, uint64_t none)
{
	uint64_t v;

	if (n >= 4096 + 1) /* the reader's cap: judged on a prefix, refused */
		return none;
	return model(p, n, &v) == 0 && v <= max ? v : none;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const attrs[] = {"0000:17:00.0/vendor", "0000:17:00.0/device",
					    "0000:17:00.0/class",
					    "0000:17:00.0/numa_node"};
	const uint8_t *part[4] = {data, data, data, data};
	size_t plen[4] = {0, 0, 0, 0};
	struct am_pci_id id;
	char path[PATH_MAX], *z;
	uint64_t a = 1, b = 2, c = 3;
	int ra, rb, rc;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/fuzz-sysfs-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/0000:17:00.0", dir);
		if (mkdir(path, 0700) < 0)
			abort();
	}
	/* An exact-size heap copy, so ASan flags any read past the end. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	ra = am_parse_u64((const char *)copy, size, &a);
	rb = model(copy, size, &b);
	if (ra != rb || (ra == 0 && a != b))
		abort();
	free(copy);
	/* NUL-terminated: the text up to the first NUL. */
	if (!(z = malloc(size + 1)))
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	ra = am_parse_u64(z, (size_t)-1, &a);
	rb = model((const unsigned char *)z, strlen(z), &b);
	if (ra != rb || (ra == 0 && a != b))
		abort();
	free(z);

	/* The file readers: the whole input as one file. */
	write_file("value", data, size);
	snprintf(path, sizeof(path), "%s/value", dir);
	rc = am_read_u64_at(AT_FDCWD, path, &c);
	if (size < 4096 + 1) {
		rb = model(data, size, &b);
		if (rc != rb || (rc == 0 && c != b))
			abort();
	} else if (rc != -EFBIG)
		abort();

	for (size_t i = 0, k = 0; i < size && k < 4; i++) {
		if (data[i] == 0xff) {
			if (++k < 4)
				part[k] = data + i + 1;
			continue;
		}
		plen[k]++;
	}
	for (size_t k = 0; k < 4; k++)
		write_file(attrs[k], part[k], plen[k]);
	snprintf(path, sizeof(path), "%s/0000:17:00.0", dir);
	if (am_pci_identity(path, &id) != 0 || strcmp(id.bus_id, "0000:17:00.0"))
		abort();
	if (id.vendor != want_attr(part[0], plen[0], UINT32_MAX, 0) ||
	    id.device != want_attr(part[1], plen[1], UINT32_MAX, 0) ||
	    id.class_code != want_attr(part[2], plen[2], UINT32_MAX, 0))
		abort();
	/* numa_node: "-1" or junk is unknown; 32 bytes at most are read. */
	if (id.numa_node < -1 || (plen[3] >= 32 && id.numa_node != -1))
		abort();
	return 0;
}
