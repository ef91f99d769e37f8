/* daemon: what magenta-relay and magenta-consumer share around their main
 * loop: options (-f FILE, -d, -l FILE, -p FILE, -t, --help,
 * --sample-config), configuration and logging set-up, signal flags, and
 * detaching from the terminal.
 *
 * Signal handlers only set the flags below; the main loop looks at them
 * between batches.  SIGTERM and SIGINT ask for a clean stop; SIGHUP asks
 * to reopen the log file (after rotation). */
#ifndef MAGENTA_DAEMON_H
#define MAGENTA_DAEMON_H

#include <signal.h>

extern volatile sig_atomic_t daemon_stop;
extern volatile sig_atomic_t daemon_hup;

/* Parse argv, load the configuration, set up logging and signals, detach
 * unless -d.  name is the program ("magenta-relay"), service its log name
 * ("relay"), conf_for its CONF_FOR_* bit (the keys it reads and lists),
 * summary one line for --help.  Returns -1 when the program
 * should go on, else the exit status to return at once (--help, -t,
 * usage or configuration errors). */
int daemon_setup(const char *name, const char *service, unsigned conf_for, const char *summary,
		 int argc, char **argv);

/* Reopen the log file if SIGHUP arrived since the last call. */
void daemon_check_hup(void);

/* Remove the pid file written by -p, if any. */
void daemon_cleanup(void);

#endif
