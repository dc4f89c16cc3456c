/* PCI identity of the collector helpers (accelmon/util.h): the PCI function
 * behind a sysfs device directory (bus id, NUMA node, ids), and the
 * accelerator nearest to it in the PCIe tree, which is how fabric ports are
 * paired with the GPU they serve (GPUDirect RDMA goes through the shared
 * switch). Runs at discovery only: it walks directories and allocates.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accelmon/util.h"

/* Deepest PCIe nesting searched below a bridge (switches in switches). */
#define PCI_MAX_DEPTH 8

static bool pci_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "DDDD:BB:SS.F" as the kernel names a PCI function ("%04x:%02x:%02x.%d";
 * the domain may be longer, as behind Intel VMD: "10000:e1:00.0"). */
static bool pci_is_addr(const char *s, size_t n)
{
	size_t dom = 0;

	while (dom < n && pci_hex(s[dom]))
		dom++;
	if (dom < 4 || n != dom + 8)
		return false;
	s += dom;
	return s[0] == ':' && pci_hex(s[1]) && pci_hex(s[2]) && s[3] == ':' &&
	       pci_hex(s[4]) && pci_hex(s[5]) && s[6] == '.' && s[7] >= '0' &&
	       s[7] <= '7';
}

static bool pci_name_is_addr(const char *s)
{
	return pci_is_addr(s, strlen(s));
}

/* Accelerator by PCI class: 3D controller (0x0302, NVIDIA data-centre
 * GPUs), other display controller (0x0380, AMD Instinct, Hygon DCU),
 * processing accelerator (0x12xx: Gaudi, Ascend, ...), and VGA (0x0300)
 * only from a GPU vendor (NVIDIA 0x10de, AMD 0x1002, Hygon 0x1d94) so the
 * BMC's VGA function is never taken for one. Vendor alone is not enough:
 * the same vendors make HDMI audio functions, bridges and NVSwitches. */
static bool pci_is_accel(uint32_t cls, uint32_t vendor)
{
	unsigned base = cls >> 16, sub = (cls >> 8) & 0xff;

	if (base == 0x12)
		return true;
	if (base != 0x03)
		return false;
	if (sub == 0x02 || sub == 0x80)
		return true;
	return sub == 0x00 && (vendor == 0x10de || vendor == 0x1002 || vendor == 0x1d94);
}

/* A hex attribute of a PCI function ("0x15b3"); 0 when unreadable. */
static uint32_t pci_attr(const char *dir, const char *name)
{
	char path[PATH_MAX];
	uint64_t v;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    am_read_u64_at(AT_FDCWD, path, &v) < 0 || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

/* Resolve dir and cut it after its last PCI function component: the
 * function itself even when dir is one of its children (".../net/eth0").
 * -ENODEV when no component is a PCI address (a software device). */
static int pci_function_dir(const char *dir, char *real)
{
	char *p, *end = NULL;

	if (!realpath(dir, real))
		return -errno;
	for (p = real; *p;) {
		char *next = strchr(p + 1, '/');
		size_t len;

		if (*p == '/')
			p++;
		len = next ? (size_t)(next - p) : strlen(p);
		if (pci_is_addr(p, len))
			end = p + len;
		if (!next)
			break;
		p = next;
	}
	if (!end)
		return -ENODEV;
	*end = '\0';
	return 0;
}

int am_pci_identity(const char *device_dir, struct am_pci_id *out)
{
	char real[PATH_MAX], path[PATH_MAX], buf[32];
	const char *base;
	int rc;

	if (!device_dir || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->numa_node = -1;
	rc = pci_function_dir(device_dir, real);
	if (rc == -ENODEV)
		return 0; /* not a PCI device: empty identity */
	if (rc < 0)
		return rc;
	base = strrchr(real, '/');
	base = base ? base + 1 : real;
	if (strlen(base) >= sizeof(out->bus_id))
		return -ENAMETOOLONG;
	memcpy(out->bus_id, base, strlen(base) + 1);
	/* numa_node is "-1" without NUMA affinity; anything not a small
	 * number is unknown too. */
	if (snprintf(path, sizeof(path), "%s/numa_node", real) < (int)sizeof(path) &&
	    am_read_text_at(AT_FDCWD, path, buf, sizeof(buf)) > 0) {
		uint64_t v;

		if (am_parse_u64(buf, (size_t)-1, &v) == 0 && v <= INT_MAX)
			out->numa_node = (int)v;
	}
	out->vendor = pci_attr(real, "vendor");
	out->device = pci_attr(real, "device");
	out->class_code = pci_attr(real, "class");
	return 0;
}

/* Depth-first search for accelerators below dir (PCI function directories
 * only), skipping the subtree `skip`; keeps the lowest PCI address. */
static void pci_scan(const char *dir, const char *skip, int depth, char *best, size_t cap)
{
	struct dirent *de;
	DIR *d;

	if (depth > PCI_MAX_DEPTH || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		size_t len = strlen(de->d_name);

		if (!pci_name_is_addr(de->d_name) ||
		    snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >=
			(int)sizeof(sub))
			continue;
		if (skip && strcmp(sub, skip) == 0)
			continue;
		if (pci_is_accel(pci_attr(sub, "class"), pci_attr(sub, "vendor")) &&
		    (!best[0] || strcmp(de->d_name, best) < 0) && len < cap)
			memcpy(best, de->d_name, len + 1);
		pci_scan(sub, skip, depth + 1, best, cap);
	}
	closedir(d);
}

/* Walk up the device's resolved path one bridge at a time and search
 * everything below that bridge. The first level with an accelerator wins
 * (the smallest common ancestor: same PCIe switch before same root port
 * before same root complex), the lowest PCI address breaks ties. The walk
 * stops at the host bridge (pciDDDD:BB): accelerators behind another root
 * complex are not near (traffic crosses the CPU interconnect). */
int am_pci_nearest_accel(struct am_ctx *ctx, const char *device_dir, char *out,
			 size_t outlen)
{
	char cur[PATH_MAX], prev[PATH_MAX], top[PATH_MAX] = "";
	int rc;

	if (!device_dir || !out || outlen == 0)
		return -EINVAL;
	out[0] = '\0';
	rc = pci_function_dir(device_dir, cur);
	if (rc == -ENODEV)
		return 0;
	if (rc < 0)
		return rc;
	/* Never above <sysfs>/devices, whatever the links say. */
	if (ctx &&
	    snprintf(prev, sizeof(prev), "%s/devices", am_sysfs(ctx)) <
		(int)sizeof(prev) &&
	    !realpath(prev, top))
		top[0] = '\0';
	for (int level = 0; level <= PCI_MAX_DEPTH; level++) {
		char *slash = strrchr(cur, '/');
		const char *base;

		if (!slash || slash == cur)
			return 0;
		memcpy(prev, cur, strlen(cur) + 1);
		*slash = '\0';
		if (top[0] &&
		    (strncmp(cur, top, strlen(top)) != 0 || strlen(cur) <= strlen(top)))
			return 0;
		base = strrchr(cur, '/');
		base = base ? base + 1 : cur;
		if (!pci_name_is_addr(base) && strncmp(base, "pci", 3) != 0)
			return 0;
		pci_scan(cur, prev, 0, out, outlen);
		if (out[0] || strncmp(base, "pci", 3) == 0)
			return 0;
	}
	return 0;
}

/* Bus ids from different sources name the same function differently: NVML
 * writes an 8-digit upper-case domain ("00000000:18:00.0"), sysfs and DRM
 * fdinfo a 4-digit lower-case one ("0000:18:00.0"). */
int am_pci_norm_bus_id(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in), dom = 0, skip = 0;
	char buf[32];

	while (dom < n && pci_hex(in[dom]))
		dom++;
	if (!pci_is_addr(in, n) || n >= sizeof(buf))
		return -EINVAL;
	/* leading zeros of the domain beyond four digits */
	while (dom - skip > 4 && in[skip] == '0')
		skip++;
	for (size_t i = skip; i < n; i++)
		buf[i - skip] =
		    (in[i] >= 'A' && in[i] <= 'F') ? (char)(in[i] - 'A' + 'a') : in[i];
	buf[n - skip] = '\0';
	if (n - skip >= cap)
		return -ERANGE;
	memcpy(out, buf, n - skip + 1);
	return 0;
}
