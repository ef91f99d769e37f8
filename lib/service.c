/* service: FastCGI program skeleton and worker supervisor. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "service.h"

#define MAX_PROCS 256
#define NEVER 1e300

static volatile sig_atomic_t sig_stop, sig_hup, sig_usr1;
static const char *conf_arg; /* -f FILE as given: what a reload reads */
static sigset_t orig_mask;   /* the signal mask the program started with */

/* The handlers only set flags.  Workers (and a single process) take their
 * signals only while they wait for a connection (epoll_pwait), never inside a
 * request nor inside libfcgi. */
static void on_stop(int sig)
{
	(void)sig;
	sig_stop = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	sig_hup = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	sig_usr1 = 1;
}

/* The signals a request is never interrupted by: they wait for its end. */
static void request_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

/* Open log_file again (SIGUSR1). */
static void reopen_log(void)
{
	if (log_reopen() != 0)
		log_warn("event=log_reopen_failed");
	else if (*log_path())
		log_info("event=log_reopened pid=%ld", (long)getpid());
}

/* Try the configuration in a child, then take it here: 0; -1 when the
 * check failed (nothing changed); -2 when taking it failed after a good
 * check (the files changed in between): init's state is then gone. */
static int reload(const struct service *svc)
{
	char err[512], q[600];

	if (reload_try(conf_arg, svc->conf_for, svc->init, err, sizeof(err)) != 0) {
		log_error("event=reload_failed pid=%ld reason=%s", (long)getpid(),
			  log_q(q, sizeof(q), err));
		return -1;
	}
	if (svc->release)
		svc->release();
	if (reload_conf(conf_arg, svc->conf_for, err, sizeof(err)) != 0 ||
	    (svc->init && svc->init(err, sizeof(err)) != 0)) {
		log_error("event=reload_failed pid=%ld stage=apply reason=%s", (long)getpid(),
			  log_q(q, sizeof(q), err));
		return -2;
	}
	log_info("event=reload pid=%ld config=\"%s\"", (long)getpid(), conf_path());
	return 0;
}

/* Serve requests on sock until told to stop; returns the count served.
 * The signals of request_signals stay blocked but while waiting
 * for a connection (epoll_pwait): a stop, a reload or a log reopen waits
 * for the request in hand and never cuts a system call short, and one that
 * comes between two requests ends the wait at once (none can fall between
 * a look at the flags and the wait).  The socket is non-blocking, so a
 * worker that another one beat to a connection goes back to waiting
 * instead of sleeping in accept() (where a stop would not reach it);
 * EPOLLEXCLUSIVE wakes one idle worker per connection, not all of them.
 * single: no supervisor, so SIGHUP reloads this process. */
static unsigned long serve(const struct service *svc, int sock, int single)
{
	struct http_req req;
	unsigned long served = 0;
	sigset_t sigs, idle, busy;
	int fl = fcntl(sock, F_GETFL), ep;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = sock }, got;

	request_signals(&sigs);
	idle = orig_mask;
	busy = orig_mask;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&sigs, s) == 1) {
			sigdelset(&idle, s);
			sigaddset(&busy, s);
		}
	sigprocmask(SIG_SETMASK, &busy, NULL);
	/* accepted connections do not inherit it (Linux) */
	if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) != 0)
		fatal("event=socket_nonblock_failed err=%d", errno);
	ep = epoll_create1(EPOLL_CLOEXEC); /* this process's own */
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) != 0)
		fatal("event=epoll_failed err=%d", errno);
	if (FCGX_InitRequest(&req.fcgx, sock, 0) != 0)
		fatal("event=fcgi_init_failed");
	for (;;) {
		int rc;

		if (sig_usr1) {
			sig_usr1 = 0;
			reopen_log();
		}
		if (sig_hup) {
			sig_hup = 0;
			if (single && reload(svc) == -2)
				fatal("event=stop msg=\"reload left no usable state\"");
		}
		if (sig_stop)
			break;
		if (epoll_pwait(ep, &got, 1, -1, &idle) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("event=poll_failed");
			break;
		}
		rc = FCGX_Accept_r(&req.fcgx);
		if (rc == -EAGAIN || rc == -EWOULDBLOCK)
			continue; /* another worker took it */
		if (rc < 0) {
			log_error("event=accept_failed err=%d", -rc);
			break;
		}
		{
			double t0 = clock_mono();
			int route;

			http_req_begin(&req);
			route = http_dispatch(&req, svc->routes, svc->nroutes);
			/* before http_req_end, which wipes the method's text */
			metrics_request(route, req.method, req.status, clock_mono() - t0);
			http_req_end(&req);
		}
		FCGX_Finish_r(&req.fcgx);
		served++;
	}
	close(ep);
	return served;
}

/* Fork one worker; its pid, or -1.  A worker outlives a supervisor killed
 * outright (SIGKILL) and serves on: lighttpd 1.4, finding the socket still
 * accepting, uses those workers as they are, while a socket that refuses
 * after its program died can leave its backend marked down for good
 * (docs/deployment.md, "argon2id: one per CPU at once"). */
static pid_t spawn_worker(const struct service *svc, int sock)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		unsigned long served;

		signal(SIGHUP, SIG_IGN); /* the supervisor reloads, then replaces us */
		sig_hup = sig_usr1 = 0;
		served = serve(svc, sock, 0);
		log_info("event=worker_stop pid=%ld served=%lu", (long)getpid(), served);
		_exit(0);
	}
	if (pid < 0)
		log_warn("event=fork_failed");
	return pid;
}

/* The supervisor's workers: one per slot, and those being replaced. */
struct workers {
	int procs;
	pid_t pid[MAX_PROCS];	   /* 0: none */
	double due[MAX_PROCS];	   /* when to start a missing one */
	pid_t old[MAX_PROCS];	   /* replaced or stopped, not yet gone; 0: free */
	double kill_at[MAX_PROCS]; /* when an old one gets SIGKILL */
	int next_replace;	   /* reload: the next slot to replace; procs: none */
	double last_spawn;
};

/* Send slot i's worker a stop and move it to the old ones, which get
 * fcgi_stop_grace seconds (without room among them: SIGKILL at once). */
static void retire(struct workers *w, int i, double now)
{
	pid_t pid = w->pid[i];

	w->pid[i] = 0;
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int j = 0; j < MAX_PROCS; j++)
		if (w->old[j] == 0) {
			w->old[j] = pid;
			w->kill_at[j] = now + (double)conf_int(CONF_FCGI_STOP_GRACE);
			return;
		}
	kill(pid, SIGKILL);
}

/* Forget a reaped child; 1 when it was a slot's worker (it died). */
static int reaped(struct workers *w, pid_t pid, double now)
{
	for (int i = 0; i < w->procs; i++)
		if (w->pid[i] == pid) {
			w->pid[i] = 0;
			w->due[i] = now;
			return 1;
		}
	for (int j = 0; j < MAX_PROCS; j++)
		if (w->old[j] == pid)
			w->old[j] = 0;
	return 0;
}

/* Workers in slots, and old ones still running. */
static int count(const struct workers *w, int *old)
{
	int n = 0;

	*old = 0;
	for (int i = 0; i < w->procs; i++)
		n += w->pid[i] > 0;
	for (int j = 0; j < MAX_PROCS; j++)
		*old += w->old[j] > 0;
	return n;
}

/* Send sig to every worker, old ones included. */
static void signal_all(const struct workers *w, int sig)
{
	for (int i = 0; i < w->procs; i++)
		if (w->pid[i] > 0)
			kill(w->pid[i], sig);
	for (int j = 0; j < MAX_PROCS; j++)
		if (w->old[j] > 0)
			kill(w->old[j], sig);
}

/* Keep procs workers on sock until SIGTERM or SIGINT, then stop them and
 * return when the last has exited.  A worker that dies is replaced, but
 * not within a second of the last start: one that dies at once must not
 * make us spin.  The supervisor keeps its signals blocked and takes them
 * with sigtimedwait, so none falls between a check and a wait.  Old
 * workers (stopped, or replaced at a reload) that outlast
 * fcgi_stop_grace get SIGKILL. */
static void supervise(const struct service *svc, int sock, int procs)
{
	static struct workers w;
	sigset_t set;
	struct sigaction dfl;
	int stopping = 0, broken = 0;

	/* started with SIGCHLD ignored, the kernel would reap the workers
	 * itself and never tell us */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, NULL);
	request_signals(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	memset(&w, 0, sizeof(w));
	w.procs = procs;
	w.next_replace = procs;
	stopping = sig_stop; /* stopped before we got here */
	for (int i = 0; i < procs && !stopping; i++) {
		if ((w.pid[i] = spawn_worker(svc, sock)) <= 0)
			w.pid[i] = 0;
		w.due[i] = clock_mono() + 1; /* a failed fork: again in a second */
	}
	w.last_spawn = -2; /* the first replacement may come at once */
	for (;;) {
		double now = clock_mono(), next = NEVER;
		struct timespec ts;
		int st, sig, alive, old;
		pid_t pid;

		while ((pid = waitpid(-1, &st, WNOHANG)) != 0) {
			if (pid < 0) {
				if (errno == EINTR)
					continue;
				/* ECHILD: none left, whatever we thought */
				memset(w.pid, 0, sizeof(w.pid));
				memset(w.old, 0, sizeof(w.old));
				break;
			}
			if (reaped(&w, pid, now) && !stopping)
				log_error("event=worker_died pid=%ld status=%d", (long)pid, st);
		}
		alive = count(&w, &old);
		metrics_workers(alive);
		if (stopping && alive == 0 && old == 0)
			break;
		/* the grace is over: SIGKILL */
		for (int j = 0; j < MAX_PROCS; j++) {
			if (w.old[j] <= 0)
				continue;
			if (w.kill_at[j] <= now) {
				log_warnx("event=worker_killed pid=%ld grace=%ld", (long)w.old[j],
					  conf_int(CONF_FCGI_STOP_GRACE));
				kill(w.old[j], SIGKILL);
				w.kill_at[j] = NEVER;
			} else if (w.kill_at[j] < next) {
				next = w.kill_at[j];
			}
		}
		/* a reload: the next slot gets a new worker once the last
		 * replaced one is gone, so the socket always has workers */
		if (!stopping && !broken && old == 0 && w.next_replace < procs) {
			int i = w.next_replace++;
			pid_t was = w.pid[i];

			if ((pid = spawn_worker(svc, sock)) > 0) {
				retire(&w, i, now);
				w.pid[i] = pid;
				log_info("event=worker_replaced slot=%d old=%ld new=%ld", i, (long)was,
					 (long)pid);
				continue; /* look again: the next one may go at once */
			}
		}
		for (int i = 0; i < procs && !stopping && !broken; i++) {
			double at = w.due[i] > w.last_spawn + 1 ? w.due[i] : w.last_spawn + 1;

			if (w.pid[i] > 0)
				continue;
			if (at > now) {
				if (at < next)
					next = at;
				continue;
			}
			w.last_spawn = now;
			if ((w.pid[i] = spawn_worker(svc, sock)) <= 0) {
				w.pid[i] = 0;
				w.due[i] = now + 1; /* a failed fork: again in a second */
				if (w.due[i] < next)
					next = w.due[i];
			}
		}
		if (next >= NEVER) {
			sig = sigwaitinfo(&set, NULL);
		} else {
			double wait = next - now;

			if (wait < 0)
				wait = 0;
			ts.tv_sec = (time_t)wait;
			ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
			sig = sigtimedwait(&set, NULL, &ts);
		}
		now = clock_mono();
		if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			stopping = 1;
			log_info("event=stopping pid=%ld grace=%ld", (long)getpid(),
				 conf_int(CONF_FCGI_STOP_GRACE));
			for (int i = 0; i < procs; i++)
				retire(&w, i, now);
		} else if (sig == SIGTERM || sig == SIGINT) {
			signal_all(&w, SIGTERM); /* a worker may have missed one */
		} else if (sig == SIGHUP && !stopping) {
			int rc = reload(svc);

			if (rc == 0) {
				broken = 0;
				w.next_replace = 0;
			} else if (rc == -2) {
				/* the workers keep their own copies and serve on; none
				 * is started from this state until a reload works */
				broken = 1;
			}
		} else if (sig == SIGUSR1) {
			reopen_log();
			signal_all(&w, SIGUSR1);
		}
	}
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
		"  -p N             run N worker processes on the socket under one\n"
		"                   supervisor (default 1: one process, no supervisor)\n"
		"  -t               check the configuration and exit\n"
		"  --sample-config  print a commented configuration file\n"
		"  -h, --help       this text\n"
		"  --version        the version\n"
		"signals: TERM/INT finish the requests in hand and exit 0 (with -p, a\n"
		"  worker still busy after fcgi_stop_grace seconds is killed); HUP reads\n"
		"  the configuration file again and reloads keys and blocklist (workers\n"
		"  are replaced one at a time; a broken file changes nothing and is\n"
		"  logged as event=reload_failed); USR1 reopens log_file.\n\n",
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

/* The signal handlers of a worker or a single process. */
static void set_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Options, configuration, accept loop. */
int service_main(const struct service *svc, int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { "version", no_argument, NULL, 'V' },
						  { "sample-config", no_argument, NULL, 'S' },
						  { NULL, 0, NULL, 0 } };
	const char *listen_addr = NULL;
	int check_only = 0, c, sock = 0, procs = 1;
	char err[512], q[600];

	while ((c = getopt_long(argc, argv, "f:l:p:th", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': conf_arg = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 'p':
			procs = atoi(optarg);
			if (procs < 1 || procs > MAX_PROCS) {
				fprintf(stderr, "magenta-%s: -p wants 1..%d\n", svc->name, MAX_PROCS);
				return 2;
			}
			break;
		case 't': check_only = 1; break;
		case 'h': usage(svc, stdout); return 0;
		case 'V': printf("magenta-%s (%s)\n", svc->name, PACKAGE_STRING); return 0;
		case 'S': conf_defaults(); conf_print_sample(stdout, svc->conf_for); return 0;
		default: usage(svc, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "magenta-%s: unexpected argument '%s'\n", svc->name, argv[optind]);
		return 2;
	}
	sigprocmask(SIG_SETMASK, NULL, &orig_mask);
	set_handlers();
	log_init(svc->name, LOG_LVL_INFO);
	if (reload_conf(conf_arg, svc->conf_for, err, sizeof(err)) != 0)
		fatal("event=config_error err=%s", log_q(q, sizeof(q), err));
	if (svc->init && svc->init(err, sizeof(err)) != 0)
		fatal("event=init_error err=%s", log_q(q, sizeof(q), err));
	if (check_only) {
		printf("configuration ok%s%s\n", *conf_path() ? ": " : "", conf_path());
		return 0;
	}
	/* the counters every worker adds to: made before any fork, and once
	 * (a reload keeps them) */
	if (metrics_init(svc->name, svc->routes, svc->nroutes,
			 svc->conf_for & CONF_FOR_AUTH ? METRICS_AUTH : 0) != 0)
		fatal("event=metrics_init_failed err=%d", errno);
	if (!listen_addr && *conf_str(CONF_FCGI_LISTEN))
		listen_addr = conf_str(CONF_FCGI_LISTEN);

	if (FCGX_Init() != 0)
		fatal("event=fcgi_init_failed");
	if (listen_addr) {
		sock = FCGX_OpenSocket(listen_addr, 1024);
		if (sock < 0)
			fatal("event=listen_failed addr=%s", log_q(q, sizeof(q), listen_addr));
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
		served = serve(svc, sock, 1);
		log_info("event=stop pid=%ld served=%lu", (long)getpid(), served);
	}
	return 0;
}
