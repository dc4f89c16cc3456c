/* accelmon: command line, configuration, signals and the agent's lifetime.
 * Loads the plugins the config names, starts the collectors (scheduler), the
 * aggregator and the exporters of the exporter table; SIGHUP reloads the
 * config (a bad one keeps the running one; new plugins may load), SIGTERM/
 * SIGINT stop everything with a bounded grace period. --once prints one
 * exposition.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <unistd.h>

#include "builtin.h"
#include "config.h"
#include "exporters/prometheus.h"
#include "hostport.h"
#include "log.h"
#include "plugins.h"
#include "privileges.h"
#include "scheduler.h"
#include "snapshot.h"

#define STOP_GRACE_S 2.0

struct opts {
	const char *config, *listen, *sysfs, *procfs, *log_level, *simulate, *user;
	const char *web_config;
	int once;
	uint64_t caps_kept; /* with --user: the capabilities kept at the switch */
	bool keep_raw;      /* CAP_NET_RAW needed after the capture handles opened */
	bool raw_dropped;   /* CAP_NET_RAW given up once they were */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: accelmon [--config FILE] [--listen HOST:PORT] [--sysfs DIR]\n"
		"                [--procfs DIR] [--once] [--log-level LEVEL] [--simulate N]\n"
		"                [--user NAME] [--print-config] [--web.config.file FILE]\n"
		"                [--version] [--help]\n"
		"\n"
		"  --config FILE      YAML configuration (default: the embedded one)\n"
		"  --listen HOST:PORT address of the /metrics endpoint (default 127.0.0.1:%d)\n"
		"  --sysfs DIR        root used in place of /sys (fixtures, containers)\n"
		"  --procfs DIR       root used in place of /proc\n"
		"  --once             one collection cycle, print the exposition, exit\n"
		"  --log-level LEVEL  error, warn, info (default) or debug\n"
		"  --simulate N       N simulated accelerators and ports (the sim collector's\n"
		"                     demo mix), instead of a --config file\n"
		"  --web.config.file FILE\n"
		"                     TLS and basic auth of the HTTP endpoint, in Prometheus\n"
		"                     exporter-toolkit's web config format (node_exporter's\n"
		"                     file works); re-read on SIGHUP and certificate change\n"
		"  --user NAME        run as user NAME once the config is read, keeping only\n"
		"                     the capabilities it needs (see agent/accelmon.service)\n"
		"  --print-config     print the embedded default configuration and exit\n"
		"  --version          print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n",
		ACCELMON_DEFAULT_PORT);
}

static int load_config(const struct opts *o, struct agent_config **out,
		       char *err, size_t errlen)
{
	struct cfg_schema sc = {
		.exporters = builtin_exporter_components(),
		.nexporters = builtin_nexporters,
		/* The plugins the text names are loaded before its collector
		 * sections are checked, so theirs are known then. */
		.load_plugins = plugins_config_hook,
	};
	char sim[128];
	int rc;

	sc.collectors = collectors_components(&sc.ncollectors);
	if (o->simulate) {
		/* A shortcut for a config file with this one section; devices
		 * is checked like a file's (1..1024), naming --simulate. */
		if (o->config) {
			snprintf(err, errlen, "--simulate and --config: put `sim: "
				 "{devices: N, demo: true}` in %s instead", o->config);
			return -EINVAL;
		}
		snprintf(sim, sizeof(sim), "collectors:\n  sim: {devices: %s, demo: true}\n",
			 o->simulate);
		rc = config_parse_schema(sim, strlen(sim), "--simulate", &sc, out, err, errlen);
	} else if (o->config) {
		log_warn_writable(o->config, "config file");
		rc = config_load_file_schema(o->config, &sc, out, err, errlen);
	} else
		rc = config_parse_schema(config_embedded_default,
					 strlen(config_embedded_default),
					 "<embedded default>", &sc, out, err, errlen);
	if (rc < 0)
		return rc;
	if (o->listen) {
		char *l = strdup(o->listen);

		if (!l) {
			config_free(*out);
			*out = NULL;
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		free((*out)->listen);
		(*out)->listen = l;
		(*out)->listen_line = 0;
	}
	if (o->log_level)
		(*out)->log_level = log_level_parse(o->log_level);
	return 0;
}

/* --user: before any thread starts (capabilities are per thread; threads
 * inherit them). Everything opened later (the listen socket, a capture
 * handle, record files) is opened as the user with the kept capabilities.
 * 0, or the exit status. */
static int drop_privileges(struct opts *o, const struct agent_config *cfg)
{
	char why[512], names[128], err[512], also[160] = "";
	uint64_t kept, need = priv_needed(cfg, why, sizeof(why)), keep = need;
	int rc;

	/* The capture handles are open (builtin_preopen): CAP_NET_RAW goes
	 * too, unless an RDMA window opens one each time. */
	if ((need & (1ull << CAP_NET_RAW)) && !o->keep_raw) {
		keep &= ~(1ull << CAP_NET_RAW);
		snprintf(why, sizeof(why), "%s",
			 priv_names(keep, names, sizeof(names)));
		snprintf(also, sizeof(also),
			 "; cap_net_raw dropped, the capture handles being open "
			 "(a new capture interface needs a restart)");
	}
	if (!o->user) {
		/* Not root and no --user: what it was given shrinks too. */
		char msg[512];

		rc = priv_reduce(keep, msg, sizeof(msg), err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "accelmon: %s\n", err);
			return 1;
		}
		if (rc > 0) {
			o->raw_dropped = keep != need;
			log_msg(LOGL_INFO, NULL, "%s (needed: %s)%s", msg,
				*why ? why : "none", also);
		}
		return 0;
	}
	if ((rc = priv_drop(o->user, keep, &kept, err, sizeof(err))) < 0) {
		fprintf(stderr, "accelmon: %s\n", err);
		return rc == -ENOENT ? 2 : 1;
	}
	o->caps_kept = kept;
	o->raw_dropped = keep != need;
	if (kept == keep)
		log_msg(LOGL_INFO, NULL, "running as user %s; capabilities kept: %s%s",
			o->user, *why ? why : priv_names(keep, names, sizeof(names)),
			also);
	else
		log_msg(LOGL_INFO, NULL,
			"running as user %s; capabilities kept: %s (needed: %s; not "
			"held when it started)%s",
			o->user, priv_names(kept, names, sizeof(names)), why, also);
	return 0;
}

/* A reload may name what the user no longer has: say so (the collector
 * also fails at its init, with its own error). */
static void warn_caps(const struct opts *o, const struct agent_config *cfg)
{
	char why[512], names[128];
	uint64_t need = o->user ? priv_needed(cfg, why, sizeof(why)) : 0;

	if (o->raw_dropped) /* builtin_preopen refused what needs it */
		need &= ~(1ull << CAP_NET_RAW);

	if (need & ~o->caps_kept)
		log_msg(LOGL_WARN, NULL,
			"the new configuration needs %s, which was dropped when the "
			"agent became %s (needed: %s); restart the agent to grant it",
			priv_names(need & ~o->caps_kept, names, sizeof(names)), o->user,
			why);
}

struct running_exporters {
	void *state[16];
	int started[16];
	int kept[16];    /* left running through the reload in progress */
	int prepared[16]; /* prepare() done for the start to come */
	int stale[16];    /* runs under an older config: its new one did not start */
};

/* The listen address resolves (an unknown host is a config error, exit 2
 * at startup, a refused reload), said where it was set. */
static int check_listen(const struct agent_config *cfg, const struct opts *o,
			char *err, size_t errlen)
{
	const char *why = hostport_resolve_problem(cfg->listen);

	if (!why)
		return 0;
	if (o->listen)
		snprintf(err, errlen, "--listen %s: %s", cfg->listen, why);
	else if (cfg->listen_line)
		snprintf(err, errlen, "%s:%lu: listen: %s: %s", cfg->source,
			 cfg->listen_line, cfg->listen, why);
	else
		snprintf(err, errlen, "listen %s: %s", cfg->listen, why);
	return -EINVAL;
}

static int exporters_start(const struct agent_config *cfg,
			   struct running_exporters *rx, char *failed, size_t flen)
{
	int err = 0;

	if (flen)
		failed[0] = '\0';
	for (size_t i = 0; i < builtin_nexporters && i < 16; i++) {
		const struct am_exporter *e = builtin_exporters[i];
		const struct cfg_section *sec = config_exporter(cfg, e->name);
		int rc;

		rx->prepared[i] = 0;
		if (rx->kept[i]) {
			rx->kept[i] = 0;
			if (e->reload) /* it logs its own failure and goes on */
				e->reload(rx->state[i]);
			continue;
		}
		if (!sec || !sec->enabled)
			continue;
		if (rx->started[i] && (e->flags & AM_EXPORTER_START_FIRST)) {
			/* the running one stops once its successor runs */
			void *next = NULL;

			rc = e->start(cfg, sec->opts, &next);
			if (rc == 0) {
				e->stop(rx->state[i]);
				rx->state[i] = next;
				rx->stale[i] = 0;
				continue;
			}
			rx->stale[i] = 1;
			log_msg(LOGL_ERROR, e->name,
				"cannot start under the new config: %s; the running one "
				"goes on under the previous config until the next reload",
				strerror(-rc));
			if (flen) {
				size_t l = strlen(failed);

				snprintf(failed + l, flen - l, "%s%s", l ? ", " : "", e->name);
			}
			if (!err)
				err = rc;
			continue;
		}
		rc = e->start(cfg, sec->opts, &rx->state[i]);
		if (rc < 0) {
			size_t l = flen ? strlen(failed) : 0;

			/* The others still start: one exporter's failure must not
			 * silently take the rest down. */
			log_msg(LOGL_ERROR, e->name, "cannot start: %s", strerror(-rc));
			if (flen)
				snprintf(failed + l, flen - l, "%s%s", l ? ", " : "",
					 e->name);
			if (!err)
				err = rc;
			continue;
		}
		rx->started[i] = 1;
	}
	return err;
}

/* Which running exporters go on unchanged under the new config (kept[]),
 * decided before anything is stopped. */
static void exporters_plan(struct running_exporters *rx,
			   const struct agent_config *old,
			   const struct agent_config *new)
{
	for (size_t i = 0; i < builtin_nexporters && i < 16; i++) {
		const struct am_exporter *e = builtin_exporters[i];
		const struct cfg_section *a = config_exporter(old, e->name);
		const struct cfg_section *b = config_exporter(new, e->name);

		rx->kept[i] = rx->started[i] && !rx->stale[i] && e->keep && a && b &&
			      b->enabled &&
			      e->keep(rx->state[i], old, a->opts, new, b->opts);
	}
}

static void exporters_unprepare(struct running_exporters *rx)
{
	for (size_t i = 0; i < builtin_nexporters && i < 16; i++) {
		if (rx->prepared[i] && builtin_exporters[i]->unprepare)
			builtin_exporters[i]->unprepare();
		rx->prepared[i] = 0;
	}
}

/* Acquire what the exporters to be started need (the new listen socket)
 * while the running ones still serve; on a failure release what was
 * acquired. 0, or a negative errno with the reason in err. */
static int exporters_prepare(const struct agent_config *cfg,
			     struct running_exporters *rx, char *err, size_t errlen)
{
	for (size_t i = 0; i < builtin_nexporters && i < 16; i++) {
		const struct am_exporter *e = builtin_exporters[i];
		const struct cfg_section *sec = config_exporter(cfg, e->name);
		char why[512];
		int rc;

		if (rx->kept[i] || !sec || !sec->enabled || !e->prepare)
			continue;
		if ((rc = e->prepare(cfg, sec->opts, why, sizeof(why))) < 0) {
			snprintf(err, errlen, "exporters.%s: %s", e->name, why);
			exporters_unprepare(rx);
			return rc;
		}
		rx->prepared[i] = 1;
	}
	return 0;
}

/* Stop the exporters; on reload (next: the new config) those exporters_plan
 * kept go on, and those to be replaced by a successor started first stay. */
static void exporters_stop(struct running_exporters *rx,
			   const struct agent_config *next)
{
	for (size_t i = 0; i < builtin_nexporters && i < 16; i++) {
		const struct am_exporter *e = builtin_exporters[i];
		const struct cfg_section *sec = next ? config_exporter(next, e->name) : NULL;

		if (!rx->started[i] || rx->kept[i])
			continue;
		/* to be replaced by a successor started first (exporters_start) */
		if ((e->flags & AM_EXPORTER_START_FIRST) && sec && sec->enabled)
			continue;
		e->stop(rx->state[i]);
		rx->stale[i] = 0;
		rx->started[i] = 0;
		rx->state[i] = NULL;
	}
}

/* SIGHUP: all or nothing. The new config is parsed and checked (every
 * section, FILE:LINE), its listen address resolved and what the exporters
 * to be restarted need opened, and only then is anything stopped: on any
 * failure up to there, the running config, port and exporters stay. */
static void reload(struct sched *s, struct agent_config **cfgp, const struct opts *o,
		   struct running_exporters *rx)
{
	struct agent_config *ncfg = NULL;
	char err[1024], failed[256];
	bool keep_raw, preopened = false;

	if (load_config(o, &ncfg, err, sizeof(err)) < 0 ||
	    check_listen(ncfg, o, err, sizeof(err)) < 0 ||
	    builtin_preopen(ncfg, o->sysfs ? o->sysfs : "/sys", o->raw_dropped,
			    &keep_raw, err, sizeof(err)) < 0 ||
	    (preopened = true, exporters_plan(rx, *cfgp, ncfg),
	     exporters_prepare(ncfg, rx, err, sizeof(err)) < 0)) {
		if (preopened) /* the handles opened for ncfg close */
			builtin_preopen_done(false);
		memset(rx->kept, 0, sizeof(rx->kept));
		log_msg(LOGL_ERROR, NULL,
			"reload failed, keeping the running config: nothing changed "
			"(config from %s, listen address %s, exporters as they were): %s",
			(*cfgp)->source, (*cfgp)->listen, err);
		config_free(ncfg);
		return;
	}
	builtin_preopen_done(true);
	log_set_level(ncfg->log_level);
	warn_caps(o, ncfg);
	/* Exporters first: they flush a snapshot that still holds the old
	 * collectors' series. The new ones start before the collectors are
	 * restarted (which may take the stop grace), so the endpoint is back
	 * at once; they serve the old collectors' series meanwhile. */
	exporters_stop(rx, ncfg);
	if (exporters_start(ncfg, rx, failed, sizeof(failed)) < 0)
		log_msg(LOGL_ERROR, NULL,
			"configuration reloaded from %s, but exporter(s) %s did not "
			"start (see above)",
			ncfg->source, failed);
	sched_stop_collectors(s, STOP_GRACE_S);
	sched_start_collectors(s, ncfg, 0);
	config_free(*cfgp);
	*cfgp = ncfg;
	if (!failed[0])
		log_msg(LOGL_INFO, NULL, "configuration reloaded from %s", ncfg->source);
}

static int run_once(struct sched *s, const struct agent_config *cfg)
{
	struct snapshot *snap;
	int rc = 0;

	if (sched_start_collectors(s, cfg, 1) < 0)
		return 1;
	sched_wait_once(s);
	sched_flush(s);
	snap = snapshot_acquire();
	if (!snap || fwrite(snap->text, 1, snap->text_len, stdout) != snap->text_len ||
	    fflush(stdout) != 0) {
		log_msg(LOGL_ERROR, NULL, "cannot write the exposition to stdout");
		rc = 1;
	}
	snapshot_release(snap);
	sched_stop_collectors(s, STOP_GRACE_S);
	return rc;
}

static int run_daemon(struct sched *s, struct agent_config **cfgp,
		      struct opts *o, const sigset_t *sigs)
{
	struct running_exporters rx;
	int rc = 0;

	memset(&rx, 0, sizeof(rx));
	if (sched_start_collectors(s, *cfgp, 0) < 0 || sched_start_aggregator(s) < 0) {
		log_msg(LOGL_ERROR, NULL, "cannot start threads");
		return 1;
	}
	if (exporters_start(*cfgp, &rx, NULL, 0) < 0) {
		rc = 1;
		goto out;
	}
	for (;;) {
		int sig;

		if (sigwait(sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(s, cfgp, o, &rx);
			continue;
		}
		log_msg(LOGL_INFO, NULL, "%s: shutting down",
			sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
out:
	sched_stop_collectors(s, STOP_GRACE_S); /* their series stay fresh... */
	sched_stop_aggregator(s); /* ...in the final snapshot it publishes */
	memset(rx.kept, 0, sizeof(rx.kept));
	exporters_stop(&rx, NULL); /* which the exporters flush */
	return rc;
}

/* A config error at startup; with --user it was found as that user. */
static void config_error(const struct opts *o, const char *err)
{
	if (o->user)
		fprintf(stderr, "accelmon: %s (checked as --user %s)\n", err, o->user);
	else
		fprintf(stderr, "accelmon: %s\n", err);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"sysfs", required_argument, NULL, 's'},
		{"procfs", required_argument, NULL, 'p'},
		{"once", no_argument, NULL, 'o'},
		{"log-level", required_argument, NULL, 'L'},
		{"simulate", required_argument, NULL, 'S'},
		{"user", required_argument, NULL, 'u'},
		{"print-config", no_argument, NULL, 'P'},
		{"web.config.file", required_argument, NULL, 'W'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o;
	struct agent_config *cfg = NULL;
	struct sched *s;
	sigset_t sigs;
	struct priv_saved saved = {0};
	char err[1024];
	int c, rc;

	/* Every thread would get its own malloc arena; ours allocate little
	 * after startup, so two arenas keep the resident size down. */
	mallopt(M_ARENA_MAX, 2);
	/* A SIGHUP during startup (`systemctl reload` right after `start`)
	 * must not end the agent: its default action is to terminate, and the
	 * config, plugins and probes take a while. Blocked now, a pending one
	 * is taken by the sigwait loop as a reload (or ignored by --once). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "c:l:s:p:oL:PVh", lopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config = optarg; break;
		case 'l': o.listen = optarg; break;
		case 's': o.sysfs = optarg; break;
		case 'p': o.procfs = optarg; break;
		case 'o': o.once = 1; break;
		case 'W': o.web_config = optarg; break;
		case 'u': o.user = optarg; break;
		case 'S':
			if (strspn(optarg, "0123456789") != strlen(optarg) || !*optarg ||
			    strlen(optarg) > 6) {
				fprintf(stderr, "accelmon: --simulate: '%s' is not a number of devices\n", optarg);
				return 2;
			}
			o.simulate = optarg;
			break;
		case 'L':
			if (log_level_parse(optarg) < 0) {
				fprintf(stderr, "accelmon: --log-level: unknown level '%s' (error, warn, info, debug)\n", optarg);
				return 2;
			}
			o.log_level = optarg;
			break;
		case 'P': fputs(config_embedded_default, stdout); return 0;
		case 'V': printf("accelmon %s (collector ABI %u)\n", PACKAGE_VERSION, ACCELMON_COLLECTOR_ABI_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "accelmon: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (o.sysfs && access(o.sysfs, R_OK | X_OK) != 0) {
		fprintf(stderr, "accelmon: --sysfs %s: %s\n", o.sysfs, strerror(errno));
		return 2;
	}
	if (o.procfs && access(o.procfs, R_OK | X_OK) != 0) {
		fprintf(stderr, "accelmon: --procfs %s: %s\n", o.procfs, strerror(errno));
		return 2;
	}
	/* --log-level holds while the config (and the plugins it names)
	 * loads too. */
	if (o.log_level)
		log_set_level(log_level_parse(o.log_level));
	/* With --user, the config (the files it names, the records folder) is
	 * read and checked as that user: what the agent could not use once it
	 * has switched is refused now, not at its first write. */
	if (o.user && (rc = priv_assume(o.user, &saved, err, sizeof(err))) < 0) {
		fprintf(stderr, "accelmon: %s\n", err);
		return rc == -ENOENT ? 2 : 1;
	}
	if (o.web_config) {
		/* Checked like the config (exit 2, FILE:LINE), and it wins over
		 * the config's web_config_file. */
		if (prom_web_config_check(o.web_config, err, sizeof(err)) < 0) {
			priv_resume(&saved);
			config_error(&o, err);
			return 2;
		}
		prom_set_web_config_file(o.web_config);
	}
	if (load_config(&o, &cfg, err, sizeof(err)) < 0 ||
	    (!o.once && check_listen(cfg, &o, err, sizeof(err)) < 0)) {
		priv_resume(&saved);
		config_free(cfg);
		config_error(&o, err);
		return 2;
	}
	priv_resume(&saved);
	log_set_level(cfg->log_level);
	/* What needs a capability to open is opened now, before the drop. */
	if (builtin_preopen(cfg, o.sysfs ? o.sysfs : "/sys", false, &o.keep_raw, err,
			    sizeof(err)) < 0)
		log_msg(LOGL_ERROR, NULL, "%s", err);
	else
		builtin_preopen_done(true);
	if ((o.user || geteuid() != 0) && (rc = drop_privileges(&o, cfg)) != 0) {
		config_free(cfg);
		return rc;
	}

	/* Signals go to main's sigwait only: block them before any thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	s = sched_new(o.sysfs, o.procfs);
	if (!s) {
		config_free(cfg);
		fprintf(stderr, "accelmon: out of memory\n");
		return 1;
	}
	if (o.once)
		rc = run_once(s, cfg);
	else
		rc = run_daemon(s, &cfg, &o, &sigs);
	snapshot_shutdown();
	sched_free(s);
	config_free(cfg);
	return rc;
}
