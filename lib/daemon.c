/* daemon: options, configuration, signals and detaching for the daemons. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
volatile sig_atomic_t daemon_hup;

static const char *daemon_logfile;
static const char *daemon_pidfile;

/* SIGTERM, SIGINT: finish the batch in flight, then exit. */
static void on_term(int sig)
{
	(void)sig;
	daemon_stop = 1;
}

/* SIGHUP: reopen the log file. */
static void on_hup(int sig)
{
	(void)sig;
	daemon_hup = 1;
}

/* --help */
static void usage(const char *name, const char *summary, unsigned conf_for, FILE *out)
{
	fprintf(out,
		"usage: %s [-d] [-f FILE] [-l LOGFILE] [-p PIDFILE] [-t]\n"
		"  %s\n"
		"  -f FILE          configuration file (default $MAGENTA_CONFIG, then\n"
		"                   " MAGENTA_SYSCONFDIR "/magenta/magenta.conf if present)\n"
		"  -d               stay in the foreground, log to standard error\n"
		"  -l LOGFILE       log to LOGFILE (appended; reopened on SIGHUP); needed\n"
		"                   without -d, since a detached daemon has no terminal\n"
		"  -p PIDFILE       write the process id to PIDFILE\n"
		"  -t               check the configuration and exit\n"
		"  --sample-config  print a commented configuration file\n"
		"  -h, --help       this text\n"
		"signals: TERM/INT finish the batch in flight and exit 0; HUP reopens the log.\n\n",
		name, summary);
	conf_print_help(out, conf_for);
}

/* Point stderr at the log file (append). 0 / -1. */
static int open_log(void)
{
	int fd = open(daemon_logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	if (fd < 0)
		return -1;
	if (dup2(fd, STDERR_FILENO) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
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
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { "sample-config", no_argument, NULL, 'S' },
						  { NULL, 0, NULL, 0 } };
	const char *file = NULL;
	int foreground = 0, check_only = 0, c;
	char err[512];
	enum log_level lvl;
	struct sigaction sa;

	while ((c = getopt_long(argc, argv, "f:dl:p:th", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'd': foreground = 1; break;
		case 'l': daemon_logfile = optarg; break;
		case 'p': daemon_pidfile = optarg; break;
		case 't': check_only = 1; break;
		case 'h': usage(name, summary, conf_for, stdout); return 0;
		case 'S': conf_defaults(); conf_print_sample(stdout, conf_for); return 0;
		default: usage(name, summary, conf_for, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[optind]);
		return 2;
	}
	log_init(service, LOG_LVL_INFO);
	if (conf_load(file, conf_for, err, sizeof(err)) != 0) {
		char q[600];
		log_error("event=config_error err=%s", log_q(q, sizeof(q), err));
		return 1;
	}
	if (log_level_parse(conf_str(CONF_LOG_LEVEL), &lvl) == 0)
		log_init(service, lvl);
	if (check_only) {
		printf("configuration ok%s%s\n", *conf_path() ? ": " : "", conf_path());
		return 0;
	}
	if (!foreground && !daemon_logfile) {
		fprintf(stderr, "%s: give -l LOGFILE, or -d to stay in the foreground\n", name);
		return 2;
	}
	if (daemon_logfile && open_log() != 0) {
		fprintf(stderr, "%s: cannot open '%s': %s\n", name, daemon_logfile,
			strerror(errno));
		return 1;
	}
	if (!foreground && detach() != 0) {
		log_warn("event=detach_failed");
		return 1;
	}
	if (daemon_pidfile) {
		FILE *f = fopen(daemon_pidfile, "w");
		if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
			log_warn("event=pidfile_failed path=\"%s\"", daemon_pidfile);
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
	signal(SIGPIPE, SIG_IGN);
	return -1;
}

/* Reopen the log after SIGHUP. */
void daemon_check_hup(void)
{
	if (!daemon_hup)
		return;
	daemon_hup = 0;
	if (!daemon_logfile)
		return;
	if (open_log() != 0)
		log_warn("event=log_reopen_failed path=\"%s\"", daemon_logfile);
	else
		log_info("event=log_reopened");
}

/* Remove the pid file. */
void daemon_cleanup(void)
{
	if (daemon_pidfile)
		unlink(daemon_pidfile);
}
