/* Slurm allocations from the job environment (accelmon/attrib.h): for each
 * process whose cgroup puts it in a Slurm job, /proc/<pid>/environ is read
 * once per process start and its GPU variables name the devices the job
 * holds. This is what tells a held device on cgroup v2 nodes, where the
 * device controller has no list to read (collectors/attribution.md says
 * which variable wins and why).
 *
 * Trust: the job comes from the cgroup path (slurmstepd makes it; the
 * job's user cannot move a process out of it), never from the environ.
 * The environ's variables are set by Slurm but the job's user may change
 * them, so what they name is the job's own claim on devices: it only ever
 * counts for the job of the cgroup, and an environ whose SLURM_JOB_ID is
 * not that job is refused.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accelmon/attrib.h"
#include "accelmon/util.h"

/* An environment is read up to this much (the kernel allows far more; the
 * Slurm variables sit among a few KiB in practice); a larger one is said
 * (am_env_cache.too_big) and claims nothing. */
#define ENV_MAX (1u << 20)

struct am_env_proc {
	pid_t pid;
	uint64_t start;
	unsigned gen; /* the scan that last saw it */
	bool slurm;   /* in a Slurm job with its env read and GPUs in it */
	struct am_alloc al;
};

/* The value of NAME= in env[0..n) (NUL-separated), or NULL; *vlen its
 * length. */
static const char *env_get(const char *env, size_t n, const char *name, size_t *vlen)
{
	size_t nl = strlen(name), i = 0;

	while (i < n) {
		const char *e = memchr(env + i, '\0', n - i);
		size_t len = e ? (size_t)(e - (env + i)) : n - i;

		if (len > nl && memcmp(env + i, name, nl) == 0 && env[i + nl] == '=') {
			*vlen = len - nl - 1;
			return env + i + nl + 1;
		}
		i += len + 1;
	}
	return NULL;
}

/* "0,1,4-6": GRES indexes (ranges as Slurm may write them). */
static void env_indexes(const char *v, size_t n, struct am_alloc *out)
{
	size_t i = 0;

	while (i < n) {
		size_t e = i;
		unsigned long lo, hi;
		char tok[32], *end;

		while (e < n && v[e] != ',')
			e++;
		if (e - i > 0 && e - i < sizeof(tok)) {
			memcpy(tok, v + i, e - i);
			tok[e - i] = '\0';
			errno = 0;
			lo = strtoul(tok, &end, 10);
			hi = lo;
			if (end != tok && *end == '-')
				hi = strtoul(end + 1, &end, 10);
			if (errno == 0 && end != tok && *end == '\0' && tok[0] >= '0' &&
			    tok[0] <= '9' && hi >= lo && hi - lo < AM_ALLOC_MAX_DEVS)
				for (unsigned long k = lo; k <= hi; k++) {
					char id[24];

					snprintf(id, sizeof(id), "%lu", k);
					am_alloc_add_ref(out, AM_ALLOC_BY_INDEX, id);
				}
		}
		i = e + 1;
	}
}

/* ROCR's "GPU-<hex>" names the board by its unique id, which amdgpu
 * labels uuid as the kernel's unique_id file gives it: 16 lower-case hex
 * digits, zero-padded. tok (len bytes after "GPU-") into that form in
 * out[17]; false when it is not hex of at most 16 digits. */
static bool env_rocr_uuid(const char *tok, size_t len, char out[17])
{
	if (len == 0 || len > 16)
		return false;
	memset(out, '0', 16 - len);
	for (size_t i = 0; i < len; i++) {
		char ch = tok[i];

		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
		out[16 - len + i] = ch;
	}
	out[16] = '\0';
	return true;
}

/* The UUID entries of a *_VISIBLE_DEVICES list ("GPU-...", "MIG-..."; for
 * ROCR, rocr, the bare unique id). */
static void env_uuids(const char *v, size_t n, bool rocr, struct am_alloc *out)
{
	size_t i = 0;

	while (i < n) {
		size_t e = i;
		char tok[96];

		while (e < n && v[e] != ',')
			e++;
		if (rocr && e - i > 4 && memcmp(v + i, "GPU-", 4) == 0) {
			if (env_rocr_uuid(v + i + 4, e - i - 4, tok))
				am_alloc_add_ref(out, AM_ALLOC_BY_UUID, tok);
		} else if (!rocr && e - i > 4 && e - i < sizeof(tok) &&
			   (memcmp(v + i, "GPU-", 4) == 0 ||
			    memcmp(v + i, "MIG-", 4) == 0)) {
			memcpy(tok, v + i, e - i);
			tok[e - i] = '\0';
			am_alloc_add_ref(out, AM_ALLOC_BY_UUID, tok);
		}
		i = e + 1;
	}
}

int am_slurm_env_parse(const char *env, size_t n, char *job, size_t jobcap,
		       struct am_alloc *out)
{
	static const char *const vis[] = {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"};
	const char *v;
	size_t vl;

	v = env_get(env, n, "SLURM_JOB_ID", &vl);
	if (!v || vl == 0 || vl >= jobcap)
		return -ENOENT;
	/* v is not NUL-terminated (the environment's last variable may end
	 * the buffer): every scan is bounded by vl */
	for (size_t i = 0; i < vl; i++)
		if (v[i] < '0' || v[i] > '9')
			return -ENOENT;
	memcpy(job, v, vl);
	job[vl] = '\0';
	/* The job's GRES indexes on the node (host numbering) win; a step's
	 * are a subset of them, for steps that only have those. */
	if ((v = env_get(env, n, "SLURM_JOB_GPUS", &vl)) && vl > 0) {
		env_indexes(v, vl, out);
		return 0;
	}
	if ((v = env_get(env, n, "SLURM_STEP_GPUS", &vl)) && vl > 0) {
		env_indexes(v, vl, out);
		return 0;
	}
	/* The runtimes' lists: with ConstrainDevices Slurm numbers them from
	 * 0 inside the job, so only UUIDs name a host device. */
	for (size_t i = 0; i < sizeof(vis) / sizeof(vis[0]); i++)
		if ((v = env_get(env, n, vis[i], &vl)))
			env_uuids(v, vl, i == 1, out);
	return 0;
}

static struct am_env_proc *env_entry(struct am_env_cache *c, pid_t pid, uint64_t start,
				     bool *fresh)
{
	struct am_env_proc *p;

	*fresh = false;
	for (size_t i = 0; i < c->n; i++)
		if (c->p[i].pid == pid) {
			p = &c->p[i];
			if (p->start != start) {
				memset(p, 0, sizeof(*p));
				p->pid = pid;
				p->start = start;
				*fresh = true;
			}
			return p;
		}
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		struct am_env_proc *nv = realloc(c->p, nc * sizeof(*nv));

		if (!nv)
			return NULL;
		c->p = nv;
		c->cap = nc;
	}
	p = &c->p[c->n++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->start = start;
	*fresh = true;
	return p;
}

/* A new process: its job by cgroup, then (Slurm only) its environment. */
static void env_classify(const char *procfs, struct am_env_cache *c,
			 struct am_env_proc *p, char *buf, char *refused, size_t refcap)
{
	char envjob[AM_JOB_ID_MAX];
	struct am_workload wl;
	char path[PATH_MAX];
	ssize_t n;

	if (am_workload_of_pid(procfs, p->pid, &wl, NULL) < 0 || wl.kind != AM_JOB_SLURM)
		return;
	snprintf(path, sizeof(path), "%s/%d/environ", procfs, (int)p->pid);
	/* the shared reader (O_NONBLOCK|O_NOCTTY); an environ of ENV_MAX or
	 * more is not read (-EFBIG) */
	n = am_read_text_at(AT_FDCWD, path, buf, ENV_MAX);
	if (n == -EACCES || n == -EPERM) {
		if (refused && !refused[0])
			snprintf(refused, refcap, "%s", path);
		return;
	}
	if (n == -EFBIG && !c->too_big[0])
		snprintf(c->too_big, sizeof(c->too_big), "%s", path);
	if (n <= 0)
		return;
	p->al.wl = wl;
	p->al.wl.step[0] = p->al.wl.container[0] = '\0';
	if (am_slurm_env_parse(buf, (size_t)n, envjob, sizeof(envjob), &p->al) != 0) {
		p->al.nrefs = 0;
		return;
	}
	/* The cgroup's job is the authority: an environ that names another
	 * job claims nothing (said by the caller, once per job). */
	if (strcmp(envjob, wl.job) != 0) {
		p->al.nrefs = 0;
		if (!c->mismatch[0]) {
			snprintf(c->mismatch_job, sizeof(c->mismatch_job), "%s", wl.job);
			snprintf(c->mismatch, sizeof(c->mismatch),
				 "%s says SLURM_JOB_ID=%s but its cgroup is job %s", path,
				 envjob, wl.job);
		}
		return;
	}
	if (p->al.nrefs > 0)
		p->slurm = true;
}

/* Whether job wl has an entry of another source in v[0..n0): a cgroup v1
 * devices.list, the record trusted over what its processes' environment
 * claims. */
static bool env_listed(const struct am_alloc *v, size_t n0, const struct am_workload *wl)
{
	for (size_t i = 0; i < n0; i++)
		if (v[i].wl.kind == wl->kind && strcmp(v[i].wl.job, wl->job) == 0)
			return true;
	return false;
}

int am_slurm_env_scan(const char *procfs, struct am_env_cache *c, struct am_alloc **v,
		      size_t *n, size_t *cap, char *refused, size_t refcap)
{
	struct dirent *de;
	char *buf = NULL;
	DIR *d;
	int rc = 0;
	size_t n0 = *n; /* the other sources' entries */

	if (refused && refcap)
		refused[0] = '\0';
	c->mismatch[0] = c->mismatch_job[0] = c->too_big[0] = '\0';
	c->gen++;
	if (!(d = opendir(procfs)))
		return 0;
	while ((de = readdir(d))) {
		struct am_env_proc *p;
		uint64_t start;
		bool fresh;
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 ||
		    am_proc_start_time(procfs, (pid_t)pid, &start) < 0)
			continue;
		p = env_entry(c, (pid_t)pid, start, &fresh);
		if (!p) {
			rc = -ENOMEM;
			break;
		}
		p->gen = c->gen;
		if (fresh) {
			if (!buf && !(buf = malloc(ENV_MAX))) {
				rc = -ENOMEM;
				break;
			}
			env_classify(procfs, c, p, buf, refused, refcap);
		}
		if (p->slurm && !env_listed(*v, n0, &p->al.wl)) {
			struct am_alloc *a = am_alloc_add(v, n, cap, &p->al.wl);

			if (!a) {
				rc = -ENOMEM;
				break;
			}
			a->env = true;
			for (unsigned k = 0; k < p->al.nrefs; k++)
				am_alloc_add_ref(a, p->al.refs[k].by, p->al.refs[k].id);
		}
	}
	closedir(d);
	free(buf);
	/* processes gone */
	for (size_t i = 0; i < c->n;)
		if (c->p[i].gen != c->gen)
			c->p[i] = c->p[--c->n];
		else
			i++;
	return rc;
}

void am_env_cache_free(struct am_env_cache *c)
{
	free(c->p);
	memset(c, 0, sizeof(*c));
}
