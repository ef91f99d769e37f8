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

/* dlq list [--json] [--limit N] | dlq replay (--all | ID...) */
int cmd_dlq(int argc, char **argv);

/* resync [--since TIMESTAMP] [--batch N] [--dry-run] | resync --prune-unknown [--dry-run] */
int cmd_resync(int argc, char **argv);

/* user grant-admin NAME | user revoke-admin NAME | user show [--json] NAME */
int cmd_user(int argc, char **argv);

/* client add NAME [--public] [--scope S] [--json] | client list [--json] |
 * client remove CLIENT_ID|NAME */
int cmd_client(int argc, char **argv);

#endif
