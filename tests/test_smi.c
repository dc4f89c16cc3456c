/* Check suite for the smi collector (collectors/smi*.c): the value rule and
 * the four output parsers on fixed text (garbage, missing columns, units
 * that disagree, N/A in every position), the profile loader's errors, every
 * built-in profile against its fake tool (tests/fake_smi/) with exact
 * values, and the runner's safety: a slow tool killed at its timeout, a hung
 * one whose child holds stdout (the whole group killed, no zombie, no fd
 * left), 10 MB of output, a non-zero exit with partial output.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "accelmon/collector.h"
#include "fake_am.h"
#include "smi.h"

#ifndef FAKE_SMI_DIR
#define FAKE_SMI_DIR "tests/fake_smi"
#endif
#define MiB 1048576.0

extern const struct am_collector smi_collector;

static void violation(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- a profile from YAML text, and what a parse reports ---- */

/* yaml (one profile) as profile "t" of a profiles text */
static const struct am_node *tree_of(const char *yaml, void **holder)
{
	char text[4096], err[256];
	const struct am_node *t;
	size_t o = (size_t)snprintf(text, sizeof(text), "t:\n");

	for (const char *c = yaml; *c && o + 4 < sizeof(text); c++) {
		if (c == yaml || c[-1] == '\n')
			o += (size_t)snprintf(text + o, sizeof(text) - o, "  ");
		text[o++] = *c;
	}
	text[o] = '\0';
	ck_assert_msg(smi_profiles_parse(text, holder, &t, err, sizeof(err)) == 0, "%s",
		      err);
	return am_node_get(t, "t");
}

static struct smi_profile *profile(const char *yaml)
{
	void *holder;
	const struct am_node *t = tree_of(yaml, &holder);
	struct smi_profile *p;
	char key[128], why[256];
	unsigned long line;

	ck_assert_msg(
	    smi_profile_load("t", t, &p, key, sizeof(key), why, sizeof(why), &line) == 0,
	    "%s: %s", key, why);
	smi_profiles_free(holder);
	return p;
}

/* The error a profile gets: "LINE key: why", LINE in yaml's own lines. */
static const char *profile_error(const char *yaml)
{
	static char out[512];
	void *holder;
	const struct am_node *t = tree_of(yaml, &holder);
	struct smi_profile *p;
	char key[128], why[256];
	unsigned long line = 0;

	ck_assert_int_eq(
	    smi_profile_load("t", t, &p, key, sizeof(key), why, sizeof(why), &line),
	    -EINVAL);
	smi_profiles_free(holder);
	/* the profile sits one line below "t:", under the parser's header */
	snprintf(out, sizeof(out), "%lu %s: %s", line - SMI_PROFILES_LINE0 - 1, key, why);
	return out;
}

struct got {
	char v[SMI_MAX_DEVICES][8][64];
	bool have[SMI_MAX_DEVICES][8];
	unsigned calls;
};

static void collect(void *arg, int dev, size_t field, const char *text, size_t len)
{
	struct got *g = arg;

	ck_assert_int_ge(dev, 0);
	ck_assert_int_lt(dev, SMI_MAX_DEVICES);
	ck_assert_uint_lt(field, 8);
	snprintf(g->v[dev][field], 64, "%.*s", (int)len, text);
	g->have[dev][field] = true;
	g->calls++;
}

static int parse(const struct smi_profile *p, const char *text, struct got *g,
		 unsigned *skipped)
{
	char why[256];

	memset(g, 0, sizeof(*g));
	*skipped = 0;
	return smi_parse(&p->queries[0], text, strlen(text), -1, collect, g, skipped, why,
			 sizeof(why));
}

static double value(const struct smi_field *f, const char *s, int *rc)
{
	char why[200];
	double v = NAN;

	*rc = smi_value(f, s, strlen(s), &v, why, sizeof(why));
	return v;
}

/* ---- values ---- */

START_TEST(values_absent_units_states)
{
	struct smi_profile *p =
	    profile("device_prefix: x\ncommand: [x]\nformat: csv\nfields:\n"
		    "  u: {metric: utilization, unit: '%'}\n"
		    "  m: {metric: memory_used, unit: MiB}\n"
		    "  w: {metric: power, unit: W}\n"
		    "  t: {metric: temperature, label: gpu, unit: C}\n"
		    "  s: port_up\n"
		    "  k: {metric: port_link_speed, unit: Mb/s}\n"
		    "  c: {metric: clock, label: sm, unit: MHz}\n");
	const struct smi_field *u = &p->queries[0].fields[0], *m = u + 1, *w = u + 2,
			       *t = u + 3, *s = u + 4, *k = u + 5, *c = u + 6;
	static const char *const absent[] = {
	    "N/A", "[N/A]", "[Not Supported]", "-",  "Unknown", "",
	    "  ",  "n/a",   "Not Supported",   "--", NULL};
	int rc;

	for (size_t i = 0; absent[i]; i++) {
		value(u, absent[i], &rc);
		ck_assert_msg(rc == -ENODATA, "'%s' is absent", absent[i]);
		value(m, absent[i], &rc);
		ck_assert_int_eq(rc, -ENODATA);
	}
	ck_assert_double_eq_tol(value(u, "37", &rc), 0.37, 1e-12);
	ck_assert_int_eq(rc, 0);
	ck_assert_double_eq_tol(value(u, " 37 % ", &rc), 0.37, 1e-12);
	ck_assert_double_eq_tol(value(m, "1024", &rc), 1024 * MiB, 1e-3);
	ck_assert_double_eq_tol(value(m, "1024 MiB", &rc), 1024 * MiB, 1e-3);
	/* another unit of the same kind is converted */
	ck_assert_double_eq_tol(value(m, "2 GiB", &rc), 2048 * MiB, 1e-3);
	ck_assert_double_eq_tol(value(w, "96500 mW", &rc), 96.5, 1e-9);
	ck_assert_double_eq_tol(value(t, "35 \xe2\x84\x83", &rc), 35, 1e-12);
	ck_assert_double_eq_tol(value(t, "-5 C", &rc), -5, 1e-12);
	ck_assert_double_eq_tol(value(k, "100000 Mb/s", &rc), 12.5e9, 1);
	ck_assert_double_eq_tol(value(c, "1.5 GHz", &rc), 1.5e9, 1);
	ck_assert_double_eq(value(s, "UP", &rc), 1);
	ck_assert_double_eq(value(s, "down", &rc), 0);
	ck_assert_int_eq(rc, 0);
	/* a unit of another kind is refused, never read as a number */
	value(w, "1500 MHz", &rc);
	ck_assert_int_eq(rc, -EINVAL);
	value(m, "37 %", &rc);
	ck_assert_int_eq(rc, -EINVAL);
	/* not numbers */
	static const char *const bad[] = {"0x10", "inf",   "nan", "1e999",
					  "abc",  "12abc", "1,5", NULL};
	for (size_t i = 0; bad[i]; i++) {
		value(w, bad[i], &rc);
		ck_assert_msg(rc == -EINVAL, "'%s' refused (%d)", bad[i], rc);
	}
	value(s, "maybe", &rc);
	ck_assert_int_eq(rc, -EINVAL);
	/* -1 is "not supported", except for temperatures */
	value(w, "-1", &rc);
	ck_assert_int_eq(rc, -ENODATA);
	/* a share above 150% is not a share */
	value(u, "900", &rc);
	ck_assert_int_eq(rc, -EINVAL);
	smi_profile_free(p);
}
END_TEST

/* ---- parsers ---- */

START_TEST(csv_position_and_header)
{
	struct smi_profile *p =
	    profile("device_prefix: x\ncommand: [x]\nformat: csv\nfields:\n"
		    "  power.draw: {metric: power, unit: W}\n"
		    "  index: {index: true}\n"
		    "  memory.used: {metric: memory_used, unit: MiB}\n");
	struct got g;
	unsigned sk;

	/* garbage lines, a short row (missing column), N/A cells */
	ck_assert_int_eq(parse(p,
			       "WARNING: something\n"
			       "203.5, 0, 1024\n"
			       "[N/A], 1, 2048\n"
			       "96, 2\n"
			       ", , \n"
			       "\n"
			       "7, 9999, 1\n",
			       &g, &sk),
			 2);
	ck_assert_uint_eq(sk, 4);
	ck_assert_str_eq(g.v[0][0], "203.5");
	ck_assert_str_eq(g.v[0][2], "1024");
	ck_assert_str_eq(g.v[1][0], "[N/A]");
	ck_assert_str_eq(g.v[1][2], "2048");
	ck_assert(!g.have[2][0]);
	smi_profile_free(p);

	/* by name: the header names the columns, in any order, with units */
	p = profile("device_prefix: x\ncommand: [x]\nformat: csv\nheader: true\nfields:\n"
		    "  power.draw: {metric: power, unit: W}\n"
		    "  index: {index: true}\n"
		    "  absent.field: {metric: memory_used, unit: MiB}\n");
	ck_assert_int_eq(parse(p,
			       "index, memory.used [MiB], power.draw [W]\n"
			       "0, 1024 MiB, 203.50 W\n"
			       "1, 2048 MiB, [Not Supported]\n",
			       &g, &sk),
			 2);
	ck_assert_str_eq(g.v[0][0], "203.50 W");
	ck_assert_str_eq(g.v[1][0], "[Not Supported]");
	ck_assert(!g.have[0][2]); /* a field the header lacks is absent */
	smi_profile_free(p);
}
END_TEST

START_TEST(json_paths)
{
	struct smi_profile *p = profile(
	    "device_prefix: x\ncommand: [x]\nformat: json\ndevices: GPU\nfields:\n"
	    "  Index: {index: true}\n"
	    "  Utilization/Gpu: {metric: utilization, unit: '%'}\n"
	    "  'Power Readings/Power Draw ': {metric: power, unit: W}\n"
	    "  /Driver Version: {metric: info, label: driver_version}\n"
	    "  FB/Used: {metric: memory_used, unit: MiB}\n");
	struct got g;
	unsigned sk;
	char why[128];

	ck_assert_int_eq(
	    parse(
		p,
		"{\"Driver Version\": \"2.7\", \"GPU\": ["
		"{\"Index\": \"1\", \"Utilization\": {\"Gpu\": \"5 %\"},"
		" \"Power Readings\": {\"Power Draw \": 96.5}, \"FB\": {\"Used\": null}},"
		"{\"Index\": 0, \"Utilization\": {\"Gpu\": 37}},"
		"{\"Index\": \"x\"}, 7]}",
		&g, &sk),
	    2);
	ck_assert_uint_eq(sk, 2);
	ck_assert_str_eq(g.v[1][1], "5 %");
	ck_assert_str_eq(g.v[1][2], "96.5");
	ck_assert_str_eq(g.v[1][3], "2.7");
	ck_assert_str_eq(g.v[1][4], "N/A"); /* null is absent */
	ck_assert_str_eq(g.v[0][1], "37");
	ck_assert(!g.have[0][2]);
	/* not JSON, or no list where the profile says */
	ck_assert_int_eq(smi_parse(&p->queries[0], "{\"GPU\": [", 9, -1, collect, &g, &sk,
				   why, sizeof(why)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "not JSON"));
	ck_assert_int_eq(smi_parse(&p->queries[0], "{\"GPU\": 3}", 10, -1, collect, &g,
				   &sk, why, sizeof(why)),
			 -EINVAL);
	smi_profile_free(p);
}
END_TEST

START_TEST(kv_blocks_sections)
{
	struct smi_profile *p =
	    profile("device_prefix: x\ncommand: [x]\nformat: kv\ndevices: Card\nfields:\n"
		    "  MLU Average: {metric: utilization, unit: '%'}\n"
		    "  Physical Memory Usage/Used: {metric: memory_used, unit: MiB}\n"
		    "  'Total Size|Mem Size': {metric: memory_total, unit: MiB}\n");
	struct got g;
	unsigned sk;

	ck_assert_int_eq(parse(p,
			       "banner : before any card\n"
			       "Card 1\n"
			       "  MLU Average : 10 %\n"
			       "  Virtual Memory Usage\n"
			       "    Used : 5 MiB\n"
			       "  Physical Memory Usage\n"
			       "    Used : 7 MiB\n"
			       "  Mem Size : 100 MiB\n"
			       "Card 0\n"
			       "  MLU Average : N/A\n"
			       "  no colon here is a section\n"
			       "  Total Size : 200 MiB\n",
			       &g, &sk),
			 2);
	ck_assert_uint_eq(sk, 1); /* the banner before any card */
	ck_assert_str_eq(g.v[1][0], "10 %");
	ck_assert_str_eq(g.v[1][1], "7 MiB"); /* the physical one, not the virtual */
	ck_assert_str_eq(g.v[1][2], "100 MiB");
	ck_assert_str_eq(g.v[0][0], "N/A");
	ck_assert_str_eq(g.v[0][2], "200 MiB");
	smi_profile_free(p);
}
END_TEST

START_TEST(columns_width)
{
	struct smi_profile *p =
	    profile("device_prefix: x\ncommand: [x]\nformat: columns\nwidth: 4\nfields:\n"
		    "  '1': {index: true}\n"
		    "  '3': {metric: utilization, unit: '%'}\n");
	struct got g;
	unsigned sk;

	ck_assert_int_eq(parse(p,
			       "date id x util\n"
			       "d 0 x 37\n"
			       "d 1 x\n"
			       "d 1 x 5 extra\n"
			       "d 2 x -\n",
			       &g, &sk),
			 2);
	ck_assert_uint_eq(sk, 3);
	ck_assert_str_eq(g.v[0][1], "37");
	ck_assert_str_eq(g.v[2][1], "-");
	ck_assert(!g.have[1][1]);
	smi_profile_free(p);
}
END_TEST

/* ---- the loader ---- */

/* a node's own line; a mapping's is where it starts or (newer config
 * trees) its key's: those cases are compared without it */
#define ERR_NOLINE(s) (strchr((s), ' ') + 1)

START_TEST(profile_errors)
{
	ck_assert_str_eq(
	    ERR_NOLINE(profile_error("command: [x]\nformat: csv\nfields: {a: power}\n")),
	    "device_prefix: missing: devices are named <device_prefix><index>");
	ck_assert_str_eq(profile_error("device_prefix: x\ncommand: [x]\nformat: xml\n"
				       "fields: {a: {metric: power, unit: W}}\n"),
			 "3 format: expected csv, json, kv or columns");
	ck_assert_str_eq(profile_error("device_prefix: x\ncommand: [x]\nformat: csv\n"
				       "fields:\n  a: {metric: power, unit: MiB}\n"),
			 "5 fields.a.unit: 'MiB' is not a unit of power");
	ck_assert_str_eq(profile_error("device_prefix: x\ncommand: [x]\nformat: csv\n"
				       "fields:\n  a: {metric: powr}\n"),
			 "5 fields.a.metric: unknown metric 'powr'");
	ck_assert_str_eq(
	    profile_error("device_prefix: x\ncommand: x\nformat: csv\n"
			  "fields: {a: power}\n"),
	    "2 command: expected a list: the program, then its arguments (no "
	    "shell)");
	ck_assert_ptr_nonnull(strstr(profile_error("device_prefix: x\nbogus: 1\n"),
				     "2 bogus: unknown key (known: command"));
	ck_assert_str_eq(
	    ERR_NOLINE(profile_error("device_prefix: x\nqueries:\n"
				     "  - {command: [x], format: kv, per_device: true,"
				     " fields: {a: {metric: power, unit: W}}}\n")),
	    "enumerate: per_device queries need `enumerate:` to list devices");
	ck_assert_str_eq(profile_error("device_prefix: x\ncommand: [x]\nformat: csv\n"
				       "fields:\n  t: {metric: temperature, unit: C}\n"),
			 "5 fields.t: metric temperature needs `label:` (sensor)");
}
END_TEST

START_TEST(builtins_load)
{
	static const char *const want[] = {
	    "ixsmi",  "hl-smi",	 "brsmi",   "mthreads-gmi", "efsmi", "cnmon",
	    "mx-smi", "xpu-smi", "npu-smi", "hccn_tool",    NULL};

	ck_assert_uint_eq(smi_builtin_count(), 10);
	for (size_t i = 0; want[i]; i++) {
		struct smi_profile *p = smi_builtin_load(want[i]);

		ck_assert_msg(p != NULL, "built-in %s loads", want[i]);
		ck_assert_str_eq(smi_builtin_name(i), want[i]);
		smi_profile_free(p);
	}
	ck_assert_ptr_null(smi_builtin_load("nvidia-smi"));
}
END_TEST

/* ---- the collector on the fake tools ---- */

static char tooldir[64];

/* A folder of links to the fake tools, with a mode file ("TOOL MODE"
 * lines; NULL: none). */
static void tools_with(const char *mode)
{
	char cmd[512];

	snprintf(tooldir, sizeof(tooldir), "/tmp/test_smi.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tooldir));
	snprintf(cmd, sizeof(cmd), "for f in '%s'/*; do ln -s \"$f\" '%s'/; done",
		 FAKE_SMI_DIR, tooldir);
	ck_assert_int_eq(system(cmd), 0);
	if (mode) {
		char p[128];
		FILE *f;

		snprintf(p, sizeof(p), "%s/fake_smi.mode", tooldir);
		ck_assert_ptr_nonnull(f = fopen(p, "w"));
		fputs(mode, f);
		fclose(f);
	}
}

static void tools_done(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tooldir);
	ck_assert_int_eq(system(cmd), 0);
}

struct inst {
	struct am_ctx *ctx;
	void *st;
};

/* Instance smi/NAME with the section yaml (NULL: search_path only). */
static int inst_start(struct inst *in, const char *name, const char *extra)
{
	char full[96], yaml[2048], err[256];
	const struct am_config *cfg;

	snprintf(full, sizeof(full), "smi/%s", name);
	snprintf(yaml, sizeof(yaml), "{search_path: [%s]%s%s}", tooldir,
		 extra ? ", " : "", extra ? extra : "");
	in->ctx = fake_am_new(full, NULL);
	fake_am_set_interval(in->ctx, 20); /* a roomy poll budget under load */
	fake_am_on_violation(violation);
	cfg = fake_am_config(in->ctx, &smi_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	in->st = NULL;
	return smi_collector.init(in->ctx, cfg, &in->st);
}

static void inst_stop(struct inst *in)
{
	if (in->st)
		smi_collector.fini(in->ctx, in->st);
	fake_am_free(in->ctx);
}

static double val(const struct inst *in, const char *fam, const char *labels)
{
	const struct fake_series *s = fake_am_match(in->ctx, fam, labels);

	ck_assert_msg(s != NULL, "%s%s exists", fam, labels);
	ck_assert_msg(s->nsamples > 0, "%s%s has a sample", fam, labels);
	return fake_am_scaled(in->ctx, s);
}

static bool absent(const struct inst *in, const char *fam, const char *labels)
{
	const struct fake_series *s = fake_am_match(in->ctx, fam, labels);

	return !s || !s->nsamples;
}

#define EQ(a, b) ck_assert_double_eq_tol((a), (double)(b), 1e-6 * (fabs((double)(b)) + 1))

/* What every accelerator profile reads from the fakes' two devices; where
 * a tool prints no unit the value is whole (efsmi's and cnmon's %d). */
struct expect {
	const char *tool, *dev0, *dev1;
	double power0; /* 0: the profile has no power */
	bool mem, total, temp;
};

static const struct expect expects[] = {
    {"ixsmi", "iluvatar0", "iluvatar1", 203.5, false, false, true},
    {"hl-smi", "gaudi0", "gaudi1", 203.5, true, true, true},
    {"brsmi", "biren0", "biren1", 203.5, true, true, true},
    {"mthreads-gmi", "mthreads0", "mthreads1", 203.5, true, true, true},
    {"efsmi", "enflame0", "enflame1", 203, true, true, true},
    {"cnmon", "cambricon0", "cambricon1", 203, true, true, true},
    {"mx-smi", "metax0", "metax1", 203.5, true, true, true},
    {"xpu-smi", "kunlunxin0", "kunlunxin1", 203, true, true, true},
    {"npu-smi", "ascend0", "ascend1", 203.5, true, true, true},
};

START_TEST(builtin_exact_values)
{
	const struct expect *e = &expects[_i];
	struct inst in;
	char l0[64], l1[64];

	tools_with(NULL);
	ck_assert_int_eq(inst_start(&in, e->tool, NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	snprintf(l0, sizeof(l0), "device=\"%s\"", e->dev0);
	snprintf(l1, sizeof(l1), "device=\"%s\"", e->dev1);
	EQ(val(&in, "accel_utilization_ratio", l0), 0.37);
	EQ(val(&in, "accel_utilization_ratio", l1), 0.05);
	EQ(val(&in, "accel_up", l0), 1);
	EQ(val(&in, "accel_up", l1), 1);
	EQ(val(&in, "accel_power_watts", l0), e->power0);
	/* the tools print N/A (or -, NA, [N/A]) for device 1's power */
	ck_assert_msg(absent(&in, "accel_power_watts", l1), "%s power absent", e->tool);
	if (e->temp) {
		EQ(val(&in, "accel_temperature_celsius", l0), 62);
		EQ(val(&in, "accel_temperature_celsius", l1), 35);
	}
	if (e->mem && strcmp(e->tool, "npu-smi")) {
		EQ(val(&in, "accel_memory_used_bytes", l0), 1024 * MiB);
		EQ(val(&in, "accel_memory_used_bytes", l1), 2048 * MiB);
	} else if (e->mem) { /* HBM Usage Rate(%) x HBM Capacity(MB) */
		EQ(val(&in, "accel_memory_used_bytes", l0),
		   floor(0.03 * 32768 * MiB + 0.5));
		EQ(val(&in, "accel_memory_used_bytes", l1),
		   floor(0.06 * 32768 * MiB + 0.5));
	}
	if (e->total)
		EQ(val(&in, "accel_memory_total_bytes", l0), 32768 * MiB);
	ck_assert_uint_eq(fake_am_read_errors(in.ctx), 0);
	inst_stop(&in);
	tools_done();
}
END_TEST

START_TEST(builtin_details)
{
	struct inst in;

	tools_with(NULL);
	/* ixsmi v1: bus id as uuid, serial and memory bandwidth */
	ck_assert_int_eq(inst_start(&in, "ixsmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_info",
	       "uuid=\"0000:17:00.0\",vendor=\"iluvatar\",model=\"\","
	       "serial=\"SN0\",pci_bus_id=\"0000:17:00.0\""),
	   1);
	EQ(val(&in, "accel_memory_bandwidth_utilization_ratio", "iluvatar1"), 0.01);
	inst_stop(&in);
	/* hl-smi prints units (they match the profile) and a uuid */
	ck_assert_int_eq(inst_start(&in, "hl-smi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_info",
	       "{device=\"gaudi1\",uuid=\"GPU-1b\",vendor=\"habana\","
	       "model=\"HL-225\""),
	   1);
	inst_stop(&in);
	/* efsmi: power limit, model */
	ck_assert_int_eq(inst_start(&in, "efsmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_power_limit_watts", "enflame1"), 300);
	EQ(val(&in, "accel_info", "model=\"T20\""), 1);
	inst_stop(&in);
	/* mthreads: the driver version from the document's root */
	ck_assert_int_eq(inst_start(&in, "mthreads-gmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_info",
	       "model=\"MTT S4000\",serial=\"\",pci_bus_id=\"\","
	       "numa_node=\"\",driver_version=\"2.7.0\""),
	   1);
	inst_stop(&in);
	/* npu-smi: engines, per chip of `npu-smi info -m` (the Mcu rows are
	 * not devices) */
	ck_assert_int_eq(inst_start(&in, "npu-smi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_engine_utilization_ratio",
	       "ascend1\",uuid=\"\",engine=\"aivector\""),
	   0.20);
	EQ(val(&in, "accel_engine_utilization_ratio",
	       "ascend0\",uuid=\"\",engine=\"ctrlcpu\""),
	   0.08);
	EQ(val(&in, "accel_memory_bandwidth_utilization_ratio", "ascend0"), 0.12);
	ck_assert(absent(&in, "accel_up", "ascend2"));
	inst_stop(&in);
	/* hccn_tool: RoCE ports of both NPUs, no accel_* of its own */
	ck_assert_int_eq(inst_start(&in, "hccn_tool", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "fabric_port_receive_packets_total", "ascend1\",port=\"0\""), 2006);
	EQ(val(&in, "fabric_port_transmit_packets_total", "ascend0\",port=\"0\""), 1005);
	EQ(val(&in, "fabric_roce_pause_frames_total",
	       "ascend0\",port=\"0\",direction=\"receive\""),
	   2);
	EQ(val(&in, "fabric_roce_pfc_frames_total",
	       "ascend1\",port=\"0\",direction=\"transmit\""),
	   3);
	EQ(val(&in, "fabric_roce_cnp_packets_total", "direction=\"receive\""), 8);
	EQ(val(&in, "fabric_roce_ecn_packets_total", "ascend1"), 9);
	EQ(val(&in, "fabric_roce_retries_total", "ascend1"), 10);
	EQ(val(&in, "fabric_port_errors_total", "ascend0\",port=\"0\",type=\"fcs\""), 12);
	EQ(val(&in, "fabric_port_up", "ascend0"), 1);
	EQ(val(&in, "fabric_port_up", "ascend1"), 0);
	EQ(val(&in, "fabric_port_link_speed_bytes_per_second", "ascend1"), 12.5e9);
	ck_assert_ptr_null(fake_am_match(in.ctx, "accel_up", ""));
	inst_stop(&in);
	tools_done();
}
END_TEST

START_TEST(generations_and_modes)
{
	struct inst in;

	/* ixsmi v2 refuses gpu.power.draw: the second generation's query */
	tools_with("ixsmi v2\nbrsmi narrow\nefsmi old\n");
	ck_assert_int_eq(inst_start(&in, "ixsmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_power_watts", "iluvatar0"), 203.5);
	ck_assert_uint_eq(fake_am_log_count(in.ctx, "using query 1 (fallback)"), 1);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	ck_assert_uint_eq(fake_am_log_count(in.ctx, "using query"), 1); /* pinned */
	inst_stop(&in);
	ck_assert_int_eq(inst_start(&in, "brsmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_memory_used_bytes", "biren1"), 2048 * MiB);
	ck_assert(absent(&in, "accel_utilization_ratio", "biren0"));
	inst_stop(&in);
	/* old efsmi drivers: Mem Size / Mem Usage */
	ck_assert_int_eq(inst_start(&in, "efsmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_memory_total_bytes", "enflame0"), 32768 * MiB);
	inst_stop(&in);
	tools_done();
}
END_TEST

START_TEST(bad_output)
{
	struct inst in;

	/* N/A in every position: every value absent, devices still up */
	tools_with("ixsmi na\nhl-smi units\nxpu-smi missing\nmthreads-gmi na\n"
		   "brsmi garbage\n");
	ck_assert_int_eq(inst_start(&in, "ixsmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	ck_assert(absent(&in, "accel_utilization_ratio", ""));
	ck_assert(absent(&in, "accel_power_watts", ""));
	ck_assert(absent(&in, "accel_temperature_celsius", ""));
	ck_assert_uint_eq(fake_am_read_errors(in.ctx), 0);
	inst_stop(&in);
	ck_assert_int_eq(inst_start(&in, "mthreads-gmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	ck_assert(absent(&in, "accel_utilization_ratio", ""));
	ck_assert(absent(&in, "accel_memory_used_bytes", ""));
	EQ(val(&in, "accel_power_watts", "mthreads0"), 203.5);
	inst_stop(&in);
	/* units that disagree with the profile: refused, counted, logged */
	ck_assert_int_eq(inst_start(&in, "hl-smi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	ck_assert(absent(&in, "accel_power_watts", ""));
	ck_assert(absent(&in, "accel_utilization_ratio", ""));
	EQ(val(&in, "accel_memory_used_bytes", "gaudi0"), 1024 * MiB);
	ck_assert_uint_eq(fake_am_read_errors(in.ctx), 3); /* 2 util + 1 power */
	ck_assert_uint_ge(fake_am_log_count(in.ctx, "unit 'MHz' is not of a power"), 1);
	inst_stop(&in);
	/* a row cut short is no device; the other is read */
	ck_assert_int_eq(inst_start(&in, "xpu-smi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_utilization_ratio", "kunlunxin0"), 0.37);
	ck_assert(absent(&in, "accel_up", "kunlunxin1"));
	inst_stop(&in);
	/* garbage lines around the rows */
	ck_assert_int_eq(inst_start(&in, "brsmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_utilization_ratio", "biren1"), 0.05);
	inst_stop(&in);
	tools_done();
}
END_TEST

START_TEST(partial_exit_backoff_missing)
{
	struct inst in;
	int rc;

	tools_with("efsmi partial\ncnmon fail\n");
	/* non-zero exit with output: what it printed counts, the status is
	 * logged */
	ck_assert_int_eq(inst_start(&in, "efsmi", NULL), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_utilization_ratio", "enflame1"), 0.05);
	ck_assert_uint_eq(fake_am_log_count(in.ctx, "exit status 3"), 1);
	ck_assert_uint_eq(fake_am_log_count(in.ctx, "lost device 1 half-way"), 1);
	inst_stop(&in);
	/* failing: after 3 in a row it backs off and says so once */
	ck_assert_int_eq(inst_start(&in, "cnmon", NULL), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), -EIO);
	ck_assert_uint_eq(fake_am_log_count(in.ctx, "failed 3 times in a row"), 1);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), -EAGAIN);
	ck_assert_uint_eq(fake_am_log_count(in.ctx, "failed 3 times in a row"), 1);
	/* stderr lines are rate-limited: one for the 12 runs so far */
	ck_assert_uint_eq(fake_am_log_count(in.ctx, "said on stderr"), 1);
	inst_stop(&in);
	tools_done();
	/* a missing tool: one line, -ENODEV */
	snprintf(tooldir, sizeof(tooldir), "/nonexistent");
	rc = inst_start(&in, "cnmon", NULL);
	ck_assert_int_eq(rc, -ENODEV);
	ck_assert_ptr_nonnull(strstr(fake_am_found(in.ctx), "cnmon not found"));
	inst_stop(&in);
}
END_TEST

START_TEST(defer_to_library_collector)
{
	struct inst in;

	tools_with(NULL);
	ck_assert_int_eq(inst_start(&in, "xpu-smi", NULL), 0);
	fake_am_set_running("kunlunxin", 1);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	ck_assert_uint_eq(fake_am_samples(in.ctx), 0);
	ck_assert_uint_eq(
	    fake_am_log_count(in.ctx, "off: the kunlunxin collector reports"), 1);
	fake_am_set_running("kunlunxin", -1);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_utilization_ratio", "kunlunxin0"), 0.37);
	inst_stop(&in);
	tools_done();
}
END_TEST

START_TEST(user_profile_and_instances)
{
	static const char *const prof =
	    "profiles: {mychip: {command: [ixsmi, '--query-gpu={fields}'], format: csv,"
	    " device_prefix: mychip, vendor: acme,"
	    " fields: {index: {index: true}, utilization.gpu: {metric: utilization,"
	    " unit: '%'}, memory.used: {metric: memory_used, unit: MiB}}}}";
	char names[64][AM_INSTANCE_NAME_MAX + 1];
	struct inst in;
	const struct am_config *cfg;
	char err[256], yaml[512], key[128], why[256];
	int n;

	tools_with(NULL);
	ck_assert_int_eq(inst_start(&in, "mychip", prof), 0);
	ck_assert_int_eq(smi_collector.poll(in.ctx, in.st), 0);
	EQ(val(&in, "accel_utilization_ratio", "mychip1"), 0.05);
	EQ(val(&in, "accel_memory_used_bytes", "mychip0"), 1024 * MiB);
	EQ(val(&in, "accel_info", "vendor=\"acme\""), 1);
	inst_stop(&in);

	/* the plain section: every built-in whose command is found, then the
	 * user's; with tools: those */
	in.ctx = fake_am_new("smi", NULL);
	snprintf(yaml, sizeof(yaml), "{search_path: [%s], %s}", tooldir, prof + 0);
	cfg = fake_am_config(in.ctx, &smi_collector, yaml, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	n = smi_collector.instances(cfg, names, 64);
	ck_assert_int_eq(n, 11);
	ck_assert_str_eq(names[0], "ixsmi");
	ck_assert_str_eq(names[9], "hccn_tool");
	ck_assert_str_eq(names[10], "mychip");
	ck_assert_int_eq(smi_collector.check(cfg, key, sizeof(key), why, sizeof(why)), 0);
	fake_am_free(in.ctx);
	in.ctx = fake_am_new("smi", NULL);
	snprintf(yaml, sizeof(yaml), "{search_path: [%s], tools: [hl-smi, mychip], %s}",
		 tooldir, prof);
	cfg = fake_am_config(in.ctx, &smi_collector, yaml, err, sizeof(err));
	ck_assert_int_eq(smi_collector.instances(cfg, names, 64), 2);
	ck_assert_str_eq(names[0], "hl-smi");
	ck_assert_str_eq(names[1], "mychip");
	fake_am_free(in.ctx);
	/* the check names the value at fault */
	in.ctx = fake_am_new("smi", NULL);
	cfg = fake_am_config(in.ctx, &smi_collector,
			     "{tools: [ixsmi, nosuch], profiles: {a: {device_prefix: a,"
			     " command: [a], format: csv, fields: {x: power}}}}",
			     err, sizeof(err));
	ck_assert_int_ne(smi_collector.check(cfg, key, sizeof(key), why, sizeof(why)), 0);
	ck_assert_str_eq(key, "profiles.a.fields.x");
	fake_am_free(in.ctx);
	in.ctx = fake_am_new("smi", NULL);
	cfg = fake_am_config(in.ctx, &smi_collector, "{tools: [ixsmi, nosuch]}", err,
			     sizeof(err));
	ck_assert_int_ne(smi_collector.check(cfg, key, sizeof(key), why, sizeof(why)), 0);
	ck_assert_str_eq(key, "tools[1]");
	ck_assert_ptr_nonnull(strstr(why, "no profile named 'nosuch'"));
	fake_am_free(in.ctx);
	/* nothing found: the plain section runs as itself and says so */
	in.ctx = fake_am_new("smi", NULL);
	cfg = fake_am_config(in.ctx, &smi_collector, "{search_path: [/nonexistent]}", err,
			     sizeof(err));
	{
		void *st = NULL;

		ck_assert_int_eq(smi_collector.init(in.ctx, cfg, &st), -ENODEV);
		ck_assert_ptr_nonnull(
		    strstr(fake_am_found(in.ctx), "no vendor tool found"));
	}
	fake_am_free(in.ctx);
	tools_done();
}
END_TEST

/* ---- the runner ---- */

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Processes still alive (not zombies) in process group pgid. */
static unsigned group_alive(int pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char p[300], buf[512], *rp, state;
		int pid, ppid, pgrp;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
		if (!(f = fopen(p, "r")))
			continue;
		if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
		    sscanf(rp + 2, "%c %d %d", &state, &ppid, &pgrp) == 3 &&
		    pgrp == pgid && state != 'Z')
			n++;
		fclose(f);
		(void)pid;
	}
	closedir(d);
	return n;
}

static void run_fake(const char *tool, const char *mode, double timeout,
		     struct smi_run_result *r, double *took)
{
	char path[128], mline[64];
	const char *argv[] = {path, "-q", NULL};
	struct smi_run_opts o = {.timeout_s = timeout};
	double t0;

	snprintf(mline, sizeof(mline), "%s %s\n", tool, mode);
	tools_with(mline);
	snprintf(path, sizeof(path), "%s/%s", tooldir, tool);
	t0 = now_s();
	ck_assert_int_eq(smi_run(argv, &o, r), 0);
	*took = now_s() - t0;
}

START_TEST(runner_slow_and_hung)
{
	struct smi_run_result r;
	unsigned fds = open_fds();
	double took;
	int st;

	/* slow: killed at its timeout */
	run_fake("efsmi", "slow", 1.0, &r, &took);
	ck_assert(r.timed_out);
	ck_assert_int_eq(r.status, 128 + SIGKILL);
	ck_assert_double_ge(took, 0.9);
	ck_assert_double_lt(took, 5);
	smi_run_result_free(&r);
	tools_done();
	/* hung, with a child holding stdout: the group goes, nothing is left */
	run_fake("efsmi", "hang", 1.5, &r, &took);
	ck_assert(r.timed_out);
	ck_assert_double_lt(took, 6);
	for (int i = 0; i < 200 && group_alive(r.pid); i++)
		usleep(10000);
	ck_assert_uint_eq(group_alive(r.pid), 0);
	ck_assert_int_eq(waitpid(-1, &st, WNOHANG), -1); /* no zombie of ours */
	ck_assert_int_eq(errno, ECHILD);
	ck_assert_uint_eq(open_fds(), fds);
	smi_run_result_free(&r);
	tools_done();
}
END_TEST

START_TEST(runner_big_and_partial)
{
	struct smi_run_result r;
	unsigned fds = open_fds();
	double took;

	/* 10 MB: 1 MiB kept, the rest read and dropped, the tool ends */
	run_fake("efsmi", "big", 20, &r, &took);
	ck_assert(!r.timed_out);
	ck_assert_int_eq(r.status, 0);
	ck_assert(r.truncated);
	ck_assert_uint_eq(r.len, SMI_OUT_CAP);
	ck_assert_uint_eq(strlen(r.out), SMI_OUT_CAP);
	smi_run_result_free(&r);
	tools_done();
	/* non-zero exit: status, stdout and stderr all kept */
	run_fake("efsmi", "partial", 10, &r, &took);
	ck_assert_int_eq(r.status, 3);
	ck_assert_ptr_nonnull(strstr(r.out, "DEV ID 1"));
	ck_assert_ptr_nonnull(strstr(r.err, "lost device 1 half-way"));
	smi_run_result_free(&r);
	tools_done();
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_uint_eq(open_fds(), fds);
}
END_TEST

START_TEST(runner_env_and_no_shell)
{
	char script[] = "/tmp/test_smi_env.XXXXXX";
	const char *argv[] = {script, "a b;echo x", "$HOME", NULL};
	struct smi_run_opts o = {.timeout_s = 5, .path_env = "PATH=/usr/bin:/bin"};
	struct smi_run_result r;
	int fd = mkstemp(script);
	FILE *f = fdopen(fd, "w");

	/* the child sees only PATH and LANG/LC_ALL, its arguments verbatim,
	 * and no descriptor but 0-2 */
	fputs("#!/bin/sh\nenv | sort\nfor a in \"$@\"; do echo \"arg=$a\"; done\n"
	      "ls /proc/self/fd | wc -l\n",
	      f);
	fclose(f);
	chmod(script, 0700);
	setenv("SMI_TEST_SECRET", "1", 1);
	ck_assert_int_eq(smi_run(argv, &o, &r), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_null(strstr(r.out, "SMI_TEST_SECRET"));
	ck_assert_ptr_nonnull(strstr(r.out, "LANG=C\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "PATH=/usr/bin:/bin\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "arg=a b;echo x\narg=$HOME\n"));
	/* ls's own fd for the directory: 0, 1, 2 and that one */
	ck_assert_ptr_nonnull(strstr(r.out, "\n4\n"));
	smi_run_result_free(&r);
	unlink(script);
}
END_TEST

/* A tool that exits at once but leaves a background child holding stdout:
 * the run ends soon after the tool does (not at the timeout), its output is
 * kept, and the child is killed with the group. */
START_TEST(runner_exit_leaves_child)
{
	char script[] = "/tmp/test_smi_bg.XXXXXX";
	const char *argv[] = {script, NULL};
	struct smi_run_opts o = {.timeout_s = 5};
	struct smi_run_result r;
	int fd = mkstemp(script), st;
	FILE *f = fdopen(fd, "w");
	unsigned fds;
	double t0, took;

	fputs("#!/bin/sh\necho '0 45 512'\nsleep 30 &\nexit 0\n", f);
	fclose(f);
	fds = open_fds();
	chmod(script, 0700);
	t0 = now_s();
	ck_assert_int_eq(smi_run(argv, &o, &r), 0);
	took = now_s() - t0;
	ck_assert(!r.timed_out);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "0 45 512\n");
	ck_assert_double_lt(took, 3); /* the timeout is 5 s */
	for (int i = 0; i < 200 && group_alive(r.pid); i++)
		usleep(10000);
	ck_assert_uint_eq(group_alive(r.pid), 0);
	ck_assert_int_eq(waitpid(-1, &st, WNOHANG), -1);
	ck_assert_uint_eq(open_fds(), fds);
	smi_run_result_free(&r);
	unlink(script);
}
END_TEST

static Suite *smi_suite(void)
{
	Suite *s = suite_create("smi");
	TCase *t = tcase_create("parse");

	tcase_add_test(t, values_absent_units_states);
	tcase_add_test(t, csv_position_and_header);
	tcase_add_test(t, json_paths);
	tcase_add_test(t, kv_blocks_sections);
	tcase_add_test(t, columns_width);
	tcase_add_test(t, profile_errors);
	tcase_add_test(t, builtins_load);
	suite_add_tcase(s, t);
	t = tcase_create("collector");
	tcase_set_timeout(t, 60);
	tcase_add_loop_test(t, builtin_exact_values, 0,
			    (int)(sizeof(expects) / sizeof(expects[0])));
	tcase_add_test(t, builtin_details);
	tcase_add_test(t, generations_and_modes);
	tcase_add_test(t, bad_output);
	tcase_add_test(t, runner_exit_leaves_child);
	tcase_add_test(t, partial_exit_backoff_missing);
	tcase_add_test(t, defer_to_library_collector);
	tcase_add_test(t, user_profile_and_instances);
	suite_add_tcase(s, t);
	t = tcase_create("runner");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, runner_slow_and_hung);
	tcase_add_test(t, runner_big_and_partial);
	tcase_add_test(t, runner_env_and_no_shell);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(smi_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
