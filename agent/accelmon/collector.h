/* accelmon collector ABI, version 2: the public header every collector
 * includes, built in or loaded from a .so plugin.
 *
 * A plugin exports one symbol, `accelmon_collector` (a const struct
 * am_collector). The agent checks abi_version and size before calling
 * anything. Data flow: init() registers families (from the shared schema,
 * accelmon/schema.h, or its own); poll() emits samples of interned series
 * into the instance's lock-free ring; the aggregator turns them into
 * counters, integrals, windows and derived values (ratios, energy,
 * saturation flags). Helpers for reading sysfs, parsing numbers, filtering
 * names, PCI identity and vendor libraries are in accelmon/util.h.
 */
#ifndef ACCELMON_COLLECTOR_H
#define ACCELMON_COLLECTOR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of the structs or functions below.
 * Version 1 descriptors (no size field, fini without context) are refused
 * with a message naming the file and both versions. */
#define ACCELMON_COLLECTOR_ABI_VERSION 2u
#define ACCELMON_COLLECTOR_SYMBOL "accelmon_collector"

struct am_ctx;     /* one per collector instance, owned by the agent */
struct am_config;  /* this instance's section of the config file */

/* How the aggregator treats the samples of a family. */
enum am_kind {
	/* Last value wins. */
	AM_GAUGE = 0,
	/* A device counter as read (raw units x scale). The exported counter
	 * starts at the first reading and then grows by the deltas: a wrap of a
	 * `bits`-wide counter is unwrapped, a value that goes backwards is a
	 * reset (the new reading is the delta, never a negative one), and a
	 * saturating counter stuck at its maximum stops growing. */
	AM_COUNTER = 1,
	/* Each sample is a rate (a 0..1 ratio, watts, bytes/s) that stands for
	 * the time since the previous sample of the series: the exported
	 * counter grows by value x seconds since then (busy fraction -> busy
	 * seconds, watts -> joules). The one integration rule of the agent.
	 * A rate that is negative or not finite is refused (counted as a bad
	 * value): its interval integrates nothing, and the next sample stands
	 * only for the time since the refused one. */
	AM_INTEGRAL = 2,
	/* Gauges: the maximum / mean of the samples seen in the last window_s. */
	AM_WINDOW_MAX = 3,
	AM_WINDOW_MEAN = 4,
	/* Constant 1 with identifying labels (accel_info, fabric_port_info). */
	AM_INFO = 5,
};

#define AM_MAX_LABELS 12

struct am_family_def {
	const char *name;  /* full name; counters and integrals end in _total */
	const char *help;
	enum am_kind kind;
	const char *unit;  /* OpenMetrics unit ("bytes", "seconds", ...) or NULL */
	const char *labels[AM_MAX_LABELS]; /* label names, NULL-terminated */
	/* AM_COUNTER only: bit width (0 means 64) and whether it saturates at
	 * its maximum instead of wrapping (InfiniBand error counters). */
	unsigned bits;
	bool saturating;
	/* Multiplier applied to every sample (4 for IB 4-octet words, 1024 for
	 * KiB, 1e-3 for mW); 0 means 1. */
	double scale;
	/* AM_WINDOW_*: window length in seconds; 0 means 15. */
	double window_s;
	void *reserved[4]; /* zero */
};

/* Handles: a family is an index, a series a 32-bit id. */
typedef int am_family_t;
typedef uint32_t am_series_t;
#define AM_SERIES_INVALID UINT32_MAX

enum am_log_level { AM_LOG_ERROR = 0, AM_LOG_WARN, AM_LOG_INFO, AM_LOG_DEBUG };

/* Option types a collector declares for its config section; the agent checks
 * the config file against them (unknown key or wrong type: exit 2). */
enum am_opt_type {
	AM_OPT_BOOL = 1,
	AM_OPT_INT,
	AM_OPT_DURATION, /* "1s", "250ms", "2m" -> seconds as double */
	AM_OPT_STRING,
	AM_OPT_REGEX,    /* a string that must compile as a POSIX ERE */
	AM_OPT_STRLIST,  /* a YAML sequence of strings (or one string) */
	AM_OPT_TREE,     /* any YAML value (map, list or scalar), kept as a
			    read-only tree: am_cfg_tree */
};

struct am_option {
	const char *name;
	enum am_opt_type type;
	const char *help;
	/* AM_OPT_INT and AM_OPT_DURATION (seconds): the allowed range, checked
	 * with the config file (exit 2 naming file and line). Unchecked when
	 * min >= max, e.g. both left 0. */
	double min, max;
};

/* Longest instance name ("ixsmi" of "smi/ixsmi"). */
#define AM_INSTANCE_NAME_MAX 64

/* Defaults of a collector's generic section keys (0: the agent's own). */
struct am_collector_defaults {
	double interval_s; /* `interval` (agent: 1 s); vendor tools: 5 s */
	void *reserved[3]; /* zero */
};

/* Flags of a collector descriptor. */
#define AM_COLLECTOR_NEEDS_CONFIG 0x1u /* stays off until its section exists */

/* The descriptor. Every instance of a collector ("smi/ixsmi" and
 * "smi/hl-smi" in the config) runs its own thread, ring, interval and
 * watchdog with the same descriptor and its own state. */
struct am_collector {
	uint32_t abi_version; /* ACCELMON_COLLECTOR_ABI_VERSION */
	uint32_t size;        /* sizeof(struct am_collector) */
	uint32_t flags;
	uint32_t reserved0;   /* zero */
	const char *name;     /* config key and the `collector` label */
	const char *description;
	const struct am_option *options; /* terminated by a {NULL} entry */
	/* Polls --once makes before printing (2 where a delta is needed). */
	unsigned once_polls;
	/* Find devices and register families. Return 0 when something was found
	 * (and *state set), -ENODEV when nothing applies on this machine (say why
	 * with am_found()), another negative errno on failure. */
	int (*init)(struct am_ctx *ctx, const struct am_config *cfg, void **state);
	/* One collection cycle; 0 or a negative errno (the collector is then
	 * reported down for this cycle). Runs on the instance's own thread. */
	int (*poll)(struct am_ctx *ctx, void *state);
	/* Optional (NULL: devices are found once, at init). Rediscover devices:
	 * called on the instance's thread between two polls every `rescan`
	 * seconds (option of every collector, default 30 s). Report new
	 * devices and ports from the next poll on; an accelerator that is gone
	 * keeps emitting accel_up 0; a vanished port's or interface's series
	 * are retired (am_series_retire). Reuse what is open; allocate nothing
	 * when nothing changed. 0 or a negative errno (logged). */
	int (*rescan)(struct am_ctx *ctx, void *state);
	/* Release state (init succeeded). */
	void (*fini)(struct am_ctx *ctx, void *state);
	/* Optional: check the section when the config is loaded (at start and
	 * on every reload), for what the option table cannot say (a profile's
	 * format, a file that must exist). Return 0, or non-zero with `key`
	 * set to the path of the value at fault ("library", "tools[1]",
	 * "profiles.mychip.format", "endpoints[1].url") and `why` to the
	 * problem: the agent reports "FILE:LINE: collectors.NAME.KEY: why" at
	 * that value's line and refuses the config (exit 2 at start; a reload
	 * keeps the running one). Called for every enabled instance. */
	int (*check)(const struct am_config *cfg, char *key, size_t keylen,
		     char *why, size_t whylen);
	/* Optional: the instances a plain section stands for. A plain
	 * section NAME (no /INSTANCE) then runs as one instance NAME/X for
	 * each name X written into names[0..max) (letters, digits, '_', '-',
	 * '.'), each with the section's options, interval and timeout;
	 * am_instance() gives X. A NAME/X section of the config runs as
	 * itself and takes X out of the list. Called on the main thread when
	 * collectors start (startup, reload). Returns the count; 0 runs the
	 * plain section as one instance (am_instance() NULL), as without the
	 * hook; a negative errno is logged and counts as 0. (smi: one
	 * instance per vendor tool.) */
	int (*instances)(const struct am_config *cfg,
			 char (*names)[AM_INSTANCE_NAME_MAX + 1], size_t max);
	/* Optional: defaults of the generic section keys that differ from the
	 * agent's (NULL: none). */
	const struct am_collector_defaults *defaults;
	void *reserved[5]; /* zero: room to grow without a new ABI version */
};

/* ---- calls a collector makes into the agent ---- */

/* Register a family of the collector's own (vendor-specific names; the
 * shared names of accelmon/schema.h are refused here: use am_std_family;
 * so are accelmon_* and process_*, the agent's own metrics, and a name
 * whose OpenMetrics family name (without _total or _info) is empty or
 * another family's: "x" and "x_total" cannot both exist). The HELP text
 * is made valid UTF-8 as label values are. Returns its handle or a
 * negative errno (-EINVAL for these, logged). A family may be registered more
 * than once (one view per counter width, say): every registration must
 * agree on name, help, type and label names; bits, saturating, scale and
 * window_s belong to each handle. */
am_family_t am_family(struct am_ctx *ctx, const struct am_family_def *def);

/* Longest label value kept whole, in bytes of UTF-8 (an Omni-Path board_id
 * of some 80 bytes stays whole; a kilobyte is not an identity). Size the
 * buffers of identity strings by it (AM_LABEL_VALUE_MAX + 1). */
#define AM_LABEL_VALUE_MAX 256

/* Intern a series: values for each label of the family, in order. Cheap after
 * the first call (hash lookup), but collectors should cache the id. Values
 * are made valid label text by the agent, once, when the series is created:
 * each invalid UTF-8 sequence becomes U+FFFD and a value longer than
 * AM_LABEL_VALUE_MAX bytes is cut at a character boundary (one warning per
 * series naming family and label). The same raw values find the same id.
 * A series belongs to the instance that interned it first: another
 * instance naming the same family and label values gets AM_SERIES_INVALID
 * (one error line naming both), since two devices' readings in one
 * counter would look like resets. */
am_series_t am_series(struct am_ctx *ctx, am_family_t fam,
		      const char *const *label_values);

/* Queue one sample, stamped with the current poll's time. Never blocks: when
 * the ring is full the sample is dropped and counted. */
void am_emit(struct am_ctx *ctx, am_series_t series, double value);

/* Exact form for AM_COUNTER families: the raw reading as an unsigned 64-bit
 * integer, so counters past 2^53 keep every bit (a double does not). On a
 * family of another kind the reading is converted to a double, as if
 * passed to am_emit (exact up to 2^53). */
void am_emit_u64(struct am_ctx *ctx, am_series_t series, uint64_t raw);

/* Take a series out of the exposition now (a vanished port): it is no
 * longer exported and keeps no state; a later am_emit brings it back as a
 * new series (a counter starts again from its reading). Ordered with the
 * samples of the same poll. The derived series whose input `a` it is go
 * with it (and come back with it). A derived series retired itself stays
 * out while its inputs go on, until the collector calls am_series_derived
 * for it again (same labels and inputs: the same id) or its input `a` is
 * retired and comes back; it then starts afresh. */
void am_series_retire(struct am_ctx *ctx, am_series_t series);

/* Retire a series for good and give up its id (a job that ended): as
 * am_series_retire (its last value still reaches the records), but the id
 * is not the collector's any more. Never emit to it or retire it again;
 * naming the same labels later (am_series) interns a new series with a new
 * id, which starts afresh. The agent frees the series' labels and registry
 * entry once no snapshot holds it and the exporters that must see how it
 * ended (records, remote write's stale marker) have; a few bytes of per-id
 * state stay (ids are not reused), so series that come and go (per-job,
 * per-peer) cost little memory after they end. A derived series and the inputs
 * of one keep their ids: for them this is am_series_retire. */
void am_series_release(struct am_ctx *ctx, am_series_t series);

/* ---- derived series: values the aggregator computes from others ----
 *
 * A derived series belongs to a family like any other and gets no samples
 * of its own: the aggregator computes it every time its input `a` is
 * updated, from inputs emitted in the same poll (emit `b` and `capacity`
 * before `a`). What the family's kind does with the computed value is as
 * for samples: AM_GAUGE exports it, AM_WINDOW_* keep its max/mean over the
 * window, AM_INTEGRAL integrates it (a residency ratio -> seconds).
 */
enum am_derive_op {
	/* delta(a) / (delta(b) x capacity), where a and b are AM_COUNTER series
	 * (exported units); b = AM_SERIES_INVALID means the seconds elapsed
	 * between the two readings of a, capacity = AM_SERIES_INVALID means 1,
	 * else the latest value of that gauge series (link speed in bytes/s).
	 * No value for an interval in which a or b was reset, wrapped
	 * ambiguously, saturated, or the denominator is 0, nor for a poll in
	 * which b got no sample (its read failed): the next value then spans
	 * from the last poll that had both. With a capacity the value is a
	 * share of line rate: up to 1.1 (timing jitter between the counter and
	 * the clock) reads 1, above 1.1 there is no value. */
	AM_DERIVE_RATIO = 1,
	/* 1 while the saturating counter a sits at its maximum (it has stopped
	 * counting), else 0. */
	AM_DERIVE_SATURATED = 2,
	/* The time integral of gauge a's value (watts -> joules), by the
	 * AM_INTEGRAL rule (a negative value integrates nothing over its
	 * interval); for an AM_COUNTER family (energy). */
	AM_DERIVE_INTEGRAL = 3,
};

struct am_derive {
	enum am_derive_op op;
	am_series_t a, b, capacity;
	void *reserved[2]; /* zero */
};

/* Intern a derived series (like am_series) and bind its inputs; the inputs
 * must be plain (not derived) series of this instance, and the family's
 * scale 1 (the inputs carry the units). Returns AM_SERIES_INVALID for
 * inputs of the wrong kind, or labels already naming another series
 * (logged). */
am_series_t am_series_derived(struct am_ctx *ctx, am_family_t fam,
			      const char *const *label_values,
			      const struct am_derive *d);

/* ---- context ---- */

/* One line at startup saying what the collector found, or why nothing. */
void am_found(struct am_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Log with the instance's name as prefix; identical messages are
 * rate-limited (the first, then a count every minute). */
void am_log(struct am_ctx *ctx, enum am_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Count a file or call that failed (accelmon_collector_read_errors_total). */
void am_read_error(struct am_ctx *ctx);

/* Roots used in place of /sys and /proc (--sysfs, --procfs). No trailing /. */
const char *am_sysfs(const struct am_ctx *ctx);
const char *am_procfs(const struct am_ctx *ctx);

/* The instance: "ixsmi" for the section `smi/ixsmi`, NULL for a plain
 * `smi` section. am_instance_name is the full name ("smi/ixsmi" or "smi"),
 * the `collector` label of its self-metrics. */
const char *am_instance(const struct am_ctx *ctx);
const char *am_instance_name(const struct am_ctx *ctx);

/* Whether collector `name` (a plain section: "ascend", "kunlunxin") runs
 * in this agent and reports devices: 1 when its init found some (it is
 * polling), 0 while its init is still running, -ENOENT when it is not
 * loaded, off, found nothing or failed. For collectors that read devices
 * another one may report too (an smi profile of a vendor with a library
 * collector), so no device is reported twice. Cheap (a lock and a few
 * string compares); any thread. */
int am_collector_running(const char *name);

/* Time of the current poll (monotonic ns; the agent's clock, fake in tests)
 * and this instance's interval. */
int64_t am_poll_time_ns(const struct am_ctx *ctx);
double am_interval_s(const struct am_ctx *ctx);

/* Config access: value of an option declared in the descriptor, or the
 * default when the file does not set it. */
bool am_cfg_bool(const struct am_config *cfg, const char *key, bool dflt);
long long am_cfg_int(const struct am_config *cfg, const char *key,
		     long long dflt);
double am_cfg_duration(const struct am_config *cfg, const char *key,
		       double dflt_s);
const char *am_cfg_string(const struct am_config *cfg, const char *key,
			  const char *dflt);
/* Number of strings in a list option (0 when unset); am_cfg_list_at gets one. */
size_t am_cfg_list_len(const struct am_config *cfg, const char *key);
const char *am_cfg_list_at(const struct am_config *cfg, const char *key,
			   size_t i);

/* AM_OPT_TREE values: a read-only tree owned by the config (valid as long as
 * the cfg passed to init or check). Every call takes NULL and answers
 * NULL, 0 or false for it, so a walk needs no checks between steps:
 * am_node_str(am_node_get(am_node_get(t, "mychip"), "format")). */
struct am_node;
enum am_node_kind { AM_NODE_SCALAR = 1, AM_NODE_LIST, AM_NODE_MAP };
/* The tree of option key, or NULL when the config does not set it. */
const struct am_node *am_cfg_tree(const struct am_config *cfg, const char *key);
enum am_node_kind am_node_kind(const struct am_node *n); /* 0 for NULL */
/* Items of a list, pairs of a map (in file order; a key given twice is a
 * config error), 0 for a scalar. */
size_t am_node_len(const struct am_node *n);
const struct am_node *am_node_at(const struct am_node *n, size_t i); /* item or value i */
const char *am_node_key(const struct am_node *n, size_t i); /* map key i */
const struct am_node *am_node_get(const struct am_node *n, const char *key);
/* A scalar's text (a YAML null is ""); NULL for a list or a map. */
const char *am_node_str(const struct am_node *n);
/* Line in the config file; 0 for the embedded default. */
unsigned long am_node_line(const struct am_node *n);
/* Same shape, keys and texts (lines aside): what a reload compares. */
bool am_node_equal(const struct am_node *a, const struct am_node *b);

#ifdef __cplusplus
}
#endif
#endif /* ACCELMON_COLLECTOR_H */
