/* Huawei Ascend collector: reads NPU chips through DCMI (libdcmi.so,
 * dlopen()ed at init so the agent runs without it) and emits the
 * vendor-neutral accel_* families plus a few ascend_* ones (health, active
 * error codes, RoCE network health, isolated HBM pages). Every metric is
 * probed per chip: a missing symbol or a first -8255 leaves it absent (until
 * the chip is re-acquired). A chip that is gone (-8007/-8008, or no longer
 * listed) reads accel_up 0 and is found again by its logic id when it is
 * back; identity is committed only from answers (success or -8255).
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accelmon/attrib.h"
#include "accelmon/collector.h"
#include "accelmon/schema.h"
#include "accelmon/util.h"
#include "ascend_api.h"

#define ASCEND_DEFAULT_LIBRARY "libdcmi.so"
/* Attempts of a call answering -8012 (not ready) within one poll. */
#define ASCEND_TRIES 3
/* Error codes asked per chip (npu-exporter asks 128) and codes tracked as
 * series of their own (more are counted in ascend_error_codes only). */
#define ASCEND_ERRCODES_ASK 128
#define ASCEND_ERRCODES_TRACK 16
#define ASCEND_PROCS_MAX 64

/* Where libdcmi.so lives when the loader's path does not have it. */
static const char *const ascend_dirs[] = {
    "/usr/local/dcmi",
    "/usr/local/Ascend/driver/lib64",
    "/usr/local/Ascend/driver/lib64/driver",
    "/usr/local/Ascend/driver/lib64/common",
    NULL,
};

/* Resolved entry points; NULL when the library lacks the symbol. Each field
 * is named after its symbol without "dcmi_" (DCMI() names the call to the
 * watchdog from it), except the card list, which has two names. */
struct ascend_lib {
	void *dl;
	const char *card_list_name; /* the name the card list was found under */
	dcmi_init_fn init;
	dcmi_card_list_fn card_list;
	dcmi_num_in_card_fn get_device_num_in_card;
	dcmi_logic_id_fn get_device_logic_id;
	dcmi_chip_info_fn get_device_chip_info;
	dcmi_pcie_info_fn get_device_pcie_info_v2;
	dcmi_die_fn get_device_die_v2;
	dcmi_elabel_fn get_card_elabel_v2;
	dcmi_util_fn get_device_utilization_rate;
	dcmi_hbm_fn get_device_hbm_info;
	dcmi_memory_v3_fn get_device_memory_info_v3;
	dcmi_dev_int_fn get_device_power_info;
	dcmi_dev_int_fn get_device_temperature;
	dcmi_freq_fn get_device_frequency;
	dcmi_ecc_fn get_device_ecc_info;
	dcmi_dev_uint_fn get_device_health;
	dcmi_errorcode_fn get_device_errorcode_v2;
	dcmi_resource_fn get_device_resource_info;
	dcmi_network_health_fn get_device_network_health;
};

/* Call `f` named `what` to the watchdog (am_call_begin), so a poll stuck in
 * the driver is logged as "stuck in dcmi_get_device_power_info". -8012 (the
 * chip is not ready yet) is asked again, up to ASCEND_TRIES times. */
#define DCMI_CALL(st, what, f, ...)                                                      \
	({                                                                               \
		int dcmi_r_, dcmi_n_ = 0;                                                \
		for (;;) {                                                               \
			am_call_begin((st)->ctx, (what));                                \
			dcmi_r_ = (f)(__VA_ARGS__);                                      \
			am_call_end((st)->ctx);                                          \
			if (dcmi_r_ != DCMI_ERR_NOT_READY || ++dcmi_n_ >= ASCEND_TRIES)  \
				break;                                                   \
		}                                                                        \
		dcmi_r_;                                                                 \
	})
#define DCMI(st, fn, ...) DCMI_CALL(st, "dcmi_" #fn, (st)->lib.fn, __VA_ARGS__)

#define ASCEND_NSYMS 19

static void ascend_sym_table(struct ascend_lib *l, struct am_dl_sym *t, size_t *n)
{
	size_t k = 0;
/* clang-format off */
#define S(req, field, ...) if (k < ASCEND_NSYMS) t[k++] = (struct am_dl_sym){{__VA_ARGS__, NULL}, (void **)&l->field, req}
	/* clang-format on */
	S(true, init, "dcmi_init");
	/* dcmi_get_card_num_list is the older name of the same call */
	S(true, card_list, "dcmi_get_card_list", "dcmi_get_card_num_list");
	S(true, get_device_num_in_card, "dcmi_get_device_num_in_card");
	S(true, get_device_logic_id, "dcmi_get_device_logic_id");
	S(false, get_device_chip_info, "dcmi_get_device_chip_info");
	S(false, get_device_pcie_info_v2, "dcmi_get_device_pcie_info_v2");
	S(false, get_device_die_v2, "dcmi_get_device_die_v2");
	S(false, get_card_elabel_v2, "dcmi_get_card_elabel_v2");
	S(false, get_device_utilization_rate, "dcmi_get_device_utilization_rate");
	S(false, get_device_hbm_info, "dcmi_get_device_hbm_info");
	S(false, get_device_memory_info_v3, "dcmi_get_device_memory_info_v3");
	S(false, get_device_power_info, "dcmi_get_device_power_info");
	S(false, get_device_temperature, "dcmi_get_device_temperature");
	S(false, get_device_frequency, "dcmi_get_device_frequency");
	S(false, get_device_ecc_info, "dcmi_get_device_ecc_info");
	S(false, get_device_health, "dcmi_get_device_health");
	S(false, get_device_errorcode_v2, "dcmi_get_device_errorcode_v2");
	S(false, get_device_resource_info, "dcmi_get_device_resource_info");
	S(false, get_device_network_health, "dcmi_get_device_network_health");
#undef S
	*n = k;
}

/* Families, registered at init. */
enum ascend_fam {
	F_INFO,
	F_UP,
	F_UTIL,
	F_BUSY,
	F_ENG_UTIL,
	F_ENG_BUSY,
	F_MEMBW,
	F_MEM_USED,
	F_MEM_TOTAL,
	F_POWER,
	F_ENERGY,
	F_TEMP,
	F_CLOCK,
	F_ECC,
	F_PROCS,
	F_HEALTH,
	F_ERRCODE,
	F_NERR,
	F_NET,
	F_ISOLATED,
	F_COUNT
};

#define MIB 1048576.0
/* Schema families and how DCMI's units reach the core. Busy seconds and
 * energy are derived series (AM_DERIVE_INTEGRAL of the percent and power
 * gauges: the core's one integration rule), hence counters of scale 1. */
static const struct ascend_fam_use {
	bool std;
	enum am_std which;
	struct am_std_use use;
} ascend_std[F_COUNT] = {
#define STD(w, k, sc)                                                                    \
	{                                                                                \
		true, w,                                                                 \
		{                                                                        \
			.kind = k, .scale = sc                                           \
		}                                                                        \
	}
    [F_INFO] = STD(AM_STD_ACCEL_INFO, AM_INFO, 0),
    [F_UP] = STD(AM_STD_ACCEL_UP, AM_GAUGE, 0),
    /* percents and tenths of a watt are divided here (35 / 100.0 is the
     * double nearest 0.35; 35 x 0.01 is not) */
    [F_UTIL] = STD(AM_STD_UTILIZATION, AM_GAUGE, 0),
    [F_BUSY] = STD(AM_STD_BUSY_SECONDS, AM_COUNTER, 0),
    [F_ENG_UTIL] = STD(AM_STD_ENGINE_UTILIZATION, AM_GAUGE, 0),
    [F_ENG_BUSY] = STD(AM_STD_ENGINE_BUSY_SECONDS, AM_COUNTER, 0),
    [F_MEMBW] = STD(AM_STD_MEMORY_BW_UTILIZATION, AM_GAUGE, 0),
    [F_MEM_USED] = STD(AM_STD_MEMORY_USED, AM_GAUGE, MIB),
    [F_MEM_TOTAL] = STD(AM_STD_MEMORY_TOTAL, AM_GAUGE, MIB),
    [F_POWER] = STD(AM_STD_POWER, AM_GAUGE, 0),
    [F_ENERGY] = STD(AM_STD_ENERGY, AM_COUNTER, 0),
    [F_TEMP] = STD(AM_STD_TEMPERATURE, AM_GAUGE, 0),
    [F_CLOCK] = STD(AM_STD_CLOCK, AM_GAUGE, 1e6),
    [F_ECC] = STD(AM_STD_ECC_ERRORS, AM_COUNTER, 0),
#undef STD
};

/* The vendor's own. accel_compute_processes is NVML's family, defined the
 * same way here (same name, help and labels), so dashboards see one. */
static const struct am_family_def ascend_fams[F_COUNT] = {
    [F_PROCS] = {.name = "accel_compute_processes",
		 .help = "Compute processes running on the device.",
		 .kind = AM_GAUGE,
		 .labels = {"device", "uuid"}},
    [F_HEALTH] = {.name = "ascend_health",
		  .help = "DCMI health of the chip (dcmi_get_device_health): 0 healthy, "
			  "else the level of its worst alarm.",
		  .kind = AM_GAUGE,
		  .labels = {"device", "uuid"}},
    [F_ERRCODE] = {.name = "ascend_error_code",
		   .help = "1 while DCMI reports this error code active on the chip "
			   "(dcmi_get_device_errorcode_v2); the series goes away when "
			   "the code clears.",
		   .kind = AM_GAUGE,
		   .labels = {"device", "uuid", "code"}},
    [F_NERR] = {.name = "ascend_error_codes",
		.help = "Number of error codes DCMI reports active on the chip.",
		.kind = AM_GAUGE,
		.labels = {"device", "uuid"}},
    [F_NET] = {.name = "ascend_network_health",
	       .help = "Health of the chip's RoCE network port "
		       "(dcmi_get_device_network_health): 0 ok, 1 socket failure, "
		       "2 receive timeout, 3 unreachable, 4 time exceeded, 5 fault, "
		       "6 init, 7 thread error, 8 IP being set.",
	       .kind = AM_GAUGE,
	       .labels = {"device", "uuid"}},
    [F_ISOLATED] = {.name = "ascend_hbm_isolated_pages",
		    .help = "HBM pages DCMI isolated after ECC errors, by the "
			    "error type (single_bit, double_bit).",
		    .kind = AM_GAUGE,
		    .labels = {"device", "uuid", "type"}},
};

/* Engines of dcmi_get_device_utilization_rate besides the AI Core. */
#define ASCEND_NENG 5
static const struct {
	int type;
	const char *engine;
} ascend_engines[ASCEND_NENG] = {
    {DCMI_UTIL_AICPU, "aicpu"},	  {DCMI_UTIL_CTRLCPU, "ctrlcpu"},
    {DCMI_UTIL_VECTOR, "vector"}, {DCMI_UTIL_NPU, "npu"},
    {DCMI_UTIL_AICUBE, "aicube"},
};

/* Per-chip series slots. */
enum ascend_slot {
	S_UP,
	S_UTIL,
	S_BUSY, /* derived from S_UTIL */
	S_MEMBW,
	S_MEM_USED,
	S_MEM_TOTAL,
	S_POWER,
	S_ENERGY, /* derived from S_POWER */
	S_TEMP_DIE,
	S_TEMP_HBM,
	S_CLK_AICORE,
	S_ECC_C,
	S_ECC_U,
	S_ISO_SB,
	S_ISO_DB,
	S_PROCS,
	S_HEALTH,
	S_NERR,
	S_NET,
	S_ENG0,				/* engine utilization, ASCEND_NENG */
	S_ENGB0 = S_ENG0 + ASCEND_NENG, /* derived engine busy seconds */
	S_COUNT = S_ENGB0 + ASCEND_NENG
};

static const struct {
	enum ascend_fam fam;
	const char *l2, *l3; /* values of the labels after device and uuid */
} ascend_slot_defs[S_ENG0] = {
    [S_UP] = {F_UP, NULL, NULL},
    [S_UTIL] = {F_UTIL, NULL, NULL},
    [S_BUSY] = {F_BUSY, NULL, NULL},
    [S_MEMBW] = {F_MEMBW, NULL, NULL},
    [S_MEM_USED] = {F_MEM_USED, NULL, NULL},
    [S_MEM_TOTAL] = {F_MEM_TOTAL, NULL, NULL},
    [S_POWER] = {F_POWER, NULL, NULL},
    [S_ENERGY] = {F_ENERGY, NULL, NULL},
    [S_TEMP_DIE] = {F_TEMP, "die", NULL},
    [S_TEMP_HBM] = {F_TEMP, "hbm", NULL},
    [S_CLK_AICORE] = {F_CLOCK, "aicore", NULL},
    [S_ECC_C] = {F_ECC, "corrected", "hbm"},
    [S_ECC_U] = {F_ECC, "uncorrected", "hbm"},
    [S_ISO_SB] = {F_ISOLATED, "single_bit", NULL},
    [S_ISO_DB] = {F_ISOLATED, "double_bit", NULL},
    [S_PROCS] = {F_PROCS, NULL, NULL},
    [S_HEALTH] = {F_HEALTH, NULL, NULL},
    [S_NERR] = {F_NERR, NULL, NULL},
    [S_NET] = {F_NET, NULL, NULL},
};

/* What a probe learnt about one metric of one chip. */
enum ascend_cap_state { CAP_UNKNOWN = 0, CAP_YES, CAP_NO };
enum ascend_cap {
	C_UTIL,
	C_ENG0,
	C_HBM_BW = C_ENG0 + ASCEND_NENG,
	C_DDR_BW,
	C_HBM,
	C_MEMV3,
	C_POWER,
	C_TEMP,
	C_FREQ,
	C_ECC,
	C_PROCS,
	C_HEALTH,
	C_ERRCODE,
	C_NET,
	C_COUNT
};

struct ascend_errcode {
	unsigned code;
	am_series_t series;
};

/* What the identity calls said: read into a scratch copy and committed
 * whole, only when every call answered or said -8255. */
struct ascend_ident {
	char uuid[AM_LABEL_VALUE_MAX + 1];
	char model[40];
	char serial[AM_LABEL_VALUE_MAX + 1];
	char bus_id[32];
	char numa[16];
};

struct ascend_dev {
	int logic;	/* the chip's logic id: its identity across rediscovery */
	int card, chip; /* where DCMI has it now */
	int nchips;	/* chips on its card */
	char name[24];	/* "ascend<logic id>" */
	struct ascend_ident id;
	bool up;       /* listed, polled */
	bool lost;     /* to be found again */
	bool probed;   /* identity read */
	bool moved;    /* found again under another logic id: to be dropped */
	bool asked;    /* a metric call was made this poll */
	bool answered; /* and at least one succeeded: accel_up 1 */
	unsigned char cap[C_COUNT];
	am_series_t s[S_COUNT];
	am_series_t s_info;
	struct ascend_errcode err[ASCEND_ERRCODES_TRACK];
	int nerr;
	/* attribution (collectors/attribution.md): this poll's AI Core busy
	 * ratio and power (NAN: none); att_on: it has job series */
	double att_util, att_power_w;
	bool att_on;
};

/* Where enumeration found a chip. */
struct ascend_loc {
	int card, chip, logic;
	int nchips; /* chips on its card */
};

struct ascend_state {
	struct am_ctx *ctx;
	struct ascend_lib lib;
	char library[256];
	am_family_t fam[F_COUNT];
	bool remap; /* the card list changed, or a chip went: enumerate again */
	int cards[DCMI_MAX_CARDS], ncards;
	struct ascend_dev *dev;
	int ndev, cap;
	unsigned codes[ASCEND_ERRCODES_ASK]; /* scratch of the error code call */
	struct dcmi_proc_mem_info procs[ASCEND_PROCS_MAX];
	struct am_attrib *att; /* NULL: attribution off */
	struct am_attrib_proc aprocs[ASCEND_PROCS_MAX];
};

static const struct am_option ascend_options[] = {
    {"library", AM_OPT_STRING,
     "DCMI library to dlopen, a path or a name (default libdcmi.so, then "
     "/usr/local/dcmi and /usr/local/Ascend/driver/lib64{,/driver,/common})"},
    {"attribution", AM_OPT_BOOL,
     "accel_job_* per Slurm job, pod, container, unit or user from the chip's "
     "processes (default true; collectors/attribution.md)"},
    {"max_jobs", AM_OPT_INT,
     "jobs per chip with series of their own; more are \"other\" (default 16)", 1, 62},
    {NULL, 0, NULL},
};

/* ---- answers ---- */

enum ascend_verdict { V_OK, V_ABSENT, V_GONE, V_ERROR };

static enum ascend_verdict ascend_classify(int r)
{
	switch (r) {
	case DCMI_OK:
		return V_OK;
	case DCMI_ERR_NOT_SUPPORTED:
		return V_ABSENT;
	case DCMI_ERR_INVALID_DEVICE:
	case DCMI_ERR_NO_DEVICE:
		return V_GONE;
	default: /* -8006 timeout, -8012 after its retries, the rest */
		return V_ERROR;
	}
}

static void ascend_mark_down(struct ascend_state *st, struct ascend_dev *d, int r,
			     const char *what)
{
	if (d->up)
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: DCMI error %d; reporting it down",
		       d->name, what, r);
	d->up = false;
	d->lost = true;
	st->remap = true;
}

/* Check one answer for capability `cap` of d. True when the value is valid. */
static bool ascend_ok(struct ascend_state *st, struct ascend_dev *d, int cap, int r,
		      const char *what)
{
	d->asked = true;
	switch (ascend_classify(r)) {
	case V_OK:
		d->cap[cap] = CAP_YES;
		d->answered = true;
		return true;
	case V_ABSENT:
		/* only a first answer says the chip lacks the metric: one that
		 * answered before and now says -8255 is failing for the moment */
		if (d->cap[cap] == CAP_UNKNOWN) {
			d->cap[cap] = CAP_NO;
			am_log(st->ctx, AM_LOG_DEBUG,
			       "%s: %s: not supported (-8255); metric omitted", d->name,
			       what);
			return false;
		}
		am_read_error(st->ctx);
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: DCMI error %d (it answered before)",
		       d->name, what, r);
		return false;
	case V_GONE:
		ascend_mark_down(st, d, r, what);
		return false;
	default:
		am_read_error(st->ctx);
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: DCMI error %d", d->name, what, r);
		return false;
	}
}

/* A call answered with a value that cannot be right: a read error, the
 * value dropped. */
static void ascend_bad(struct ascend_state *st, struct ascend_dev *d, const char *what,
		       const char *why)
{
	am_read_error(st->ctx);
	am_log(st->ctx, AM_LOG_WARN, "%s: %s: %s; dropped", d->name, what, why);
}

/* Whether to call for capability cap: the symbol exists and no probe said
 * the chip lacks it. */
static bool ascend_want(struct ascend_dev *d, int cap, bool have_symbol)
{
	if (!have_symbol)
		d->cap[cap] = CAP_NO;
	return d->up && d->cap[cap] != CAP_NO;
}

/* ---- series ---- */

static am_series_t ascend_slot_series(struct ascend_state *st, struct ascend_dev *d,
				      int slot);

/* The derived series integrating slot `in` (a percent or power gauge). */
static am_series_t ascend_derived(struct ascend_state *st, struct ascend_dev *d, int slot,
				  int in, int fam, const char *extra)
{
	const char *lv[3] = {d->name, d->id.uuid, extra};
	struct am_derive dv = {.op = AM_DERIVE_INTEGRAL,
			       .a = ascend_slot_series(st, d, in),
			       .b = AM_SERIES_INVALID,
			       .capacity = AM_SERIES_INVALID};

	if (dv.a == AM_SERIES_INVALID || st->fam[fam] < 0)
		return AM_SERIES_INVALID;
	d->s[slot] = am_series_derived(st->ctx, st->fam[fam], lv, &dv);
	return d->s[slot];
}

static am_series_t ascend_slot_series(struct ascend_state *st, struct ascend_dev *d,
				      int slot)
{
	const char *lv[4] = {d->name, d->id.uuid, NULL, NULL};
	int fam;

	if (d->s[slot] != AM_SERIES_INVALID)
		return d->s[slot];
	if (slot >= S_ENG0) {
		fam = slot >= S_ENGB0 ? F_ENG_BUSY : F_ENG_UTIL;
		lv[2] = ascend_engines[(slot - S_ENG0) % ASCEND_NENG].engine;
	} else {
		fam = ascend_slot_defs[slot].fam;
		lv[2] = ascend_slot_defs[slot].l2;
		lv[3] = ascend_slot_defs[slot].l3;
	}
	if (st->fam[fam] < 0)
		return AM_SERIES_INVALID;
	d->s[slot] = am_series(st->ctx, st->fam[fam], lv);
	return d->s[slot];
}

/* Emit v into slot; `integral` names the derived slot that integrates it,
 * bound before the first sample (-1: none). */
static void ascend_put(struct ascend_state *st, struct ascend_dev *d, int slot, double v,
		       int integral)
{
	am_series_t s = ascend_slot_series(st, d, slot);

	if (integral >= 0 && d->s[integral] == AM_SERIES_INVALID) {
		if (integral >= S_ENGB0)
			ascend_derived(st, d, integral, slot, F_ENG_BUSY,
				       ascend_engines[integral - S_ENGB0].engine);
		else
			ascend_derived(st, d, integral, slot,
				       integral == S_BUSY ? F_BUSY : F_ENERGY, NULL);
	}
	if (s != AM_SERIES_INVALID)
		am_emit(st->ctx, s, v);
}

static void ascend_put_u64(struct ascend_state *st, struct ascend_dev *d, int slot,
			   uint64_t v)
{
	am_series_t s = ascend_slot_series(st, d, slot);

	if (s != AM_SERIES_INVALID)
		am_emit_u64(st->ctx, s, v);
}

/* Another chip under this name (a new uuid): its old series leave the
 * exposition (the derived ones go with their inputs). */
static void ascend_retire_all(struct ascend_state *st, struct ascend_dev *d)
{
	for (int i = 0; i < S_COUNT; i++)
		if (d->s[i] != AM_SERIES_INVALID && i != S_BUSY && i != S_ENERGY &&
		    i < S_ENGB0)
			am_series_retire(st->ctx, d->s[i]);
	if (d->s_info != AM_SERIES_INVALID)
		am_series_retire(st->ctx, d->s_info);
	for (int k = 0; k < d->nerr; k++)
		if (d->err[k].series != AM_SERIES_INVALID)
			am_series_retire(st->ctx, d->err[k].series);
	if (d->att_on)
		am_attrib_forget(st->att, d->name);
	d->att_on = false;
}

/* New series and fresh probes (a new chip, or another under this name). */
static void ascend_reset_series(struct ascend_dev *d)
{
	for (int i = 0; i < S_COUNT; i++)
		d->s[i] = AM_SERIES_INVALID;
	d->s_info = AM_SERIES_INVALID;
	d->nerr = 0;
	memset(d->cap, 0, sizeof(d->cap));
}

/* ---- identity ---- */

/* A fixed-size byte field of the driver as a C string. */
static void ascend_str(char *dst, size_t cap, const void *src, size_t n)
{
	size_t len = strnlen(src, n);

	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Whether an identity call's answer may be committed: 0 for success or
 * -8255 (the field stays empty), -ENODEV when the chip is gone, -EAGAIN
 * for anything else (a passing -8006, -8012 after its tries): a read error,
 * and the chip stays lost until the next poll instead of coming back under
 * another uuid or with empty labels. */
static int ascend_ident_rc(struct ascend_state *st, const struct ascend_dev *d, int r,
			   const char *what)
{
	switch (ascend_classify(r)) {
	case V_OK:
	case V_ABSENT:
		return 0;
	case V_GONE:
		return -ENODEV;
	default:
		am_read_error(st->ctx);
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: DCMI error %d; identity not taken",
		       d->name, what, r);
		return -EAGAIN;
	}
}

/* Model, board serial, PCI address and NUMA node of d into *id, and the
 * uuid from the first of: the die id, the board serial (with -chip<d> on a
 * card of more than one chip), the PCI address, card<c>-chip<d>. 0, or the
 * first failing call's ascend_ident_rc: then *id is not to be committed. */
static int ascend_probe_info(struct ascend_state *st, struct ascend_dev *d,
			     struct ascend_ident *id)
{
	struct dcmi_chip_info ci;
	struct dcmi_pcie_info_all pci;
	struct dcmi_die_id die;
	struct dcmi_elabel_info *el;
	struct am_pci_id pid;
	char path[512];
	int r, rc;

	memset(id, 0, sizeof(*id));
	memset(&ci, 0, sizeof(ci));
	if (st->lib.get_device_chip_info) {
		r = DCMI(st, get_device_chip_info, d->card, d->chip, &ci);
		if ((rc = ascend_ident_rc(st, d, r, "chip info")) < 0)
			return rc;
		if (r == DCMI_OK)
			ascend_str(id->model, sizeof(id->model), ci.chip_name,
				   sizeof(ci.chip_name));
	}
	if (st->lib.get_card_elabel_v2) {
		/* 1.3 KiB: on the heap, only when a chip is (re)found */
		el = calloc(1, sizeof(*el));
		if (!el)
			return -EAGAIN;
		r = DCMI(st, get_card_elabel_v2, d->card, el);
		if (r == DCMI_OK)
			ascend_str(id->serial, sizeof(id->serial), el->serial_number,
				   sizeof(el->serial_number));
		free(el);
		if ((rc = ascend_ident_rc(st, d, r, "electronic label")) < 0)
			return rc;
	}
	memset(&pci, 0, sizeof(pci));
	if (st->lib.get_device_pcie_info_v2) {
		r = DCMI(st, get_device_pcie_info_v2, d->card, d->chip, &pci);
		if ((rc = ascend_ident_rc(st, d, r, "PCIe info")) < 0)
			return rc;
		if (r == DCMI_OK) {
			snprintf(id->bus_id, sizeof(id->bus_id), "%04x:%02x:%02x.%x",
				 (unsigned)pci.domain & 0xffffu, pci.bdf_busid & 0xffu,
				 pci.bdf_deviceid & 0x1fu, pci.bdf_funcid & 0x7u);
			snprintf(path, sizeof(path), "%s/bus/pci/devices/%s",
				 am_sysfs(st->ctx), id->bus_id);
			if (am_pci_identity(path, &pid) == 0 && pid.numa_node >= 0)
				snprintf(id->numa, sizeof(id->numa), "%d", pid.numa_node);
		}
	}
	memset(&die, 0, sizeof(die));
	if (st->lib.get_device_die_v2) {
		r = DCMI(st, get_device_die_v2, d->card, d->chip, DCMI_DIE_VDIE, &die);
		if ((rc = ascend_ident_rc(st, d, r, "die id")) < 0)
			return rc;
		if (r != DCMI_OK)
			memset(&die, 0, sizeof(die));
	}
	if ((die.soc_die[0] | die.soc_die[1] | die.soc_die[2] | die.soc_die[3] |
	     die.soc_die[4]) != 0)
		snprintf(id->uuid, sizeof(id->uuid), "%08X-%08X-%08X-%08X-%08X",
			 die.soc_die[0], die.soc_die[1], die.soc_die[2], die.soc_die[3],
			 die.soc_die[4]);
	else if (id->serial[0] && d->nchips > 1) /* the board's: one per card */
		snprintf(id->uuid, sizeof(id->uuid), "%.200s-chip%d", id->serial,
			 d->chip);
	else if (id->serial[0])
		snprintf(id->uuid, sizeof(id->uuid), "%s", id->serial);
	else if (id->bus_id[0])
		snprintf(id->uuid, sizeof(id->uuid), "%s", id->bus_id);
	else
		snprintf(id->uuid, sizeof(id->uuid), "card%d-chip%d", d->card, d->chip);
	return 0;
}

static void ascend_retire_all(struct ascend_state *st, struct ascend_dev *d);
static void ascend_reset_series(struct ascend_dev *d);

/* d took the uuid of another chip that is lost (the driver renumbered it):
 * that one's series leave the exposition, and it is dropped at the end of
 * the remap, so no accel_up 0 stays behind for a chip that is here. */
static void ascend_take_over(struct ascend_state *st, struct ascend_dev *d)
{
	for (int i = 0; i < st->ndev; i++) {
		struct ascend_dev *o = &st->dev[i];

		if (o == d || o->moved || !o->probed || !o->lost ||
		    strcmp(o->id.uuid, d->id.uuid) != 0)
			continue;
		am_log(st->ctx, AM_LOG_WARN,
		       "%s: now %s (same uuid %s); its series retired", o->name, d->name,
		       d->id.uuid);
		ascend_retire_all(st, o);
		o->moved = true;
	}
}

/* d was found at loc: read its identity; a different uuid is another chip
 * (its series get new labels), other changed labels a new accel_info
 * series. False when it is gone again meanwhile, or a call failed. */
static bool ascend_acquire(struct ascend_state *st, struct ascend_dev *d,
			   const struct ascend_loc *loc)
{
	struct ascend_ident id;

	d->card = loc->card;
	d->chip = loc->chip;
	d->nchips = loc->nchips;
	if (ascend_probe_info(st, d, &id) < 0) {
		d->up = false;
		d->lost = true;
		st->remap = true; /* asked again next poll */
		return false;
	}
	if (!d->probed || strcmp(id.uuid, d->id.uuid) != 0) {
		if (d->probed) {
			am_log(st->ctx, AM_LOG_WARN, "%s: uuid changed from %s to %s",
			       d->name, d->id.uuid, id.uuid);
			ascend_retire_all(st, d);
		}
		ascend_reset_series(d);
	} else {
		if (memcmp(&id, &d->id, sizeof(id)) != 0 &&
		    d->s_info != AM_SERIES_INVALID) {
			/* a model or serial missed before, or moved PCI */
			am_series_retire(st->ctx, d->s_info);
			d->s_info = AM_SERIES_INVALID;
		}
		if (d->lost) {
			am_log(st->ctx, AM_LOG_INFO,
			       "%s: available again (card %d chip %d)", d->name, d->card,
			       d->chip);
			/* a new probe of what it supports (firmware may differ) */
			memset(d->cap, 0, sizeof(d->cap));
		}
	}
	d->id = id;
	d->probed = true;
	d->up = true;
	d->lost = false;
	ascend_take_over(st, d);
	return true;
}

static void ascend_emit_info(struct ascend_state *st, struct ascend_dev *d)
{
	if (d->s_info == AM_SERIES_INVALID && st->fam[F_INFO] >= 0) {
		/* DCMI's driver and firmware versions are not read */
		const char *lv[9] = {d->name,	  d->id.uuid,	"huawei",
				     d->id.model, d->id.serial, d->id.bus_id,
				     d->id.numa,  "",		""};

		d->s_info = am_series(st->ctx, st->fam[F_INFO], lv);
	}
	if (d->s_info != AM_SERIES_INVALID)
		am_emit(st->ctx, d->s_info, 1);
}

/* ---- discovery ---- */

/* Every chip DCMI lists now on the cards of st's last card list: chips per
 * card and their logic ids, into out (up to max). The number found. A card
 * whose chips cannot be listed, or a chip whose logic id cannot be read,
 * for a passing error (not -8007/-8008) is an entry of logic -1 (chip -1:
 * the whole card): a read error, and the chips there keep their place. */
static int ascend_enumerate(struct ascend_state *st, struct ascend_loc *out, int max)
{
	int n = 0;

	for (int i = 0; i < st->ncards && n < max; i++) {
		int nchips = 0, r;

		r = DCMI(st, get_device_num_in_card, st->cards[i], &nchips);
		if (r != DCMI_OK) {
			if (ascend_classify(r) == V_ERROR) {
				am_read_error(st->ctx);
				am_log(st->ctx, AM_LOG_WARN,
				       "card %d: chips not listed: DCMI "
				       "error %d; placement kept",
				       st->cards[i], r);
				out[n++] = (struct ascend_loc){st->cards[i], -1, -1, 0};
			}
			continue;
		}
		for (int c = 0; c < nchips && c < 16 && n < max; c++) {
			int logic = -1;

			r = DCMI(st, get_device_logic_id, &logic, st->cards[i], c);
			if (r != DCMI_OK && ascend_classify(r) == V_ERROR) {
				am_read_error(st->ctx);
				am_log(st->ctx, AM_LOG_WARN,
				       "card %d chip %d: logic id: DCMI error %d; "
				       "placement kept",
				       st->cards[i], c, r);
				out[n++] =
				    (struct ascend_loc){st->cards[i], c, -1, nchips};
				continue;
			}
			if (r != DCMI_OK || logic < 0)
				continue;
			out[n++] = (struct ascend_loc){st->cards[i], c, logic, nchips};
		}
	}
	return n;
}

/* Whether enumeration could not say what is at d's place (see above). */
static bool ascend_unknown_place(const struct ascend_dev *d, const struct ascend_loc *loc,
				 int n)
{
	for (int k = 0; k < n; k++)
		if (loc[k].logic < 0 && loc[k].card == d->card &&
		    (loc[k].chip < 0 || loc[k].chip == d->chip))
			return true;
	return false;
}

/* The card list, kept in st; true when it differs from the last one. */
static int ascend_card_list(struct ascend_state *st, bool *changed)
{
	int cards[DCMI_MAX_CARDS], n = 0, r;

	r = DCMI_CALL(st, st->lib.card_list_name, st->lib.card_list, &n, cards,
		      DCMI_MAX_CARDS);
	if (r != DCMI_OK)
		return r;
	if (n < 0)
		n = 0;
	if (n > DCMI_MAX_CARDS)
		n = DCMI_MAX_CARDS;
	*changed =
	    n != st->ncards || memcmp(cards, st->cards, (size_t)n * sizeof(int)) != 0;
	memcpy(st->cards, cards, (size_t)n * sizeof(int));
	st->ncards = n;
	return 0;
}

static int ascend_add_dev(struct ascend_state *st, const struct ascend_loc *loc)
{
	struct ascend_dev *d;

	if (st->ndev == st->cap) {
		int cap = st->cap ? st->cap * 2 : 8;
		struct ascend_dev *nd = realloc(st->dev, (size_t)cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		st->dev = nd;
		st->cap = cap;
	}
	d = &st->dev[st->ndev++];
	memset(d, 0, sizeof(*d));
	d->logic = loc->logic;
	snprintf(d->name, sizeof(d->name), "ascend%d", loc->logic);
	ascend_reset_series(d);
	d->lost = true;
	/* a chip gone while being added is found again by the next remap */
	ascend_acquire(st, d, loc);
	return 0;
}

static struct ascend_dev *ascend_find(struct ascend_state *st, int logic)
{
	for (int i = 0; i < st->ndev; i++)
		if (st->dev[i].logic == logic)
			return &st->dev[i];
	return NULL;
}

enum ascend_remap_mode { REMAP_KNOWN, REMAP_INIT, REMAP_RESCAN };

/* Enumerate and place every known chip: found ones that were lost are
 * acquired again (at their card and chip now), missing ones read down. New
 * logic ids are added at init and rescans (logged then). */
static int ascend_remap(struct ascend_state *st, enum ascend_remap_mode mode)
{
	struct ascend_loc loc[DCMI_MAX_CARDS * 4];
	int n = ascend_enumerate(st, loc, (int)(sizeof(loc) / sizeof(loc[0])));

	for (int i = 0; i < st->ndev; i++) {
		struct ascend_dev *d = &st->dev[i];
		int k;

		if (d->moved)
			continue;
		for (k = 0; k < n && loc[k].logic != d->logic; k++)
			;
		if (k == n && d->probed && ascend_unknown_place(d, loc, n)) {
			continue; /* as it was: asked again next time */
		} else if (k == n) {
			if (d->up)
				am_log(st->ctx, AM_LOG_WARN,
				       "%s: no longer listed; reporting "
				       "it down",
				       d->name);
			d->up = false;
			d->lost = true;
		} else if (d->lost || d->card != loc[k].card || d->chip != loc[k].chip) {
			ascend_acquire(st, d, &loc[k]);
		}
	}
	for (int k = 0; mode != REMAP_KNOWN && k < n; k++) {
		if (loc[k].logic < 0 || ascend_find(st, loc[k].logic))
			continue;
		if (mode == REMAP_RESCAN)
			am_log(st->ctx, AM_LOG_INFO,
			       "ascend%d: new chip (card %d chip %d)", loc[k].logic,
			       loc[k].card, loc[k].chip);
		if (ascend_add_dev(st, &loc[k]) < 0)
			return -ENOMEM;
	}
	st->remap = false;
	for (int i = 0; i < st->ndev; i++)
		if (st->dev[i].moved) {
			memmove(&st->dev[i], &st->dev[i + 1],
				(size_t)(st->ndev - i - 1) * sizeof(st->dev[0]));
			st->ndev--;
			i--;
		}
	return 0;
}

/* ---- the metrics of one chip ---- */

static bool ascend_util(struct ascend_state *st, struct ascend_dev *d, int cap, int type,
			const char *what, unsigned *pct)
{
	*pct = 0;
	return ascend_want(d, cap, st->lib.get_device_utilization_rate != NULL) &&
	       ascend_ok(
		   st, d, cap,
		   DCMI(st, get_device_utilization_rate, d->card, d->chip, type, pct),
		   what) &&
	       *pct <= 100;
}

/* AI Core (the chip's utilization), the other engines, memory bandwidth:
 * percents as the driver averages them over its sample period; the busy
 * seconds are the core's integral of them. */
static void ascend_poll_util(struct ascend_state *st, struct ascend_dev *d)
{
	unsigned pct;

	if (ascend_util(st, d, C_UTIL, DCMI_UTIL_AICORE, "AI Core utilization", &pct)) {
		ascend_put(st, d, S_UTIL, pct / 100.0, S_BUSY);
		d->att_util = pct / 100.0;
	}
	for (int e = 0; e < ASCEND_NENG; e++)
		if (ascend_util(st, d, C_ENG0 + e, ascend_engines[e].type,
				ascend_engines[e].engine, &pct))
			ascend_put(st, d, S_ENG0 + e, pct / 100.0, S_ENGB0 + e);
	if (ascend_util(st, d, C_HBM_BW, DCMI_UTIL_HBM_BW, "HBM bandwidth", &pct))
		ascend_put(st, d, S_MEMBW, pct / 100.0, -1);
	else if (d->cap[C_HBM_BW] == CAP_NO &&
		 ascend_util(st, d, C_DDR_BW, DCMI_UTIL_DDR_BW, "DDR bandwidth", &pct))
		ascend_put(st, d, S_MEMBW, pct / 100.0, -1);
}

/* HBM where the chip has it (910 class), else DDR (310P class). */
static void ascend_poll_mem(struct ascend_state *st, struct ascend_dev *d)
{
	if (ascend_want(d, C_HBM, st->lib.get_device_hbm_info != NULL)) {
		struct dcmi_hbm_info h;

		memset(&h, 0, sizeof(h));
		if (ascend_ok(st, d, C_HBM,
			      DCMI(st, get_device_hbm_info, d->card, d->chip, &h),
			      "HBM info")) {
			/* values no HBM can have are dropped, not exported */
			if (h.memory_usage <= h.memory_size) {
				ascend_put(st, d, S_MEM_USED, (double)h.memory_usage, -1);
				ascend_put(st, d, S_MEM_TOTAL, (double)h.memory_size, -1);
			} else {
				ascend_bad(st, d, "HBM info", "usage above size");
			}
			if (h.temp >= 0)
				ascend_put(st, d, S_TEMP_HBM, h.temp, -1);
			else
				ascend_bad(st, d, "HBM info", "temperature below 0");
		}
		if (d->cap[C_HBM] != CAP_NO)
			return;
	}
	if (ascend_want(d, C_MEMV3, st->lib.get_device_memory_info_v3 != NULL)) {
		/* room past the struct for a driver that writes more */
		union {
			struct dcmi_memory_info_v3 m;
			unsigned char room[256];
		} u;

		memset(&u, 0, sizeof(u));
		if (ascend_ok(st, d, C_MEMV3,
			      DCMI(st, get_device_memory_info_v3, d->card, d->chip, &u.m),
			      "memory info")) {
			if (u.m.memory_available > u.m.memory_size) {
				ascend_bad(st, d, "memory info", "available above size");
				return;
			}
			ascend_put(st, d, S_MEM_USED,
				   (double)(u.m.memory_size - u.m.memory_available), -1);
			ascend_put(st, d, S_MEM_TOTAL, (double)u.m.memory_size, -1);
		}
	}
}

static void ascend_poll_power(struct ascend_state *st, struct ascend_dev *d)
{
	unsigned mhz = 0;
	int v = 0;

	if (ascend_want(d, C_POWER, st->lib.get_device_power_info != NULL) &&
	    ascend_ok(st, d, C_POWER,
		      DCMI(st, get_device_power_info, d->card, d->chip, &v), "power") &&
	    v >= 0) {
		ascend_put(st, d, S_POWER, v / 10.0, S_ENERGY);
		d->att_power_w = v / 10.0;
	}
	if (ascend_want(d, C_TEMP, st->lib.get_device_temperature != NULL) &&
	    ascend_ok(st, d, C_TEMP,
		      DCMI(st, get_device_temperature, d->card, d->chip, &v),
		      "temperature"))
		ascend_put(st, d, S_TEMP_DIE, v, -1);
	if (ascend_want(d, C_FREQ, st->lib.get_device_frequency != NULL) &&
	    ascend_ok(st, d, C_FREQ,
		      DCMI(st, get_device_frequency, d->card, d->chip,
			   DCMI_FREQ_AICORE_CURRENT, &mhz),
		      "AI Core frequency"))
		ascend_put(st, d, S_CLK_AICORE, mhz, -1);
}

static void ascend_poll_ecc(struct ascend_state *st, struct ascend_dev *d)
{
	/* The struct grew between versions: room for more than either. */
	union {
		struct dcmi_ecc_info e;
		unsigned char room[256];
	} u;

	if (!ascend_want(d, C_ECC, st->lib.get_device_ecc_info != NULL))
		return;
	memset(&u, 0, sizeof(u));
	if (!ascend_ok(st, d, C_ECC,
		       DCMI(st, get_device_ecc_info, d->card, d->chip,
			    DCMI_DEVICE_TYPE_HBM, &u.e),
		       "HBM ECC"))
		return;
	ascend_put_u64(st, d, S_ECC_C, u.e.single_bit_error_cnt);
	ascend_put_u64(st, d, S_ECC_U, u.e.double_bit_error_cnt);
	ascend_put(st, d, S_ISO_SB, u.e.single_bit_isolated_pages_cnt, -1);
	ascend_put(st, d, S_ISO_DB, u.e.double_bit_isolated_pages_cnt, -1);
}

/* Active error codes: one ascend_error_code{code} series each (tracked up
 * to ASCEND_ERRCODES_TRACK), retired when the code clears. */
static void ascend_poll_errcodes(struct ascend_state *st, struct ascend_dev *d)
{
	int count = 0, n;
	struct ascend_errcode keep[ASCEND_ERRCODES_TRACK];
	int nkeep = 0;

	if (!ascend_want(d, C_ERRCODE, st->lib.get_device_errorcode_v2 != NULL) ||
	    !ascend_ok(st, d, C_ERRCODE,
		       DCMI(st, get_device_errorcode_v2, d->card, d->chip, &count,
			    st->codes, ASCEND_ERRCODES_ASK),
		       "error codes"))
		return;
	if (count < 0)
		count = 0;
	n = count > ASCEND_ERRCODES_ASK ? ASCEND_ERRCODES_ASK : count;
	ascend_put(st, d, S_NERR, count, -1);
	for (int i = 0; i < n && nkeep < ASCEND_ERRCODES_TRACK; i++) {
		unsigned code = st->codes[i];
		am_series_t s = AM_SERIES_INVALID;
		int k;

		for (k = 0; k < nkeep && keep[k].code != code; k++)
			;
		if (k < nkeep)
			continue; /* listed twice */
		for (k = 0; k < d->nerr; k++)
			if (d->err[k].code == code) {
				s = d->err[k].series;
				d->err[k].series = AM_SERIES_INVALID; /* taken */
				break;
			}
		if (s == AM_SERIES_INVALID && st->fam[F_ERRCODE] >= 0) {
			char hex[16];
			const char *lv[3] = {d->name, d->id.uuid, hex};

			snprintf(hex, sizeof(hex), "0x%08X", code);
			s = am_series(st->ctx, st->fam[F_ERRCODE], lv);
		}
		if (s != AM_SERIES_INVALID)
			am_emit(st->ctx, s, 1);
		keep[nkeep++] = (struct ascend_errcode){code, s};
	}
	for (int k = 0; k < d->nerr; k++)
		if (d->err[k].series != AM_SERIES_INVALID)
			am_series_retire(st->ctx, d->err[k].series);
	memcpy(d->err, keep, (size_t)nkeep * sizeof(keep[0]));
	d->nerr = nkeep;
}

/* The chip's processes and their share of it (collectors/attribution.md):
 * DCMI gives each process's device memory but no per-process utilization,
 * so the chip's AI Core busy time (and with it the energy) goes to its jobs
 * in equal shares. */
static void ascend_attribute(struct ascend_state *st, struct ascend_dev *d, int nproc)
{
	struct am_attrib_dev dev = {.device = d->name,
				    .uuid = d->id.uuid,
				    .busy_ratio = d->att_util,
				    .energy_j = NAN,
				    .power_w = d->att_power_w};
	size_t n = 0;

	if (!am_attrib_enabled(st->att))
		return;
	/* the driver fills at most 32 entries and may count more */
	for (int i = 0; i < nproc && i < ASCEND_PROCS_MAX; i++) {
		if (st->procs[i].proc_id <= 0)
			continue; /* not a pid: skipped, never a job of pid 0 */
		st->aprocs[n++] = (struct am_attrib_proc){
		    .pid = (pid_t)st->procs[i].proc_id,
		    .weight = NAN,
		    .mem_bytes = (double)st->procs[i].proc_mem_usage};
	}
	if (am_attrib_update(st->att, &dev, st->aprocs, n) == 0)
		d->att_on = true;
}

static void ascend_poll_state(struct ascend_state *st, struct ascend_dev *d)
{
	unsigned health = 0;
	dcmi_detect_result_t net = 0;
	int nproc = 0;

	if (ascend_want(d, C_HEALTH, st->lib.get_device_health != NULL) &&
	    ascend_ok(st, d, C_HEALTH,
		      DCMI(st, get_device_health, d->card, d->chip, &health), "health"))
		ascend_put(st, d, S_HEALTH, health, -1);
	ascend_poll_errcodes(st, d);
	if (ascend_want(d, C_PROCS, st->lib.get_device_resource_info != NULL) &&
	    ascend_ok(
		st, d, C_PROCS,
		DCMI(st, get_device_resource_info, d->card, d->chip, st->procs, &nproc),
		"processes") &&
	    nproc >= 0) {
		ascend_put(st, d, S_PROCS, nproc, -1);
		ascend_attribute(st, d, nproc);
	}
	if (ascend_want(d, C_NET, st->lib.get_device_network_health != NULL) &&
	    ascend_ok(st, d, C_NET,
		      DCMI(st, get_device_network_health, d->card, d->chip, &net),
		      "network health"))
		ascend_put(st, d, S_NET, net, -1);
}

static void ascend_poll_device(struct ascend_state *st, struct ascend_dev *d)
{
	/* each step stops asking once the chip is found gone */
	d->att_util = d->att_power_w = NAN;
	ascend_poll_util(st, d);
	ascend_poll_mem(st, d);
	ascend_poll_power(st, d);
	ascend_poll_ecc(st, d);
	ascend_poll_state(st, d);
}

/* ---- lifetime ---- */

static int ascend_poll(struct am_ctx *ctx, void *state)
{
	struct ascend_state *st = state;
	bool changed = false, lost = false;
	int r;

	st->ctx = ctx;
	/* Once per poll: the card list shows a chip dropped or back. */
	r = ascend_card_list(st, &changed);
	if (r != 0) {
		am_read_error(ctx);
		am_log(ctx, AM_LOG_WARN, "%s: DCMI error %d; chips reported down",
		       st->lib.card_list_name, r);
		for (int i = 0; i < st->ndev; i++) {
			st->dev[i].up = false;
			st->dev[i].lost = true;
		}
	} else {
		for (int i = 0; i < st->ndev; i++)
			lost |= st->dev[i].lost;
		if (changed || lost || st->remap)
			ascend_remap(st, REMAP_KNOWN);
		for (int i = 0; i < st->ndev; i++) {
			st->dev[i].asked = st->dev[i].answered = false;
			if (st->dev[i].up)
				ascend_poll_device(st, &st->dev[i]);
		}
	}
	for (int i = 0; i < st->ndev; i++) {
		struct ascend_dev *d = &st->dev[i];

		if (!d->up && d->att_on) { /* its jobs go with it */
			am_attrib_forget(st->att, d->name);
			d->att_on = false;
		}
		if (!d->probed) /* gone before its identity was read */
			continue;
		/* up: answered this poll (a call succeeded, or none is left to
		 * ask); a chip whose every call fails reads 0 */
		ascend_put(st, d, S_UP, d->up && (d->answered || !d->asked) ? 1 : 0, -1);
		ascend_emit_info(st, d);
	}
	return 0;
}

/* desc->rescan: chips with a logic id not seen before (a card hot-added,
 * one that was absent at start). Allocates only for a new chip. */
static int ascend_rescan(struct am_ctx *ctx, void *state)
{
	struct ascend_state *st = state;

	st->ctx = ctx;
	if (st->ncards == 0)
		return 0;
	return ascend_remap(st, REMAP_RESCAN);
}

static void ascend_unload(struct ascend_state *st)
{
	if (!st)
		return;
	/* DCMI has no shutdown call: closing the library is all there is */
	am_attrib_free(st->att);
	if (st->lib.dl)
		dlclose(st->lib.dl);
	free(st->dev);
	free(st);
}

static void ascend_fini(struct am_ctx *ctx, void *state)
{
	(void)ctx;
	ascend_unload(state);
}

static int ascend_open(struct ascend_state *st, const struct am_config *cfg)
{
	const char *opt = am_cfg_string(cfg, "library", NULL);
	const char *const cand[] = {opt ? opt : ASCEND_DEFAULT_LIBRARY, NULL};
	struct am_dl_sym syms[ASCEND_NSYMS];
	char err[512];
	size_t nsyms;

	snprintf(st->library, sizeof(st->library), "%s", cand[0]);
	st->lib.dl = am_dl_open(cand, ascend_dirs, err, sizeof(err));
	if (!st->lib.dl) {
		if (strchr(st->library, '/'))
			am_found(st->ctx, "%s not found: %s", st->library, err);
		else /* where it was looked for: ascend_dirs */
			am_found(st->ctx,
				 "%s not found (loader path, /usr/local/dcmi, "
				 "/usr/local/Ascend/driver/lib64{,/driver,/common}): %s",
				 st->library, err);
		return -ENODEV;
	}
	ascend_sym_table(&st->lib, syms, &nsyms);
	if (am_dl_bind(st->lib.dl, syms, nsyms, err, sizeof(err)) < 0) {
		am_found(st->ctx, "%s: %s: not DCMI", st->library, err);
		return -ENODEV;
	}
	st->lib.card_list_name =
	    dlsym(st->lib.dl, "dcmi_get_card_list") == (void *)st->lib.card_list
		? "dcmi_get_card_list"
		: "dcmi_get_card_num_list";
	return 0;
}

static int ascend_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct ascend_state *st = calloc(1, sizeof(*st));
	bool changed;
	int r, up = 0;

	if (!st)
		return -ENOMEM;
	st->ctx = ctx;
	if (ascend_open(st, cfg) < 0)
		goto fail;
	r = DCMI(st, init);
	if (r != DCMI_OK) {
		am_found(ctx, "%s: dcmi_init failed: DCMI error %d", st->library, r);
		goto fail;
	}
	r = ascend_card_list(st, &changed);
	if (r != 0 || st->ncards == 0) {
		if (r != 0)
			am_found(ctx, "%s: no Ascend NPU (%s: DCMI error %d)",
				 st->library, st->lib.card_list_name, r);
		else
			am_found(ctx, "%s: no Ascend NPU (%s: no card)", st->library,
				 st->lib.card_list_name);
		goto fail;
	}
	for (int f = 0; f < F_COUNT; f++) {
		const struct ascend_fam_use *u = &ascend_std[f];

		st->fam[f] = u->std ? am_std_family(ctx, u->which, &u->use)
				    : am_family(ctx, &ascend_fams[f]);
		if (st->fam[f] < 0)
			am_log(ctx, AM_LOG_WARN,
			       "family %s not registered (%s): defined differently "
			       "elsewhere; omitted",
			       u->std ? am_std_def(u->which)->name : ascend_fams[f].name,
			       strerror(-st->fam[f]));
	}
	if (am_cfg_bool(cfg, "attribution", true))
		st->att = am_attrib_new(ctx, (unsigned)am_cfg_int(cfg, "max_jobs", 16));
	if (ascend_remap(st, REMAP_INIT) < 0) {
		ascend_unload(st);
		return -ENOMEM;
	}
	if (st->ndev == 0) {
		am_found(ctx, "%s: %d card(s) but no chip listed", st->library,
			 st->ncards);
		goto fail;
	}
	for (int i = 0; i < st->ndev; i++)
		up += st->dev[i].up;
	am_found(ctx, "%d Ascend chip(s) on %d card(s) (%d answering, model %s), via %s",
		 st->ndev, st->ncards, up,
		 st->dev[0].id.model[0] ? st->dev[0].id.model : "unknown", st->library);
	*state = st;
	return 0;
fail:
	ascend_unload(st);
	return -ENODEV;
}

const struct am_collector ascend_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .flags = 0,
    .name = "ascend",
    .description = "Huawei Ascend NPUs through DCMI (libdcmi.so)",
    .options = ascend_options,
    .once_polls = 2,
    .init = ascend_init,
    .poll = ascend_poll,
    .rescan = ascend_rescan,
    .fini = ascend_fini,
};
