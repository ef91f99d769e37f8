/* magenta-mailer: delivers MagentaUsers.mail_outbox over SMTP.
 *
 * The registration service writes a mail request (template, recipient,
 * the token's row and the token text) in the same transaction as the
 * change that causes it (fcgi/mail_queue.c); this daemon wakes on NOTIFY
 * magenta_mail and at least every mail_poll_ms, leases one due row at a
 * time (FOR UPDATE SKIP LOCKED: several mailers may run), renders its
 * template from mail_template_dir, sends it with libcurl (STARTTLS, AUTH),
 * and marks it sent, dropping the token text from the row.  A mail the
 * server did not take is tried again with backoff (mail_poll_ms doubling
 * up to mail_retry_max_ms), at most mail_max_attempts times.  A crash
 * between a delivery and its mark sends that mail again once its lease
 * ends: a duplicate mail, never a lost one.
 *
 * A daemon of its own, not a mode of the relay (docs/registration.md,
 * "Mail"): the SMTP credentials live only here, an SMTP outage or a slow
 * server never holds up the events, and it needs no broker. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "backoff.h"
#include "clock.h"
#include "conf.h"
#include "daemon.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "mailtemplate.h"

#define SWEEP_EVERY_MS (10 * 60 * 1000)
#define TEMPLATE_MAX (64 * 1024)

struct mailer {
	struct db db;
	struct backoff dbbo;	/* reconnect pacing for PostgreSQL */
	uint64_t next_sweep_ms; /* the clean-up is due */
	int failing;		/* SMTP refuses: logged when it starts and ends */
	unsigned long sent;
};

/* $1 mail_max_attempts, $2 the lease, seconds: the oldest due row, whose
 * next_attempt_at moves past the time one delivery may take, so that no
 * other mailer takes it meanwhile (and it comes back if this one dies).
 * The attempt is counted here, before the delivery: a mailer that crashes
 * while sending still uses up one of mail_max_attempts.  RETURNING the
 * count with this attempt. */
static const char sql_lease[] =
    "UPDATE mail_outbox SET next_attempt_at = now() + $2::integer * interval '1 second',"
    " attempts = attempts + 1"
    " WHERE id = (SELECT id FROM mail_outbox WHERE sent_at IS NULL AND attempts < $1::integer"
    "  AND params ? 'token'"
    "  AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
    "  ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, template, recipient, params::text, attempts";

static const char sql_sent[] =
    "UPDATE mail_outbox SET sent_at = clock_timestamp(),"
    " last_error = NULL, next_attempt_at = NULL, params = params - 'token'"
    " WHERE id = $1::bigint";

static const char sql_failed[] =
    "UPDATE mail_outbox SET last_error = $2,"
    " next_attempt_at = now() + $3::bigint * interval '1 millisecond' WHERE id = $1::bigint";

/* Old rate-limit windows, and tokens long expired with their mail. */
static const char sql_sweep_rates[] =
    "DELETE FROM mail_rate_limits WHERE window_start < now() - interval '1 day'";
/* A mail whose token expired or was used before it could be sent is
 * abandoned: its token text leaves the queue (a row without it is never
 * leased), and last_error says why. */
static const char sql_sweep_params[] =
    "UPDATE mail_outbox m SET params = m.params - 'token',"
    " last_error = 'not sent: the token expired or was used first'"
    " FROM email_tokens t WHERE m.token_id = t.id AND m.sent_at IS NULL AND m.params ? 'token'"
    " AND (t.expires_at < now() OR t.used_at IS NOT NULL)";
static const char sql_sweep_tokens[] =
    "DELETE FROM email_tokens WHERE expires_at < now() - interval '7 days'";

/* What libcurl reads the message from. */
struct upload {
	const char *data;
	size_t len, off;
};

/* libcurl's read callback. */
static size_t upload_read(char *buf, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t room = size * n, left = u->len - u->off;

	if (left > room)
		left = room;
	memcpy(buf, u->data + u->off, left);
	u->off += left;
	return left;
}

/* Deliver message to rcpt; 0, or -1 with err filled. */
static int smtp_send(const char *rcpt, const char *message, char *err, size_t errlen)
{
	char from[320], to[330], ebuf[CURL_ERROR_SIZE] = "";
	struct upload u = {message, strlen(message), 0};
	struct curl_slist *rcpts = NULL;
	CURL *c;
	CURLcode rc;

	if (mailtemplate_address(conf_str(CONF_SMTP_FROM), from + 1, sizeof(from) - 2) != 0) {
		snprintf(err, errlen, "smtp_from holds no address");
		return -1;
	}
	from[0] = '<';
	{
		size_t n = strlen(from); /* the address left room for '>' */

		from[n] = '>';
		from[n + 1] = '\0';
	}
	if ((size_t)snprintf(to, sizeof(to), "<%s>", rcpt) >= sizeof(to)) {
		snprintf(err, errlen, "recipient too long");
		return -1;
	}
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	rcpts = curl_slist_append(NULL, to);
	curl_easy_setopt(c, CURLOPT_URL, conf_str(CONF_SMTP_URL));
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, conf_int(CONF_SMTP_TIMEOUT));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, conf_int(CONF_SMTP_TIMEOUT));
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if (conf_bool(CONF_SMTP_STARTTLS))
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (*conf_str(CONF_SMTP_CACERT))
		curl_easy_setopt(c, CURLOPT_CAINFO, conf_str(CONF_SMTP_CACERT));
	if (*conf_str(CONF_SMTP_USER)) {
		curl_easy_setopt(c, CURLOPT_USERNAME, conf_str(CONF_SMTP_USER));
		curl_easy_setopt(c, CURLOPT_PASSWORD, conf_str(CONF_SMTP_PASSWORD));
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	curl_slist_free_all(rcpts);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -1;
}

/* The text of file path (at most TEMPLATE_MAX bytes), a new string; NULL
 * with err filled. */
static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *s;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "cannot open '%.300s': %s", path, strerror(errno));
		return NULL;
	}
	s = malloc(TEMPLATE_MAX + 1);
	if (!s) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(s, 1, TEMPLATE_MAX + 1, f);
	fclose(f);
	if (n > TEMPLATE_MAX || memchr(s, '\0', n)) {
		free(s);
		snprintf(err, errlen, "'%.300s' is larger than %d bytes or holds a NUL", path,
			 TEMPLATE_MAX);
		return NULL;
	}
	s[n] = '\0';
	return s;
}

/* A string member of o, or "". */
static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* The message of one row: its template (templates are read at each mail,
 * so an edit needs no restart) filled from params.  A new string, or NULL
 * with err filled. */
static char *mailer_message(const char *id, const char *tmpl, const char *rcpt, const char *params,
			    char *err, size_t errlen)
{
	char path[1024], link[1024], minutes[24], date[64], msgid[128], rnd[17];
	const char *at, *route, *jcode, *jmsg;
	struct json_object *p = NULL, *v;
	char *text = NULL, *rendered = NULL, *msg = NULL;
	unsigned char r8[8];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	/* json_parse_object wipes json-c's parse buffer: it held the token */
	if (json_parse_object(params, strlen(params), &p, &jcode, &jmsg) != 0) {
		snprintf(err, errlen, "params are not a JSON object: %s", jcode);
		return NULL;
	}
	route = strcmp(tmpl, "password-reset") == 0 ? "reset-password" : "confirm-email";
	n = snprintf(link, sizeof(link), "%s/%s?token=%s", conf_str(CONF_MAIL_LINK_BASE), route,
		     jstr(p, "token"));
	if (n < 0 || (size_t)n >= sizeof(link)) {
		/* a cut link would be a dead one: the row fails, retried */
		snprintf(err, errlen, "the link is longer than %zu bytes (mail_link_base)",
			 sizeof(link) - 1);
		goto out;
	}
	snprintf(minutes, sizeof(minutes), "%d",
		 json_object_object_get_ex(p, "validMinutes", &v) ? json_object_get_int(v) : 0);
	{
		const struct mail_var vars[] = {{"link", link},
						{"username", jstr(p, "username")},
						{"email", rcpt},
						{"valid_minutes", minutes}};
		n = snprintf(path, sizeof(path), "%s/%s.txt", conf_str(CONF_MAIL_TEMPLATE_DIR),
			     tmpl);
		if (n < 0 || (size_t)n >= sizeof(path))
			snprintf(err, errlen, "the template's path is longer than %zu bytes",
				 sizeof(path) - 1);
		else
			text = read_file(path, err, errlen);
		if (text)
			rendered = mailtemplate_render(text, vars, sizeof(vars) / sizeof(vars[0]),
						       err, errlen);
	}
	if (rendered) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		randombytes_buf(r8, sizeof(r8));
		sodium_bin2hex(rnd, sizeof(rnd), r8, sizeof(r8));
		at = strrchr(conf_str(CONF_SMTP_FROM), '@');
		n = snprintf(msgid, sizeof(msgid), "<%s.%s@%.*s>", id, rnd,
			     at ? (int)strcspn(at + 1, "> ") : 9, at ? at + 1 : "localhost");
		if (n < 0 || (size_t)n >= sizeof(msgid))
			snprintf(err, errlen,
				 "the Message-ID is longer than %zu bytes (the domain of smtp_from)",
				 sizeof(msgid) - 1);
		else
			msg = mailtemplate_message(rendered, conf_str(CONF_SMTP_FROM), rcpt, date,
						   msgid, err, errlen);
	}
out:
	sodium_memzero(link, sizeof(link));
	if (rendered)
		sodium_memzero(rendered, strlen(rendered));
	free(rendered);
	free(text);
	json_put_wiped(p); /* json-c's copy of the token */
	return msg;
}

/* The PostgreSQL connection, (re)connected and listening; NULL while the
 * database is unreachable. */
static PGconn *mailer_db(struct mailer *m)
{
	PGconn *c = db_conn_backoff(&m->db, &m->dbbo);

	if (c)
		backoff_reset(&m->dbbo);
	return c;
}

/* Run a statement; 0 ok, -1 (logged unless the database is down). */
static int mailer_exec(struct mailer *m, const char *what, const char *sql, int n,
		       const char *const *p)
{
	PGresult *res = db_exec(&m->db, sql, n, p, 0);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok && !db_unavailable(&m->db, res))
		db_log_error(what, res);
	PQclear(res);
	return ok ? 0 : -1;
}

/* Send one due mail: 1 when one was due (sent or not), 0 when none, -1
 * when the database failed. */
static int mailer_one(struct mailer *m)
{
	char max[16], lease[16], err[512] = "", q[600];
	const char *p[2] = {max, lease};
	PGresult *res;
	char *msg;
	const char *id, *tmpl, *rcpt;
	long attempts;
	int rc = 1;

	snprintf(max, sizeof(max), "%ld", conf_int(CONF_MAIL_MAX_ATTEMPTS));
	snprintf(lease, sizeof(lease), "%ld", 2 * conf_int(CONF_SMTP_TIMEOUT) + 30);
	res = db_exec(&m->db, sql_lease, 2, p, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (!db_unavailable(&m->db, res))
			db_log_error("lease", res);
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	id = PQgetvalue(res, 0, 0);
	tmpl = PQgetvalue(res, 0, 1);
	rcpt = PQgetvalue(res, 0, 2);
	attempts = atol(PQgetvalue(res, 0, 4));
	msg = mailer_message(id, tmpl, rcpt, PQgetvalue(res, 0, 3), err, sizeof(err));
	if (!msg) {
		log_error("event=mail_render_failed id=%s template=%s reason=%s", id, tmpl,
			  log_q(q, sizeof(q), err));
	} else if (smtp_send(rcpt, msg, err, sizeof(err)) == 0) {
		const char *sp[1] = {id};
		err[0] = '\0';
		if (mailer_exec(m, "mark_sent", sql_sent, 1, sp) != 0) {
			log_warnx("event=mark_failed id=%s msg=\"sent but not marked: it will be "
				  "sent again when its lease ends\"",
				  id);
			rc = -1;
		} else {
			m->sent++;
			log_info("event=mail_sent id=%s template=%s attempts=%ld", id, tmpl,
				 attempts);
			if (m->failing)
				log_info("event=smtp_recovered");
			m->failing = 0;
		}
	} else if (!m->failing) {
		log_warnx("event=smtp_failed id=%s reason=%s msg=\"mail stays queued and is "
			  "retried with backoff\"",
			  id, log_q(q, sizeof(q), err));
		m->failing = 1;
	}
	if (err[0]) {
		char delay[24];
		const char *fp[3] = {id, err, delay};
		snprintf(
		    delay, sizeof(delay), "%ld",
		    backoff_delay(conf_int(CONF_MAIL_POLL_MS), conf_int(CONF_MAIL_RETRY_MAX_MS),
				  (unsigned)(attempts <= 30 ? attempts - 1 : 30), randombytes_random()));
		log_debug("event=mail_retry id=%s attempts=%ld retry_in_ms=%s", id, attempts,
			  delay);
		if (mailer_exec(m, "mark_failed", sql_failed, 3, fp) != 0)
			rc = -1;
	}
	if (msg)
		sodium_memzero(msg, strlen(msg));
	free(msg);
	/* libpq's copy of params, the token text with it */
	sodium_memzero(PQgetvalue(res, 0, 3), (size_t)PQgetlength(res, 0, 3));
	PQclear(res);
	return rc;
}

/* The periodic clean-up. */
static void mailer_sweep(struct mailer *m)
{
	if (mailer_exec(m, "sweep_rates", sql_sweep_rates, 0, NULL) == 0 &&
	    mailer_exec(m, "sweep_params", sql_sweep_params, 0, NULL) == 0 &&
	    mailer_exec(m, "sweep_tokens", sql_sweep_tokens, 0, NULL) == 0)
		m->next_sweep_ms = clock_mono_ms() + SWEEP_EVERY_MS;
}

/* Drain pending notifications; 1 if any arrived. */
static int mailer_notified(struct mailer *m)
{
	PGnotify *nt;
	int any = 0;

	if (!m->db.conn || PQconsumeInput(m->db.conn) == 0)
		return 0;
	while ((nt = PQnotifies(m->db.conn)) != NULL) {
		any = 1;
		PQfreemem(nt);
	}
	return any;
}

/* Sleep until a notification, a signal or timeout_ms. */
static void mailer_wait(struct mailer *m, long timeout_ms)
{
	struct pollfd fd;
	int nfds = 0;

	if (mailer_notified(m))
		return;
	if (m->db.conn && PQstatus(m->db.conn) == CONNECTION_OK) {
		fd.fd = PQsocket(m->db.conn);
		fd.events = POLLIN;
		nfds = 1;
	}
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (poll(&fd, (nfds_t)nfds, (int)timeout_ms) < 0 && errno != EINTR)
		log_warn("event=poll_failed");
	if (nfds && (fd.revents & (POLLIN | POLLHUP | POLLERR)))
		mailer_notified(m);
}

static int mailer_conf_check(char *err, size_t errlen);

/* The main loop. */
static void mailer_run(struct mailer *m)
{
	while (!daemon_stop) {
		long wait = conf_int(CONF_MAIL_POLL_MS);
		int n = 0;

		daemon_signals(mailer_conf_check);
		if (mailer_db(m)) {
			while (!daemon_stop && (n = mailer_one(m)) == 1)
				;
			if (n == 0 && clock_mono_ms() >= m->next_sweep_ms)
				mailer_sweep(m);
		} else if (backoff_remaining(&m->dbbo) < wait) {
			wait = backoff_remaining(&m->dbbo);
		}
		if (daemon_stop)
			break;
		if (n < 0 && wait > 100)
			wait = 100; /* the database failed: look again soon */
		mailer_wait(m, wait);
	}
}

/* smtp_url for the log: without a user and password written into it. */
static const char *url_for_log(const char *url, char *buf, size_t n)
{
	const char *host = strstr(url, "://"), *at;

	if (!host)
		return url;
	host += 3;
	at = strchr(host, '@');
	if (at && at < host + strcspn(host, "/"))
		snprintf(buf, n, "%.*s%s", (int)(host - url), url, at + 1);
	else
		snprintf(buf, n, "%s", url);
	return buf;
}

/* Is host (as CURLUPART_HOST gives it) this machine: localhost,
 * 127.0.0.0/8 or [::1]? */
static int host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && n < sizeof(buf) + 2 && host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return 0;
}

/* The mailer's own check of its configuration (at start, -t, reloads):
 * with smtp_user set, the password goes only over TLS (smtps://,
 * smtp_starttls) or to this machine.  0, or -1 with err. */
static int mailer_conf_check(char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int rc = -1;

	if (!*conf_str(CONF_SMTP_USER))
		return 0;
	u = curl_url();
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, conf_str(CONF_SMTP_URL), 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		snprintf(err, errlen, "smtp_url is not a URL");
	else if (strcasecmp(scheme, "smtps") == 0 || conf_bool(CONF_SMTP_STARTTLS) ||
		 host_is_loopback(host))
		rc = 0;
	else
		snprintf(err, errlen,
			 "smtp_user is set: the password would cross the network in the clear; use "
			 "smtps://, smtp_starttls = on, or an SMTP server on this host");
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* Options and configuration, then the loop until SIGTERM. */
int main(int argc, char **argv)
{
	struct mailer m;
	char u[512], q[600], t[600];
	int rc;

	daemon_setup_check = mailer_conf_check;
	rc = daemon_setup("magenta-mailer", "mailer", CONF_FOR_MAILER,
			  "sends the MagentaUsers mail queue over SMTP (docs/registration.md)",
			  argc, argv);
	if (rc >= 0)
		return rc;
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("event=init_failed");
		return 1;
	}
	memset(&m, 0, sizeof(m));
	db_init(&m.db, conf_str(CONF_USERS_DB), "magenta-mailer");
	db_on_connect(&m.db, "SET statement_timeout = '30s'; LISTEN magenta_mail");
	backoff_init(&m.dbbo, 250, conf_int(CONF_RECONNECT_MAX_MS));
	log_info("event=start pid=%ld config=\"%s\" smtp_url=%s templates=%s", (long)getpid(),
		 conf_path(),
		 log_q(q, sizeof(q), url_for_log(conf_str(CONF_SMTP_URL), u, sizeof(u))),
		 log_q(t, sizeof(t), conf_str(CONF_MAIL_TEMPLATE_DIR)));
	mailer_run(&m);
	db_close(&m.db);
	log_info("event=stop pid=%ld sent=%lu", (long)getpid(), m.sent);
	curl_global_cleanup();
	daemon_cleanup();
	return 0;
}
