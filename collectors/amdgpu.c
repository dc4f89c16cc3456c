/* amdgpu collector: AMD Instinct / Radeon (amdgpu) and Hygon DCU (hydcu)
 * devices, read entirely from sysfs -- no vendor library. init() finds the
 * cards under class/drm and keeps a directory fd per device and per hwmon,
 * rescan() finds cards that came or went; poll() reads the small text files
 * and the binary gpu_metrics table (parsed by amdgpu_metrics.c) through the
 * SDK's file layer and emits samples; energy from power, throttle residency
 * and PCIe bytes are computed by the aggregator (derived and integral
 * series), never here.
 *
 * Naming: device="amdgpu<N>" where N is the DRM card number (card3 ->
 * amdgpu3), so names stay stable when an unrelated card disappears; Hygon
 * cards use the same prefix (vendor="Hygon" on accel_info tells them apart).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getdents64, struct dirent64 */
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accelmon/attrib.h"
#include "accelmon/collector.h"
#include "accelmon/schema.h"
#include "accelmon/util.h"
#include "amdgpu_metrics.h"

#define AMDGPU_MAX_DEVICES 64
#define AMDGPU_MAX_TEMPS 8
#define AMDGPU_MAX_RAS 24
#define AMDGPU_TEXT_MAX 4096

#define PCI_VENDOR_AMD 0x1002
#define PCI_VENDOR_HYGON 0x1d94

/* Families, registered once in init. */
enum amdgpu_fam {
	F_INFO,
	F_UP,
	F_UTIL,
	F_BUSY,
	F_MEMBW,
	F_ENGINE,
	F_MEM_USED,
	F_MEM_TOTAL,
	F_POOL_USED,
	F_POOL_TOTAL,
	F_POWER,
	F_POWER_LIMIT,
	F_ENERGY,
	F_ENERGY_PW,
	F_TEMP,
	F_CLOCK,
	F_ECC,
	F_THROTTLED,
	F_PCIE_TX,
	F_PCIE_RX,
	F_XGMI_READ,
	F_XGMI_WRITE,
	F_RES_ACC,
	F_RES,
	F_COUNT
};

#define DEV_LABELS "device", "uuid"

/* The families amdgpu feeds: schema families (accelmon/schema.h) with how
 * sysfs units reach the core, and amdgpu's own (amdgpu_fams). */
static const struct amdgpu_fam_use {
	bool std;
	enum am_std which;
	struct am_std_use use;
} amdgpu_std[F_COUNT] = {
#define STD(w, k, sc)                                                                    \
	{                                                                                \
		true, w,                                                                 \
		{                                                                        \
			.kind = k, .scale = sc                                           \
		}                                                                        \
	}
    [F_INFO] = STD(AM_STD_ACCEL_INFO, AM_INFO, 0),
    [F_UP] = STD(AM_STD_ACCEL_UP, AM_GAUGE, 0),
    /* the *_busy_percent files */
    [F_UTIL] = STD(AM_STD_UTILIZATION, AM_GAUGE, 0.01),
    [F_BUSY] = STD(AM_STD_BUSY_SECONDS, AM_INTEGRAL, 0.01),
    [F_MEMBW] = STD(AM_STD_MEMORY_BW_UTILIZATION, AM_GAUGE, 0.01),
    [F_ENGINE] = STD(AM_STD_ENGINE_UTILIZATION, AM_GAUGE, 0.01),
    [F_MEM_USED] = STD(AM_STD_MEMORY_USED, AM_GAUGE, 0),
    [F_MEM_TOTAL] = STD(AM_STD_MEMORY_TOTAL, AM_GAUGE, 0),
    /* hwmon microwatts */
    [F_POWER] = STD(AM_STD_POWER, AM_GAUGE, 1e-6),
    [F_POWER_LIMIT] = STD(AM_STD_POWER_LIMIT, AM_GAUGE, 1e-6),
    /* One family, two views: the firmware accumulator (2^-16 J units,
     * exact, 64-bit) where gpu_metrics has one that advances, else a
     * series the aggregator derives from the power gauge (its integral). */
    [F_ENERGY] = STD(AM_STD_ENERGY, AM_COUNTER, 1.0 / 65536),
    [F_ENERGY_PW] = STD(AM_STD_ENERGY, AM_COUNTER, 0),
    /* hwmon millidegrees */
    [F_TEMP] = STD(AM_STD_TEMPERATURE, AM_GAUGE, 1e-3),
    [F_CLOCK] = STD(AM_STD_CLOCK, AM_GAUGE, 0),
    /* RAS counts per block */
    [F_ECC] = STD(AM_STD_ECC_ERRORS, AM_COUNTER, 0),
    /* derived: delta(residency) / delta(accumulation_counter), integrated
     * into seconds; or the sampled throttler mask (0/1) integrated */
    [F_THROTTLED] = STD(AM_STD_THROTTLED_SECONDS, AM_INTEGRAL, 0),
    /* pcie_bw is packets per direction over the driver's 1 s window:
     * packets x max payload is a rate (bytes/s, an upper bound), read every
     * pcie_interval, held until the next reading and integrated by the
     * aggregator */
    [F_PCIE_TX] = STD(AM_STD_PCIE_TRANSMIT_BYTES, AM_INTEGRAL, 0),
    [F_PCIE_RX] = STD(AM_STD_PCIE_RECEIVE_BYTES, AM_INTEGRAL, 0),
#undef STD
};

static const struct am_family_def amdgpu_fams[F_COUNT] = {
    [F_POOL_USED] = {"accel_memory_pool_used_bytes",
		     "Memory in use per amdgpu pool (vram, vis_vram: "
		     "CPU-visible VRAM, gtt: system memory mapped to the GPU).",
		     AM_GAUGE,
		     "bytes",
		     {DEV_LABELS, "pool"}},
    [F_POOL_TOTAL] = {"accel_memory_pool_total_bytes",
		      "Size of each amdgpu memory pool (vram, vis_vram, gtt).",
		      AM_GAUGE,
		      "bytes",
		      {DEV_LABELS, "pool"}},
    /* The driver documents the XGMI accumulators in "KiloBytes"; AMD's
     * firmware sizes are binary, so 1 unit = 1024 bytes. */
    [F_XGMI_READ] = {"fabric_xgmi_read_bytes_total",
		     "XGMI data read per link (gpu_metrics).",
		     AM_COUNTER,
		     "bytes",
		     {"device", "link"},
		     .scale = 1024},
    [F_XGMI_WRITE] = {"fabric_xgmi_write_bytes_total",
		      "XGMI data written per link (gpu_metrics).",
		      AM_COUNTER,
		      "bytes",
		      {"device", "link"},
		      .scale = 1024},
    /* The inputs of the residency ratio: 32-bit firmware counters, which
     * the aggregator unwraps. */
    [F_RES_ACC] = {"amdgpu_metrics_accumulation_total",
		   "gpu_metrics accumulation_counter: firmware accumulation "
		   "cycles, the denominator of the throttle residency counters.",
		   AM_COUNTER,
		   NULL,
		   {DEV_LABELS},
		   .bits = 32},
    [F_RES] = {"amdgpu_throttle_residency_total",
	       "gpu_metrics *_residency_acc: accumulation cycles spent throttled, "
	       "per reason.",
	       AM_COUNTER,
	       NULL,
	       {DEV_LABELS, "reason"},
	       .bits = 32},
};

static const char *const amdgpu_pools[3] = {"vram", "vis_vram", "gtt"};
static const char *const amdgpu_reasons[AMDGPU_GM_RES_COUNT] = {
    "prochot", "ppt", "socket_thermal", "vr_thermal", "hbm_thermal"};
/* Classes of the ASIC-independent throttler mask, one per 16 bits. */
static const char *const amdgpu_throttle_cls[4] = {"power", "current", "thermal",
						   "other"};
static const char *const amdgpu_links[AMDGPU_GM_XGMI_LINKS] = {"0", "1", "2", "3",
							       "4", "5", "6", "7"};

struct amdgpu_temp {
	char input[24]; /* "temp2_input" */
	char sensor[32];
	struct am_file *f;
	am_series_t s;
};

struct amdgpu_clock {
	char input[24]; /* "freq1_input", or "pp_dpm_sclk" in the device dir */
	char clock[24];
	int from_dpm;
	struct am_file *f;
	am_series_t s;
};

struct amdgpu_ras {
	char file[64]; /* "umc_err_count" */
	char block[48];
	struct am_file *f;
	am_series_t s_ce, s_ue;
};

/* The per-device files read at every poll (those that exist at discovery;
 * a missing one is a metric the card does not have). */
enum amdgpu_file {
	AF_GPU_BUSY,
	AF_MEM_BUSY,
	AF_VCN_BUSY,
	AF_VRAM_USED,
	AF_VRAM_TOTAL,
	AF_VIS_USED,
	AF_VIS_TOTAL,
	AF_GTT_USED,
	AF_GTT_TOTAL,
	AF_PCIE,
	AF_GM,
	AF_POWER, /* hwmon from here on */
	AF_PCAP,
	AF_COUNT
};
#define AF_FIRST_HWMON AF_POWER

static const char *const amdgpu_file_names[AF_COUNT] = {
    [AF_GPU_BUSY] = "gpu_busy_percent",
    [AF_MEM_BUSY] = "mem_busy_percent",
    [AF_VCN_BUSY] = "vcn_busy_percent",
    [AF_VRAM_USED] = "mem_info_vram_used",
    [AF_VRAM_TOTAL] = "mem_info_vram_total",
    [AF_VIS_USED] = "mem_info_vis_vram_used",
    [AF_VIS_TOTAL] = "mem_info_vis_vram_total",
    [AF_GTT_USED] = "mem_info_gtt_used",
    [AF_GTT_TOTAL] = "mem_info_gtt_total",
    [AF_PCIE] = "pcie_bw",
    [AF_GM] = "gpu_metrics",
    [AF_POWER] = NULL, /* power1_average or power1_input */
    [AF_PCAP] = "power1_cap",
};

enum amdgpu_energy_src { ENERGY_NONE = 0, ENERGY_GM, ENERGY_POWER };

struct amdgpu_dev {
	int card;
	int gone;      /* vanished at a rescan: only accel_up 0 (and accel_info) */
	ino_t dev_ino; /* of class/drm/cardN/device, to tell a card re-plugged */
	char name[24];
	char uuid[AM_LABEL_VALUE_MAX + 1];
	char pci[32];
	int dev_fd;   /* class/drm/cardN/device */
	int hwmon_fd; /* device/hwmon/hwmonM or -1 */
	int ras_fd;   /* device/ras or -1 */
	char vendor[8];
	char model[AM_LABEL_VALUE_MAX + 1];
	char driver[32];
	char driver_version[AM_LABEL_VALUE_MAX + 1];
	char vbios[AM_LABEL_VALUE_MAX + 1];
	char numa[16];

	struct am_file *f[AF_COUNT];
	struct amdgpu_temp temps[AMDGPU_MAX_TEMPS];
	int ntemps;
	struct amdgpu_clock clocks[2];
	int nclocks;
	struct amdgpu_ras ras[AMDGPU_MAX_RAS];
	int nras;
	const char *power_file; /* "power1_average", "power1_input" or NULL */

	/* cached series; AM_SERIES_INVALID until first use */
	am_series_t s_info, s_up, s_util, s_busy, s_membw, s_vcn, s_mem_used, s_mem_total,
	    s_power, s_plimit, s_energy, s_pcie_tx, s_pcie_rx, s_res_acc;
	am_series_t s_pool_used[3], s_pool_total[3];
	am_series_t s_res[AMDGPU_GM_RES_COUNT];
	am_series_t s_throttled[AMDGPU_GM_RES_COUNT];
	am_series_t s_throttle_cls[4];
	am_series_t s_xgmi_rd[AMDGPU_GM_XGMI_LINKS];
	am_series_t s_xgmi_wr[AMDGPU_GM_XGMI_LINKS];

	/* gpu_metrics state */
	int gm_off; /* table absent, unreadable or of an unknown version */
	int gm_logged;
	uint32_t gm_implausible_logged;
	/* The energy source is chosen once, before any energy is exported, so
	 * the counter never mixes the two: the table's accumulator when it
	 * advances between two polls (or power is 0) at a plausible rate, else
	 * power integrated by the aggregator. */
	enum amdgpu_energy_src energy_src;
	int e_have_prev;
	uint64_t e_prev_raw;
	int64_t e_prev_ns;

	/* pcie_bw runs on its own, longer interval */
	int pcie_off;
	int pcie_valid;
	int64_t pcie_next_ns;
	double pcie_rx_rate, pcie_tx_rate; /* bytes/s at the last reading */

	/* attribution (collectors/attribution.md): this poll's busy ratio,
	 * energy counter or power (NAN: none), its DRM clients' last readings */
	double att_util, att_energy_j, att_power_w;
	int att_on;
	char devnum[16]; /* class/drm/cardN/dev ("226:0"): cgroup device lists */
	struct am_drm_prev att_prev;
};

struct amdgpu_state {
	am_family_t fam[F_COUNT];
	struct am_files *files;
	int drm_fd; /* class/drm, kept for rescans */
	char drm_path[PATH_MAX];
	struct amdgpu_dev *devs;
	int ndevs;
	int use_gm;
	double pcie_interval_s;
	int pcie_rr;	 /* next device to offer the pcie_bw read to */
	uint8_t *gm_buf; /* AMDGPU_GM_MAX_BYTES + 1, shared: polls are serial */
	/* attribution (NULL: off) and this poll's DRM clients (am_drm_scan) */
	struct am_attrib *att;
	struct am_drm_skip_set drm_skip; /* processes without a DRM fd */
	struct am_drm_client *cl;
	size_t ncl, clcap;
	struct am_attrib_proc *procs;
	size_t nprocs_cap;
};

static const struct am_option amdgpu_options[] = {
    {"pcie_interval", AM_OPT_DURATION,
     "how often to read device/pcie_bw (slow: the driver samples for 1 s); "
     "0 turns it off (default 10s)"},
    {"gpu_metrics", AM_OPT_BOOL,
     "read the binary gpu_metrics table (energy, throttling, XGMI; "
     "default true)"},
    {"attribution", AM_OPT_BOOL,
     "accel_job_* per Slurm job, pod, container, unit or user from DRM fdinfo "
     "(default true; collectors/attribution.md)"},
    {"max_jobs", AM_OPT_INT, "jobs per card with series of their own (default 16)", 1,
     62},
    AM_ATTRIB_OPTIONS,
    {NULL, 0, NULL},
};

/* ---- file helpers: the SDK's file layer, plus NUL padding ---- */

/* Some dump tools and drivers pad an attribute with NUL bytes up to a page:
 * the text ends at the padding. A sysfs attribute is at most a page. */
#define AMDGPU_PAGE 4096

/* Strip trailing NUL padding and white space from buf[0..n); returns the
 * new length (buf stays NUL-terminated). */
static size_t amdgpu_trim(char *buf, size_t n)
{
	while (n > 0 && (buf[n - 1] == '\0' || isspace((unsigned char)buf[n - 1])))
		n--;
	buf[n] = '\0';
	return n;
}

/* A one-shot read at discovery (identity strings): the text, trimmed, cut
 * to cap - 1 bytes. Length or -errno; nothing is counted. */
static ssize_t amdgpu_text_at(int dirfd, const char *path, char *out, size_t cap)
{
	char buf[AMDGPU_PAGE + 1];
	ssize_t n;
	size_t len;

	if (dirfd < 0 && dirfd != AT_FDCWD)
		return -ENOENT;
	n = am_read_text_at(dirfd, path, buf, sizeof(buf));
	if (n < 0)
		return n;
	len = amdgpu_trim(buf, (size_t)n);
	if (len >= cap)
		len = cap - 1;
	memcpy(out, buf, len);
	out[len] = '\0';
	return (ssize_t)len;
}

/* A poll read through the file layer (back-off, counted errors), trimmed.
 * -ENOENT for a file the card does not have (f NULL). */
static ssize_t amdgpu_fread(struct am_file *f, char *buf, size_t cap)
{
	ssize_t n;

	if (!f)
		return -ENOENT;
	n = am_file_read(f, buf, cap);
	return n < 0 ? n : (ssize_t)amdgpu_trim(buf, (size_t)n);
}

/* One unsigned number (am_parse_u64's rule) from a poll file; a value that
 * does not parse, or is above max, is refused through the file layer
 * (counted, logged with the text, backed off). */
static int amdgpu_fread_u64(struct am_file *f, uint64_t max, uint64_t *v)
{
	char buf[AMDGPU_PAGE + 1], why[96];
	ssize_t n = amdgpu_fread(f, buf, sizeof(buf));
	int rc;

	if (n < 0)
		return (int)n;
	rc = am_parse_u64(buf, (size_t)n, v);
	if (rc == 0 && *v > max) {
		snprintf(why, sizeof(why),
			 "%" PRIu64 " is not plausible (above %" PRIu64 ")", *v, max);
		am_file_fail(f, -ERANGE, why);
		return -ERANGE;
	}
	if (rc < 0) {
		snprintf(why, sizeof(why), "%s: \"%.32s\"",
			 rc == -ERANGE ? "number out of range" : "not an unsigned number",
			 buf);
		am_file_fail(f, rc, why);
	}
	return rc;
}

static am_series_t amdgpu_ser(struct am_ctx *ctx, am_series_t *cache, am_family_t fam,
			      const char *const *labels)
{
	if (*cache == AM_SERIES_INVALID && fam >= 0)
		*cache = am_series(ctx, fam, labels);
	return *cache;
}

static void amdgpu_emit(struct am_ctx *ctx, am_series_t s, double v)
{
	if (s != AM_SERIES_INVALID)
		am_emit(ctx, s, v);
}

/* AM_COUNTER families take exact integers (a fractional value would be
 * dropped by the aggregator, a double loses bits past 2^53). */
static void amdgpu_emit_u64(struct am_ctx *ctx, am_series_t s, uint64_t v)
{
	if (s != AM_SERIES_INVALID)
		am_emit_u64(ctx, s, v);
}

/* ---- discovery ---- */

/* Bounded copy that truncates quietly (sysfs strings are short; a long
 * one is cut, never overflowed). */
static void amdgpu_copy(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i]; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

/* KEY=value from a uevent file, or "" */
static void amdgpu_uevent(const char *uevent, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	const char *p = uevent;

	out[0] = '\0';
	while (p && *p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t n = strcspn(v, "\n");
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
}

struct amdgpu_model {
	unsigned vendor, device;
	const char *name;
};

/* A few data-center parts by PCI device id; anything else is named by its
 * ids (product_name, when the board has one, wins over both). */
static const struct amdgpu_model amdgpu_models[] = {
    {PCI_VENDOR_AMD, 0x738c, "AMD Instinct MI100"},
    {PCI_VENDOR_AMD, 0x740c, "AMD Instinct MI250X/MI250"},
    {PCI_VENDOR_AMD, 0x740f, "AMD Instinct MI210"},
    {PCI_VENDOR_AMD, 0x74a0, "AMD Instinct MI300A"},
    {PCI_VENDOR_AMD, 0x74a1, "AMD Instinct MI300X"},
};

static void amdgpu_discover_hwmon(struct amdgpu_dev *d)
{
	int hfd = openat(d->dev_fd, "hwmon", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *e;
	char best[64] = "";

	d->hwmon_fd = -1;
	if (hfd < 0)
		return;
	dir = fdopendir(hfd);
	if (!dir) {
		close(hfd);
		return;
	}
	/* amdgpu registers one hwmon per device; take the lowest-numbered. */
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, "hwmon", 5) != 0)
			continue;
		if (!best[0] || strlen(e->d_name) < strlen(best) ||
		    (strlen(e->d_name) == strlen(best) && strcmp(e->d_name, best) < 0))
			amdgpu_copy(best, sizeof(best), e->d_name);
	}
	if (best[0])
		d->hwmon_fd =
		    openat(dirfd(dir), best, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	closedir(dir);
}

static const char *amdgpu_clock_name(const char *label)
{
	if (strcmp(label, "sclk") == 0)
		return "graphics";
	if (strcmp(label, "mclk") == 0)
		return "memory";
	return label;
}

static int amdgpu_exists(int dirfd, const char *name)
{
	struct stat st;

	return dirfd >= 0 && fstatat(dirfd, name, &st, 0) == 0;
}

static void amdgpu_discover_sensors(struct amdgpu_dev *d)
{
	static const char *const temp_default[] = {"edge", "junction", "mem"};
	char name[32], buf[64];

	d->ntemps = 0;
	d->nclocks = 0;
	d->power_file = NULL;
	if (d->hwmon_fd >= 0) {
		for (int i = 1; i <= AMDGPU_MAX_TEMPS; i++) {
			struct amdgpu_temp *t = &d->temps[d->ntemps];
			snprintf(t->input, sizeof(t->input), "temp%d_input", i);
			if (!amdgpu_exists(d->hwmon_fd, t->input))
				continue;
			snprintf(name, sizeof(name), "temp%d_label", i);
			if (amdgpu_text_at(d->hwmon_fd, name, buf, sizeof(buf)) > 0)
				amdgpu_copy(t->sensor, sizeof(t->sensor), buf);
			else if (i <= 3)
				amdgpu_copy(t->sensor, sizeof(t->sensor),
					    temp_default[i - 1]);
			else
				snprintf(t->sensor, sizeof(t->sensor), "temp%d", i);
			t->s = AM_SERIES_INVALID;
			d->ntemps++;
		}
		for (int i = 1; i <= 2; i++) {
			struct amdgpu_clock *c = &d->clocks[d->nclocks];
			snprintf(c->input, sizeof(c->input), "freq%d_input", i);
			if (!amdgpu_exists(d->hwmon_fd, c->input))
				continue;
			snprintf(name, sizeof(name), "freq%d_label", i);
			if (amdgpu_text_at(d->hwmon_fd, name, buf, sizeof(buf)) <= 0)
				amdgpu_copy(buf, sizeof(buf), i == 1 ? "sclk" : "mclk");
			amdgpu_copy(c->clock, sizeof(c->clock), amdgpu_clock_name(buf));
			c->from_dpm = 0;
			c->s = AM_SERIES_INVALID;
			d->nclocks++;
		}
		if (amdgpu_exists(d->hwmon_fd, "power1_average"))
			d->power_file = "power1_average";
		else if (amdgpu_exists(d->hwmon_fd, "power1_input"))
			d->power_file = "power1_input";
	}
	/* No hwmon frequency: the DPM tables mark the current level with '*'. */
	if (d->nclocks == 0) {
		static const char *const dpm[2][2] = {{"pp_dpm_sclk", "graphics"},
						      {"pp_dpm_mclk", "memory"}};
		for (int i = 0; i < 2; i++) {
			if (!amdgpu_exists(d->dev_fd, dpm[i][0]))
				continue;
			struct amdgpu_clock *c = &d->clocks[d->nclocks++];
			amdgpu_copy(c->input, sizeof(c->input), dpm[i][0]);
			amdgpu_copy(c->clock, sizeof(c->clock), dpm[i][1]);
			c->from_dpm = 1;
			c->s = AM_SERIES_INVALID;
		}
	}
}

static void amdgpu_discover_ras(struct amdgpu_dev *d)
{
	int fd = openat(d->dev_fd, "ras", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *e;

	d->nras = 0;
	d->ras_fd = -1;
	if (fd < 0)
		return;
	d->ras_fd = dup(fd);
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((e = readdir(dir)) != NULL && d->nras < AMDGPU_MAX_RAS) {
		size_t n = strlen(e->d_name);
		const char *suffix = "_err_count";
		size_t sl = strlen(suffix);
		if (n <= sl || n >= sizeof(d->ras[0].file) ||
		    strcmp(e->d_name + n - sl, suffix) != 0)
			continue;
		struct amdgpu_ras *r = &d->ras[d->nras++];
		amdgpu_copy(r->file, sizeof(r->file), e->d_name);
		snprintf(r->block, sizeof(r->block), "%.*s", (int)(n - sl), e->d_name);
		r->s_ce = r->s_ue = AM_SERIES_INVALID;
	}
	closedir(dir);
}

/* A hex PCI id in text ("0x1002"), 0 when it is not one. */
static unsigned amdgpu_hex_id(const char *text)
{
	uint64_t v;

	return am_parse_u64(text, (size_t)-1, &v) == 0 && v <= UINT32_MAX ? (unsigned)v
									  : 0;
}

static void amdgpu_identify(struct amdgpu_dev *d, const char *sysfs, unsigned vendor,
			    unsigned dev_id, const char *uevent)
{
	char buf[AM_LABEL_VALUE_MAX + 1], pciid[64];

	/* uuid: the board's unique_id (16 hex digits on SMU-managed parts),
	 * else the PCI address. */
	if (amdgpu_text_at(d->dev_fd, "unique_id", buf, sizeof(buf)) > 0)
		amdgpu_copy(d->uuid, sizeof(d->uuid), buf);
	else
		amdgpu_copy(d->uuid, sizeof(d->uuid), d->pci);

	if (amdgpu_text_at(d->dev_fd, "vbios_version", buf, sizeof(buf)) <= 0)
		buf[0] = '\0';
	amdgpu_copy(d->vbios, sizeof(d->vbios), buf);

	/* The driver's own version where the module has one (DKMS builds of
	 * amdgpu do; the in-tree module does not): empty otherwise. */
	d->driver_version[0] = '\0';
	if (d->driver[0] && strchr(d->driver, '/') == NULL) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/module/%s/version", sysfs, d->driver);
		if (amdgpu_text_at(AT_FDCWD, path, buf, sizeof(buf)) <= 0)
			buf[0] = '\0';
		amdgpu_copy(d->driver_version, sizeof(d->driver_version), buf);
	}

	amdgpu_copy(d->vendor, sizeof(d->vendor),
		    (vendor == PCI_VENDOR_HYGON || strcmp(d->driver, "hydcu") == 0)
			? "Hygon"
			: "AMD");

	if (!dev_id) {
		amdgpu_uevent(uevent, "PCI_ID", pciid, sizeof(pciid));
		char *colon = strchr(pciid, ':');
		if (colon)
			dev_id = (unsigned)strtoul(colon + 1, NULL, 16);
	}
	if (amdgpu_text_at(d->dev_fd, "product_name", buf, sizeof(buf)) > 0) {
		amdgpu_copy(d->model, sizeof(d->model), buf);
		return;
	}
	for (size_t i = 0; i < sizeof(amdgpu_models) / sizeof(amdgpu_models[0]); i++) {
		if (amdgpu_models[i].vendor == vendor &&
		    amdgpu_models[i].device == dev_id) {
			amdgpu_copy(d->model, sizeof(d->model), amdgpu_models[i].name);
			return;
		}
	}
	snprintf(d->model, sizeof(d->model), "%s %04x:%04x", d->vendor, vendor, dev_id);
}

/* Every cached series id back to "not interned": interning the same labels
 * again gives the same ids, so a card that returns keeps its series. */
static void amdgpu_series_reset(struct amdgpu_dev *d)
{
	am_series_t *all[] = {
	    &d->s_info,	  &d->s_up,	  &d->s_util,	   &d->s_busy,	 &d->s_membw,
	    &d->s_vcn,	  &d->s_mem_used, &d->s_mem_total, &d->s_power,	 &d->s_plimit,
	    &d->s_energy, &d->s_pcie_tx,  &d->s_pcie_rx,   &d->s_res_acc};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		*all[i] = AM_SERIES_INVALID;
	for (int i = 0; i < 3; i++)
		d->s_pool_used[i] = d->s_pool_total[i] = AM_SERIES_INVALID;
	for (int i = 0; i < AMDGPU_GM_RES_COUNT; i++)
		d->s_throttled[i] = d->s_res[i] = AM_SERIES_INVALID;
	for (int i = 0; i < 4; i++)
		d->s_throttle_cls[i] = AM_SERIES_INVALID;
	for (int i = 0; i < AMDGPU_GM_XGMI_LINKS; i++)
		d->s_xgmi_rd[i] = d->s_xgmi_wr[i] = AM_SERIES_INVALID;
}

/* Put every file of d that exists in the collector's file set. */
static int amdgpu_add_files(struct amdgpu_state *st, struct amdgpu_dev *d)
{
	for (int i = 0; i < AF_COUNT; i++) {
		int dirfd = i >= AF_FIRST_HWMON ? d->hwmon_fd : d->dev_fd;
		const char *name = i == AF_POWER ? d->power_file : amdgpu_file_names[i];

		d->f[i] = NULL;
		if ((i == AF_GM && !st->use_gm) ||
		    (i == AF_PCIE && st->pcie_interval_s <= 0))
			continue;
		if (!name || !amdgpu_exists(dirfd, name))
			continue;
		if (!(d->f[i] = am_file_add(st->files, dirfd, name)))
			return -ENOMEM;
	}
	for (int i = 0; i < d->ntemps; i++)
		if (!(d->temps[i].f =
			  am_file_add(st->files, d->hwmon_fd, d->temps[i].input)))
			return -ENOMEM;
	for (int i = 0; i < d->nclocks; i++) {
		struct amdgpu_clock *c = &d->clocks[i];
		if (!(c->f = am_file_add(st->files, c->from_dpm ? d->dev_fd : d->hwmon_fd,
					 c->input)))
			return -ENOMEM;
	}
	for (int i = 0; i < d->nras; i++)
		if (!(d->ras[i].f = am_file_add(st->files, d->ras_fd, d->ras[i].file)))
			return -ENOMEM;
	return 0;
}

/* Files out of the set and directories closed (a card that went away). */
static void amdgpu_close_dev(struct amdgpu_state *st, struct amdgpu_dev *d)
{
	for (int i = 0; i < AF_COUNT; i++) {
		am_file_remove(st->files, d->f[i]);
		d->f[i] = NULL;
	}
	for (int i = 0; i < d->ntemps; i++)
		am_file_remove(st->files, d->temps[i].f);
	for (int i = 0; i < d->nclocks; i++)
		am_file_remove(st->files, d->clocks[i].f);
	for (int i = 0; i < d->nras; i++)
		am_file_remove(st->files, d->ras[i].f);
	d->ntemps = d->nclocks = d->nras = 0;
	if (d->dev_fd >= 0)
		close(d->dev_fd);
	if (d->hwmon_fd >= 0)
		close(d->hwmon_fd);
	if (d->ras_fd >= 0)
		close(d->ras_fd);
	d->dev_fd = d->hwmon_fd = d->ras_fd = -1;
	am_drm_prev_free(&d->att_prev); /* a re-probe starts from zero */
}

/* Is class/drm/<name> a card of ours? Fills *d when it is (0); -ENODEV when
 * it is not, -ENOMEM. */
static int amdgpu_probe_card(struct am_ctx *ctx, struct amdgpu_state *st,
			     const char *name, int card, struct amdgpu_dev *d)
{
	char path[PATH_MAX + 320], link[PATH_MAX], uevent[AMDGPU_PAGE + 1], buf[64];
	struct am_pci_id pci;
	unsigned vendor = 0;
	struct stat sb;
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->dev_fd = d->hwmon_fd = d->ras_fd = -1;
	snprintf(path, sizeof(path), "%s/device", name);
	d->dev_fd = openat(st->drm_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dev_fd < 0)
		return -ENODEV;
	if (fstat(d->dev_fd, &sb) == 0)
		d->dev_ino = sb.st_ino;

	if (amdgpu_text_at(d->dev_fd, "uevent", uevent, sizeof(uevent)) < 0)
		uevent[0] = '\0';
	/* Driver: the device/driver link's target name, else uevent DRIVER=
	 * (fixture trees copied without symlinks only have the latter). */
	n = readlinkat(d->dev_fd, "driver", link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		const char *base = strrchr(link, '/');
		amdgpu_copy(d->driver, sizeof(d->driver), base ? base + 1 : link);
	} else {
		amdgpu_uevent(uevent, "DRIVER", d->driver, sizeof(d->driver));
	}
	if (snprintf(path, sizeof(path), "%s/%s/device", st->drm_path, name) >=
		(int)sizeof(path) ||
	    am_pci_identity(path, &pci) < 0) {
		memset(&pci, 0, sizeof(pci));
		pci.numa_node = -1;
	}
	vendor = pci.vendor;
	if (!vendor && amdgpu_text_at(d->dev_fd, "vendor", buf, sizeof(buf)) > 0)
		vendor = amdgpu_hex_id(buf);
	if (!vendor) {
		amdgpu_uevent(uevent, "PCI_ID", buf, sizeof(buf));
		vendor = (unsigned)strtoul(buf, NULL, 16);
	}
	/* The driver decides: an AMD card bound to the old radeon driver (or
	 * to vfio-pci) has none of amdgpu's files. Only when no driver is
	 * known does the vendor id. */
	int ours = d->driver[0] ? strcmp(d->driver, "amdgpu") == 0 ||
				      strcmp(d->driver, "hydcu") == 0
				: vendor == PCI_VENDOR_AMD || vendor == PCI_VENDOR_HYGON;
	if (!ours) {
		if (vendor == PCI_VENDOR_AMD || vendor == PCI_VENDOR_HYGON)
			am_log(ctx, AM_LOG_INFO,
			       "%s: %s card (vendor 0x%04x) with driver %s is not an "
			       "amdgpu device; skipped",
			       name, vendor == PCI_VENDOR_AMD ? "AMD" : "Hygon", vendor,
			       d->driver);
		close(d->dev_fd);
		d->dev_fd = -1;
		return -ENODEV;
	}

	d->card = card;
	snprintf(d->name, sizeof(d->name), "amdgpu%d", card);
	snprintf(path, sizeof(path), "%s/dev", name);
	if (amdgpu_text_at(st->drm_fd, path, d->devnum, sizeof(d->devnum)) < 0)
		d->devnum[0] = '\0';
	/* PCI address: the device link's resolved path, else uevent
	 * PCI_SLOT_NAME. */
	amdgpu_copy(d->pci, sizeof(d->pci), pci.bus_id);
	if (!d->pci[0])
		amdgpu_uevent(uevent, "PCI_SLOT_NAME", d->pci, sizeof(d->pci));
	if (pci.numa_node >= 0)
		snprintf(d->numa, sizeof(d->numa), "%d", pci.numa_node);
	else if (amdgpu_text_at(d->dev_fd, "numa_node", buf, sizeof(buf)) > 0 &&
		 strcmp(buf, "-1") != 0)
		amdgpu_copy(d->numa, sizeof(d->numa), buf);
	amdgpu_identify(d, am_sysfs(ctx), vendor, pci.device, uevent);
	amdgpu_discover_hwmon(d);
	amdgpu_discover_sensors(d);
	amdgpu_discover_ras(d);
	amdgpu_series_reset(d);
	if (amdgpu_add_files(st, d) < 0) {
		amdgpu_close_dev(st, d);
		return -ENOMEM;
	}
	return 0;
}

/* "card3" -> 3; connectors ("card0-DP-1"), render nodes and anything else
 * -> -1. */
static int amdgpu_card_number(const char *name)
{
	const char *p = name + 4;
	long n = 0;

	if (strncmp(name, "card", 4) != 0 || !isdigit((unsigned char)*p))
		return -1;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p) || n > 100000)
			return -1;
		n = n * 10 + (*p - '0');
	}
	return (int)n;
}

static int amdgpu_cmp_dev(const void *a, const void *b)
{
	const struct amdgpu_dev *x = a, *y = b;
	return (x->card > y->card) - (x->card < y->card);
}

/* A card that went away: its series leave the exposition, but accel_up
 * (0 from now on) and accel_info stay, so the loss is seen, not silence. */
static void amdgpu_vanish(struct am_ctx *ctx, struct amdgpu_state *st,
			  struct amdgpu_dev *d, const char *why)
{
	am_series_t keep_info = d->s_info, keep_up = d->s_up;
	am_series_t *one[] = {&d->s_util,    &d->s_busy,     &d->s_membw,
			      &d->s_vcn,     &d->s_mem_used, &d->s_mem_total,
			      &d->s_power,   &d->s_plimit,   &d->s_energy,
			      &d->s_pcie_tx, &d->s_pcie_rx,  &d->s_res_acc};

	am_log(ctx, AM_LOG_WARN, "%s: card%d %s; reporting accel_up 0 until it returns",
	       d->name, d->card, why);
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		if (*one[i] != AM_SERIES_INVALID)
			am_series_retire(ctx, *one[i]);
	for (int i = 0; i < 3; i++) {
		if (d->s_pool_used[i] != AM_SERIES_INVALID)
			am_series_retire(ctx, d->s_pool_used[i]);
		if (d->s_pool_total[i] != AM_SERIES_INVALID)
			am_series_retire(ctx, d->s_pool_total[i]);
	}
	for (int i = 0; i < AMDGPU_GM_RES_COUNT; i++) {
		if (d->s_res[i] != AM_SERIES_INVALID)
			am_series_retire(ctx, d->s_res[i]); /* its ratio goes too */
	}
	for (int i = 0; i < 4; i++)
		if (d->s_throttle_cls[i] != AM_SERIES_INVALID)
			am_series_retire(ctx, d->s_throttle_cls[i]);
	for (int i = 0; i < AMDGPU_GM_XGMI_LINKS; i++) {
		if (d->s_xgmi_rd[i] != AM_SERIES_INVALID)
			am_series_retire(ctx, d->s_xgmi_rd[i]);
		if (d->s_xgmi_wr[i] != AM_SERIES_INVALID)
			am_series_retire(ctx, d->s_xgmi_wr[i]);
	}
	for (int i = 0; i < d->ntemps; i++)
		if (d->temps[i].s != AM_SERIES_INVALID)
			am_series_retire(ctx, d->temps[i].s);
	for (int i = 0; i < d->nclocks; i++)
		if (d->clocks[i].s != AM_SERIES_INVALID)
			am_series_retire(ctx, d->clocks[i].s);
	for (int i = 0; i < d->nras; i++) {
		if (d->ras[i].s_ue != AM_SERIES_INVALID)
			am_series_retire(ctx, d->ras[i].s_ue);
		if (d->ras[i].s_ce != AM_SERIES_INVALID)
			am_series_retire(ctx, d->ras[i].s_ce);
	}
	amdgpu_close_dev(st, d);
	amdgpu_series_reset(d);
	d->s_info = keep_info;
	d->s_up = keep_up;
	d->gone = 1;
	d->gm_off = 0;
	d->e_have_prev = 0;
	d->pcie_valid = 0;
}

/* Walk class/drm with getdents64 on the fd held since init (no DIR, so a
 * rescan that finds nothing new allocates nothing): cards already known
 * are checked, vanished ones marked, returning and new ones probed. */
static int amdgpu_scan(struct am_ctx *ctx, struct amdgpu_state *st)
{
	char dbuf[8192], name[300];
	unsigned char seen[AMDGPU_MAX_DEVICES] = {0};
	int added = 0, full_logged = 0;
	ssize_t n;

	if (lseek(st->drm_fd, 0, SEEK_SET) < 0)
		return -errno;
	while ((n = getdents64(st->drm_fd, dbuf, sizeof(dbuf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *e = (struct dirent64 *)(dbuf + off);
			int card = amdgpu_card_number(e->d_name);
			int k;

			off += e->d_reclen;
			if (card < 0)
				continue;
			for (k = 0; k < st->ndevs && st->devs[k].card != card; k++)
				;
			if (k < st->ndevs && !st->devs[k].gone) {
				struct amdgpu_dev *d = &st->devs[k];
				struct stat sb;

				snprintf(name, sizeof(name), "%s/device", e->d_name);
				seen[k] = 1;
				if (fstatat(st->drm_fd, name, &sb, 0) == 0 &&
				    sb.st_ino == d->dev_ino)
					continue; /* unchanged */
				amdgpu_vanish(ctx, st, d, "was replaced");
			}
			if (k == st->ndevs && st->ndevs == AMDGPU_MAX_DEVICES) {
				if (!full_logged++)
					am_log(ctx, AM_LOG_WARN,
					       "more than %d cards: %s and later ones "
					       "not monitored",
					       AMDGPU_MAX_DEVICES, e->d_name);
				continue;
			}
			struct amdgpu_dev *slot = &st->devs[k];
			struct amdgpu_dev keep = *slot; /* a gone card's record */
			int rc = amdgpu_probe_card(ctx, st, e->d_name, card, slot);
			if (rc == -ENOMEM)
				return rc;
			if (rc < 0) {
				*slot = keep;
				continue;
			}
			if (k < st->ndevs) {
				/* back: same name; the source of energy stays. A
				 * different board in the slot: the old identity
				 * leaves the exposition. */
				slot->energy_src = keep.energy_src;
				if (strcmp(keep.uuid, slot->uuid) != 0 ||
				    strcmp(keep.pci, slot->pci) != 0) {
					if (keep.s_info != AM_SERIES_INVALID)
						am_series_retire(ctx, keep.s_info);
					if (keep.s_up != AM_SERIES_INVALID)
						am_series_retire(ctx, keep.s_up);
					slot->energy_src = ENERGY_NONE;
				}
				am_log(ctx, AM_LOG_INFO, "%s: card%d is back (%s)",
				       slot->name, card, slot->model);
			} else {
				st->ndevs++;
				added++;
				if (st->files && st->gm_buf) /* not the first scan */
					am_log(ctx, AM_LOG_INFO, "%s: new card %s (%s)",
					       slot->name, slot->pci, slot->model);
			}
			seen[k] = 1;
		}
	}
	if (n < 0)
		return -errno;
	for (int k = 0; k < st->ndevs; k++)
		if (!seen[k] && !st->devs[k].gone)
			amdgpu_vanish(ctx, st, &st->devs[k], "is gone");
	if (added)
		qsort(st->devs, (size_t)st->ndevs, sizeof(*st->devs), amdgpu_cmp_dev);
	return 0;
}

static void amdgpu_fini(struct am_ctx *ctx, void *state);

static int amdgpu_init(struct am_ctx *ctx, const struct am_config *cfg, void **statep)
{
	struct amdgpu_state *st;
	int rc = 0, hygon = 0;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	snprintf(st->drm_path, sizeof(st->drm_path), "%s/class/drm", am_sysfs(ctx));
	st->drm_fd = open(st->drm_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->drm_fd < 0) {
		rc = -errno;
		if (rc == -ENOENT) {
			am_found(ctx, "no %s: no DRM devices", st->drm_path);
			rc = -ENODEV;
		} else {
			/* a plain file or a symlink loop where the class folder
			 * should be is a broken tree, not an empty one */
			am_log(ctx, AM_LOG_ERROR, "%s: cannot open as a directory: %s",
			       st->drm_path, strerror(-rc));
		}
		free(st);
		return rc;
	}
	st->devs = calloc(AMDGPU_MAX_DEVICES, sizeof(*st->devs));
	st->files = am_files_new(ctx, 0);
	st->use_gm = am_cfg_bool(cfg, "gpu_metrics", true);
	st->pcie_interval_s = am_cfg_duration(cfg, "pcie_interval", 10.0);
	if (!st->devs || !st->files) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = amdgpu_scan(ctx, st);
	if (rc < 0) {
		am_log(ctx, AM_LOG_ERROR, "%s: %s", st->drm_path, strerror(-rc));
		goto fail;
	}
	if (st->ndevs == 0) {
		am_found(ctx, "no amdgpu/hydcu cards under %s", st->drm_path);
		rc = -ENODEV;
		goto fail;
	}

	for (int i = 0; i < F_COUNT; i++) {
		const struct amdgpu_fam_use *u = &amdgpu_std[i];

		st->fam[i] = u->std ? am_std_family(ctx, u->which, &u->use)
				    : am_family(ctx, &amdgpu_fams[i]);
		if (st->fam[i] < 0) {
			am_log(ctx, AM_LOG_ERROR, "cannot register %s: %s",
			       u->std ? am_std_def(u->which)->name : amdgpu_fams[i].name,
			       strerror(-st->fam[i]));
			rc = st->fam[i];
			goto fail;
		}
	}
	if (am_cfg_bool(cfg, "attribution", true)) {
		st->att = am_attrib_new(ctx, (unsigned)am_cfg_int(cfg, "max_jobs", 16));
		am_attrib_configure(st->att, cfg);
	}
	/* a process that opens a card later is found up to 30 s late */
	st->drm_skip.skip_ns = 30LL * 1000000000LL;
	/* allocated even without gpu_metrics: it also marks init as done for
	 * amdgpu_scan's "new card" line */
	st->gm_buf = malloc(AMDGPU_GM_MAX_BYTES + 1);
	if (!st->gm_buf) {
		rc = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < st->ndevs; i++)
		hygon += strcmp(st->devs[i].vendor, "Hygon") == 0;
	am_found(ctx, "%d card(s) (%d AMD, %d Hygon) under %s, first %s (%s)", st->ndevs,
		 st->ndevs - hygon, hygon, st->drm_path, st->devs[0].name,
		 st->devs[0].model);
	*statep = st;
	return 0;
fail:
	amdgpu_fini(ctx, st);
	return rc;
}

static int amdgpu_rescan(struct am_ctx *ctx, void *state)
{
	return amdgpu_scan(ctx, state);
}

static void amdgpu_fini(struct am_ctx *ctx, void *state)
{
	struct amdgpu_state *st = state;

	(void)ctx;
	if (!st)
		return;
	for (int i = 0; i < st->ndevs; i++)
		amdgpu_close_dev(st, &st->devs[i]);
	am_files_free(st->files);
	am_attrib_free(st->att);
	am_drm_skip_free(&st->drm_skip);
	free(st->cl);
	free(st->procs);
	if (st->drm_fd >= 0)
		close(st->drm_fd);
	free(st->devs);
	free(st->gm_buf);
	free(st);
}

/* ---- polling ---- */

/* Returns 0 with *gm filled, or -errno (nothing to use this poll). */
static int amdgpu_poll_gm(struct am_ctx *ctx, struct amdgpu_state *st,
			  struct amdgpu_dev *d, struct amdgpu_gm *gm)
{
	ssize_t n;
	int rc;

	memset(gm, 0, sizeof(*gm));
	if (!d->f[AF_GM] || d->gm_off)
		return -ENOENT;
	n = am_file_read(d->f[AF_GM], (char *)st->gm_buf, AMDGPU_GM_MAX_BYTES + 1);
	if (n == -EOPNOTSUPP || n == -ENODATA) {
		/* Some APUs refuse the table: stop asking. */
		d->gm_off = 1;
		return (int)n;
	}
	if (n < 0)
		return (int)n; /* counted and logged by the file layer */
	rc = amdgpu_gm_parse(st->gm_buf, (size_t)n, gm);
	if (rc == -ENOTSUP) {
		/* A layout we do not know is never guessed at: one line, then
		 * the table is left alone for this device. */
		if (!d->gm_logged)
			am_log(ctx, AM_LOG_INFO,
			       "%s: gpu_metrics v%u.%u (%u bytes) is not a "
			       "layout accelmon knows; skipping it",
			       d->name, gm->format_revision, gm->content_revision,
			       gm->structure_size);
		d->gm_logged = 1;
		d->gm_off = 1;
		return rc;
	}
	if (rc < 0) {
		char why[128];
		snprintf(why, sizeof(why),
			 "%zd bytes read but the header says %u (v%u.%u): truncated or "
			 "corrupt, ignored",
			 n, gm->structure_size, gm->format_revision,
			 gm->content_revision);
		am_file_fail(d->f[AF_GM], rc, why);
		return rc;
	}
	if (gm->implausible & ~d->gm_implausible_logged) {
		am_log(
		    ctx, AM_LOG_WARN, "%s: gpu_metrics v%u.%u: implausible%s%s%s ignored",
		    d->name, gm->format_revision, gm->content_revision,
		    gm->implausible & AMDGPU_GM_HAVE_ENERGY ? " energy_accumulator" : "",
		    gm->implausible & AMDGPU_GM_HAVE_POWER ? " socket power" : "",
		    gm->implausible & AMDGPU_GM_HAVE_XGMI ? " XGMI counters" : "");
		d->gm_implausible_logged |= gm->implausible;
	}
	return 0;
}

/* Memory sizes past this are not readings (2^64-1 was seen): 64 TiB. */
#define AMDGPU_MAX_MEM_BYTES (1ull << 46)
/* hwmon power past 10 kW, in uW, is not a reading either. */
#define AMDGPU_MAX_POWER_UW 10000000000ull

/* Choose the energy source (once per device, before any energy is
 * exported): the table's accumulator when it advances between two polls at
 * a plausible rate, or stands still while power is 0; power integrated by
 * the aggregator when there is no accumulator, or when it reads 0 or stands
 * still while power is drawn (RDNA3/RDNA4 tables carry 0 there). */
static void amdgpu_pick_energy(struct am_ctx *ctx, struct amdgpu_dev *d,
			       const struct amdgpu_gm *gm, int have_gm, double watts)
{
	int64_t now = am_poll_time_ns(ctx);
	const char *why = NULL;

	if (d->energy_src != ENERGY_NONE)
		return;
	if (!have_gm || !(gm->have & AMDGPU_GM_HAVE_ENERGY)) {
		if (watts >= 0)
			d->energy_src = ENERGY_POWER;
		return;
	}
	if (gm->energy_raw == 0 && watts > 0) {
		why = "reads 0";
	} else if (d->e_have_prev && now > d->e_prev_ns) {
		double dt = (double)(now - d->e_prev_ns) * 1e-9;

		if (gm->energy_raw > d->e_prev_raw) {
			double w =
			    (double)(gm->energy_raw - d->e_prev_raw) / 65536.0 / dt;
			if (w <= AMDGPU_GM_MAX_POWER_W)
				d->energy_src = ENERGY_GM;
			else
				why = "advances implausibly fast";
		} else if (gm->energy_raw < d->e_prev_raw) {
			why = "went backwards";
		} else if (watts > 0) {
			why = "does not advance";
		}
	}
	if (why) {
		d->energy_src = watts >= 0 ? ENERGY_POWER : ENERGY_NONE;
		am_log(ctx, AM_LOG_INFO,
		       "%s: gpu_metrics energy_accumulator %s while power is %.1f W: "
		       "energy is integrated from power instead",
		       d->name, why, watts);
	}
	d->e_have_prev = 1;
	d->e_prev_raw = gm->energy_raw;
	d->e_prev_ns = now;
}

static void amdgpu_emit_power_energy(struct am_ctx *ctx, struct amdgpu_state *st,
				     struct amdgpu_dev *d, const struct amdgpu_gm *gm,
				     int have_gm, const char *const *lv)
{
	uint64_t v;
	double watts = -1, raw_power = -1; /* power in the gauge's unit (uW) */

	if (d->power_file) {
		if (amdgpu_fread_u64(d->f[AF_POWER], AMDGPU_MAX_POWER_UW, &v) == 0)
			raw_power = (double)v;
	} else if (have_gm && (gm->have & AMDGPU_GM_HAVE_POWER)) {
		raw_power = (double)gm->socket_power_w * 1e6;
	}
	if (raw_power >= 0)
		watts = raw_power * 1e-6;
	if (amdgpu_fread_u64(d->f[AF_PCAP], AMDGPU_MAX_POWER_UW, &v) == 0)
		amdgpu_emit(ctx,
			    amdgpu_ser(ctx, &d->s_plimit, st->fam[F_POWER_LIMIT], lv),
			    (double)v);

	amdgpu_pick_energy(ctx, d, gm, have_gm, watts);
	if (d->energy_src == ENERGY_POWER && raw_power >= 0 &&
	    d->s_energy == AM_SERIES_INVALID &&
	    amdgpu_ser(ctx, &d->s_power, st->fam[F_POWER], lv) != AM_SERIES_INVALID) {
		/* bound before the power sample it is computed from */
		struct am_derive dv = {.op = AM_DERIVE_INTEGRAL,
				       .a = d->s_power,
				       .b = AM_SERIES_INVALID,
				       .capacity = AM_SERIES_INVALID};
		d->s_energy = am_series_derived(ctx, st->fam[F_ENERGY_PW], lv, &dv);
	}
	if (raw_power >= 0)
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_power, st->fam[F_POWER], lv),
			    raw_power);
	if (d->energy_src == ENERGY_GM && have_gm && (gm->have & AMDGPU_GM_HAVE_ENERGY)) {
		amdgpu_emit_u64(ctx, amdgpu_ser(ctx, &d->s_energy, st->fam[F_ENERGY], lv),
				gm->energy_raw);
		d->att_energy_j = (double)gm->energy_raw / 65536.0;
	} else if (d->energy_src == ENERGY_POWER && raw_power >= 0) {
		d->att_power_w = watts;
	}
}

static void amdgpu_emit_gm(struct am_ctx *ctx, struct amdgpu_state *st,
			   struct amdgpu_dev *d, const struct amdgpu_gm *gm,
			   const char *const *lv)
{
	if (gm->have & AMDGPU_GM_HAVE_RESIDENCY) {
		/* Residency counters tick with accumulation_counter: the
		 * aggregator derives delta(residency) / delta(accumulation),
		 * the throttled share of each poll window, and integrates it
		 * into seconds. The denominator is emitted first. */
		am_series_t acc = amdgpu_ser(ctx, &d->s_res_acc, st->fam[F_RES_ACC], lv);
		amdgpu_emit_u64(ctx, acc, gm->accumulation_counter);
		for (int i = 0; i < AMDGPU_GM_RES_COUNT; i++) {
			const char *l[] = {lv[0], lv[1], amdgpu_reasons[i]};
			if (!(gm->residency_mask & (1u << i)))
				continue;
			am_series_t r = amdgpu_ser(ctx, &d->s_res[i], st->fam[F_RES], l);
			if (d->s_throttled[i] == AM_SERIES_INVALID &&
			    r != AM_SERIES_INVALID && acc != AM_SERIES_INVALID) {
				struct am_derive dv = {.op = AM_DERIVE_RATIO,
						       .a = r,
						       .b = acc,
						       .capacity = AM_SERIES_INVALID};
				d->s_throttled[i] =
				    am_series_derived(ctx, st->fam[F_THROTTLED], l, &dv);
			}
			amdgpu_emit_u64(ctx, r, gm->residency[i]);
		}
	}
	if (gm->have & AMDGPU_GM_HAVE_INDEP_THROTTLE) {
		/* Older tables (content 3: MI200, Navi2x) only say whether a
		 * throttler is active now: sampled at every poll, a class
		 * counts as throttled for the whole interval. */
		for (int i = 0; i < 4; i++) {
			const char *l[] = {lv[0], lv[1], amdgpu_throttle_cls[i]};
			int on = ((gm->indep_throttle_status >> (16 * i)) & 0xffffu) != 0;
			amdgpu_emit(ctx,
				    amdgpu_ser(ctx, &d->s_throttle_cls[i],
					       st->fam[F_THROTTLED], l),
				    on);
		}
	}
	for (int i = 0; i < AMDGPU_GM_XGMI_LINKS; i++) {
		const char *l[] = {lv[0], amdgpu_links[i]};
		if (gm->xgmi_read_mask & (1u << i))
			amdgpu_emit_u64(
			    ctx,
			    amdgpu_ser(ctx, &d->s_xgmi_rd[i], st->fam[F_XGMI_READ], l),
			    gm->xgmi_read_kib[i]);
		if (gm->xgmi_write_mask & (1u << i))
			amdgpu_emit_u64(
			    ctx,
			    amdgpu_ser(ctx, &d->s_xgmi_wr[i], st->fam[F_XGMI_WRITE], l),
			    gm->xgmi_write_kib[i]);
	}
}

/* "1: 1300Mhz *" -> 1.3e9 for the starred line; -ENOENT when none. */
static int amdgpu_parse_dpm(const char *text, double *hz)
{
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (memchr(line, '*', len)) {
			const char *p = memchr(line, ':', len);
			char *num_end;
			if (!p)
				return -EINVAL;
			p++;
			while (*p == ' ')
				p++;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			unsigned long long mhz = strtoull(p, &num_end, 10);
			if (strncasecmp(num_end, "mhz", 3) != 0 || mhz > 1000000)
				return -EINVAL;
			*hz = (double)mhz * 1e6;
			return 0;
		}
		line = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

static void amdgpu_poll_clocks(struct am_ctx *ctx, struct amdgpu_state *st,
			       struct amdgpu_dev *d, const char *const *lv)
{
	char text[1024];

	for (int i = 0; i < d->nclocks; i++) {
		struct amdgpu_clock *c = &d->clocks[i];
		const char *l[] = {lv[0], lv[1], c->clock};
		double hz;
		uint64_t v;

		if (!c->from_dpm) {
			if (amdgpu_fread_u64(c->f, UINT64_MAX, &v) == 0)
				amdgpu_emit(ctx,
					    amdgpu_ser(ctx, &c->s, st->fam[F_CLOCK], l),
					    (double)v);
			continue;
		}
		if (amdgpu_fread(c->f, text, sizeof(text)) < 0)
			continue; /* counted and logged by the file layer */
		if (amdgpu_parse_dpm(text, &hz) == 0)
			amdgpu_emit(ctx, amdgpu_ser(ctx, &c->s, st->fam[F_CLOCK], l), hz);
		else
			am_file_fail(c->f, -EINVAL, "no current level (line with '*')");
	}
}

/* "ue: 3\nce: 17" -> counts; 0 when both were found. */
static int amdgpu_parse_ras(const char *text, uint64_t *ue, uint64_t *ce)
{
	int found = 0;
	const char *line = text;

	while (line && *line) {
		char key[8], num[32];
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len < sizeof(num) + sizeof(key) &&
		    sscanf(line, "%7[a-z]: %31[^\n]", key, num) == 2) {
			uint64_t *dst = strcmp(key, "ue") == 0	 ? ue
					: strcmp(key, "ce") == 0 ? ce
								 : NULL;
			if (dst) {
				if (am_parse_u64(num, (size_t)-1, dst) < 0)
					return -EINVAL;
				found |= dst == ue ? 1 : 2;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return found == 3 ? 0 : -EINVAL;
}

static void amdgpu_poll_ras(struct am_ctx *ctx, struct amdgpu_state *st,
			    struct amdgpu_dev *d, const char *const *lv)
{
	char text[256];

	for (int i = 0; i < d->nras; i++) {
		struct amdgpu_ras *r = &d->ras[i];
		uint64_t ue, ce;

		if (amdgpu_fread(r->f, text, sizeof(text)) < 0)
			continue;
		if (amdgpu_parse_ras(text, &ue, &ce) < 0) {
			am_file_fail(r->f, -EINVAL, "expected \"ue: N\" and \"ce: N\"");
			continue;
		}
		const char *lu[] = {lv[0], lv[1], "uncorrected", r->block};
		const char *lc[] = {lv[0], lv[1], "corrected", r->block};
		amdgpu_emit_u64(ctx, amdgpu_ser(ctx, &r->s_ue, st->fam[F_ECC], lu), ue);
		amdgpu_emit_u64(ctx, amdgpu_ser(ctx, &r->s_ce, st->fam[F_ECC], lc), ce);
	}
}

static int amdgpu_pcie_due(const struct amdgpu_state *st, const struct amdgpu_dev *d,
			   int64_t now)
{
	return !d->gone && d->f[AF_PCIE] && !d->pcie_off && st->pcie_interval_s > 0 &&
	       now >= d->pcie_next_ns;
}

/* may_read: this device holds the poll's one pcie_bw read (see
 * amdgpu_poll). */
static void amdgpu_poll_pcie(struct am_ctx *ctx, struct amdgpu_state *st,
			     struct amdgpu_dev *d, const char *const *lv, int may_read)
{
	char text[128];
	unsigned long long rx, tx, mps;
	int64_t now = am_poll_time_ns(ctx);
	char extra;

	if (may_read && amdgpu_pcie_due(st, d, now)) {
		d->pcie_next_ns = now + (int64_t)(st->pcie_interval_s * 1e9);
		ssize_t n = amdgpu_fread(d->f[AF_PCIE], text, sizeof(text));
		if (n == -EOPNOTSUPP || n == -ENODATA || n == -EINVAL) {
			/* APUs and some kernels refuse it: stop trying. */
			d->pcie_off = 1;
			am_log(ctx, AM_LOG_INFO,
			       "%s: pcie_bw not supported (%s); not reading it again",
			       d->name, strerror((int)-n));
			return;
		}
		if (n < 0) {
			/* counted and logged by the file layer */
		} else if (text[0] == '-' ||
			   sscanf(text, "%llu %llu %llu %c", &rx, &tx, &mps, &extra) !=
			       3 ||
			   mps > 4096) {
			am_file_fail(d->f[AF_PCIE], -EINVAL,
				     "expected \"received sent max_payload\"");
		} else {
			/* packets x max payload: bytes/s over the driver's 1 s
			 * window (unit scaling; the aggregator integrates) */
			d->pcie_rx_rate = (double)rx * (double)mps;
			d->pcie_tx_rate = (double)tx * (double)mps;
			d->pcie_valid = 1;
		}
	}
	if (!d->pcie_valid)
		return;
	/* The last reading's rate stands for every poll until the next. */
	amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_pcie_rx, st->fam[F_PCIE_RX], lv),
		    d->pcie_rx_rate);
	amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_pcie_tx, st->fam[F_PCIE_TX], lv),
		    d->pcie_tx_rate);
}

/* A 0..100 busy file (a value above 100 is refused); a missing file falls
 * back to the gpu_metrics table's figure if it has one. */
static int amdgpu_read_percent(const struct amdgpu_dev *d, enum amdgpu_file which,
			       int gm_has, uint64_t gm_value, uint64_t *v)
{
	if (d->f[which])
		return amdgpu_fread_u64(d->f[which], 100, v);
	if (!gm_has)
		return -ENOENT;
	*v = gm_value;
	return 0;
}

static void amdgpu_poll_dev(struct am_ctx *ctx, struct amdgpu_state *st,
			    struct amdgpu_dev *d, int pcie_read)
{
	const char *lv[] = {d->name, d->uuid};
	struct amdgpu_gm gm;
	int have_gm, ok = 0, rc;
	uint64_t v;

	if (d->s_info == AM_SERIES_INVALID) {
		/* the schema's identity labels: no serial number is read; the
		 * VBIOS is the firmware */
		const char *info[] = {d->name, d->uuid, d->vendor,	   d->model, "",
				      d->pci,  d->numa, d->driver_version, d->vbios};
		amdgpu_ser(ctx, &d->s_info, st->fam[F_INFO], info);
	}
	amdgpu_emit(ctx, d->s_info, 1);
	if (d->gone) {
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_up, st->fam[F_UP], lv), 0);
		return;
	}

	have_gm = amdgpu_poll_gm(ctx, st, d, &gm) == 0;
	d->att_util = d->att_energy_j = d->att_power_w = NAN;

	rc =
	    amdgpu_read_percent(d, AF_GPU_BUSY, have_gm && (gm.have & AMDGPU_GM_HAVE_GFX),
				gm.gfx_activity, &v);
	if (rc == 0) {
		ok = 1;
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_util, st->fam[F_UTIL], lv),
			    (double)v);
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_busy, st->fam[F_BUSY], lv),
			    (double)v);
		d->att_util = (double)v / 100.0;
	}
	rc =
	    amdgpu_read_percent(d, AF_MEM_BUSY, have_gm && (gm.have & AMDGPU_GM_HAVE_UMC),
				gm.umc_activity, &v);
	if (rc == 0) {
		ok = 1;
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_membw, st->fam[F_MEMBW], lv),
			    (double)v);
	}
	if (amdgpu_read_percent(d, AF_VCN_BUSY, 0, 0, &v) == 0) {
		const char *l[] = {d->name, d->uuid, "vcn"};
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_vcn, st->fam[F_ENGINE], l),
			    (double)v);
	}

	for (int p = 0; p < 3; p++) {
		const char *l[] = {d->name, d->uuid, amdgpu_pools[p]};
		if (amdgpu_fread_u64(d->f[AF_VRAM_USED + 2 * p], AMDGPU_MAX_MEM_BYTES,
				     &v) == 0) {
			ok = 1;
			amdgpu_emit(
			    ctx,
			    amdgpu_ser(ctx, &d->s_pool_used[p], st->fam[F_POOL_USED], l),
			    (double)v);
			if (p == 0)
				amdgpu_emit(ctx,
					    amdgpu_ser(ctx, &d->s_mem_used,
						       st->fam[F_MEM_USED], lv),
					    (double)v);
		}
		if (amdgpu_fread_u64(d->f[AF_VRAM_TOTAL + 2 * p], AMDGPU_MAX_MEM_BYTES,
				     &v) == 0) {
			ok = 1;
			amdgpu_emit(ctx,
				    amdgpu_ser(ctx, &d->s_pool_total[p],
					       st->fam[F_POOL_TOTAL], l),
				    (double)v);
			if (p == 0)
				amdgpu_emit(ctx,
					    amdgpu_ser(ctx, &d->s_mem_total,
						       st->fam[F_MEM_TOTAL], lv),
					    (double)v);
		}
	}

	amdgpu_emit_power_energy(ctx, st, d, &gm, have_gm, lv);

	for (int i = 0; i < d->ntemps; i++) {
		struct amdgpu_temp *t = &d->temps[i];
		const char *l[] = {d->name, d->uuid, t->sensor};
		if (amdgpu_fread_u64(t->f, UINT64_MAX, &v) == 0)
			amdgpu_emit(ctx, amdgpu_ser(ctx, &t->s, st->fam[F_TEMP], l),
				    (double)v);
	}
	amdgpu_poll_clocks(ctx, st, d, lv);
	amdgpu_poll_ras(ctx, st, d, lv);
	amdgpu_poll_pcie(ctx, st, d, lv, pcie_read);
	if (have_gm)
		amdgpu_emit_gm(ctx, st, d, &gm, lv);

	amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_up, st->fam[F_UP], lv),
		    ok || have_gm ? 1 : 0);
}

/* The card's DRM clients and their share of it (collectors/attribution.md):
 * engine time since the last poll from fdinfo, split by the SDK. */
static void amdgpu_attribute(struct am_ctx *ctx, struct amdgpu_state *st,
			     struct amdgpu_dev *d)
{
	struct am_attrib_dev dev = {.device = d->name,
				    .uuid = d->uuid,
				    .busy_ratio = d->att_util,
				    .energy_j = d->att_energy_j,
				    .power_w = d->att_power_w,
				    .devnum = d->devnum,
				    .bus_id = d->pci,
				    .have_index = true};
	ssize_t n;

	/* Slurm's GRES index: the card's ordinal among the amdgpu cards
	 * present, by PCI address, not its DRM number (card0 may be a BMC's
	 * VGA); a card gone (or the record of one replaced) is not counted */
	for (int k = 0; k < st->ndevs; k++)
		dev.index += !st->devs[k].gone && st->devs[k].pci[0] &&
			     strcmp(st->devs[k].pci, d->pci) < 0;

	(void)ctx;
	if (!am_attrib_enabled(st->att))
		return;
	if (d->gone || !d->pci[0]) {
		if (d->att_on)
			am_attrib_forget(st->att, d->name);
		d->att_on = 0;
		am_drm_prev_free(&d->att_prev);
		return;
	}
	if (st->nprocs_cap < st->ncl) {
		struct am_attrib_proc *np = realloc(st->procs, st->ncl * sizeof(*np));

		if (!np)
			return;
		st->procs = np;
		st->nprocs_cap = st->ncl;
	}
	n = am_drm_procs(st->cl, st->ncl, d->pci, &d->att_prev, st->procs,
			 st->nprocs_cap);
	if (n >= 0 && am_attrib_update(st->att, &dev, st->procs, (size_t)n) == 0)
		d->att_on = 1;
}

static int amdgpu_poll(struct am_ctx *ctx, void *state)
{
	struct amdgpu_state *st = state;
	int64_t now = am_poll_time_ns(ctx);
	int pcie = -1;

	/* A pcie_bw read sleeps about a second in the driver: at most one
	 * per poll, handed round the devices that are due, so eight GPUs
	 * never stall a poll for eight seconds. */
	for (int k = 0; k < st->ndevs; k++) {
		int i = (st->pcie_rr + k) % st->ndevs;
		if (amdgpu_pcie_due(st, &st->devs[i], now)) {
			pcie = i;
			st->pcie_rr = (i + 1) % st->ndevs;
			break;
		}
	}
	if (am_attrib_enabled(st->att)) {
		int rc = am_drm_scan(am_procfs(ctx), &st->drm_skip, am_poll_time_ns(ctx),
				     &st->cl, &st->ncl, &st->clcap);

		if (rc == -EACCES) {
			char what[PATH_MAX];

			snprintf(what, sizeof(what), "%s/<pid>/fdinfo", am_procfs(ctx));
			am_attrib_refused(st->att, what, rc);
		}
	}
	for (int i = 0; i < st->ndevs; i++) {
		amdgpu_poll_dev(ctx, st, &st->devs[i], i == pcie);
		amdgpu_attribute(ctx, st, &st->devs[i]);
	}
	return 0;
}

const struct am_collector amdgpu_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .flags = 0,
    .name = "amdgpu",
    .description = "AMD Instinct/Radeon (amdgpu) and Hygon DCU (hydcu) "
		   "devices from sysfs, including the gpu_metrics table",
    .options = amdgpu_options,
    /* busy seconds, energy (the source is chosen from two readings) and
     * throttle residency need a delta */
    .once_polls = 2,
    .init = amdgpu_init,
    .poll = amdgpu_poll,
    .rescan = amdgpu_rescan,
    .fini = amdgpu_fini,
};
