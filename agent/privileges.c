/* Least privilege: --user NAME switches the agent to an unprivileged user
 * before any thread starts, keeping only the capabilities its config needs
 * (CAP_NET_RAW for packet capture, CAP_NET_BIND_SERVICE for a listen port
 * below 1024), with raw prctl/capset so no library is needed.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hostport.h"
#include "privileges.h"

#define CAPBIT(c) (1ull << (c))

/* What a collector needs beyond what any user may do, and why. A collector
 * that reads other users' /proc (per-process attribution) would add
 * CAP_SYS_PTRACE (/proc/PID/fd, maps of other users' processes) or
 * CAP_DAC_READ_SEARCH (files of /proc/PID that are mode 0400) here. */
static const struct {
	const char *collector;
	int cap;
} collector_caps[] = {
    {"pcap", CAP_NET_RAW}, /* a capture handle (AF_PACKET), reopened at reload */
};

static const struct {
	int cap;
	const char *name;
} cap_names[] = {
    {CAP_NET_RAW, "cap_net_raw"},
    {CAP_NET_BIND_SERVICE, "cap_net_bind_service"},
    {CAP_SYS_PTRACE, "cap_sys_ptrace"},
    {CAP_DAC_READ_SEARCH, "cap_dac_read_search"},
};

const char *priv_names(uint64_t caps, char *buf, size_t len)
{
	size_t k = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if ((caps & CAPBIT(cap_names[i].cap)) && k < len)
			k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? "," : "",
					      cap_names[i].name);
	if (!k)
		snprintf(buf, len, "none");
	return buf;
}

static void add_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_why(char *why, size_t whylen, const char *fmt, ...)
{
	size_t l = strlen(why);
	va_list ap;

	if (l + 2 >= whylen)
		return;
	if (l) {
		memcpy(why + l, ", ", 3);
		l += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + l, whylen - l, fmt, ap);
	va_end(ap);
}

uint64_t priv_needed(const struct agent_config *cfg, char *why, size_t whylen)
{
	char host[HOSTPORT_HOST_MAX], port[HOSTPORT_PORT_MAX];
	uint64_t caps = 0;

	if (whylen)
		why[0] = '\0';
	for (size_t i = 0; i < cfg->ncollectors; i++) {
		const struct cfg_section *s = &cfg->collectors[i];

		if (!s->enabled)
			continue;
		for (size_t j = 0; j < sizeof(collector_caps) / sizeof(collector_caps[0]);
		     j++)
			if (!strcmp(s->component, collector_caps[j].collector)) {
				char n[64];

				caps |= CAPBIT(collector_caps[j].cap);
				add_why(why, whylen, "%s (collectors.%s)",
					priv_names(CAPBIT(collector_caps[j].cap), n,
						   sizeof(n)),
					s->name);
			}
	}
	if (cfg->listen &&
	    !hostport_split(cfg->listen, host, sizeof(host), port, sizeof(port)) &&
	    atoi(port) < 1024) {
		caps |= CAPBIT(CAP_NET_BIND_SERVICE);
		add_why(why, whylen, "cap_net_bind_service (listen %s)", cfg->listen);
	}
	return caps;
}

static int set_caps(uint64_t keep)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].permitted = d[0].effective = (uint32_t)keep;
	d[1].permitted = d[1].effective = (uint32_t)(keep >> 32);
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

int priv_drop(const char *user, uint64_t keep, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rc;

	rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc || !res) {
		snprintf(err, errlen, "--user %s: %s", user,
			 rc ? strerror(rc) : "no such user");
		return rc ? -rc : -ENOENT;
	}
	if (geteuid() != 0) {
		/* Already unprivileged: fine when it is that user. */
		if (geteuid() != pw.pw_uid) {
			snprintf(err, errlen,
				 "--user %s: the agent must start as root to switch "
				 "users (running as uid %u)",
				 user, (unsigned)geteuid());
			return -EPERM;
		}
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		return 0;
	}
	/* The bounding set first, while CAP_SETPCAP is still effective: a
	 * program run later (execve) can never gain more. */
	for (int c = 0; c <= 63; c++)
		if (!(keep & CAPBIT(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL) { /* EINVAL: beyond this kernel's caps */
			rc = -errno;
			snprintf(err, errlen,
				 "--user %s: cannot shrink the capability "
				 "bounding set: %s",
				 user, strerror(-rc));
			return rc;
		}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* Keep the permitted set across the uid change; effective is cleared
	 * by it and set again from keep below. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
	    initgroups(pw.pw_name, pw.pw_gid) < 0 ||
	    setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid) < 0 ||
	    setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) < 0) {
		rc = -errno;
		snprintf(err, errlen, "--user %s: cannot switch to uid %u gid %u: %s",
			 user, (unsigned)pw.pw_uid, (unsigned)pw.pw_gid, strerror(-rc));
		return rc;
	}
	if ((rc = set_caps(keep)) < 0) {
		snprintf(err, errlen, "--user %s: cannot set capabilities: %s", user,
			 strerror(-rc));
		return rc;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		rc = -errno;
		snprintf(err, errlen, "--user %s: cannot set no_new_privs: %s", user,
			 strerror(-rc));
		return rc;
	}
	/* The switch must be for good: uid 0 must be out of reach now. */
	if (pw.pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen,
			 "--user %s: root could be regained; refusing to run", user);
		return -EPERM;
	}
	return 0;
}
