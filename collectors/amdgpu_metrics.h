/* amdgpu gpu_metrics parser: decodes the versioned binary table that the
 * amdgpu (and Hygon hydcu) driver exposes in sysfs as device/gpu_metrics.
 * Pure function of the bytes it is given, no I/O: the amdgpu collector reads
 * the file, this turns it into the few values accelmon exports.
 */
#ifndef ACCELMON_AMDGPU_METRICS_H
#define ACCELMON_AMDGPU_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Read at most this much of the file (the driver's tables are < 4 KiB). */
#define AMDGPU_GM_MAX_BYTES (128u * 1024u)

#define AMDGPU_GM_XGMI_LINKS 8
#define AMDGPU_GM_VCN 4

/* Throttler residency reasons (dGPU format 1, content 6 and later). */
enum amdgpu_gm_reason {
	AMDGPU_GM_RES_PROCHOT = 0,
	AMDGPU_GM_RES_PPT,
	AMDGPU_GM_RES_SOCKET_THM,
	AMDGPU_GM_RES_VR_THM,
	AMDGPU_GM_RES_HBM_THM,
	AMDGPU_GM_RES_COUNT
};

/* Bits of amdgpu_gm.have: which values the table really carried. A field the
 * firmware does not fill is all-ones (the driver pre-fills the table with
 * 0xff), and is reported absent rather than as a huge number. */
#define AMDGPU_GM_HAVE_ENERGY 0x01u
#define AMDGPU_GM_HAVE_POWER 0x02u
#define AMDGPU_GM_HAVE_GFX 0x04u
#define AMDGPU_GM_HAVE_UMC 0x08u
#define AMDGPU_GM_HAVE_RESIDENCY 0x10u
#define AMDGPU_GM_HAVE_XGMI 0x20u
#define AMDGPU_GM_HAVE_VCN 0x40u
#define AMDGPU_GM_HAVE_INDEP_THROTTLE 0x80u

/* Plausibility bounds: a value past one of them is not a reading (a valid
 * header over a random body gave 4.6e13 J), it is dropped from `have` and
 * its bit set in amdgpu_gm.implausible. Energy since driver load: 1e12 J is
 * 3 kW for ten years; socket power: 10 kW; XGMI: 2^50 KiB (an exbibyte). */
#define AMDGPU_GM_MAX_ENERGY_J 1e12
#define AMDGPU_GM_MAX_POWER_W 10000u
#define AMDGPU_GM_MAX_XGMI_KIB (1ull << 50)

struct amdgpu_gm {
	/* header, filled whenever at least 4 bytes were given */
	uint16_t structure_size;
	uint8_t format_revision;
	uint8_t content_revision;

	uint32_t have;
	/* AMDGPU_GM_HAVE_* bits of fields present but past the bounds above */
	uint32_t implausible;
	/* energy accumulator in 2^-16 J (15.259 uJ) units */
	uint64_t energy_raw;
	/* socket power in watts */
	uint32_t socket_power_w;
	/* average graphics / memory-controller activity, percent */
	uint16_t gfx_activity;
	uint16_t umc_activity;
	/* per-VCN activity, percent; vcn_mask says which are valid */
	uint16_t vcn_activity[AMDGPU_GM_VCN];
	uint8_t vcn_mask;
	/* accumulation cycles and per-reason throttled cycles (same ticks);
	 * residency_mask says which reasons are valid */
	uint32_t accumulation_counter;
	uint32_t residency[AMDGPU_GM_RES_COUNT];
	uint8_t residency_mask;
	/* XGMI data per link, in KiB, cumulative; masks say which are valid */
	uint64_t xgmi_read_kib[AMDGPU_GM_XGMI_LINKS];
	uint64_t xgmi_write_kib[AMDGPU_GM_XGMI_LINKS];
	uint8_t xgmi_read_mask;
	uint8_t xgmi_write_mask;
	/* ASIC-independent throttler bitmask (content 3): 16 bits per class,
	 * power 0-15, current 16-31, temperature 32-47, other 48-63 */
	uint64_t indep_throttle_status;
};

/* Parse len bytes of a gpu_metrics file. Returns 0 on success, -EBADMSG when
 * the bytes are too short for the header or for the size the header claims
 * (truncated, or structure_size lying), -ENOTSUP for a format/content
 * revision (or a size for it) whose layout this parser does not know. The
 * header fields of *out are set whenever len >= 4, so callers can name the
 * version in a log line. Never reads outside buf[0..len). */
int amdgpu_gm_parse(const uint8_t *buf, size_t len, struct amdgpu_gm *out);

/* Expected structure_size of a known (format, content) layout, 0 if none.
 * Tests use it to build blobs. */
size_t amdgpu_gm_layout_size(unsigned frev, unsigned crev);

/* Byte offset of the energy accumulator / socket power / gfx activity /
 * first residency counter / first XGMI read counter in a known layout, or -1.
 * Exposed for tests that build blobs from the documented layout. */
enum amdgpu_gm_field {
	AMDGPU_GM_F_ENERGY = 0,
	AMDGPU_GM_F_POWER,
	AMDGPU_GM_F_GFX,
	AMDGPU_GM_F_UMC,
	AMDGPU_GM_F_VCN,
	AMDGPU_GM_F_ACC_COUNTER,
	AMDGPU_GM_F_RESIDENCY,
	AMDGPU_GM_F_XGMI_READ,
	AMDGPU_GM_F_XGMI_WRITE,
	AMDGPU_GM_F_INDEP_THROTTLE,
	AMDGPU_GM_F_COUNT
};
long amdgpu_gm_field_offset(unsigned frev, unsigned crev, enum amdgpu_gm_field f);

#endif
