/* conf: the one typed configuration table of every Magenta program.
 *
 * Values come from, in order: the defaults below, a key=value file
 * (magenta.conf), then MAGENTA_<KEY> environment variables.  Each key names
 * the programs that read it, and each program loads the configuration as
 * itself (conf_load's programs): it validates and uses only its own keys.
 * All programs may share one file, so a key that belongs to another program
 * is accepted there (and in the environment) but neither validated nor
 * used; a key that belongs to no program is an error with the line number.
 * One process has one configuration (global state). */
#ifndef MAGENTA_CONF_H
#define MAGENTA_CONF_H

#include <stddef.h>
#include <stdio.h>

/* CONF_HOSTS: a string holding a "host:port,..." list (lib/hostlist.h),
 * validated at load.  CONF_LISTEN: "" or one numeric "address:port" /
 * "[IPv6]:port" to listen on (lib/metrics_listen.h), validated at load. */
enum conf_type { CONF_STR, CONF_INT, CONF_BOOL, CONF_ENUM, CONF_HOSTS, CONF_LISTEN };

/* The programs, one bit each: the readers of a key, or the loader. */
enum conf_program {
	CONF_FOR_REGISTRATION = 1 << 0, /* magenta-registration */
	CONF_FOR_AUTH = 1 << 1,         /* magenta-auth */
	CONF_FOR_RELAY = 1 << 2,        /* magenta-relay */
	CONF_FOR_CONSUMER = 1 << 3,     /* magenta-consumer */
	CONF_FOR_CTL = 1 << 4,          /* magentactl */
	CONF_FOR_MAILER = 1 << 5,       /* magenta-mailer */
};
#define CONF_FOR_FCGI (CONF_FOR_REGISTRATION | CONF_FOR_AUTH)
#define CONF_FOR_DAEMONS (CONF_FOR_RELAY | CONF_FOR_CONSUMER)
#define CONF_FOR_ALL (CONF_FOR_FCGI | CONF_FOR_DAEMONS | CONF_FOR_CTL | CONF_FOR_MAILER)

/* X(id, name, programs, type, default, min, max, choices, description).
 * programs: the CONF_FOR_* bits of those that read the key (directly, or
 * through lib/ code they call).  min/max bound a CONF_INT; choices is the
 * "a|b|c" list of a CONF_ENUM, NULL for the other types. */
#define CONF_KEYS(X)                                                                         \
	X(LOG_LEVEL, "log_level", CONF_FOR_FCGI | CONF_FOR_DAEMONS | CONF_FOR_MAILER, CONF_ENUM, "info", 0, 0, "debug|info|warn|error", "lowest level logged") \
	X(LOG_FILE, "log_file", CONF_FOR_FCGI | CONF_FOR_DAEMONS | CONF_FOR_MAILER, CONF_STR, "", 0, 0, NULL, "append the log to this file (created mode 0640, reopened on SIGUSR1) instead of standard error (empty); for a program whose standard error goes nowhere, as under spawn-fcgi") \
	X(PG_HOST, "pg_host", CONF_FOR_ALL, CONF_STR, "127.0.0.1", 0, 0, NULL, "PostgreSQL host name, address or socket directory") \
	X(PG_PORT, "pg_port", CONF_FOR_ALL, CONF_INT, "5432", 1, 65535, NULL, "PostgreSQL port") \
	X(PG_USER, "pg_user", CONF_FOR_ALL, CONF_STR, "postgres", 0, 0, NULL, "PostgreSQL role") \
	X(PG_PASSWORD, "pg_password", CONF_FOR_ALL, CONF_STR, "", 0, 0, NULL, "PostgreSQL password (empty: none or ~/.pgpass)") \
	X(PG_SSLMODE, "pg_sslmode", CONF_FOR_ALL, CONF_ENUM, "prefer", 0, 0, "disable|allow|prefer|require|verify-ca|verify-full", "TLS to PostgreSQL (libpq's sslmode); verify-full for a server on another host") \
	X(PG_SSLROOTCERT, "pg_sslrootcert", CONF_FOR_ALL, CONF_STR, "", 0, 0, NULL, "CA certificates that verify the PostgreSQL server (empty: libpq's default, ~/.postgresql/root.crt)") \
	X(PG_SSLCERT, "pg_sslcert", CONF_FOR_ALL, CONF_STR, "", 0, 0, NULL, "client certificate (PEM) for PostgreSQL's cert authentication (empty: none)") \
	X(PG_SSLKEY, "pg_sslkey", CONF_FOR_ALL, CONF_STR, "", 0, 0, NULL, "the private key of pg_sslcert (mode 0600)") \
	X(PG_CONNECT_TIMEOUT, "pg_connect_timeout", CONF_FOR_ALL, CONF_INT, "3", 1, 60, NULL, "seconds to wait for a PostgreSQL connection") \
	X(PG_QUERY_TIMEOUT_MS, "pg_query_timeout_ms", CONF_FOR_FCGI, CONF_INT, "5000", 100, 600000, NULL, "longest wait for PostgreSQL's answer to one call, ms; then the connection is dropped and the request answered 503 (the server is given the same statement_timeout)") \
	X(USERS_DB, "users_db", CONF_FOR_REGISTRATION | CONF_FOR_RELAY | CONF_FOR_CTL | CONF_FOR_MAILER, CONF_STR, "MagentaUsers", 0, 0, NULL, "registration database name") \
	X(AUTH_DB, "auth_db", CONF_FOR_AUTH | CONF_FOR_CONSUMER | CONF_FOR_CTL, CONF_STR, "MagentaAuthentication", 0, 0, NULL, "authentication database name") \
	X(MIGRATIONS_DIR, "migrations_dir", CONF_FOR_CTL, CONF_STR, MAGENTA_PKGDATADIR "/sql", 0, 0, NULL, "directory holding users/ and auth/ migrations") \
	X(BODY_LIMIT, "body_limit", CONF_FOR_FCGI, CONF_INT, "16384", 256, 1048576, NULL, "largest accepted request body, bytes") \
	X(RETRY_AFTER, "retry_after", CONF_FOR_FCGI, CONF_INT, "5", 1, 3600, NULL, "Retry-After seconds sent with a 503") \
	X(PASSWORD_MIN, "password_min", CONF_FOR_REGISTRATION, CONF_INT, "12", 8, 1024, NULL, "shortest password, Unicode code points") \
	X(PASSWORD_MAX, "password_max", CONF_FOR_FCGI, CONF_INT, "128", 16, 4096, NULL, "longest password, Unicode code points") \
	X(PASSWORD_BLOCKLIST, "password_blocklist", CONF_FOR_REGISTRATION, CONF_STR, MAGENTA_PKGDATADIR "/common-passwords.txt:/usr/share/john/password.lst", 0, 0, NULL, "':'-separated files of forbidden passwords, one per line; missing files are skipped") \
	X(ARGON2_OPSLIMIT, "argon2_opslimit", CONF_FOR_FCGI | CONF_FOR_CONSUMER | CONF_FOR_CTL, CONF_INT, "2", 1, 64, NULL, "argon2id iterations (t)") \
	X(ARGON2_MEMLIMIT_KIB, "argon2_memlimit_kib", CONF_FOR_FCGI | CONF_FOR_CONSUMER | CONF_FOR_CTL, CONF_INT, "19456", 8, 4194304, NULL, "argon2id memory (m), KiB") \
	X(ARGON2_MAX_OPSLIMIT, "argon2_max_opslimit", CONF_FOR_CONSUMER, CONF_INT, "8", 1, 64, NULL, "an event whose password hash names more argon2 iterations (t) is poison, never stored (a forged costly hash would make each login of that user burn CPU); at least argon2_opslimit") \
	X(ARGON2_MAX_MEMLIMIT_KIB, "argon2_max_memlimit_kib", CONF_FOR_CONSUMER, CONF_INT, "77824", 8, 4194304, NULL, "an event whose password hash names more argon2 memory (m, KiB) is poison, never stored; at least argon2_memlimit_kib") \
	X(ARGON2_CONCURRENCY, "argon2_concurrency", CONF_FOR_FCGI, CONF_INT, "0", 0, 256, NULL, "most argon2id computations at once among a program's -p workers; 0: one per CPU it may run on") \
	X(FCGI_LISTEN, "fcgi_listen", CONF_FOR_FCGI, CONF_STR, "", 0, 0, NULL, "FastCGI socket (\"host:port\" or path) when not started by a web server") \
	X(FCGI_STOP_GRACE, "fcgi_stop_grace", CONF_FOR_FCGI, CONF_INT, "10", 1, 3600, NULL, "with -p: seconds a worker told to stop (SIGTERM, or replaced at a SIGHUP reload) may take to finish its request before it is killed (SIGKILL)") \
	X(METRICS_ALLOW, "metrics_allow", CONF_FOR_FCGI, CONF_STR, "127.0.0.1 ::1", 0, 0, NULL, "space-separated addresses or CIDR blocks whose REMOTE_ADDR may read GET .../metrics (403 otherwise); the web server's own rule (lighttpd var.magenta_metrics_allow, Apache MAGENTA_METRICS_ALLOW) is the first gate") \
	X(RELAY_METRICS_LISTEN, "relay_metrics_listen", CONF_FOR_RELAY | CONF_FOR_CTL, CONF_LISTEN, "", 0, 0, NULL, "magenta-relay serves GET /metrics (Prometheus text) on this numeric address:port, e.g. 127.0.0.1:9310 or [::1]:9310; no access control: loopback or a private monitoring network only; magentactl status reads it for the relay's liveness; empty: off") \
	X(CONSUMER_METRICS_LISTEN, "consumer_metrics_listen", CONF_FOR_CONSUMER | CONF_FOR_CTL, CONF_LISTEN, "", 0, 0, NULL, "magenta-consumer serves GET /metrics on this numeric address:port (as relay_metrics_listen, another port); empty: off") \
	X(STATUS_BACKLOG_AGE_WARN, "status_backlog_age_warn", CONF_FOR_CTL, CONF_INT, "60", 1, 86400, NULL, "magentactl status: degraded (exit 1) when the oldest unpublished outbox row is older than this, seconds") \
	X(STATUS_QUEUE_WARN, "status_queue_warn", CONF_FOR_CTL, CONF_INT, "1000", 0, 100000000, NULL, "magentactl status: degraded when the consumer's queue holds more ready messages than this") \
	X(STATUS_DLQ_WARN, "status_dlq_warn", CONF_FOR_CTL, CONF_INT, "0", 0, 100000000, NULL, "magentactl status: degraded when the dead-letter queue holds more messages than this") \
	X(STATUS_LOOP_STALE, "status_loop_stale", CONF_FOR_CTL, CONF_INT, "30", 2, 3600, NULL, "magentactl status: a daemon whose metrics say its main loop last turned longer ago than this, seconds, counts as stuck (degraded)") \
	X(AMQP_HOST, "amqp_host", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_STR, "127.0.0.1", 0, 0, NULL, "RabbitMQ host") \
	X(AMQP_PORT, "amqp_port", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_INT, "5672", 1, 65535, NULL, "RabbitMQ AMQP port") \
	X(AMQP_HOSTS, "amqp_hosts", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_HOSTS, "", 0, 0, NULL, "the nodes of a RabbitMQ cluster, \"host:port,host:port,...\" ([address]:port for IPv6): each connection tries them in turn, starting after the node that failed or dropped last (docs/events.md, \"Production layout\"); when set it wins, and amqp_host and amqp_port are not used; empty: the one broker amqp_host:amqp_port") \
	X(AMQP_USER, "amqp_user", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_STR, "guest", 0, 0, NULL, "RabbitMQ user") \
	X(AMQP_PASSWORD, "amqp_password", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_STR, "guest", 0, 0, NULL, "RabbitMQ password") \
	X(AMQP_VHOST, "amqp_vhost", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_STR, "/", 0, 0, NULL, "RabbitMQ virtual host") \
	X(AMQP_TLS, "amqp_tls", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_BOOL, "off", 0, 0, NULL, "AMQP over TLS (amqp_port is then the broker's TLS port, usually 5671); the broker's certificate and host name are verified") \
	X(AMQP_CACERT, "amqp_cacert", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_STR, "/etc/ssl/certs/ca-certificates.crt", 0, 0, NULL, "CA certificates that verify the broker with amqp_tls") \
	X(AMQP_CERT, "amqp_cert", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_STR, "", 0, 0, NULL, "client certificate (PEM) presented to the broker with amqp_tls, for brokers that verify their clients (empty: none)") \
	X(AMQP_KEY, "amqp_key", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_STR, "", 0, 0, NULL, "the private key (PEM) of amqp_cert") \
	X(AMQP_HEARTBEAT, "amqp_heartbeat", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_INT, "30", 0, 3600, NULL, "AMQP heartbeat, seconds (0: off)") \
	X(EXCHANGE, "exchange", CONF_FOR_DAEMONS | CONF_FOR_CTL, CONF_STR, "magenta.events", 0, 0, NULL, "topic exchange for user events") \
	X(QUEUE, "queue", CONF_FOR_CONSUMER | CONF_FOR_CTL, CONF_STR, "authentication.user.events", 0, 0, NULL, "queue the consumer reads") \
	X(QUEUE_TYPE, "queue_type", CONF_FOR_CONSUMER, CONF_ENUM, "quorum", 0, 0, "quorum|classic", "type of the consumer's queue") \
	X(DELIVERY_LIMIT, "delivery_limit", CONF_FOR_CONSUMER, CONF_INT, "10", 1, 1000, NULL, "deliveries before the broker dead-letters (quorum)") \
	X(PREFETCH, "prefetch", CONF_FOR_CONSUMER, CONF_INT, "100", 1, 65535, NULL, "unacknowledged messages the consumer may hold") \
	X(EVENT_SIGNING_KEY, "event_signing_key", CONF_FOR_RELAY | CONF_FOR_CTL, CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/events-sign.pem", 0, 0, NULL, "the Ed25519 private key (PEM) that signs every event it publishes (magentactl keygen --events)") \
	X(EVENT_VERIFY_KEYS, "event_verify_keys", CONF_FOR_CONSUMER | CONF_FOR_CTL, CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/events-sign.pub", 0, 0, NULL, "':'-separated Ed25519 public keys (PEM) of the relays; a message signed by none of them is dead-lettered (bad_signature)") \
	X(EVENT_SEAL_PUBLIC_KEY, "event_seal_public_key", CONF_FOR_RELAY | CONF_FOR_CTL, CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/events-seal.pub", 0, 0, NULL, "the consumer's X25519 public key (PEM) to which each event's passwordHash is sealed") \
	X(EVENT_SEAL_KEYS, "event_seal_keys", CONF_FOR_CONSUMER | CONF_FOR_CTL, CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/events-seal.pem", 0, 0, NULL, "':'-separated X25519 private keys (PEM) that open sealed password hashes") \
	X(RELAY_POLL_MS, "relay_poll_ms", CONF_FOR_RELAY, CONF_INT, "1000", 10, 60000, NULL, "relay polls the outbox at least this often, ms") \
	X(RELAY_BATCH, "relay_batch", CONF_FOR_RELAY, CONF_INT, "100", 1, 10000, NULL, "outbox rows published per transaction") \
	X(OUTBOX_RETENTION_DAYS, "outbox_retention_days", CONF_FOR_RELAY, CONF_INT, "7", 0, 3650, NULL, "published outbox rows are kept this long (0: for ever)") \
	X(PROCESSED_RETENTION_DAYS, "processed_events_retention_days", CONF_FOR_CONSUMER, CONF_INT, "30", 0, 36500, NULL, "handled event ids are kept this long, for audit and duplicate filtering (0: for ever)") \
	X(REJECTED_RETENTION_DAYS, "rejected_messages_retention_days", CONF_FOR_CONSUMER, CONF_INT, "90", 0, 36500, NULL, "why the consumer dead-lettered a message is kept this long after its last rejection (0: for ever)") \
	X(CONSUMER_SWEEP_S, "consumer_sweep_seconds", CONF_FOR_CONSUMER, CONF_INT, "30", 1, 3600, NULL, "the consumer retries parked events and prunes old ids this often, whatever the traffic") \
	X(RELAY_RETRY_MAX_MS, "relay_retry_max_ms", CONF_FOR_RELAY, CONF_INT, "60000", 100, 3600000, NULL, "longest wait before an unroutable or nacked outbox row is published again, ms") \
	X(RECONNECT_MAX_MS, "reconnect_max_ms", CONF_FOR_DAEMONS | CONF_FOR_CTL | CONF_FOR_MAILER, CONF_INT, "10000", 100, 600000, NULL, "longest wait between two reconnection attempts of the daemons, ms") \
	X(JWT_ISSUER, "jwt_issuer", CONF_FOR_FCGI, CONF_STR, "http://127.0.0.1:8080", 0, 0, NULL, "iss of access tokens") \
	X(JWT_AUDIENCE, "jwt_audience", CONF_FOR_FCGI, CONF_STR, "magenta", 0, 0, NULL, "aud of access tokens") \
	X(JWT_ALG, "jwt_alg", CONF_FOR_AUTH | CONF_FOR_CTL, CONF_ENUM, "ES256", 0, 0, "ES256|RS256", "access token signature") \
	X(JWT_KEYS, "jwt_keys", CONF_FOR_AUTH | CONF_FOR_CTL, CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/signing.pem", 0, 0, NULL, "':'-separated private key PEM files, newest first; the first signs") \
	X(JWT_KEY_DIR, "jwt_key_dir", CONF_FOR_AUTH | CONF_FOR_CTL, CONF_STR, "", 0, 0, NULL, "a directory of signing keys rotated by magentactl key rotate (docs/oauth2.md): when set, it replaces jwt_keys") \
	X(JWKS_MAX_AGE, "jwks_max_age", CONF_FOR_AUTH | CONF_FOR_CTL, CONF_INT, "300", 0, 86400, NULL, "Cache-Control max-age of the JWKS and the discovery document, seconds; magentactl key rotate waits twice this before a new key signs") \
	X(JWT_PUBLIC_KEYS, "jwt_public_keys", CONF_FOR_REGISTRATION | CONF_FOR_CTL, CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/jwks.json", 0, 0, NULL, "the public keys that verify access tokens: one JWKS file (as magentactl keygen --public writes it from jwt_keys, or the auth service's /.well-known/jwks.json saved), or ':'-separated PEM public key files; re-write it when jwt_keys changes") \
	X(REAUTH_LIMIT, "reauth_limit", CONF_FOR_REGISTRATION, CONF_INT, "5", 1, 1000, NULL, "wrong current passwords (profile, password change, deletion) before those endpoints answer 429 for the rest of reauth_window") \
	X(REAUTH_WINDOW, "reauth_window", CONF_FOR_REGISTRATION, CONF_INT, "900", 10, 86400, NULL, "seconds over which reauth_limit counts, and the wait after it") \
	X(ADMIN_PAGE_MAX, "admin_page_max", CONF_FOR_REGISTRATION, CONF_INT, "100", 1, 1000, NULL, "most users one admin search answer lists") \
	X(JWT_LEEWAY, "jwt_leeway", CONF_FOR_FCGI | CONF_FOR_CTL, CONF_INT, "30", 0, 600, NULL, "clock skew tolerated on exp and nbf, seconds") \
	X(ACCESS_TTL, "access_ttl", CONF_FOR_AUTH | CONF_FOR_CTL, CONF_INT, "900", 30, 86400, NULL, "access token lifetime, seconds") \
	X(REFRESH_TTL, "refresh_ttl", CONF_FOR_AUTH, CONF_INT, "86400", 60, 31536000, NULL, "refresh token lifetime, seconds") \
	X(REFRESH_TTL_REMEMBER, "refresh_ttl_remember", CONF_FOR_AUTH, CONF_INT, "2592000", 60, 31536000, NULL, "refresh token lifetime with rememberMe, seconds") \
	X(SESSION_MAX, "session_max", CONF_FOR_AUTH, CONF_INT, "7776000", 60, 31536000, NULL, "absolute session lifetime, seconds") \
	X(REFRESH_GRACE, "refresh_grace", CONF_FOR_AUTH, CONF_INT, "10", 0, 300, NULL, "seconds a rotated refresh token still returns the current pair") \
	X(MFA_KEY_FILE, "mfa_key_file", CONF_FOR_AUTH, CONF_STR, MAGENTA_SYSCONFDIR "/magenta/keys/mfa.key", 0, 0, NULL, "':'-separated files of 64 hex digits (openssl rand -hex 32, mode 0600 or 0640) keying the TOTP second factor: the first seals new secrets, all open them (docs/auth.md, \"Second factor\"); when the first does not exist, enrolment answers 503 and enrolled users cannot finish a login") \
	X(MFA_ISSUER, "mfa_issuer", CONF_FOR_AUTH, CONF_STR, "Magenta", 0, 0, NULL, "the issuer an authenticator app shows beside the username (the otpauth:// URI's issuer)") \
	X(MFA_TICKET_TTL, "mfa_ticket_ttl", CONF_FOR_AUTH, CONF_INT, "300", 30, 3600, NULL, "seconds a login whose password was right may take to send its second-factor code (the mfaTicket's life)") \
	X(LOCKOUT_THRESHOLD, "lockout_threshold", CONF_FOR_AUTH, CONF_INT, "5", 1, 1000, NULL, "consecutive failed logins before a lock") \
	X(LOCKOUT_BASE, "lockout_base", CONF_FOR_AUTH, CONF_INT, "60", 1, 86400, NULL, "first lock window, seconds (doubles)") \
	X(LOCKOUT_MAX, "lockout_max", CONF_FOR_AUTH, CONF_INT, "900", 1, 86400, NULL, "longest lock window, seconds") \
	X(DEVICE_TTL, "device_ttl", CONF_FOR_AUTH, CONF_INT, "7776000", 3600, 31536000, NULL, "lifetime of the device token a login issues, seconds (each login that presents it replaces it): a login with a live device token of its user is judged by that device's own failures (lockout_threshold, lockout_base, lockout_max), not by the account's lock nor by ip_fail_limit") \
	X(DEVICE_COOKIE, "device_cookie", CONF_FOR_AUTH, CONF_BOOL, "off", 0, 0, NULL, "send the device token as the cookie magenta_device (HttpOnly, Secure, SameSite=Strict, Path=/api/auth/login) instead of as deviceToken in the login answer, and read it back from the cookie when the request has no deviceToken") \
	X(REFRESH_COOKIE, "refresh_cookie", CONF_FOR_AUTH, CONF_BOOL, "off", 0, 0, NULL, "login and refresh also set the refresh token as the cookie magenta_refresh (HttpOnly, Secure, SameSite=Strict, Path=/api/auth/), for browser pages; refresh and logout then accept that cookie when the body has no refreshToken, from an Origin of refresh_cookie_origins only (403 forbidden_origin otherwise). The body's refreshToken stays (docs/auth.md, \"The refresh cookie\")") \
	X(REFRESH_COOKIE_ORIGINS, "refresh_cookie_origins", CONF_FOR_AUTH, CONF_STR, "", 0, 0, NULL, "space-separated origins (scheme://host[:port], as browsers send Origin) of the pages whose requests may be authenticated by the magenta_refresh cookie, e.g. \"https://auth.example.com\"; empty: none, the cookie is set but never accepted") \
	X(LOGIN_SYNC_COMMIT, "login_sync_commit", CONF_FOR_AUTH, CONF_BOOL, "off", 0, 0, NULL, "a login answers only once its new session is on disk; off: the session commits without waiting for the disk, and a database crash can forget the sessions opened in its last fraction of a second (their users log in again); refresh rotations, logouts and revocations always wait") \
	X(IP_FAIL_LIMIT, "ip_fail_limit", CONF_FOR_AUTH, CONF_INT, "30", 1, 1000000, NULL, "failed logins per minute per client address before 429") \
	X(LOGIN_REQUIRE_CONFIRMED_EMAIL, "login_require_confirmed_email", CONF_FOR_AUTH, CONF_BOOL, "off", 0, 0, NULL, "refuse the login of an account whose email address is not confirmed (403 email_not_confirmed; the OAuth password grant: invalid_grant), only once its password was verified") \
	X(MAIL_CONFIRM_TTL, "mail_confirm_ttl", CONF_FOR_REGISTRATION, CONF_INT, "86400", 300, 2592000, NULL, "lifetime of an email confirmation token, seconds") \
	X(MAIL_RESET_TTL, "mail_reset_ttl", CONF_FOR_REGISTRATION, CONF_INT, "1800", 60, 86400, NULL, "lifetime of a password reset token, seconds") \
	X(MAIL_RATE_WINDOW, "mail_rate_window", CONF_FOR_REGISTRATION, CONF_INT, "3600", 10, 86400, NULL, "seconds over which the mail limits (mail_resend_limit, mail_confirm_address_limit, mail_forgot_*_limit) count") \
	X(MAIL_RESEND_LIMIT, "mail_resend_limit", CONF_FOR_REGISTRATION, CONF_INT, "3", 1, 1000, NULL, "confirmation mails one user may ask for again within mail_rate_window; then 429 with Retry-After") \
	X(MAIL_CONFIRM_ADDRESS_LIMIT, "mail_confirm_address_limit", CONF_FOR_REGISTRATION, CONF_INT, "5", 1, 1000, NULL, "confirmation mails sent to one address within mail_rate_window (registration, email change, resend); past it the change is still made, without a mail (resend: 429)") \
	X(MAIL_FORGOT_ADDRESS_LIMIT, "mail_forgot_address_limit", CONF_FOR_REGISTRATION, CONF_INT, "3", 1, 1000, NULL, "password reset mails sent to one address within mail_rate_window; more requests are answered alike (202) but send nothing") \
	X(MAIL_FORGOT_CLIENT_LIMIT, "mail_forgot_client_limit", CONF_FOR_REGISTRATION, CONF_INT, "10", 1, 100000, NULL, "password reset requests one client address (trusted_proxies) may make within mail_rate_window; then 429 with Retry-After") \
	X(MAIL_TEMPLATE_DIR, "mail_template_dir", CONF_FOR_MAILER, CONF_STR, MAGENTA_SYSCONFDIR "/magenta/mail", 0, 0, NULL, "directory of the mail templates (confirm-email.txt, password-reset.txt): a Subject: line, a blank line, the plain-text body; {{link}}, {{username}}, {{email}}, {{valid_minutes}} are filled in") \
	X(MAIL_LINK_BASE, "mail_link_base", CONF_FOR_MAILER, CONF_STR, "http://127.0.0.1:8080", 0, 0, NULL, "the base URL of the links in mails: {{link}} is <base>/confirm-email?token=... or <base>/reset-password?token=...") \
	X(MAIL_POLL_MS, "mail_poll_ms", CONF_FOR_MAILER, CONF_INT, "1000", 10, 60000, NULL, "the mailer looks for due mail at least this often, ms; also the first retry delay") \
	X(MAIL_RETRY_MAX_MS, "mail_retry_max_ms", CONF_FOR_MAILER, CONF_INT, "300000", 100, 86400000, NULL, "longest wait before a mail the SMTP server did not take is tried again, ms") \
	X(MAIL_MAX_ATTEMPTS, "mail_max_attempts", CONF_FOR_MAILER, CONF_INT, "50", 1, 10000, NULL, "a mail not sent after this many attempts is left alone (last_error says why)") \
	X(SMTP_URL, "smtp_url", CONF_FOR_MAILER, CONF_STR, "smtp://127.0.0.1:25", 0, 0, NULL, "the SMTP server: smtp://host:port (with smtp_starttls for STARTTLS) or smtps://host:port (TLS from the start)") \
	X(SMTP_STARTTLS, "smtp_starttls", CONF_FOR_MAILER, CONF_BOOL, "off", 0, 0, NULL, "require STARTTLS on smtp:// (the server's certificate and name are verified); off: plain SMTP, for a relay on the same host") \
	X(SMTP_CACERT, "smtp_cacert", CONF_FOR_MAILER, CONF_STR, "", 0, 0, NULL, "CA certificates that verify the SMTP server (empty: the system's)") \
	X(SMTP_USER, "smtp_user", CONF_FOR_MAILER, CONF_STR, "", 0, 0, NULL, "SMTP AUTH user (empty: no AUTH)") \
	X(SMTP_PASSWORD, "smtp_password", CONF_FOR_MAILER, CONF_STR, "", 0, 0, NULL, "SMTP AUTH password") \
	X(SMTP_FROM, "smtp_from", CONF_FOR_MAILER, CONF_STR, "Magenta <no-reply@localhost>", 0, 0, NULL, "the From: of every mail, \"Name <address>\" or an address; the address is also the envelope sender") \
	X(SMTP_TIMEOUT, "smtp_timeout", CONF_FOR_MAILER, CONF_INT, "30", 1, 600, NULL, "longest time one SMTP delivery may take, seconds") \
	X(TRUSTED_PROXIES, "trusted_proxies", CONF_FOR_FCGI, CONF_STR, "", 0, 0, NULL, "space-separated addresses whose X-Forwarded-For is believed")

#define CONF_ID(id, name, programs, type, def, min, max, choices, desc) CONF_##id,
enum conf_id { CONF_KEYS(CONF_ID) CONF__COUNT };
#undef CONF_ID

/* Reset every key to its default; every key is then read (as by
 * CONF_FOR_ALL) until conf_load names the program. */
void conf_defaults(void);

/* Set one key by name from text: validated and stored when the loading
 * program reads it, accepted and ignored (0) when only other programs do;
 * 0, or -1 with err filled (a bad value, or a key of no program). */
int conf_set(const char *name, const char *value, char *err, size_t errlen);

/* Read a key=value file ('#' comments, blank lines) through conf_set; 0 or
 * -1 with err naming the file, line and key. */
int conf_load_file(const char *path, char *err, size_t errlen);

/* Apply the MAGENTA_<KEY> environment variables of the loading program's
 * keys (those of other programs are ignored); 0 or -1 with err. */
int conf_load_env(char *err, size_t errlen);

/* Load the configuration as programs (CONF_FOR_* bits, normally one):
 * defaults, then path (NULL: $MAGENTA_CONFIG, else the installed file if
 * it exists), then the environment.  0 or -1 with err. */
int conf_load(const char *path, unsigned programs, char *err, size_t errlen);

/* The programs conf_load loaded as (CONF_FOR_ALL before it, or after
 * conf_defaults): what a reload passes to conf_load again. */
unsigned conf_programs(void);

/* 1 when the loading program reads the key. */
int conf_reads(enum conf_id id);

/* 1 when the key still holds its default text. */
int conf_is_default(enum conf_id id);

/* The path conf_load read, or "" when none. */
const char *conf_path(void);

/* Typed getters; the string stays owned by conf until the next set.  A
 * program that reads a key the table does not give it is a programming
 * error: the getters then abort, naming the key. */
const char *conf_str(enum conf_id id);
long conf_int(enum conf_id id);
int conf_bool(enum conf_id id);

/* --help text: the keys programs read, with type, default and meaning. */
void conf_print_help(FILE *out, unsigned programs);

/* A commented sample magenta.conf: the keys programs read, each with its
 * default and the programs that read it. */
void conf_print_sample(FILE *out, unsigned programs);

#endif
