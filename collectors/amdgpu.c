/* amdgpu collector: AMD Instinct / Radeon (amdgpu) and Hygon DCU (hydcu)
 * devices, read entirely from sysfs -- no vendor library. init() finds the
 * cards under class/drm and keeps a directory fd per device and per hwmon;
 * poll() reads the small text files and the binary gpu_metrics table
 * (parsed by amdgpu_metrics.c) and emits samples into the collector's ring.
 *
 * Naming: device="amdgpu<N>" where N is the DRM card number (card3 ->
 * amdgpu3), so names stay stable when an unrelated card disappears; Hygon
 * cards use the same prefix (vendor="Hygon" on accel_info tells them apart).
 */
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

#include "accelmon/collector.h"
#include "accelmon/schema.h"
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
#define STD(w, k, sc) {true, w, {.kind = k, .scale = sc}}
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
     * exact, 64-bit) where gpu_metrics has it, else the aggregator
     * integrates sampled power (uW) into joules. */
    [F_ENERGY] = STD(AM_STD_ENERGY, AM_COUNTER, 1.0 / 65536),
    [F_ENERGY_PW] = STD(AM_STD_ENERGY, AM_INTEGRAL, 1e-6),
    /* hwmon millidegrees */
    [F_TEMP] = STD(AM_STD_TEMPERATURE, AM_GAUGE, 1e-3),
    [F_CLOCK] = STD(AM_STD_CLOCK, AM_GAUGE, 0),
    /* RAS counts per block */
    [F_ECC] = STD(AM_STD_ECC_ERRORS, AM_COUNTER, 0),
    /* gpu_metrics residency accumulators or the sampled throttler mask */
    [F_THROTTLED] = STD(AM_STD_THROTTLED_SECONDS, AM_INTEGRAL, 0),
    /* estimated from pcie_bw (packets x max payload over a 1 s window,
     * read every pcie_interval and held until the next reading) */
    [F_PCIE_TX] = STD(AM_STD_PCIE_TRANSMIT_BYTES, AM_COUNTER, 0),
    [F_PCIE_RX] = STD(AM_STD_PCIE_RECEIVE_BYTES, AM_COUNTER, 0),
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
	am_series_t s;
};

struct amdgpu_clock {
	char input[24]; /* "freq1_input", or "pp_dpm_sclk" in the device dir */
	char clock[24];
	int from_dpm;
	am_series_t s;
};

struct amdgpu_ras {
	char file[64]; /* "umc_err_count" */
	char block[48];
	am_series_t s_ce, s_ue;
};

enum amdgpu_energy_src { ENERGY_NONE = 0, ENERGY_GM, ENERGY_POWER };

struct amdgpu_dev {
	int card;
	char name[24];
	char uuid[64];
	char pci[32];
	int dev_fd;   /* class/drm/cardN/device */
	int hwmon_fd; /* device/hwmon/hwmonM or -1 */
	int ras_fd;   /* device/ras or -1 */
	char vendor[8];
	char model[64];
	char driver[32];
	char vbios[64];
	char numa[16];

	struct amdgpu_temp temps[AMDGPU_MAX_TEMPS];
	int ntemps;
	struct amdgpu_clock clocks[2];
	int nclocks;
	struct amdgpu_ras ras[AMDGPU_MAX_RAS];
	int nras;
	const char *power_file; /* "power1_average", "power1_input" or NULL */

	/* cached series; AM_SERIES_INVALID until first use */
	am_series_t s_info, s_up, s_util, s_busy, s_membw, s_vcn, s_mem_used, s_mem_total,
	    s_power, s_plimit, s_energy, s_pcie_tx, s_pcie_rx;
	am_series_t s_pool_used[3], s_pool_total[3];
	am_series_t s_throttled[AMDGPU_GM_RES_COUNT];
	am_series_t s_throttle_cls[4];
	am_series_t s_xgmi_rd[AMDGPU_GM_XGMI_LINKS];
	am_series_t s_xgmi_wr[AMDGPU_GM_XGMI_LINKS];

	/* gpu_metrics state */
	int gm_off; /* table absent, unreadable or of an unknown version */
	int gm_logged;
	enum amdgpu_energy_src energy_src;
	int res_prev_valid;
	uint32_t res_prev_acc;
	uint32_t res_prev[AMDGPU_GM_RES_COUNT];

	/* pcie_bw runs on its own, longer interval */
	int pcie_off;
	int pcie_valid;
	int64_t pcie_next_ns;
	int64_t pcie_last_ns;
	double pcie_rx_rate, pcie_tx_rate;   /* bytes/s at the last reading */
	double pcie_rx_bytes, pcie_tx_bytes; /* estimate so far */
};

struct amdgpu_state {
	am_family_t fam[F_COUNT];
	struct amdgpu_dev *devs;
	int ndevs;
	int use_gm;
	double pcie_interval_s;
	int pcie_rr;	 /* next device to offer the pcie_bw read to */
	uint8_t *gm_buf; /* AMDGPU_GM_MAX_BYTES + 1, shared: polls are serial */
};

static const struct am_option amdgpu_options[] = {
    {"pcie_interval", AM_OPT_DURATION,
     "how often to read device/pcie_bw (slow: the driver samples for 1 s); "
     "0 turns it off (default 10s)"},
    {"gpu_metrics", AM_OPT_BOOL,
     "read the binary gpu_metrics table (energy, throttling, XGMI; "
     "default true)"},
    {NULL, 0, NULL},
};

/* ---- small file helpers ---- */

/* Read a file relative to dirfd to EOF into buf, which holds limit + 1
 * bytes: reading one byte past the limit tells a file that fits from a longer
 * one (which would otherwise be judged on a prefix). Returns the length,
 * -EFBIG when the file is longer than limit, or -errno. */
static ssize_t amdgpu_read_file(int dirfd, const char *name, char *buf, size_t limit)
{
	int fd;
	size_t got = 0;

	if (dirfd < 0)
		return -ENOENT;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got <= limit) {
		ssize_t n = read(fd, buf + got, limit + 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return got > limit ? -EFBIG : (ssize_t)got;
}

/* Read a text file relative to dirfd into buf (NUL-terminated, trailing
 * whitespace trimmed). Returns its length or -errno; -EFBIG when the file
 * does not fit. */
static ssize_t amdgpu_read_text(int dirfd, const char *name, char *buf, size_t cap)
{
	ssize_t got = amdgpu_read_file(dirfd, name, buf, cap - 1);

	if (got < 0)
		return got;
	/* got <= cap - 1: the byte read past it was not there */
	while (got > 0 && isspace((unsigned char)buf[got - 1]))
		got--;
	buf[got] = '\0';
	return got;
}

/* Parse an unsigned decimal that must fill the string (leading blanks
 * allowed). Rejects empty, signs, junk and anything above 2^64-1. */
static int amdgpu_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (*s)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Read one unsigned number. 0 and *v on success; -ENOENT when the file is
 * missing (metric absent, not an error); any other failure is logged once
 * per message and counted as a read error. */
static int amdgpu_read_u64(struct am_ctx *ctx, const struct amdgpu_dev *d, int dirfd,
			   const char *name, uint64_t *v)
{
	char buf[64];
	ssize_t n = amdgpu_read_text(dirfd, name, buf, sizeof(buf));
	int rc;

	if (n == -ENOENT)
		return -ENOENT;
	if (n < 0) {
		am_read_error(ctx);
		am_log(ctx, AM_LOG_WARN, "%s: reading %s: %s", d->name, name,
		       strerror((int)-n));
		return (int)n;
	}
	rc = amdgpu_parse_u64(buf, v);
	if (rc < 0) {
		am_read_error(ctx);
		am_log(ctx, AM_LOG_WARN, "%s: %s: not an unsigned number: \"%.32s\"",
		       d->name, name, buf);
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

static void amdgpu_discover_sensors(struct amdgpu_dev *d)
{
	static const char *const temp_default[] = {"edge", "junction", "mem"};
	char name[32], buf[64];
	struct stat st;

	d->ntemps = 0;
	d->nclocks = 0;
	d->power_file = NULL;
	if (d->hwmon_fd >= 0) {
		for (int i = 1; i <= AMDGPU_MAX_TEMPS; i++) {
			struct amdgpu_temp *t = &d->temps[d->ntemps];
			snprintf(t->input, sizeof(t->input), "temp%d_input", i);
			if (fstatat(d->hwmon_fd, t->input, &st, 0) != 0)
				continue;
			snprintf(name, sizeof(name), "temp%d_label", i);
			if (amdgpu_read_text(d->hwmon_fd, name, buf, sizeof(buf)) > 0)
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
			if (fstatat(d->hwmon_fd, c->input, &st, 0) != 0)
				continue;
			snprintf(name, sizeof(name), "freq%d_label", i);
			if (amdgpu_read_text(d->hwmon_fd, name, buf, sizeof(buf)) <= 0)
				amdgpu_copy(buf, sizeof(buf), i == 1 ? "sclk" : "mclk");
			amdgpu_copy(c->clock, sizeof(c->clock), amdgpu_clock_name(buf));
			c->from_dpm = 0;
			c->s = AM_SERIES_INVALID;
			d->nclocks++;
		}
		if (fstatat(d->hwmon_fd, "power1_average", &st, 0) == 0)
			d->power_file = "power1_average";
		else if (fstatat(d->hwmon_fd, "power1_input", &st, 0) == 0)
			d->power_file = "power1_input";
	}
	/* No hwmon frequency: the DPM tables mark the current level with '*'. */
	if (d->nclocks == 0) {
		static const char *const dpm[2][2] = {{"pp_dpm_sclk", "graphics"},
						      {"pp_dpm_mclk", "memory"}};
		for (int i = 0; i < 2; i++) {
			if (fstatat(d->dev_fd, dpm[i][0], &st, 0) != 0)
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

static void amdgpu_identify(struct amdgpu_dev *d, unsigned vendor, const char *uevent)
{
	char buf[256], pciid[64];
	unsigned dev_id = 0;

	/* uuid: the board's unique_id (16 hex digits on SMU-managed parts),
	 * else the PCI address. */
	if (amdgpu_read_text(d->dev_fd, "unique_id", buf, sizeof(buf)) > 0)
		amdgpu_copy(d->uuid, sizeof(d->uuid), buf);
	else
		amdgpu_copy(d->uuid, sizeof(d->uuid), d->pci);

	if (amdgpu_read_text(d->dev_fd, "vbios_version", buf, sizeof(buf)) > 0)
		amdgpu_copy(d->vbios, sizeof(d->vbios), buf);
	else
		d->vbios[0] = '\0';
	if (amdgpu_read_text(d->dev_fd, "numa_node", buf, sizeof(buf)) > 0)
		amdgpu_copy(d->numa, sizeof(d->numa), buf);
	else
		d->numa[0] = '\0';

	amdgpu_copy(d->vendor, sizeof(d->vendor),
		    (vendor == PCI_VENDOR_HYGON || strcmp(d->driver, "hydcu") == 0)
			? "Hygon"
			: "AMD");

	if (amdgpu_read_text(d->dev_fd, "device", buf, sizeof(buf)) > 0)
		dev_id = (unsigned)strtoul(buf, NULL, 16);
	else {
		amdgpu_uevent(uevent, "PCI_ID", pciid, sizeof(pciid));
		char *colon = strchr(pciid, ':');
		if (colon)
			dev_id = (unsigned)strtoul(colon + 1, NULL, 16);
	}
	if (amdgpu_read_text(d->dev_fd, "product_name", buf, sizeof(buf)) > 0) {
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

/* Is class/drm/<name> a card of ours? Fills *d when it is. */
static int amdgpu_probe_card(int drm_fd, const char *name, int card, struct amdgpu_dev *d)
{
	char path[300], link[PATH_MAX], uevent[AMDGPU_TEXT_MAX], buf[64];
	unsigned vendor = 0;
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->dev_fd = d->hwmon_fd = d->ras_fd = -1;
	snprintf(path, sizeof(path), "%s/device", name);
	d->dev_fd = openat(drm_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dev_fd < 0)
		return -ENODEV;

	if (amdgpu_read_text(d->dev_fd, "uevent", uevent, sizeof(uevent)) < 0)
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
	if (amdgpu_read_text(d->dev_fd, "vendor", buf, sizeof(buf)) > 0)
		vendor = (unsigned)strtoul(buf, NULL, 16);
	else {
		amdgpu_uevent(uevent, "PCI_ID", buf, sizeof(buf));
		vendor = (unsigned)strtoul(buf, NULL, 16);
	}
	if (strcmp(d->driver, "amdgpu") != 0 && strcmp(d->driver, "hydcu") != 0 &&
	    vendor != PCI_VENDOR_AMD && vendor != PCI_VENDOR_HYGON) {
		close(d->dev_fd);
		d->dev_fd = -1;
		return -ENODEV;
	}

	d->card = card;
	snprintf(d->name, sizeof(d->name), "amdgpu%d", card);
	/* PCI address: uevent PCI_SLOT_NAME, else the device link's target. */
	amdgpu_uevent(uevent, "PCI_SLOT_NAME", d->pci, sizeof(d->pci));
	if (!d->pci[0]) {
		n = readlinkat(drm_fd, path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			const char *base = strrchr(link, '/');
			amdgpu_copy(d->pci, sizeof(d->pci), base ? base + 1 : link);
		}
	}
	amdgpu_identify(d, vendor, uevent);
	amdgpu_discover_hwmon(d);
	amdgpu_discover_sensors(d);
	amdgpu_discover_ras(d);

	am_series_t *all[] = {&d->s_info,   &d->s_up,	  &d->s_util,	  &d->s_busy,
			      &d->s_membw,  &d->s_vcn,	  &d->s_mem_used, &d->s_mem_total,
			      &d->s_power,  &d->s_plimit, &d->s_energy,	  &d->s_pcie_tx,
			      &d->s_pcie_rx};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		*all[i] = AM_SERIES_INVALID;
	for (int i = 0; i < 3; i++)
		d->s_pool_used[i] = d->s_pool_total[i] = AM_SERIES_INVALID;
	for (int i = 0; i < AMDGPU_GM_RES_COUNT; i++)
		d->s_throttled[i] = AM_SERIES_INVALID;
	for (int i = 0; i < 4; i++)
		d->s_throttle_cls[i] = AM_SERIES_INVALID;
	for (int i = 0; i < AMDGPU_GM_XGMI_LINKS; i++)
		d->s_xgmi_rd[i] = d->s_xgmi_wr[i] = AM_SERIES_INVALID;
	return 0;
}

static void amdgpu_close_dev(struct amdgpu_dev *d)
{
	if (d->dev_fd >= 0)
		close(d->dev_fd);
	if (d->hwmon_fd >= 0)
		close(d->hwmon_fd);
	if (d->ras_fd >= 0)
		close(d->ras_fd);
	d->dev_fd = d->hwmon_fd = d->ras_fd = -1;
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

static void amdgpu_fini(struct am_ctx *ctx, void *state);

static int amdgpu_init(struct am_ctx *ctx, const struct am_config *cfg, void **statep)
{
	char path[PATH_MAX];
	struct amdgpu_state *st;
	DIR *dir;
	struct dirent *e;
	int drm_fd, rc = 0;

	snprintf(path, sizeof(path), "%s/class/drm", am_sysfs(ctx));
	drm_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (drm_fd < 0) {
		am_found(ctx, "no %s: no DRM devices", path);
		return -ENODEV;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		close(drm_fd);
		return -ENOMEM;
	}
	st->devs = calloc(AMDGPU_MAX_DEVICES, sizeof(*st->devs));
	st->use_gm = am_cfg_bool(cfg, "gpu_metrics", true);
	st->pcie_interval_s = am_cfg_duration(cfg, "pcie_interval", 10.0);
	if (!st->devs) {
		rc = -ENOMEM;
		goto fail;
	}
	dir = fdopendir(dup(drm_fd));
	if (!dir) {
		rc = -errno;
		goto fail;
	}
	while ((e = readdir(dir)) != NULL && st->ndevs < AMDGPU_MAX_DEVICES) {
		int card = amdgpu_card_number(e->d_name);
		if (card < 0)
			continue;
		if (amdgpu_probe_card(drm_fd, e->d_name, card, &st->devs[st->ndevs]) == 0)
			st->ndevs++;
	}
	closedir(dir);
	close(drm_fd);
	drm_fd = -1;

	if (st->ndevs == 0) {
		am_found(ctx, "no amdgpu/hydcu cards under %s", path);
		rc = -ENODEV;
		goto fail;
	}
	qsort(st->devs, (size_t)st->ndevs, sizeof(*st->devs), amdgpu_cmp_dev);

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
	if (st->use_gm) {
		st->gm_buf = malloc(AMDGPU_GM_MAX_BYTES + 1);
		if (!st->gm_buf) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	int hygon = 0;
	for (int i = 0; i < st->ndevs; i++)
		hygon += strcmp(st->devs[i].vendor, "Hygon") == 0;
	am_found(ctx, "%d card(s) (%d AMD, %d Hygon) under %s, first %s (%s)", st->ndevs,
		 st->ndevs - hygon, hygon, path, st->devs[0].name, st->devs[0].model);
	*statep = st;
	return 0;
fail:
	if (drm_fd >= 0)
		close(drm_fd);
	amdgpu_fini(ctx, st);
	return rc;
}

static void amdgpu_fini(struct am_ctx *ctx, void *state)
{
	struct amdgpu_state *st = state;

	if (!st)
		return;
	for (int i = 0; i < st->ndevs; i++)
		amdgpu_close_dev(&st->devs[i]);
	free(st->devs);
	free(st->gm_buf);
	free(st);
}

/* ---- polling ---- */

/* Read gpu_metrics to EOF into st->gm_buf. Returns bytes read or -errno;
 * -EFBIG when the file is larger than AMDGPU_GM_MAX_BYTES. */
static ssize_t amdgpu_read_gm(struct amdgpu_state *st, int dirfd)
{
	return amdgpu_read_file(dirfd, "gpu_metrics", (char *)st->gm_buf,
				AMDGPU_GM_MAX_BYTES);
}

/* Returns 0 with *gm filled, or -errno (nothing to use this poll). */
static int amdgpu_poll_gm(struct am_ctx *ctx, struct amdgpu_state *st,
			  struct amdgpu_dev *d, struct amdgpu_gm *gm)
{
	ssize_t n;
	int rc;

	if (!st->use_gm || d->gm_off)
		return -ENOENT;
	n = amdgpu_read_gm(st, d->dev_fd);
	if (n == -ENOENT || n == -EOPNOTSUPP || n == -ENODATA) {
		/* Older kernels and some APUs have no table: stop asking. */
		d->gm_off = 1;
		return (int)n;
	}
	if (n < 0) {
		am_read_error(ctx);
		am_log(ctx, AM_LOG_WARN, "%s: reading gpu_metrics: %s", d->name,
		       n == -EFBIG ? "larger than 128 KiB, ignored" : strerror((int)-n));
		return (int)n;
	}
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
		am_read_error(ctx);
		am_log(ctx, AM_LOG_WARN,
		       "%s: gpu_metrics: %zd bytes read but the header says "
		       "%u (v%u.%u): truncated or corrupt, ignored",
		       d->name, n, gm->structure_size, gm->format_revision,
		       gm->content_revision);
		return rc;
	}
	return 0;
}

static void amdgpu_emit_power_energy(struct am_ctx *ctx, struct amdgpu_state *st,
				     struct amdgpu_dev *d, const struct amdgpu_gm *gm,
				     int have_gm, const char *const *lv)
{
	uint64_t v;
	double watts = -1;

	if (d->power_file &&
	    amdgpu_read_u64(ctx, d, d->hwmon_fd, d->power_file, &v) == 0) {
		watts = (double)v * 1e-6;
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_power, st->fam[F_POWER], lv),
			    (double)v);
	} else if (!d->power_file && have_gm && (gm->have & AMDGPU_GM_HAVE_POWER)) {
		watts = gm->socket_power_w;
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_power, st->fam[F_POWER], lv),
			    watts * 1e6);
	}
	if (amdgpu_read_u64(ctx, d, d->hwmon_fd, "power1_cap", &v) == 0)
		amdgpu_emit(ctx,
			    amdgpu_ser(ctx, &d->s_plimit, st->fam[F_POWER_LIMIT], lv),
			    (double)v);

	/* Energy: the firmware accumulator is exact; integrating sampled
	 * power is the fallback. The source is fixed at first use so the
	 * counter never mixes the two. */
	if (d->energy_src == ENERGY_NONE) {
		if (have_gm && (gm->have & AMDGPU_GM_HAVE_ENERGY))
			d->energy_src = ENERGY_GM;
		else if (watts >= 0)
			d->energy_src = ENERGY_POWER;
	}
	if (d->energy_src == ENERGY_GM && have_gm && (gm->have & AMDGPU_GM_HAVE_ENERGY)) {
		am_series_t s = amdgpu_ser(ctx, &d->s_energy, st->fam[F_ENERGY], lv);
		if (s != AM_SERIES_INVALID)
			am_emit_u64(ctx, s, gm->energy_raw);
	} else if (d->energy_src == ENERGY_POWER && watts >= 0) {
		/* The power read now, as a rate the aggregator integrates
		 * over the time since the previous sample. */
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_energy, st->fam[F_ENERGY_PW], lv),
			    watts * 1e6);
	}
}

static void amdgpu_emit_gm(struct am_ctx *ctx, struct amdgpu_state *st,
			   struct amdgpu_dev *d, const struct amdgpu_gm *gm,
			   const char *const *lv)
{
	if (gm->have & AMDGPU_GM_HAVE_RESIDENCY) {
		/* Residency counters tick with accumulation_counter: their
		 * delta over its delta is the throttled share of the poll
		 * window, integrated into seconds by the aggregator. */
		uint32_t dacc = gm->accumulation_counter - d->res_prev_acc;
		if (d->res_prev_valid && dacc > 0 &&
		    gm->accumulation_counter >= d->res_prev_acc) {
			for (int i = 0; i < AMDGPU_GM_RES_COUNT; i++) {
				if (!(gm->residency_mask & (1u << i)))
					continue;
				double f = 0;
				if (gm->residency[i] >= d->res_prev[i])
					f = (double)(gm->residency[i] - d->res_prev[i]) /
					    (double)dacc;
				if (f > 1)
					f = 1;
				const char *l[] = {lv[0], lv[1], amdgpu_reasons[i]};
				amdgpu_emit(ctx,
					    amdgpu_ser(ctx, &d->s_throttled[i],
						       st->fam[F_THROTTLED], l),
					    f);
			}
		}
		d->res_prev_valid = 1;
		d->res_prev_acc = gm->accumulation_counter;
		memcpy(d->res_prev, gm->residency, sizeof(d->res_prev));
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
			if (amdgpu_read_u64(ctx, d, d->hwmon_fd, c->input, &v) == 0)
				amdgpu_emit(ctx,
					    amdgpu_ser(ctx, &c->s, st->fam[F_CLOCK], l),
					    (double)v);
			continue;
		}
		ssize_t n = amdgpu_read_text(d->dev_fd, c->input, text, sizeof(text));
		if (n == -ENOENT)
			continue;
		if (n >= 0 && amdgpu_parse_dpm(text, &hz) == 0) {
			amdgpu_emit(ctx, amdgpu_ser(ctx, &c->s, st->fam[F_CLOCK], l), hz);
			continue;
		}
		am_read_error(ctx);
		am_log(ctx, AM_LOG_WARN, "%s: %s: no current level (line with '*')",
		       d->name, c->input);
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
				if (amdgpu_parse_u64(num, dst) < 0)
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
		ssize_t n = amdgpu_read_text(d->ras_fd, r->file, text, sizeof(text));
		if (n == -ENOENT)
			continue;
		if (n < 0 || amdgpu_parse_ras(text, &ue, &ce) < 0) {
			am_read_error(ctx);
			am_log(ctx, AM_LOG_WARN,
			       "%s: ras/%s: expected \"ue: N\" and "
			       "\"ce: N\"",
			       d->name, r->file);
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
	return !d->pcie_off && st->pcie_interval_s > 0 && now >= d->pcie_next_ns;
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

	if (d->pcie_off || st->pcie_interval_s <= 0)
		return;
	if (may_read && amdgpu_pcie_due(st, d, now)) {
		d->pcie_next_ns = now + (int64_t)(st->pcie_interval_s * 1e9);
		ssize_t n = amdgpu_read_text(d->dev_fd, "pcie_bw", text, sizeof(text));
		if (n == -ENOENT || n == -EOPNOTSUPP || n == -ENODATA || n == -EINVAL) {
			/* APUs and some kernels refuse it: stop trying. */
			d->pcie_off = 1;
			if (n != -ENOENT)
				am_log(ctx, AM_LOG_INFO,
				       "%s: pcie_bw not supported (%s); not "
				       "reading it again",
				       d->name, strerror((int)-n));
			return;
		}
		if (n < 0 || text[0] == '-' ||
		    sscanf(text, "%llu %llu %llu %c", &rx, &tx, &mps, &extra) != 3 ||
		    mps > 4096) {
			am_read_error(ctx);
			am_log(ctx, AM_LOG_WARN,
			       "%s: pcie_bw: expected \"received sent "
			       "max_payload\"",
			       d->name);
		} else {
			/* Counts are over the driver's 1 s window: packets x
			 * max payload is an upper bound of bytes per second,
			 * taken to hold until the next reading. */
			if (d->pcie_last_ns > 0) {
				double dt = (double)(now - d->pcie_last_ns) * 1e-9;
				d->pcie_rx_bytes += d->pcie_rx_rate * dt;
				d->pcie_tx_bytes += d->pcie_tx_rate * dt;
			}
			d->pcie_rx_rate = (double)rx * (double)mps;
			d->pcie_tx_rate = (double)tx * (double)mps;
			d->pcie_last_ns = now;
			d->pcie_valid = 1;
		}
	}
	if (!d->pcie_valid)
		return;
	/* Emitted every poll so the series stays fresh between readings. */
	amdgpu_emit_u64(ctx, amdgpu_ser(ctx, &d->s_pcie_rx, st->fam[F_PCIE_RX], lv),
			(uint64_t)llround(d->pcie_rx_bytes));
	amdgpu_emit_u64(ctx, amdgpu_ser(ctx, &d->s_pcie_tx, st->fam[F_PCIE_TX], lv),
			(uint64_t)llround(d->pcie_tx_bytes));
}

/* A 0..100 busy file. A value above 100 is garbage (one error, no value);
 * a missing file falls back to the gpu_metrics table's figure if it has one. */
static int amdgpu_read_percent(struct am_ctx *ctx, const struct amdgpu_dev *d,
			       const char *file, int gm_has, uint64_t gm_value, uint64_t *v)
{
	int rc = amdgpu_read_u64(ctx, d, d->dev_fd, file, v);

	if (rc == 0 && *v > 100) {
		am_read_error(ctx);
		am_log(ctx, AM_LOG_WARN, "%s: %s %" PRIu64 " is above 100", d->name, file,
		       *v);
		rc = -ERANGE;
	}
	if (rc == -ENOENT && gm_has) {
		*v = gm_value;
		rc = 0;
	}
	return rc;
}

static void amdgpu_poll_dev(struct am_ctx *ctx, struct amdgpu_state *st,
			    struct amdgpu_dev *d, int pcie_read)
{
	static const char *const pool_files[3][2] = {
	    {"mem_info_vram_used", "mem_info_vram_total"},
	    {"mem_info_vis_vram_used", "mem_info_vis_vram_total"},
	    {"mem_info_gtt_used", "mem_info_gtt_total"}};
	const char *lv[] = {d->name, d->uuid};
	struct amdgpu_gm gm;
	int have_gm, ok = 0, rc;
	uint64_t v;

	if (d->s_info == AM_SERIES_INVALID) {
		/* the schema's identity labels: no serial number or driver
		 * version is read; the VBIOS is the firmware */
		const char *info[] = {d->name, d->uuid, d->vendor, d->model, "",
				      d->pci,  d->numa, "",	   d->vbios};
		amdgpu_ser(ctx, &d->s_info, st->fam[F_INFO], info);
	}
	amdgpu_emit(ctx, d->s_info, 1);

	have_gm = amdgpu_poll_gm(ctx, st, d, &gm) == 0;

	rc = amdgpu_read_percent(ctx, d, "gpu_busy_percent",
				 have_gm && (gm.have & AMDGPU_GM_HAVE_GFX), gm.gfx_activity, &v);
	if (rc == 0) {
		ok = 1;
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_util, st->fam[F_UTIL], lv),
			    (double)v);
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_busy, st->fam[F_BUSY], lv),
			    (double)v);
	}

	rc = amdgpu_read_percent(ctx, d, "mem_busy_percent",
				 have_gm && (gm.have & AMDGPU_GM_HAVE_UMC), gm.umc_activity, &v);
	if (rc == 0) {
		ok = 1;
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_membw, st->fam[F_MEMBW], lv),
			    (double)v);
	}

	rc = amdgpu_read_u64(ctx, d, d->dev_fd, "vcn_busy_percent", &v);
	if (rc == 0 && v <= 100) {
		const char *l[] = {d->name, d->uuid, "vcn"};
		amdgpu_emit(ctx, amdgpu_ser(ctx, &d->s_vcn, st->fam[F_ENGINE], l),
			    (double)v);
	} else if (rc == 0) {
		am_read_error(ctx);
		am_log(ctx, AM_LOG_WARN, "%s: vcn_busy_percent %" PRIu64 " is above 100",
		       d->name, v);
	}

	for (int p = 0; p < 3; p++) {
		const char *l[] = {d->name, d->uuid, amdgpu_pools[p]};
		if (amdgpu_read_u64(ctx, d, d->dev_fd, pool_files[p][0], &v) == 0) {
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
		if (amdgpu_read_u64(ctx, d, d->dev_fd, pool_files[p][1], &v) == 0) {
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
		if (amdgpu_read_u64(ctx, d, d->hwmon_fd, t->input, &v) == 0)
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
	for (int i = 0; i < st->ndevs; i++)
		amdgpu_poll_dev(ctx, st, &st->devs[i], i == pcie);
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
    /* busy seconds, energy by power and throttle residency need a delta */
    .once_polls = 2,
    .init = amdgpu_init,
    .poll = amdgpu_poll,
    .fini = amdgpu_fini,
};
