/* Test double of Huawei's libdcmi.so for the ascend collector's tests: the
 * DCMI symbol names and struct layouts of collectors/ascend_api.h (checked
 * against these definitions at compile time), answering from the scenario
 * file named by $FAKE_DCMI_SCENARIO (none: dcmi_init answers -8005). Built
 * twice: the current library, and with -DFAKE_OLD_DRIVER an old driver that
 * has dcmi_get_card_num_list instead of dcmi_get_card_list and only the
 * chip info, utilization, power, temperature and health calls besides.
 *
 * Scenario: INI sections [global] and one [chipN] per chip with card =,
 * chip = (index on the card) and logic = (the logic id). A missing key
 * makes the call that reads it answer -8255 (not supported). Numbers may be
 * "BASE+STEP": BASE + STEP * tick, where tick counts card list calls (the
 * collector makes one at init and one per poll). Keys of a chip:
 * chip_name, chip_type; die = five words; serial (the card's label; first
 * chip of the card that has one); pci = DOMAIN:BUS:DEV.FN (hex);
 * util_<input type> (percent: util_2 AI Core, util_3 AI CPU, ...);
 * hbm_total_mb, hbm_used_mb, hbm_temp, hbm_freq, hbm_bw (the HBM call
 * answers when hbm_total_mb is set); ddr_total_mb, ddr_available_mb
 * (memory_info_v3); power (0.1 W), temp, freq_7 (AI Core MHz); ecc_sbe,
 * ecc_dbe, ecc_iso_sbe, ecc_iso_dbe (the ECC call answers when ecc_sbe is
 * set) and ecc_size = 28 (an older driver's smaller struct; default 36;
 * more than 36: a newer driver's larger one, the bytes past 36 a canary
 * 0xA5, up to 256); mem_size likewise for memory_info_v3 (default 112);
 * health; errors = CODE[@FROM-TO],... (active codes; empty: none); procs
 * (the process count), proc_pids = P,P,... (default 4194304 + i, above the
 * kernel's PID_MAX_LIMIT: no real process) holding
 * proc_mem = B,B,... bytes (default 1 GiB each);
 * net_health. Faults: present = FROM-TO,... (FROM alone: from then on): the
 * chip is listed only in those ticks, outside them every call on it answers
 * -8008; fault = CODE@FROM-TO (every call on the chip but the logic id
 * lookup: the chip is still listed); answer_<symbol> =
 * CODE@FROM-TO (one call); not_ready_<symbol> = N (its first N calls answer
 * -8012); hang = SYMBOL@FROM sleeps hang_seconds ([global], default 3600).
 * [global] init = CODE makes dcmi_init fail; card_list_fault and
 * num_in_card_fault = CODE@FROM-TO make those calls fail in those ticks.
 * Tests read call counts with the exported fake_dcmi_calls("symbol").
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ascend_api.h"
#include "fake_scenario.h"

/* The exported symbols are DCMI's; their prototypes are the typedefs of
 * ascend_api.h (the FAKE_SAME checks at the end). */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"

#define FAKE_EXPORT __attribute__((visibility("default")))
#define FAKE_MAX_SECTIONS 24

struct fake_chip {
	struct fake_scn scn;   /* name and keys (tests/fake_scenario.h) */
	int card, chip, logic; /* -1 in [global] */
};

static struct fake_chip fake_sec[FAKE_MAX_SECTIONS];
static int fake_nsec = -1; /* -1: scenario not loaded */
static struct fake_chip *fake_global;
static long fake_tick;

/* ---- scenario ---- */

static int fake_load(void)
{
	int r = fake_scn_load_env("FAKE_DCMI_SCENARIO", fake_sec, sizeof(fake_sec[0]),
				  FAKE_MAX_SECTIONS, &fake_nsec);

	for (int i = 0; r == 0 && i < fake_nsec; i++) {
		struct fake_chip *g = &fake_sec[i];

		g->card = fake_scn_int(&g->scn, "card", -1);
		g->chip = fake_scn_int(&g->scn, "chip", -1);
		g->logic = fake_scn_int(&g->scn, "logic", -1);
		if (strcmp(g->scn.name, "global") == 0)
			fake_global = g;
	}
	return r < 0 ? r : 0;
}

static const char *fake_str(const struct fake_chip *g, const char *key)
{
	return g ? fake_scn_str(&g->scn, key) : NULL;
}

static int fake_num(const struct fake_chip *g, const char *key, double *out)
{
	return g ? fake_scn_num(&g->scn, key, fake_tick, out) : 0;
}

/* CODE@FROM-TO active at the current tick: CODE, else 0. */
static int fake_window(const struct fake_chip *g, const char *key)
{
	const char *s = fake_str(g, key);
	long from = 0, to = LONG_MAX;
	int code;

	if (!s || sscanf(s, "%d@%ld-%ld", &code, &from, &to) < 2)
		return 0;
	return fake_tick >= from && fake_tick <= to ? code : 0;
}

static int fake_in_ticks(const char *s)
{
	return fake_scn_in_ticks(s, fake_tick);
}

static int fake_present(const struct fake_chip *g)
{
	const char *s = fake_str(g, "present");

	return !s || fake_in_ticks(s);
}

/* Calls per symbol, for tests that check "probe once". */
FAKE_EXPORT long fake_dcmi_calls(const char *fn)
{
	return fake_scn_calls(fn);
}

static int fake_is_chip(const struct fake_chip *g)
{
	return g != fake_global && g->card >= 0 && g->chip >= 0;
}

/* The section of chip (card, chip): the first present one (two sections
 * may take turns at one place: a chip replaced), else the first. */
static struct fake_chip *fake_find(int card, int chip)
{
	struct fake_chip *any = NULL;

	for (int i = 0; i < fake_nsec; i++) {
		if (!fake_is_chip(&fake_sec[i]) || fake_sec[i].card != card ||
		    fake_sec[i].chip != chip)
			continue;
		if (fake_present(&fake_sec[i]))
			return &fake_sec[i];
		if (!any)
			any = &fake_sec[i];
	}
	return any;
}

/* Entry checks of every chip call: counted, the chip exists and is
 * present, faults and hangs. 0 with *out set, or the code to answer. */
static int fake_enter_as(const char *fn, int card, int chip, struct fake_chip **out,
			 int listing)
{
	struct fake_chip *g;
	char key[80], name[80];
	const char *h;
	double n;
	long from, calls = fake_scn_count(fn);
	int r;

	if (fake_nsec < 0)
		return -8005;
	g = fake_find(card, chip);
	if (!g)
		return DCMI_ERR_INVALID_DEVICE;
	if (!fake_present(g))
		return DCMI_ERR_NO_DEVICE;
	r = listing ? 0 : fake_window(g, "fault");
	if (r)
		return r;
	snprintf(key, sizeof(key), "answer_%s", fn);
	r = fake_window(g, key);
	if (r)
		return r;
	snprintf(key, sizeof(key), "not_ready_%s", fn);
	if (fake_num(g, key, &n) && calls <= (long)n)
		return DCMI_ERR_NOT_READY;
	h = fake_str(g, "hang");
	if (h && sscanf(h, "%79[A-Za-z0-9_]@%ld", name, &from) == 2 &&
	    strcmp(name, fn) == 0 && fake_tick >= from) {
		double secs = 3600;

		fake_num(fake_global, "hang_seconds", &secs);
		sleep((unsigned)secs);
	}
	*out = g;
	return 0;
}

/* A call on the chip; `fault` applies. */
static int fake_enter(const char *fn, int card, int chip, struct fake_chip **out)
{
	return fake_enter_as(fn, card, chip, out, 0);
}

/* A number of chip g for key: 0 with *out set, or -8255. */
static int fake_get(const struct fake_chip *g, const char *key, double *out)
{
	return fake_num(g, key, out) ? 0 : DCMI_ERR_NOT_SUPPORTED;
}

/* ---- enumeration ---- */

FAKE_EXPORT int dcmi_init(void)
{
	double code;

	fake_scn_count("dcmi_init");
	if (fake_load() < 0)
		return -8005;
	if (fake_num(fake_global, "init", &code))
		return (int)code;
	return DCMI_OK;
}

static int fake_card_list(const char *fn, int *card_num, int *card_list, int list_len)
{
	int n = 0, r;

	fake_scn_count(fn);
	if (fake_nsec < 0)
		return -8005;
	fake_tick++;
	r = fake_window(fake_global, "card_list_fault");
	if (r)
		return r;
	if (!card_num || !card_list)
		return -8001;
	/* card ids of present chips, ascending, each once */
	for (int c = 0; c < 1024; c++) {
		int any = 0;

		for (int i = 0; i < fake_nsec; i++)
			any |= fake_is_chip(&fake_sec[i]) && fake_sec[i].card == c &&
			       fake_present(&fake_sec[i]);
		if (any && n < list_len)
			card_list[n++] = c;
	}
	*card_num = n;
	return DCMI_OK;
}

#ifdef FAKE_OLD_DRIVER
FAKE_EXPORT int dcmi_get_card_num_list(int *card_num, int *card_list, int list_len)
{
	return fake_card_list("dcmi_get_card_num_list", card_num, card_list, list_len);
}
#else
FAKE_EXPORT int dcmi_get_card_list(int *card_num, int *card_list, int list_len)
{
	return fake_card_list("dcmi_get_card_list", card_num, card_list, list_len);
}
#endif

FAKE_EXPORT int dcmi_get_device_num_in_card(int card_id, int *device_num)
{
	int n = 0, r;

	fake_scn_count("dcmi_get_device_num_in_card");
	if (fake_nsec < 0)
		return -8005;
	r = fake_window(fake_global, "num_in_card_fault");
	if (r)
		return r;
	for (int i = 0; i < fake_nsec; i++)
		if (fake_is_chip(&fake_sec[i]) && fake_sec[i].card == card_id &&
		    fake_present(&fake_sec[i]) && fake_sec[i].chip + 1 > n)
			n = fake_sec[i].chip + 1;
	if (n == 0)
		return DCMI_ERR_INVALID_DEVICE;
	*device_num = n;
	return DCMI_OK;
}

FAKE_EXPORT int dcmi_get_device_logic_id(int *logic_id, int card_id, int device_id)
{
	struct fake_chip *g;
	/* a chip with a fault is still listed (its own calls fail) */
	int r = fake_enter_as("dcmi_get_device_logic_id", card_id, device_id, &g, 1);

	if (r)
		return r;
	*logic_id = g->logic;
	return DCMI_OK;
}

/* ---- identity ---- */

FAKE_EXPORT int dcmi_get_device_chip_info(int card_id, int device_id,
					  struct dcmi_chip_info *info)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_chip_info", card_id, device_id, &g);
	const char *name, *type;

	if (r)
		return r;
	name = fake_str(g, "chip_name");
	type = fake_str(g, "chip_type");
	if (!name)
		return DCMI_ERR_NOT_SUPPORTED;
	memset(info, 0, sizeof(*info));
	/* the driver's fields are fixed-size; a name of 32 bytes has no NUL */
	memcpy(info->chip_name, name, strnlen(name, sizeof(info->chip_name)));
	if (type)
		memcpy(info->chip_type, type, strnlen(type, sizeof(info->chip_type)));
	memcpy(info->chip_ver, "V1", 2);
	info->aicore_cnt = 24;
	return DCMI_OK;
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT int dcmi_get_device_die_v2(int card_id, int device_id, int die_type,
				       struct dcmi_die_id *die)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_die_v2", card_id, device_id, &g);
	const char *s;

	if (r)
		return r;
	s = fake_str(g, "die");
	if (!s || die_type != DCMI_DIE_VDIE)
		return DCMI_ERR_NOT_SUPPORTED;
	memset(die, 0, sizeof(*die));
	sscanf(s, "%x,%x,%x,%x,%x", &die->soc_die[0], &die->soc_die[1], &die->soc_die[2],
	       &die->soc_die[3], &die->soc_die[4]);
	return DCMI_OK;
}

FAKE_EXPORT int dcmi_get_card_elabel_v2(int card_id, struct dcmi_elabel_info *info)
{
	fake_scn_count("dcmi_get_card_elabel_v2");
	if (fake_nsec < 0)
		return -8005;
	for (int i = 0; i < fake_nsec; i++) {
		const char *s = fake_str(&fake_sec[i], "serial");

		if (!fake_is_chip(&fake_sec[i]) || fake_sec[i].card != card_id || !s)
			continue;
		if (!fake_present(&fake_sec[i]))
			return DCMI_ERR_NO_DEVICE;
		memset(info, 0, sizeof(*info));
		snprintf(info->serial_number, sizeof(info->serial_number), "%s", s);
		snprintf(info->product_name, sizeof(info->product_name), "Atlas");
		return DCMI_OK;
	}
	return DCMI_ERR_NOT_SUPPORTED;
}

FAKE_EXPORT int dcmi_get_device_pcie_info_v2(int card_id, int device_id,
					     struct dcmi_pcie_info_all *info)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_pcie_info_v2", card_id, device_id, &g);
	const char *s;
	unsigned dom, bus, dev, fn;

	if (r)
		return r;
	s = fake_str(g, "pci");
	if (!s || sscanf(s, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return DCMI_ERR_NOT_SUPPORTED;
	memset(info, 0, sizeof(*info));
	info->venderid = 0x19e5;
	info->deviceid = 0xd802;
	info->domain = (int)dom;
	info->bdf_busid = bus;
	info->bdf_deviceid = dev;
	info->bdf_funcid = fn;
	return DCMI_OK;
}
#endif

/* ---- readings ---- */

FAKE_EXPORT int dcmi_get_device_utilization_rate(int card_id, int device_id,
						 int input_type, unsigned int *rate)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_utilization_rate", card_id, device_id, &g);
	char key[24];
	double v;

	if (r)
		return r;
	snprintf(key, sizeof(key), "util_%d", input_type);
	r = fake_get(g, key, &v);
	if (!r)
		*rate = (unsigned)v;
	return r;
}

FAKE_EXPORT int dcmi_get_device_power_info(int card_id, int device_id, int *power)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_power_info", card_id, device_id, &g);
	double v;

	if (r)
		return r;
	r = fake_get(g, "power", &v);
	if (!r)
		*power = (int)v;
	return r;
}

FAKE_EXPORT int dcmi_get_device_temperature(int card_id, int device_id, int *temp)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_temperature", card_id, device_id, &g);
	double v;

	if (r)
		return r;
	r = fake_get(g, "temp", &v);
	if (!r)
		*temp = (int)v;
	return r;
}

FAKE_EXPORT int dcmi_get_device_health(int card_id, int device_id, unsigned int *health)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_health", card_id, device_id, &g);
	double v;

	if (r)
		return r;
	r = fake_get(g, "health", &v);
	if (!r)
		*health = (unsigned)v;
	return r;
}

#ifndef FAKE_OLD_DRIVER
FAKE_EXPORT int dcmi_get_device_hbm_info(int card_id, int device_id,
					 struct dcmi_hbm_info *info)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_hbm_info", card_id, device_id, &g);
	double total, used = 0, temp = 0, freq = 0, bw = 0;

	if (r)
		return r;
	if (!fake_num(g, "hbm_total_mb", &total))
		return DCMI_ERR_NOT_SUPPORTED;
	fake_num(g, "hbm_used_mb", &used);
	fake_num(g, "hbm_temp", &temp);
	fake_num(g, "hbm_freq", &freq);
	fake_num(g, "hbm_bw", &bw);
	info->memory_size = (unsigned long long)total;
	info->memory_usage = (unsigned long long)used;
	info->temp = (int)temp;
	info->freq = (unsigned)freq;
	info->bandwith_util_rate = (unsigned)bw;
	return DCMI_OK;
}

/* A newer driver's larger struct: the bytes of `size` past the `have` of
 * ours are written too (0xA5), so the caller's room for them is used and a
 * caller without it is caught by ASan. */
static void fake_canary(void *info, size_t have, double size)
{
	size_t n = size > 256 ? 256 : (size_t)size;

	if (n > have)
		memset((unsigned char *)info + have, 0xA5, n - have);
}

FAKE_EXPORT int dcmi_get_device_memory_info_v3(int card_id, int device_id,
					       struct dcmi_memory_info_v3 *info)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_memory_info_v3", card_id, device_id, &g);
	double total, avail = 0, size = (double)sizeof(*info);

	if (r)
		return r;
	if (!fake_num(g, "ddr_total_mb", &total))
		return DCMI_ERR_NOT_SUPPORTED;
	fake_num(g, "ddr_available_mb", &avail);
	fake_num(g, "mem_size", &size);
	memset(info, 0, sizeof(*info));
	info->memory_size = (unsigned long long)total;
	info->memory_available = (unsigned long long)avail;
	info->freq = 3200;
	info->hugepagesize = 2048;
	fake_canary(info, sizeof(*info), size);
	return DCMI_OK;
}

FAKE_EXPORT int dcmi_get_device_frequency(int card_id, int device_id, int freq_type,
					  unsigned int *mhz)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_frequency", card_id, device_id, &g);
	char key[24];
	double v;

	if (r)
		return r;
	snprintf(key, sizeof(key), "freq_%d", freq_type);
	r = fake_get(g, key, &v);
	if (!r)
		*mhz = (unsigned)v;
	return r;
}

FAKE_EXPORT int dcmi_get_device_ecc_info(int card_id, int device_id, int mem_type,
					 struct dcmi_ecc_info *info)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_ecc_info", card_id, device_id, &g);
	double sbe, dbe = 0, isb = 0, idb = 0, size = 36;
	struct dcmi_ecc_info e;

	if (r)
		return r;
	if (mem_type != DCMI_DEVICE_TYPE_HBM || !fake_num(g, "ecc_sbe", &sbe))
		return DCMI_ERR_NOT_SUPPORTED;
	fake_num(g, "ecc_dbe", &dbe);
	fake_num(g, "ecc_iso_sbe", &isb);
	fake_num(g, "ecc_iso_dbe", &idb);
	fake_num(g, "ecc_size", &size);
	memset(&e, 0, sizeof(e));
	e.enable_flag = 1;
	e.single_bit_error_cnt = (unsigned)sbe;
	e.double_bit_error_cnt = (unsigned)dbe;
	e.total_single_bit_error_cnt = (unsigned)sbe + 100;
	e.total_double_bit_error_cnt = (unsigned)dbe + 100;
	e.single_bit_isolated_pages_cnt = (unsigned)isb;
	e.double_bit_isolated_pages_cnt = (unsigned)idb;
	e.single_bit_next_isolated_pages_cnt = 7;
	e.double_bit_next_isolated_pages_cnt = 7;
	/* an older driver writes the 28 bytes of its smaller struct */
	memcpy(info, &e, size < (double)sizeof(e) ? (size_t)size : sizeof(e));
	fake_canary(info, sizeof(e), size);
	return DCMI_OK;
}

FAKE_EXPORT int dcmi_get_device_errorcode_v2(int card_id, int device_id, int *count,
					     unsigned int *codes, unsigned int list_len)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_errorcode_v2", card_id, device_id, &g);
	const char *s;
	int n = 0;

	if (r)
		return r;
	s = fake_str(g, "errors");
	if (!s)
		return DCMI_ERR_NOT_SUPPORTED;
	while (*s) {
		char *e;
		unsigned long code = strtoul(s, &e, 0);
		int on = 1;

		if (e == s)
			break;
		if (*e == '@') {
			char ticks[40];
			size_t k = 0;

			for (e++; *e && *e != ',' && k + 1 < sizeof(ticks); e++)
				ticks[k++] = *e;
			ticks[k] = '\0';
			on = fake_in_ticks(ticks);
		}
		if (on) {
			if ((unsigned)n < list_len)
				codes[n] = (unsigned)code;
			n++;
		}
		s = *e == ',' ? e + 1 : e + strlen(e);
	}
	*count = n;
	return DCMI_OK;
}

FAKE_EXPORT int dcmi_get_device_resource_info(int card_id, int device_id,
					      struct dcmi_proc_mem_info *procs,
					      int *proc_num)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_resource_info", card_id, device_id, &g);
	double v;

	if (r)
		return r;
	r = fake_get(g, "procs", &v);
	if (r)
		return r;
	/* the driver fills at most 32 entries */
	for (int i = 0; i < (int)v && i < 32; i++) {
		procs[i].proc_id = (int)fake_scn_list_ull(
		    &g->scn, "proc_pids", (unsigned)i, 4194304ull + (unsigned)i);
		procs[i].proc_mem_usage = (unsigned long)fake_scn_list_ull(
		    &g->scn, "proc_mem", (unsigned)i, 1ull << 30);
	}
	*proc_num = (int)v;
	return DCMI_OK;
}

FAKE_EXPORT int dcmi_get_device_network_health(int card_id, int device_id,
					       dcmi_detect_result_t *result)
{
	struct fake_chip *g;
	int r = fake_enter("dcmi_get_device_network_health", card_id, device_id, &g);
	double v;

	if (r)
		return r;
	r = fake_get(g, "net_health", &v);
	if (!r)
		*result = (dcmi_detect_result_t)v;
	return r;
}
#endif

/* ---- the definitions above have the declared types ---- */
#define FAKE_SAME(sym, type)                                                             \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&sym), type),             \
		       #sym " differs from its type in ascend_api.h")
FAKE_SAME(dcmi_init, dcmi_init_fn);
FAKE_SAME(dcmi_get_device_num_in_card, dcmi_num_in_card_fn);
FAKE_SAME(dcmi_get_device_logic_id, dcmi_logic_id_fn);
FAKE_SAME(dcmi_get_device_chip_info, dcmi_chip_info_fn);
FAKE_SAME(dcmi_get_device_utilization_rate, dcmi_util_fn);
FAKE_SAME(dcmi_get_device_power_info, dcmi_dev_int_fn);
FAKE_SAME(dcmi_get_device_temperature, dcmi_dev_int_fn);
FAKE_SAME(dcmi_get_device_health, dcmi_dev_uint_fn);
#ifdef FAKE_OLD_DRIVER
FAKE_SAME(dcmi_get_card_num_list, dcmi_card_list_fn);
#else
FAKE_SAME(dcmi_get_card_list, dcmi_card_list_fn);
FAKE_SAME(dcmi_get_device_die_v2, dcmi_die_fn);
FAKE_SAME(dcmi_get_card_elabel_v2, dcmi_elabel_fn);
FAKE_SAME(dcmi_get_device_pcie_info_v2, dcmi_pcie_info_fn);
FAKE_SAME(dcmi_get_device_hbm_info, dcmi_hbm_fn);
FAKE_SAME(dcmi_get_device_memory_info_v3, dcmi_memory_v3_fn);
FAKE_SAME(dcmi_get_device_frequency, dcmi_freq_fn);
FAKE_SAME(dcmi_get_device_ecc_info, dcmi_ecc_fn);
FAKE_SAME(dcmi_get_device_errorcode_v2, dcmi_errorcode_fn);
FAKE_SAME(dcmi_get_device_resource_info, dcmi_resource_fn);
FAKE_SAME(dcmi_get_device_network_health, dcmi_network_health_fn);
#endif
