/* smi collector: running a vendor tool safely. fork + execve of an argv
 * list (never a shell), the child in its own process group with a minimal
 * environment and no descriptor of the agent; stdout capped, stderr kept
 * short; at the deadline the whole group is killed and the child reaped, so
 * a hung tool (or a child of it holding the pipe) leaves no zombie and no fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smi.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
/* How long output of a tool that has exited is still read (a background
 * child of it may hold the pipes open for good). */
#define SMI_EXIT_GRACE_NS (100 * NS_PER_MS)

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Child side, between fork and execve: async-signal-safe calls only. */
static void child_exec(const char *const *argv, char *const *envp, int devnull, int out_w,
		       int err_w)
{
	sigset_t all;
	struct sigaction dfl;

	setpgid(0, 0);
	/* The agent blocks its stop signals in every thread and ignores
	 * SIGPIPE; a tool must get the defaults back. */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < 32; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	if (dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		_exit(127);
		/* Nothing of the agent (sockets, sysfs files, the rings' eventfd)
		 * reaches the tool. */
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
		for (int fd = 3; fd < 65536; fd++)
			close(fd);
	execve(argv[0], (char *const *)argv, envp);
	_exit(127);
}

/* Keep what fits of one read into buf (cap bytes), drop the rest. */
static int drain(int fd, char *buf, size_t cap, size_t *len, bool *trunc)
{
	char scratch[8192];

	for (;;) {
		size_t room = cap - *len;
		char *dst = room ? buf + *len : scratch;
		size_t want = room ? room : sizeof(scratch);
		ssize_t r = read(fd, dst, want);

		if (r > 0) {
			if (room)
				*len += (size_t)r;
			else
				*trunc = true;
			continue;
		}
		if (r == 0)
			return 1; /* EOF */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return 1;
	}
}

/* Children killed but not dead yet (a tool in uninterruptible sleep in a
 * driver call on a card that fell off the bus dies only when that call
 * returns): reaped later, so no thread waits on them and none is left a
 * zombie for good. */
#define SMI_PENDING_MAX 64
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t pending[SMI_PENDING_MAX];

static void pending_reap(void)
{
	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < SMI_PENDING_MAX; i++)
		if (pending[i] > 0 && waitpid(pending[i], NULL, WNOHANG) != 0)
			pending[i] = 0; /* reaped, or not ours any more */
	pthread_mutex_unlock(&pending_lock);
}

static void pending_add(pid_t pid)
{
	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < SMI_PENDING_MAX; i++)
		if (pending[i] <= 0) {
			pending[i] = pid;
			break;
		}
	pthread_mutex_unlock(&pending_lock);
}

static bool leader_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       si.si_pid == pid;
}

/* A killed child that has not died within this is left to pending_reap. */
#define SMI_REAP_WAIT_NS (2 * NS_PER_S)

/* Wait for pid until deadline; kill the group at the deadline. Before
 * reaping the leader (a zombie still holds the group id, so it cannot be
 * reused meanwhile) the rest of its group goes too: a background child left
 * by the tool is never left running. */
static int reap(pid_t pid, int64_t deadline, bool *timed_out)
{
	int64_t give_up;
	int st = 0;
	pid_t r;

	while (!leader_exited(pid)) {
		if (mono_ns() >= deadline) {
			*timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		poll(NULL, 0, 5);
	}
	kill(-pid, SIGKILL);
	give_up = mono_ns() + SMI_REAP_WAIT_NS;
	while ((r = waitpid(pid, &st, WNOHANG)) == 0 || (r < 0 && errno == EINTR)) {
		if (mono_ns() >= give_up) {
			pending_add(pid);
			return 255;
		}
		poll(NULL, 0, 5);
	}
	if (r < 0)
		return 255;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

int smi_run(const char *const *argv, const struct smi_run_opts *o,
	    struct smi_run_result *res)
{
	char *envp[4];
	char path_env[PATH_MAX + 8];
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, devnull = -1;
	bool out_eof = false, err_eof = false, etrunc = false;
	int64_t deadline;
	pid_t pid;
	size_t cap = o->out_cap ? o->out_cap : SMI_OUT_CAP;
	int64_t exited_at = 0;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	pending_reap();
	res->out = malloc(cap + 1);
	if (!res->out)
		return -ENOMEM;
	snprintf(path_env, sizeof(path_env), "%s",
		 o->path_env ? o->path_env
			     : "PATH=/usr/local/sbin:/usr/local/bin:"
			       "/usr/sbin:/usr/bin:/sbin:/bin");
	envp[0] = path_env;
	envp[1] = "LANG=C";
	envp[2] = "LC_ALL=C";
	envp[3] = NULL;
	/* Only our ends are non-blocking: a tool writing to a non-blocking
	 * stdout would fail with EAGAIN whenever the pipe is full. */
	if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) ||
	    fcntl(outp[0], F_SETFL, O_NONBLOCK) || fcntl(errp[0], F_SETFL, O_NONBLOCK) ||
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	deadline = mono_ns() + (int64_t)(o->timeout_s * 1e9);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	if (pid == 0)
		child_exec(argv, envp, devnull, outp[1], errp[1]);
	setpgid(pid, pid); /* either side may win the race; both set it */
	res->pid = (int)pid;
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	while (!out_eof || !err_eof) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		int64_t now = mono_ns(), left = deadline - now;
		int pr;

		if (left <= 0) {
			/* the tool itself exited: a background child of it
			 * holding the pipes open is no reason to wait more */
			if (exited_at)
				break;
			res->timed_out = true;
			kill(-pid, SIGKILL);
			break;
		}
		/* Once the tool has exited, what it wrote is read for a short
		 * grace and the run ends (reap kills what it left behind). */
		if (!exited_at && leader_exited(pid)) {
			exited_at = now;
			if (deadline > now + SMI_EXIT_GRACE_NS)
				deadline = now + SMI_EXIT_GRACE_NS;
			left = deadline - now;
		}
		if (left > 50 * NS_PER_MS)
			left = 50 * NS_PER_MS; /* look at the leader again soon */
		if (!out_eof)
			pfd[n++] = (struct pollfd){.fd = outp[0], .events = POLLIN};
		if (!err_eof)
			pfd[n++] = (struct pollfd){.fd = errp[0], .events = POLLIN};
		pr = poll(pfd, n, (int)(left / 1000000 + 1));
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		for (nfds_t i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == outp[0])
				out_eof = drain(outp[0], res->out, cap, &res->len,
						&res->truncated);
			else
				err_eof = drain(errp[0], res->err, sizeof(res->err) - 1,
						&res->errlen, &etrunc);
		}
	}
	res->status = reap(pid, res->timed_out ? 0 : deadline, &res->timed_out);
out:
	res->out[res->len] = '\0';
	res->err[res->errlen] = '\0';
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (devnull >= 0)
		close(devnull);
	if (rc)
		smi_run_result_free(res);
	return rc;
}

void smi_run_result_free(struct smi_run_result *res)
{
	free(res->out);
	res->out = NULL;
	res->len = 0;
}

static int try_dir(const char *dir, const char *cmd, char *out, size_t outlen)
{
	struct stat st;
	int n = snprintf(out, outlen, "%s/%s", dir, cmd);

	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
		return 0;
	return -ENOENT;
}

static int try_list(const char *const *dirs, const char *cmd, char *out, size_t outlen)
{
	for (size_t i = 0; dirs && dirs[i]; i++)
		if (dirs[i][0] && try_dir(dirs[i], cmd, out, outlen) == 0)
			return 0;
	return -ENOENT;
}

int smi_find_command(const char *cmd, const char *const *dirs1, const char *const *dirs2,
		     char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX];

	if (strchr(cmd, '/')) {
		if (access(cmd, X_OK) != 0)
			return -ENOENT;
		snprintf(out, outlen, "%s", cmd);
		return 0;
	}
	if (try_list(dirs1, cmd, out, outlen) == 0 ||
	    try_list(dirs2, cmd, out, outlen) == 0)
		return 0;
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (n && n < sizeof(dir)) {
			memcpy(dir, path, n);
			dir[n] = '\0';
			if (try_dir(dir, cmd, out, outlen) == 0)
				return 0;
		}
		path += n + (path[n] == ':');
	}
	return -ENOENT;
}
