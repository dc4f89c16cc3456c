/* Test harness: runs one collector in-process and synchronously, on a fake
 * clock, through the real ring and aggregator, so collector tests check the
 * exact exposition without threads or sleeps.
 */
#ifndef ACCELMON_HARNESS_H
#define ACCELMON_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "accelmon/collector.h"
#include "snapshot.h"

struct harness;

/* section_yaml: the collector's config section as YAML ("{include: eth}"),
 * or NULL for defaults. Fails (NULL, message in err) on a config error.
 * Initialises the collector at fake time t0_ns; harness_init_rc() tells how
 * init went (0, -ENODEV, ...). */
struct harness *harness_new(const struct am_collector *c, const char *section_yaml,
			    const char *sysfs, const char *procfs, int64_t t0_ns,
			    char *err, size_t errlen);
int harness_init_rc(const struct harness *h);
const char *harness_found(const struct harness *h);

/* One poll at fake time t_ns; its samples go straight into the aggregator.
 * When the section's `rescan` (default 30 s) is due, the collector's rescan
 * hook runs first, as the scheduler runs it. */
int harness_poll(struct harness *h, int64_t t_ns);
/* Rescan hook calls so far. */
uint64_t harness_rescans(const struct harness *h);

/* Render a snapshot at fake time now_ns (both formats); caller releases. */
struct snapshot *harness_render(struct harness *h, int64_t now_ns);

/* Value of the series `family` + label text exactly as exposed
 * (`{device="eth0"}`, or "" without labels). 0, or -ENOENT. */
int harness_value(struct harness *h, const char *family, const char *labels,
		  double *out);
uint64_t harness_read_errors(const struct harness *h);
uint64_t harness_dropped(const struct harness *h);
struct agg *harness_agg(struct harness *h);

void harness_free(struct harness *h);

#endif
