/* NVIDIA collector: reads GPUs through NVML (libnvidia-ml.so.1, dlopen()ed at
 * init so the agent runs without it) and emits the vendor-neutral accel_*
 * families plus fabric_nvlink_*. Every metric is probed once per device and
 * the answer cached: a missing symbol or NOT_SUPPORTED leaves the series
 * absent. A lost GPU reports accel_up 0 and is re-acquired on a later poll.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
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
#include "nvml_api.h"

#define NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"
#define NVML_MAX_EVENT_CODES 16
#define NVML_MAX_EVENTS_PER_POLL 64
#define NVML_SAMPLES_MAX (1u << 20)
/* GPM needs its two samples at least this far apart. */
#define NVML_GPM_MIN_GAP_NS 100000000LL

#define NVML_NSYMS 48

/* Resolved entry points; NULL when the library lacks the symbol. */
struct nvml_lib {
	void *dl;
	nvml_init_fn init;
	nvml_shutdown_fn shutdown;
	nvml_error_string_fn error_string;
	nvml_driver_version_fn driver_version;
	nvml_count_fn count;
	nvml_handle_by_index_fn handle_by_index;
	nvml_dev_string_fn name, uuid, serial;
	nvml_pci_info_fn pci_info;
	nvml_pci_info_legacy_fn pci_info_v2;
	nvml_dev_uint_fn numa_node, minor;
	nvml_utilization_fn utilization;
	nvml_samples_fn samples;
	nvml_memory_v2_fn memory_v2;
	nvml_memory_fn memory;
	nvml_dev_uint_fn power, power_limit;
	nvml_dev_ull_fn energy;
	nvml_dev_enum_uint_fn temperature, clock, pcie;
	nvml_dev_ull_fn clock_reasons;
	nvml_ecc_fn ecc;
	nvml_processes_fn processes;
	nvml_proc_util_fn proc_util;
	nvml_field_values_fn field_values;
	nvml_event_set_create_fn event_set_create;
	nvml_register_events_fn register_events;
	nvml_dev_ull_fn supported_events;
	nvml_event_set_wait_fn event_set_wait;
	nvml_event_set_free_fn event_set_free;
	nvml_gpm_support_fn gpm_support;
	nvml_gpm_sample_alloc_fn gpm_alloc;
	nvml_gpm_sample_free_fn gpm_free;
	nvml_gpm_sample_get_fn gpm_sample;
	nvml_gpm_mig_sample_get_fn gpm_mig_sample;
	nvml_gpm_metrics_get_fn gpm_metrics;
	nvml_mig_mode_fn mig_mode;
	nvml_dev_uint_fn mig_max;
	nvml_mig_handle_fn mig_handle;
	nvml_dev_uint_fn gpu_instance_id, compute_instance_id;
	/* The name each entry point above was resolved under, by its place
	 * among them (NVML_FN_INDEX): what the watchdog names when a call
	 * hangs. Static strings of the symbol table; NULL when absent. */
	const char *called[NVML_NSYMS];
};

/* Where an entry point sits among the function pointers of struct
 * nvml_lib: all pointer-sized (dlsym's addresses), so without padding. */
#define NVML_FN_INDEX(field)                                                             \
	((offsetof(struct nvml_lib, field) - offsetof(struct nvml_lib, init)) /          \
	 sizeof(void *))
_Static_assert(offsetof(struct nvml_lib, called) - offsetof(struct nvml_lib, init) <=
		   NVML_NSYMS * sizeof(void *),
	       "more NVML entry points than NVML_NSYMS");

/* Call the NVML entry point `fn` of st's library with the call named to the
 * watchdog (am_call_begin), so a poll, init or rescan stuck in the driver is
 * logged as "stuck in nvmlDeviceGetPowerUsage". Nothing allocated. */
#define NVML(st, fn, ...)                                                                \
	({                                                                               \
		__typeof__((st)->lib.fn(__VA_ARGS__)) nvml_r_;                           \
		am_call_begin((st)->ctx, (st)->lib.called[NVML_FN_INDEX(fn)]);           \
		nvml_r_ = (st)->lib.fn(__VA_ARGS__);                                     \
		am_call_end((st)->ctx);                                                  \
		nvml_r_;                                                                 \
	})

/* Symbol table for am_dl_bind: the newest name first, older ones after (a
 * driver may lack a symbol its header declares). Without the four required
 * entry points the library is not NVML. */
static void nvml_sym_table(struct nvml_lib *l, struct am_dl_sym t[NVML_NSYMS], size_t *n)
{
	size_t k = 0;
/* clang-format off */
#define S(req, field, ...) if (k < NVML_NSYMS) t[k++] = (struct am_dl_sym){{__VA_ARGS__, NULL}, (void **)&l->field, req}
	/* clang-format on */
	S(true, init, "nvmlInit_v2", "nvmlInit");
	S(true, shutdown, "nvmlShutdown");
	S(false, error_string, "nvmlErrorString");
	S(false, driver_version, "nvmlSystemGetDriverVersion");
	S(true, count, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
	S(true, handle_by_index, "nvmlDeviceGetHandleByIndex_v2",
	  "nvmlDeviceGetHandleByIndex");
	S(false, name, "nvmlDeviceGetName");
	S(false, uuid, "nvmlDeviceGetUUID");
	S(false, serial, "nvmlDeviceGetSerial");
	/* _v1 has another layout again; without _v3/_v2 pci_bus_id stays
	 * empty. _v2 is resolved on its own: its layout is not _v3's. */
	S(false, pci_info, "nvmlDeviceGetPciInfo_v3");
	S(false, pci_info_v2, "nvmlDeviceGetPciInfo_v2");
	S(false, numa_node, "nvmlDeviceGetNumaNodeId");
	/* /dev/nvidia<minor>: the device of cgroup device lists */
	S(false, minor, "nvmlDeviceGetMinorNumber");
	S(false, utilization, "nvmlDeviceGetUtilizationRates");
	S(false, samples, "nvmlDeviceGetSamples");
	S(false, memory_v2, "nvmlDeviceGetMemoryInfo_v2");
	S(false, memory, "nvmlDeviceGetMemoryInfo");
	S(false, power, "nvmlDeviceGetPowerUsage");
	S(false, power_limit, "nvmlDeviceGetEnforcedPowerLimit");
	S(false, energy, "nvmlDeviceGetTotalEnergyConsumption");
	S(false, temperature, "nvmlDeviceGetTemperature");
	S(false, clock, "nvmlDeviceGetClockInfo");
	S(false, pcie, "nvmlDeviceGetPcieThroughput");
	S(false, clock_reasons, "nvmlDeviceGetCurrentClocksEventReasons",
	  "nvmlDeviceGetCurrentClocksThrottleReasons");
	S(false, ecc, "nvmlDeviceGetTotalEccErrors");
	/* The entry size differs by version (16, 24, or 32 bytes on
	 * 535.43-535.86): nvml_proc_stride. */
	S(false, processes, "nvmlDeviceGetComputeRunningProcesses_v3",
	  "nvmlDeviceGetComputeRunningProcesses_v2",
	  "nvmlDeviceGetComputeRunningProcesses");
	S(false, proc_util, "nvmlDeviceGetProcessUtilization");
	S(false, field_values, "nvmlDeviceGetFieldValues");
	S(false, event_set_create, "nvmlEventSetCreate");
	S(false, register_events, "nvmlDeviceRegisterEvents");
	S(false, supported_events, "nvmlDeviceGetSupportedEventTypes");
	/* v1 fills a smaller struct; only v2 is used. */
	S(false, event_set_wait, "nvmlEventSetWait_v2");
	S(false, event_set_free, "nvmlEventSetFree");
	S(false, gpm_support, "nvmlGpmQueryDeviceSupport");
	S(false, gpm_alloc, "nvmlGpmSampleAlloc");
	S(false, gpm_free, "nvmlGpmSampleFree");
	S(false, gpm_sample, "nvmlGpmSampleGet");
	S(false, gpm_mig_sample, "nvmlGpmMigSampleGet");
	S(false, gpm_metrics, "nvmlGpmMetricsGet");
	S(false, mig_mode, "nvmlDeviceGetMigMode");
	S(false, mig_max, "nvmlDeviceGetMaxMigDeviceCount");
	S(false, mig_handle, "nvmlDeviceGetMigDeviceHandleByIndex");
	S(false, gpu_instance_id, "nvmlDeviceGetGpuInstanceId");
	S(false, compute_instance_id, "nvmlDeviceGetComputeInstanceId");
#undef S
	*n = k;
}

/* After am_dl_bind: the name each bound entry point was found under (the
 * versioned one or an older fallback), for NVML() to name to the watchdog. */
static void nvml_name_calls(struct nvml_lib *l, const struct am_dl_sym *t, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t i =
		    (size_t)((char *)t[k].slot - (char *)&l->init) / sizeof(void *);

		if (!*t[k].slot || i >= NVML_NSYMS)
			continue;
		l->called[i] = t[k].names[0];
		for (int j = 0; j < 4 && t[k].names[j]; j++)
			if (dlsym(l->dl, t[k].names[j]) == *t[k].slot) {
				l->called[i] = t[k].names[j];
				break;
			}
	}
}

/* Families, registered at init. */
enum nvml_fam {
	F_INFO,
	F_UP,
	F_UTIL,
	F_BUSY,
	F_BUSY_SMP,
	F_MEMUTIL,
	F_MEM_USED,
	F_MEM_TOTAL,
	F_POWER,
	F_PLIMIT,
	F_ENERGY,
	F_ENERGY_INT,
	F_TEMP,
	F_CLOCK,
	F_THROTTLE,
	F_PCIE_TX,
	F_PCIE_RX,
	F_ECC,
	F_PROCS,
	F_NVL_TX,
	F_NVL_RX,
	F_EVENTS,
	F_SM_ACTIVE,
	F_SM_ACTIVE_S,
	F_SM_OCC,
	F_TENSOR,
	F_TENSOR_S,
	F_DRAM_BW,
	F_COUNT
};

/* The families NVML feeds: schema families (accelmon/schema.h) with how
 * NVML's units reach the core (scale turns them into base units), and two
 * of NVML's own. */
static const struct nvml_fam_use {
	bool std;
	enum am_std which;
	struct am_std_use use;
} nvml_std[F_COUNT] = {
#define STD(w, k, sc) {true, w, {.kind = k, .scale = sc}}
    [F_INFO] = STD(AM_STD_ACCEL_INFO, AM_INFO, 0),
    [F_UP] = STD(AM_STD_ACCEL_UP, AM_GAUGE, 0),
    [F_UTIL] = STD(AM_STD_UTILIZATION, AM_GAUGE, 0),
    [F_BUSY] = STD(AM_STD_BUSY_SECONDS, AM_INTEGRAL, 0),
    /* from the driver's samples: percent x microseconds, summed exactly */
    [F_BUSY_SMP] = STD(AM_STD_BUSY_SECONDS, AM_COUNTER, 1e-8),
    [F_MEM_USED] = STD(AM_STD_MEMORY_USED, AM_GAUGE, 0),
    [F_MEM_TOTAL] = STD(AM_STD_MEMORY_TOTAL, AM_GAUGE, 0),
    [F_POWER] = STD(AM_STD_POWER, AM_GAUGE, 1e-3),
    [F_PLIMIT] = STD(AM_STD_POWER_LIMIT, AM_GAUGE, 1e-3),
    /* NVML's energy counter, in mJ; without it, the core integrates the
     * power gauge (AM_DERIVE_INTEGRAL, joules: scale 1). */
    [F_ENERGY] = STD(AM_STD_ENERGY, AM_COUNTER, 1e-3),
    [F_ENERGY_INT] = STD(AM_STD_ENERGY, AM_COUNTER, 0),
    [F_TEMP] = STD(AM_STD_TEMPERATURE, AM_GAUGE, 0),
    [F_CLOCK] = STD(AM_STD_CLOCK, AM_GAUGE, 1e6),
    [F_THROTTLE] = STD(AM_STD_THROTTLED_SECONDS, AM_INTEGRAL, 0),
    /* throughput in KiB/s (20 ms samples) integrated over polls */
    [F_PCIE_TX] = STD(AM_STD_PCIE_TRANSMIT_BYTES, AM_INTEGRAL, 1024),
    [F_PCIE_RX] = STD(AM_STD_PCIE_RECEIVE_BYTES, AM_INTEGRAL, 1024),
    /* volatile counters; NVML does not count per block (block="") */
    [F_ECC] = STD(AM_STD_ECC_ERRORS, AM_COUNTER, 0),
    [F_NVL_TX] = STD(AM_STD_NVLINK_TRANSMIT_BYTES, AM_COUNTER, 1024),
    [F_NVL_RX] = STD(AM_STD_NVLINK_RECEIVE_BYTES, AM_COUNTER, 1024),
    [F_EVENTS] = STD(AM_STD_ERROR_EVENTS, AM_COUNTER, 0),
    [F_SM_ACTIVE] = STD(AM_STD_SM_ACTIVE, AM_GAUGE, 0),
    [F_SM_ACTIVE_S] = STD(AM_STD_SM_ACTIVE_SECONDS, AM_INTEGRAL, 0),
    [F_SM_OCC] = STD(AM_STD_SM_OCCUPANCY, AM_GAUGE, 0),
    [F_TENSOR] = STD(AM_STD_TENSOR_ACTIVE, AM_GAUGE, 0),
    [F_TENSOR_S] = STD(AM_STD_TENSOR_ACTIVE_SECONDS, AM_INTEGRAL, 0),
    [F_DRAM_BW] = STD(AM_STD_MEMORY_BW_UTILIZATION, AM_GAUGE, 0),
#undef STD
};

static const struct am_family_def nvml_fams[F_COUNT] = {
    [F_MEMUTIL] = {.name = "accel_memory_utilization_ratio",
		   .help = "Share of the last sample period in which device memory "
			   "was read or written (NVML utilization.memory, memory "
			   "controller).",
		   .kind = AM_GAUGE,
		   .unit = "ratio",
		   .labels = {"device", "uuid"}},
    [F_PROCS] = {.name = "accel_compute_processes",
		 .help = "Compute processes running on the device.",
		 .kind = AM_GAUGE,
		 .labels = {"device", "uuid"}},
};

/* Per-device series slots: family and the value of its third label. */
enum nvml_slot {
	S_UP,
	S_UTIL,
	S_BUSY,
	S_BUSY_SMP,
	S_MEMUTIL,
	S_MEM_USED,
	S_MEM_TOTAL,
	S_POWER,
	S_PLIMIT,
	S_ENERGY,
	S_TEMP_GPU,
	S_CLK_GR,
	S_CLK_SM,
	S_CLK_MEM,
	S_PCIE_TX,
	S_PCIE_RX,
	S_ECC_C,
	S_ECC_U,
	S_PROCS,
	S_SM_ACTIVE,
	S_SM_ACTIVE_S,
	S_SM_OCC,
	S_TENSOR,
	S_TENSOR_S,
	S_DRAM_BW,
	S_THR0,
	S_COUNT = S_THR0 + 9
};

static const struct nvml_reason {
	unsigned long long bit;
	const char *name;
} nvml_reasons[9] = {
    {NVML_CLOCKS_EVENT_GPU_IDLE, "gpu_idle"},
    {NVML_CLOCKS_EVENT_APPLICATIONS_CLOCKS_SETTING, "applications_clocks_setting"},
    {NVML_CLOCKS_EVENT_SW_POWER_CAP, "sw_power_cap"},
    {NVML_CLOCKS_EVENT_HW_SLOWDOWN, "hw_slowdown"},
    {NVML_CLOCKS_EVENT_SYNC_BOOST, "sync_boost"},
    {NVML_CLOCKS_EVENT_SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"},
    {NVML_CLOCKS_EVENT_HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"},
    {NVML_CLOCKS_EVENT_HW_POWER_BRAKE_SLOWDOWN, "hw_power_brake_slowdown"},
    {NVML_CLOCKS_EVENT_DISPLAY_CLOCK_SETTING, "display_clock_setting"},
};

static const struct {
	enum nvml_fam fam;
	const char *extra;
} nvml_slot_defs[S_COUNT] = {
    [S_UP] = {F_UP, NULL},
    [S_UTIL] = {F_UTIL, NULL},
    [S_BUSY] = {F_BUSY, NULL},
    [S_BUSY_SMP] = {F_BUSY_SMP, NULL},
    [S_MEMUTIL] = {F_MEMUTIL, NULL},
    [S_MEM_USED] = {F_MEM_USED, NULL},
    [S_MEM_TOTAL] = {F_MEM_TOTAL, NULL},
    [S_POWER] = {F_POWER, NULL},
    [S_PLIMIT] = {F_PLIMIT, NULL},
    [S_ENERGY] = {F_ENERGY, NULL},
    [S_TEMP_GPU] = {F_TEMP, "gpu"},
    [S_CLK_GR] = {F_CLOCK, "graphics"},
    [S_CLK_SM] = {F_CLOCK, "sm"},
    [S_CLK_MEM] = {F_CLOCK, "memory"},
    [S_PCIE_TX] = {F_PCIE_TX, NULL},
    [S_PCIE_RX] = {F_PCIE_RX, NULL},
    [S_ECC_C] = {F_ECC, "corrected"},
    [S_ECC_U] = {F_ECC, "uncorrected"},
    [S_PROCS] = {F_PROCS, NULL},
    [S_SM_ACTIVE] = {F_SM_ACTIVE, NULL},
    [S_SM_ACTIVE_S] = {F_SM_ACTIVE_S, NULL},
    [S_SM_OCC] = {F_SM_OCC, NULL},
    [S_TENSOR] = {F_TENSOR, NULL},
    [S_TENSOR_S] = {F_TENSOR_S, NULL},
    [S_DRAM_BW] = {F_DRAM_BW, NULL},
#define R(i) [S_THR0 + i] = {F_THROTTLE, NULL}
    R(0),
    R(1),
    R(2),
    R(3),
    R(4),
    R(5),
    R(6),
    R(7),
    R(8),
#undef R
};

/* What a probe learnt about one metric of one device. */
enum nvml_cap_state { CAP_UNKNOWN = 0, CAP_YES, CAP_NO };
enum nvml_cap {
	C_UTIL,
	C_SMP_GPU, /* nvmlDeviceGetSamples, GPU utilization */
	C_SMP_MEM, /* and memory utilization */
	C_MEM,
	C_POWER,
	C_PLIMIT,
	C_ENERGY,
	C_TEMP,
	C_CLK_GR,
	C_CLK_SM,
	C_CLK_MEM,
	C_REASONS,
	C_PCIE_TX,
	C_PCIE_RX,
	C_ECC_C,
	C_ECC_U,
	C_PROCS,
	C_FIELDS,
	C_EVENTS,
	C_GPM,
	C_PROC_UTIL, /* nvmlDeviceGetProcessUtilization */
	C_COUNT
};

/* One requested field value and the series it feeds. */
struct nvml_field {
	unsigned field, scope;
	am_series_t series;
};

struct nvml_event_count {
	char code[24];
	uint64_t n;
	am_series_t series;
};

/* The driver's own samples of one quantity (nvmlDeviceGetSamples): its
 * buffer, sized once by the driver's answer, and where the last poll left
 * off. */
struct nvml_sampler {
	nvmlSample_t *buf;
	unsigned cap;
	unsigned long long last_ts;   /* us; 0: nothing seen since (re)start */
	unsigned long long period_us; /* shortest gap seen between samples */
	uint64_t busy;		      /* GPU: percent x us, summed */
	double mean;		      /* value over the last poll, 0..1 */
	bool have_mean, wrap_logged;
};

struct nvml_dev {
	unsigned index;	    /* NVML index (parent's index for MIG) */
	int parent;	    /* -1, or the parent GPU's slot for a MIG instance */
	unsigned mig_index; /* MIG: index under the parent when last found */
	unsigned gi, ci;    /* MIG: GPU and compute instance ids */
	bool has_ci;	    /* MIG: ci is known (nvmlDeviceGetComputeInstanceId) */
	bool gi_first;	    /* MIG: first compute instance of its GPU instance */
	nvmlDevice_t h;
	char name[40]; /* "nvidia0", MIG "nvidia0-gi1-ci0" */
	char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	char model[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	char bus_id[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
	char serial[NVML_DEVICE_SERIAL_BUFFER_SIZE + 2];
	char numa[16];
	char devnum[16]; /* "195:<minor>", "" when unknown */
	bool up;     /* answered this poll */
	bool lost;   /* handle must be re-acquired */
	bool probed; /* identity strings read once */
	unsigned char cap[C_COUNT];
	am_series_t s[S_COUNT];
	am_series_t s_info, s_temp_mem;
	am_series_t s_energy_int; /* derived: the integral of S_POWER */
	/* NVLink + memory temperature through nvmlDeviceGetFieldValues */
	nvmlFieldValue_t *fv;
	struct nvml_field *fmeta;
	int nfv;
	/* GPM: two sample buffers, swapped every poll */
	struct nvml_sampler smp[2]; /* GPU, memory utilization samples */
	nvmlGpmSample_t gs[2];
	int gcur;
	bool ghave;
	int64_t gprev_ns;
	bool ev_registered;
	struct nvml_event_count ev[NVML_MAX_EVENT_CODES];
	int nev;
	/* attribution (collectors/attribution.md): this poll's device figures
	 * (NAN: none), the process list and per-process samples */
	double att_util, att_energy_j, att_power_w, att_busy_s;
	bool att_have_busy, att_have_prev_busy, att_on;
	uint64_t att_prev_busy;
	unsigned char *pbuf; /* process entries, nvml_proc_stride bytes each */
	unsigned pcap;
	nvmlProcessUtilizationSample_t *ubuf;
	unsigned ucap;
	unsigned long long u_last_ts;
};

struct nvml_state {
	struct am_ctx *ctx;
	struct nvml_lib lib;
	char library[256];
	char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
	am_family_t fam[F_COUNT];
	bool lib_ok; /* nvmlInit succeeded and no library-wide fault */
	bool need_reinit;
	unsigned event_wait_ms;
	bool read_pcie; /* nvmlDeviceGetPcieThroughput samples 20 ms per call */
	nvmlEventSet_t evset;
	struct nvml_dev *dev;
	int ndev, cap;
	unsigned ngpu;		 /* top-level GPUs known (NVML indices 0..ngpu-1) */
	unsigned last_count;	 /* nvmlDeviceGetCount at the latest poll */
	nvmlGpmMetricsGet_t *mg; /* 13 KiB: allocated once */
	struct am_attrib *att;	 /* NULL: attribution off */
	size_t proc_stride;	 /* bytes per running-process entry */
	struct am_attrib_proc *procs;
	unsigned procs_cap;
};

static const struct am_option nvml_options[] = {
    {"library", AM_OPT_STRING, "NVML library to dlopen (default libnvidia-ml.so.1)"},
    {"event_wait", AM_OPT_DURATION,
     "how long each poll waits for NVML critical events (default 10ms)"},
    {"pcie", AM_OPT_BOOL,
     "read PCIe throughput (each read blocks 20 ms per direction and GPU; default true)"},
    {"attribution", AM_OPT_BOOL,
     "accel_job_* per Slurm job, pod, container, unit or user (default true; "
     "collectors/attribution.md)"},
    {"max_jobs", AM_OPT_INT,
     "jobs per GPU with series of their own; more are \"other\" "
     "(default 16)",
     1, 62},
    AM_ATTRIB_OPTIONS,
    {NULL, 0, NULL},
};

static const char *nvml_strerror(struct nvml_state *st, nvmlReturn_t r)
{
	static __thread char buf[32];
	const char *s = st->lib.error_string ? NVML(st, error_string, r) : NULL;

	if (s)
		return s;
	snprintf(buf, sizeof(buf), "NVML error %d", r);
	return buf;
}

enum nvml_verdict { V_OK, V_ABSENT, V_DEV_FAULT, V_LIB_FAULT, V_ERROR };

/* How an NVML answer affects the device: absent metric, lost GPU, unusable
 * library (re-initialise) or a transient error (count it, retry). */
static enum nvml_verdict nvml_classify(nvmlReturn_t r)
{
	switch (r) {
	case NVML_SUCCESS:
		return V_OK;
	case NVML_ERROR_NOT_SUPPORTED:
	case NVML_ERROR_FUNCTION_NOT_FOUND:
	case NVML_ERROR_NO_PERMISSION:
	/* a struct version this library does not speak */
	case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
		return V_ABSENT;
	case NVML_ERROR_GPU_IS_LOST:
	case NVML_ERROR_GPU_NOT_FOUND:
	case NVML_ERROR_RESET_REQUIRED:
		return V_DEV_FAULT;
	case NVML_ERROR_UNINITIALIZED:
	case NVML_ERROR_DRIVER_NOT_LOADED:
	case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
		return V_LIB_FAULT;
	default:
		return V_ERROR;
	}
}

static void nvml_mark_down(struct nvml_state *st, struct nvml_dev *d, nvmlReturn_t r,
			   const char *what)
{
	if (d->up)
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: %s; reporting it down", d->name,
		       what, nvml_strerror(st, r));
	d->up = false;
	d->lost = true;
	if (nvml_classify(r) == V_LIB_FAULT)
		st->need_reinit = true;
}

/* Check one answer for capability `cap` of d. True when the value is valid. */
static bool nvml_ok(struct nvml_state *st, struct nvml_dev *d, int cap, nvmlReturn_t r,
		    const char *what)
{
	switch (nvml_classify(r)) {
	case V_OK:
		if (cap >= 0)
			d->cap[cap] = CAP_YES;
		return true;
	case V_ABSENT:
		if (cap >= 0 && d->cap[cap] != CAP_NO) {
			d->cap[cap] = CAP_NO;
			am_log(st->ctx, AM_LOG_DEBUG, "%s: %s: %s; metric omitted",
			       d->name, what, nvml_strerror(st, r));
		}
		return false;
	case V_DEV_FAULT:
	case V_LIB_FAULT:
		nvml_mark_down(st, d, r, what);
		return false;
	default:
		am_read_error(st->ctx);
		am_log(st->ctx, AM_LOG_WARN, "%s: %s: %s", d->name, what,
		       nvml_strerror(st, r));
		return false;
	}
}

/* Whether to call for capability cap: the symbol exists and no probe said
 * the device lacks it. */
static bool nvml_want(struct nvml_dev *d, int cap, bool have_symbol)
{
	if (!have_symbol)
		d->cap[cap] = CAP_NO;
	return d->up && d->cap[cap] != CAP_NO;
}

static am_series_t nvml_series(struct nvml_state *st, int fam, const char *const *lv)
{
	if (st->fam[fam] < 0)
		return AM_SERIES_INVALID;
	return am_series(st->ctx, st->fam[fam], lv);
}

static am_series_t nvml_slot_series(struct nvml_state *st, struct nvml_dev *d, int slot)
{
	if (d->s[slot] == AM_SERIES_INVALID) {
		const char *extra = nvml_slot_defs[slot].extra;
		const char *lv[4] = {d->name, d->uuid, NULL, NULL};

		if (slot >= S_THR0)
			extra = nvml_reasons[slot - S_THR0].name;
		lv[2] = extra;
		if (nvml_slot_defs[slot].fam == F_ECC)
			lv[3] = ""; /* block: NVML counts per device */
		d->s[slot] = nvml_series(st, nvml_slot_defs[slot].fam, lv);
	}
	return d->s[slot];
}

static void nvml_put(struct nvml_state *st, struct nvml_dev *d, int slot, double v)
{
	am_series_t s = nvml_slot_series(st, d, slot);

	if (s != AM_SERIES_INVALID)
		am_emit(st->ctx, s, v);
}

/* Counters go through am_emit_u64 so readings past 2^53 keep every bit. */
static void nvml_put_u64(struct nvml_state *st, struct nvml_dev *d, int slot,
			 unsigned long long v)
{
	am_series_t s = nvml_slot_series(st, d, slot);

	if (s != AM_SERIES_INVALID)
		am_emit_u64(st->ctx, s, v);
}

static void nvml_reset_series(struct nvml_dev *d)
{
	for (int i = 0; i < S_COUNT; i++)
		d->s[i] = AM_SERIES_INVALID;
	d->s_info = AM_SERIES_INVALID;
	d->s_temp_mem = AM_SERIES_INVALID;
	d->s_energy_int = AM_SERIES_INVALID;
	for (int i = 0; i < d->nfv; i++)
		d->fmeta[i].series = AM_SERIES_INVALID;
	for (int i = 0; i < d->nev; i++)
		d->ev[i].series = AM_SERIES_INVALID;
}

/* NUMA node: NVML where it has the call, else the PCI function's sysfs
 * identity (NVML's bus id has an 8-digit domain, sysfs a 4-digit lower-case
 * one). */
static void nvml_probe_numa(struct nvml_state *st, struct nvml_dev *d)
{
	unsigned node, dom, bus, dev, fn;
	struct am_pci_id id;
	char path[512];

	d->numa[0] = '\0';
	if (st->lib.numa_node && NVML(st, numa_node, d->h, &node) == NVML_SUCCESS) {
		snprintf(d->numa, sizeof(d->numa), "%u", node);
		return;
	}
	if (sscanf(d->bus_id, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return;
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%04x:%02x:%02x.%x",
		 am_sysfs(st->ctx), dom, bus, dev, fn);
	if (am_pci_identity(path, &id) == 0 && id.numa_node >= 0)
		snprintf(d->numa, sizeof(d->numa), "%d", id.numa_node);
}

/* The bus id in NVML's current form ("00000000:18:00.0"). _v3 (R410 on)
 * has it at the end of its struct; before R410 only _v2 exists and fills
 * the 52-byte legacy struct, whose busId[16] comes first with a 4-digit
 * domain: reformatted, so every driver exports the same form. */
static void nvml_pci_bus_id(struct nvml_state *st, struct nvml_dev *d)
{
	union {
		nvmlPciInfo_t v3;
		nvmlPciInfoLegacy_t v2;
	} pci;
	unsigned dom, bus, dev, fn;

	memset(&pci, 0, sizeof(pci));
	d->bus_id[0] = '\0';
	if (st->lib.pci_info) {
		if (NVML(st, pci_info, d->h, &pci.v3) == NVML_SUCCESS) {
			pci.v3.busId[sizeof(pci.v3.busId) - 1] = '\0';
			snprintf(d->bus_id, sizeof(d->bus_id), "%s", pci.v3.busId);
		}
		return;
	}
	if (!st->lib.pci_info_v2 || NVML(st, pci_info_v2, d->h, &pci.v2) != NVML_SUCCESS)
		return;
	pci.v2.busId[sizeof(pci.v2.busId) - 1] = '\0';
	if (sscanf(pci.v2.busId, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) == 4)
		snprintf(d->bus_id, sizeof(d->bus_id), "%08X:%02X:%02X.%X", dom, bus, dev,
			 fn);
}

/* Identity strings for accel_info. MIG instances inherit the parent's PCI,
 * serial and NUMA node. */
static void nvml_probe_info(struct nvml_state *st, struct nvml_dev *d)
{
	d->model[0] = d->serial[0] = '\0';
	if (st->lib.name &&
	    NVML(st, name, d->h, d->model, sizeof(d->model)) != NVML_SUCCESS)
		d->model[0] = '\0';
	if (d->parent >= 0) {
		const struct nvml_dev *p = &st->dev[d->parent];

		memcpy(d->bus_id, p->bus_id, sizeof(d->bus_id));
		memcpy(d->serial, p->serial, sizeof(d->serial));
		memcpy(d->numa, p->numa, sizeof(d->numa));
		return;
	}
	nvml_pci_bus_id(st, d);
	if (st->lib.serial && NVML(st, serial, d->h, d->serial,
				   NVML_DEVICE_SERIAL_BUFFER_SIZE) != NVML_SUCCESS)
		d->serial[0] = '\0';
	nvml_probe_numa(st, d);
	{
		unsigned minor;

		/* 195 is the NVIDIA character major (nvidia.ko, fixed) */
		d->devnum[0] = '\0';
		if (st->lib.minor && NVML(st, minor, d->h, &minor) == NVML_SUCCESS)
			snprintf(d->devnum, sizeof(d->devnum), "195:%u", minor);
	}
}

static void nvml_sampler_free(struct nvml_sampler *sp)
{
	free(sp->buf);
	memset(sp, 0, sizeof(*sp));
}

static void nvml_gpm_free(struct nvml_state *st, struct nvml_dev *d)
{
	for (int i = 0; i < 2; i++) {
		if (d->gs[i] && st->lib.gpm_free)
			NVML(st, gpm_free, d->gs[i]);
		d->gs[i] = NULL;
	}
	d->ghave = false;
}

/* GPU and compute instance ids of MIG handle h; false when NVML does not
 * answer. ci is left 0 (and *has_ci false) without the compute instance
 * call. */
static bool nvml_mig_ids(struct nvml_state *st, nvmlDevice_t h, unsigned *gi,
			 unsigned *ci, bool *has_ci)
{
	if (NVML(st, gpu_instance_id, h, gi) != NVML_SUCCESS)
		return false;
	*ci = 0;
	*has_ci = st->lib.compute_instance_id &&
		  NVML(st, compute_instance_id, h, ci) == NVML_SUCCESS;
	return true;
}

/* Find MIG device d (its gi and ci) among parent p's MIG handles: the
 * index it had first, then every index. True with *h set when found. */
static bool nvml_mig_lookup(struct nvml_state *st, const struct nvml_dev *p,
			    struct nvml_dev *d, nvmlDevice_t *h)
{
	unsigned max = 0, gi, ci;
	bool has_ci;

	if (NVML(st, mig_max, p->h, &max) != NVML_SUCCESS)
		return false;
	for (unsigned k = 0; k <= max; k++) {
		unsigned m = k == 0 ? d->mig_index : k - 1;

		if ((k > 0 && m == d->mig_index) || m >= max ||
		    NVML(st, mig_handle, p->h, m, h) != NVML_SUCCESS ||
		    !nvml_mig_ids(st, *h, &gi, &ci, &has_ci))
			continue;
		if (gi == d->gi && ci == d->ci && has_ci == d->has_ci) {
			d->mig_index = m;
			return true;
		}
	}
	return false;
}

/* A fresh handle for d (after a loss or a re-init). A different UUID at the
 * same index is another GPU: its series get new labels. */
static bool nvml_acquire(struct nvml_state *st, struct nvml_dev *d)
{
	char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = "";
	nvmlDevice_t h;
	nvmlReturn_t r;

	if (d->parent >= 0) {
		const struct nvml_dev *p = &st->dev[d->parent];

		if (!p->up)
			return false;
		/* The instance, wherever a reconfiguration put it. */
		r = nvml_mig_lookup(st, p, d, &h) ? NVML_SUCCESS : NVML_ERROR_NOT_FOUND;
	} else {
		r = NVML(st, handle_by_index, d->index, &h);
	}
	if (r == NVML_SUCCESS && st->lib.uuid)
		r = NVML(st, uuid, h, uuid, sizeof(uuid));
	if (r != NVML_SUCCESS) {
		if (nvml_classify(r) == V_LIB_FAULT)
			st->need_reinit = true;
		am_log(st->ctx, AM_LOG_WARN, "%s: still unavailable: %s", d->name,
		       nvml_strerror(st, r));
		return false;
	}
	d->h = h;
	if (!d->probed || strcmp(uuid, d->uuid) != 0) {
		if (d->probed)
			am_log(st->ctx, AM_LOG_WARN, "%s: UUID changed from %s to %s",
			       d->name, d->uuid, uuid);
		snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
		/* Another GPU: forget what was learnt about the old one. */
		free(d->fv);
		free(d->fmeta);
		d->fv = NULL;
		d->fmeta = NULL;
		d->nfv = 0;
		d->nev = 0;
		for (int k = 0; k < 2; k++)
			nvml_sampler_free(&d->smp[k]);
		nvml_reset_series(d);
		memset(d->cap, 0, sizeof(d->cap));
		nvml_probe_info(st, d);
	} else if (d->lost) {
		am_log(st->ctx, AM_LOG_INFO, "%s: available again", d->name);
	}
	d->probed = true;
	d->up = true;
	d->lost = false;
	/* No sample pairs or integration across the outage. */
	nvml_gpm_free(st, d);
	for (int k = 0; k < 2; k++)
		d->smp[k].last_ts = 0;
	d->ev_registered = false;
	return true;
}

static void nvml_emit_info(struct nvml_state *st, struct nvml_dev *d)
{
	if (d->s_info == AM_SERIES_INVALID) {
		/* the schema's identity labels; no firmware version read */
		const char *lv[9] = {d->name,	d->uuid, "nvidia",   d->model, d->serial,
				     d->bus_id, d->numa, st->driver, ""};

		d->s_info = nvml_series(st, F_INFO, lv);
	}
	if (d->s_info != AM_SERIES_INVALID)
		am_emit(st->ctx, d->s_info, 1);
}

/* ---- the metrics of one device ---- */

static const struct {
	int type, cap;
	const char *what;
} nvml_smp_types[2] = {
    {NVML_GPU_UTILIZATION_SAMPLES, C_SMP_GPU, "GPU utilization samples"},
    {NVML_MEMORY_UTILIZATION_SAMPLES, C_SMP_MEM, "memory utilization samples"},
};

/* Size the buffer by the driver's answer to samples = NULL (how many it
 * holds; rings of current drivers are about a hundred). Allocates only when
 * that grew; `headroom` (after INSUFFICIENT_SIZE) leaves room for a ring
 * still filling up, which the first ask (all of it) would otherwise chase.
 * A ring above NVML_SAMPLES_MAX entries (16 MiB) is not taken:
 * NOT_SUPPORTED, so the device uses the utilization rates instead. */
static nvmlReturn_t nvml_sampler_size(struct nvml_state *st, struct nvml_dev *d,
				      int which, bool headroom)
{
	struct nvml_sampler *sp = &d->smp[which];
	unsigned n = 0, cap;
	int vt = 0;
	nvmlReturn_t r =
	    NVML(st, samples, d->h, nvml_smp_types[which].type, 0, &vt, &n, NULL);
	nvmlSample_t *nb;

	if (r == NVML_ERROR_NOT_FOUND) /* none yet: a guess, grown on demand */
		r = NVML_SUCCESS, n = 0;
	if (r != NVML_SUCCESS)
		return r;
	if (n > NVML_SAMPLES_MAX)
		return NVML_ERROR_NOT_SUPPORTED;
	cap = headroom ? n + n / 2 + 64 : n < 64 ? 64 : n;
	if (cap <= sp->cap)
		return NVML_SUCCESS;
	nb = realloc(sp->buf, cap * sizeof(*nb));
	if (!nb)
		return NVML_ERROR_UNKNOWN;
	sp->buf = nb;
	sp->cap = cap;
	return NVML_SUCCESS;
}

static double nvml_value_double(int type, const nvmlValue_t *v)
{
	switch (type) {
	case NVML_VALUE_TYPE_DOUBLE:
		return v->dVal;
	case NVML_VALUE_TYPE_UNSIGNED_INT:
		return v->uiVal;
	case NVML_VALUE_TYPE_UNSIGNED_LONG:
		return (double)v->ulVal;
	case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG:
		return (double)v->ullVal;
	case NVML_VALUE_TYPE_SIGNED_LONG_LONG:
		return (double)v->sllVal;
	case NVML_VALUE_TYPE_SIGNED_INT:
		return v->siVal;
	case NVML_VALUE_TYPE_UNSIGNED_SHORT:
		return v->usVal;
	default:
		return NAN;
	}
}

/* Take the samples since the last seen timestamp: each stands for the time
 * since the one before it, so their sum is exact whatever the poll
 * interval. The first answer after a (re)start only sets where to go on
 * from. A gap of more than twice the sample period means the driver's ring
 * wrapped between polls: the first sample after it stands for the gap (so
 * busy time stays within elapsed time), said once. */
static void nvml_sampler_take(struct nvml_state *st, struct nvml_dev *d, int which,
			      unsigned n, int vt)
{
	struct nvml_sampler *sp = &d->smp[which];
	double span = 0, sum = 0;

	/* in time order (a driver's ring may answer from its write position) */
	for (unsigned i = 1; i < n; i++)
		for (unsigned k = i;
		     k > 0 && sp->buf[k - 1].timeStamp > sp->buf[k].timeStamp; k--) {
			nvmlSample_t t = sp->buf[k];

			sp->buf[k] = sp->buf[k - 1];
			sp->buf[k - 1] = t;
		}
	if (sp->last_ts == 0) { /* history before the start is not ours */
		if (n)
			sp->last_ts = sp->buf[n - 1].timeStamp;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned long long ts = sp->buf[i].timeStamp, dt;
		double v = nvml_value_double(vt, &sp->buf[i].sampleValue);

		if (ts <= sp->last_ts || !isfinite(v))
			continue;
		dt = ts - sp->last_ts;
		if (sp->period_us && dt > 2 * sp->period_us && !sp->wrap_logged) {
			sp->wrap_logged = true;
			am_log(st->ctx, AM_LOG_INFO,
			       "%s: %s: %.3f s without samples (the driver keeps %u "
			       "of %.0f ms): poll more often for exact busy time",
			       d->name, nvml_smp_types[which].what, (double)dt / 1e6, n,
			       (double)sp->period_us / 1e3);
		} else if (!sp->period_us || dt < sp->period_us) {
			sp->period_us = dt;
		}
		v = v < 0 ? 0 : v > 100 ? 100 : v;
		sp->busy += (uint64_t)(v * (double)dt + 0.5);
		sum += v * (double)dt;
		span += (double)dt;
		sp->last_ts = ts;
	}
	if (span > 0) {
		sp->mean = sum / span / 100;
		sp->have_mean = true;
	}
}

/* One poll of the driver's samples of type `which`. True when this device
 * is read this way (the utilization rates call is then not needed for it),
 * also when this poll had nothing new; false to use the fallback. */
static bool nvml_poll_sampler(struct nvml_state *st, struct nvml_dev *d, int which)
{
	struct nvml_sampler *sp = &d->smp[which];
	int cap = nvml_smp_types[which].cap, vt = 0;
	unsigned n;
	nvmlReturn_t r;

	if (!nvml_want(d, cap, st->lib.samples != NULL))
		return false;
	if (!sp->buf) {
		r = nvml_sampler_size(st, d, which, false);
		if (!nvml_ok(st, d, cap, r, nvml_smp_types[which].what))
			return d->cap[cap] == CAP_YES;
	}
	n = sp->cap;
	r = NVML(st, samples, d->h, nvml_smp_types[which].type, sp->last_ts, &vt, &n,
		 sp->buf);
	if (r == NVML_ERROR_NOT_FOUND) { /* no sample since last_ts */
		r = NVML_SUCCESS;
		n = 0;
	} else if (r == NVML_ERROR_INSUFFICIENT_SIZE) {
		/* more than the buffer holds: grow it, take them next poll */
		r = nvml_sampler_size(st, d, which, true);
		n = 0;
	}
	if (nvml_classify(r) == V_ABSENT && d->cap[cap] == CAP_YES)
		return true; /* keep the series' kind: no value this poll */
	if (!nvml_ok(st, d, cap, r, nvml_smp_types[which].what))
		return d->cap[cap] == CAP_YES;
	nvml_sampler_take(st, d, which, n > sp->cap ? sp->cap : n, vt);
	if (which == 0)
		nvml_put_u64(st, d, S_BUSY_SMP, sp->busy);
	if (which == 0) {
		/* the busy time of this poll, exactly as accel_busy_seconds_total
		 * grows (percent x us) */
		if (d->att_have_prev_busy && sp->busy >= d->att_prev_busy) {
			d->att_busy_s = (double)(sp->busy - d->att_prev_busy) * 1e-8;
			d->att_have_busy = true;
		}
		d->att_prev_busy = sp->busy;
		d->att_have_prev_busy = true;
	}
	if (sp->have_mean)
		nvml_put(st, d, which == 0 ? S_UTIL : S_MEMUTIL, sp->mean);
	return true;
}

/* Utilization and busy time: from the driver's samples where it answers
 * nvmlDeviceGetSamples, else nvmlDeviceGetUtilizationRates (a point reading
 * of the driver's average over its last sample period, integrated by the
 * core over the poll interval). */
static void nvml_poll_util(struct nvml_state *st, struct nvml_dev *d)
{
	bool gpu = nvml_poll_sampler(st, d, 0), mem = nvml_poll_sampler(st, d, 1);
	nvmlUtilization_t u;

	if (gpu && mem)
		return;
	if (nvml_want(d, C_UTIL, st->lib.utilization != NULL) &&
	    nvml_ok(st, d, C_UTIL, NVML(st, utilization, d->h, &u), "utilization")) {
		if (!gpu) {
			nvml_put(st, d, S_UTIL, u.gpu / 100.0);
			nvml_put(st, d, S_BUSY, u.gpu / 100.0);
			d->att_util = u.gpu / 100.0;
		}
		if (!mem)
			nvml_put(st, d, S_MEMUTIL, u.memory / 100.0);
	}
}

static void nvml_poll_mem(struct nvml_state *st, struct nvml_dev *d)
{
	if (st->lib.memory_v2 && nvml_want(d, C_MEM, st->lib.memory_v2 != NULL)) {
		nvmlMemory_v2_t m = {.version = NVML_MEMORY_V2_VERSION};
		nvmlReturn_t r = NVML(st, memory_v2, d->h, &m);

		/* A _v2 that wants another struct version: use the v1 call
		 * from now on (one library, so for every device). */
		if (r == NVML_ERROR_ARGUMENT_VERSION_MISMATCH && st->lib.memory) {
			am_log(st->ctx, AM_LOG_INFO,
			       "nvmlDeviceGetMemoryInfo_v2: %s; using "
			       "nvmlDeviceGetMemoryInfo (its used memory includes what "
			       "the driver reserves)",
			       nvml_strerror(st, r));
			st->lib.memory_v2 = NULL;
		} else {
			if (nvml_ok(st, d, C_MEM, r, "memory info")) {
				nvml_put(st, d, S_MEM_USED, (double)m.used);
				nvml_put(st, d, S_MEM_TOTAL, (double)m.total);
			}
			return;
		}
	}
	if (nvml_want(d, C_MEM, st->lib.memory != NULL)) {
		nvmlMemory_t m;

		if (nvml_ok(st, d, C_MEM, NVML(st, memory, d->h, &m), "memory info")) {
			nvml_put(st, d, S_MEM_USED, (double)m.used);
			nvml_put(st, d, S_MEM_TOTAL, (double)m.total);
		}
	}
}

/* Without an energy counter (before Volta) energy is the core's integral of
 * the power gauge (AM_DERIVE_INTEGRAL, the one integration rule). */
static void nvml_energy_from_power(struct nvml_state *st, struct nvml_dev *d)
{
	am_series_t p = nvml_slot_series(st, d, S_POWER);
	const char *lv[2] = {d->name, d->uuid};
	struct am_derive dv = {.op = AM_DERIVE_INTEGRAL,
			       .a = p,
			       .b = AM_SERIES_INVALID,
			       .capacity = AM_SERIES_INVALID};

	if (d->s_energy_int != AM_SERIES_INVALID || p == AM_SERIES_INVALID ||
	    st->fam[F_ENERGY_INT] < 0)
		return;
	d->s_energy_int = am_series_derived(st->ctx, st->fam[F_ENERGY_INT], lv, &dv);
}

static void nvml_poll_power(struct nvml_state *st, struct nvml_dev *d)
{
	unsigned long long mj;
	unsigned mw;

	if (nvml_want(d, C_ENERGY, st->lib.energy != NULL) &&
	    nvml_ok(st, d, C_ENERGY, NVML(st, energy, d->h, &mj), "energy")) {
		nvml_put_u64(st, d, S_ENERGY, mj);
		d->att_energy_j = (double)mj / 1000.0;
	}
	if (nvml_want(d, C_POWER, st->lib.power != NULL) &&
	    nvml_ok(st, d, C_POWER, NVML(st, power, d->h, &mw), "power")) {
		if (d->cap[C_ENERGY] == CAP_NO) {
			nvml_energy_from_power(st, d);
			d->att_power_w = mw / 1000.0;
		}
		nvml_put(st, d, S_POWER, mw);
	}
	if (nvml_want(d, C_PLIMIT, st->lib.power_limit != NULL) &&
	    nvml_ok(st, d, C_PLIMIT, NVML(st, power_limit, d->h, &mw), "power limit"))
		nvml_put(st, d, S_PLIMIT, mw);
}

static void nvml_poll_clocks(struct nvml_state *st, struct nvml_dev *d)
{
	static const struct {
		int cap, slot, type;
		const char *what;
	} clk[] = {
	    {C_CLK_GR, S_CLK_GR, NVML_CLOCK_GRAPHICS, "graphics clock"},
	    {C_CLK_SM, S_CLK_SM, NVML_CLOCK_SM, "SM clock"},
	    {C_CLK_MEM, S_CLK_MEM, NVML_CLOCK_MEM, "memory clock"},
	};
	unsigned long long reasons;
	unsigned v;

	if (nvml_want(d, C_TEMP, st->lib.temperature != NULL) &&
	    nvml_ok(st, d, C_TEMP, NVML(st, temperature, d->h, NVML_TEMPERATURE_GPU, &v),
		    "temperature"))
		nvml_put(st, d, S_TEMP_GPU, v);
	for (size_t i = 0; i < sizeof(clk) / sizeof(clk[0]); i++)
		if (nvml_want(d, clk[i].cap, st->lib.clock != NULL) &&
		    nvml_ok(st, d, clk[i].cap, NVML(st, clock, d->h, clk[i].type, &v),
			    clk[i].what))
			nvml_put(st, d, clk[i].slot, v);
	if (nvml_want(d, C_REASONS, st->lib.clock_reasons != NULL) &&
	    nvml_ok(st, d, C_REASONS, NVML(st, clock_reasons, d->h, &reasons),
		    "clock event reasons"))
		for (int i = 0; i < 9; i++)
			nvml_put(st, d, S_THR0 + i,
				 (reasons & nvml_reasons[i].bit) ? 1 : 0);
}

static void nvml_poll_pcie_ecc(struct nvml_state *st, struct nvml_dev *d)
{
	unsigned long long n;
	unsigned kbs;

	if (!st->read_pcie)
		d->cap[C_PCIE_TX] = d->cap[C_PCIE_RX] = CAP_NO;
	if (nvml_want(d, C_PCIE_TX, st->lib.pcie != NULL) &&
	    nvml_ok(st, d, C_PCIE_TX, NVML(st, pcie, d->h, NVML_PCIE_UTIL_TX_BYTES, &kbs),
		    "PCIe TX throughput"))
		nvml_put(st, d, S_PCIE_TX, kbs);
	if (nvml_want(d, C_PCIE_RX, st->lib.pcie != NULL) &&
	    nvml_ok(st, d, C_PCIE_RX, NVML(st, pcie, d->h, NVML_PCIE_UTIL_RX_BYTES, &kbs),
		    "PCIe RX throughput"))
		nvml_put(st, d, S_PCIE_RX, kbs);
	if (nvml_want(d, C_ECC_C, st->lib.ecc != NULL) &&
	    nvml_ok(st, d, C_ECC_C,
		    NVML(st, ecc, d->h, NVML_MEMORY_ERROR_TYPE_CORRECTED,
			 NVML_VOLATILE_ECC, &n),
		    "corrected ECC errors"))
		nvml_put_u64(st, d, S_ECC_C, n);
	if (nvml_want(d, C_ECC_U, st->lib.ecc != NULL) &&
	    nvml_ok(st, d, C_ECC_U,
		    NVML(st, ecc, d->h, NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
			 NVML_VOLATILE_ECC, &n),
		    "uncorrected ECC errors"))
		nvml_put_u64(st, d, S_ECC_U, n);
}

/* Bytes per entry of the running-process list under the symbol bound: v1
 * (no suffix) 16, _v2 and _v3 24, except the _v3 of drivers 535.43.02 to
 * 535.86.05, which writes 32 (usedGpuCcProtectedMemory, dropped again in
 * 535.98). pid and usedGpuMemory are at offsets 0 and 8 in all of them. */
static size_t nvml_proc_stride(const struct nvml_state *st)
{
	const char *name = st->lib.called[NVML_FN_INDEX(processes)];
	unsigned a, b, c;
	size_t n;

	if (!name)
		return 0;
	n = strlen(name);
	if (n < 3 || name[n - 3] != '_')
		return 16;
	if (strcmp(name + n - 3, "_v3") == 0 &&
	    sscanf(st->driver, "%u.%u.%u", &a, &b, &c) == 3 && a == 535 &&
	    (b > 43 || (b == 43 && c >= 2)) && (b < 86 || (b == 86 && c <= 5)))
		return 32;
	return 24;
}

/* Grow *buf to hold n elements of elem bytes (a new process showed up);
 * false when out of memory (the buffer is kept). */
static bool nvml_grow(void **buf, unsigned *cap, unsigned n, size_t elem)
{
	void *nb;

	if (n <= *cap)
		return true;
	nb = realloc(*buf, (size_t)n * elem);
	if (!nb)
		return false;
	*buf = nb;
	*cap = n;
	return true;
}

/* Each listed process's SM percent since the last poll, summed over the
 * driver's samples (weights for the split; left NAN when the device does
 * not say). A process without a sample was idle: 0. */
static void nvml_proc_weights(struct nvml_state *st, struct nvml_dev *d, unsigned n)
{
	unsigned long long newest = d->u_last_ts;
	unsigned un;
	nvmlReturn_t r;

	if (n == 0 || !nvml_want(d, C_PROC_UTIL, st->lib.proc_util != NULL))
		return;
	if (!nvml_grow((void **)&d->ubuf, &d->ucap, n + 8, sizeof(*d->ubuf)))
		return;
	un = d->ucap;
	r = NVML(st, proc_util, d->h, d->ubuf, &un, d->u_last_ts);
	if (r == NVML_ERROR_NOT_FOUND) { /* nobody used it since last_ts */
		un = 0;
	} else if (r == NVML_ERROR_INSUFFICIENT_SIZE) {
		nvml_grow((void **)&d->ubuf, &d->ucap, un + 8, sizeof(*d->ubuf));
		return; /* unknown this poll */
	} else if (!nvml_ok(st, d, C_PROC_UTIL, r, "process utilization")) {
		return;
	}
	d->cap[C_PROC_UTIL] = CAP_YES;
	for (unsigned i = 0; i < n; i++)
		st->procs[i].weight = 0;
	for (unsigned k = 0; k < un && k < d->ucap; k++) {
		const nvmlProcessUtilizationSample_t *u = &d->ubuf[k];

		if (u->timeStamp <= d->u_last_ts)
			continue;
		if (u->timeStamp > newest)
			newest = u->timeStamp;
		for (unsigned i = 0; i < n; i++)
			if ((unsigned)st->procs[i].pid == u->pid)
				st->procs[i].weight += u->smUtil > 100 ? 100 : u->smUtil;
	}
	d->u_last_ts = newest;
}

/* The processes on d and their share of it (collectors/attribution.md).
 * False when the list could not be read this poll (then only the count
 * path runs). */
static bool nvml_attribute(struct nvml_state *st, struct nvml_dev *d)
{
	size_t stride = st->proc_stride;
	unsigned count = d->pcap;
	struct am_attrib_dev dev = {.device = d->name,
				    .uuid = d->uuid,
				    .busy_ratio = d->att_util,
				    .energy_j = d->att_energy_j,
				    .power_w = d->att_power_w,
				    .have_busy_s = d->att_have_busy,
				    .busy_s = d->att_busy_s,
				    .devnum = d->devnum,
				    .bus_id = d->bus_id,
				    .have_index = d->parent < 0,
				    .index = d->index};
	nvmlReturn_t r;

	r = NVML(st, processes, d->h, &count,
		 count ? (nvmlProcessInfo_t *)d->pbuf : NULL);
	if (r == NVML_ERROR_INSUFFICIENT_SIZE) {
		/* room for the answer and a few that start meanwhile */
		if (!nvml_grow((void **)&d->pbuf, &d->pcap, count + 8, stride))
			return false;
		count = d->pcap;
		r = NVML(st, processes, d->h, &count, (nvmlProcessInfo_t *)d->pbuf);
		if (r == NVML_ERROR_INSUFFICIENT_SIZE)
			return false;
	}
	if (!nvml_ok(st, d, C_PROCS, r, "running processes"))
		return true;
	nvml_put(st, d, S_PROCS, count);
	if (count > d->pcap)
		count = d->pcap;
	if (!nvml_grow((void **)&st->procs, &st->procs_cap, count, sizeof(*st->procs)))
		return true;
	for (unsigned i = 0; i < count; i++) {
		const unsigned char *e = d->pbuf + (size_t)i * stride;
		unsigned pid;
		unsigned long long mem;

		memcpy(&pid, e, sizeof(pid));
		memcpy(&mem, e + 8, sizeof(mem));
		st->procs[i] = (struct am_attrib_proc){
		    .pid = (pid_t)pid,
		    .weight = NAN,
		    .mem_bytes = mem == NVML_VALUE_NOT_AVAILABLE_ULL ? NAN : (double)mem};
	}
	nvml_proc_weights(st, d, count);
	if (am_attrib_update(st->att, &dev, st->procs, count) == 0)
		d->att_on = true;
	return true;
}

/* A GPU in MIG mode (MIG instances known under it): its process list is
 * the instances' together, which are attributed on the instances. */
static bool nvml_has_mig(const struct nvml_state *st, const struct nvml_dev *d)
{
	int slot = (int)(d - st->dev);

	for (int i = 0; i < st->ndev; i++)
		if (st->dev[i].parent == slot)
			return true;
	return false;
}

/* A MIG instance alone in its GPU instance: the GPU instance's GPM SM
 * activity is its own (with several compute instances it is theirs
 * together, and NVML does not say how much is whose). */
static bool nvml_gi_alone(const struct nvml_state *st, const struct nvml_dev *d)
{
	for (int i = 0; i < st->ndev; i++)
		if (&st->dev[i] != d && st->dev[i].parent == d->parent &&
		    st->dev[i].gi == d->gi)
			return false;
	return true;
}

static void nvml_poll_procs(struct nvml_state *st, struct nvml_dev *d)
{
	unsigned count;
	nvmlReturn_t r;

	if (!nvml_want(d, C_PROCS, st->lib.processes != NULL))
		return;
	/* MIG: each instance's processes on the instance; none on the GPU
	 * (collectors/attribution.md) */
	if (am_attrib_enabled(st->att) && d->parent < 0 && d->att_on &&
	    nvml_has_mig(st, d)) {
		am_attrib_forget(st->att, d->name);
		d->att_on = false;
	}
	if (am_attrib_enabled(st->att) && st->proc_stride &&
	    (d->parent >= 0 || !nvml_has_mig(st, d)) && nvml_attribute(st, d))
		return;
	/* The count alone, as the header documents (*infoCount 0, infos
	 * NULL): SUCCESS with 0 when none run, INSUFFICIENT_SIZE with the
	 * count otherwise. No entries are written, so their size never
	 * matters. */
	count = 0;
	r = NVML(st, processes, d->h, &count, NULL);
	if (r == NVML_ERROR_INSUFFICIENT_SIZE)
		r = NVML_SUCCESS;
	if (nvml_ok(st, d, C_PROCS, r, "running processes"))
		nvml_put(st, d, S_PROCS, count);
}

static bool nvml_field_double(const nvmlFieldValue_t *f, double *out)
{
	*out = nvml_value_double(f->valueType, &f->value);
	return !isnan(*out);
}

/* First poll: ask for every field that might exist (memory temperature, the
 * NVLink data counters of every possible link and the all-links total) and
 * keep only those whose own nvmlReturn was SUCCESS. */
static void nvml_probe_fields(struct nvml_state *st, struct nvml_dev *d)
{
	int max = 1 + 2 * (NVML_NVLINK_MAX_LINKS + 1), n = 0, keep = 0;
	nvmlFieldValue_t *fv = calloc(max, sizeof(*fv));
	nvmlReturn_t r;

	if (!fv) {
		d->cap[C_FIELDS] = CAP_NO;
		return;
	}
	fv[n++].fieldId = NVML_FI_DEV_MEMORY_TEMP;
	for (unsigned l = 0; l <= NVML_NVLINK_MAX_LINKS; l++) {
		unsigned scope = l == NVML_NVLINK_MAX_LINKS ? UINT_MAX : l;

		fv[n].fieldId = NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX;
		fv[n++].scopeId = scope;
		fv[n].fieldId = NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX;
		fv[n++].scopeId = scope;
	}
	r = NVML(st, field_values, d->h, n, fv);
	if (!nvml_ok(st, d, C_FIELDS, r, "field values")) {
		free(fv);
		return;
	}
	for (int i = 0; i < n; i++)
		if (fv[i].nvmlReturn == NVML_SUCCESS)
			fv[keep++] = fv[i];
	if (keep == 0) {
		d->cap[C_FIELDS] = CAP_NO;
		free(fv);
		return;
	}
	d->fmeta = calloc(keep, sizeof(*d->fmeta));
	if (!d->fmeta) {
		d->cap[C_FIELDS] = CAP_NO;
		free(fv);
		return;
	}
	for (int i = 0; i < keep; i++) {
		d->fmeta[i].field = fv[i].fieldId;
		d->fmeta[i].scope = fv[i].scopeId;
		d->fmeta[i].series = AM_SERIES_INVALID;
	}
	d->fv = fv;
	d->nfv = keep;
}

static am_series_t nvml_field_series(struct nvml_state *st, struct nvml_dev *d,
				     struct nvml_field *m)
{
	char link[16];
	const char *lv[4] = {d->name, d->uuid, link, NULL};
	int fam;

	if (m->series != AM_SERIES_INVALID)
		return m->series;
	if (m->field == NVML_FI_DEV_MEMORY_TEMP) {
		snprintf(link, sizeof(link), "memory");
		fam = F_TEMP;
	} else {
		if (m->scope == UINT_MAX)
			snprintf(link, sizeof(link), "all");
		else
			snprintf(link, sizeof(link), "%u", m->scope);
		fam = m->field == NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX ? F_NVL_TX
									: F_NVL_RX;
	}
	m->series = nvml_series(st, fam, lv);
	return m->series;
}

static void nvml_poll_fields(struct nvml_state *st, struct nvml_dev *d)
{
	double v;

	if (!nvml_want(d, C_FIELDS, st->lib.field_values != NULL))
		return;
	if (!d->fv) {
		nvml_probe_fields(st, d);
		if (!d->fv)
			return;
	} else {
		for (int i = 0; i < d->nfv; i++) {
			memset(&d->fv[i], 0, sizeof(d->fv[i]));
			d->fv[i].fieldId = d->fmeta[i].field;
			d->fv[i].scopeId = d->fmeta[i].scope;
		}
		if (!nvml_ok(st, d, C_FIELDS, NVML(st, field_values, d->h, d->nfv, d->fv),
			     "field values"))
			return;
	}
	for (int i = 0; i < d->nfv; i++) {
		am_series_t s;

		/* Each value has its own status: a link that went down
		 * fails alone. */
		if (d->fv[i].nvmlReturn != NVML_SUCCESS) {
			enum nvml_verdict vd = nvml_classify(d->fv[i].nvmlReturn);

			if (vd == V_DEV_FAULT || vd == V_LIB_FAULT) {
				nvml_mark_down(st, d, d->fv[i].nvmlReturn, "field value");
				return;
			}
			continue;
		}
		if (!nvml_field_double(&d->fv[i], &v))
			continue;
		s = nvml_field_series(st, d, &d->fmeta[i]);
		if (s == AM_SERIES_INVALID)
			continue;
		/* NVLink KiB counters are 64-bit: keep them exact. */
		if (d->fv[i].valueType == NVML_VALUE_TYPE_UNSIGNED_LONG_LONG &&
		    d->fmeta[i].field != NVML_FI_DEV_MEMORY_TEMP)
			am_emit_u64(st->ctx, s, d->fv[i].value.ullVal);
		else
			am_emit(st->ctx, s, v);
	}
}

static const struct {
	unsigned id;
	int slot, slot_s;
} nvml_gpm_want[] = {
    {NVML_GPM_METRIC_SM_UTIL, S_SM_ACTIVE, S_SM_ACTIVE_S},
    {NVML_GPM_METRIC_SM_OCCUPANCY, S_SM_OCC, -1},
    {NVML_GPM_METRIC_ANY_TENSOR_UTIL, S_TENSOR, S_TENSOR_S},
    {NVML_GPM_METRIC_DRAM_BW_UTIL, S_DRAM_BW, -1},
};
#define NVML_GPM_NWANT (sizeof(nvml_gpm_want) / sizeof(nvml_gpm_want[0]))

static nvmlReturn_t nvml_gpm_take(struct nvml_state *st, struct nvml_dev *d,
				  nvmlGpmSample_t s)
{
	if (d->parent >= 0)
		return NVML(st, gpm_mig_sample, st->dev[d->parent].h, d->gi, s);
	return NVML(st, gpm_sample, d->h, s);
}

/* GPM: one sample per poll into the current buffer; metrics come from the
 * previous and the current one when they are >= 100 ms apart, then the
 * buffers swap. A too-short gap keeps the older sample for next time. */
static void nvml_poll_gpm(struct nvml_state *st, struct nvml_dev *d, int64_t now)
{
	const struct nvml_lib *l = &st->lib;
	nvmlGpmSupport_t sup = {.version = NVML_GPM_SUPPORT_VERSION};
	nvmlGpmMetricsGet_t *mg = st->mg;
	nvmlDevice_t support_dev;

	if (!l->gpm_alloc || !l->gpm_free || !l->gpm_metrics || !mg ||
	    (d->parent >= 0 ? !l->gpm_mig_sample : !l->gpm_sample))
		d->cap[C_GPM] = CAP_NO;
	if (!nvml_want(d, C_GPM, l->gpm_support != NULL))
		return;
	if (d->cap[C_GPM] == CAP_UNKNOWN) {
		/* MIG instances are sampled through the parent GPU. */
		support_dev = d->parent >= 0 ? st->dev[d->parent].h : d->h;
		if (!nvml_ok(st, d, C_GPM, NVML(st, gpm_support, support_dev, &sup),
			     "GPM support"))
			return;
		if (!sup.isSupportedDevice) {
			d->cap[C_GPM] = CAP_NO;
			return;
		}
	}
	if (!d->gs[0]) {
		if (NVML(st, gpm_alloc, &d->gs[0]) != NVML_SUCCESS ||
		    NVML(st, gpm_alloc, &d->gs[1]) != NVML_SUCCESS) {
			am_log(st->ctx, AM_LOG_WARN, "%s: cannot allocate GPM samples",
			       d->name);
			nvml_gpm_free(st, d);
			return;
		}
		d->gcur = 0;
		d->ghave = false;
	}
	if (!nvml_ok(st, d, C_GPM, nvml_gpm_take(st, d, d->gs[d->gcur]), "GPM sample"))
		return;
	if (!d->ghave) {
		d->ghave = true;
		d->gprev_ns = now;
		d->gcur ^= 1;
		return;
	}
	if (now - d->gprev_ns < NVML_GPM_MIN_GAP_NS)
		return;
	memset(mg, 0,
	       offsetof(nvmlGpmMetricsGet_t, metrics) +
		   NVML_GPM_NWANT * sizeof(mg->metrics[0]));
	mg->version = NVML_GPM_METRICS_GET_VERSION;
	mg->numMetrics = NVML_GPM_NWANT;
	mg->sample1 = d->gs[d->gcur ^ 1];
	mg->sample2 = d->gs[d->gcur];
	for (size_t i = 0; i < NVML_GPM_NWANT; i++)
		mg->metrics[i].metricId = nvml_gpm_want[i].id;
	d->gcur ^= 1;
	d->gprev_ns = now;
	if (!nvml_ok(st, d, C_GPM, NVML(st, gpm_metrics, mg), "GPM metrics"))
		return;
	for (size_t i = 0; i < NVML_GPM_NWANT; i++) {
		double v = mg->metrics[i].value / 100.0;

		if (mg->metrics[i].nvmlReturn != NVML_SUCCESS)
			continue;
		v = v < 0 ? 0 : v > 1 ? 1 : v;
		/* a MIG instance's busy figure for attribution: its GPU
		 * instance's SM activity, where it is the only compute
		 * instance (NVML gives no per-instance utilization) */
		if (nvml_gpm_want[i].slot == S_SM_ACTIVE && d->parent >= 0 &&
		    nvml_gi_alone(st, d))
			d->att_util = v;
		nvml_put(st, d, nvml_gpm_want[i].slot, v);
		if (nvml_gpm_want[i].slot_s >= 0)
			nvml_put(st, d, nvml_gpm_want[i].slot_s, v);
	}
}

/* Register d for the critical events it supports (once per handle). */
static void nvml_register_events(struct nvml_state *st, struct nvml_dev *d)
{
	unsigned long long types = NVML_EVENT_XID_CRITICAL | NVML_EVENT_DOUBLE_BIT_ECC |
				   NVML_EVENT_SINGLE_BIT_ECC;
	unsigned long long sup;

	if (d->ev_registered || !st->evset || d->parent >= 0)
		return;
	if (!nvml_want(d, C_EVENTS, st->lib.register_events != NULL))
		return;
	d->ev_registered = true;
	if (st->lib.supported_events) {
		if (!nvml_ok(st, d, C_EVENTS, NVML(st, supported_events, d->h, &sup),
			     "supported events"))
			return;
		types &= sup;
	}
	if (!types) {
		d->cap[C_EVENTS] = CAP_NO;
		return;
	}
	nvml_ok(st, d, C_EVENTS, NVML(st, register_events, d->h, types, st->evset),
		"register events");
}

static void nvml_count_event(struct nvml_state *st, struct nvml_dev *d,
			     const nvmlEventData_t *e)
{
	char code[24];
	int i;

	if (e->eventType == NVML_EVENT_XID_CRITICAL)
		snprintf(code, sizeof(code), "%llu", e->eventData);
	else if (e->eventType == NVML_EVENT_DOUBLE_BIT_ECC)
		snprintf(code, sizeof(code), "double_bit_ecc");
	else if (e->eventType == NVML_EVENT_SINGLE_BIT_ECC)
		snprintf(code, sizeof(code), "single_bit_ecc");
	else
		snprintf(code, sizeof(code), "0x%llx", e->eventType);
	for (i = 0; i < d->nev; i++)
		if (strcmp(d->ev[i].code, code) == 0)
			break;
	if (i == d->nev) {
		if (d->nev == NVML_MAX_EVENT_CODES) {
			am_log(st->ctx, AM_LOG_WARN,
			       "%s: too many distinct event codes, %s not counted",
			       d->name, code);
			return;
		}
		memcpy(d->ev[i].code, code, sizeof(code));
		d->ev[i].n = 0;
		d->ev[i].series = AM_SERIES_INVALID;
		d->nev++;
	}
	d->ev[i].n++;
	if (e->eventType == NVML_EVENT_XID_CRITICAL)
		am_log(st->ctx, AM_LOG_WARN, "%s: Xid %s", d->name, code);
}

/* Drain the event set: wait briefly for the first event, then take what is
 * queued without waiting (bounded, so an event storm cannot stall a poll). */
static void nvml_drain_events(struct nvml_state *st)
{
	nvmlEventData_t e;
	nvmlReturn_t r;

	if (!st->evset)
		return;
	for (int i = 0; i < NVML_MAX_EVENTS_PER_POLL; i++) {
		memset(&e, 0, sizeof(e));
		r = NVML(st, event_set_wait, st->evset, &e,
			 i == 0 ? st->event_wait_ms : 0);
		if (r == NVML_ERROR_TIMEOUT)
			break;
		if (r != NVML_SUCCESS) {
			if (nvml_classify(r) == V_LIB_FAULT)
				st->need_reinit = true;
			else if (nvml_classify(r) == V_ERROR)
				am_read_error(st->ctx);
			/* A lost GPU makes waits fail until it is back. */
			break;
		}
		for (int k = 0; k < st->ndev; k++)
			if (st->dev[k].parent < 0 && st->dev[k].h == e.device) {
				nvml_count_event(st, &st->dev[k], &e);
				break;
			}
	}
}

static void nvml_emit_events(struct nvml_state *st, struct nvml_dev *d)
{
	for (int i = 0; i < d->nev; i++) {
		struct nvml_event_count *c = &d->ev[i];

		if (c->series == AM_SERIES_INVALID) {
			const char *lv[3] = {d->name, d->uuid, c->code};

			c->series = nvml_series(st, F_EVENTS, lv);
		}
		if (c->series != AM_SERIES_INVALID)
			am_emit_u64(st->ctx, c->series, c->n);
	}
}

/* A MIG handle is a compute instance and is asked only what is its own: its
 * processes, and on the first compute instance of each GPU instance that GPU
 * instance's memory and GPM figures (shared by its compute instances, so
 * exported once). Device-level figures (utilization, power, energy, clocks,
 * temperature, throttle reasons, PCIe, ECC, NVLink, events) are asked on
 * the parent GPU only: on a MIG handle NVML answers the whole GPU's value or
 * INVALID_ARGUMENT. */
static void nvml_poll_device(struct nvml_state *st, struct nvml_dev *d, int64_t now)
{
	bool mig = d->parent >= 0;

	d->att_util = d->att_energy_j = d->att_power_w = NAN;
	d->att_have_busy = false;
	if (!mig) {
		nvml_poll_util(st, d);
		nvml_poll_power(st, d);
		nvml_poll_clocks(st, d);
		nvml_poll_pcie_ecc(st, d);
		nvml_poll_fields(st, d);
	}
	if (!mig || d->gi_first) {
		nvml_poll_mem(st, d);
		nvml_poll_gpm(st, d, now);
	}
	nvml_poll_procs(st, d);
	if (!mig)
		nvml_register_events(st, d);
}

/* ---- library lifetime ---- */

static void nvml_events_open(struct nvml_state *st)
{
	const struct nvml_lib *l = &st->lib;

	st->evset = NULL;
	if (!l->event_set_create || !l->register_events || !l->event_set_wait ||
	    !l->event_set_free)
		return;
	if (NVML(st, event_set_create, &st->evset) != NVML_SUCCESS)
		st->evset = NULL;
}

static void nvml_events_close(struct nvml_state *st)
{
	if (st->evset)
		NVML(st, event_set_free, st->evset);
	st->evset = NULL;
	for (int i = 0; i < st->ndev; i++)
		st->dev[i].ev_registered = false;
}

/* Library-wide fault (driver unloaded, library/driver mismatch): drop every
 * handle, shut NVML down and start it again; devices are re-acquired by
 * index afterwards. */
static void nvml_reinit(struct nvml_state *st)
{
	nvmlReturn_t r;

	nvml_events_close(st);
	for (int i = 0; i < st->ndev; i++) {
		nvml_gpm_free(st, &st->dev[i]);
		st->dev[i].up = false;
		st->dev[i].lost = true;
	}
	if (st->lib_ok)
		NVML(st, shutdown);
	st->lib_ok = false;
	r = NVML(st, init);
	if (r != NVML_SUCCESS) {
		am_log(st->ctx, AM_LOG_WARN, "re-initialising NVML: %s",
		       nvml_strerror(st, r));
		return;
	}
	st->lib_ok = true;
	st->need_reinit = false;
	am_log(st->ctx, AM_LOG_INFO, "NVML re-initialised");
	nvml_events_open(st);
}

static int nvml_poll(struct am_ctx *ctx, void *state)
{
	struct nvml_state *st = state;
	int64_t now = am_poll_time_ns(ctx);
	unsigned n;
	nvmlReturn_t r;

	st->ctx = ctx;
	/* A fault seen on an earlier poll is handled now (re-initialising in
	 * the poll that saw it would only meet the same fault again). */
	if (st->need_reinit || !st->lib_ok)
		nvml_reinit(st);
	/* Cheap library health check, once per poll: a driver unload or a
	 * library/driver mismatch shows up here first. */
	r = NVML(st, count, &n);
	if (st->lib_ok && nvml_classify(r) == V_LIB_FAULT) {
		am_log(ctx, AM_LOG_WARN,
		       "NVML unusable: %s; re-initialising on the next poll",
		       nvml_strerror(st, r));
		st->need_reinit = true;
	}
	if (r == NVML_SUCCESS)
		st->last_count = n;
	for (int i = 0; i < st->ndev; i++) {
		struct nvml_dev *d = &st->dev[i];

		if (!st->lib_ok || st->need_reinit) {
			d->up = false;
		} else if (d->parent >= 0 && !st->dev[d->parent].up) {
			/* A MIG instance goes with its GPU. */
			d->up = false;
			d->lost = true;
		} else if (d->lost) {
			nvml_acquire(st, d);
		}
		if (d->up)
			nvml_poll_device(st, d, now);
		if (!d->up && d->att_on) {
			/* its jobs' series go; a new interval when it is back */
			am_attrib_forget(st->att, d->name);
			d->att_on = false;
			d->att_have_prev_busy = false;
		}
	}
	if (st->lib_ok && !st->need_reinit)
		nvml_drain_events(st);
	for (int i = 0; i < st->ndev; i++) {
		struct nvml_dev *d = &st->dev[i];

		nvml_put(st, d, S_UP, d->up ? 1 : 0);
		nvml_emit_info(st, d);
		nvml_emit_events(st, d);
	}
	return 0;
}

static void nvml_unload(struct nvml_state *st)
{
	if (!st)
		return;
	if (st->dev) {
		for (int i = 0; i < st->ndev; i++) {
			if (st->lib_ok)
				nvml_gpm_free(st, &st->dev[i]);
			free(st->dev[i].fv);
			free(st->dev[i].fmeta);
			free(st->dev[i].pbuf);
			free(st->dev[i].ubuf);
			for (int k = 0; k < 2; k++)
				nvml_sampler_free(&st->dev[i].smp[k]);
		}
	}
	if (st->lib_ok) {
		nvml_events_close(st);
		NVML(st, shutdown);
	}
	free(st->dev);
	free(st->mg);
	free(st->procs);
	am_attrib_free(st->att);
	if (st->lib.dl)
		dlclose(st->lib.dl);
	free(st);
}

static void nvml_fini(struct am_ctx *ctx, void *state)
{
	struct nvml_state *st = state;

	if (st)
		st->ctx = ctx; /* its shutdown calls are named to this instance */
	nvml_unload(st);
}

/* A new device slot (grown when full: only when a device was found). The
 * slot index, or -ENOMEM. */
static int nvml_add_dev(struct nvml_state *st, unsigned index, int parent)
{
	struct nvml_dev *d;

	if (st->ndev == st->cap) {
		int cap = st->cap ? st->cap * 2 : 8;
		struct nvml_dev *nd = realloc(st->dev, (size_t)cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		st->dev = nd;
		st->cap = cap;
	}
	d = &st->dev[st->ndev];
	memset(d, 0, sizeof(*d));
	d->index = index;
	d->parent = parent;
	d->lost = true;
	nvml_reset_series(d);
	return st->ndev++;
}

static void nvml_mig_name(struct nvml_state *st, struct nvml_dev *d)
{
	unsigned idx = st->dev[d->parent].index;

	if (d->has_ci)
		snprintf(d->name, sizeof(d->name), "nvidia%u-gi%u-ci%u", idx, d->gi,
			 d->ci);
	else
		snprintf(d->name, sizeof(d->name), "nvidia%u-gi%u", idx, d->gi);
}

/* The first compute instance (lowest ci) of each GPU instance of parent
 * pslot carries the figures that cover the whole GPU instance (memory,
 * GPM), so they are exported once. */
static void nvml_mark_gi_first(struct nvml_state *st, int pslot)
{
	for (int i = 0; i < st->ndev; i++) {
		struct nvml_dev *d = &st->dev[i];

		if (d->parent != pslot)
			continue;
		d->gi_first = true;
		for (int k = 0; k < st->ndev; k++) {
			const struct nvml_dev *o = &st->dev[k];

			if (k != i && o->parent == pslot && o->gi == d->gi &&
			    (o->ci < d->ci || (o->ci == d->ci && k < i)))
				d->gi_first = false;
		}
	}
}

/* MIG: one device per MIG handle, i.e. per compute instance, named
 * nvidiaN-giG-ciC. At init and at each rescan: instances not known yet are
 * added; known ones are matched by (gi, ci), so a reconfiguration that
 * moves them is followed; one that is gone is left to the poll, which
 * reports it down (its handle no longer resolves) until it returns.
 * Allocates only for a new instance. */
static void nvml_find_mig(struct nvml_state *st, int pslot)
{
	const struct nvml_lib *l = &st->lib;
	unsigned cur = 0, pend = 0, max = 0, gi, ci;
	bool has_ci, added = false;
	nvmlDevice_t h;

	if (!l->mig_mode || !l->mig_max || !l->mig_handle || !l->gpu_instance_id)
		return;
	if (NVML(st, mig_mode, st->dev[pslot].h, &cur, &pend) != NVML_SUCCESS ||
	    cur != NVML_DEVICE_MIG_ENABLE)
		return;
	if (NVML(st, mig_max, st->dev[pslot].h, &max) != NVML_SUCCESS)
		return;
	for (unsigned m = 0; m < max; m++) {
		struct nvml_dev *d;
		int slot, k;

		if (NVML(st, mig_handle, st->dev[pslot].h, m, &h) != NVML_SUCCESS ||
		    !nvml_mig_ids(st, h, &gi, &ci, &has_ci))
			continue;
		for (k = 0; k < st->ndev; k++)
			if (st->dev[k].parent == pslot && st->dev[k].gi == gi &&
			    st->dev[k].ci == ci && st->dev[k].has_ci == has_ci)
				break;
		if (k < st->ndev)
			continue;
		slot = nvml_add_dev(st, st->dev[pslot].index, pslot);
		if (slot < 0)
			return;
		d = &st->dev[slot];
		d->mig_index = m;
		d->gi = gi;
		d->ci = ci;
		d->has_ci = has_ci;
		nvml_mig_name(st, d);
		added = true;
		if (st->last_count) /* not at init */
			am_log(st->ctx, AM_LOG_INFO, "%s: new MIG instance", d->name);
		nvml_acquire(st, d);
	}
	if (added)
		nvml_mark_gi_first(st, pslot);
}

/* A top-level GPU at NVML index i, new since the last look. */
static void nvml_add_gpu(struct nvml_state *st, unsigned i)
{
	int slot = nvml_add_dev(st, i, -1);
	struct nvml_dev *d;

	if (slot < 0)
		return;
	d = &st->dev[slot];
	snprintf(d->name, sizeof(d->name), "nvidia%u", i);
	st->ngpu = i + 1;
	if (nvml_acquire(st, d))
		nvml_find_mig(st, slot);
}

/* desc->rescan: GPUs that appeared (a reset GPU back on the bus, one
 * hot-added) from the count the latest poll saw, and MIG instances that a
 * reconfiguration created. A GPU or instance that is gone keeps its slot
 * and reads accel_up 0 until it returns. Nothing is allocated unless a
 * device is new. */
static int nvml_rescan(struct am_ctx *ctx, void *state)
{
	struct nvml_state *st = state;

	st->ctx = ctx;
	if (!st->lib_ok || st->need_reinit)
		return 0;
	for (unsigned i = st->ngpu; i < st->last_count; i++) {
		am_log(ctx, AM_LOG_INFO, "nvidia%u: new GPU", i);
		nvml_add_gpu(st, i);
	}
	for (int i = 0; i < st->ndev; i++)
		if (st->dev[i].parent < 0 && st->dev[i].up)
			nvml_find_mig(st, i);
	return 0;
}

static int nvml_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	struct nvml_state *st = calloc(1, sizeof(*st));
	const char *libname;
	unsigned n = 0, nmig;
	nvmlReturn_t r;
	int rc = -ENODEV, ngpu = 0;

	if (!st)
		return -ENOMEM;
	st->ctx = ctx;
	libname = am_cfg_string(cfg, "library", NVML_DEFAULT_LIBRARY);
	snprintf(st->library, sizeof(st->library), "%s", libname);
	st->read_pcie = am_cfg_bool(cfg, "pcie", true);
	st->event_wait_ms =
	    (unsigned)(am_cfg_duration(cfg, "event_wait", 0.01) * 1000 + 0.5);
	{
		const char *const cand[] = {st->library, NULL};
		struct am_dl_sym syms[NVML_NSYMS];
		char err[512];
		size_t nsyms;

		st->lib.dl = am_dl_open(cand, NULL, err, sizeof(err));
		if (!st->lib.dl) {
			/* dlerror() already names the file; keep it to one line. */
			am_found(ctx, "%s not found: %s", st->library, err);
			goto fail;
		}
		nvml_sym_table(&st->lib, syms, &nsyms);
		if (am_dl_bind(st->lib.dl, syms, nsyms, err, sizeof(err)) < 0) {
			am_found(ctx, "%s: %s: not NVML", st->library, err);
			goto fail;
		}
		nvml_name_calls(&st->lib, syms, nsyms);
	}
	r = NVML(st, init);
	if (r != NVML_SUCCESS) {
		am_found(ctx, "%s: nvmlInit failed: %s", st->library,
			 nvml_strerror(st, r));
		goto fail;
	}
	st->lib_ok = true;
	r = NVML(st, count, &n);
	if (r != NVML_SUCCESS || n == 0) {
		am_found(ctx, "%s: no NVIDIA GPU (%s)", st->library,
			 r == NVML_SUCCESS ? "count 0" : nvml_strerror(st, r));
		goto fail;
	}
	if (!st->lib.driver_version ||
	    NVML(st, driver_version, st->driver, sizeof(st->driver)) != NVML_SUCCESS)
		st->driver[0] = '\0';
	if (st->lib.gpm_metrics)
		st->mg = calloc(1, sizeof(*st->mg));
	/* Families are shared by name with other collectors; one that another
	 * collector defined with other labels is left out, not fatal. */
	for (int f = 0; f < F_COUNT; f++) {
		const struct nvml_fam_use *u = &nvml_std[f];

		st->fam[f] = u->std ? am_std_family(ctx, u->which, &u->use)
				    : am_family(ctx, &nvml_fams[f]);
		if (st->fam[f] < 0)
			am_log(ctx, AM_LOG_WARN,
			       "family %s not registered (%s): defined differently "
			       "elsewhere; omitted",
			       u->std ? am_std_def(u->which)->name : nvml_fams[f].name,
			       strerror(-st->fam[f]));
	}
	if (am_cfg_bool(cfg, "attribution", true)) {
		st->att = am_attrib_new(ctx, (unsigned)am_cfg_int(cfg, "max_jobs", 16));
		am_attrib_configure(st->att, cfg);
		st->proc_stride = nvml_proc_stride(st);
	}
	nvml_events_open(st);
	/* Each GPU, then its MIG instances; GPUs found later are appended. */
	for (unsigned i = 0; i < n; i++)
		nvml_add_gpu(st, i);
	if (st->ngpu < n) {
		rc = -ENOMEM;
		goto fail;
	}
	nmig = 0;
	for (int i = 0; i < st->ndev; i++) {
		nmig += st->dev[i].parent >= 0;
		ngpu += st->dev[i].parent < 0 && st->dev[i].up;
	}
	st->last_count = n;
	am_found(ctx,
		 "%u NVIDIA GPU(s) (%d answering, %u MIG instance(s)), driver %s, via %s",
		 n, ngpu, nmig, st->driver[0] ? st->driver : "unknown", st->library);
	*state = st;
	return 0;
fail:
	nvml_unload(st);
	return rc;
}

const struct am_collector nvml_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .flags = 0,
    .name = "nvml",
    .description = "NVIDIA GPUs through NVML (libnvidia-ml.so.1)",
    .options = nvml_options,
    .once_polls = 2,
    .init = nvml_init,
    .poll = nvml_poll,
    .rescan = nvml_rescan,
    .fini = nvml_fini,
};
