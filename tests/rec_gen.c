/* Test helper: record file generator (see rec_gen.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rec_gen.h"

#define RECGEN_MAXL 8

static int put(struct recgen *g, const uint8_t *p, size_t n)
{
	if (fwrite(p, 1, n, g->f) != n)
		return -EIO;
	g->bytes += n;
	return 0;
}

int recgen_open(struct recgen *g, const char *path, const char *host, int64_t start_ms,
		uint32_t interval_ms, uint64_t file_seq)
{
	/* a run of its own: host and start time */
	uint64_t run = 1469598103934665603ull;
	for (const char *p = host; *p; p++)
		run = (run ^ (uint8_t)*p) * 1099511628211ull;
	return recgen_open_run(g, path, host, start_ms, interval_ms, file_seq,
			       run ^ (uint64_t)start_ms);
}

int recgen_open_run(struct recgen *g, const char *path, const char *host,
		    int64_t start_ms, uint32_t interval_ms, uint64_t file_seq,
		    uint64_t run_id)
{
	Amrec__FileHeader h = AMREC__FILE_HEADER__INIT;
	const uint8_t *p;
	size_t n;

	memset(g, 0, sizeof(*g));
	g->f = fopen(path, "wb");
	if (!g->f)
		return -errno;
	rec_enc_init(&g->enc, 80);
	h.has_magic = h.has_format_version = h.has_start_time_ms = true;
	h.magic = REC_HEADER_MAGIC;
	h.format_version = REC_FORMAT_VERSION;
	h.hostname = (char *)host;
	h.agent_version = (char *)"recgen";
	h.start_time_ms = start_ms;
	h.has_interval_ms = h.has_keyframe_every = h.has_file_seq = true;
	h.interval_ms = interval_ms;
	h.keyframe_every = 80;
	h.file_seq = file_seq;
	h.has_run_id = true;
	h.run_id = run_id;
	if (rec_enc_header(&g->enc, &h, &p, &n) < 0)
		return -ENOMEM;
	return put(g, p, n);
}

uint32_t recgen_series(struct recgen *g, const char *family, Amrec__SeriesType type,
		       const char *unit, const char *const *labels)
{
	return recgen_series_step(g, family, type, unit, labels, 0);
}

uint32_t recgen_series_step(struct recgen *g, const char *family, Amrec__SeriesType type,
			    const char *unit, const char *const *labels, double step)
{
	char names[RECGEN_MAXL][64], vals[RECGEN_MAXL][128];
	const char *np[RECGEN_MAXL], *vp[RECGEN_MAXL];
	unsigned nl = 0;
	const uint8_t *p;
	size_t n;

	for (; labels && labels[nl] && nl < RECGEN_MAXL; nl++) {
		const char *eq = strchr(labels[nl], '=');
		snprintf(names[nl], sizeof(names[nl]), "%.*s", (int)(eq - labels[nl]),
			 labels[nl]);
		snprintf(vals[nl], sizeof(vals[nl]), "%s", eq + 1);
		np[nl] = names[nl];
		vp[nl] = vals[nl];
	}
	struct rec_series_def d = {
	    .ref = g->nseries,
	    .family = family,
	    .nlabels = nl,
	    .names = np,
	    .values = vp,
	    .type = type,
	    .unit = unit,
	    .resolution = rec_resolution(family, unit),
	    .step = step,
	};
	if (rec_enc_series(&g->enc, &d, &p, &n) < 0 || put(g, p, n) < 0)
		return UINT32_MAX;
	return g->nseries++;
}

int recgen_batch(struct recgen *g, int64_t time_ms, const uint32_t *refs,
		 const double *values, size_t n)
{
	const uint8_t *p;
	size_t len;
	int rc = rec_enc_batch(&g->enc, time_ms, refs, values, n, &p, &len);
	return rc < 0 ? rc : put(g, p, len);
}

long long recgen_close(struct recgen *g)
{
	int rc = fclose(g->f);
	rec_enc_free(&g->enc);
	return rc ? -EIO : (long long)g->bytes;
}

/* ---- a realistic node ---- */

/* xorshift: deterministic noise without libc's global state */
static double rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (double)(*s >> 11) / 9007199254740992.0;
}

enum dyn {
	D_CONST,    /* value fixed */
	D_BUSYINT,  /* integral of the GPU's busy fraction x k */
	D_BUSYG,    /* gauge: busy fraction x k (+ noise) */
	D_POWERINT, /* joules */
	D_POWER,    /* watts */
	D_BYTES,    /* counter: busy x k bytes/s (integer) */
	D_TEMP,	    /* celsius, integer */
	D_MEM,	    /* bytes gauge, changes with phase */
	D_SLOW,	    /* counter that grows rarely */
};

struct gs {
	uint32_t ref;
	enum dyn dyn;
	int dev; /* GPU index, or -1 */
	double k, v;
	double step; /* counted in units of this many bytes (0: 1) */
};

/* As the collectors read them: NVLink in KiB, InfiniBand data in words. */
static double gen_step(const char *family)
{
	if (strncmp(family, "fabric_nvlink_", 14) == 0)
		return 1024;
	if (strcmp(family, "fabric_port_transmit_bytes_total") == 0 ||
	    strcmp(family, "fabric_port_receive_bytes_total") == 0)
		return 4;
	return 0;
}

long long recgen_node(const struct recgen_node_opts *o, uint64_t *samples)
{
	struct recgen g;
	struct gs *s = NULL;
	size_t ns = 0, cap = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ o->seed;
	double *busy = calloc(o->ngpus + 1, sizeof(double));
	int rc = recgen_open(&g, o->path, o->host, o->start_ms, o->interval_ms, 0);
	char dev[32], uuid[64], lbl[8][96];

	if (rc < 0 || !busy) {
		free(busy);
		return rc < 0 ? rc : -ENOMEM;
	}
#define ADD(fam, type, unit, dyn_, devi, k_, v_, ...)                                    \
	do {                                                                             \
		const char *l_[] = {__VA_ARGS__, NULL};                                  \
		if (ns == cap) {                                                         \
			cap = cap ? 2 * cap : 256;                                       \
			s = realloc(s, cap * sizeof(*s));                                \
		}                                                                        \
		s[ns++] = (struct gs){                                                   \
		    recgen_series_step(&g, fam, type, unit, l_, gen_step(fam)),          \
		    dyn_,                                                                \
		    devi,                                                                \
		    k_,                                                                  \
		    v_,                                                                  \
		    gen_step(fam)};                                                      \
	} while (0)
	for (unsigned i = 0; i < o->ngpus; i++) {
		snprintf(dev, sizeof(dev), "nvidia%u", i);
		snprintf(uuid, sizeof(uuid), "GPU-%08x-%04x", o->seed, i);
		snprintf(lbl[0], sizeof(lbl[0]), "device=%s", dev);
		snprintf(lbl[1], sizeof(lbl[1]), "uuid=%s", uuid);
		const char *D = lbl[0], *U = lbl[1];
		ADD("accel_info", AMREC__SERIES_TYPE__SERIES_INFO, NULL, D_CONST, -1, 0,
		    1, D, U, "vendor=nvidia", "model=NVIDIA H100 80GB HBM3",
		    "driver_version=550.54.15", "pci_bus_id=0000:1b:00.0");
		ADD("accel_up", AMREC__SERIES_TYPE__SERIES_GAUGE, NULL, D_CONST, -1, 0, 1,
		    D, U);
		ADD("accel_busy_seconds_total", AMREC__SERIES_TYPE__SERIES_COUNTER,
		    "seconds", D_BUSYINT, (int)i, 1, 0, D, U);
		ADD("accel_utilization_ratio", AMREC__SERIES_TYPE__SERIES_GAUGE, "ratio",
		    D_BUSYG, (int)i, 1, 0, D, U);
		ADD("accel_sm_active_seconds_total", AMREC__SERIES_TYPE__SERIES_COUNTER,
		    "seconds", D_BUSYINT, (int)i, 0.7, 0, D, U);
		ADD("accel_sm_active_ratio", AMREC__SERIES_TYPE__SERIES_GAUGE, "ratio",
		    D_BUSYG, (int)i, 0.7, 0, D, U);
		ADD("accel_sm_occupancy_ratio", AMREC__SERIES_TYPE__SERIES_GAUGE, "ratio",
		    D_BUSYG, (int)i, 0.4, 0, D, U);
		ADD("accel_tensor_active_seconds_total",
		    AMREC__SERIES_TYPE__SERIES_COUNTER, "seconds", D_BUSYINT, (int)i,
		    0.35, 0, D, U);
		ADD("accel_tensor_active_ratio", AMREC__SERIES_TYPE__SERIES_GAUGE,
		    "ratio", D_BUSYG, (int)i, 0.35, 0, D, U);
		ADD("accel_memory_bandwidth_utilization_ratio",
		    AMREC__SERIES_TYPE__SERIES_GAUGE, "ratio", D_BUSYG, (int)i, 0.5, 0, D,
		    U);
		ADD("accel_memory_used_bytes", AMREC__SERIES_TYPE__SERIES_GAUGE, "bytes",
		    D_MEM, (int)i, 0, 0, D, U);
		ADD("accel_memory_total_bytes", AMREC__SERIES_TYPE__SERIES_GAUGE, "bytes",
		    D_CONST, -1, 0, 85899345920.0, D, U);
		ADD("accel_power_watts", AMREC__SERIES_TYPE__SERIES_GAUGE, "watts",
		    D_POWER, (int)i, 0, 0, D, U);
		ADD("accel_power_limit_watts", AMREC__SERIES_TYPE__SERIES_GAUGE, "watts",
		    D_CONST, -1, 0, 700, D, U);
		ADD("accel_energy_joules_total", AMREC__SERIES_TYPE__SERIES_COUNTER,
		    "joules", D_POWERINT, (int)i, 0, 1e9, D, U);
		ADD("accel_temperature_celsius", AMREC__SERIES_TYPE__SERIES_GAUGE,
		    "celsius", D_TEMP, (int)i, 0, 0, D, U, "sensor=gpu");
		ADD("accel_temperature_celsius", AMREC__SERIES_TYPE__SERIES_GAUGE,
		    "celsius", D_TEMP, (int)i, 0, 0, D, U, "sensor=memory");
		ADD("accel_clock_hertz", AMREC__SERIES_TYPE__SERIES_GAUGE, "hertz",
		    D_CONST, -1, 0, 1980e6, D, U, "clock=sm");
		ADD("accel_clock_hertz", AMREC__SERIES_TYPE__SERIES_GAUGE, "hertz",
		    D_CONST, -1, 0, 2619e6, D, U, "clock=memory");
		static const char *const reasons[] = {
		    "reason=power_cap", "reason=thermal", "reason=sw_slowdown",
		    "reason=hw_slowdown"};
		for (int r = 0; r < 4; r++)
			ADD("accel_throttled_seconds_total",
			    AMREC__SERIES_TYPE__SERIES_COUNTER, "seconds",
			    r == 0 ? D_BUSYINT : D_CONST, r == 0 ? (int)i : -1, 0.05, 0,
			    D, U, reasons[r]);
		ADD("accel_pcie_transmit_bytes_total", AMREC__SERIES_TYPE__SERIES_COUNTER,
		    "bytes", D_BYTES, (int)i, 2e9, 0, D, U);
		ADD("accel_pcie_receive_bytes_total", AMREC__SERIES_TYPE__SERIES_COUNTER,
		    "bytes", D_BYTES, (int)i, 6e9, 0, D, U);
		ADD("accel_ecc_errors_total", AMREC__SERIES_TYPE__SERIES_COUNTER, NULL,
		    D_SLOW, -1, 0, 0, D, U, "type=corrected");
		ADD("accel_ecc_errors_total", AMREC__SERIES_TYPE__SERIES_COUNTER, NULL,
		    D_CONST, -1, 0, 0, D, U, "type=uncorrected");
		for (unsigned l = 0; l < o->nvlinks; l++) {
			snprintf(lbl[2], sizeof(lbl[2]), "link=%u", l);
			ADD("fabric_nvlink_transmit_bytes_total",
			    AMREC__SERIES_TYPE__SERIES_COUNTER, "bytes", D_BYTES, (int)i,
			    20e9, 0, D, lbl[2]);
			ADD("fabric_nvlink_receive_bytes_total",
			    AMREC__SERIES_TYPE__SERIES_COUNTER, "bytes", D_BYTES, (int)i,
			    20e9, 0, D, lbl[2]);
		}
	}
	for (unsigned h = 0; h < o->nhcas; h++) {
		snprintf(lbl[0], sizeof(lbl[0]), "device=mlx5_%u", h);
		const char *D = lbl[0], *P = "port=1";
		int gi = o->ngpus ? (int)(h % o->ngpus) : -1;
		ADD("fabric_port_info", AMREC__SERIES_TYPE__SERIES_INFO, NULL, D_CONST,
		    -1, 0, 1, D, P, "link_layer=InfiniBand", "netdev=ibp1s0",
		    "firmware=28.39.1002");
		ADD("fabric_port_up", AMREC__SERIES_TYPE__SERIES_GAUGE, NULL, D_CONST, -1,
		    0, 1, D, P);
		ADD("fabric_port_link_speed_bytes_per_second",
		    AMREC__SERIES_TYPE__SERIES_GAUGE, NULL, D_CONST, -1, 0, 50e9, D, P);
		ADD("fabric_port_transmit_bytes_total",
		    AMREC__SERIES_TYPE__SERIES_COUNTER, "bytes", D_BYTES, gi, 30e9, 0, D,
		    P);
		ADD("fabric_port_receive_bytes_total", AMREC__SERIES_TYPE__SERIES_COUNTER,
		    "bytes", D_BYTES, gi, 30e9, 0, D, P);
		ADD("fabric_port_transmit_packets_total",
		    AMREC__SERIES_TYPE__SERIES_COUNTER, NULL, D_BYTES, gi, 7e6, 0, D, P);
		ADD("fabric_port_receive_packets_total",
		    AMREC__SERIES_TYPE__SERIES_COUNTER, NULL, D_BYTES, gi, 7e6, 0, D, P);
		ADD("fabric_port_utilization_ratio", AMREC__SERIES_TYPE__SERIES_GAUGE,
		    "ratio", D_BUSYG, gi, 0.6, 0, D, P, "direction=transmit");
		ADD("fabric_port_utilization_ratio", AMREC__SERIES_TYPE__SERIES_GAUGE,
		    "ratio", D_BUSYG, gi, 0.6, 0, D, P, "direction=receive");
		ADD("fabric_port_transmit_wait_total", AMREC__SERIES_TYPE__SERIES_COUNTER,
		    NULL, D_BYTES, gi, 1e5, 0, D, P);
		static const char *const errs[] = {"type=symbol",
						   "type=receive",
						   "type=link_downed",
						   "type=link_recovery",
						   "type=transmit_discards",
						   "type=local_integrity"};
		for (int e = 0; e < 6; e++)
			ADD("fabric_port_errors_total",
			    AMREC__SERIES_TYPE__SERIES_COUNTER, NULL,
			    e == 0 ? D_SLOW : D_CONST, -1, 0, 0, D, P, errs[e]);
		ADD("fabric_roce_cnp_sent_total", AMREC__SERIES_TYPE__SERIES_COUNTER,
		    NULL, D_SLOW, -1, 0, 0, D, P);
		ADD("fabric_roce_ecn_marked_packets_total",
		    AMREC__SERIES_TYPE__SERIES_COUNTER, NULL, D_SLOW, -1, 0, 0, D, P);
	}
	static const char *const colls[] = {"collector=nvml", "collector=infiniband",
					    "collector=netdev"};
	ADD("accelmon_build_info", AMREC__SERIES_TYPE__SERIES_INFO, NULL, D_CONST, -1, 0,
	    1, "version=0.1.0");
	for (int c = 0; c < 3; c++) {
		ADD("accelmon_collector_up", AMREC__SERIES_TYPE__SERIES_GAUGE, NULL,
		    D_CONST, -1, 0, 1, colls[c]);
		ADD("accelmon_collector_duration_seconds",
		    AMREC__SERIES_TYPE__SERIES_GAUGE, "seconds", D_BUSYG, -1, 0.002, 0,
		    colls[c]);
		ADD("accelmon_ring_dropped_samples_total",
		    AMREC__SERIES_TYPE__SERIES_COUNTER, NULL, D_CONST, -1, 0, 0,
		    colls[c]);
	}
#undef ADD
	uint32_t *refs = malloc(ns * sizeof(*refs));
	double *vals = malloc(ns * sizeof(*vals));
	double *phase_left = calloc(o->ngpus + 1, sizeof(double));
	if (!refs || !vals || !phase_left) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ns; i++)
		refs[i] = s[i].ref;
	int64_t t = o->start_ms;
	for (size_t b = 0; b < o->nbatches && rc == 0; b++) {
		/* Snapshots are rendered a few ms off the nominal period. */
		double dt = b ? (o->interval_ms + (rnd(&seed) - 0.5) * 20) / 1000.0 : 0;
		t += (int64_t)lround(dt * 1000);
		/* Workload phases of 20 min to 4 h: busy (85-100%) or idle. */
		for (unsigned i = 0; i < o->ngpus; i++) {
			phase_left[i] -= dt;
			if (phase_left[i] <= 0) {
				phase_left[i] = 1200 + rnd(&seed) * 13200;
				busy[i] = rnd(&seed) < 0.6 ? 0.85 : 0;
			}
		}
		for (size_t i = 0; i < ns; i++) {
			struct gs *x = &s[i];
			double f = x->dev >= 0 ? busy[x->dev] : 0.5;
			double fr = f > 0 ? f + rnd(&seed) * 0.15 : 0;
			switch (x->dyn) {
			case D_CONST:
				break;
			case D_BUSYINT:
				x->v += fr * x->k * dt;
				break;
			case D_BUSYG:
				x->v = fr * x->k;
				break;
			case D_POWER:
				x->v = round((70 + fr * 560 + rnd(&seed) * 10) * 1000) /
				       1000;
				break;
			case D_POWERINT:
				x->v += round((70 + fr * 560) * dt * 1000) / 1000;
				break;
			case D_BYTES:
				x->v += floor(fr * x->k * dt * (0.9 + 0.2 * rnd(&seed)) /
					      (x->step > 0 ? x->step : 1)) *
					(x->step > 0 ? x->step : 1);
				break;
			case D_TEMP:
				x->v = 35 + floor(fr * 40 + rnd(&seed) * 2);
				break;
			case D_MEM:
				x->v = f > 0 ? 60e9 + floor(rnd(&seed) * 8) * 1048576 * 64
					     : 1048576.0 * 512;
				break;
			case D_SLOW:
				if (rnd(&seed) < 0.002)
					x->v += 1;
				break;
			}
			vals[i] = x->v;
		}
		rc = recgen_batch(&g, t, refs, vals, ns);
		if (samples)
			*samples += ns;
	}
out:
	free(refs);
	free(vals);
	free(phase_left);
	free(busy);
	free(s);
	long long bytes = recgen_close(&g);
	return rc < 0 ? rc : bytes;
}
