/* magentactl: administration of a Magenta installation. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "magentactl.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	int no_conf;   /* runs without loading the configuration */
	int conf_exit; /* exit status for a configuration error; 0: 1 */
};

/* sample-config: every key with its default, commented. */
static int cmd_sample_config(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	conf_defaults();
	conf_print_sample(stdout, CONF_FOR_ALL);
	return 0;
}

static const struct command commands[] = {
	{ "sample-config", cmd_sample_config,
	  "sample-config\n      print a commented magenta.conf with every key and its default", 1, 0 },
	{ "migrate", cmd_migrate,
	  "migrate [--create] [users|auth|all]\n"
	  "      apply the SQL migrations not yet recorded in schema_migrations;\n"
	  "      --create makes missing databases first", 0, 0 },
	{ "keygen", cmd_keygen,
	  "keygen [--alg ES256|RS256] [--out FILE|-] [--force]\n"
	  "      write a new access token signing key (PEM, mode 0600); default\n"
	  "      algorithm jwt_alg, default file the first of jwt_keys\n"
	  "keygen --public [--out FILE|-] [--force]\n"
	  "      write the public keys of jwt_keys as the JWKS the auth service\n"
	  "      serves (mode 0644), for verifiers; default file jwt_public_keys\n"
	  "keygen --events [--dir DIR] [--force]\n"
	  "      write the event signing pair (Ed25519: relay private, consumer\n"
	  "      public) and sealing pair (X25519: consumer private, relay public);\n"
	  "      default files event_signing_key, event_verify_keys,\n"
	  "      event_seal_keys, event_seal_public_key", 0, 0 },
	{ "hash-password", cmd_hash_password,
	  "hash-password\n"
	  "      print the argon2id hash of the password read from standard input", 0, 0 },
	{ "status", cmd_status,
	  "status [--json]\n"
	  "      the event pipeline on one screen: databases, outbox backlog and its\n"
	  "      oldest row, queue and dead-letter queue depth, last event applied and\n"
	  "      its lag, the daemons' liveness; exit 0 healthy, 1 degraded, 2 down,\n"
	  "      3 unknown (usage or configuration error)", 0, 3 },
	{ "trace", cmd_trace,
	  "trace [--json] USER|EVENT_ID|REQUEST_ID\n"
	  "      the path of a user's (id, username or email), an event's or a request's\n"
	  "      (X-Request-Id) events: outbox row (created, published), what the consumer\n"
	  "      did and when (applied, stale, ...), parked, dead-lettered; exit 0 found,\n"
	  "      1 nothing found, 2 a database could not be read, 3 usage or\n"
	  "      configuration error", 0, 3 },
	{ "dlq", cmd_dlq,
	  "dlq list [--json] [--limit N] | dlq replay (--all | ID...)\n"
	  "      show the dead letters (id, type, reason), or publish them again to\n"
	  "      the events exchange (removed from the dead-letter queue once confirmed)", 0, 0 },
	{ "resync", cmd_resync,
	  "resync [--since TIMESTAMP] [--batch N] [--dry-run]\n"
	  "      write every user's current state (UserUpdated, its version) and\n"
	  "      every deleted user's UserDeleted to the outbox again, N users (500)\n"
	  "      a transaction, to rebuild the auth database; --since: only those\n"
	  "      changed or deleted at or after TIMESTAMP (RFC 3339, or a date)\n"
	  "resync --prune-unknown [--dry-run]\n"
	  "      list the live users of the auth database that the users database does\n"
	  "      not have (ghosts), and tombstone them as a UserDeleted would (what\n"
	  "      was parked behind them is applied); --dry-run only lists them", 0, 0 },
	{ "user", cmd_user,
	  "user grant-admin NAME | user revoke-admin NAME\n"
	  "      give or take away the admin role (NAME: a username, or an email);\n"
	  "      a UserUpdated event carries it to the auth database\n"
	  "user show [--json] NAME\n"
	  "      the user's profile, roles, lock and version (never the hash)", 0, 0 },
	{ "key", cmd_key,
	  "key rotate [--delay SECONDS]\n"
	  "      a new signing key (jwt_alg) in jwt_key_dir: published now, signing after the\n"
	  "      delay (twice jwks_max_age); the old one stays published until its\n"
	  "      tokens have expired; jwt_public_keys is written again\n"
	  "key list [--json] | key prune\n"
	  "      the keys' states (standby, signing, retired, expired); remove expired", 0, 0 },
	{ "client", cmd_client,
	  "client add NAME [--public] [--scope \"openid profile email\"]\n"
	  "           [--grants password,refresh_token|none] [--json]\n"
	  "      register an OAuth 2.0 client; prints its client_id and, unless\n"
	  "      --public, its secret (shown once: only a hash is kept); --grants\n"
	  "      none: a resource server that may only introspect\n"
	  "client list [--json] | client remove CLIENT_ID|NAME\n"
	  "      the clients, with their live sessions; remove revokes its sessions", 0, 0 },
};

/* Print the commands. */
static void usage(FILE *out)
{
	fprintf(out, "usage: magentactl [-f FILE] COMMAND [ARGS]\n"
		     "       magentactl COMMAND --help | --help | --version\n"
		     "  -f FILE   configuration file (default $MAGENTA_CONFIG, then\n"
		     "            " MAGENTA_SYSCONFDIR "/magenta/magenta.conf if present)\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].usage);
}

/* Does a command's argument list (argv[1..argc-1]) ask for its help? */
static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || (i == 1 && strcmp(argv[i], "-h") == 0))
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { "version", no_argument, NULL, 'V' },
						  { NULL, 0, NULL, 0 } };
	const char *file = NULL;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "+f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("magentactl (%s)\n", PACKAGE_STRING); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	log_init("magentactl", LOG_LVL_WARN);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			if (wants_help(argc - optind, argv + optind)) {
				printf("usage: magentactl [-f FILE] %s\n", commands[i].usage);
				return 0;
			}
			if (!commands[i].no_conf && conf_load(file, CONF_FOR_CTL, err, sizeof(err)) != 0) {
				fprintf(stderr, "magentactl: %s\n", err);
				/* a monitoring check reads 1 as degraded: say unknown */
				return commands[i].conf_exit ? commands[i].conf_exit : 1;
			}
			optind++;
			return commands[i].fn(argc - optind + 1, argv + optind - 1);
		}
	}
	fprintf(stderr, "magentactl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
