/* magentactl: the administration tool's commands. */
#ifndef MAGENTA_MAGENTACTL_H
#define MAGENTA_MAGENTACTL_H

/* Each command gets its arguments after its name; returns the exit status
 * (0 ok, 1 failure, 2 usage). */

/* migrate [--create] [users|auth|all] */
int cmd_migrate(int argc, char **argv);

/* keygen [--alg ES256|RS256] [--out FILE|-] [--force]; keygen --events ...;
 * keygen --public [--out FILE|-] [--force] */
int cmd_keygen(int argc, char **argv);

/* keygen --events [--dir DIR] [--force] (argv[0] is "--events") */
int cmd_keygen_events(int argc, char **argv);

/* hash-password (password on standard input) */
int cmd_hash_password(int argc, char **argv);

/* status [--json] */
int cmd_status(int argc, char **argv);

/* trace [--json] USER|EVENT_ID|REQUEST_ID (exit 0 found, 1 not found,
 * 2 a database unreadable, 3 usage) */
int cmd_trace(int argc, char **argv);

/* dlq list [--json] [--limit N] | dlq replay (--all | ID...) */
int cmd_dlq(int argc, char **argv);

/* resync [--since TIMESTAMP] [--batch N] [--dry-run] | resync --prune-unknown [--dry-run] */
int cmd_resync(int argc, char **argv);

/* user grant-admin NAME | user revoke-admin NAME | user show [--json] NAME */
int cmd_user(int argc, char **argv);

/* client add NAME [--public] [--scope S] [--json] | client list [--json] |
 * client remove CLIENT_ID|NAME */
int cmd_client(int argc, char **argv);

/* key rotate [--delay SECONDS] | key list [--json] | key prune */
int cmd_key(int argc, char **argv);

/* Shared by keygen and key: */
#include <stdio.h>
#include <sys/types.h>

/* Writes the contents of a file to f: 0, or -1 with err. */
typedef int (*ctl_write_fn)(FILE *f, const void *arg, char *err, size_t errlen);

/* Write to a temporary file beside out (mode: its permissions), then link
 * it into place: out is never seen half-written, and an existing file is
 * only replaced with force.  0, or -1 (told on stderr). */
int ctl_write_atomic(const char *out, mode_t mode, int force, ctl_write_fn fn, const void *arg);

/* ctl_write_fn: a new private key of algorithm arg (a string). */
int ctl_write_private(FILE *f, const void *arg, char *err, size_t errlen);

/* ctl_write_fn: the text arg and a newline. */
int ctl_write_text(FILE *f, const void *arg, char *err, size_t errlen);

/* The signing keys in use, as magenta-auth loads them, ':'-separated,
 * signing key first: jwt_key_dir's (keyring.h) when it is set, else
 * jwt_keys.  0, or -1 with err. */
int ctl_jwt_key_paths(char *out, size_t cap, char *err, size_t errlen);

/* The algorithm the signing key must have: jwt_alg, or NULL (any) with a
 * key ring. */
const char *ctl_jwt_sign_alg(void);

#endif
