/* Test double of libnvidia-ml.so.1 for the nvml collector's tests: exports
 * NVML's real symbol names with the real struct layouts (collectors/nvml_api.h,
 * whose prototypes are checked against these definitions at compile time) and
 * answers from a scenario file named by $FAKE_NVML_SCENARIO (none: nvmlInit
 * says DRIVER_NOT_LOADED). Built twice: the current API, and with
 * -DFAKE_OLD_DRIVER an old driver that lacks the versioned symbols, energy,
 * field values, events, GPM, the NUMA call and MIG.
 *
 * Scenario: INI sections [global], [gpuN] (top-level GPUs, index N) and
 * [migN] (GPU instances: parent=, gpu_instance_id=). A missing key makes the
 * call that reads it answer NOT_SUPPORTED. Numbers may be "BASE+STEP": the
 * value is BASE + STEP * tick, where tick counts nvmlDeviceGetCount calls
 * (the collector makes one at init and one per poll). Faults:
 * fault = CODE@FROM-TO (every call on the device, ticks FROM..TO);
 * in [global], global_fault = CODE@FROM-TO (every call) and init = CODE;
 * hang = SYMBOL@FROM sleeps hang_seconds (default 3600) in that call;
 * xid = 79@3,48@4 delivers each Xid once from its tick on;
 * memory_v2 = CODE makes nvmlDeviceGetMemoryInfo_v2 answer CODE;
 * process_entry_size = 32 (in [global]) makes the _v3 process list write
 * 535.43-style 32-byte entries; processes = N is the count, of pids
 * process_pids = P,P,... (default: 4194304 + i, no real process) holding
 * process_memory = B,B,... bytes (default 1 GiB each);
 * process_sm_util = U,U,... is each one's SM percent for
 * nvmlDeviceGetProcessUtilization (absent: NOT_SUPPORTED).
 * Driver samples (nvmlDeviceGetSamples, GPU and memory utilization): a
 * device with sample_period_ms = P samples every P ms of fake time (a tick
 * is tick_ms, in [global], default 1000 ms; timestamps are us since the
 * epoch, tick 0 at 1700000000 s) into a ring of sample_buffer entries
 * (default 120: older ones are overwritten, the ring wraps). GPU samples
 * follow busy_wave = PERIOD_S,BUSY_S (busy for the first BUSY_S of each
 * period: each sample is the busy percent of its own period, rounded as
 * the driver's unsigned percent) or else util_gpu; memory samples are
 * util_memory. samples_answer = CODE@FROM-TO makes the call answer CODE
 * in those ticks (NOT_FOUND: the driver's empty answer). Without
 * sample_period_ms the call answers NOT_SUPPORTED. With busy_wave,
 * nvmlDeviceGetUtilizationRates answers the latest sample (a point
 * reading, as the driver's own average over its sample period).
 * present = FROM-TO,FROM-TO,... (FROM alone: from then on): the GPU or MIG
 * instance exists only in those ticks (one that appears later, vanishes,
 * comes back): outside them it is not counted or listed, and calls on its
 * handle answer GPU_IS_LOST.
 * Tests read call counts with the exported fake_nvml_calls("symbol");
 * $FAKE_NVML_TRACE names a file that gets each symbol on its first call.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_scenario.h"
#include "nvml_api.h"

/* The exported symbols are NVML's; their prototypes are NVIDIA's header,
 * which is not used here (the FAKE_SAME checks at the end stand in). */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"

#define FAKE_EXPORT __attribute__((visibility("default")))
#define FAKE_MAX_SECTIONS 24
#define FAKE_MAX_XID 8

struct fake_gpu {
	struct fake_scn scn; /* name and keys (tests/fake_scenario.h) */
	int index;	     /* gpuN: N; migN: -1 */
	int parent;	     /* migN: parent GPU's index, else -1 */
	unsigned xid_sent;   /* bit i: xid[i] delivered */
};

static struct fake_gpu fake_sec[FAKE_MAX_SECTIONS];
static int fake_nsec = -1; /* -1: scenario not loaded */
static struct fake_gpu *fake_global;
static long fake_tick;

static const struct {
	const char *name;
	nvmlReturn_t code;
} fake_codes[] = {
    {"SUCCESS", NVML_SUCCESS},
    {"UNINITIALIZED", NVML_ERROR_UNINITIALIZED},
    {"INVALID_ARGUMENT", NVML_ERROR_INVALID_ARGUMENT},
    {"NOT_SUPPORTED", NVML_ERROR_NOT_SUPPORTED},
    {"NO_PERMISSION", NVML_ERROR_NO_PERMISSION},
    {"NOT_FOUND", NVML_ERROR_NOT_FOUND},
    {"INSUFFICIENT_SIZE", NVML_ERROR_INSUFFICIENT_SIZE},
    {"DRIVER_NOT_LOADED", NVML_ERROR_DRIVER_NOT_LOADED},
    {"TIMEOUT", NVML_ERROR_TIMEOUT},
    {"FUNCTION_NOT_FOUND", NVML_ERROR_FUNCTION_NOT_FOUND},
    {"GPU_IS_LOST", NVML_ERROR_GPU_IS_LOST},
    {"RESET_REQUIRED", NVML_ERROR_RESET_REQUIRED},
    {"LIB_RM_VERSION_MISMATCH", NVML_ERROR_LIB_RM_VERSION_MISMATCH},
    {"ARGUMENT_VERSION_MISMATCH", NVML_ERROR_ARGUMENT_VERSION_MISMATCH},
    {"GPU_NOT_FOUND", NVML_ERROR_GPU_NOT_FOUND},
    {"UNKNOWN", NVML_ERROR_UNKNOWN},
};

/* ---- scenario ---- */

static int fake_load(void)
{
	int r = fake_scn_load_env("FAKE_NVML_SCENARIO", fake_sec, sizeof(fake_sec[0]),
				  FAKE_MAX_SECTIONS, &fake_nsec);

	for (int i = 0; r == 0 && i < fake_nsec; i++) {
		struct fake_gpu *g = &fake_sec[i];

		g->index =
		    strncmp(g->scn.name, "gpu", 3) == 0 ? atoi(g->scn.name + 3) : -1;
		g->parent = fake_scn_int(&g->scn, "parent", -1);
		if (strcmp(g->scn.name, "global") == 0)
			fake_global = g;
	}
	return r < 0 ? r : 0;
}

static const char *fake_str(const struct fake_gpu *g, const char *key)
{
	return g ? fake_scn_str(&g->scn, key) : NULL;
}

/* "BASE" or "BASE+STEP" (per tick); hex allowed. */
static int fake_num(const struct fake_gpu *g, const char *key, double *out)
{
	return g ? fake_scn_num(&g->scn, key, fake_tick, out) : 0;
}

static nvmlReturn_t fake_code(const char *name)
{
	for (size_t i = 0; i < sizeof(fake_codes) / sizeof(fake_codes[0]); i++)
		if (strcmp(fake_codes[i].name, name) == 0)
			return fake_codes[i].code;
	return NVML_ERROR_UNKNOWN;
}

/* CODE@FROM-TO active at the current tick? */
static nvmlReturn_t fake_window(const struct fake_gpu *g, const char *key)
{
	const char *s = fake_str(g, key);
	char name[40];
	long from = 0, to = LONG_MAX;

	if (!s || sscanf(s, "%39[A-Z_]@%ld-%ld", name, &from, &to) < 2)
		return NVML_SUCCESS;
	if (fake_tick < from || fake_tick > to)
		return NVML_SUCCESS;
	return fake_code(name);
}

/* Whether section g exists at the current tick (present = FROM[-TO],...). */
static int fake_present(const struct fake_gpu *g)
{
	const char *s = fake_str(g, "present");

	return !s || fake_scn_in_ticks(s, fake_tick);
}

/* Calls per symbol, for tests that check "probe once". */
FAKE_EXPORT long fake_nvml_calls(const char *fn)
{
	return fake_scn_calls(fn);
}

static void fake_trace(const char *fn)
{
	const char *path = getenv("FAKE_NVML_TRACE");
	FILE *f;

	if (fake_scn_count(fn) == 1 && path && (f = fopen(path, "a"))) {
		fprintf(f, "%s\n", fn);
		fclose(f);
	}
}

/* Entry checks shared by every device call: the symbol is traced, faults
 * answer, a configured hang sleeps. */
static nvmlReturn_t fake_enter(const struct fake_gpu *g, const char *fn)
{
	const char *h;
	nvmlReturn_t r;
	char name[80];
	long from;

	fake_trace(fn);
	if (fake_nsec < 0)
		return NVML_ERROR_UNINITIALIZED;
	r = fake_window(fake_global, "global_fault");
	if (r != NVML_SUCCESS)
		return r;
	if (!g)
		return NVML_ERROR_INVALID_ARGUMENT;
	/* A MIG instance shares its parent GPU's fate. */
	if (g->parent >= 0) {
		for (int i = 0; i < fake_nsec; i++)
			if (fake_sec[i].index == g->parent) {
				r = fake_window(&fake_sec[i], "fault");
				if (r != NVML_SUCCESS)
					return r;
			}
	}
	r = fake_window(g, "fault");
	if (r != NVML_SUCCESS)
		return r;
	if (!fake_present(g))
		return NVML_ERROR_GPU_IS_LOST;
	h = fake_str(g, "hang");
	if (h && sscanf(h, "%79[A-Za-z0-9_]@%ld", name, &from) == 2 &&
	    strcmp(name, fn) == 0 && fake_tick >= from) {
		double secs = 3600;

		fake_num(fake_global, "hang_seconds", &secs);
		sleep((unsigned)secs);
	}
	return NVML_SUCCESS;
}

static struct fake_gpu *fake_dev(nvmlDevice_t d)
{
	struct fake_gpu *g = (struct fake_gpu *)d;

	if (g < fake_sec || g >= fake_sec + FAKE_MAX_SECTIONS)
		return NULL;
	return g;
}

static int fake_gpu_count(void)
{
	int n = 0;

	for (int i = 0; i < fake_nsec; i++)
		n += fake_sec[i].index >= 0 && fake_present(&fake_sec[i]);
	return n;
}

static struct fake_gpu *fake_gpu_by_index(unsigned idx)
{
	for (int i = 0; i < fake_nsec; i++)
		if (fake_sec[i].index == (int)idx && fake_present(&fake_sec[i]))
			return &fake_sec[i];
	return NULL;
}

static nvmlReturn_t fake_copy(const struct fake_gpu *g, const char *key, char *buf,
			      unsigned len)
{
	const char *s = fake_str(g, key);

	if (!s)
		return NVML_ERROR_NOT_SUPPORTED;
	if (!buf || strlen(s) + 1 > len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(buf, s, strlen(s) + 1);
	return NVML_SUCCESS;
}

static nvmlReturn_t fake_uint(nvmlDevice_t dev, const char *fn, const char *key,
			      unsigned *out)
{
	struct fake_gpu *g = fake_dev(dev);
	nvmlReturn_t r = fake_enter(g, fn);
	double v;

	if (r != NVML_SUCCESS)
		return r;
	if (!out)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (!fake_num(g, key, &v))
		return NVML_ERROR_NOT_SUPPORTED;
	*out = (unsigned)v;
	return NVML_SUCCESS;
}

/* ---- init, system ---- */

static nvmlReturn_t fake_init(const char *fn)
{
	fake_trace(fn);
	if (fake_load() < 0)
		return NVML_ERROR_DRIVER_NOT_LOADED;
	if (fake_str(fake_global, "init"))
		return fake_code(fake_str(fake_global, "init"));
	return fake_window(fake_global, "global_fault");
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT nvmlReturn_t nvmlInit_v2(void)
{
	return fake_init("nvmlInit_v2");
}
#endif
FAKE_EXPORT nvmlReturn_t nvmlInit(void)
{
	return fake_init("nvmlInit");
}

FAKE_EXPORT nvmlReturn_t nvmlShutdown(void)
{
	fake_trace("nvmlShutdown");
	return NVML_SUCCESS;
}

FAKE_EXPORT const char *nvmlErrorString(nvmlReturn_t r)
{
	for (size_t i = 0; i < sizeof(fake_codes) / sizeof(fake_codes[0]); i++)
		if (fake_codes[i].code == r)
			return fake_codes[i].name;
	return "UNKNOWN";
}

FAKE_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned len)
{
	fake_trace("nvmlSystemGetDriverVersion");
	if (fake_nsec < 0)
		return NVML_ERROR_UNINITIALIZED;
	return fake_copy(fake_global, "driver_version", buf, len);
}

static nvmlReturn_t fake_count(const char *fn, unsigned *n)
{
	nvmlReturn_t r;

	fake_trace(fn);
	if (fake_nsec < 0)
		return NVML_ERROR_UNINITIALIZED;
	fake_tick++;
	r = fake_window(fake_global, "global_fault");
	if (r != NVML_SUCCESS)
		return r;
	*n = (unsigned)fake_gpu_count();
	return NVML_SUCCESS;
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n)
{
	return fake_count("nvmlDeviceGetCount_v2", n);
}
#endif
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned *n)
{
	return fake_count("nvmlDeviceGetCount", n);
}

static nvmlReturn_t fake_handle(const char *fn, unsigned i, nvmlDevice_t *d)
{
	struct fake_gpu *g = fake_gpu_by_index(i);
	nvmlReturn_t r;

	if (!g) {
		fake_trace(fn);
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	r = fake_enter(g, fn);
	if (r != NVML_SUCCESS)
		return r;
	*d = (nvmlDevice_t)g;
	return NVML_SUCCESS;
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d)
{
	return fake_handle("nvmlDeviceGetHandleByIndex_v2", i, d);
}
#endif
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned i, nvmlDevice_t *d)
{
	return fake_handle("nvmlDeviceGetHandleByIndex", i, d);
}

/* ---- identity ---- */

#define FAKE_STRING_FN(sym, key)                                                         \
	FAKE_EXPORT nvmlReturn_t sym(nvmlDevice_t d, char *buf, unsigned len)            \
	{                                                                                \
		nvmlReturn_t r = fake_enter(fake_dev(d), #sym);                          \
		return r != NVML_SUCCESS ? r : fake_copy(fake_dev(d), key, buf, len);    \
	}
FAKE_STRING_FN(nvmlDeviceGetName, "model")
FAKE_STRING_FN(nvmlDeviceGetUUID, "uuid")
FAKE_STRING_FN(nvmlDeviceGetSerial, "serial")

/* The bus id of d's scenario ("00000000:18:00.0"), after the entry checks;
 * NOT_SUPPORTED without one. */
static nvmlReturn_t fake_pci_id(const char *fn, nvmlDevice_t d, const char **id)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, fn);

	if (r != NVML_SUCCESS)
		return r;
	*id = fake_str(g, "pci_bus_id");
	return *id ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p)
{
	const char *id;
	nvmlReturn_t r = fake_pci_id("nvmlDeviceGetPciInfo_v3", d, &id);

	if (r != NVML_SUCCESS)
		return r;
	memset(p, 0, sizeof(*p));
	snprintf(p->busId, sizeof(p->busId), "%s", id);
	/* legacy form: 4-digit domain */
	snprintf(p->busIdLegacy, sizeof(p->busIdLegacy), "%s",
		 strlen(id) > 4 ? id + 4 : id);
	sscanf(id, "%x:%x:%x", &p->domain, &p->bus, &p->device);
	p->pciDeviceId = 0x233010de;
	return NVML_SUCCESS;
}

/* minor_number: /dev/nvidia<N> (cgroup device lists); absent: NOT_SUPPORTED */
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t d, unsigned *n)
{
	return fake_uint(d, "nvmlDeviceGetMinorNumber", "minor_number", n);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t d, unsigned *n)
{
	return fake_uint(d, "nvmlDeviceGetNumaNodeId", "numa_node", n);
}
#endif
/* A pre-R410 driver's _v2: the 52-byte legacy struct, busId[16] first with a
 * 4-digit domain; exactly that many bytes are written. */
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t d, nvmlPciInfoLegacy_t *p)
{
	const char *id;
	nvmlReturn_t r = fake_pci_id("nvmlDeviceGetPciInfo_v2", d, &id);

	if (r != NVML_SUCCESS)
		return r;
	memset(p, 0, sizeof(*p));
	snprintf(p->busId, sizeof(p->busId), "%s", strlen(id) > 4 ? id + 4 : id);
	sscanf(id, "%x:%x:%x", &p->domain, &p->bus, &p->device);
	p->pciDeviceId = 0x1db410de;
	return NVML_SUCCESS;
}

/* ---- readings ---- */

/* ---- driver samples ---- */

#define FAKE_EPOCH_US 1700000000000000ULL

/* Fake time of the current tick, us since the epoch. */
static unsigned long long fake_now_us(void)
{
	double tick_ms = 1000;

	fake_num(fake_global, "tick_ms", &tick_ms);
	return FAKE_EPOCH_US + (unsigned long long)((double)fake_tick * tick_ms * 1000);
}

/* Timestamp of sample k (k >= 1: the end of its period). */
static unsigned long long fake_sample_ts(double period_us, unsigned long long k)
{
	return FAKE_EPOCH_US + (unsigned long long)((double)k * period_us + 0.5);
}

/* Busy seconds of the wave in [0, t] (t seconds after the epoch). */
static double fake_wave_busy(double period_s, double busy_s, double t)
{
	double n = (double)(long long)(t / period_s), r = t - n * period_s;

	return n * busy_s + (r < busy_s ? r : busy_s);
}

/* Value of sample k of the given type, percent as the driver rounds it. */
static unsigned fake_sample_value(const struct fake_gpu *g, int type, double period_us,
				  unsigned long long k)
{
	const char *w = fake_str(g, "busy_wave");
	double ps, bs, v = 0;

	if (type == NVML_GPU_UTILIZATION_SAMPLES && w &&
	    sscanf(w, "%lf,%lf", &ps, &bs) == 2 && ps > 0) {
		double t1 = (double)k * period_us / 1e6, t0 = t1 - period_us / 1e6;

		v = 100 * (fake_wave_busy(ps, bs, t1) - fake_wave_busy(ps, bs, t0)) /
		    (t1 - t0);
	} else {
		fake_num(
		    g, type == NVML_GPU_UTILIZATION_SAMPLES ? "util_gpu" : "util_memory",
		    &v);
	}
	return (unsigned)(v + 0.5);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetSamples(nvmlDevice_t d, int type,
					      unsigned long long last_seen,
					      int *value_type, unsigned *count,
					      nvmlSample_t *samples)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetSamples");
	double period_ms, ring = 120;
	unsigned long long newest, oldest, first, n;

	if (r != NVML_SUCCESS)
		return r;
	if (!count || !value_type)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (type != NVML_GPU_UTILIZATION_SAMPLES &&
	    type != NVML_MEMORY_UTILIZATION_SAMPLES)
		return NVML_ERROR_NOT_SUPPORTED;
	if (!fake_num(g, "sample_period_ms", &period_ms) || period_ms <= 0)
		return NVML_ERROR_NOT_SUPPORTED;
	r = fake_window(g, "samples_answer");
	if (r != NVML_SUCCESS)
		return r;
	fake_num(g, "sample_buffer", &ring);
	/* samples 1..newest exist; the ring keeps the last `ring` of them */
	newest = (unsigned long long)((double)(fake_now_us() - FAKE_EPOCH_US) /
					  (period_ms * 1000) +
				      1e-6);
	while (newest && fake_sample_ts(period_ms * 1000, newest) > fake_now_us())
		newest--;
	oldest =
	    newest > (unsigned long long)ring ? newest - (unsigned long long)ring + 1 : 1;
	first = oldest;
	while (first <= newest && fake_sample_ts(period_ms * 1000, first) <= last_seen)
		first++;
	n = first <= newest ? newest - first + 1 : 0;
	*value_type = NVML_VALUE_TYPE_UNSIGNED_INT;
	if (n == 0)
		return NVML_ERROR_NOT_FOUND;
	if (!samples || *count < n) {
		*count = (unsigned)n;
		return samples ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
	}
	for (unsigned long long k = first; k <= newest; k++) {
		nvmlSample_t *x = &samples[k - first];

		x->timeStamp = fake_sample_ts(period_ms * 1000, k);
		x->sampleValue.uiVal = fake_sample_value(g, type, period_ms * 1000, k);
	}
	*count = (unsigned)n;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d,
						       nvmlUtilization_t *u)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetUtilizationRates");
	double a, b, period_ms;

	if (r != NVML_SUCCESS)
		return r;
	if (fake_str(g, "busy_wave") && fake_num(g, "sample_period_ms", &period_ms) &&
	    fake_num(g, "util_memory", &b)) {
		/* the latest driver sample: a point reading */
		unsigned long long k =
		    (unsigned long long)((double)(fake_now_us() - FAKE_EPOCH_US) /
					     (period_ms * 1000) +
					 1e-6);

		u->gpu = k ? fake_sample_value(g, NVML_GPU_UTILIZATION_SAMPLES,
					       period_ms * 1000, k)
			   : 0;
		u->memory = (unsigned)b;
		return NVML_SUCCESS;
	}
	if (!fake_num(g, "util_gpu", &a) || !fake_num(g, "util_memory", &b))
		return NVML_ERROR_NOT_SUPPORTED;
	u->gpu = (unsigned)a;
	u->memory = (unsigned)b;
	return NVML_SUCCESS;
}

static nvmlReturn_t fake_mem(const char *fn, nvmlDevice_t d, unsigned long long *total,
			     unsigned long long *used)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, fn);
	double t, u;

	if (r != NVML_SUCCESS)
		return r;
	if (!fake_num(g, "memory_total", &t) || !fake_num(g, "memory_used", &u))
		return NVML_ERROR_NOT_SUPPORTED;
	*total = (unsigned long long)t;
	*used = (unsigned long long)u;
	return NVML_SUCCESS;
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m)
{
	nvmlReturn_t r;

	if (m->version != NVML_MEMORY_V2_VERSION) {
		fake_trace("nvmlDeviceGetMemoryInfo_v2");
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	}
	/* memory_v2 = CODE: this call answers CODE (a driver whose _v2
	 * expects another struct version, say) */
	if (fake_str(fake_dev(d), "memory_v2")) {
		fake_trace("nvmlDeviceGetMemoryInfo_v2");
		return fake_code(fake_str(fake_dev(d), "memory_v2"));
	}
	r = fake_mem("nvmlDeviceGetMemoryInfo_v2", d, &m->total, &m->used);
	if (r == NVML_SUCCESS) {
		m->reserved = m->total / 100;
		m->free = m->total - m->used - m->reserved;
	}
	return r;
}
#endif
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	nvmlReturn_t r = fake_mem("nvmlDeviceGetMemoryInfo", d, &m->total, &m->used);

	if (r == NVML_SUCCESS)
		m->free = m->total - m->used;
	return r;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned *mw)
{
	return fake_uint(d, "nvmlDeviceGetPowerUsage", "power_mw", mw);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned *mw)
{
	return fake_uint(d, "nvmlDeviceGetEnforcedPowerLimit", "power_limit_mw", mw);
}

static nvmlReturn_t fake_ull(nvmlDevice_t dev, const char *fn, const char *key,
			     unsigned long long *out)
{
	struct fake_gpu *g = fake_dev(dev);
	nvmlReturn_t r = fake_enter(g, fn);
	double v;

	if (r != NVML_SUCCESS)
		return r;
	if (!fake_num(g, key, &v))
		return NVML_ERROR_NOT_SUPPORTED;
	*out = (unsigned long long)v;
	return NVML_SUCCESS;
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d,
							     unsigned long long *mj)
{
	return fake_ull(d, "nvmlDeviceGetTotalEnergyConsumption", "energy_mj", mj);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d,
								unsigned long long *v)
{
	return fake_ull(d, "nvmlDeviceGetCurrentClocksEventReasons", "clock_reasons", v);
}
#endif
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d,
								   unsigned long long *v)
{
	return fake_ull(d, "nvmlDeviceGetCurrentClocksThrottleReasons", "clock_reasons",
			v);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned *t)
{
	if (sensor != NVML_TEMPERATURE_GPU)
		return NVML_ERROR_INVALID_ARGUMENT;
	return fake_uint(d, "nvmlDeviceGetTemperature", "temp_gpu", t);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned *mhz)
{
	static const char *const keys[] = {"clock_graphics_mhz", "clock_sm_mhz",
					   "clock_memory_mhz"};

	if (type < 0 || type > 2)
		return NVML_ERROR_INVALID_ARGUMENT;
	return fake_uint(d, "nvmlDeviceGetClockInfo", keys[type], mhz);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter,
						     unsigned *kbs)
{
	if (counter != NVML_PCIE_UTIL_TX_BYTES && counter != NVML_PCIE_UTIL_RX_BYTES)
		return NVML_ERROR_INVALID_ARGUMENT;
	return fake_uint(
	    d, "nvmlDeviceGetPcieThroughput",
	    counter == NVML_PCIE_UTIL_TX_BYTES ? "pcie_tx_kbs" : "pcie_rx_kbs", kbs);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int type,
						     int counter, unsigned long long *n)
{
	if (counter != NVML_VOLATILE_ECC)
		return NVML_ERROR_NOT_SUPPORTED;
	return fake_ull(d, "nvmlDeviceGetTotalEccErrors",
			type == NVML_MEMORY_ERROR_TYPE_CORRECTED ? "ecc_corrected"
								 : "ecc_uncorrected",
			n);
}

/* Item i of a comma-separated list key ("4242,4343"), else dflt. */
static unsigned long long fake_list_ull(const struct fake_gpu *g, const char *key,
					unsigned i, unsigned long long dflt)
{
	return g ? fake_scn_list_ull(&g->scn, key, i, dflt) : dflt;
}

/* The pid of process i: process_pids, else one above the kernel's
 * PID_MAX_LIMIT (2^22), which no real process has, so a collector that
 * looks the pid up in the real /proc finds nothing. */
static unsigned fake_pid(const struct fake_gpu *g, unsigned i)
{
	return (unsigned)fake_list_ull(g, "process_pids", i, 4194304ull + i);
}

static nvmlReturn_t fake_procs(const char *fn, nvmlDevice_t d, unsigned *count,
			       void *infos, size_t elem)
{
	struct fake_gpu *g = fake_dev(d);
	unsigned n;
	nvmlReturn_t r = fake_uint(d, fn, "processes", &n);

	if (r != NVML_SUCCESS)
		return r;
	if (*count < n || (n && !infos)) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (unsigned i = 0; i < n; i++) {
		/* room for the 32-byte entry of 535.43: the 24-byte one and
		 * usedGpuCcProtectedMemory */
		unsigned char e[32] = {0};
		nvmlProcessInfo_t p = {
		    .pid = fake_pid(g, i),
		    .usedGpuMemory = fake_list_ull(g, "process_memory", i, 1ull << 30)};

		memcpy(e, &p, sizeof(p));
		memcpy((char *)infos + i * elem, e, elem);
	}
	*count = n;
	return NVML_SUCCESS;
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d,
								 unsigned *count,
								 nvmlProcessInfo_t *infos)
{
	double elem = sizeof(*infos);

	/* process_entry_size = 32 in [global]: a 535.43.02-535.86.05 driver,
	 * whose _v3 writes 32-byte entries (usedGpuCcProtectedMemory added) */
	fake_num(fake_global, "process_entry_size", &elem);
	if (elem != 24 && elem != 32)
		elem = sizeof(*infos);
	return fake_procs("nvmlDeviceGetComputeRunningProcesses_v3", d, count, infos,
			  (size_t)elem);
}
#endif
/* v1 elements are 16 bytes (pid, usedGpuMemory). */
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d,
							      unsigned *count,
							      nvmlProcessInfo_t *infos)
{
	return fake_procs("nvmlDeviceGetComputeRunningProcesses", d, count, infos, 16);
}

#ifndef FAKE_OLD_DRIVER
/* Per-process utilization: one sample per listed process whose
 * process_sm_util (a list in the order of process_pids) is not 0, stamped
 * with the current fake time; NOT_FOUND when none is newer than
 * lastSeen, as the driver answers. */
FAKE_EXPORT nvmlReturn_t
nvmlDeviceGetProcessUtilization(nvmlDevice_t d, nvmlProcessUtilizationSample_t *u,
				unsigned *count, unsigned long long last_seen)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetProcessUtilization");
	unsigned long long now = fake_now_us();
	double procs = 0;
	unsigned n = 0;

	if (r != NVML_SUCCESS)
		return r;
	if (!fake_str(g, "process_sm_util") || !fake_num(g, "processes", &procs))
		return NVML_ERROR_NOT_SUPPORTED;
	for (unsigned i = 0; i < (unsigned)procs; i++)
		n += fake_list_ull(g, "process_sm_util", i, 0) != 0;
	if (n == 0 || now <= last_seen)
		return NVML_ERROR_NOT_FOUND;
	if (!u || *count < n) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	n = 0;
	for (unsigned i = 0; i < (unsigned)procs; i++) {
		unsigned long long sm = fake_list_ull(g, "process_sm_util", i, 0);

		if (!sm)
			continue;
		u[n] = (nvmlProcessUtilizationSample_t){.pid = fake_pid(g, i),
							.timeStamp = now,
							.smUtil = (unsigned)sm,
							.memUtil = (unsigned)sm / 2};
		n++;
	}
	*count = n;
	return NVML_SUCCESS;
}
#endif

#ifndef FAKE_OLD_DRIVER
/* ---- field values: memory temperature and NVLink data counters ---- */

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int n,
						  nvmlFieldValue_t *v)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetFieldValues");
	double links = 0, base, x;

	if (r != NVML_SUCCESS)
		return r;
	if (n < 0 || (n && !v))
		return NVML_ERROR_INVALID_ARGUMENT;
	fake_num(g, "nvlink_links", &links);
	for (int i = 0; i < n; i++) {
		nvmlFieldValue_t *f = &v[i];
		int tx = f->fieldId == NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX;

		f->timestamp = 1700000000000000LL + fake_tick;
		f->latencyUsec = 0;
		f->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
		if (f->fieldId == NVML_FI_DEV_MEMORY_TEMP) {
			if (fake_num(g, "temp_memory", &x)) {
				f->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
				f->value.uiVal = (unsigned)x;
				f->nvmlReturn = NVML_SUCCESS;
			}
			continue;
		}
		if (!tx && f->fieldId != NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX)
			continue;
		if (links <= 0 ||
		    !fake_num(g, tx ? "nvlink_tx_kib" : "nvlink_rx_kib", &base))
			continue;
		/* link L carries (L + 1) x base; the total is the sum */
		if (f->scopeId == UINT_MAX) {
			x = base * links * (links + 1) / 2;
		} else if (f->scopeId < (unsigned)links) {
			x = base * (f->scopeId + 1);
		} else {
			f->nvmlReturn = NVML_ERROR_INVALID_ARGUMENT;
			continue;
		}
		f->valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
		f->value.ullVal = (unsigned long long)x;
		f->nvmlReturn = NVML_SUCCESS;
	}
	return NVML_SUCCESS;
}

/* ---- events ---- */

struct nvmlEventSet_st {
	struct fake_gpu *dev[FAKE_MAX_SECTIONS];
	unsigned long long types[FAKE_MAX_SECTIONS];
	int n;
};

FAKE_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
	fake_trace("nvmlEventSetCreate");
	*set = calloc(1, sizeof(**set));
	return *set ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

FAKE_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
	fake_trace("nvmlEventSetFree");
	free(set);
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t d,
							  unsigned long long *t)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetSupportedEventTypes");
	double v;

	if (r != NVML_SUCCESS)
		return r;
	*t = fake_num(g, "events_supported", &v)
		 ? (unsigned long long)v
		 : (NVML_EVENT_XID_CRITICAL | NVML_EVENT_DOUBLE_BIT_ECC |
		    NVML_EVENT_SINGLE_BIT_ECC);
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d,
						  unsigned long long types,
						  nvmlEventSet_t set)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceRegisterEvents");

	if (r != NVML_SUCCESS)
		return r;
	if (!set || set->n == FAKE_MAX_SECTIONS)
		return NVML_ERROR_INVALID_ARGUMENT;
	for (int i = 0; i < set->n; i++)
		if (set->dev[i] == g) {
			set->types[i] |= types;
			return NVML_SUCCESS;
		}
	set->dev[set->n] = g;
	set->types[set->n++] = types;
	return NVML_SUCCESS;
}

/* Delivers each configured Xid once, from its tick on. */
FAKE_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *e,
					     unsigned timeout_ms)
{
	fake_trace("nvmlEventSetWait_v2");
	if (fake_nsec < 0)
		return NVML_ERROR_UNINITIALIZED;
	for (int i = 0; set && i < set->n; i++) {
		struct fake_gpu *g = set->dev[i];
		const char *s = fake_str(g, "xid");
		int k = 0;

		if (!s || !(set->types[i] & NVML_EVENT_XID_CRITICAL) ||
		    fake_window(g, "fault") != NVML_SUCCESS)
			continue;
		while (*s && k < FAKE_MAX_XID) {
			unsigned long long code = strtoull(s, (char **)&s, 10);
			long from = 0;

			if (*s == '@')
				from = strtol(s + 1, (char **)&s, 10);
			if (*s == ',')
				s++;
			if (fake_tick >= from && !(g->xid_sent & (1u << k))) {
				g->xid_sent |= 1u << k;
				memset(e, 0, sizeof(*e));
				e->device = (nvmlDevice_t)g;
				e->eventType = NVML_EVENT_XID_CRITICAL;
				e->eventData = code;
				e->gpuInstanceId = 0xFFFFFFFFu;
				e->computeInstanceId = 0xFFFFFFFFu;
				return NVML_SUCCESS;
			}
			k++;
		}
	}
	if (timeout_ms) {
		struct timespec ts = {timeout_ms / 1000,
				      (long)(timeout_ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
	return NVML_ERROR_TIMEOUT;
}

/* ---- GPM ---- */

struct nvmlGpmSample_st {
	struct fake_gpu *dev;
	struct timespec t;
	long tick;
};

FAKE_EXPORT nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t d, nvmlGpmSupport_t *s)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlGpmQueryDeviceSupport");
	double v = 0;

	if (r != NVML_SUCCESS)
		return r;
	if (s->version != NVML_GPM_SUPPORT_VERSION)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	fake_num(g, "gpm", &v);
	s->isSupportedDevice = v != 0;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlGpmSampleAlloc(nvmlGpmSample_t *s)
{
	fake_trace("nvmlGpmSampleAlloc");
	*s = calloc(1, sizeof(**s));
	return *s ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

FAKE_EXPORT nvmlReturn_t nvmlGpmSampleFree(nvmlGpmSample_t s)
{
	fake_trace("nvmlGpmSampleFree");
	free(s);
	return NVML_SUCCESS;
}

static nvmlReturn_t fake_gpm_take(struct fake_gpu *g, const char *fn, nvmlGpmSample_t s)
{
	nvmlReturn_t r = fake_enter(g, fn);
	double v = 0;

	if (r != NVML_SUCCESS)
		return r;
	if (!s)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (!fake_num(g, "gpm", &v) || v == 0)
		return NVML_ERROR_NOT_SUPPORTED;
	s->dev = g;
	s->tick = fake_tick;
	clock_gettime(CLOCK_MONOTONIC, &s->t);
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t d, nvmlGpmSample_t s)
{
	return fake_gpm_take(fake_dev(d), "nvmlGpmSampleGet", s);
}

FAKE_EXPORT nvmlReturn_t nvmlGpmMigSampleGet(nvmlDevice_t d, unsigned gi,
					     nvmlGpmSample_t s)
{
	struct fake_gpu *p = fake_dev(d);
	double v;

	/* traced once: by fake_gpm_take, or here when there is no instance */
	if (p && p->index >= 0)
		for (int i = 0; i < fake_nsec; i++)
			if (fake_sec[i].parent == p->index &&
			    fake_num(&fake_sec[i], "gpu_instance_id", &v) &&
			    (unsigned)v == gi)
				return fake_gpm_take(&fake_sec[i], "nvmlGpmMigSampleGet",
						     s);
	fake_trace("nvmlGpmMigSampleGet");
	return p && p->index >= 0 ? NVML_ERROR_NOT_FOUND : NVML_ERROR_INVALID_ARGUMENT;
}

/* Checks what real GPM checks: version, two samples of one device, taken at
 * least 100 ms apart, older first. */
FAKE_EXPORT nvmlReturn_t nvmlGpmMetricsGet(nvmlGpmMetricsGet_t *m)
{
	static const struct {
		unsigned id;
		const char *key;
	} keys[] = {
	    {NVML_GPM_METRIC_SM_UTIL, "gpm_sm_util"},
	    {NVML_GPM_METRIC_SM_OCCUPANCY, "gpm_sm_occupancy"},
	    {NVML_GPM_METRIC_ANY_TENSOR_UTIL, "gpm_tensor_util"},
	    {NVML_GPM_METRIC_DRAM_BW_UTIL, "gpm_dram_bw_util"},
	};
	long long gap_ns;

	fake_trace("nvmlGpmMetricsGet");
	if (!m || m->version != NVML_GPM_METRICS_GET_VERSION)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	if (!m->sample1 || !m->sample2 || m->sample1 == m->sample2 ||
	    m->numMetrics > NVML_GPM_METRIC_MAX || !m->sample1->dev ||
	    m->sample1->dev != m->sample2->dev)
		return NVML_ERROR_INVALID_ARGUMENT;
	gap_ns = (m->sample2->t.tv_sec - m->sample1->t.tv_sec) * 1000000000LL +
		 (m->sample2->t.tv_nsec - m->sample1->t.tv_nsec);
	if (gap_ns < 100000000LL)
		return NVML_ERROR_INVALID_ARGUMENT;
	for (unsigned i = 0; i < m->numMetrics; i++) {
		nvmlGpmMetric_t *x = &m->metrics[i];

		x->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
		x->value = 0;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (keys[k].id == x->metricId &&
			    fake_num(m->sample2->dev, keys[k].key, &x->value))
				x->nvmlReturn = NVML_SUCCESS;
	}
	return NVML_SUCCESS;
}

/* ---- MIG ---- */

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned *cur,
					      unsigned *pending)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetMigMode");
	int children = 0;

	if (r != NVML_SUCCESS)
		return r;
	if (g->index < 0)
		return NVML_ERROR_NOT_SUPPORTED;
	for (int i = 0; i < fake_nsec; i++)
		children += fake_sec[i].parent == g->index && fake_present(&fake_sec[i]);
	if (!children && !fake_str(g, "mig_capable"))
		return NVML_ERROR_NOT_SUPPORTED;
	*cur = *pending = children ? NVML_DEVICE_MIG_ENABLE : 0;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned *n)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetMaxMigDeviceCount");

	if (r != NVML_SUCCESS)
		return r;
	*n = 7;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned idx,
							     nvmlDevice_t *mig)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetMigDeviceHandleByIndex");
	unsigned k = 0;

	if (r != NVML_SUCCESS)
		return r;
	for (int i = 0; i < fake_nsec; i++)
		if (fake_sec[i].parent == g->index && g->index >= 0 &&
		    fake_present(&fake_sec[i])) {
			if (k++ == idx) {
				*mig = (nvmlDevice_t)&fake_sec[i];
				return NVML_SUCCESS;
			}
		}
	return NVML_ERROR_NOT_FOUND;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t d, unsigned *id)
{
	return fake_uint(d, "nvmlDeviceGetGpuInstanceId", "gpu_instance_id", id);
}

/* A MIG handle is a compute instance; compute_instance_id defaults to 0. */
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t d, unsigned *id)
{
	struct fake_gpu *g = fake_dev(d);
	nvmlReturn_t r = fake_enter(g, "nvmlDeviceGetComputeInstanceId");
	double v = 0;

	if (r != NVML_SUCCESS)
		return r;
	if (g->parent < 0)
		return NVML_ERROR_INVALID_ARGUMENT;
	fake_num(g, "compute_instance_id", &v);
	*id = (unsigned)v;
	return NVML_SUCCESS;
}
#endif /* !FAKE_OLD_DRIVER */

/* The exported definitions must match the collector's function-pointer
 * types: a drifted prototype fails here. */
#define FAKE_SAME(fn, type)                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&fn), type), #fn)
FAKE_SAME(nvmlInit, nvml_init_fn);
FAKE_SAME(nvmlShutdown, nvml_shutdown_fn);
FAKE_SAME(nvmlErrorString, nvml_error_string_fn);
FAKE_SAME(nvmlSystemGetDriverVersion, nvml_driver_version_fn);
FAKE_SAME(nvmlDeviceGetCount, nvml_count_fn);
FAKE_SAME(nvmlDeviceGetHandleByIndex, nvml_handle_by_index_fn);
FAKE_SAME(nvmlDeviceGetName, nvml_dev_string_fn);
FAKE_SAME(nvmlDeviceGetPciInfo_v2, nvml_pci_info_legacy_fn);
FAKE_SAME(nvmlDeviceGetUtilizationRates, nvml_utilization_fn);
FAKE_SAME(nvmlDeviceGetSamples, nvml_samples_fn);
FAKE_SAME(nvmlDeviceGetMemoryInfo, nvml_memory_fn);
FAKE_SAME(nvmlDeviceGetPowerUsage, nvml_dev_uint_fn);
FAKE_SAME(nvmlDeviceGetTemperature, nvml_dev_enum_uint_fn);
FAKE_SAME(nvmlDeviceGetClockInfo, nvml_dev_enum_uint_fn);
FAKE_SAME(nvmlDeviceGetPcieThroughput, nvml_dev_enum_uint_fn);
FAKE_SAME(nvmlDeviceGetCurrentClocksThrottleReasons, nvml_dev_ull_fn);
FAKE_SAME(nvmlDeviceGetTotalEccErrors, nvml_ecc_fn);
FAKE_SAME(nvmlDeviceGetComputeRunningProcesses, nvml_processes_fn);
#ifndef FAKE_OLD_DRIVER
FAKE_SAME(nvmlInit_v2, nvml_init_fn);
FAKE_SAME(nvmlDeviceGetCount_v2, nvml_count_fn);
FAKE_SAME(nvmlDeviceGetHandleByIndex_v2, nvml_handle_by_index_fn);
FAKE_SAME(nvmlDeviceGetPciInfo_v3, nvml_pci_info_fn);
FAKE_SAME(nvmlDeviceGetNumaNodeId, nvml_dev_uint_fn);
FAKE_SAME(nvmlDeviceGetMinorNumber, nvml_dev_uint_fn);
FAKE_SAME(nvmlDeviceGetMemoryInfo_v2, nvml_memory_v2_fn);
FAKE_SAME(nvmlDeviceGetTotalEnergyConsumption, nvml_dev_ull_fn);
FAKE_SAME(nvmlDeviceGetCurrentClocksEventReasons, nvml_dev_ull_fn);
FAKE_SAME(nvmlDeviceGetComputeRunningProcesses_v3, nvml_processes_fn);
FAKE_SAME(nvmlDeviceGetProcessUtilization, nvml_proc_util_fn);
FAKE_SAME(nvmlDeviceGetFieldValues, nvml_field_values_fn);
FAKE_SAME(nvmlEventSetCreate, nvml_event_set_create_fn);
FAKE_SAME(nvmlDeviceRegisterEvents, nvml_register_events_fn);
FAKE_SAME(nvmlDeviceGetSupportedEventTypes, nvml_dev_ull_fn);
FAKE_SAME(nvmlEventSetWait_v2, nvml_event_set_wait_fn);
FAKE_SAME(nvmlEventSetFree, nvml_event_set_free_fn);
FAKE_SAME(nvmlGpmQueryDeviceSupport, nvml_gpm_support_fn);
FAKE_SAME(nvmlGpmSampleAlloc, nvml_gpm_sample_alloc_fn);
FAKE_SAME(nvmlGpmSampleFree, nvml_gpm_sample_free_fn);
FAKE_SAME(nvmlGpmSampleGet, nvml_gpm_sample_get_fn);
FAKE_SAME(nvmlGpmMigSampleGet, nvml_gpm_mig_sample_get_fn);
FAKE_SAME(nvmlGpmMetricsGet, nvml_gpm_metrics_get_fn);
FAKE_SAME(nvmlDeviceGetMigMode, nvml_mig_mode_fn);
FAKE_SAME(nvmlDeviceGetMaxMigDeviceCount, nvml_dev_uint_fn);
FAKE_SAME(nvmlDeviceGetMigDeviceHandleByIndex, nvml_mig_handle_fn);
FAKE_SAME(nvmlDeviceGetGpuInstanceId, nvml_dev_uint_fn);
FAKE_SAME(nvmlDeviceGetComputeInstanceId, nvml_dev_uint_fn);
#endif
