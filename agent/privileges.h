/* Least privilege (--user): the capabilities the configured collectors and
 * the listen address need, and the switch to an unprivileged user that
 * keeps only those. */
#ifndef ACCELMON_PRIVILEGES_H
#define ACCELMON_PRIVILEGES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* Capabilities (a mask of 1 << CAP_*) cfg needs after the switch, with the
 * reasons ("CAP_NET_RAW (collectors.pcap)") in why. */
uint64_t priv_needed(const struct agent_config *cfg, char *why, size_t whylen);

/* Become user NAME (its uid, gid and groups), keeping the capabilities in
 * keep (permitted and effective; the bounding set shrinks to them, nothing
 * inheritable or ambient, no_new_privs set). Call before any thread starts:
 * threads inherit the result, capsets are per thread. A process that is
 * already NAME and not root keeps keep & what it holds (permitted and
 * effective), nothing ambient or inheritable, and sets no_new_privs. What it
 * keeps in *kept. 0, or a
 * negative errno with one line in err. */
int priv_drop(const char *user, uint64_t keep, uint64_t *kept, char *err,
	      size_t errlen);

/* Started as a user other than root without --user (systemd's DynamicUser
 * with AmbientCapabilities=, setpriv): the same reduction to keep. 0 when
 * there was nothing to give up (root, or no capabilities at all); 1 with
 * what was kept and dropped in msg (one line); or a negative errno with
 * one line in err. */
int priv_reduce(uint64_t keep, char *msg, size_t msglen, char *err, size_t errlen);

/* The checks done when the config is loaded as the user --user names, so
 * that what that user could not read or write is refused at startup:
 * priv_assume takes its uid, gid and groups as real and effective ids
 * (root's saved uid is the way back), priv_resume goes back. As a user
 * other than root only the lookup is done. 0, or a negative errno (-ENOENT:
 * no such user) with one line in err. Before any thread starts. */
struct priv_saved {
	int active, ngroups;
	gid_t gid, *groups; /* root's supplementary groups (freed at resume) */
};
int priv_assume(const char *user, struct priv_saved *sv, char *err, size_t errlen);
void priv_resume(struct priv_saved *sv);

/* "cap_net_raw,cap_net_bind_service" ("none" for 0) into buf. */
const char *priv_names(uint64_t caps, char *buf, size_t len);

#endif
