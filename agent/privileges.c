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
#include <sys/types.h>
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
    /* a capture handle (AF_PACKET): agent/main.c opens them before the
     * switch and keeps CAP_NET_RAW only for RDMA windows (pcap.md) */
    {"pcap", CAP_NET_RAW},
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

static int get_caps(uint64_t *permitted, uint64_t *effective)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	*permitted = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*effective = d[0].effective | (uint64_t)d[1].effective << 32;
	return 0;
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

/* Not root: the capabilities it was given (systemd's AmbientCapabilities,
 * setpriv, capsh) shrink to keep & what it holds, none inheritable or
 * ambient; the bounding set too where CAP_SETPCAP allows. */
static int reduce_caps(uint64_t keep, uint64_t *kept, uint64_t *dropped, char *err,
		       size_t errlen)
{
	uint64_t prm, eff;
	int rc;

	if ((rc = get_caps(&prm, &eff)) < 0) {
		snprintf(err, errlen, "cannot read the capabilities: %s", strerror(-rc));
		return rc;
	}
	*kept = keep & prm;
	*dropped = prm & ~keep;
	if (eff & CAPBIT(CAP_SETPCAP))
		for (int c = 0; c <= 63; c++)
			if (!(keep & CAPBIT(c)))
				prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL) {
		rc = -errno;
		snprintf(err, errlen, "cannot clear the ambient capabilities: %s",
			 strerror(-rc));
		return rc;
	}
	if ((rc = set_caps(*kept)) < 0) {
		snprintf(err, errlen, "cannot set capabilities: %s", strerror(-rc));
		return rc;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int priv_reduce(uint64_t keep, char *msg, size_t msglen, char *err, size_t errlen)
{
	uint64_t prm, eff, kept, dropped, amb = 0;
	char names[128];
	int rc;

	if (msglen)
		msg[0] = '\0';
	if (geteuid() == 0)
		return 0;
	if ((rc = get_caps(&prm, &eff)) < 0) {
		snprintf(err, errlen, "cannot read the capabilities: %s", strerror(-rc));
		return rc;
	}
	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			amb |= CAPBIT(c);
	if (!prm && !amb)
		return 0; /* an ordinary user: nothing to give up */
	if ((rc = reduce_caps(keep, &kept, &dropped, err, errlen)) < 0)
		return rc;
	snprintf(msg, msglen,
		 "running as uid %u (not root); capabilities kept: %s; dropped: "
		 "permitted 0x%llx, ambient 0x%llx",
		 (unsigned)geteuid(), priv_names(kept, names, sizeof(names)),
		 (unsigned long long)dropped, (unsigned long long)amb);
	return 1;
}

static int lookup(const char *user, struct passwd *pw, char *buf, size_t len,
		  char *err, size_t errlen)
{
	struct passwd *res = NULL;
	int rc = getpwnam_r(user, pw, buf, len, &res);

	if (rc || !res) {
		snprintf(err, errlen, "--user %s: %s", user,
			 rc ? strerror(rc) : "no such user");
		return rc ? -rc : -ENOENT;
	}
	return 0;
}

int priv_assume(const char *user, struct priv_saved *sv, char *err, size_t errlen)
{
	struct passwd pw;
	char buf[4096];
	int rc;

	memset(sv, 0, sizeof(*sv));
	if ((rc = lookup(user, &pw, buf, sizeof(buf), err, errlen)) < 0)
		return rc;
	if (geteuid() != 0)
		return 0;
	/* as many as root has (NGROUPS_MAX is 65536 on Linux) */
	sv->ngroups = getgroups(0, NULL);
	if (sv->ngroups >= 0 &&
	    !(sv->groups = calloc((size_t)sv->ngroups + 1, sizeof(*sv->groups))))
		errno = ENOMEM, sv->ngroups = -1;
	if (sv->ngroups >= 0)
		sv->ngroups = getgroups(sv->ngroups, sv->groups);
	if (sv->ngroups < 0) {
		rc = -errno;
		free(sv->groups);
		sv->groups = NULL;
		snprintf(err, errlen, "--user %s: getgroups: %s", user, strerror(-rc));
		return rc;
	}
	sv->gid = getegid();
	sv->active = 1;
	/* Real and effective ids (access() checks the real ones); the saved
	 * uid stays 0, which is the way back. */
	if (initgroups(pw.pw_name, pw.pw_gid) < 0 ||
	    setresgid(pw.pw_gid, pw.pw_gid, (gid_t)-1) < 0 ||
	    setresuid(pw.pw_uid, pw.pw_uid, (uid_t)-1) < 0) {
		rc = -errno;
		priv_resume(sv);
		snprintf(err, errlen, "--user %s: cannot act as uid %u gid %u: %s", user,
			 (unsigned)pw.pw_uid, (unsigned)pw.pw_gid, strerror(-rc));
		return rc;
	}
	return 0;
}

void priv_resume(struct priv_saved *sv)
{
	if (!sv->active)
		return;
	sv->active = 0;
	if (setresuid(0, 0, (uid_t)-1) < 0 || setresgid(sv->gid, sv->gid, (gid_t)-1) < 0 ||
	    setgroups((size_t)sv->ngroups, sv->groups) < 0) {
		fprintf(stderr, "accelmon: cannot become root again after the checks "
				"as --user: %s\n",
			strerror(errno));
		abort();
	}
	free(sv->groups);
	sv->groups = NULL;
}

int priv_drop(const char *user, uint64_t keep, uint64_t *kept, char *err,
	      size_t errlen)
{
	struct passwd pw;
	char buf[4096];
	int rc;

	if ((rc = lookup(user, &pw, buf, sizeof(buf), err, errlen)) < 0)
		return rc;
	*kept = 0;
	if (geteuid() != 0) {
		uint64_t dropped;

		/* Already unprivileged: fine when it is that user, with only
		 * the capabilities needed (it may have been given more). */
		if (geteuid() != pw.pw_uid) {
			snprintf(err, errlen,
				 "--user %s: the agent must start as root to switch "
				 "users (running as uid %u)",
				 user, (unsigned)geteuid());
			return -EPERM;
		}
		if ((rc = reduce_caps(keep, kept, &dropped, buf, sizeof(buf))) < 0) {
			snprintf(err, errlen, "--user %s: %s", user, buf);
			return rc;
		}
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
	*kept = keep;
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
