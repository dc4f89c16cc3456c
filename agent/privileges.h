/* Least privilege (--user): the capabilities the configured collectors and
 * the listen address need, and the switch to an unprivileged user that
 * keeps only those. */
#ifndef ACCELMON_PRIVILEGES_H
#define ACCELMON_PRIVILEGES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Capabilities (a mask of 1 << CAP_*) cfg needs after the switch, with the
 * reasons ("CAP_NET_RAW (collectors.pcap)") in why. */
uint64_t priv_needed(const struct agent_config *cfg, char *why, size_t whylen);

/* Become user NAME (its uid, gid and groups), keeping the capabilities in
 * keep (permitted and effective; the bounding set shrinks to them, nothing
 * inheritable or ambient, no_new_privs set). Call before any thread starts:
 * threads inherit the result, capsets are per thread. A process that is
 * already NAME and not root only sets no_new_privs. 0, or a negative errno
 * with one line in err. */
int priv_drop(const char *user, uint64_t keep, char *err, size_t errlen);

/* "cap_net_raw,cap_net_bind_service" ("none" for 0) into buf. */
const char *priv_names(uint64_t caps, char *buf, size_t len);

#endif
