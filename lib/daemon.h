/* daemon: what magenta-relay and magenta-consumer share around their main
 * loop: options (-f FILE, -d, --log-file FILE, --pid-file FILE, -t,
 * --help, --version, --sample-config), configuration and logging set-up,
 * signal flags, reloads and detaching from the terminal.
 *
 * Signal handlers only set flags; the main loop looks at them between
 * batches.  SIGTERM and SIGINT ask for a clean stop (daemon_stop); SIGHUP
 * for a reload, SIGUSR1 for reopening the log file (daemon_signals). */
#ifndef MAGENTA_DAEMON_H
#define MAGENTA_DAEMON_H

#include <signal.h>

#include "reload.h"

extern volatile sig_atomic_t daemon_stop;

/* When set (before daemon_setup), the program's own check of its
 * configuration: run once it is read at start, also for -t, where a
 * failure is a configuration error (exit 1). */
extern reload_fn daemon_setup_check;

/* Parse argv, load the configuration, set up logging and signals, detach
 * unless -d.  name is the program ("magenta-relay"), service its log name
 * ("relay"), conf_for its CONF_FOR_* bit (the keys it reads and lists),
 * summary one line for --help.  Returns -1 when the program
 * should go on, else the exit status to return at once (--help, -t,
 * usage or configuration errors). */
int daemon_setup(const char *name, const char *service, unsigned conf_for, const char *summary,
		 int argc, char **argv);

/* Act on the signals that came since the last call: SIGUSR1 reopens the
 * log file; SIGHUP reads the configuration file again, first in a child
 * that also runs check (the program's loading of what it may change at
 * run time: its keys), and logs event=reload_failed when that fails.
 * 1 when a reload took the new configuration (the caller then loads its
 * keys again), 0 when there was none, -1 when it failed (nothing changed). */
int daemon_signals(reload_fn check);

/* Remove the pid file written by --pid-file, if any. */
void daemon_cleanup(void);

#endif
