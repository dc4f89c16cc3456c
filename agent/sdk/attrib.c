/* The split of a device among its jobs (accelmon/attrib.h), one rule for
 * every collector (collectors/attribution.md): in each poll interval the
 * device's busy seconds go to its jobs by their processes' weights (engine
 * time, utilization), its energy by the busy seconds just given, with
 * equal shares where no weight is known; integer nanoseconds and
 * millijoules apportioned by largest remainder, so the jobs' counters add
 * up to the device's figures exactly. A job's series are retired as soon
 * as it has no process on the device.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "accelmon/attrib.h"
#include "accelmon/schema.h"
#include "accelmon/util.h"

#define ATT_DEFAULT_MAX_JOBS 16
/* Jobs per device with series of their own at most (the split's arrays). */
#define ATT_MAX_JOBS 62
/* A cached workload is dropped once its pid was not asked about for this
 * long (poll time). */
#define ATT_PID_TTL_NS (60LL * 1000000000LL)
/* The allocations (cgroup device lists, the kubelet, Slurm's job
 * environments) are read again this often (poll time). */
#define ATT_ALLOC_SCAN_NS (30LL * 1000000000LL)
/* The kubelet's pod-resources socket: where it is, and how long a List
 * may take: the collector's poll waits for it, and the watchdog's deadline
 * of a 1 s collector's poll is 2 s. A kubelet answers in milliseconds. */
#define ATT_PODRES_SOCKET "/var/lib/kubelet/pod-resources/kubelet.sock"
#define ATT_POD_LOGS "/var/log/pods"
#define ATT_PODRES_TIMEOUT_MS 1000L

struct att_job {
	enum am_job_kind kind;
	char job[AM_JOB_ID_MAX];
	char user[16], step[32], container[80];
	char ns[64], pod[254]; /* Kubernetes: from the pod log directory */
	bool to_other;	       /* past max_jobs: counted in the device's "other" */
	bool seen;	       /* had a process this poll, or holds the device */
	bool allocated;	       /* the device is in its cgroup's device list */
	am_series_t s_busy, s_mem, s_energy, s_info, s_alloc;
	uint64_t busy_ns, energy_mj; /* exported totals */
	/* this poll */
	double w, mem;
	bool have_mem;
	bool has_proc; /* a process of it is on the device this poll */
	uint64_t d_busy;
};

struct att_dev {
	char device[64], uuid[AM_LABEL_VALUE_MAX + 1];
	bool have_prev, have_energy;
	/* the device gave a busy figure, an energy or power figure: its jobs
	 * have busy, energy series from then on (none for a device that has
	 * no such figure, a MIG instance's energy: never a made-up 0) */
	bool busy_src, energy_src;
	int64_t prev_ns;
	/* when the device last gave a busy ratio, a power figure (have_*:
	 * it did): the interval a ratio or a power covers runs from there, as
	 * the aggregator integrates them; the first figure covers nothing */
	int64_t busy_t, power_t;
	bool have_busy_t, have_power_t;
	uint64_t prev_mj;
	struct att_job *jobs;
	size_t njobs, cap;
	struct att_job other; /* s_* INVALID until some job overflows */
	bool other_seen;
};

struct att_pid {
	pid_t pid;
	uint64_t start;
	int64_t seen_ns;
	struct am_workload wl;
};

struct am_attrib {
	struct am_ctx *ctx;
	unsigned max_jobs;
	bool enabled;
	am_family_t f_busy, f_mem, f_energy, f_info, f_alloc;
	struct am_alloc *al; /* allocations of every source, read every 30 s */
	size_t nal, alcap;
	int64_t al_next_ns;
	bool al_scanned;
	/* the kubelet: socket ("" off), pod log directory, its pod names */
	char podres[PATH_MAX], pod_logs[PATH_MAX];
	bool podres_failing, unjoined_said, ambiguous_said;
	/* its last good answer's allocations, kept for one failed scan */
	struct am_alloc *pr_al, *pr_tmp; /* the last good answer; decoding */
	size_t pr_n, pr_cap, pr_tmpcap;
	unsigned pr_fails;
	am_podres_list_fn *list; /* am_podres_list; tests put theirs */
	struct am_pod_name *pods;
	size_t npods, podcap;
	int64_t pods_read_ns;
	/* Slurm's job environments */
	struct am_env_cache envc;
	bool env_refused_said, env_big_said;
	char env_mismatch_said[AM_JOB_ID_MAX];
	struct att_dev *devs;
	size_t ndev, devcap;
	struct att_pid *pids;
	size_t npid, pidcap;
};

/* v with room for one more element (n used of *cap, doubling from 8), or
 * NULL when out of memory (v is then unchanged). */
static void *att_grow(void *v, size_t n, size_t *cap, size_t elem)
{
	size_t nc = *cap ? *cap * 2 : 8;
	void *nv;

	if (n < *cap)
		return v;
	nv = realloc(v, nc * elem);
	if (nv)
		*cap = nc;
	return nv;
}

static void att_job_init(struct att_job *j)
{
	memset(j, 0, sizeof(*j));
	j->s_busy = j->s_mem = j->s_energy = j->s_info = j->s_alloc = AM_SERIES_INVALID;
}

struct am_attrib *am_attrib_new(struct am_ctx *ctx, unsigned max_jobs)
{
	static const struct am_std_use busy = {.kind = AM_COUNTER, .scale = 1e-9};
	static const struct am_std_use energy = {.kind = AM_COUNTER, .scale = 1e-3};
	struct am_attrib *a = calloc(1, sizeof(*a));

	if (!a) {
		am_log(ctx, AM_LOG_ERROR, "attribution: out of memory");
		return NULL;
	}
	a->ctx = ctx;
	a->max_jobs = max_jobs ? max_jobs : ATT_DEFAULT_MAX_JOBS;
	if (a->max_jobs > ATT_MAX_JOBS)
		a->max_jobs = ATT_MAX_JOBS;
	a->enabled = true;
	snprintf(a->podres, sizeof(a->podres), "%s", ATT_PODRES_SOCKET);
	snprintf(a->pod_logs, sizeof(a->pod_logs), "%s", ATT_POD_LOGS);
	a->pods_read_ns = INT64_MIN;
	a->list = am_podres_list;
	a->f_busy = am_std_family(ctx, AM_STD_JOB_BUSY_SECONDS, &busy);
	a->f_mem = am_std_family(ctx, AM_STD_JOB_MEMORY_USED, NULL);
	a->f_energy = am_std_family(ctx, AM_STD_JOB_ENERGY, &energy);
	a->f_info = am_std_family(ctx, AM_STD_JOB_INFO, NULL);
	a->f_alloc = am_std_family(ctx, AM_STD_JOB_ALLOCATED, NULL);
	if (a->f_busy < 0 || a->f_mem < 0 || a->f_energy < 0 || a->f_info < 0 ||
	    a->f_alloc < 0) {
		am_log(ctx, AM_LOG_ERROR, "attribution: job families not registered");
		free(a);
		return NULL;
	}
	return a;
}

void am_attrib_free(struct am_attrib *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->ndev; i++)
		free(a->devs[i].jobs);
	free(a->devs);
	free(a->pids);
	free(a->al);
	free(a->pr_al);
	free(a->pr_tmp);
	free(a->pods);
	am_env_cache_free(&a->envc);
	free(a);
}

void am_attrib_configure(struct am_attrib *a, const struct am_config *cfg)
{
	if (!a)
		return;
	snprintf(a->podres, sizeof(a->podres), "%s",
		 am_cfg_string(cfg, "pod_resources", ATT_PODRES_SOCKET));
	snprintf(a->pod_logs, sizeof(a->pod_logs), "%s",
		 am_cfg_string(cfg, "pod_logs", ATT_POD_LOGS));
}

#ifdef AM_TEST_HOOKS
void am_attrib_set_podres_list(struct am_attrib *a, am_podres_list_fn *fn)
{
	if (a)
		a->list = fn ? fn : am_podres_list;
}
#endif

bool am_attrib_enabled(const struct am_attrib *a)
{
	return a && a->enabled;
}

static void att_retire_job(struct am_attrib *a, struct att_job *j)
{
	am_series_t *s[5] = {&j->s_busy, &j->s_mem, &j->s_energy, &j->s_info,
			     &j->s_alloc};

	for (int i = 0; i < 5; i++)
		if (*s[i] != AM_SERIES_INVALID) {
			am_series_release(a->ctx, *s[i]);
			*s[i] = AM_SERIES_INVALID;
		}
	j->busy_ns = j->energy_mj = 0;
}

static void att_retire_dev(struct am_attrib *a, struct att_dev *d)
{
	for (size_t i = 0; i < d->njobs; i++)
		att_retire_job(a, &d->jobs[i]);
	att_retire_job(a, &d->other);
	d->njobs = 0;
	d->have_prev = d->have_energy = d->busy_src = d->energy_src = false;
	d->have_busy_t = d->have_power_t = false;
}

void am_attrib_forget(struct am_attrib *a, const char *device)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->ndev; i++)
		if (strcmp(a->devs[i].device, device) == 0)
			att_retire_dev(a, &a->devs[i]);
}

static struct att_dev *att_dev(struct am_attrib *a, const struct am_attrib_dev *in)
{
	struct att_dev *d;

	for (size_t i = 0; i < a->ndev; i++)
		if (strcmp(a->devs[i].device, in->device) == 0)
			return &a->devs[i];
	{
		void *nv = att_grow(a->devs, a->ndev, &a->devcap, sizeof(*a->devs));

		if (!nv)
			return NULL;
		a->devs = nv;
	}
	d = &a->devs[a->ndev++];
	memset(d, 0, sizeof(*d));
	snprintf(d->device, sizeof(d->device), "%s", in->device);
	snprintf(d->uuid, sizeof(d->uuid), "%s", in->uuid ? in->uuid : "");
	att_job_init(&d->other);
	d->other.kind = AM_JOB__COUNT; /* "other" */
	snprintf(d->other.job, sizeof(d->other.job), "other");
	return d;
}

/* The workload of pid: cached while its start time stays the same. */
static int att_workload(struct am_attrib *a, pid_t pid, int64_t now,
			const struct am_workload **out)
{
	const char *procfs = am_procfs(a->ctx);
	struct att_pid *p = NULL;
	uint64_t start;
	int rc;

	for (size_t i = 0; i < a->npid; i++)
		if (a->pids[i].pid == pid) {
			p = &a->pids[i];
			break;
		}
	if (p) {
		rc = am_proc_start_time(procfs, pid, &start);
		if (rc < 0)
			return rc;
		if (start == p->start) {
			p->seen_ns = now;
			*out = &p->wl;
			return 0;
		}
	} else {
		void *nv = att_grow(a->pids, a->npid, &a->pidcap, sizeof(*a->pids));

		if (!nv)
			return -ENOMEM;
		a->pids = nv;
		p = &a->pids[a->npid];
		memset(p, 0, sizeof(*p));
	}
	rc = am_workload_of_pid(procfs, pid, &p->wl, &p->start);
	if (rc < 0) {
		/* not cached: a failed entry in the middle would be kept */
		if (p != &a->pids[a->npid]) {
			*p = a->pids[--a->npid];
		}
		return rc;
	}
	if (p == &a->pids[a->npid])
		a->npid++;
	p->pid = pid;
	p->seen_ns = now;
	*out = &p->wl;
	return 0;
}

static void att_sweep_pids(struct am_attrib *a, int64_t now)
{
	for (size_t i = 0; i < a->npid;)
		if (now - a->pids[i].seen_ns > ATT_PID_TTL_NS)
			a->pids[i] = a->pids[--a->npid];
		else
			i++;
}

static void att_read_pods(struct am_attrib *a, int64_t now);

static struct att_job *att_job(struct am_attrib *a, struct att_dev *d,
			       const struct am_workload *wl)
{
	unsigned max_jobs = a->max_jobs;
	struct att_job *j;
	size_t named = 0;

	for (size_t i = 0; i < d->njobs; i++) {
		j = &d->jobs[i];
		if (j->kind == wl->kind && strcmp(j->job, wl->job) == 0)
			return j;
		named += !j->to_other;
	}
	{
		void *nv = att_grow(d->jobs, d->njobs, &d->cap, sizeof(*d->jobs));

		if (!nv)
			return NULL;
		d->jobs = nv;
	}
	j = &d->jobs[d->njobs++];
	att_job_init(j);
	j->kind = wl->kind;
	snprintf(j->job, sizeof(j->job), "%s", wl->job);
	snprintf(j->user, sizeof(j->user), "%s", wl->user);
	snprintf(j->step, sizeof(j->step), "%s", wl->step);
	snprintf(j->container, sizeof(j->container), "%s", wl->container);
	if (wl->kind == AM_JOB_K8S) {
		const struct am_pod_name *pn =
		    am_pod_name_by_uid(a->pods, a->npods, wl->job);

		/* a pod newer than the last read: read the directory again
		 * (once per poll), so its series get their names from the
		 * start and keep them */
		if (!pn) {
			att_read_pods(a, am_poll_time_ns(a->ctx));
			pn = am_pod_name_by_uid(a->pods, a->npods, wl->job);
		}
		if (pn) {
			snprintf(j->ns, sizeof(j->ns), "%s", pn->ns);
			snprintf(j->pod, sizeof(j->pod), "%s", pn->name);
		}
	}
	/* First come, first served: a job keeps its bucket while it runs. */
	j->to_other = named >= max_jobs;
	return j;
}

/* Split total (integer units) by weights w[0..n) (sum > 0) into out[],
 * summing to total exactly: floors, then the remainder one unit each to
 * the largest fractional parts (ties: the earlier entry). */
static void att_apportion(uint64_t total, const double *w, size_t n, uint64_t *out)
{
	double sum = 0, frac[ATT_MAX_JOBS + 2];
	uint64_t given = 0;

	for (size_t i = 0; i < n; i++)
		sum += w[i];
	for (size_t i = 0; i < n; i++) {
		double exact = sum > 0 ? (double)total * (w[i] / sum) : 0;

		out[i] = (uint64_t)floor(exact);
		if (out[i] > total - given)
			out[i] = total - given;
		given += out[i];
		frac[i] = exact - floor(exact);
	}
	/* The remainder is below n (each floor loses under one unit); a
	 * rounding error beyond that goes round again. */
	while (given < total && n > 0) {
		size_t best = 0;

		for (size_t i = 1; i < n; i++)
			if (frac[i] > frac[best])
				best = i;
		if (frac[best] < 0) {
			for (size_t i = 0; i < n; i++)
				frac[i] = 0;
			continue;
		}
		out[best]++;
		frac[best] = -1;
		given++;
	}
}

static const char *att_kind_name(enum am_job_kind k)
{
	return k == AM_JOB__COUNT ? "other" : am_job_kind_name(k);
}

static void att_emit(struct am_attrib *a, struct att_dev *d, struct att_job *j)
{
	const char *lv[9] = {d->device, d->uuid, j->job,       att_kind_name(j->kind),
			     j->user,	j->step, j->container, j->ns,
			     j->pod};

	if (j->s_info == AM_SERIES_INVALID) {
		j->s_mem = am_series(a->ctx, a->f_mem, lv);
		j->s_info = am_series(a->ctx, a->f_info, lv);
	}
	if (d->busy_src && j->s_busy == AM_SERIES_INVALID)
		j->s_busy = am_series(a->ctx, a->f_busy, lv);
	if (d->energy_src && j->s_energy == AM_SERIES_INVALID)
		j->s_energy = am_series(a->ctx, a->f_energy, lv);
	if (j->s_busy != AM_SERIES_INVALID)
		am_emit_u64(a->ctx, j->s_busy, j->busy_ns);
	if (j->s_energy != AM_SERIES_INVALID)
		am_emit_u64(a->ctx, j->s_energy, j->energy_mj);
	if (j->s_mem != AM_SERIES_INVALID && j->have_mem)
		am_emit(a->ctx, j->s_mem, j->mem);
	if (j->s_info != AM_SERIES_INVALID)
		am_emit(a->ctx, j->s_info, 1);
	if (j->allocated) {
		if (j->s_alloc == AM_SERIES_INVALID)
			j->s_alloc = am_series(a->ctx, a->f_alloc, lv);
		if (j->s_alloc != AM_SERIES_INVALID)
			am_emit(a->ctx, j->s_alloc, 1);
	} else if (j->s_alloc != AM_SERIES_INVALID) {
		am_series_release(a->ctx, j->s_alloc);
		j->s_alloc = AM_SERIES_INVALID;
	}
}

bool am_alloc_holds(const struct am_alloc *al, const struct am_attrib_dev *d)
{
	char bus[32] = "", idx[16] = "";

	if (d->devnum && *d->devnum)
		for (unsigned k = 0; k < al->ndevs; k++)
			if (strcmp(al->devs[k], d->devnum) == 0)
				return true;
	if (al->nrefs == 0)
		return false;
	if (d->bus_id && am_pci_norm_bus_id(d->bus_id, bus, sizeof(bus)) < 0)
		bus[0] = '\0';
	if (d->have_index)
		snprintf(idx, sizeof(idx), "%u", d->index);
	for (unsigned k = 0; k < al->nrefs; k++) {
		const char *mine = al->refs[k].by == AM_ALLOC_BY_UUID	  ? d->uuid
				   : al->refs[k].by == AM_ALLOC_BY_BUS_ID ? bus
									  : idx;

		if (mine && *mine && strcmp(al->refs[k].id, mine) == 0)
			return true;
	}
	return false;
}

bool am_alloc_counts(const struct am_alloc *v, size_t n, size_t i,
		     const struct am_attrib_dev *d)
{
	if (!am_alloc_holds(&v[i], d))
		return false;
	if (!v[i].env)
		return true;
	for (size_t k = 0; k < n; k++)
		if (!v[k].env && (v[k].wl.kind != v[i].wl.kind ||
				  strcmp(v[k].wl.job, v[i].wl.job) != 0) &&
		    am_alloc_holds(&v[k], d))
			return false;
	return true;
}

/* The pod names of the kubelet's log directory, read at most once per
 * poll. */
static void att_read_pods(struct am_attrib *a, int64_t now)
{
	int rc;

	if (now == a->pods_read_ns || !a->pod_logs[0])
		return;
	a->pods_read_ns = now;
	rc = am_pod_names_scan(a->pod_logs, &a->pods, &a->npods, &a->podcap);
	if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR)
		am_log(a->ctx, AM_LOG_DEBUG, "attribution: %s: %s", a->pod_logs,
		       strerror(-rc));
}

/* The kubelet's last good allocations appended to a->al. */
static int att_podres_add(struct am_attrib *a)
{
	for (size_t i = 0; i < a->pr_n; i++) {
		struct am_alloc *al =
		    am_alloc_add(&a->al, &a->nal, &a->alcap, &a->pr_al[i].wl);

		if (!al)
			return -ENOMEM;
		for (unsigned k = 0; k < a->pr_al[i].nrefs; k++)
			am_alloc_add_ref(al, a->pr_al[i].refs[k].by,
					 a->pr_al[i].refs[k].id);
	}
	return 0;
}

/* The kubelet's pod-resources answer into a->al, while its socket
 * exists. A failure is said once; the last good answer's allocations
 * stand for that one scan (so a hiccup does not flip the series), then
 * they are gone until it answers again. */
static int att_podres(struct am_attrib *a)
{
	char err[256];
	struct stat st;
	uint8_t *msg;
	size_t len, unjoined = 0, ambiguous = 0;
	int rc;

	if (!a->podres[0] || stat(a->podres, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		if (a->podres_failing && a->podres[0])
			am_log(
			    a->ctx, AM_LOG_INFO,
			    "attribution: kubelet socket %s is gone; not read until it "
			    "is back",
			    a->podres);
		a->podres_failing = false;
		a->pr_n = 0;
		a->pr_fails = 0;
		return 0;
	}
	rc = a->list(a->podres, ATT_PODRES_TIMEOUT_MS, &msg, &len, err, sizeof(err));
	if (rc == 0) {
		char cg[PATH_MAX];
		size_t tn = 0;

		/* a pod re-created under its name leaves the old UID's
		 * directory a while: the live cgroups tell which is which */
		snprintf(cg, sizeof(cg), "%s/fs/cgroup", am_sysfs(a->ctx));
		am_pod_names_live(cg, a->pods, a->npods);
		/* decoded aside: only a whole answer replaces the last good one */
		rc = am_podres_decode(msg, len, a->pods, a->npods, &a->pr_tmp, &tn,
				      &a->pr_tmpcap, &unjoined, &ambiguous);
		free(msg);
		if (rc == -ENOMEM)
			return rc;
		if (rc == -EFBIG)
			snprintf(err, sizeof(err), "the answer is larger than accepted");
		else if (rc < 0)
			snprintf(err, sizeof(err), "the answer does not parse");
		if (rc == 0) {
			struct am_alloc *t = a->pr_al;
			size_t tc = a->pr_cap;

			a->pr_al = a->pr_tmp;
			a->pr_cap = a->pr_tmpcap;
			a->pr_n = tn;
			a->pr_tmp = t;
			a->pr_tmpcap = tc;
		}
	}
	if (rc < 0) {
		am_read_error(a->ctx);
		if (!a->podres_failing)
			am_log(a->ctx, AM_LOG_WARN,
			       "attribution: kubelet pod-resources %s: %s; its last "
			       "allocations kept for one scan, then none until it "
			       "answers",
			       a->podres, err);
		a->podres_failing = true;
		if (a->pr_fails++ > 0)
			a->pr_n = 0;
		return att_podres_add(a);
	}
	if (a->podres_failing)
		am_log(a->ctx, AM_LOG_INFO,
		       "attribution: kubelet pod-resources %s answers again", a->podres);
	a->podres_failing = false;
	a->pr_fails = 0;
	if (unjoined && !a->unjoined_said) {
		am_log(a->ctx, AM_LOG_WARN,
		       "attribution: %zu pod(s) holding devices have no directory in %s "
		       "(their UID is not known): not counted as allocations",
		       unjoined, a->pod_logs);
		a->unjoined_said = true;
	}
	if (ambiguous && !a->ambiguous_said) {
		bool live = false;

		for (size_t i = 0; i < a->npods; i++)
			live |= a->pods[i].live;
		am_log(a->ctx, AM_LOG_WARN,
		       "attribution: %zu pod(s) holding devices have several directories "
		       "in %s (re-created pods) and no single one has a live cgroup: "
		       "not counted as allocations%s%s%s",
		       ambiguous, a->pod_logs,
		       live ? "" : "; no pod cgroup was found under kubepods* of ",
		       live ? "" : am_sysfs(a->ctx),
		       live ? "" : "/fs/cgroup: a kubelet cgroup root other than the "
				   "default (--cgroup-root) is not searched");
		a->ambiguous_said = true;
	}
	return att_podres_add(a);
}

/* Every allocation source into a->al, every ATT_ALLOC_SCAN_NS. */
static int att_scan(struct am_attrib *a, int64_t now)
{
	char refused[PATH_MAX];
	int rc;

	if (a->al_scanned && now < a->al_next_ns)
		return 0;
	rc = am_alloc_scan(am_sysfs(a->ctx), &a->al, &a->nal, &a->alcap);
	if (rc < 0)
		return rc;
	att_read_pods(a, now);
	rc = att_podres(a);
	if (rc < 0)
		return rc;
	rc = am_slurm_env_scan(am_procfs(a->ctx), &a->envc, &a->al, &a->nal, &a->alcap,
			       refused, sizeof(refused));
	if (rc < 0)
		return rc;
	if (refused[0] && !a->env_refused_said) {
		am_log(a->ctx, AM_LOG_WARN,
		       "attribution: cannot read %s: Permission denied; another user's "
		       "Slurm job environment (SLURM_JOB_GPUS) needs CAP_SYS_PTRACE and "
		       "CAP_DAC_READ_SEARCH, see collectors/attribution.md; those jobs' "
		       "allocations are not read",
		       refused);
		a->env_refused_said = true;
	}
	/* said once per job (the cache reads each process's environ once) */
	if (a->envc.mismatch[0] &&
	    strcmp(a->envc.mismatch_job, a->env_mismatch_said) != 0) {
		am_log(a->ctx, AM_LOG_WARN,
		       "attribution: %s: its environment is not the job's and claims "
		       "no device",
		       a->envc.mismatch);
		snprintf(a->env_mismatch_said, sizeof(a->env_mismatch_said), "%s",
			 a->envc.mismatch_job);
	}
	if (a->envc.too_big[0] && !a->env_big_said) {
		am_log(a->ctx, AM_LOG_WARN,
		       "attribution: %s is over 1 MiB: not read, that process's Slurm "
		       "GPUs (SLURM_JOB_GPUS) are not counted (said once)",
		       a->envc.too_big);
		a->env_big_said = true;
	}
	a->al_scanned = true;
	a->al_next_ns = now + ATT_ALLOC_SCAN_NS;
	return 0;
}

/* The jobs that hold the device by any source: present on it whether or
 * not they run anything there. */
static int att_allocated(struct am_attrib *a, struct att_dev *d,
			 const struct am_attrib_dev *in)
{
	for (size_t i = 0; i < a->nal; i++) {
		struct att_job *j;

		if (!am_alloc_counts(a->al, a->nal, i, in))
			continue;
		j = att_job(a, d, &a->al[i].wl);
		if (!j)
			return -ENOMEM;
		j->seen = j->allocated = true;
		if (j->to_other)
			d->other_seen = d->other.allocated = true;
	}
	return 0;
}

/* Refused: said once; then: what the instance exports from then on. */
static void att_refused(struct am_attrib *a, const char *what, int err,
			const char *then)
{
	if (!a || !a->enabled)
		return;
	am_log(a->ctx, AM_LOG_WARN,
	       "attribution off: cannot read %s: %s; reading other users' "
	       "processes needs CAP_SYS_PTRACE (DRM fdinfo also CAP_DAC_READ_SEARCH), "
	       "see collectors/attribution.md; %s",
	       what, strerror(-err), then);
	a->enabled = false;
	for (size_t i = 0; i < a->ndev; i++)
		att_retire_dev(a, &a->devs[i]);
}

void am_attrib_refused(struct am_attrib *a, const char *what, int err)
{
	att_refused(a, what, err, "exporting device-level figures only");
}

void am_attrib_refused_device(struct am_attrib *a, const char *what, int err)
{
	att_refused(a, what, err,
		    "the device figures read from the same files (utilization, busy "
		    "time) are unavailable too: exporting accel_info and accel_up only");
}

/* A rate (per ns) sampled now, integrated as the aggregator integrates a
 * gauge: over the time since its last sample (*t), nothing for the first
 * sample or after a gap past the staleness horizon. Rounded. */
static uint64_t att_span(struct am_attrib *a, int64_t *t, bool *have, int64_t now,
			 double rate)
{
	uint64_t out = 0;

	if (*have && now > *t &&
	    am_gap_observed((double)(now - *t) * 1e-9, am_interval_s(a->ctx)))
		out = (uint64_t)llround(rate * (double)(now - *t));
	*t = now;
	*have = true;
	return out;
}

/* The device's energy in this interval, in mJ. */
static uint64_t att_energy(struct am_attrib *a, struct att_dev *d,
			   const struct am_attrib_dev *in, int64_t now)
{
	uint64_t mj, de = 0;

	if (isfinite(in->energy_j) && in->energy_j >= 0) {
		mj = (uint64_t)llround(in->energy_j * 1000.0);
		/* a counter that went back was reset: nothing for this one */
		if (d->have_energy && mj >= d->prev_mj)
			de = mj - d->prev_mj;
		d->prev_mj = mj;
		d->have_energy = true;
		return d->have_prev ? de : 0;
	}
	/* A counter that failed once: the next good reading covers this
	 * interval too (its delta from the last good one). */
	if (d->have_energy)
		return 0;
	return isfinite(in->power_w) && in->power_w >= 0
		   ? att_span(a, &d->power_t, &d->have_power_t, now, in->power_w * 1e-6)
		   : 0;
}

int am_attrib_update(struct am_attrib *a, const struct am_attrib_dev *in,
		     const struct am_attrib_proc *procs, size_t n)
{
	int64_t now = am_poll_time_ns(a->ctx);
	struct att_job *unit[ATT_MAX_JOBS + 2];
	double w[ATT_MAX_JOBS + 2], sumw = 0;
	uint64_t share[ATT_MAX_JOBS + 2], busy_dev, energy_dev, busy_sum = 0;
	size_t nu = 0;
	struct att_dev *d;

	if (!a->enabled)
		return -EACCES;
	d = att_dev(a, in);
	if (!d)
		return -ENOMEM;
	if (in->have_busy_s ? isfinite(in->busy_s) : isfinite(in->busy_ratio))
		d->busy_src = true;
	if (isfinite(in->energy_j) || isfinite(in->power_w))
		d->energy_src = true;
	for (size_t i = 0; i < d->njobs; i++) {
		d->jobs[i].seen = d->jobs[i].allocated = false;
		d->jobs[i].w = d->jobs[i].mem = 0;
		d->jobs[i].have_mem = d->jobs[i].has_proc = false;
	}
	d->other.w = d->other.mem = 0;
	d->other.have_mem = d->other.allocated = d->other.has_proc = false;
	d->other_seen = false;
	{
		int rc = att_scan(a, now);

		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		const struct am_workload *wl;
		struct att_job *j;
		int rc = att_workload(a, procs[i].pid, now, &wl);

		if (rc == -EACCES || rc == -EPERM) {
			char what[PATH_MAX];

			snprintf(what, sizeof(what), "%s/%d", am_procfs(a->ctx),
				 (int)procs[i].pid);
			am_attrib_refused(a, what, rc);
			return -EACCES;
		}
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			/* gone since the device listed it (ENOENT, ESRCH),
			 * or its files do not parse: not attributed */
			if (rc != -ENOENT && rc != -ESRCH) {
				am_read_error(a->ctx);
				am_log(a->ctx, AM_LOG_DEBUG,
				       "attribution: %s/%d: %s; process skipped",
				       am_procfs(a->ctx), (int)procs[i].pid,
				       strerror(-rc));
			}
			continue;
		}
		j = att_job(a, d, wl);
		if (!j)
			return -ENOMEM;
		j->seen = true;
		if (j->to_other) {
			d->other_seen = true;
			j = &d->other;
		}
		j->has_proc = true;
		if (isfinite(procs[i].weight) && procs[i].weight > 0)
			j->w += procs[i].weight;
		if (isfinite(procs[i].mem_bytes) && procs[i].mem_bytes >= 0) {
			j->mem += procs[i].mem_bytes;
			j->have_mem = true;
		}
	}
	{
		int rc = att_allocated(a, d, in);

		if (rc < 0)
			return rc;
	}
	/* Jobs that ended: their series go now. */
	for (size_t i = 0; i < d->njobs;) {
		if (!d->jobs[i].seen) {
			att_retire_job(a, &d->jobs[i]);
			d->jobs[i] = d->jobs[--d->njobs];
		} else {
			i++;
		}
	}
	if (!d->other_seen)
		att_retire_job(a, &d->other);
	for (size_t i = 0; i < d->njobs && nu < ATT_MAX_JOBS; i++)
		if (!d->jobs[i].to_other)
			unit[nu++] = &d->jobs[i];
	if (d->other_seen)
		unit[nu++] = &d->other;

	busy_dev = 0;
	if (in->have_busy_s) {
		if (isfinite(in->busy_s) && in->busy_s > 0 && d->have_prev)
			busy_dev = (uint64_t)llround(in->busy_s * 1e9);
	} else if (isfinite(in->busy_ratio) && in->busy_ratio >= 0)
		busy_dev = att_span(a, &d->busy_t, &d->have_busy_t, now,
				    in->busy_ratio > 1 ? 1 : in->busy_ratio);
	energy_dev = att_energy(a, d, in, now);
	if (nu > 0) {
		size_t nproc = 0;

		for (size_t i = 0; i < nu; i++) {
			sumw += unit[i]->w;
			nproc += unit[i]->has_proc;
		}
		/* Busy time goes to the jobs running something: by weight, or
		 * in equal shares among them where nothing tells them apart; a
		 * job that only holds the device gets none of it (it is idle
		 * but held). No process at all: the busy time is nobody's. */
		for (size_t i = 0; i < nu; i++)
			w[i] = sumw > 0 ? unit[i]->w : unit[i]->has_proc ? 1 : 0;
		att_apportion(nproc ? busy_dev : 0, w, nu, share);
		for (size_t i = 0; i < nu; i++) {
			unit[i]->d_busy = share[i];
			unit[i]->busy_ns += share[i];
			busy_sum += share[i];
		}
		for (size_t i = 0; i < nu; i++)
			w[i] = busy_sum > 0 ? (double)unit[i]->d_busy : 1;
		att_apportion(energy_dev, w, nu, share);
		for (size_t i = 0; i < nu; i++) {
			unit[i]->energy_mj += share[i];
			att_emit(a, d, unit[i]);
		}
	}
	d->prev_ns = now;
	d->have_prev = true;
	att_sweep_pids(a, now);
	return 0;
}
