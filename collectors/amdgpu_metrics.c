/* amdgpu gpu_metrics parser: the layouts accelmon knows, as offset tables.
 *
 * The layouts below are written from the Linux kernel's public header
 * drivers/gpu/drm/amd/include/kgd_pp_interface.h (struct gpu_metrics_v1_N)
 * and the amd-gfx patches that introduced v1_6, v1_7 and v1_8. The driver
 * fills a native-endian, naturally aligned C struct and sets structure_size
 * to its sizeof, so a layout is chosen by (format, content, size): the same
 * (1, 6) pair once named two different structs (an early v1_6 was merged
 * and reverted), and a size we have not seen is never guessed at.
 *
 * Only the fields accelmon exports are named; the rest are opaque padding of
 * the right width. The _Static_asserts pin every offset we read to the
 * numbers worked out by hand from the header, so a typo cannot shift one.
 */
#include "amdgpu_metrics.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct gm_hdr {
	uint16_t structure_size;
	uint8_t format_revision;
	uint8_t content_revision;
};

/* Format 1, content 1..3: Navi1x/2x, Arcturus (MI100), Aldebaran (MI200).
 * Each content revision appends to the previous one. */
struct gm_v1_1 {
	struct gm_hdr h;
	uint16_t temperature[6]; /* edge, hotspot, mem, vrgfx, vrsoc, vrmem */
	uint16_t gfx_activity;
	uint16_t umc_activity;
	uint16_t mm_activity;
	uint16_t socket_power; /* W */
	uint64_t energy;       /* 2^-16 J */
	uint64_t system_clock_counter;
	uint16_t average_clocks[7];
	uint16_t current_clocks[7];
	uint32_t throttle_status;
	uint16_t fan_speed;
	uint16_t pcie_link_width;
	uint16_t pcie_link_speed;
	uint16_t pad0;
	uint32_t gfx_activity_acc;
	uint32_t mem_activity_acc;
	uint16_t temperature_hbm[4];
};

struct gm_v1_2 {
	struct gm_v1_1 base;
	uint64_t firmware_timestamp;
};

struct gm_v1_3 {
	struct gm_v1_2 base;
	uint16_t voltage[3];
	uint16_t pad1;
	uint64_t indep_throttle_status;
};

/* Format 1, content 4 and 5: MI300 with earlier firmware/kernels. */
struct gm_v1_4 {
	struct gm_hdr h;
	uint16_t temperature[3]; /* hotspot, mem, vrsoc */
	uint16_t socket_power;	 /* W */
	uint16_t gfx_activity;
	uint16_t umc_activity;
	uint16_t vcn_activity[4];
	uint64_t energy;
	uint64_t system_clock_counter;
	uint32_t throttle_status;
	uint32_t gfxclk_lock_status;
	uint16_t pcie_link_width;
	uint16_t pcie_link_speed;
	uint16_t xgmi_link_width;
	uint16_t xgmi_link_speed;
	uint32_t gfx_activity_acc;
	uint32_t mem_activity_acc;
	uint64_t pcie_counters[5]; /* bw acc, bw inst, L0->recovery, replay, rollover */
	uint64_t xgmi_read_kib[8];
	uint64_t xgmi_write_kib[8];
	uint64_t firmware_timestamp;
	uint16_t
	    current_clocks[8 + 4 + 4 + 4 + 1]; /* gfx[8] soc[4] vclk[4] dclk[4] uclk */
	uint16_t pad0;
};

struct gm_v1_5 {
	struct gm_hdr h;
	uint16_t temperature[3];
	uint16_t socket_power;
	uint16_t gfx_activity;
	uint16_t umc_activity;
	uint16_t vcn_activity[4];
	uint16_t jpeg_activity[32];
	uint64_t energy;
	uint64_t system_clock_counter;
	uint32_t throttle_status;
	uint32_t gfxclk_lock_status;
	uint16_t pcie_link_width;
	uint16_t pcie_link_speed;
	uint16_t xgmi_link_width;
	uint16_t xgmi_link_speed;
	uint32_t gfx_activity_acc;
	uint32_t mem_activity_acc;
	uint64_t pcie_counters[5];
	uint32_t pcie_nak_sent;
	uint32_t pcie_nak_rcvd;
	uint64_t xgmi_read_kib[8];
	uint64_t xgmi_write_kib[8];
	uint64_t firmware_timestamp;
	uint16_t current_clocks[8 + 4 + 4 + 4 + 1];
	uint16_t pad0;
};

/* Per-partition (XCP) blocks at the tail of v1_6..v1_8; only their size
 * matters here. v1_0: gfx_busy_inst u32[8], jpeg u16[32], vcn u16[4],
 * gfx_busy_acc u64[8]; v1_1 adds one u64[8]; v1_2 has jpeg u16[40] and four
 * u64[8] arrays after gfx_busy_acc. */
struct gm_xcp_v1_0 {
	uint32_t gfx_busy_inst[8];
	uint16_t jpeg_busy[32];
	uint16_t vcn_busy[4];
	uint64_t gfx_busy_acc[8];
};
struct gm_xcp_v1_1 {
	uint32_t gfx_busy_inst[8];
	uint16_t jpeg_busy[32];
	uint16_t vcn_busy[4];
	uint64_t gfx_busy_acc[8];
	uint64_t gfx_below_host_limit_acc[8];
};
struct gm_xcp_v1_2 {
	uint32_t gfx_busy_inst[8];
	uint16_t jpeg_busy[40];
	uint16_t vcn_busy[4];
	uint64_t gfx_busy_acc[8];
	uint64_t below_limit_acc[4][8]; /* ppt, thm, low utilization, total */
};

/* Format 1, content 6: MI300 series with partition metrics and throttler
 * residency accumulators. */
struct gm_v1_6 {
	struct gm_hdr h;
	uint16_t temperature[3];
	uint16_t socket_power;
	uint16_t gfx_activity;
	uint16_t umc_activity;
	uint64_t energy;
	uint64_t system_clock_counter;
	uint32_t accumulation_counter;
	uint32_t residency[5]; /* prochot, ppt, socket thm, vr thm, hbm thm */
	uint32_t gfxclk_lock_status;
	uint16_t pcie_link_width;
	uint16_t pcie_link_speed;
	uint16_t xgmi_link_width;
	uint16_t xgmi_link_speed;
	uint32_t gfx_activity_acc;
	uint32_t mem_activity_acc;
	uint64_t pcie_counters[5];
	uint32_t pcie_nak_sent;
	uint32_t pcie_nak_rcvd;
	uint64_t xgmi_read_kib[8];
	uint64_t xgmi_write_kib[8];
	uint64_t firmware_timestamp;
	uint16_t current_clocks[8 + 4 + 4 + 4 + 1];
	uint16_t num_partition;
	struct gm_xcp_v1_0 xcp[8];
	uint32_t pcie_lc_perf_other_end_recovery;
};

/* Format 1, content 7 and 8: v1_6 plus the VRAM bandwidth ceiling and XGMI
 * link status; they differ only in the per-partition block. */
#define GM_V1_7_BODY(xcp_type)                                                           \
	struct gm_hdr h;                                                                 \
	uint16_t temperature[3];                                                         \
	uint16_t socket_power;                                                           \
	uint16_t gfx_activity;                                                           \
	uint16_t umc_activity;                                                           \
	uint64_t mem_max_bandwidth;                                                      \
	uint64_t energy;                                                                 \
	uint64_t system_clock_counter;                                                   \
	uint32_t accumulation_counter;                                                   \
	uint32_t residency[5];                                                           \
	uint32_t gfxclk_lock_status;                                                     \
	uint16_t pcie_link_width;                                                        \
	uint16_t pcie_link_speed;                                                        \
	uint16_t xgmi_link_width;                                                        \
	uint16_t xgmi_link_speed;                                                        \
	uint32_t gfx_activity_acc;                                                       \
	uint32_t mem_activity_acc;                                                       \
	uint64_t pcie_counters[5];                                                       \
	uint32_t pcie_nak_sent;                                                          \
	uint32_t pcie_nak_rcvd;                                                          \
	uint64_t xgmi_read_kib[8];                                                       \
	uint64_t xgmi_write_kib[8];                                                      \
	uint16_t xgmi_link_status[8];                                                    \
	uint16_t pad0;                                                                   \
	uint64_t firmware_timestamp;                                                     \
	uint16_t current_clocks[8 + 4 + 4 + 4 + 1];                                      \
	uint16_t num_partition;                                                          \
	xcp_type xcp[8];                                                                 \
	uint32_t pcie_lc_perf_other_end_recovery;

struct gm_v1_7 {
	GM_V1_7_BODY(struct gm_xcp_v1_1)
};
struct gm_v1_8 {
	GM_V1_7_BODY(struct gm_xcp_v1_2)
};

/* Sizes and offsets worked out by hand from the kernel header (natural
 * alignment, x86-64 / arm64 LP64). */
_Static_assert(sizeof(struct gm_hdr) == 4, "header");
_Static_assert(sizeof(struct gm_v1_1) == 96, "v1_1 size");
_Static_assert(sizeof(struct gm_v1_2) == 104, "v1_2 size");
_Static_assert(sizeof(struct gm_v1_3) == 120, "v1_3 size");
_Static_assert(offsetof(struct gm_v1_1, gfx_activity) == 16, "v1_1 gfx");
_Static_assert(offsetof(struct gm_v1_1, socket_power) == 22, "v1_1 power");
_Static_assert(offsetof(struct gm_v1_1, energy) == 24, "v1_1 energy");
_Static_assert(offsetof(struct gm_v1_3, indep_throttle_status) == 112, "v1_3");

_Static_assert(sizeof(struct gm_v1_4) == 288, "v1_4 size");
_Static_assert(offsetof(struct gm_v1_4, socket_power) == 10, "v1_4 power");
_Static_assert(offsetof(struct gm_v1_4, vcn_activity) == 16, "v1_4 vcn");
_Static_assert(offsetof(struct gm_v1_4, energy) == 24, "v1_4 energy");
_Static_assert(offsetof(struct gm_v1_4, xgmi_read_kib) == 104, "v1_4 xgmi");
_Static_assert(offsetof(struct gm_v1_4, xgmi_write_kib) == 168, "v1_4 xgmi");

_Static_assert(sizeof(struct gm_v1_5) == 360, "v1_5 size");
_Static_assert(offsetof(struct gm_v1_5, energy) == 88, "v1_5 energy");
_Static_assert(offsetof(struct gm_v1_5, xgmi_read_kib) == 176, "v1_5 xgmi");
_Static_assert(offsetof(struct gm_v1_5, xgmi_write_kib) == 240, "v1_5 xgmi");

_Static_assert(sizeof(struct gm_xcp_v1_0) == 168, "xcp v1_0");
_Static_assert(sizeof(struct gm_xcp_v1_1) == 232, "xcp v1_1");
_Static_assert(sizeof(struct gm_xcp_v1_2) == 440, "xcp v1_2");

_Static_assert(sizeof(struct gm_v1_6) == 1664, "v1_6 size");
_Static_assert(offsetof(struct gm_v1_6, energy) == 16, "v1_6 energy");
_Static_assert(offsetof(struct gm_v1_6, accumulation_counter) == 32, "v1_6");
_Static_assert(offsetof(struct gm_v1_6, residency) == 36, "v1_6 res");
_Static_assert(offsetof(struct gm_v1_6, xgmi_read_kib) == 128, "v1_6 xgmi");
_Static_assert(offsetof(struct gm_v1_6, xgmi_write_kib) == 192, "v1_6 xgmi");
_Static_assert(offsetof(struct gm_v1_6, xcp) == 312, "v1_6 xcp");

_Static_assert(sizeof(struct gm_v1_7) == 2208, "v1_7 size");
_Static_assert(sizeof(struct gm_v1_8) == 3872, "v1_8 size");
_Static_assert(offsetof(struct gm_v1_7, energy) == 24, "v1_7 energy");
_Static_assert(offsetof(struct gm_v1_7, accumulation_counter) == 40, "v1_7");
_Static_assert(offsetof(struct gm_v1_7, residency) == 44, "v1_7 res");
_Static_assert(offsetof(struct gm_v1_7, xgmi_read_kib) == 136, "v1_7 xgmi");
_Static_assert(offsetof(struct gm_v1_7, xgmi_write_kib) == 200, "v1_7 xgmi");
_Static_assert(offsetof(struct gm_v1_7, firmware_timestamp) == 288, "v1_7");
_Static_assert(offsetof(struct gm_v1_7, xcp) == 344, "v1_7 xcp");
_Static_assert(offsetof(struct gm_v1_8, xgmi_write_kib) == 200, "v1_8 xgmi");

#define NONE (-1)
#define OFF(type, field) ((int)offsetof(struct type, field))

struct gm_layout {
	uint8_t frev, crev;
	uint16_t size;
	int off[AMDGPU_GM_F_COUNT];
};

/* Every field of every layout is spelled out (NONE where the struct has no
 * such field): a forgotten entry must not silently mean offset 0. */
static const struct gm_layout gm_layouts[] = {
    {1,
     1,
     sizeof(struct gm_v1_1),
     {[AMDGPU_GM_F_ENERGY] = OFF(gm_v1_1, energy),
      [AMDGPU_GM_F_POWER] = OFF(gm_v1_1, socket_power),
      [AMDGPU_GM_F_GFX] = OFF(gm_v1_1, gfx_activity),
      [AMDGPU_GM_F_UMC] = OFF(gm_v1_1, umc_activity),
      [AMDGPU_GM_F_VCN] = NONE,
      [AMDGPU_GM_F_ACC_COUNTER] = NONE,
      [AMDGPU_GM_F_RESIDENCY] = NONE,
      [AMDGPU_GM_F_XGMI_READ] = NONE,
      [AMDGPU_GM_F_XGMI_WRITE] = NONE,
      [AMDGPU_GM_F_INDEP_THROTTLE] = NONE}},
    {1,
     2,
     sizeof(struct gm_v1_2),
     {[AMDGPU_GM_F_ENERGY] = OFF(gm_v1_1, energy),
      [AMDGPU_GM_F_POWER] = OFF(gm_v1_1, socket_power),
      [AMDGPU_GM_F_GFX] = OFF(gm_v1_1, gfx_activity),
      [AMDGPU_GM_F_UMC] = OFF(gm_v1_1, umc_activity),
      [AMDGPU_GM_F_VCN] = NONE,
      [AMDGPU_GM_F_ACC_COUNTER] = NONE,
      [AMDGPU_GM_F_RESIDENCY] = NONE,
      [AMDGPU_GM_F_XGMI_READ] = NONE,
      [AMDGPU_GM_F_XGMI_WRITE] = NONE,
      [AMDGPU_GM_F_INDEP_THROTTLE] = NONE}},
    {1,
     3,
     sizeof(struct gm_v1_3),
     {[AMDGPU_GM_F_ENERGY] = OFF(gm_v1_1, energy),
      [AMDGPU_GM_F_POWER] = OFF(gm_v1_1, socket_power),
      [AMDGPU_GM_F_GFX] = OFF(gm_v1_1, gfx_activity),
      [AMDGPU_GM_F_UMC] = OFF(gm_v1_1, umc_activity),
      [AMDGPU_GM_F_VCN] = NONE,
      [AMDGPU_GM_F_ACC_COUNTER] = NONE,
      [AMDGPU_GM_F_RESIDENCY] = NONE,
      [AMDGPU_GM_F_XGMI_READ] = NONE,
      [AMDGPU_GM_F_XGMI_WRITE] = NONE,
      [AMDGPU_GM_F_INDEP_THROTTLE] = OFF(gm_v1_3, indep_throttle_status)}},
    {1,
     4,
     sizeof(struct gm_v1_4),
     {[AMDGPU_GM_F_ENERGY] = OFF(gm_v1_4, energy),
      [AMDGPU_GM_F_POWER] = OFF(gm_v1_4, socket_power),
      [AMDGPU_GM_F_GFX] = OFF(gm_v1_4, gfx_activity),
      [AMDGPU_GM_F_UMC] = OFF(gm_v1_4, umc_activity),
      [AMDGPU_GM_F_VCN] = OFF(gm_v1_4, vcn_activity),
      [AMDGPU_GM_F_ACC_COUNTER] = NONE,
      [AMDGPU_GM_F_RESIDENCY] = NONE,
      [AMDGPU_GM_F_XGMI_READ] = OFF(gm_v1_4, xgmi_read_kib),
      [AMDGPU_GM_F_XGMI_WRITE] = OFF(gm_v1_4, xgmi_write_kib),
      [AMDGPU_GM_F_INDEP_THROTTLE] = NONE}},
    {1,
     5,
     sizeof(struct gm_v1_5),
     {[AMDGPU_GM_F_ENERGY] = OFF(gm_v1_5, energy),
      [AMDGPU_GM_F_POWER] = OFF(gm_v1_5, socket_power),
      [AMDGPU_GM_F_GFX] = OFF(gm_v1_5, gfx_activity),
      [AMDGPU_GM_F_UMC] = OFF(gm_v1_5, umc_activity),
      [AMDGPU_GM_F_VCN] = OFF(gm_v1_5, vcn_activity),
      [AMDGPU_GM_F_ACC_COUNTER] = NONE,
      [AMDGPU_GM_F_RESIDENCY] = NONE,
      [AMDGPU_GM_F_XGMI_READ] = OFF(gm_v1_5, xgmi_read_kib),
      [AMDGPU_GM_F_XGMI_WRITE] = OFF(gm_v1_5, xgmi_write_kib),
      [AMDGPU_GM_F_INDEP_THROTTLE] = NONE}},
    {1,
     6,
     sizeof(struct gm_v1_6),
     {[AMDGPU_GM_F_ENERGY] = OFF(gm_v1_6, energy),
      [AMDGPU_GM_F_POWER] = OFF(gm_v1_6, socket_power),
      [AMDGPU_GM_F_GFX] = OFF(gm_v1_6, gfx_activity),
      [AMDGPU_GM_F_UMC] = OFF(gm_v1_6, umc_activity),
      [AMDGPU_GM_F_VCN] = NONE,
      [AMDGPU_GM_F_ACC_COUNTER] = OFF(gm_v1_6, accumulation_counter),
      [AMDGPU_GM_F_RESIDENCY] = OFF(gm_v1_6, residency),
      [AMDGPU_GM_F_XGMI_READ] = OFF(gm_v1_6, xgmi_read_kib),
      [AMDGPU_GM_F_XGMI_WRITE] = OFF(gm_v1_6, xgmi_write_kib),
      [AMDGPU_GM_F_INDEP_THROTTLE] = NONE}},
    {1,
     7,
     sizeof(struct gm_v1_7),
     {[AMDGPU_GM_F_ENERGY] = OFF(gm_v1_7, energy),
      [AMDGPU_GM_F_POWER] = OFF(gm_v1_7, socket_power),
      [AMDGPU_GM_F_GFX] = OFF(gm_v1_7, gfx_activity),
      [AMDGPU_GM_F_UMC] = OFF(gm_v1_7, umc_activity),
      [AMDGPU_GM_F_VCN] = NONE,
      [AMDGPU_GM_F_ACC_COUNTER] = OFF(gm_v1_7, accumulation_counter),
      [AMDGPU_GM_F_RESIDENCY] = OFF(gm_v1_7, residency),
      [AMDGPU_GM_F_XGMI_READ] = OFF(gm_v1_7, xgmi_read_kib),
      [AMDGPU_GM_F_XGMI_WRITE] = OFF(gm_v1_7, xgmi_write_kib),
      [AMDGPU_GM_F_INDEP_THROTTLE] = NONE}},
    {1,
     8,
     sizeof(struct gm_v1_8),
     {[AMDGPU_GM_F_ENERGY] = OFF(gm_v1_8, energy),
      [AMDGPU_GM_F_POWER] = OFF(gm_v1_8, socket_power),
      [AMDGPU_GM_F_GFX] = OFF(gm_v1_8, gfx_activity),
      [AMDGPU_GM_F_UMC] = OFF(gm_v1_8, umc_activity),
      [AMDGPU_GM_F_VCN] = NONE,
      [AMDGPU_GM_F_ACC_COUNTER] = OFF(gm_v1_8, accumulation_counter),
      [AMDGPU_GM_F_RESIDENCY] = OFF(gm_v1_8, residency),
      [AMDGPU_GM_F_XGMI_READ] = OFF(gm_v1_8, xgmi_read_kib),
      [AMDGPU_GM_F_XGMI_WRITE] = OFF(gm_v1_8, xgmi_write_kib),
      [AMDGPU_GM_F_INDEP_THROTTLE] = NONE}},
};
_Static_assert(AMDGPU_GM_F_COUNT == 10,
	       "a new field needs an entry in every layout above");

static const struct gm_layout *gm_find(unsigned frev, unsigned crev)
{
	for (size_t i = 0; i < sizeof(gm_layouts) / sizeof(gm_layouts[0]); i++)
		if (gm_layouts[i].frev == frev && gm_layouts[i].crev == crev)
			return &gm_layouts[i];
	return NULL;
}

size_t amdgpu_gm_layout_size(unsigned frev, unsigned crev)
{
	const struct gm_layout *l = gm_find(frev, crev);
	return l ? l->size : 0;
}

long amdgpu_gm_field_offset(unsigned frev, unsigned crev, enum amdgpu_gm_field f)
{
	const struct gm_layout *l = gm_find(frev, crev);
	if (!l || (unsigned)f >= AMDGPU_GM_F_COUNT)
		return -1;
	return l->off[f];
}

/* Bounded little readers: `lim` is min(bytes read, structure_size). They
 * fail rather than read past it, whatever the layout table says. */
struct gm_cur {
	const uint8_t *buf;
	size_t lim;
};

static int gm_rd(const struct gm_cur *c, int off, size_t width, void *out)
{
	if (off < 0 || (size_t)off > c->lim || width > c->lim - (size_t)off)
		return -EBADMSG;
	memcpy(out, c->buf + off, width);
	return 0;
}

static int gm_u16(const struct gm_cur *c, int off, uint16_t *v)
{
	return gm_rd(c, off, sizeof(*v), v);
}

static int gm_u32(const struct gm_cur *c, int off, uint32_t *v)
{
	return gm_rd(c, off, sizeof(*v), v);
}

static int gm_u64(const struct gm_cur *c, int off, uint64_t *v)
{
	return gm_rd(c, off, sizeof(*v), v);
}

int amdgpu_gm_parse(const uint8_t *buf, size_t len, struct amdgpu_gm *out)
{
	struct gm_hdr h;
	const struct gm_layout *l;
	struct gm_cur c;
	const int *off;

	memset(out, 0, sizeof(*out));
	if (!buf || len < sizeof(h))
		return -EBADMSG;
	memcpy(&h, buf, sizeof(h));
	out->structure_size = h.structure_size;
	out->format_revision = h.format_revision;
	out->content_revision = h.content_revision;

	/* The header must fit in what it describes, and what it describes
	 * must have been read in full. */
	if (h.structure_size < sizeof(h) || h.structure_size > len)
		return -EBADMSG;
	l = gm_find(h.format_revision, h.content_revision);
	if (!l || l->size != h.structure_size)
		return -ENOTSUP;

	c.buf = buf;
	c.lim = h.structure_size < len ? h.structure_size : len;
	off = l->off;

	if (off[AMDGPU_GM_F_ENERGY] != NONE &&
	    gm_u64(&c, off[AMDGPU_GM_F_ENERGY], &out->energy_raw) == 0 &&
	    out->energy_raw != UINT64_MAX) {
		if ((double)out->energy_raw / 65536.0 <= AMDGPU_GM_MAX_ENERGY_J)
			out->have |= AMDGPU_GM_HAVE_ENERGY;
		else
			out->implausible |= AMDGPU_GM_HAVE_ENERGY;
	}

	if (off[AMDGPU_GM_F_POWER] != NONE) {
		uint16_t p;
		if (gm_u16(&c, off[AMDGPU_GM_F_POWER], &p) == 0 && p != UINT16_MAX) {
			out->socket_power_w = p;
			if (p <= AMDGPU_GM_MAX_POWER_W)
				out->have |= AMDGPU_GM_HAVE_POWER;
			else
				out->implausible |= AMDGPU_GM_HAVE_POWER;
		}
	}
	/* Activities are percentages: anything above 100 is a placeholder
	 * (0xffff) or garbage, never a reading. */
	if (off[AMDGPU_GM_F_GFX] != NONE &&
	    gm_u16(&c, off[AMDGPU_GM_F_GFX], &out->gfx_activity) == 0 &&
	    out->gfx_activity <= 100)
		out->have |= AMDGPU_GM_HAVE_GFX;
	if (off[AMDGPU_GM_F_UMC] != NONE &&
	    gm_u16(&c, off[AMDGPU_GM_F_UMC], &out->umc_activity) == 0 &&
	    out->umc_activity <= 100)
		out->have |= AMDGPU_GM_HAVE_UMC;

	if (off[AMDGPU_GM_F_VCN] != NONE) {
		for (int i = 0; i < AMDGPU_GM_VCN; i++) {
			uint16_t v;
			if (gm_u16(&c, off[AMDGPU_GM_F_VCN] + 2 * i, &v) == 0 &&
			    v <= 100) {
				out->vcn_activity[i] = v;
				out->vcn_mask |= (uint8_t)(1u << i);
			}
		}
		if (out->vcn_mask)
			out->have |= AMDGPU_GM_HAVE_VCN;
	}

	if (off[AMDGPU_GM_F_ACC_COUNTER] != NONE && off[AMDGPU_GM_F_RESIDENCY] != NONE &&
	    gm_u32(&c, off[AMDGPU_GM_F_ACC_COUNTER], &out->accumulation_counter) == 0 &&
	    out->accumulation_counter != UINT32_MAX) {
		for (int i = 0; i < AMDGPU_GM_RES_COUNT; i++) {
			uint32_t v;
			if (gm_u32(&c, off[AMDGPU_GM_F_RESIDENCY] + 4 * i, &v) == 0 &&
			    v != UINT32_MAX) {
				out->residency[i] = v;
				out->residency_mask |= (uint8_t)(1u << i);
			}
		}
		if (out->residency_mask)
			out->have |= AMDGPU_GM_HAVE_RESIDENCY;
	}

	for (int i = 0; i < AMDGPU_GM_XGMI_LINKS; i++) {
		uint64_t v;
		if (off[AMDGPU_GM_F_XGMI_READ] != NONE &&
		    gm_u64(&c, off[AMDGPU_GM_F_XGMI_READ] + 8 * i, &v) == 0 &&
		    v != UINT64_MAX) {
			if (v <= AMDGPU_GM_MAX_XGMI_KIB) {
				out->xgmi_read_kib[i] = v;
				out->xgmi_read_mask |= (uint8_t)(1u << i);
			} else {
				out->implausible |= AMDGPU_GM_HAVE_XGMI;
			}
		}
		if (off[AMDGPU_GM_F_XGMI_WRITE] != NONE &&
		    gm_u64(&c, off[AMDGPU_GM_F_XGMI_WRITE] + 8 * i, &v) == 0 &&
		    v != UINT64_MAX) {
			if (v <= AMDGPU_GM_MAX_XGMI_KIB) {
				out->xgmi_write_kib[i] = v;
				out->xgmi_write_mask |= (uint8_t)(1u << i);
			} else {
				out->implausible |= AMDGPU_GM_HAVE_XGMI;
			}
		}
	}
	if (out->xgmi_read_mask || out->xgmi_write_mask)
		out->have |= AMDGPU_GM_HAVE_XGMI;

	if (off[AMDGPU_GM_F_INDEP_THROTTLE] != NONE &&
	    gm_u64(&c, off[AMDGPU_GM_F_INDEP_THROTTLE], &out->indep_throttle_status) ==
		0 &&
	    out->indep_throttle_status != UINT64_MAX)
		out->have |= AMDGPU_GM_HAVE_INDEP_THROTTLE;
	return 0;
}
