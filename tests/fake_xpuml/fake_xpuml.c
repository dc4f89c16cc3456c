/* Test double of Kunlunxin's libxpuml.so for the kunlunxin plugin's tests:
 * exports XPUML's entry point names with the public header's layouts
 * (collectors/plugins/kunlunxin/xpuml_api.h, each prototype checked against
 * it at compile time) and answers from the scenario file named by
 * $FAKE_XPUML_SCENARIO (none: xpumlInit says DRIVER_NOT_LOADED).
 *
 * Scenario: INI sections [global] and [xpuN] (device index N, 0-based and
 * dense). Keys of a device: serial, bus_id ("00000000:3B:00.0"), model (an
 * XPUML model id), util_xpu, util_memory (percent), mem_total, mem_used
 * (bytes), power_mw, temp (degrees C), clock_mhz, state (XPUML state code).
 * A missing key makes the call that reads it answer NOT_SUPPORTED. Numbers
 * may be "BASE+STEP": BASE + STEP x tick, where tick counts
 * xpumlDeviceGetCount calls (the plugin makes one at init and one a poll).
 * fault = CODE@FROM-TO: every call on the device answers CODE in ticks
 * FROM..TO (XPU_IS_LOST: it fell off the bus, its handle too); present =
 * FROM: the device is counted from tick FROM on (a hot-added one);
 * hang = SYMBOL@FROM: that call sleeps hang_seconds ([global], default
 * 3600) from tick FROM on; serial2 = VALUE@FROM: the serial from tick
 * FROM on (another card in the slot); serial_fault = CODE@FROM-TO: only
 * xpumlDeviceGetSerial answers CODE then. In [global]: driver_version,
 * init = CODE, count_fault = CODE@FROM-TO (xpumlDeviceGetCount answers CODE
 * in those ticks: the driver unloaded, say), count = N (the count answers
 * N whatever the sections: indexes without one answer INVALID_ARGUMENT).
 * Tick windows (FROM-TO, FROM-TO,FROM: from then on) are read by the
 * shared tests/fake_scenario.c, like the file itself.
 * xpumlInit and xpumlShutdown are counted as XPUML's header says: calls
 * succeed while more inits than shutdowns were made, and shutting down
 * more often than initialising is no error.
 * $FAKE_XPUML_TRACE names a file that gets one line "SYMBOL INDEX" a call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_scenario.h"
#include "xpuml_api.h"

/* The exported names are XPUML's; their prototypes are checked against
 * xpuml_api.h by FAKE_SAME below. */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"

#define FAKE_EXPORT __attribute__((visibility("default")))
#define FAKE_MAX_SECTIONS 17

struct fake_sec {
	struct fake_scn scn; /* name and keys (tests/fake_scenario.h) */
	int index;	     /* xpuN: N; [global]: -1 */
};

static struct fake_sec fake_secs[FAKE_MAX_SECTIONS];
static int fake_nsec = -1; /* -1: not loaded */
static struct fake_sec *fake_global;
static long fake_tick;
static int fake_inited; /* xpumlInit calls not yet matched by a shutdown */

static const struct {
	const char *name;
	xpuml_rc code;
} fake_codes[] = {
    {"SUCCESS", XPUML_SUCCESS},
    {"UNINITIALIZED", XPUML_ERROR_UNINITIALIZED},
    {"INVALID_ARGUMENT", XPUML_ERROR_INVALID_ARGUMENT},
    {"NOT_SUPPORTED", XPUML_ERROR_NOT_SUPPORTED},
    {"NO_PERMISSION", XPUML_ERROR_NO_PERMISSION},
    {"NOT_FOUND", XPUML_ERROR_NOT_FOUND},
    {"INSUFFICIENT_SIZE", XPUML_ERROR_INSUFFICIENT_SIZE},
    {"DRIVER_NOT_LOADED", XPUML_ERROR_DRIVER_NOT_LOADED},
    {"TIMEOUT", XPUML_ERROR_TIMEOUT},
    {"FUNCTION_NOT_FOUND", XPUML_ERROR_FUNCTION_NOT_FOUND},
    {"XPU_IS_LOST", XPUML_ERROR_XPU_IS_LOST},
    {"RESET_REQUIRED", XPUML_ERROR_RESET_REQUIRED},
    {"LIB_RM_VERSION_MISMATCH", XPUML_ERROR_LIB_RM_VERSION_MISMATCH},
    {"UNKNOWN", XPUML_ERROR_UNKNOWN},
};

/* The scenario file, read at the first xpumlInit; every section's
 * device index from its name. */
static void fake_load(void)
{
	if (fake_scn_load_env("FAKE_XPUML_SCENARIO", fake_secs, sizeof(fake_secs[0]),
			      FAKE_MAX_SECTIONS, &fake_nsec) != 0)
		return;
	for (int i = 0; i < fake_nsec; i++) {
		struct fake_sec *c = &fake_secs[i];

		c->index = -1;
		if (!strcmp(c->scn.name, "global"))
			fake_global = c;
		else if (!strncmp(c->scn.name, "xpu", 3))
			c->index = atoi(c->scn.name + 3);
	}
}

static const char *fake_str(const struct fake_sec *s, const char *key)
{
	return s ? fake_scn_str(&s->scn, key) : NULL;
}

/* "BASE" or "BASE+STEP" at the current tick; 0 when the key is absent. */
static int fake_num(const struct fake_sec *s, const char *key, unsigned long long *out)
{
	double v;

	if (!s || !fake_scn_num(&s->scn, key, fake_tick, &v))
		return 0;
	*out = (unsigned long long)v;
	return 1;
}

static xpuml_rc fake_code(const char *name)
{
	for (size_t i = 0; i < sizeof(fake_codes) / sizeof(fake_codes[0]); i++)
		if (!strcmp(fake_codes[i].name, name))
			return fake_codes[i].code;
	return (xpuml_rc)atoi(name);
}

static struct fake_sec *fake_dev(unsigned index)
{
	for (int i = 0; i < fake_nsec; i++)
		if (fake_secs[i].index == (int)index)
			return &fake_secs[i];
	return NULL;
}

static void fake_trace(const char *sym, int index)
{
	const char *path = getenv("FAKE_XPUML_TRACE");
	FILE *f;

	if (!path || !(f = fopen(path, "ae")))
		return;
	fprintf(f, "%s %d\n", sym, index);
	fclose(f);
}

/* CODE@TICKS of key in section s: CODE when the tick is in TICKS. */
static xpuml_rc fake_window(const struct fake_sec *s, const char *key)
{
	const char *v = fake_str(s, key), *at = v ? strchr(v, '@') : NULL;
	char code[32];

	if (at && (size_t)(at - v) < sizeof(code) &&
	    fake_scn_in_ticks(at + 1, fake_tick)) {
		snprintf(code, sizeof(code), "%.*s", (int)(at - v), v);
		return fake_code(code);
	}
	return XPUML_SUCCESS;
}

/* The answer every call on device d starts with: not initialised, a fault
 * in this tick, or a hang (sleeps, then carries on). */
static xpuml_rc fake_enter(const char *sym, const struct fake_sec *d)
{
	const char *v;

	fake_trace(sym, d ? d->index : -1);
	if (!fake_inited)
		return XPUML_ERROR_UNINITIALIZED;
	if (!d)
		return XPUML_ERROR_INVALID_ARGUMENT;
	v = fake_str(d, "hang");
	if (v) {
		const char *at = strchr(v, '@');

		if (at && (size_t)(at - v) == strlen(sym) &&
		    !strncmp(v, sym, strlen(sym)) && fake_tick >= atol(at + 1)) {
			unsigned long long secs = 3600;

			fake_num(fake_global, "hang_seconds", &secs);
			sleep((unsigned)secs);
		}
	}
	return fake_window(d, "fault");
}

static const struct fake_sec *fake_handle_dev(struct xpuml_dev h)
{
	return h.opaque;
}

/* ---- the entry points ---- */

FAKE_EXPORT xpuml_rc xpumlInit(void)
{
	const char *v;

	fake_load();
	fake_trace("xpumlInit", -1);
	if (!getenv("FAKE_XPUML_SCENARIO"))
		return XPUML_ERROR_DRIVER_NOT_LOADED;
	v = fake_str(fake_global, "init");
	if (v && fake_code(v) != XPUML_SUCCESS)
		return fake_code(v);
	fake_inited++;
	return XPUML_SUCCESS;
}

FAKE_EXPORT xpuml_rc xpumlShutdown(void)
{
	fake_trace("xpumlShutdown", -1);
	if (fake_inited > 0)
		fake_inited--;
	return XPUML_SUCCESS;
}

FAKE_EXPORT const char *xpumlErrorString(xpuml_rc r)
{
	for (size_t i = 0; i < sizeof(fake_codes) / sizeof(fake_codes[0]); i++)
		if (fake_codes[i].code == r)
			return fake_codes[i].name;
	return "unknown error";
}

FAKE_EXPORT xpuml_rc xpumlSystemGetDriverVersion(char *buf, unsigned len)
{
	const char *v = fake_str(fake_global, "driver_version");

	if (!fake_inited)
		return XPUML_ERROR_UNINITIALIZED;
	if (!v)
		return XPUML_ERROR_NOT_SUPPORTED;
	if (strlen(v) >= len)
		return XPUML_ERROR_INSUFFICIENT_SIZE;
	snprintf(buf, len, "%s", v);
	return XPUML_SUCCESS;
}

/* Devices counted in this tick: those present from this tick or earlier. */
static unsigned fake_count_now(void)
{
	unsigned long long forced;
	unsigned n = 0;

	if (fake_num(fake_global, "count", &forced))
		return (unsigned)forced;
	for (int i = 0; i < fake_nsec; i++) {
		unsigned long long from = 0;

		if (fake_secs[i].index >= 0 &&
		    (!fake_num(&fake_secs[i], "present", &from) ||
		     (long)from <= fake_tick))
			n++;
	}
	return n;
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetCount(unsigned *n)
{
	xpuml_rc r;

	fake_trace("xpumlDeviceGetCount", -1);
	if (!fake_inited)
		return XPUML_ERROR_UNINITIALIZED;
	fake_tick++;
	r = fake_window(fake_global, "count_fault");
	if (r != XPUML_SUCCESS)
		return r;
	*n = fake_count_now();
	return XPUML_SUCCESS;
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetHandleByIndex(unsigned index, struct xpuml_dev *h)
{
	struct fake_sec *d = fake_dev(index);
	xpuml_rc r;

	if (!d || index >= fake_count_now()) {
		fake_trace("xpumlDeviceGetHandleByIndex", (int)index);
		return fake_inited ? XPUML_ERROR_INVALID_ARGUMENT
				   : XPUML_ERROR_UNINITIALIZED;
	}
	r = fake_enter("xpumlDeviceGetHandleByIndex", d);
	if (r == XPUML_SUCCESS)
		h->opaque = d;
	return r;
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetSerial(struct xpuml_dev h, char *buf, unsigned len)
{
	const struct fake_sec *d = fake_handle_dev(h);
	xpuml_rc r = fake_enter("xpumlDeviceGetSerial", d);
	const char *v = fake_str(d, "serial"), *v2 = fake_str(d, "serial2"), *at;
	char other[64];

	if (r == XPUML_SUCCESS)
		r = fake_window(d, "serial_fault");
	if (r != XPUML_SUCCESS)
		return r;
	if (v2 && (at = strchr(v2, '@')) && fake_tick >= atol(at + 1) &&
	    (size_t)(at - v2) < sizeof(other)) {
		snprintf(other, sizeof(other), "%.*s", (int)(at - v2), v2);
		v = other;
	}
	if (!v)
		return XPUML_ERROR_NOT_SUPPORTED;
	if (strlen(v) >= len)
		return XPUML_ERROR_INSUFFICIENT_SIZE;
	snprintf(buf, len, "%s", v);
	return XPUML_SUCCESS;
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetPciInfo(struct xpuml_dev h, struct xpuml_pci *p)
{
	const struct fake_sec *d = fake_handle_dev(h);
	xpuml_rc r = fake_enter("xpumlDeviceGetPciInfo", d);
	const char *v = fake_str(d, "bus_id");

	if (r != XPUML_SUCCESS)
		return r;
	if (!v)
		return XPUML_ERROR_NOT_SUPPORTED;
	memset(p, 0, sizeof(*p));
	sscanf(v, "%x:%x:%x.%x", &p->domain, &p->bus, &p->device, &p->function);
	p->id = 0x3684u << 16 | 0x1d22u;
	/* as the driver writes it, whatever the scenario's spelling */
	snprintf(p->bus_id, sizeof(p->bus_id), "%08X:%02X:%02X.%X", p->domain, p->bus,
		 p->device, p->function);
	return XPUML_SUCCESS;
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetAttributes(struct xpuml_dev h, struct xpuml_attrs *a)
{
	const struct fake_sec *d = fake_handle_dev(h);
	xpuml_rc r = fake_enter("xpumlDeviceGetAttributes", d);
	unsigned long long model;

	if (r != XPUML_SUCCESS)
		return r;
	if (!fake_num(d, "model", &model))
		return XPUML_ERROR_NOT_SUPPORTED;
	memset(a, 0, sizeof(*a));
	a->arch = 2;
	a->model = (int32_t)model;
	return XPUML_SUCCESS;
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetUtilizationRates(struct xpuml_dev h,
						    struct xpuml_util *u)
{
	const struct fake_sec *d = fake_handle_dev(h);
	xpuml_rc r = fake_enter("xpumlDeviceGetUtilizationRates", d);
	unsigned long long x, m;

	if (r != XPUML_SUCCESS)
		return r;
	if (!fake_num(d, "util_xpu", &x) || !fake_num(d, "util_memory", &m))
		return XPUML_ERROR_NOT_SUPPORTED;
	memset(u, 0, sizeof(*u));
	u->xpu = (uint32_t)x;
	u->memory = (uint32_t)m;
	return XPUML_SUCCESS;
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetMemoryInfo(struct xpuml_dev h, struct xpuml_mem *m)
{
	const struct fake_sec *d = fake_handle_dev(h);
	xpuml_rc r = fake_enter("xpumlDeviceGetMemoryInfo", d);
	unsigned long long total, used;

	if (r != XPUML_SUCCESS)
		return r;
	if (!fake_num(d, "mem_total", &total) || !fake_num(d, "mem_used", &used))
		return XPUML_ERROR_NOT_SUPPORTED;
	memset(m, 0, sizeof(*m));
	m->global_page = 131072;
	m->global_total = total;
	m->global_used = used;
	m->global_free = total - used;
	/* L3 (on-chip SRAM) is not device memory: the plugin must not add it */
	m->l3_page = 4096;
	m->l3_total = 16777216;
	m->l3_used = 4194304;
	m->l3_free = m->l3_total - m->l3_used;
	return XPUML_SUCCESS;
}

static xpuml_rc fake_uint(struct xpuml_dev h, const char *sym, const char *key,
			  unsigned *out)
{
	const struct fake_sec *d = fake_handle_dev(h);
	xpuml_rc r = fake_enter(sym, d);
	unsigned long long v;

	if (r != XPUML_SUCCESS)
		return r;
	if (!fake_num(d, key, &v))
		return XPUML_ERROR_NOT_SUPPORTED;
	*out = (unsigned)v;
	return XPUML_SUCCESS;
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetPowerUsage(struct xpuml_dev h, unsigned *mw)
{
	return fake_uint(h, "xpumlDeviceGetPowerUsage", "power_mw", mw);
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetTemperature(struct xpuml_dev h, int sensor,
					       unsigned *c)
{
	if (sensor != XPUML_SENSOR_DIE)
		return XPUML_ERROR_INVALID_ARGUMENT;
	return fake_uint(h, "xpumlDeviceGetTemperature", "temp", c);
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetClockInfo(struct xpuml_dev h, int type, unsigned *mhz)
{
	if (type != XPUML_CLOCK_XPU)
		return XPUML_ERROR_INVALID_ARGUMENT;
	return fake_uint(h, "xpumlDeviceGetClockInfo", "clock_mhz", mhz);
}

FAKE_EXPORT xpuml_rc xpumlDeviceGetState(struct xpuml_dev h, int *state)
{
	unsigned v;
	xpuml_rc r = fake_uint(h, "xpumlDeviceGetState", "state", &v);

	if (r == XPUML_SUCCESS)
		*state = (int)v;
	return r;
}

/* Each definition has the type the plugin's declaration gives it. */
#define FAKE_SAME(sym, type)                                                             \
	_Static_assert(__builtin_types_compatible_p(__typeof__(sym), type),              \
		       #sym " differs from xpuml_api.h")
FAKE_SAME(xpumlInit, xpuml_void_fn);
FAKE_SAME(xpumlShutdown, xpuml_void_fn);
FAKE_SAME(xpumlErrorString, xpuml_error_string_fn);
FAKE_SAME(xpumlSystemGetDriverVersion, xpuml_driver_version_fn);
FAKE_SAME(xpumlDeviceGetCount, xpuml_count_fn);
FAKE_SAME(xpumlDeviceGetHandleByIndex, xpuml_handle_fn);
FAKE_SAME(xpumlDeviceGetSerial, xpuml_dev_string_fn);
FAKE_SAME(xpumlDeviceGetPciInfo, xpuml_pci_fn);
FAKE_SAME(xpumlDeviceGetAttributes, xpuml_attrs_fn);
FAKE_SAME(xpumlDeviceGetUtilizationRates, xpuml_util_fn);
FAKE_SAME(xpumlDeviceGetMemoryInfo, xpuml_mem_fn);
FAKE_SAME(xpumlDeviceGetPowerUsage, xpuml_dev_uint_fn);
FAKE_SAME(xpumlDeviceGetTemperature, xpuml_dev_enum_uint_fn);
FAKE_SAME(xpumlDeviceGetClockInfo, xpuml_dev_enum_uint_fn);
FAKE_SAME(xpumlDeviceGetState, xpuml_dev_int_fn);
