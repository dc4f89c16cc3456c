/* Time for the whole agent: one injectable monotonic clock (tests swap in a
 * fake so aggregation runs on fake time without sleeping) and wall time.
 */
#ifndef ACCELMON_CLOCK_H
#define ACCELMON_CLOCK_H

#include <stdint.h>

typedef int64_t (*clock_fn)(void);

/* The clock every agent component reads; defaults to CLOCK_MONOTONIC. */
extern clock_fn clock_now_ns;

int64_t clock_monotonic_ns(void);
int64_t clock_wall_ms(void);
double clock_wall_s(void);

#define NS_PER_S 1000000000LL

#endif
