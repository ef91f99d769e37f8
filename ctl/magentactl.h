/* magentactl: the administration tool's commands. */
#ifndef MAGENTA_MAGENTACTL_H
#define MAGENTA_MAGENTACTL_H

/* Each command gets its arguments after its name; returns the exit status
 * (0 ok, 1 failure, 2 usage). */

/* migrate [--create] [users|auth|all] */
int cmd_migrate(int argc, char **argv);

#endif
