/* service: FastCGI program skeleton. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "conf.h"
#include "log.h"
#include "service.h"

static volatile sig_atomic_t service_stop;

/* Only set flags: FCGX_ShutdownPending() just sets libfcgi's own, which
 * makes its accept() give up on EINTR instead of retrying. */
static void on_term(int sig)
{
	(void)sig;
	service_stop = 1;
	FCGX_ShutdownPending();
}

/* Serve requests on sock until told to stop; returns the count served. */
static unsigned long serve(const struct service *svc, int sock)
{
	struct http_req req;
	unsigned long served = 0;

	if (FCGX_InitRequest(&req.fcgx, sock, 0) != 0)
		fatal("event=fcgi_init_failed");
	while (!service_stop && FCGX_Accept_r(&req.fcgx) >= 0) {
		http_req_begin(&req);
		http_dispatch(&req, svc->routes, svc->nroutes);
		http_req_end(&req);
		FCGX_Finish_r(&req.fcgx);
		served++;
	}
	return served;
}

/* Fork one worker with the signal mask mask; its pid, or -1.  A worker
 * outlives a supervisor killed outright (SIGKILL) and serves on: lighttpd
 * 1.4, finding the socket still accepting, uses those workers as they are,
 * while a socket that refuses after its program died can leave its backend
 * marked down for good (docs/deployment.md, "argon2id: one per CPU at once"). */
static pid_t spawn_worker(const struct service *svc, int sock, const sigset_t *mask)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t stop;

		sigemptyset(&stop);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGINT);
		sigprocmask(SIG_SETMASK, mask, NULL);
		sigprocmask(SIG_UNBLOCK, &stop, NULL); /* a worker must be stoppable */
		unsigned long served = serve(svc, sock);
		log_info("event=worker_stop pid=%ld served=%lu", (long)getpid(), served);
		_exit(0);
	}
	if (pid < 0)
		log_warn("event=fork_failed");
	return pid;
}

/* Seconds on the monotonic clock. */
static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keep procs workers alive on sock until SIGTERM or SIGINT, then stop them
 * all and return when the last has exited.  A worker that dies is replaced,
 * but not within a second of the last replacement: one that dies at once
 * must not make us spin.  The supervisor keeps SIGTERM, SIGINT and SIGCHLD
 * blocked and takes them with sigtimedwait, so none falls between a check
 * and a wait: a stop that comes while a replacement is held back stops
 * everything at once. */
static void supervise(const struct service *svc, int sock, int procs)
{
	pid_t workers[256];
	double due[256], last_respawn = -2;
	sigset_t set, orig;
	struct sigaction dfl;
	int alive = 0, stopping;

	/* started with SIGCHLD ignored, the kernel would reap the workers
	 * itself and never tell us */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &orig);
	stopping = service_stop; /* stopped before we got here */
	for (int i = 0; i < procs; i++) {
		workers[i] = stopping ? 0 : spawn_worker(svc, sock, &orig);
		if (workers[i] > 0)
			alive++;
		else
			workers[i] = 0;
		due[i] = mono_now() + 1; /* a failed fork: again in a second */
	}
	for (;;) {
		double now = mono_now(), next = -1;
		struct timespec ts;
		int st, sig;
		pid_t pid;

		while ((pid = waitpid(-1, &st, WNOHANG)) != 0) {
			if (pid < 0) {
				if (errno == EINTR)
					continue;
				/* ECHILD: none left, whatever we thought */
				for (int i = 0; i < procs; i++)
					if (workers[i] > 0) {
						workers[i] = 0;
						due[i] = now;
					}
				alive = 0;
				break;
			}
			for (int i = 0; i < procs; i++) {
				if (workers[i] != pid)
					continue;
				workers[i] = 0;
				alive--;
				if (stopping)
					break;
				log_error("event=worker_died pid=%ld status=%d", (long)pid, st);
				due[i] = now;
			}
		}
		if (stopping && alive == 0)
			break;
		for (int i = 0; i < procs && !stopping; i++) {
			double at = due[i] > last_respawn + 1 ? due[i] : last_respawn + 1;

			if (workers[i] > 0)
				continue;
			if (at > now) {
				if (next < 0 || at < next)
					next = at;
				continue;
			}
			last_respawn = now;
			if ((workers[i] = spawn_worker(svc, sock, &orig)) > 0) {
				alive++;
			} else {
				workers[i] = 0;
				due[i] = now + 1;
				if (next < 0 || due[i] < next)
					next = due[i];
			}
		}
		if (next < 0) {
			sig = sigwaitinfo(&set, NULL);
		} else {
			double wait = next - now;

			ts.tv_sec = (time_t)wait;
			ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
			sig = sigtimedwait(&set, NULL, &ts);
		}
		if (sig == SIGTERM || sig == SIGINT) {
			/* each stop is passed on: a worker may have missed one */
			stopping = 1;
			for (int i = 0; i < procs; i++)
				if (workers[i] > 0)
					kill(workers[i], SIGTERM);
		}
	}
	sigprocmask(SIG_SETMASK, &orig, NULL);
}

/* Usage text with the configuration keys. */
static void usage(const struct service *svc, FILE *out)
{
	fprintf(out,
		"usage: magenta-%s [-f FILE] [-l ADDR] [-p N] [-t]\n"
		"  FastCGI program, normally started by lighttpd, Apache or spawn-fcgi\n"
		"  (the listening socket is then its standard input).\n"
		"  -f FILE          configuration file (default $MAGENTA_CONFIG, then\n"
		"                   " MAGENTA_SYSCONFDIR "/magenta/magenta.conf if present)\n"
		"  -l ADDR          listen on ADDR (host:port or a socket path) itself\n"
		"  -p N             run N worker processes on the socket (default 1)\n"
		"  -t               check the configuration and exit\n"
		"  --sample-config  print a commented configuration file\n"
		"  -h, --help       this text\n\n",
		svc->name);
	conf_print_help(out, svc->conf_for);
}

/* 1 when fd 0 is a listening socket handed over by a FastCGI spawner. */
static int stdin_is_socket(void)
{
	int type;
	socklen_t len = sizeof(type);
	return getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

/* Options, configuration, accept loop. */
int service_main(const struct service *svc, int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { "sample-config", no_argument, NULL, 'S' },
						  { NULL, 0, NULL, 0 } };
	const char *file = NULL, *listen_addr = NULL;
	int check_only = 0, c, sock = 0, procs = 1;
	char err[512];
	enum log_level lvl;
	struct sigaction sa;

	while ((c = getopt_long(argc, argv, "f:l:p:th", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 'p':
			procs = atoi(optarg);
			if (procs < 1 || procs > 256) {
				fprintf(stderr, "magenta-%s: -p wants 1..256\n", svc->name);
				return 2;
			}
			break;
		case 't': check_only = 1; break;
		case 'h': usage(svc, stdout); return 0;
		case 'S': conf_defaults(); conf_print_sample(stdout, svc->conf_for); return 0;
		default: usage(svc, stderr); return 2;
		}
	}
	log_init(svc->name, LOG_LVL_INFO);
	if (conf_load(file, svc->conf_for, err, sizeof(err)) != 0)
		fatal("event=config_error err=\"%s\"", err);
	if (log_level_parse(conf_str(CONF_LOG_LEVEL), &lvl) == 0)
		log_init(svc->name, lvl);
	if (svc->init && svc->init(err, sizeof(err)) != 0)
		fatal("event=init_error err=\"%s\"", err);
	if (check_only) {
		printf("configuration ok%s%s\n", *conf_path() ? ": " : "", conf_path());
		return 0;
	}
	if (!listen_addr && *conf_str(CONF_FCGI_LISTEN))
		listen_addr = conf_str(CONF_FCGI_LISTEN);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: accept() must return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (FCGX_Init() != 0)
		fatal("event=fcgi_init_failed");
	if (listen_addr) {
		sock = FCGX_OpenSocket(listen_addr, 1024);
		if (sock < 0)
			fatal("event=listen_failed addr=\"%s\"", listen_addr);
	} else if (!stdin_is_socket()) {
		fatal("event=no_socket msg=\"not started by a FastCGI server: use -l ADDR\"");
	}
	if (procs > 1) {
		log_info("event=start pid=%ld procs=%d config=\"%s\"", (long)getpid(), procs,
			 conf_path());
		supervise(svc, sock, procs);
		log_info("event=stop pid=%ld", (long)getpid());
	} else {
		unsigned long served;

		log_info("event=start pid=%ld procs=1 config=\"%s\"", (long)getpid(), conf_path());
		served = serve(svc, sock);
		log_info("event=stop pid=%ld served=%lu", (long)getpid(), served);
	}
	return 0;
}
