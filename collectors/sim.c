/* sim collector: simulated accelerators and fabric ports with known,
 * deterministic behaviour, through the same schema families and aggregator
 * path as real collectors, for demos, dashboards, fleet and end-to-end tests.
 * Each device plays a scenario (steady training, bursty inference, idle but
 * allocated, failing and coming back, thermal throttle; "fixed": busy
 * (i % 5) / 4, the historical default), each port one too (steady, flapping,
 * congested, errors). Everything simulated says so: accel_info vendor,
 * driver and firmware "simulated", uuids SIM-..., devices simN, ports simhcaN.
 * Off until configured (`sim:` or `accelmon --simulate N`). hang_after_polls
 * / hang_for make one poll block, to exercise the watchdog.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accelmon/collector.h"
#include "accelmon/schema.h"
#include "accelmon/util.h"

#define SIM_MAX 1024
#define NS_PER_S 1e9

enum sim_scn {
	SCN_FIXED,
	SCN_TRAINING,
	SCN_INFERENCE,
	SCN_IDLE_ALLOCATED,
	SCN_IDLE,
	SCN_FAILING,
	SCN_THROTTLE,
	SCN__COUNT
};
static const char *const scn_names[SCN__COUNT] = {
    "fixed", "training", "inference", "idle_allocated", "idle", "failing", "throttle",
};

enum sim_pscn { PS_STEADY, PS_FLAPPING, PS_CONGESTED, PS_ERRORS, PS__COUNT };
static const char *const pscn_names[PS__COUNT] = {"steady", "flapping", "congested",
						  "errors"};

/* `demo: true` (and --simulate N): every scenario among the first five
 * devices, so even a small N shows each of them. */
static const int demo_scn[] = {SCN_TRAINING,  SCN_INFERENCE, SCN_IDLE_ALLOCATED,
			       SCN_FAILING,   SCN_THROTTLE,  SCN_TRAINING,
			       SCN_INFERENCE, SCN_IDLE};
static const int demo_pscn[] = {PS_STEADY, PS_FLAPPING, PS_CONGESTED, PS_ERRORS};

#define NDEMO(a) (sizeof(a) / sizeof((a)[0]))

/* The port error counters: IB's widths (link_downed 8-bit, others 16). */
enum { PE_SYMBOL, PE_LINK_DOWNED, PE_LINK_RECOVERY, PE_RCV, PE__COUNT };
static const char *const pe_names[PE__COUNT] = {"symbol_error", "link_downed",
						"link_error_recovery", "port_rcv_errors"};
static const unsigned pe_bits[PE__COUNT] = {16, 8, 8, 16};

/* Inference: bursts of INF_BURST_S at 0.9 busy every INF_PERIOD_S, 0.05
 * between: mean 0.305. Flapping ports: down the last fifth of every
 * flap_period. */
#define INF_PERIOD_S 20.0
#define INF_BURST_S 6.0
#define LINK_BPS 50e9 /* 400 Gb/s */
#define NVLINKS 4
#define NVLINK_BPS 100e9 /* per link and direction */

/* What a device does at one instant. */
struct sim_now {
	int up;
	double busy, sm, occupancy, tensor, membw, mem_frac, watts, temp, clock_frac,
	    thermal, power_cap;
};

struct sim_dev {
	enum sim_scn scn;
	double mem_bytes, limit_w, idle_w;
	int was_down;
	double ecc_unc, xid79; /* counts: one of each per failure */
	double nvl;	       /* bytes each way on each NVLink */
	am_series_t nvl_tx[NVLINKS], nvl_rx[NVLINKS], s_procs;
	am_series_t info, up, util, busy, sm, sm_s, occ, tensor, tensor_s, membw, used,
	    total, power, limit, energy, temp_gpu, temp_mem, clk_gfx, clk_mem,
	    thr_thermal, thr_power, pcie_tx, pcie_rx, ecc_c, ecc_u, xid;
};

struct sim_port {
	enum sim_pscn scn;
	long long dev; /* the accelerator whose traffic it carries */
	int was_down;
	double tx, rx, txp, rxp, wait, cnp, cnp_sent, ecn, err[PE__COUNT];
	am_series_t info, up, speed, s_tx, s_rx, s_txp, s_rxp, util[2], peak[2], s_wait,
	    s_err[PE__COUNT], sat[PE__COUNT], s_cnp, s_cnp_sent, s_ecn;
};

struct sim {
	long long ndev, nport, hang_after, polls;
	double hang_for, fail_after, fail_for, flap_period;
	int64_t t0, t_prev;
	struct sim_port *port;
	struct sim_dev dev[];
};

static const struct am_option sim_options[] = {
    {"devices", AM_OPT_INT, "number of simulated accelerators (default 8)", 1, SIM_MAX},
    {"demo", AM_OPT_BOOL,
     "the demo mix: scenarios training, inference, idle_allocated, failing, throttle, "
     "training, inference, idle and one port per device (what --simulate N sets)"},
    {"scenarios", AM_OPT_STRLIST,
     "device scenarios, assigned in turn: fixed, training, inference, idle_allocated, "
     "idle, failing, throttle (default [fixed], or the demo mix)"},
    {"ports", AM_OPT_INT, "number of simulated fabric ports (default 0; demo: devices)",
     0, SIM_MAX},
    {"port_scenarios", AM_OPT_STRLIST,
     "port scenarios, assigned in turn: steady, flapping, congested, errors (default "
     "[steady], demo: all four)"},
    {"fail_after", AM_OPT_DURATION, "a failing device is up this long (default 60s)", 0.1,
     86400},
    {"fail_for", AM_OPT_DURATION, "then down this long, and again (default 30s)", 0.1,
     86400},
    {"flap_period", AM_OPT_DURATION,
     "a flapping port is down the last fifth of each such period (default 20s)", 0.1,
     86400},
    {"hang_after_polls", AM_OPT_INT, "block in poll number N+1 (0: never)", 0, 1e9},
    {"hang_for", AM_OPT_DURATION, "how long that poll blocks (default 1h)"},
    {NULL, 0, NULL},
};

static int lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* Scenario i's state at t seconds since the first poll. The means the fleet
 * test checks follow from these: training 0.95, inference 0.305, throttle
 * 0.9, idle ones 0, failing 0.5 while up. */
static void sim_model(const struct sim *s, const struct sim_dev *d, long long i, double t,
		      struct sim_now *o)
{
	double ph;

	memset(o, 0, sizeof(*o));
	o->up = 1;
	o->clock_frac = 1;
	switch (d->scn) {
	case SCN_FIXED:
		o->busy = (double)(i % 5) / 4.0;
		o->mem_frac = o->busy;
		/* the historical figures: 100-400 W, 30-80 C */
		o->watts = 100 + 300 * o->busy;
		o->temp = 30 + 50 * o->busy;
		return;
	case SCN_TRAINING:
		o->busy = 0.95;
		o->tensor = 0.6;
		o->mem_frac = 0.9;
		break;
	case SCN_INFERENCE:
		ph = fmod(t, INF_PERIOD_S);
		o->busy = ph < INF_BURST_S ? 0.9 : 0.05;
		o->tensor = o->busy * 0.3;
		o->mem_frac = 0.5;
		break;
	case SCN_IDLE_ALLOCATED:
		o->mem_frac = 0.6;
		break;
	case SCN_IDLE:
		break;
	case SCN_FAILING:
		ph = fmod(t, s->fail_after + s->fail_for);
		o->up = ph < s->fail_after;
		o->busy = 0.5;
		o->tensor = 0.3;
		o->mem_frac = 0.7;
		break;
	case SCN_THROTTLE:
		/* too hot: the clock drops, and with it the power */
		o->busy = 0.9;
		o->tensor = 0.5;
		o->mem_frac = 0.85;
		o->thermal = 0.4;
		o->clock_frac = 0.6;
		break;
	default:
		break;
	}
	o->sm = o->busy * 0.85;
	o->occupancy = o->busy * 0.5;
	o->membw = o->busy * 0.55;
	o->watts = d->idle_w + (d->limit_w - d->idle_w) * o->busy * 0.9 * o->clock_frac;
	o->temp = 32 + 40 * o->busy + (o->thermal > 0 ? 20 : 0);
	if (d->scn == SCN_TRAINING)
		o->power_cap = 0.05; /* now and then at its limit */
}

/* Scenario of device or port i: list option `key` in turn (names checked
 * at init), else the demo mix, else the first name (fixed, steady). */
static int pick_scn(const struct am_config *cfg, const char *key,
		    const char *const *names, int nnames, const int *demo, size_t ndemo,
		    long long i)
{
	size_t n = am_cfg_list_len(cfg, key);

	if (n)
		return lookup(names, nnames, am_cfg_list_at(cfg, key, (size_t)i % n));
	return demo ? demo[(size_t)i % ndemo] : 0;
}

/* A list entry that names no scenario: the option's name and the entry. */
static int check_names(struct am_ctx *ctx, const struct am_config *cfg, const char *key,
		       const char *const *names, int n)
{
	for (size_t i = 0; i < am_cfg_list_len(cfg, key); i++) {
		const char *v = am_cfg_list_at(cfg, key, i);

		if (lookup(names, n, v) < 0) {
			am_found(ctx, "%s: no scenario \"%s\"", key, v);
			return -EINVAL;
		}
	}
	return 0;
}

struct sim_fams {
	am_family_t info, up, util, busy, sm, sm_s, occ, tensor, tensor_s, membw, used,
	    total, power, limit, energy, temp, clock, thr, pcie_tx, pcie_rx, ecc, xid,
	    nvl_tx, nvl_rx, procs;
	am_family_t pinfo, pup, speed, tx, rx, txp, rxp, putil, peak, wait,
	    err[PE__COUNT], sat, cnp, cnp_sent, ecn;
};

static am_family_t roce_family(struct am_ctx *ctx, const char *name, const char *help)
{
	return am_family(ctx, &(struct am_family_def){.name = name,
						      .help = help,
						      .kind = AM_COUNTER,
						      .labels = {"device", "port"}});
}

static int sim_families(struct am_ctx *ctx, struct sim_fams *f, int ports)
{
	f->info = am_std_family(ctx, AM_STD_ACCEL_INFO, NULL);
	f->up = am_std_family(ctx, AM_STD_ACCEL_UP, NULL);
	f->util = am_std_family(ctx, AM_STD_UTILIZATION, NULL);
	f->busy = am_std_family(ctx, AM_STD_BUSY_SECONDS, NULL);
	f->sm = am_std_family(ctx, AM_STD_SM_ACTIVE, NULL);
	f->sm_s = am_std_family(ctx, AM_STD_SM_ACTIVE_SECONDS, NULL);
	f->occ = am_std_family(ctx, AM_STD_SM_OCCUPANCY, NULL);
	f->tensor = am_std_family(ctx, AM_STD_TENSOR_ACTIVE, NULL);
	f->tensor_s = am_std_family(ctx, AM_STD_TENSOR_ACTIVE_SECONDS, NULL);
	f->membw = am_std_family(ctx, AM_STD_MEMORY_BW_UTILIZATION, NULL);
	f->used = am_std_family(ctx, AM_STD_MEMORY_USED, NULL);
	f->total = am_std_family(ctx, AM_STD_MEMORY_TOTAL, NULL);
	f->power = am_std_family(ctx, AM_STD_POWER, NULL);
	f->limit = am_std_family(ctx, AM_STD_POWER_LIMIT, NULL);
	/* watts integrated into joules by the core (AM_INTEGRAL) */
	f->energy =
	    am_std_family(ctx, AM_STD_ENERGY, &(struct am_std_use){.kind = AM_INTEGRAL});
	f->temp = am_std_family(ctx, AM_STD_TEMPERATURE, NULL);
	f->clock = am_std_family(ctx, AM_STD_CLOCK, NULL);
	f->thr = am_std_family(ctx, AM_STD_THROTTLED_SECONDS, NULL);
	/* bytes per second integrated into bytes */
	f->pcie_tx = am_std_family(ctx, AM_STD_PCIE_TRANSMIT_BYTES,
				   &(struct am_std_use){.kind = AM_INTEGRAL});
	f->pcie_rx = am_std_family(ctx, AM_STD_PCIE_RECEIVE_BYTES,
				   &(struct am_std_use){.kind = AM_INTEGRAL});
	f->ecc = am_std_family(ctx, AM_STD_ECC_ERRORS, NULL);
	f->xid = am_std_family(ctx, AM_STD_ERROR_EVENTS, NULL);
	f->nvl_tx = am_std_family(ctx, AM_STD_NVLINK_TRANSMIT_BYTES, NULL);
	f->nvl_rx = am_std_family(ctx, AM_STD_NVLINK_RECEIVE_BYTES, NULL);
	/* HELP as the nvml collector's, whose family this is */
	f->procs = am_family(ctx, &(struct am_family_def){
				      .name = "accel_compute_processes",
				      .help = "Compute processes running on the device.",
				      .kind = AM_GAUGE,
				      .labels = {"device", "uuid"}});
	if (f->info < 0 || f->up < 0 || f->util < 0 || f->busy < 0 || f->sm < 0 ||
	    f->sm_s < 0 || f->occ < 0 || f->tensor < 0 || f->tensor_s < 0 ||
	    f->membw < 0 || f->used < 0 || f->total < 0 || f->power < 0 || f->limit < 0 ||
	    f->energy < 0 || f->temp < 0 || f->clock < 0 || f->thr < 0 ||
	    f->pcie_tx < 0 || f->pcie_rx < 0 || f->ecc < 0 || f->xid < 0 ||
	    f->nvl_tx < 0 || f->nvl_rx < 0 || f->procs < 0)
		return -ENOMEM;
	if (!ports)
		return 0;
	f->pinfo = am_std_family(ctx, AM_STD_PORT_INFO, NULL);
	f->pup = am_std_family(ctx, AM_STD_PORT_UP, NULL);
	f->speed = am_std_family(ctx, AM_STD_PORT_LINK_SPEED, NULL);
	f->tx = am_std_family(ctx, AM_STD_PORT_TRANSMIT_BYTES, NULL);
	f->rx = am_std_family(ctx, AM_STD_PORT_RECEIVE_BYTES, NULL);
	f->txp = am_std_family(ctx, AM_STD_PORT_TRANSMIT_PACKETS, NULL);
	f->rxp = am_std_family(ctx, AM_STD_PORT_RECEIVE_PACKETS, NULL);
	/* utilization and its peak: derived by the core from bytes and speed */
	f->putil = am_std_family(ctx, AM_STD_PORT_UTILIZATION, NULL);
	f->peak = am_std_family(ctx, AM_STD_PORT_UTILIZATION_PEAK, NULL);
	f->wait = am_std_family(
	    ctx, AM_STD_PORT_TRANSMIT_WAIT,
	    &(struct am_std_use){.kind = AM_COUNTER, .bits = 32, .saturating = true});
	for (int e = 0; e < PE__COUNT; e++) {
		f->err[e] = am_std_family(ctx, AM_STD_PORT_ERRORS,
					  &(struct am_std_use){.kind = AM_COUNTER,
							       .bits = pe_bits[e],
							       .saturating = true});
		if (f->err[e] < 0)
			return -ENOMEM;
	}
	f->sat = am_std_family(ctx, AM_STD_PORT_STAT_SATURATED, NULL);
	/* HELP as the infiniband collector's, whose families these are */
	f->cnp = roce_family(ctx, "fabric_roce_cnp_handled_total",
			     "CNPs handled by the reaction point (rp_cnp_handled).");
	f->cnp_sent = roce_family(ctx, "fabric_roce_cnp_sent_total",
				  "Congestion notification packets sent by the "
				  "notification point (np_cnp_sent).");
	f->ecn = roce_family(ctx, "fabric_roce_ecn_marked_packets_total",
			     "RoCE packets received with an ECN mark "
			     "(np_ecn_marked_roce_packets).");
	if (f->pinfo < 0 || f->pup < 0 || f->speed < 0 || f->tx < 0 || f->rx < 0 ||
	    f->txp < 0 || f->rxp < 0 || f->putil < 0 || f->peak < 0 || f->wait < 0 ||
	    f->sat < 0 || f->cnp < 0 || f->cnp_sent < 0 || f->ecn < 0)
		return -ENOMEM;
	return 0;
}

static void sim_dev_series(struct am_ctx *ctx, const struct sim_fams *f,
			   struct sim_dev *d, long long i, long long n)
{
	char dev[32], uuid[64], bus[32], numa[8], serial[32];
	const char *id[2] = {dev, uuid};
	const char *model = d->scn == SCN_FIXED ? "SIM-1" : i % 2 ? "SIM-B40" : "SIM-A80";

	snprintf(dev, sizeof(dev), "sim%lld", i);
	snprintf(uuid, sizeof(uuid), "SIM-00000000-0000-0000-0000-%012lld", i);
	snprintf(bus, sizeof(bus), "0000:%02llx:00.0", (i + 0x10) & 0xff);
	snprintf(numa, sizeof(numa), "%lld", i * 2 / n);
	snprintf(serial, sizeof(serial), "SIM%08lld", i);
	/* device, uuid, vendor, model, serial, pci_bus_id, numa_node,
	 * driver_version, firmware_version: "simulated" wherever a real
	 * device would name its maker or software */
	d->info = am_series(ctx, f->info,
			    (const char *const[]){dev, uuid, "simulated", model, serial,
						  bus, numa, "simulated", "simulated"});
	d->up = am_series(ctx, f->up, id);
	d->util = am_series(ctx, f->util, id);
	d->busy = am_series(ctx, f->busy, id);
	d->used = am_series(ctx, f->used, id);
	d->total = am_series(ctx, f->total, id);
	d->power = am_series(ctx, f->power, id);
	d->energy = am_series(ctx, f->energy, id);
	d->temp_gpu = am_series(ctx, f->temp, (const char *const[]){dev, uuid, "gpu"});
	if (d->scn == SCN_FIXED)
		return; /* the historical nine families */
	d->sm = am_series(ctx, f->sm, id);
	d->sm_s = am_series(ctx, f->sm_s, id);
	d->occ = am_series(ctx, f->occ, id);
	d->tensor = am_series(ctx, f->tensor, id);
	d->tensor_s = am_series(ctx, f->tensor_s, id);
	d->membw = am_series(ctx, f->membw, id);
	d->limit = am_series(ctx, f->limit, id);
	d->temp_mem = am_series(ctx, f->temp, (const char *const[]){dev, uuid, "memory"});
	d->clk_gfx =
	    am_series(ctx, f->clock, (const char *const[]){dev, uuid, "graphics"});
	d->clk_mem = am_series(ctx, f->clock, (const char *const[]){dev, uuid, "memory"});
	d->thr_thermal = am_series(
	    ctx, f->thr, (const char *const[]){dev, uuid, "hw_thermal_slowdown"});
	d->thr_power =
	    am_series(ctx, f->thr, (const char *const[]){dev, uuid, "sw_power_cap"});
	d->pcie_tx = am_series(ctx, f->pcie_tx, id);
	d->pcie_rx = am_series(ctx, f->pcie_rx, id);
	d->ecc_c =
	    am_series(ctx, f->ecc, (const char *const[]){dev, uuid, "corrected", ""});
	d->ecc_u =
	    am_series(ctx, f->ecc, (const char *const[]){dev, uuid, "uncorrected", ""});
	d->xid = am_series(ctx, f->xid, (const char *const[]){dev, uuid, "79"});
	d->s_procs = am_series(ctx, f->procs, id);
	for (int l = 0; l < NVLINKS; l++) {
		char link[4];

		snprintf(link, sizeof(link), "%d", l);
		d->nvl_tx[l] =
		    am_series(ctx, f->nvl_tx, (const char *const[]){dev, uuid, link});
		d->nvl_rx[l] =
		    am_series(ctx, f->nvl_rx, (const char *const[]){dev, uuid, link});
	}
}

static void sim_port_series(struct am_ctx *ctx, const struct sim_fams *f,
			    struct sim_port *p, long long i, long long ndev)
{
	char dev[32], bus[32];
	const char *id[2] = {dev, "1"};
	static const char *const dir[2] = {"transmit", "receive"};

	snprintf(dev, sizeof(dev), "simhca%lld", i);
	p->dev = i % ndev;
	snprintf(bus, sizeof(bus), "0000:%02llx:00.0", (p->dev + 0x10) & 0xff);
	/* device, port, link_layer, netdev, rate, firmware_version, node_guid,
	 * accelerator (the device whose traffic it carries) */
	p->info =
	    am_series(ctx, f->pinfo,
		      (const char *const[]){dev, "1", "InfiniBand", "",
					    "400 Gb/sec (4X NDR)", "simulated", "", bus});
	p->up = am_series(ctx, f->pup, id);
	p->speed = am_series(ctx, f->speed, id);
	p->s_tx = am_series(ctx, f->tx, id);
	p->s_rx = am_series(ctx, f->rx, id);
	p->s_txp = am_series(ctx, f->txp, id);
	p->s_rxp = am_series(ctx, f->rxp, id);
	p->s_wait = am_series(ctx, f->wait, id);
	for (int d = 0; d < 2; d++) {
		const char *l[3] = {dev, "1", dir[d]};
		struct am_derive r = {.op = AM_DERIVE_RATIO,
				      .a = d ? p->s_rx : p->s_tx,
				      .b = AM_SERIES_INVALID,
				      .capacity = p->speed};

		p->util[d] = am_series_derived(ctx, f->putil, l, &r);
		p->peak[d] = am_series_derived(ctx, f->peak, l, &r);
	}
	for (int e = 0; e < PE__COUNT; e++) {
		const char *l[3] = {dev, "1", pe_names[e]};

		p->s_err[e] = am_series(ctx, f->err[e], l);
		p->sat[e] =
		    am_series_derived(ctx, f->sat, l,
				      &(struct am_derive){.op = AM_DERIVE_SATURATED,
							  .a = p->s_err[e],
							  .b = AM_SERIES_INVALID,
							  .capacity = AM_SERIES_INVALID});
	}
	p->s_cnp = am_series(ctx, f->cnp, id);
	p->s_cnp_sent = am_series(ctx, f->cnp_sent, id);
	p->s_ecn = am_series(ctx, f->ecn, id);
}

static int sim_init(struct am_ctx *ctx, const struct am_config *cfg, void **state)
{
	long long n = am_cfg_int(cfg, "devices", 8);
	int demo = am_cfg_bool(cfg, "demo", false);
	long long np = am_cfg_int(cfg, "ports", demo ? n : 0);
	struct sim_fams f = {0};
	struct sim *s;
	int rc;

	if (n < 1 || n > SIM_MAX || np < 0 || np > SIM_MAX) {
		am_found(ctx,
			 "devices and ports must be 1..%d and 0..%d, got %lld and %lld",
			 SIM_MAX, SIM_MAX, n, np);
		return -EINVAL;
	}
	rc = check_names(ctx, cfg, "scenarios", scn_names, SCN__COUNT);
	if (!rc)
		rc = check_names(ctx, cfg, "port_scenarios", pscn_names, PS__COUNT);
	if (rc)
		return rc;
	s = calloc(1, sizeof(*s) + (size_t)n * sizeof(s->dev[0]));
	if (!s)
		return -ENOMEM;
	if (np && !(s->port = calloc((size_t)np, sizeof(*s->port)))) {
		free(s);
		return -ENOMEM;
	}
	s->ndev = n;
	s->nport = np;
	s->hang_after = am_cfg_int(cfg, "hang_after_polls", 0);
	s->hang_for = am_cfg_duration(cfg, "hang_for", 3600);
	s->fail_after = am_cfg_duration(cfg, "fail_after", 60);
	s->fail_for = am_cfg_duration(cfg, "fail_for", 30);
	s->flap_period = am_cfg_duration(cfg, "flap_period", 20);
	rc = sim_families(ctx, &f, np > 0);
	if (rc) {
		free(s->port);
		free(s);
		return rc;
	}
	for (long long i = 0; i < n; i++) {
		struct sim_dev *d = &s->dev[i];

		d->scn =
		    (enum sim_scn)pick_scn(cfg, "scenarios", scn_names, SCN__COUNT,
					   demo ? demo_scn : NULL, NDEMO(demo_scn), i);
		/* two models: 80 GB at 700 W, 40 GB at 400 W */
		d->mem_bytes = d->scn == SCN_FIXED || i % 2 == 0 ? 80e9 : 40e9;
		d->limit_w = i % 2 ? 400 : 700;
		d->idle_w = i % 2 ? 50 : 80;
		sim_dev_series(ctx, &f, d, i, n);
	}
	for (long long i = 0; i < np; i++) {
		s->port[i].scn =
		    (enum sim_pscn)pick_scn(cfg, "port_scenarios", pscn_names, PS__COUNT,
					    demo ? demo_pscn : NULL, NDEMO(demo_pscn), i);
		sim_port_series(ctx, &f, &s->port[i], i, n);
	}
	am_found(ctx, "%lld simulated accelerator%s, %lld simulated port%s", n,
		 n == 1 ? "" : "s", np, np == 1 ? "" : "s");
	*state = s;
	return 0;
}

static void sim_emit_dev(struct am_ctx *ctx, struct sim_dev *d, const struct sim_now *o,
			 double dt)
{
	am_emit(ctx, d->info, 1);
	am_emit(ctx, d->up, o->up);
	if (!o->up) {
		/* A device off the bus answers nothing: its other series go
		 * stale (absent, never a fake 0). */
		d->was_down = 1;
		return;
	}
	if (d->was_down) {
		/* back from the failure, with what a real one would log */
		d->was_down = 0;
		d->ecc_unc += 1;
		d->xid79 += 1;
	}
	am_emit(ctx, d->util, o->busy);
	am_emit(ctx, d->busy, o->busy);
	am_emit(ctx, d->power, o->watts);
	am_emit(ctx, d->energy, o->watts);
	am_emit(ctx, d->used, d->mem_bytes * o->mem_frac);
	am_emit(ctx, d->total, d->mem_bytes);
	am_emit(ctx, d->temp_gpu, o->temp);
	if (d->scn == SCN_FIXED)
		return;
	am_emit(ctx, d->sm, o->sm);
	am_emit(ctx, d->sm_s, o->sm);
	am_emit(ctx, d->occ, o->occupancy);
	am_emit(ctx, d->tensor, o->tensor);
	am_emit(ctx, d->tensor_s, o->tensor);
	am_emit(ctx, d->membw, o->membw);
	am_emit(ctx, d->limit, d->limit_w);
	am_emit(ctx, d->temp_mem, o->temp + 5);
	am_emit(ctx, d->clk_gfx, 1.98e9 * o->clock_frac);
	am_emit(ctx, d->clk_mem, 2.6e9);
	am_emit(ctx, d->thr_thermal, o->thermal);
	am_emit(ctx, d->thr_power, o->power_cap);
	am_emit(ctx, d->pcie_tx, 12e9 * o->busy);
	am_emit(ctx, d->pcie_rx, 10e9 * o->busy);
	am_emit_u64(ctx, d->ecc_c, 0);
	am_emit_u64(ctx, d->ecc_u, (uint64_t)d->ecc_unc);
	am_emit_u64(ctx, d->xid, (uint64_t)d->xid79);
	/* a job holds the device while it has memory in use */
	am_emit(ctx, d->s_procs, o->mem_frac > 0 ? 1 + (d->scn == SCN_INFERENCE) : 0);
	d->nvl += NVLINK_BPS * 0.5 * o->busy * dt;
	for (int l = 0; l < NVLINKS; l++) {
		am_emit_u64(ctx, d->nvl_tx[l], (uint64_t)d->nvl);
		am_emit_u64(ctx, d->nvl_rx[l], (uint64_t)d->nvl);
	}
}

static void sim_emit_port(struct am_ctx *ctx, const struct sim *s, struct sim_port *p,
			  const struct sim_now *dev, double t, double dt)
{
	int up = 1;
	double load = dev->up ? 0.6 * dev->busy : 0, wait = 0, cnp = 0, ecn = 0;

	switch (p->scn) {
	case PS_FLAPPING:
		up = fmod(t, s->flap_period) < 0.8 * s->flap_period;
		if (!up && !p->was_down) {
			p->err[PE_LINK_DOWNED] += 1;
			p->err[PE_LINK_RECOVERY] += 2;
			p->err[PE_SYMBOL] += 40;
		}
		break;
	case PS_CONGESTED:
		load = 0.95;
		wait = 5e6;
		cnp = 5000;
		ecn = 3000;
		break;
	case PS_ERRORS:
		p->err[PE_SYMBOL] += 2 * dt;
		/* a 16-bit counter nobody cleared: stuck at its maximum */
		p->err[PE_RCV] = 65535;
		break;
	default:
		break;
	}
	p->was_down = !up;
	if (!up)
		load = 0;
	p->tx += load * LINK_BPS * dt;
	p->rx += load * 0.9 * LINK_BPS * dt;
	p->txp = p->tx / 4096;
	p->rxp = p->rx / 4096;
	p->wait += wait * dt;
	if (p->wait > 4294967295.0)
		p->wait = 4294967295.0; /* port_xmit_wait saturates */
	p->cnp += cnp * dt;
	p->cnp_sent += cnp * 0.4 * dt;
	p->ecn += ecn * dt;
	am_emit(ctx, p->info, 1);
	am_emit(ctx, p->up, up);
	/* speed before the byte counters: the derived ratios read it */
	am_emit(ctx, p->speed, LINK_BPS);
	am_emit_u64(ctx, p->s_tx, (uint64_t)p->tx);
	am_emit_u64(ctx, p->s_rx, (uint64_t)p->rx);
	am_emit_u64(ctx, p->s_txp, (uint64_t)p->txp);
	am_emit_u64(ctx, p->s_rxp, (uint64_t)p->rxp);
	am_emit_u64(ctx, p->s_wait, (uint64_t)p->wait);
	for (int e = 0; e < PE__COUNT; e++) {
		double max = (double)((1u << pe_bits[e]) - 1);

		if (p->err[e] > max)
			p->err[e] = max;
		am_emit_u64(ctx, p->s_err[e], (uint64_t)p->err[e]);
	}
	am_emit_u64(ctx, p->s_cnp, (uint64_t)p->cnp);
	am_emit_u64(ctx, p->s_cnp_sent, (uint64_t)p->cnp_sent);
	am_emit_u64(ctx, p->s_ecn, (uint64_t)p->ecn);
}

static int sim_poll(struct am_ctx *ctx, void *state)
{
	struct sim *s = state;
	int64_t now;
	double t, dt;

	if (s->hang_after && ++s->polls == s->hang_after + 1) {
		struct timespec ts = {
		    (time_t)s->hang_for,
		    (long)((s->hang_for - (double)(time_t)s->hang_for) * 1e9)};

		/* Like a driver call on a GPU that fell off the bus. */
		am_call_begin(ctx, "simDeviceGetUtilization");
		nanosleep(&ts, NULL);
		am_call_end(ctx);
	}
	now = am_poll_time_ns(ctx);
	if (!s->t0)
		s->t0 = s->t_prev = now;
	t = (double)(now - s->t0) / NS_PER_S;
	dt = (double)(now - s->t_prev) / NS_PER_S;
	s->t_prev = now;
	for (long long i = 0; i < s->ndev; i++) {
		struct sim_now o;

		sim_model(s, &s->dev[i], i, t, &o);
		sim_emit_dev(ctx, &s->dev[i], &o, dt);
	}
	for (long long i = 0; i < s->nport; i++) {
		struct sim_port *p = &s->port[i];
		struct sim_now o;

		sim_model(s, &s->dev[p->dev], p->dev, t, &o);
		sim_emit_port(ctx, s, p, &o, t, dt);
	}
	return 0;
}

static void sim_fini(struct am_ctx *ctx, void *state)
{
	struct sim *s = state;

	(void)ctx;
	free(s->port);
	free(s);
}

const struct am_collector sim_collector = {
    .abi_version = ACCELMON_COLLECTOR_ABI_VERSION,
    .size = sizeof(struct am_collector),
    .flags = AM_COLLECTOR_NEEDS_CONFIG,
    .name = "sim",
    .description = "simulated accelerators and fabric ports with known behaviour",
    .options = sim_options,
    .once_polls = 2,
    .init = sim_init,
    .poll = sim_poll,
    .fini = sim_fini,
};
