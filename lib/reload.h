/* reload: take a changed configuration without a restart (SIGHUP).
 *
 * The configuration (conf) and what a program loads from it (keys, the
 * blocklist) are process globals that requests use.  A reload therefore
 * proves itself first in a throw-away child, which reads the file and runs
 * the program's own loading, then exits; only when that worked does the
 * process read the file again for itself.  The environment
 * (MAGENTA_<KEY>) still wins over the file, as at start. */
#ifndef MAGENTA_RELOAD_H
#define MAGENTA_RELOAD_H

#include <stddef.h>

/* What a program loads from the configuration: 0, or -1 with err. */
typedef int (*reload_fn)(char *err, size_t errlen);

/* Read the configuration (file as given at start: NULL for the default
 * search; programs: the loader's CONF_FOR_* bits, conf_load) in this
 * process, then make log_level and log_file
 * take effect.  0, or -1 with err; after -1 the configuration is
 * incomplete: at start that is fatal, on a reload call it only after
 * reload_try succeeded. */
int reload_conf(const char *file, unsigned programs, char *err, size_t errlen);

/* In a forked child: reload_conf(file, programs), then load (NULL: none); the child
 * exits and this process's state is untouched.  The child gets 30 s.
 * 0 when both worked, or -1 with err saying why. */
int reload_try(const char *file, unsigned programs, reload_fn load, char *err, size_t errlen);

#endif
