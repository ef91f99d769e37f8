/* conf: the one typed configuration table of every Magenta program.
 *
 * Values come from, in order: the defaults below, a key=value file
 * (magenta.conf), then MAGENTA_<KEY> environment variables.  Each program
 * reads the keys it needs; unknown keys in the file are an error with the
 * line number.  One process has one configuration (global state). */
#ifndef MAGENTA_CONF_H
#define MAGENTA_CONF_H

#include <stddef.h>
#include <stdio.h>

enum conf_type { CONF_STR, CONF_INT, CONF_BOOL, CONF_ENUM };

/* X(id, name, type, default, min, max, description).  For CONF_ENUM the
 * min/max columns are unused and the choices follow the default as
 * "a|b|c" in the description's first word (see conf.c). */
#define CONF_KEYS(X)                                                                         \
	X(LOG_LEVEL, "log_level", CONF_ENUM, "info", 0, 0, "debug|info|warn|error: lowest level logged") \
	X(LOG_FILE, "log_file", CONF_STR, "", 0, 0, "FastCGI programs and daemons: append the log to this file (created mode 0640, reopened on SIGUSR1) instead of standard error (empty); for a program whose standard error goes nowhere, as under spawn-fcgi (magentactl writes to standard error)") \
	X(PG_HOST, "pg_host", CONF_STR, "127.0.0.1", 0, 0, "PostgreSQL host name, address or socket directory") \
	X(PG_PORT, "pg_port", CONF_INT, "5432", 1, 65535, "PostgreSQL port") \
	X(PG_USER, "pg_user", CONF_STR, "postgres", 0, 0, "PostgreSQL role") \
	X(PG_PASSWORD, "pg_password", CONF_STR, "", 0, 0, "PostgreSQL password (empty: none or ~/.pgpass)") \
	X(PG_SSLMODE, "pg_sslmode", CONF_ENUM, "prefer", 0, 0, "disable|allow|prefer|require|verify-ca|verify-full: TLS to PostgreSQL (libpq's sslmode); verify-full for a server on another host") \
	X(PG_SSLROOTCERT, "pg_sslrootcert", CONF_STR, "", 0, 0, "CA certificates that verify the PostgreSQL server (empty: libpq's default, ~/.postgresql/root.crt)") \
	X(PG_SSLCERT, "pg_sslcert", CONF_STR, "", 0, 0, "client certificate (PEM) for PostgreSQL's cert authentication (empty: none)") \
	X(PG_SSLKEY, "pg_sslkey", CONF_STR, "", 0, 0, "the private key of pg_sslcert (mode 0600)") \
	X(PG_CONNECT_TIMEOUT, "pg_connect_timeout", CONF_INT, "3", 1, 60, "seconds to wait for a PostgreSQL connection") \
	X(PG_QUERY_TIMEOUT_MS, "pg_query_timeout_ms", CONF_INT, "5000", 100, 600000, "FastCGI programs: longest wait for PostgreSQL's answer to one call, ms; then the connection is dropped and the request answered 503 (the server is given the same statement_timeout)") \
	X(USERS_DB, "users_db", CONF_STR, "MagentaUsers", 0, 0, "registration database name") \
	X(AUTH_DB, "auth_db", CONF_STR, "MagentaAuthentication", 0, 0, "authentication database name") \
	X(MIGRATIONS_DIR, "migrations_dir", CONF_STR, MAGENTA_PKGDATADIR "/sql", 0, 0, "directory holding users/ and auth/ migrations") \
	X(BODY_LIMIT, "body_limit", CONF_INT, "16384", 256, 1048576, "largest accepted request body, bytes") \
	X(RETRY_AFTER, "retry_after", CONF_INT, "5", 1, 3600, "Retry-After seconds sent with a 503") \
	X(PASSWORD_MIN, "password_min", CONF_INT, "12", 8, 1024, "shortest password, Unicode code points") \
	X(PASSWORD_MAX, "password_max", CONF_INT, "128", 16, 4096, "longest password, Unicode code points") \
	X(PASSWORD_BLOCKLIST, "password_blocklist", CONF_STR, MAGENTA_PKGDATADIR "/common-passwords.txt:/usr/share/john/password.lst", 0, 0, "':'-separated files of forbidden passwords, one per line; missing files are skipped") \
	X(ARGON2_OPSLIMIT, "argon2_opslimit", CONF_INT, "2", 1, 64, "argon2id iterations (t)") \
	X(ARGON2_MEMLIMIT_KIB, "argon2_memlimit_kib", CONF_INT, "19456", 8, 4194304, "argon2id memory (m), KiB") \
	X(ARGON2_MAX_OPSLIMIT, "argon2_max_opslimit", CONF_INT, "8", 1, 64, "consumer: an event whose password hash names more argon2 iterations (t) is poison, never stored (a forged costly hash would make each login of that user burn CPU); at least argon2_opslimit") \
	X(ARGON2_MAX_MEMLIMIT_KIB, "argon2_max_memlimit_kib", CONF_INT, "77824", 8, 4194304, "consumer: an event whose password hash names more argon2 memory (m, KiB) is poison, never stored; at least argon2_memlimit_kib") \
	X(ARGON2_CONCURRENCY, "argon2_concurrency", CONF_INT, "0", 0, 256, "most argon2id computations at once among a program's -p workers; 0: one per CPU it may run on") \
	X(FCGI_LISTEN, "fcgi_listen", CONF_STR, "", 0, 0, "FastCGI socket (\"host:port\" or path) when not started by a web server") \
	X(FCGI_STOP_GRACE, "fcgi_stop_grace", CONF_INT, "10", 1, 3600, "FastCGI programs with -p: seconds a worker told to stop (SIGTERM, or replaced at a SIGHUP reload) may take to finish its request before it is killed (SIGKILL)") \
	X(AMQP_HOST, "amqp_host", CONF_STR, "127.0.0.1", 0, 0, "RabbitMQ host") \
	X(AMQP_PORT, "amqp_port", CONF_INT, "5672", 1, 65535, "RabbitMQ AMQP port") \
	X(AMQP_USER, "amqp_user", CONF_STR, "guest", 0, 0, "RabbitMQ user") \
	X(AMQP_PASSWORD, "amqp_password", CONF_STR, "guest", 0, 0, "RabbitMQ password") \
	X(AMQP_VHOST, "amqp_vhost", CONF_STR, "/", 0, 0, "RabbitMQ virtual host") \
	X(AMQP_TLS, "amqp_tls", CONF_BOOL, "off", 0, 0, "AMQP over TLS (amqp_port is then the broker's TLS port, usually 5671); the broker's certificate and host name are verified") \
	X(AMQP_CACERT, "amqp_cacert", CONF_STR, "/etc/ssl/certs/ca-certificates.crt", 0, 0, "CA certificates that verify the broker with amqp_tls") \
	X(AMQP_CERT, "amqp_cert", CONF_STR, "", 0, 0, "client certificate (PEM) presented to the broker with amqp_tls, for brokers that verify their clients (empty: none)") \
	X(AMQP_KEY, "amqp_key", CONF_STR, "", 0, 0, "the private key (PEM) of amqp_cert") \
	X(AMQP_HEARTBEAT, "amqp_heartbeat", CONF_INT, "30", 0, 3600, "AMQP heartbeat, seconds (0: off)") \
	X(EXCHANGE, "exchange", CONF_STR, "magenta.events", 0, 0, "topic exchange for user events") \
	X(QUEUE, "queue", CONF_STR, "authentication.user.events", 0, 0, "queue the consumer reads") \
	X(QUEUE_TYPE, "queue_type", CONF_ENUM, "quorum", 0, 0, "quorum|classic: type of the consumer's queue") \
	X(DELIVERY_LIMIT, "delivery_limit", CONF_INT, "10", 1, 1000, "deliveries before the broker dead-letters (quorum)") \
	X(PREFETCH, "prefetch", CONF_INT, "100", 1, 65535, "unacknowledged messages the consumer may hold") \
	X(EVENT_SIGNING_KEY, "event_signing_key", CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/events-sign.pem", 0, 0, "relay: the Ed25519 private key (PEM) that signs every event it publishes (magentactl keygen --events)") \
	X(EVENT_VERIFY_KEYS, "event_verify_keys", CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/events-sign.pub", 0, 0, "consumer: ':'-separated Ed25519 public keys (PEM) of the relays; a message signed by none of them is dead-lettered (bad_signature)") \
	X(EVENT_SEAL_PUBLIC_KEY, "event_seal_public_key", CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/events-seal.pub", 0, 0, "relay: the consumer's X25519 public key (PEM) to which each event's passwordHash is sealed") \
	X(EVENT_SEAL_KEYS, "event_seal_keys", CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/events-seal.pem", 0, 0, "consumer: ':'-separated X25519 private keys (PEM) that open sealed password hashes") \
	X(RELAY_POLL_MS, "relay_poll_ms", CONF_INT, "1000", 10, 60000, "relay polls the outbox at least this often, ms") \
	X(RELAY_BATCH, "relay_batch", CONF_INT, "100", 1, 10000, "outbox rows published per transaction") \
	X(OUTBOX_RETENTION_DAYS, "outbox_retention_days", CONF_INT, "7", 0, 3650, "published outbox rows are kept this long (0: for ever)") \
	X(PROCESSED_RETENTION_DAYS, "processed_events_retention_days", CONF_INT, "30", 0, 36500, "handled event ids are kept this long, for audit and duplicate filtering (0: for ever)") \
	X(REJECTED_RETENTION_DAYS, "rejected_messages_retention_days", CONF_INT, "90", 0, 36500, "why the consumer dead-lettered a message is kept this long after its last rejection (0: for ever)") \
	X(CONSUMER_SWEEP_S, "consumer_sweep_seconds", CONF_INT, "30", 1, 3600, "the consumer retries parked events and prunes old ids this often, whatever the traffic") \
	X(RELAY_RETRY_MAX_MS, "relay_retry_max_ms", CONF_INT, "60000", 100, 3600000, "longest wait before an unroutable or nacked outbox row is published again, ms") \
	X(RECONNECT_MAX_MS, "reconnect_max_ms", CONF_INT, "10000", 100, 600000, "longest wait between two reconnection attempts of the daemons, ms") \
	X(JWT_ISSUER, "jwt_issuer", CONF_STR, "http://127.0.0.1:8080", 0, 0, "iss of access tokens") \
	X(JWT_AUDIENCE, "jwt_audience", CONF_STR, "magenta", 0, 0, "aud of access tokens") \
	X(JWT_ALG, "jwt_alg", CONF_ENUM, "ES256", 0, 0, "ES256|RS256: access token signature") \
	X(JWT_KEYS, "jwt_keys", CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/signing.pem", 0, 0, "':'-separated private key PEM files, newest first; the first signs") \
	X(JWT_PUBLIC_KEYS, "jwt_public_keys", CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/jwks.json", 0, 0, "registration: the public keys that verify access tokens: one JWKS file (as magentactl keygen --public writes it from jwt_keys, or the auth service's /.well-known/jwks.json saved), or ':'-separated PEM public key files; re-write it when jwt_keys changes") \
	X(REAUTH_LIMIT, "reauth_limit", CONF_INT, "5", 1, 1000, "registration: wrong current passwords (profile, password change, deletion) before those endpoints answer 429 for the rest of reauth_window") \
	X(REAUTH_WINDOW, "reauth_window", CONF_INT, "900", 10, 86400, "registration: seconds over which reauth_limit counts, and the wait after it") \
	X(ADMIN_PAGE_MAX, "admin_page_max", CONF_INT, "100", 1, 1000, "registration: most users one admin search answer lists") \
	X(JWT_LEEWAY, "jwt_leeway", CONF_INT, "30", 0, 600, "clock skew tolerated on exp and nbf, seconds") \
	X(JWT_PRESIGN, "jwt_presign", CONF_BOOL, "on", 0, 0, "ES256: prepare signature nonces 32 at a time (about 4 % more refreshes per second); turn off where running instances are snapshotted and restored (VM snapshots, CRIU): a restored copy and its original would sign with the same prepared nonces, and two such signatures reveal the key") \
	X(ACCESS_TTL, "access_ttl", CONF_INT, "900", 30, 86400, "access token lifetime, seconds") \
	X(REFRESH_TTL, "refresh_ttl", CONF_INT, "86400", 60, 31536000, "refresh token lifetime, seconds") \
	X(REFRESH_TTL_REMEMBER, "refresh_ttl_remember", CONF_INT, "2592000", 60, 31536000, "refresh token lifetime with rememberMe, seconds") \
	X(SESSION_MAX, "session_max", CONF_INT, "7776000", 60, 31536000, "absolute session lifetime, seconds") \
	X(REFRESH_GRACE, "refresh_grace", CONF_INT, "10", 0, 300, "seconds a rotated refresh token still returns the current pair") \
	X(LOCKOUT_THRESHOLD, "lockout_threshold", CONF_INT, "5", 1, 1000, "consecutive failed logins before a lock") \
	X(LOCKOUT_BASE, "lockout_base", CONF_INT, "60", 1, 86400, "first lock window, seconds (doubles)") \
	X(LOCKOUT_MAX, "lockout_max", CONF_INT, "900", 1, 86400, "longest lock window, seconds") \
	X(DEVICE_TTL, "device_ttl", CONF_INT, "7776000", 3600, 31536000, "lifetime of the device token a login issues, seconds (each login that presents it replaces it): a login with a live device token of its user is judged by that device's own failures (lockout_threshold, lockout_base, lockout_max), not by the account's lock nor by ip_fail_limit") \
	X(DEVICE_COOKIE, "device_cookie", CONF_BOOL, "off", 0, 0, "send the device token as the cookie magenta_device (HttpOnly, Secure, SameSite=Strict, Path=/api/auth/login) instead of as deviceToken in the login answer, and read it back from the cookie when the request has no deviceToken") \
	X(LOGIN_SYNC_COMMIT, "login_sync_commit", CONF_BOOL, "off", 0, 0, "a login answers only once its new session is on disk; off: the session commits without waiting for the disk, and a database crash can forget the sessions opened in its last fraction of a second (their users log in again); refresh rotations, logouts and revocations always wait") \
	X(IP_FAIL_LIMIT, "ip_fail_limit", CONF_INT, "30", 1, 1000000, "failed logins per minute per client address before 429") \
	X(TRUSTED_PROXIES, "trusted_proxies", CONF_STR, "", 0, 0, "space-separated addresses whose X-Forwarded-For is believed")

#define CONF_ID(id, name, type, def, min, max, desc) CONF_##id,
enum conf_id { CONF_KEYS(CONF_ID) CONF__COUNT };
#undef CONF_ID

/* Reset every key to its default. */
void conf_defaults(void);

/* Set one key by name from text, validating it; 0 or -1 with err filled. */
int conf_set(const char *name, const char *value, char *err, size_t errlen);

/* Read a key=value file ('#' comments, blank lines); 0 or -1 with err
 * naming the file, line and key. */
int conf_load_file(const char *path, char *err, size_t errlen);

/* Apply MAGENTA_<KEY> environment variables; 0 or -1 with err. */
int conf_load_env(char *err, size_t errlen);

/* Defaults, then path (NULL: $MAGENTA_CONFIG, else the installed file if
 * it exists), then the environment.  0 or -1 with err. */
int conf_load(const char *path, char *err, size_t errlen);

/* 1 when the key still holds its default text. */
int conf_is_default(enum conf_id id);

/* The path conf_load read, or "" when none. */
const char *conf_path(void);

/* Typed getters; the string stays owned by conf until the next set. */
const char *conf_str(enum conf_id id);
long conf_int(enum conf_id id);
int conf_bool(enum conf_id id);

/* --help text: every key, its type, default and description. */
void conf_print_help(FILE *out);

/* A commented sample magenta.conf with every default. */
void conf_print_sample(FILE *out);

#endif
