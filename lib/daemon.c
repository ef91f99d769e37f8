/* daemon: options, configuration, signals and detaching for the daemons. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"

volatile sig_atomic_t daemon_stop;
reload_fn daemon_setup_check;
static volatile sig_atomic_t daemon_hup, daemon_usr1;

static const char *daemon_conf;	 /* -f FILE, absolute: read again at a reload */
static char daemon_conf_abs[PATH_MAX];
static const char *daemon_pidfile;
static unsigned daemon_conf_for; /* the program's CONF_FOR_* bit */

/* SIGTERM, SIGINT: finish the batch in flight, then exit. */
static void on_term(int sig)
{
	(void)sig;
	daemon_stop = 1;
}

/* SIGHUP: reload. */
static void on_hup(int sig)
{
	(void)sig;
	daemon_hup = 1;
}

/* SIGUSR1: reopen the log file. */
static void on_usr1(int sig)
{
	(void)sig;
	daemon_usr1 = 1;
}

/* --help */
static void usage(const char *name, const char *summary, unsigned conf_for, FILE *out)
{
	fprintf(out,
		"usage: %s [-d] [-f FILE] [--log-file FILE] [--pid-file FILE] [-t]\n"
		"  %s\n"
		"  -f FILE          configuration file (default $MAGENTA_CONFIG, then\n"
		"                   " MAGENTA_SYSCONFDIR "/magenta/magenta.conf if present)\n"
		"  -d               stay in the foreground, log to standard error\n"
		"  --log-file FILE  log to FILE (appended; reopened on SIGUSR1): the key\n"
		"                   log_file, above the file and the environment; needed\n"
		"                   without -d, since a detached daemon has no terminal\n"
		"  --pid-file FILE  write the process id to FILE\n"
		"  -t               check the configuration and exit\n"
		"  --sample-config  print a commented configuration file\n"
		"  -h, --help       this text\n"
		"  --version        the version\n"
		"signals: TERM/INT finish the batch in flight and exit 0; HUP reads the\n"
		"  configuration file again and loads the event keys again (a broken file\n"
		"  changes nothing: event=reload_failed); USR1 reopens the log file.\n\n",
		name, summary);
	conf_print_help(out, conf_for);
}

/* Fork twice and leave the session, standard input and output on /dev/null. */
static int detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

/* Options, configuration, logging, signals, detaching. */
int daemon_setup(const char *name, const char *service, unsigned conf_for, const char *summary,
		 int argc, char **argv)
{
	enum { OPT_LOG_FILE = 256, OPT_PID_FILE, OPT_VERSION, OPT_SAMPLE };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "sample-config", no_argument, NULL, OPT_SAMPLE },
		{ "log-file", required_argument, NULL, OPT_LOG_FILE },
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ NULL, 0, NULL, 0 }
	};
	int foreground = 0, check_only = 0, c;
	char err[512], q[600], cwd[PATH_MAX], logabs[PATH_MAX + 256];
	struct sigaction sa;

	while ((c = getopt_long(argc, argv, "f:dth", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': daemon_conf = optarg; break;
		case 'd': foreground = 1; break;
		/* the environment wins over the file, at start and at a reload */
		case OPT_LOG_FILE:
			if (optarg[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
			    snprintf(logabs, sizeof(logabs), "%s/%s", cwd, optarg) <
				    (int)sizeof(logabs))
				optarg = logabs; /* reopened after detaching, away from here */
			setenv("MAGENTA_LOG_FILE", optarg, 1);
			break;
		case OPT_PID_FILE: daemon_pidfile = optarg; break;
		case 't': check_only = 1; break;
		case 'h': usage(name, summary, conf_for, stdout); return 0;
		case OPT_VERSION: printf("%s (%s)\n", name, PACKAGE_STRING); return 0;
		case OPT_SAMPLE: conf_defaults(); conf_print_sample(stdout, conf_for); return 0;
		default: usage(name, summary, conf_for, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[optind]);
		return 2;
	}
	/* detaching leaves the working directory: a reload must still find it */
	if (daemon_conf && *daemon_conf && daemon_conf[0] != '/' &&
	    realpath(daemon_conf, daemon_conf_abs))
		daemon_conf = daemon_conf_abs;
	log_init(service, LOG_LVL_INFO);
	daemon_conf_for = conf_for;
	if (reload_conf(daemon_conf, conf_for, err, sizeof(err)) != 0 ||
	    (daemon_setup_check && daemon_setup_check(err, sizeof(err)) != 0)) {
		log_error("event=config_error err=%s", log_q(q, sizeof(q), err));
		return 1;
	}
	if (check_only) {
		printf("configuration ok%s%s\n", *conf_path() ? ": " : "", conf_path());
		return 0;
	}
	if (!foreground && !*log_path()) {
		fprintf(stderr, "%s: give --log-file FILE (or log_file), or -d to stay in the "
				"foreground\n",
			name);
		return 2;
	}
	if (!foreground && detach() != 0) {
		log_warn("event=detach_failed");
		return 1;
	}
	if (daemon_pidfile) {
		FILE *f = fopen(daemon_pidfile, "w");
		if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
			log_warn("event=pidfile_failed path=%s", log_q(q, sizeof(q), daemon_pidfile));
			return 1;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term; /* no SA_RESTART: waits return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return -1;
}

/* Reopen the log after SIGUSR1; reload after SIGHUP. */
int daemon_signals(reload_fn check)
{
	char err[512], q[600];

	if (daemon_usr1) {
		daemon_usr1 = 0;
		if (log_reopen() != 0)
			log_warn("event=log_reopen_failed");
		else if (*log_path())
			log_info("event=log_reopened");
	}
	if (!daemon_hup)
		return 0;
	daemon_hup = 0;
	if (reload_try(daemon_conf, daemon_conf_for, check, err, sizeof(err)) != 0) {
		log_error("event=reload_failed reason=%s", log_q(q, sizeof(q), err));
		return -1;
	}
	if (reload_conf(daemon_conf, daemon_conf_for, err, sizeof(err)) != 0) {
		log_error("event=reload_failed stage=apply reason=%s", log_q(q, sizeof(q), err));
		return -1;
	}
	log_info("event=reload config=\"%s\"", conf_path());
	return 1;
}

/* Remove the pid file. */
void daemon_cleanup(void)
{
	if (daemon_pidfile)
		unlink(daemon_pidfile);
}
