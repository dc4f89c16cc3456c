/* Kunlunxin XPU collector, a loadable plugin: reads XPUs through XPUML
 * (libxpuml.so, dlopen()ed at init) and emits the vendor-neutral accel_*
 * families plus kunlunxin_device_state. Built with nothing but the installed
 * SDK headers and `pkg-config accelmon`, in the tree and out of it; the
 * worked example of collectors/WRITING.md.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <accelmon/collector.h>
#include <accelmon/schema.h>
#include <accelmon/util.h>

#include "xpuml_api.h"

#define KX_LIBRARY "libxpuml.so"
/* At most this many XPUs (a node has 8 or 16): a count past it is taken as
 * garbage from the driver and cut, with a warning. */
#define KX_MAX_DEVICES 256

/* Where Kunlunxin's runtime puts the library when the loader's path does
 * not name it: the XRE runtime's so/ folder and the SDK's lib64/. */
static const char *const kx_dirs[] = {"/opt/xre/so", "/usr/local/xpu/so",
				      "/usr/local/xpu/lib64", "/usr/local/xpu/lib", NULL};

/* The entry points: required?, field, type, exported name. Without the four
 * required ones the library is not XPUML; any other may be absent (an older
 * driver), which leaves its metric out. */
#define KX_SYMS(X)                                                                       \
	X(true, init, xpuml_void_fn, "xpumlInit")                                        \
	X(true, shutdown, xpuml_void_fn, "xpumlShutdown")                                \
	X(false, error_string, xpuml_error_string_fn, "xpumlErrorString")                \
	X(false, driver_version, xpuml_driver_version_fn, "xpumlSystemGetDriverVersion") \
	X(true, count, xpuml_count_fn, "xpumlDeviceGetCount")                            \
	X(true, handle, xpuml_handle_fn, "xpumlDeviceGetHandleByIndex")                  \
	X(false, serial, xpuml_dev_string_fn, "xpumlDeviceGetSerial")                    \
	X(false, pci, xpuml_pci_fn, "xpumlDeviceGetPciInfo")                             \
	X(false, attrs, xpuml_attrs_fn, "xpumlDeviceGetAttributes")                      \
	X(false, util, xpuml_util_fn, "xpumlDeviceGetUtilizationRates")                  \
	X(false, mem, xpuml_mem_fn, "xpumlDeviceGetMemoryInfo")                          \
	X(false, power, xpuml_dev_uint_fn, "xpumlDeviceGetPowerUsage")                   \
	X(false, temp, xpuml_dev_enum_uint_fn, "xpumlDeviceGetTemperature")              \
	X(false, clock, xpuml_dev_enum_uint_fn, "xpumlDeviceGetClockInfo")               \
	X(false, state, xpuml_dev_int_fn, "xpumlDeviceGetState")

struct kx_lib {
	void *dl;
#define X(req, field, type, name) type *field;
	KX_SYMS(X)
#undef X
};

/* Each entry point's exported name, by field: what the watchdog names. */
static const struct {
#define X(req, field, type, name) const char *field;
	KX_SYMS(X)
#undef X
} kx_name = {
#define X(req, field, type, name) .field = name,
    KX_SYMS(X)
#undef X
};

/* Call entry point `fn` with its name given to the watchdog, so a poll,
 * rescan or init stuck in the driver is logged as "stuck in
 * xpumlDeviceGetPowerUsage". No allocation, no system call. */
#define KX(st, fn, ...)                                                                  \
	({                                                                               \
		__typeof__((st)->lib.fn(__VA_ARGS__)) kx_r_;                             \
		am_call_begin((st)->ctx, kx_name.fn);                                    \
		kx_r_ = (st)->lib.fn(__VA_ARGS__);                                       \
		am_call_end((st)->ctx);                                                  \
		kx_r_;                                                                   \
	})

/* Families. */
enum {
	F_INFO,
	F_UP,
	F_UTIL,
	F_BUSY,
	F_MEMBUSY,
	F_MEM_USED,
	F_MEM_TOTAL,
	F_POWER,
	F_ENERGY,
	F_TEMP,
	F_CLOCK,
	F_STATE,
	F_COUNT
};

/* Schema families with how XPUML's units reach them: percent x 0.01 is a
 * ratio, mW x 1e-3 W, MHz x 1e6 Hz. The energy family gets no samples: it
 * is the core's integral of the power gauge (AM_DERIVE_INTEGRAL), so its
 * scale stays 1 (the watts carry the units). */
static const struct {
	enum am_std which;
	struct am_std_use use;
} kx_std[F_COUNT] = {
#define STD(w, k, sc)                                                                    \
	{                                                                                \
		w,                                                                       \
		{                                                                        \
			.kind = k, .scale = sc                                           \
		}                                                                        \
	}
    [F_INFO] = STD(AM_STD_ACCEL_INFO, AM_INFO, 0),
    [F_UP] = STD(AM_STD_ACCEL_UP, AM_GAUGE, 0),
    [F_UTIL] = STD(AM_STD_UTILIZATION, AM_GAUGE, 0.01),
    [F_BUSY] = STD(AM_STD_BUSY_SECONDS, AM_INTEGRAL, 0.01),
    /* share of time global memory was read or written: the schema's
     * "share of time the memory controller was busy" reading */
    [F_MEMBUSY] = STD(AM_STD_MEMORY_BW_UTILIZATION, AM_GAUGE, 0.01),
    [F_MEM_USED] = STD(AM_STD_MEMORY_USED, AM_GAUGE, 0),
    [F_MEM_TOTAL] = STD(AM_STD_MEMORY_TOTAL, AM_GAUGE, 0),
    [F_POWER] = STD(AM_STD_POWER, AM_GAUGE, 1e-3),
    [F_ENERGY] = STD(AM_STD_ENERGY, AM_COUNTER, 0),
    [F_TEMP] = STD(AM_STD_TEMPERATURE, AM_GAUGE, 0),
    [F_CLOCK] = STD(AM_STD_CLOCK, AM_GAUGE, 1e6),
#undef STD
};

/* The one family of this plugin's own: XPUML's device state as a state
 * set (1 for the state the device is in, 0 for the others), what an alert
 * can select on without knowing the codes. */
static const struct am_family_def kx_state_def = {
    .name = "kunlunxin_device_state",
    .help = "XPUML device state (xpumlDeviceGetState): 1 for the state the XPU is "
	    "in (unused, running, in_reset, error, in_exception), 0 for the others; "
	    "all 0 for a code this collector does not know.",
    .kind = AM_GAUGE,
    .labels = {"device", "uuid", "state"},
};

static const struct {
	int code;
	const char *name;
} kx_states[] = {
    {XPUML_STATE_UNUSED, "unused"},
    {XPUML_STATE_RUNNING, "running"},
    {XPUML_STATE_IN_RESET, "in_reset"},
    {XPUML_STATE_ERROR, "error"},
    {XPUML_STATE_IN_EXCEPTION, "in_exception"},
};
#define KX_NSTATES (sizeof(kx_states) / sizeof(kx_states[0]))

/* Per-device series slots, by family (and the third label where there is
 * one). */
enum {
	S_UP,
	S_UTIL,
	S_BUSY,
	S_MEMBUSY,
	S_MEM_USED,
	S_MEM_TOTAL,
	S_POWER,
	S_TEMP,
	S_CLOCK,
	S_COUNT
};
static const struct {
	int fam;
	const char *extra;
} kx_slots[S_COUNT] = {
    [S_UP] = {F_UP, NULL},
    [S_UTIL] = {F_UTIL, NULL},
    [S_BUSY] = {F_BUSY, NULL},
    [S_MEMBUSY] = {F_MEMBUSY, NULL},
    [S_MEM_USED] = {F_MEM_USED, NULL},
    [S_MEM_TOTAL] = {F_MEM_TOTAL, NULL},
    [S_POWER] = {F_POWER, NULL},
    [S_TEMP] = {F_TEMP, "xpu"},
    [S_CLOCK] = {F_CLOCK, "xpu"},
};

/* What a probe learnt about one metric of one device: asked until the
 * first answer; NOT_SUPPORTED before any answer (or a missing symbol)
 * makes it CAP_NO, not asked again until the device is acquired again.
 * After it answered (CAP_YES), NOT_SUPPORTED is a passing read error. */
enum { CAP_UNKNOWN = 0, CAP_YES, CAP_NO };
enum { C_UTIL, C_MEM, C_POWER, C_TEMP, C_CLOCK, C_STATE, C_COUNT };

/* What identifies a device: read once per device, again when a rescan
 * acquires it after a loss. Label values, so sized as collector.h says:
 * the agent cuts a longer value at AM_LABEL_VALUE_MAX. */
struct kx_ident {
	char uuid[AM_LABEL_VALUE_MAX + 1];
	char serial[AM_LABEL_VALUE_MAX + 1];
	char model[AM_LABEL_VALUE_MAX + 1];
	char bus_id[AM_LABEL_VALUE_MAX + 1];
	char numa[16];
};

struct kx_dev {
	unsigned index;
	struct xpuml_dev h;
	char name[24]; /* "kunlunxin<index>" */
	struct kx_ident id;
	bool up;       /* acquired and not lost: its metrics are asked */
	bool lost;     /* the handle must be acquired again (at a rescan) */
	bool probed;   /* identity read */
	bool asked;    /* a metric call was made this poll */
	bool answered; /* and at least one succeeded: accel_up 1 */
	unsigned char cap[C_COUNT];
	am_series_t s[S_COUNT];
	am_series_t info, energy, state[KX_NSTATES];
};

struct kx_state {
	struct am_ctx *ctx;
	struct kx_lib lib;
	char library[256];
	char driver[XPUML_DRIVER_VERSION_LEN];
	am_family_t fam[F_COUNT];
	bool lib_ok;	     /* xpumlInit succeeded, no library-wide fault since */
	bool need_reinit;    /* a library-wide fault: shut down and init again */
	unsigned last_count; /* xpumlDeviceGetCount at the latest poll (capped) */
	bool count_warned;   /* a count past KX_MAX_DEVICES was logged */
	struct kx_dev *dev;
	unsigned ndev, cap;
};

static const struct am_option kx_options[] = {
    {"library", AM_OPT_STRING,
     "XPUML library to dlopen, a name or a path (default libxpuml.so, searched "
     "on the loader's path, then /opt/xre/so, /usr/local/xpu/{so,lib64,lib})",
     0, 0},
    {NULL, 0, NULL, 0, 0},
};

static const char *kx_strerror(struct kx_state *st, xpuml_rc r)
{
	static __thread char buf[32];
	const char *s = st->lib.error_string ? KX(st, error_string, r) : NULL;

	if (s && *s)
		return s;
	snprintf(buf, sizeof(buf), "XPUML error %d", r);
	return buf;
}

enum kx_verdict { V_OK, V_ABSENT, V_DEV_FAULT, V_LIB_FAULT, V_ERROR };

/* What an answer means: a metric the device lacks, a lost device, an
 * unusable library (initialise again) or a passing error (count, retry). */
static enum kx_verdict kx_classify(xpuml_rc r)
{
	switch (r) {
	case XPUML_SUCCESS:
		return V_OK;
	case XPUML_ERROR_NOT_SUPPORTED:
	case XPUML_ERROR_FUNCTION_NOT_FOUND:
	case XPUML_ERROR_NO_PERMISSION:
		return V_ABSENT;
	case XPUML_ERROR_XPU_IS_LOST:
	case XPUML_ERROR_RESET_REQUIRED:
		return V_DEV_FAULT;
	case XPUML_ERROR_UNINITIALIZED:
	case XPUML_ERROR_DRIVER_NOT_LOADED:
	case XPUML_ERROR_LIB_RM_VERSION_MISMATCH:
		return V_LIB_FAULT;
	default:
		return V_ERROR;
	}
}

static void kx_mark_down(struct kx_state *st, struct kx_dev *d, xpuml_rc r,
			 const char *what)
{
	if (d->up)
		am_log(st->ctx, AM_LOG_WARN,
		       "%s: %s: %s; reporting it down until a rescan "
		       "finds it again",
		       d->name, what, kx_strerror(st, r));
	d->up = false;
	d->lost = true;
	if (kx_classify(r) == V_LIB_FAULT)
		st->need_reinit = true;
}

/* Check one answer for capability cap of d; true when the value is valid. */
static bool kx_ok(struct kx_state *st, struct kx_dev *d, int cap, xpuml_rc r,
		  const char *what)
{
	d->asked = true;
	switch (kx_classify(r)) {
	case V_OK:
		d->cap[cap] = CAP_YES;
		d->answered = true;
		return true;
	case V_ABSENT:
		/* Only a first answer says the device lacks the metric: one
		 * that answered before and now says NOT_SUPPORTED or
		 * NO_PERMISSION is failing for the moment. */
		if (d->cap[cap] == CAP_UNKNOWN) {
			am_log(st->ctx, AM_LOG_DEBUG, "%s: %s: %s; metric omitted",
			       d->name, what, kx_strerror(st, r));
			d->cap[cap] = CAP_NO;
			return false;
		}
		am_read_error(st->ctx);
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: %s (it answered before)", d->name,
		       what, kx_strerror(st, r));
		return false;
	case V_DEV_FAULT:
	case V_LIB_FAULT:
		kx_mark_down(st, d, r, what);
		return false;
	default:
		am_read_error(st->ctx);
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: %s", d->name, what,
		       kx_strerror(st, r));
		return false;
	}
}

/* Whether to ask for capability cap: the device is up, the library has the
 * entry point and no earlier answer said the device lacks it. */
static bool kx_want(struct kx_dev *d, int cap, const void *fn)
{
	if (!fn)
		d->cap[cap] = CAP_NO;
	return d->up && d->cap[cap] != CAP_NO;
}

static am_series_t kx_slot(struct kx_state *st, struct kx_dev *d, int slot)
{
	int fam = kx_slots[slot].fam;

	if (d->s[slot] == AM_SERIES_INVALID && st->fam[fam] >= 0) {
		const char *lv[] = {d->name, d->id.uuid, kx_slots[slot].extra, NULL};

		d->s[slot] = am_series(st->ctx, st->fam[fam], lv);
	}
	return d->s[slot];
}

static void kx_put(struct kx_state *st, struct kx_dev *d, int slot, double v)
{
	am_series_t s = kx_slot(st, d, slot);

	if (s != AM_SERIES_INVALID)
		am_emit(st->ctx, s, v);
}

/* Take d's series out of the exposition (another device at its index, or
 * its identity first read): the derived energy goes with its input. */
static void kx_retire_series(struct kx_state *st, struct kx_dev *d)
{
	for (int i = 0; i < S_COUNT; i++)
		if (d->s[i] != AM_SERIES_INVALID)
			am_series_retire(st->ctx, d->s[i]);
	for (size_t i = 0; i < KX_NSTATES; i++)
		if (d->state[i] != AM_SERIES_INVALID)
			am_series_retire(st->ctx, d->state[i]);
	if (d->info != AM_SERIES_INVALID)
		am_series_retire(st->ctx, d->info);
}

static void kx_forget_series(struct kx_dev *d)
{
	for (int i = 0; i < S_COUNT; i++)
		d->s[i] = AM_SERIES_INVALID;
	for (size_t i = 0; i < KX_NSTATES; i++)
		d->state[i] = AM_SERIES_INVALID;
	d->info = d->energy = AM_SERIES_INVALID;
}

/* Take d's series out of the exposition and forget them: they are
 * interned again under its new identity. */
static void kx_rekey(struct kx_state *st, struct kx_dev *d)
{
	kx_retire_series(st, d);
	kx_forget_series(d);
}

/* ---- identity ---- */

static const char *kx_model_name(int id)
{
	switch (id) {
	case XPUML_MODEL_K200:
		return "K200";
	case XPUML_MODEL_K100:
		return "K100";
	case XPUML_MODEL_R200:
		return "R200";
	case XPUML_MODEL_R300:
		return "R300";
	case XPUML_MODEL_R200_8F:
		return "R200-8F";
	case XPUML_MODEL_R200_SRIOV_PF:
		return "R200 SR-IOV PF";
	case XPUML_MODEL_R200_SRIOV_VF_1OF1:
		return "R200 SR-IOV VF 1/1";
	case XPUML_MODEL_R200_SRIOV_VF_1OF2:
		return "R200 SR-IOV VF 1/2";
	case XPUML_MODEL_R200_SRIOV_VF_1OF3:
		return "R200 SR-IOV VF 1/3";
	default:
		return NULL;
	}
}

/* Whether an identity call's answer may be committed: success, or the
 * device has no such thing (NOT_SUPPORTED, FUNCTION_NOT_FOUND: its field
 * stays empty). Anything else, a passing TIMEOUT included, is returned so
 * that the device stays lost until the next rescan instead of coming back
 * under another uuid; a passing error counts as a read error. */
static xpuml_rc kx_ident_rc(struct kx_state *st, const struct kx_dev *d, xpuml_rc r,
			    const char *what)
{
	enum kx_verdict v = kx_classify(r);

	if (r == XPUML_SUCCESS || r == XPUML_ERROR_NOT_SUPPORTED ||
	    r == XPUML_ERROR_FUNCTION_NOT_FOUND)
		return XPUML_SUCCESS;
	if (v != V_DEV_FAULT && v != V_LIB_FAULT) {
		am_read_error(st->ctx);
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: %s; identity not taken", d->name,
		       what, kx_strerror(st, r));
	}
	return r;
}

/* Serial, PCI address, model and NUMA node of d's handle; the first call
 * whose answer may not be committed ends the probe (kx_ident_rc). The uuid
 * label is the serial where XPUML answers it (its header has no UUID
 * call), else the PCI address, else the device name: stable across
 * restarts either way. kx_uuid_shared makes it unique on a dual-XPU board. */
static xpuml_rc kx_probe(struct kx_state *st, const struct kx_dev *d, struct kx_ident *id)
{
	struct xpuml_pci pci;
	struct xpuml_attrs at;
	struct am_pci_id pid;
	char path[512];
	unsigned dom, bus, dev, fn;
	xpuml_rc r;

	memset(id, 0, sizeof(*id));
	if (st->lib.serial) {
		r = KX(st, serial, d->h, id->serial, sizeof(id->serial));
		if (r == XPUML_SUCCESS)
			id->serial[sizeof(id->serial) - 1] = '\0';
		else
			id->serial[0] = '\0';
		if ((r = kx_ident_rc(st, d, r, "serial")) != XPUML_SUCCESS)
			return r;
	}
	memset(&pci, 0, sizeof(pci));
	if (st->lib.pci) {
		r = KX(st, pci, d->h, &pci);
		pci.bus_id[sizeof(pci.bus_id) - 1] = '\0';
		if (r == XPUML_SUCCESS)
			snprintf(id->bus_id, sizeof(id->bus_id), "%s", pci.bus_id);
		if ((r = kx_ident_rc(st, d, r, "PCI info")) != XPUML_SUCCESS)
			return r;
	}
	memset(&at, 0, sizeof(at));
	if (st->lib.attrs) {
		r = KX(st, attrs, d->h, &at);
		if (r == XPUML_SUCCESS && kx_model_name(at.model))
			snprintf(id->model, sizeof(id->model), "%s",
				 kx_model_name(at.model));
		else if (r == XPUML_SUCCESS)
			am_log(st->ctx, AM_LOG_DEBUG,
			       "%s: model id %d not known; model empty", d->name,
			       at.model);
		if ((r = kx_ident_rc(st, d, r, "attributes")) != XPUML_SUCCESS)
			return r;
	}
	/* sysfs names the PCI function with a 4-digit lower-case domain */
	if (sscanf(id->bus_id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) == 4) {
		snprintf(path, sizeof(path), "%s/bus/pci/devices/%04x:%02x:%02x.%x",
			 am_sysfs(st->ctx), dom, bus, dev, fn);
		if (am_pci_identity(path, &pid) == 0 && pid.numa_node >= 0)
			snprintf(id->numa, sizeof(id->numa), "%d", pid.numa_node);
	}
	snprintf(id->uuid, sizeof(id->uuid), "%s",
		 id->serial[0]	 ? id->serial
		 : id->bus_id[0] ? id->bus_id
				 : d->name);
	return XPUML_SUCCESS;
}

/* The uuid of an XPU whose board serial another XPU shares: XPUML's
 * serial is the board's, and a dual-XPU board answers it for both (its
 * header says so; it has no UUID or index-on-board call). */
static void kx_shared_uuid(const struct kx_dev *d, struct kx_ident *id)
{
	snprintf(id->uuid, sizeof(id->uuid), "%.128s-%.64s", id->serial,
		 id->bus_id[0] ? id->bus_id : d->name);
}

/* Make id's uuid unique among the XPUs: where another one answers the same
 * serial, both get "SERIAL-PCI_ADDRESS" (else "SERIAL-kunlunxinN"); the
 * other one's series, if it had them under the bare serial, are retired. */
static void kx_uuid_shared(struct kx_state *st, struct kx_dev *d, struct kx_ident *id)
{
	bool shared = false;

	if (!id->serial[0])
		return;
	for (unsigned i = 0; i < st->ndev; i++) {
		struct kx_dev *o = &st->dev[i];

		if (o == d || !o->probed || strcmp(o->id.serial, id->serial) != 0)
			continue;
		shared = true;
		if (strcmp(o->id.uuid, o->id.serial) == 0) {
			kx_rekey(st, o);
			kx_shared_uuid(o, &o->id);
			am_log(st->ctx, AM_LOG_INFO,
			       "%s: serial %s shared with %s (a dual-XPU board): uuid %s",
			       o->name, o->id.serial, d->name, o->id.uuid);
		}
	}
	if (shared)
		kx_shared_uuid(d, id);
}

/* A handle for d (at init, or at a rescan after a loss). A different
 * serial at the same index is another XPU: the old one's series are
 * retired, its capabilities forgotten. True when d is up. */
static bool kx_acquire(struct kx_state *st, struct kx_dev *d)
{
	struct kx_ident id;
	xpuml_rc r = KX(st, handle, d->index, &d->h);

	if (r == XPUML_SUCCESS)
		r = kx_probe(st, d, &id);
	if (r == XPUML_SUCCESS)
		kx_uuid_shared(st, d, &id);
	if (r != XPUML_SUCCESS) {
		if (kx_classify(r) == V_LIB_FAULT)
			st->need_reinit = true;
		am_log(st->ctx, AM_LOG_WARN, "%s: still unavailable: %s", d->name,
		       kx_strerror(st, r));
		return false;
	}
	if (strcmp(id.uuid, d->id.uuid) != 0) {
		/* Until first acquired, a device's uuid label is its name. */
		if (d->probed)
			am_log(st->ctx, AM_LOG_WARN, "%s: identity changed from %s to %s",
			       d->name, d->id.uuid, id.uuid);
		kx_rekey(st, d);
	} else if (d->lost && d->probed) {
		am_log(st->ctx, AM_LOG_INFO, "%s: available again", d->name);
	}
	/* what it lacked before the loss is asked once again: a reset or a
	 * new driver may have it, and a NOT_SUPPORTED of the old handle
	 * says nothing about this one */
	memset(d->cap, 0, sizeof(d->cap));
	d->id = id;
	d->probed = true;
	d->up = true;
	d->lost = false;
	return true;
}

/* ---- one poll of one device ---- */

static void kx_poll_util(struct kx_state *st, struct kx_dev *d)
{
	struct xpuml_util u;

	if (!kx_want(d, C_UTIL, st->lib.util) ||
	    !kx_ok(st, d, C_UTIL, KX(st, util, d->h, &u), "utilization"))
		return;
	/* percent (scaled by the family); the busy integral stands for the
	 * time since the previous poll, the driver's figure for its last
	 * sample period (1/6 s to 1 s): a sampled estimate */
	kx_put(st, d, S_UTIL, u.xpu);
	kx_put(st, d, S_BUSY, u.xpu);
	kx_put(st, d, S_MEMBUSY, u.memory);
}

static void kx_poll_mem(struct kx_state *st, struct kx_dev *d)
{
	struct xpuml_mem m;

	if (!kx_want(d, C_MEM, st->lib.mem) ||
	    !kx_ok(st, d, C_MEM, KX(st, mem, d->h, &m), "memory info"))
		return;
	kx_put(st, d, S_MEM_USED, (double)m.global_used);
	kx_put(st, d, S_MEM_TOTAL, (double)m.global_total);
}

/* Power, and energy as the core's integral of it: XPUML has no energy
 * counter. The derived series is bound once, after the first answer. */
static void kx_poll_power(struct kx_state *st, struct kx_dev *d)
{
	unsigned mw;

	if (!kx_want(d, C_POWER, st->lib.power) ||
	    !kx_ok(st, d, C_POWER, KX(st, power, d->h, &mw), "power"))
		return;
	if (d->energy == AM_SERIES_INVALID && st->fam[F_ENERGY] >= 0 &&
	    kx_slot(st, d, S_POWER) != AM_SERIES_INVALID) {
		const char *lv[] = {d->name, d->id.uuid, NULL};
		struct am_derive dv = {.op = AM_DERIVE_INTEGRAL,
				       .a = d->s[S_POWER],
				       .b = AM_SERIES_INVALID,
				       .capacity = AM_SERIES_INVALID};

		d->energy = am_series_derived(st->ctx, st->fam[F_ENERGY], lv, &dv);
	}
	kx_put(st, d, S_POWER, mw);
}

static void kx_poll_temp_clock(struct kx_state *st, struct kx_dev *d)
{
	unsigned v;

	if (kx_want(d, C_TEMP, st->lib.temp) &&
	    kx_ok(st, d, C_TEMP, KX(st, temp, d->h, XPUML_SENSOR_DIE, &v), "temperature"))
		kx_put(st, d, S_TEMP, v);
	if (kx_want(d, C_CLOCK, st->lib.clock) &&
	    kx_ok(st, d, C_CLOCK, KX(st, clock, d->h, XPUML_CLOCK_XPU, &v), "clock"))
		kx_put(st, d, S_CLOCK, v);
}

static void kx_poll_state(struct kx_state *st, struct kx_dev *d)
{
	bool known = false;
	int code;

	if (!kx_want(d, C_STATE, st->lib.state) ||
	    !kx_ok(st, d, C_STATE, KX(st, state, d->h, &code), "state"))
		return;
	for (size_t i = 0; i < KX_NSTATES; i++) {
		if (d->state[i] == AM_SERIES_INVALID && st->fam[F_STATE] >= 0) {
			const char *lv[] = {d->name, d->id.uuid, kx_states[i].name, NULL};

			d->state[i] = am_series(st->ctx, st->fam[F_STATE], lv);
		}
		known |= kx_states[i].code == code;
		if (d->state[i] != AM_SERIES_INVALID)
			am_emit(st->ctx, d->state[i], kx_states[i].code == code);
	}
	if (!known)
		am_log(st->ctx, AM_LOG_WARN, "%s: unknown device state %d", d->name,
		       code);
}

static void kx_emit_info(struct kx_state *st, struct kx_dev *d)
{
	if (d->info == AM_SERIES_INVALID && st->fam[F_INFO] >= 0) {
		/* the schema's identity labels; XPUML reads no firmware version */
		const char *lv[] = {d->name,	  d->id.uuid,	"kunlunxin", d->id.model,
				    d->id.serial, d->id.bus_id, d->id.numa,  st->driver,
				    "",		  NULL};

		d->info = am_series(st->ctx, st->fam[F_INFO], lv);
	}
	if (d->info != AM_SERIES_INVALID)
		am_emit(st->ctx, d->info, 1);
}

/* ---- library lifetime ---- */

/* A library-wide fault (driver unloaded, library and driver out of step):
 * every handle is dropped, XPUML shut down and initialised again, and the
 * devices acquired again by index right away, whatever `rescan` says: a
 * fault of one poll costs one poll of accel_up 0, not the time to the next
 * rescan (or, with `rescan: 0`, the agent's lifetime). XPUML counts
 * xpumlInit calls; each init is matched by one shutdown. */
static void kx_reinit(struct kx_state *st)
{
	unsigned up = 0;
	xpuml_rc r;

	for (unsigned i = 0; i < st->ndev; i++) {
		st->dev[i].up = false;
		st->dev[i].lost = true;
	}
	if (st->lib_ok)
		KX(st, shutdown);
	st->lib_ok = false;
	r = KX(st, init);
	if (r != XPUML_SUCCESS) {
		am_log(st->ctx, AM_LOG_WARN, "initialising XPUML again: %s",
		       kx_strerror(st, r));
		return;
	}
	st->lib_ok = true;
	st->need_reinit = false;
	for (unsigned i = 0; i < st->ndev && !st->need_reinit; i++)
		up += kx_acquire(st, &st->dev[i]);
	am_log(st->ctx, AM_LOG_INFO, "XPUML initialised again; %u of %u XPU(s) answering",
	       up, st->ndev);
}

/* A device count from XPUML, cut at KX_MAX_DEVICES. */
static unsigned kx_cap_count(struct kx_state *st, unsigned n)
{
	if (n <= KX_MAX_DEVICES)
		return n;
	if (!st->count_warned)
		am_log(st->ctx, AM_LOG_WARN,
		       "xpumlDeviceGetCount answered %u; taking the first %u XPUs", n,
		       KX_MAX_DEVICES);
	st->count_warned = true;
	return KX_MAX_DEVICES;
}

static int kx_poll(struct am_ctx *ctx, void *state)
{
	struct kx_state *st = state;
	unsigned n;
	xpuml_rc r;

	st->ctx = ctx;
	/* A fault seen in an earlier poll is handled now: initialising again
	 * in the poll that saw it would only meet the same fault. */
	if (st->need_reinit || !st->lib_ok)
		kx_reinit(st);
	/* The count is the cheap health check of the library, once a poll;
	 * the rescan takes new devices from it. */
	r = st->lib_ok ? KX(st, count, &n) : XPUML_ERROR_UNINITIALIZED;
	if (r == XPUML_SUCCESS)
		st->last_count = kx_cap_count(st, n);
	else if (st->lib_ok && kx_classify(r) == V_LIB_FAULT) {
		am_log(ctx, AM_LOG_WARN,
		       "XPUML unusable: %s; initialising it again at the "
		       "next poll",
		       kx_strerror(st, r));
		st->need_reinit = true;
	}
	for (unsigned i = 0; i < st->ndev; i++) {
		struct kx_dev *d = &st->dev[i];

		d->asked = d->answered = false;
		if (!st->lib_ok || st->need_reinit)
			d->up = false;
		if (!d->up)
			continue;
		kx_poll_util(st, d);
		kx_poll_mem(st, d);
		kx_poll_power(st, d);
		kx_poll_temp_clock(st, d);
		kx_poll_state(st, d);
	}
	/* up: answered this poll (at least one call succeeded, or it has no
	 * metric left to ask); a device whose every call fails reads 0 */
	for (unsigned i = 0; i < st->ndev; i++) {
		const struct kx_dev *d = &st->dev[i];

		kx_put(st, &st->dev[i], S_UP, d->up && (d->answered || !d->asked));
		kx_emit_info(st, &st->dev[i]);
	}
	return 0;
}

/* A device slot for XPUML index i, grown only when a device is new. */
static struct kx_dev *kx_add(struct kx_state *st, unsigned i)
{
	struct kx_dev *d;

	if (st->ndev == st->cap) {
		unsigned cap = st->cap ? st->cap * 2 : 8;
		struct kx_dev *nd = realloc(st->dev, cap * sizeof(*nd));

		if (!nd)
			return NULL;
		st->dev = nd;
		st->cap = cap;
	}
	d = &st->dev[st->ndev++];
	memset(d, 0, sizeof(*d));
	d->index = i;
	d->lost = true;
	snprintf(d->name, sizeof(d->name), "kunlunxin%u", i);
	snprintf(d->id.uuid, sizeof(d->id.uuid), "%s", d->name);
	kx_forget_series(d);
	kx_acquire(st, d);
	return d;
}

/* desc->rescan: a lost device is acquired again (it reads accel_up 0 until
 * then, and keeps its series); devices past the known ones in the latest
 * poll's count are added. Allocates only for a new device. */
static int kx_rescan(struct am_ctx *ctx, void *state)
{
	struct kx_state *st = state;

	st->ctx = ctx;
	if (!st->lib_ok || st->need_reinit)
		return 0;
	for (unsigned i = 0; i < st->ndev; i++)
		if (st->dev[i].lost)
			kx_acquire(st, &st->dev[i]);
	while (st->ndev < st->last_count) {
		am_log(ctx, AM_LOG_INFO, "kunlunxin%u: new XPU", st->ndev);
		if (!kx_add(st, st->ndev))
			return -ENOMEM;
	}
	return 0;
}

static void kx_unload(struct kx_state *st)
{
	if (st->lib_ok)
		KX(st, shutdown);
	if (st->lib.dl)
		dlclose(st->lib.dl);
	free(st->dev);
	free(st);
}

static void kx_fini(struct am_ctx *ctx, void *state)
{
	struct kx_state *st = state;

	st->ctx = ctx; /* its shutdown call is named to this instance */
	kx_unload(st);
}

/* Open the library: the configured name or path, searched on the loader's
 * path and then in the vendor's folders; the default also as .so.1. */
static int kx_open(struct kx_state *st, const struct am_config *cfg)
{
	const char *lib = am_cfg_string(cfg, "library", KX_LIBRARY);
	const char *cand[] = {lib, NULL, NULL};
	struct am_dl_sym syms[] = {
#define X(req, field, type, name) {{name, NULL}, (void **)&st->lib.field, req},
	    KX_SYMS(X)
#undef X
	};
	char err[512];

	snprintf(st->library, sizeof(st->library), "%s", lib);
	if (!strcmp(lib, KX_LIBRARY))
		cand[1] = KX_LIBRARY ".1";
	st->lib.dl = am_dl_open(cand, kx_dirs, err, sizeof(err));
	if (!st->lib.dl) {
		/* dlerror() names the file: one line, nothing else */
		am_found(st->ctx, "%s not found: %s", st->library, err);
		return -ENODEV;
	}
	if (am_dl_bind(st->lib.dl, syms, sizeof(syms) / sizeof(syms[0]), err,
		       sizeof(err)) < 0) {
		am_found(st->ctx, "%s: %s: not XPUML", st->library, err);
		return -ENODEV;
	}
	return 0;
}

static int kx_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct kx_state *st = calloc(1, sizeof(*st));
	unsigned n = 0, up = 0;
	xpuml_rc r;
	int rc;

	if (!st)
		return -ENOMEM;
	st->ctx = ctx;
	rc = kx_open(st, cfg);
	if (rc < 0)
		goto fail;
	rc = -ENODEV;
	r = KX(st, init);
	if (r != XPUML_SUCCESS) {
		am_found(ctx, "%s: xpumlInit failed: %s", st->library,
			 kx_strerror(st, r));
		goto fail;
	}
	st->lib_ok = true;
	r = KX(st, count, &n);
	if (r != XPUML_SUCCESS || n == 0) {
		am_found(ctx, "%s: no Kunlunxin XPU (%s)", st->library,
			 r == XPUML_SUCCESS ? "count 0" : kx_strerror(st, r));
		goto fail;
	}
	n = kx_cap_count(st, n);
	st->last_count = n;
	if (!st->lib.driver_version ||
	    KX(st, driver_version, st->driver, sizeof(st->driver)) != XPUML_SUCCESS)
		st->driver[0] = '\0';
	st->driver[sizeof(st->driver) - 1] = '\0';
	/* A family another collector defined differently is left out. */
	for (int f = 0; f < F_COUNT; f++) {
		st->fam[f] = f == F_STATE
				 ? am_family(ctx, &kx_state_def)
				 : am_std_family(ctx, kx_std[f].which, &kx_std[f].use);
		if (st->fam[f] < 0)
			am_log(ctx, AM_LOG_WARN, "family %s not registered (%s); omitted",
			       f == F_STATE ? kx_state_def.name
					    : am_std_def(kx_std[f].which)->name,
			       strerror(-st->fam[f]));
	}
	for (unsigned i = 0; i < n; i++) {
		const struct kx_dev *d = kx_add(st, i);

		if (!d) {
			rc = -ENOMEM;
			goto fail;
		}
		up += d->up;
	}
	am_found(ctx, "%u Kunlunxin XPU(s) (%u answering), driver %s, via %s", n, up,
		 st->driver[0] ? st->driver : "unknown", st->library);
	*state = st;
	return 0;
fail:
	kx_unload(st);
	return rc;
}

const struct am_collector accelmon_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .name = "kunlunxin",
    .description = "Kunlunxin XPUs through XPUML (libxpuml.so)",
    .options = kx_options,
    /* two polls: the busy and energy integrals need an interval */
    .once_polls = 2,
    .init = kx_init,
    .poll = kx_poll,
    .rescan = kx_rescan,
    .fini = kx_fini,
};
