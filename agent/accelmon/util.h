/* accelmon collector helpers: what every collector needs and should not
 * write again, in the public API so out-of-tree plugins have them too.
 *  - sysfs files: opened once, read with pread at offset 0, under an fd
 *    budget, with back-off and rate-limited logging on errors;
 *  - one unsigned-number parser with one acceptance rule;
 *  - an include/exclude name filter (POSIX ERE options);
 *  - PCI identity: bus id, NUMA node, nearest accelerator;
 *  - vendor libraries: dlopen over candidate names, symbol tables with
 *    versioned names first and optional symbols.
 * All of them report through the instance's context (am_log,
 * am_read_error); none allocates after setup.
 */
#ifndef ACCELMON_UTIL_H
#define ACCELMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "accelmon/collector.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- numbers ---- */

/* The staleness horizon, the one rule for time integrals (the aggregator's
 * integral kinds, attribution's split): a gap of dt_s seconds between two
 * samples of a source polled every iv_s seconds was observed, and is
 * integrated, only when it is at most 3 intervals (iv_s <= 0: not known,
 * every gap counts). */
static inline bool am_gap_observed(double dt_s, double iv_s)
{
	return iv_s <= 0 || dt_s <= 3 * iv_s;
}

/* Parse an unsigned 64-bit integer from s[0..n) (n = (size_t)-1: up to the
 * NUL). The one rule: optional ASCII white space, then decimal digits, or
 * "0x"/"0X" and hex digits, then optional white space (a sysfs newline)
 * and NUL bytes (files padded with NULs by some drivers and dump tools);
 * nothing else. 0 on success, -EINVAL for anything else (empty, sign,
 * other characters, a NUL before the digits), -ERANGE above UINT64_MAX. */
int am_parse_u64(const char *s, size_t n, uint64_t *out);

/* ---- sysfs files ---- */

/* A set belongs to one collector instance and is used from its thread. */
struct am_files; /* a collector's set of open files */
struct am_file;  /* one file of the set */

/* fd_budget: how many files the set keeps open (0: 256); files added past
 * it are opened, read and closed at every read. */
struct am_files *am_files_new(struct am_ctx *ctx, unsigned fd_budget);
/* Closes every file of the set. */
void am_files_free(struct am_files *fs);
/* Add a file: path relative to dirfd (AT_FDCWD: absolute or relative to the
 * working directory). Opened on first read. NULL on allocation failure. */
struct am_file *am_file_add(struct am_files *fs, int dirfd, const char *path);
/* Remove one file (a vanished port); closes it. */
void am_file_remove(struct am_files *fs, struct am_file *f);
/* Read the whole file (pread from offset 0, up to cap - 1 bytes) into buf,
 * NUL-terminated; returns the length of what was read (binary-safe: NUL
 * bytes in the file are kept and counted; text users take strlen) or a
 * negative errno. A failure counts
 * a read error, is logged rate-limited with the path, and puts the file in
 * back-off (10 s, doubling to 10 min): while backing off it returns
 * -EAGAIN without touching the file. A success clears the back-off. */
ssize_t am_file_read(struct am_file *f, char *buf, size_t cap);
/* am_file_read + am_parse_u64; a value that does not parse is -EINVAL
 * (-ERANGE above UINT64_MAX), counted and logged like a failed read. */
int am_file_read_u64(struct am_file *f, uint64_t *out);
/* The collector refuses what it just read (its own parser failed, a value
 * wider than the counter): counted, logged (why, or strerror(-err) when
 * NULL) and backed off like a failed read; the back-off keeps doubling
 * while the file reads but holds garbage. */
void am_file_fail(struct am_file *f, int err, const char *why);
const char *am_file_path(const struct am_file *f);
/* err (a negative errno) is an answer of this file, not a failure: a read
 * failing with it returns it without counting, logging or backing off
 * (sysfs `speed` and `duplex` of a network interface answer -EINVAL while
 * it is down). One error per file; 0 clears it. */
void am_file_expect(struct am_file *f, int err);

/* One-shot reads for discovery (identity strings, attributes read once):
 * read to EOF up to cap - 1 bytes, NUL-terminated, trailing newline, white
 * space and NUL padding removed; length or negative errno. Nothing is
 * counted. */
ssize_t am_read_text_at(int dirfd, const char *path, char *buf, size_t cap);
int am_read_u64_at(int dirfd, const char *path, uint64_t *out);

/* ---- where a poll waits ---- */

/* Say what the instance's thread is about to wait on: a vendor call's name
 * ("nvmlDeviceGetPowerUsage") or a file's path. When a poll (or init or
 * rescan) overruns its deadline, the watchdog's log line names it. `what`
 * must stay valid until the matching am_call_end (a string literal, or a
 * path the collector keeps); every begin is ended before the poll returns.
 * Pairs nest (a file read inside a vendor call is named with the call); no
 * allocation, no system call. The file layer brackets its own opens and
 * reads. ctx NULL: the calling collector thread's own context, where the
 * agent runs one (the one-shot reads, which take no context, use this). */
void am_call_begin(struct am_ctx *ctx, const char *what);
void am_call_end(struct am_ctx *ctx);

/* ---- names ---- */

struct am_filter;
/* Build a filter from two AM_OPT_REGEX options of cfg (either may be unset
 * or NULL): a name passes when it matches include (or include is unset)
 * and does not match exclude. dflt_include / dflt_exclude apply when the
 * option is unset (NULL: none). 0 or a negative errno (logged). */
int am_filter_new(struct am_ctx *ctx, const struct am_config *cfg,
		  const char *include_key, const char *dflt_include,
		  const char *exclude_key, const char *dflt_exclude,
		  struct am_filter **out);
bool am_filter_pass(const struct am_filter *f, const char *name);
void am_filter_free(struct am_filter *f);

/* ---- PCI identity ---- */

struct am_pci_id {
	char bus_id[32];     /* "0000:17:00.0", "" when not a PCI device */
	int numa_node;       /* -1 when unknown */
	uint32_t vendor, device, class_code; /* 0 when unknown */
};

/* Identity of the PCI device behind a sysfs device directory
 * (e.g. "<sysfs>/class/infiniband/mlx5_0/device"): the last PCI address in
 * its resolved path, numa_node, vendor, device and class. 0 or -errno. */
int am_pci_identity(const char *device_dir, struct am_pci_id *out);

/* The accelerator (PCI class 0x0302 3D controller, 0x0380 display, 0x12xx
 * processing accelerator, 0x0300 VGA from NVIDIA, AMD or Hygon) nearest to the PCI device at device_dir: the one
 * under the lowest common PCIe switch, found by walking up the resolved
 * path under <sysfs>/devices. Writes its bus id into out ("" if none).
 * 0 or -errno. */
int am_pci_nearest_accel(struct am_ctx *ctx, const char *device_dir,
			 char *out, size_t outlen);

/* Normalise a PCI bus id to the kernel's form (lower-case hex, a 4-digit
 * domain unless it is wider: "00000000:18:00.0" -> "0000:18:00.0"), so ids
 * from NVML, sysfs and DRM fdinfo compare equal. 0, -EINVAL when in is not
 * a PCI address, -ERANGE when out is too small. */
int am_pci_norm_bus_id(const char *in, char *out, size_t cap);

/* ---- vendor libraries ---- */

/* Open the first of candidates (NULL-terminated names or paths) that
 * dlopen(RTLD_NOW | RTLD_LOCAL) accepts; each directory of dirs
 * (NULL-terminated, may be NULL) is tried too, joined with each name that
 * has no '/'. NULL when none, with a dlerror() in err: that of the first
 * file that is there but failed (not a library, a dependency of its own
 * missing), else the last one's. */
void *am_dl_open(const char *const *candidates, const char *const *dirs,
		 char *err, size_t errlen);

/* One entry of a symbol table: the names to try in order (versioned first,
 * e.g. {"nvmlInit_v2", "nvmlInit"}), where to store the address, and
 * whether the library is useless without it. */
struct am_dl_sym {
	const char *names[4]; /* NULL-terminated */
	void **slot;
	bool required;
};

/* Resolve every entry (a slot whose symbol is absent is set to NULL).
 * Returns 0, or -ENOENT naming the first missing required symbol in err. */
int am_dl_bind(void *handle, const struct am_dl_sym *syms, size_t n,
	       char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* ACCELMON_UTIL_H */
