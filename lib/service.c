/* service: FastCGI program skeleton. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "conf.h"
#include "log.h"
#include "service.h"

static volatile sig_atomic_t service_stop;

/* Only set a flag: accept() then returns EINTR and the loop ends. */
static void on_term(int sig)
{
	(void)sig;
	service_stop = 1;
}

/* Usage text with the configuration keys. */
static void usage(const struct service *svc, FILE *out)
{
	fprintf(out,
		"usage: magenta-%s [-f FILE] [-l ADDR] [-t]\n"
		"  FastCGI program, normally started by lighttpd, Apache or spawn-fcgi\n"
		"  (the listening socket is then its standard input).\n"
		"  -f FILE          configuration file (default $MAGENTA_CONFIG, then\n"
		"                   " MAGENTA_SYSCONFDIR "/magenta/magenta.conf if present)\n"
		"  -l ADDR          listen on ADDR (host:port or a socket path) itself\n"
		"  -t               check the configuration and exit\n"
		"  --sample-config  print a commented configuration file\n"
		"  -h, --help       this text\n\n",
		svc->name);
	conf_print_help(out);
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
	int check_only = 0, c, sock = 0;
	char err[512];
	enum log_level lvl;
	struct http_req req;
	struct sigaction sa;
	unsigned long served = 0;

	while ((c = getopt_long(argc, argv, "f:l:th", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 't': check_only = 1; break;
		case 'h': usage(svc, stdout); return 0;
		case 'S': conf_defaults(); conf_print_sample(stdout); return 0;
		default: usage(svc, stderr); return 2;
		}
	}
	log_init(svc->name, LOG_LVL_INFO);
	if (conf_load(file, err, sizeof(err)) != 0)
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
	if (FCGX_InitRequest(&req.fcgx, sock, 0) != 0)
		fatal("event=fcgi_init_failed");
	log_info("event=start pid=%ld config=\"%s\"", (long)getpid(), conf_path());
	while (!service_stop && FCGX_Accept_r(&req.fcgx) >= 0) {
		http_req_begin(&req);
		http_dispatch(&req, svc->routes, svc->nroutes);
		http_req_end(&req);
		FCGX_Finish_r(&req.fcgx);
		served++;
	}
	log_info("event=stop pid=%ld served=%lu", (long)getpid(), served);
	return 0;
}
