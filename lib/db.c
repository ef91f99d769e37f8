/* db: connection handling and parameterized statements. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "conf.h"
#include "db.h"
#include "log.h"

static unsigned long db_generation; /* the last connection's db.gen */

/* Remember what to connect to. */
void db_init(struct db *db, const char *dbname, const char *app)
{
	memset(db, 0, sizeof(*db));
	snprintf(db->dbname, sizeof(db->dbname), "%s", dbname);
	snprintf(db->app, sizeof(db->app), "%s", app);
}

/* Set the SQL run on each new connection. */
void db_on_connect(struct db *db, const char *sql)
{
	db->on_connect = sql;
}

/* Register a statement to prepare on each new connection. */
int db_prepare_on_connect(struct db *db, struct db_stmt *st)
{
	if (db->nsetup == DB_SETUP_STMTS) {
		log_error("event=db_too_many_setup_statements db=%s stmt=%s max=%d", db->dbname,
			  st->name, DB_SETUP_STMTS);
		return -1;
	}
	db->setup[db->nsetup++] = st;
	return 0;
}

/* Set the bound of one call. */
void db_timeout(struct db *db, long ms)
{
	db->timeout_ms = ms > 0 ? ms : 0;
}

/* The deadline of a call starting now; LLONG_MAX: none. */
static long long db_deadline(const struct db *db)
{
	return db->timeout_ms ? (long long)clock_mono_ms() + db->timeout_ms : LLONG_MAX;
}

/* Open a fresh connection from the configuration. */
static PGconn *db_connect(struct db *db)
{
	char port[16], timeout[16], options[160], user_timeout[24];
	const char *keys[24], *vals[24];
	int n = 0;

	snprintf(port, sizeof(port), "%ld", conf_int(CONF_PG_PORT));
	snprintf(timeout, sizeof(timeout), "%ld", conf_int(CONF_PG_CONNECT_TIMEOUT));
	/* in the startup packet: these win over postgresql.conf, ALTER
	 * DATABASE and ALTER ROLE, and cost no round trip */
	if (db->timeout_ms)
		snprintf(options, sizeof(options),
			 "-c synchronous_commit=on -c statement_timeout=%ld "
			 "-c idle_in_transaction_session_timeout=%ld",
			 db->timeout_ms, db->timeout_ms);
	else
		snprintf(options, sizeof(options), "-c synchronous_commit=on");
	keys[n] = "host", vals[n++] = conf_str(CONF_PG_HOST);
	keys[n] = "port", vals[n++] = port;
	keys[n] = "user", vals[n++] = conf_str(CONF_PG_USER);
	if (*conf_str(CONF_PG_PASSWORD)) /* else libpq may use ~/.pgpass */
		keys[n] = "password", vals[n++] = conf_str(CONF_PG_PASSWORD);
	keys[n] = "dbname", vals[n++] = db->dbname;
	keys[n] = "application_name", vals[n++] = db->app;
	keys[n] = "connect_timeout", vals[n++] = timeout;
	keys[n] = "sslmode", vals[n++] = conf_str(CONF_PG_SSLMODE);
	if (*conf_str(CONF_PG_SSLROOTCERT))
		keys[n] = "sslrootcert", vals[n++] = conf_str(CONF_PG_SSLROOTCERT);
	if (*conf_str(CONF_PG_SSLCERT)) {
		keys[n] = "sslcert", vals[n++] = conf_str(CONF_PG_SSLCERT);
		keys[n] = "sslkey", vals[n++] = conf_str(CONF_PG_SSLKEY);
	}
	keys[n] = "options", vals[n++] = options;
	/* a peer gone without a word (host down, network cut) is found out
	 * on an idle connection by keepalives, and with data in flight by
	 * tcp_user_timeout; a server that is up but does not answer is the
	 * deadline's business (db_await) */
	keys[n] = "keepalives", vals[n++] = "1";
	keys[n] = "keepalives_idle", vals[n++] = "30";
	keys[n] = "keepalives_interval", vals[n++] = "10";
	keys[n] = "keepalives_count", vals[n++] = "3";
	if (db->timeout_ms) {
		snprintf(user_timeout, sizeof(user_timeout), "%ld", db->timeout_ms);
		keys[n] = "tcp_user_timeout", vals[n++] = user_timeout;
	}
	keys[n] = NULL, vals[n] = NULL;
	return PQconnectdbParams(keys, vals, 0);
}

/* The call ran out of time: drop the connection (what it was doing is
 * unknown) and say so once per outage. */
static void db_timed_out(struct db *db)
{
	if (!db->was_down)
		log_error("event=db_timeout db=%s timeout_ms=%ld msg=\"no answer in time: "
			  "connection dropped\"",
			  db->dbname, db->timeout_ms);
	db->was_down = 1;
	PQfinish(db->conn);
	db->conn = NULL;
}

/* Wait until the statement sent on c has been sent whole and its next
 * result read whole, or deadline passes: 0, or -1 on time out.  A broken
 * connection returns 0 too: PQgetResult then reports it. */
static int db_await(PGconn *c, long long deadline)
{
	for (;;) {
		int fl = PQflush(c), rc;
		long long left;
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};

		if (fl < 0 || (fl == 0 && !PQisBusy(c)))
			return 0;
		if (fl == 1)
			pfd.events |= POLLOUT;
		left = deadline == LLONG_MAX ? -1 : deadline - (long long)clock_mono_ms();
		if (deadline != LLONG_MAX && left <= 0)
			return -1;
		rc = poll(&pfd, 1, left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return 0; /* cannot wait: let libpq find out */
		if (rc == 0)
			return -1;
		if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(c))
			return 0;
	}
}

/* The results of the statement just sent on db's connection (the send's
 * success in sent), read within deadline: the first failed one, else the
 * last, as PQexec would return.  On time out the connection is dropped
 * and a "no connection" result returned.  Never NULL. */
static PGresult *db_collect(struct db *db, int sent, long long deadline)
{
	PGconn *c = db->conn;
	PGresult *keep = NULL, *r;

	if (!sent)
		return PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR); /* with c's message */
	for (;;) {
		if (db_await(c, deadline) != 0) {
			PQclear(keep);
			db_timed_out(db);
			return PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
		}
		r = PQgetResult(c);
		if (!r)
			break;
		if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			PQclear(r);
		} else {
			PQclear(keep);
			keep = r;
		}
		if (PQstatus(c) == CONNECTION_BAD)
			break;
	}
	return keep ? keep : PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
}

/* Server notices (the FATAL sent at a shutdown, say) as log lines
 * instead of libpq's raw default on stderr. */
static void db_notice(void *arg, const char *msg)
{
	char q[300];

	(void)arg;
	log_debug("event=pg_notice msg=%s", log_q(q, sizeof(q), msg));
}

/* 0 when the server has closed c while it sat idle: a server that stops
 * or restarts sends an error, then closes, and only reading them marks the
 * connection broken.  Checked before each use, so that no statement is
 * sent on a connection already gone: the first statement after a database
 * restart would fail, and one that is not idempotent (a rotation) could
 * not be retried.  Notifications read on the way stay queued for
 * PQnotifies. */
static int db_still_open(PGconn *c)
{
	for (int i = 0; i < 16; i++) {
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};

		if (poll(&pfd, 1, 0) <= 0)
			return 1;
		if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
			return 0;
	}
	return 1; /* still talking: it is open */
}

/* Set up the new connection db->conn (number db->gen): its on_connect
 * SQL, then the statements to prepare.  0, or -1 with the connection
 * dropped and the failure logged: as an outage when the server went away
 * meanwhile, else once until a set-up succeeds. */
static int db_setup(struct db *db)
{
	long long deadline = db_deadline(db);
	PGresult *res = NULL;
	const char *stmt = NULL;
	char q[300];

	if (db->on_connect) {
		res = db_collect(db, PQsendQuery(db->conn, db->on_connect), deadline);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			goto fail;
		PQclear(res);
	}
	for (int i = 0; i < db->nsetup; i++) {
		struct db_stmt *st = db->setup[i];

		stmt = st->name;
		res = db_collect(db, PQsendPrepare(db->conn, st->name, st->sql, st->nparams, NULL),
				 deadline);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			goto fail;
		PQclear(res);
		st->gen = db->gen;
	}
	return 0;
fail:
	if (!db->conn) {
		/* timed out: dropped and logged (db_timed_out) */
	} else if (db_unavailable(db, res)) {
		if (!db->was_down)
			log_error("event=db_down db=%s err=%s", db->dbname,
				  log_q(q, sizeof(q), PQerrorMessage(db->conn)));
		db->was_down = 1;
	} else {
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		/* e.g. migrations not applied yet: retried, logged once */
		if (!db->setup_failing)
			log_error("event=db_session_setup_failed db=%s what=%s%s sqlstate=%s err=%s",
				  db->dbname, stmt ? "prepare stmt=" : "on_connect", stmt ? stmt : "",
				  db_sqlstate(res),
				  log_q(q, sizeof(q), primary ? primary : PQerrorMessage(db->conn)));
		db->setup_failing = 1;
	}
	PQclear(res);
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	return -1;
}

/* Connected handle or NULL. */
PGconn *db_conn(struct db *db)
{
	char q[300];

	if (db->conn && PQstatus(db->conn) == CONNECTION_OK && db_still_open(db->conn))
		return db->conn;
	if (db->in_tx) {
		if (db->conn)
			log_error("event=db_lost_in_transaction db=%s msg=\"the connection ended inside "
				  "a transaction; it is rolled back, and no statement runs until its "
				  "owner gives it up\"",
				  db->dbname);
		if (db->conn)
			PQfinish(db->conn);
		db->conn = NULL;
		return NULL;
	}
	if (db->conn)
		PQfinish(db->conn);
	db->conn = db_connect(db);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		if (!db->was_down)
			log_error("event=db_down db=%s err=%s", db->dbname,
				  log_q(q, sizeof(q), PQerrorMessage(db->conn)));
		db->was_down = 1;
		PQfinish(db->conn);
		db->conn = NULL;
		return NULL;
	}
	PQsetNoticeProcessor(db->conn, db_notice, NULL);
	/* bounded sends too: never blocked writing to a server that reads
	 * nothing */
	if (db->timeout_ms && PQsetnonblocking(db->conn, 1) != 0) {
		log_error("event=db_session_setup_failed db=%s err=\"cannot make the connection "
			  "non-blocking\"",
			  db->dbname);
		PQfinish(db->conn);
		db->conn = NULL;
		return NULL;
	}
	/* process-wide: a handle made again by db_init (a reload) never
	 * reuses a generation that prepared statements still remember */
	db->gen = ++db_generation;
	if (db_setup(db) != 0)
		return NULL;
	if (db->was_down || db->setup_failing)
		log_info("event=db_up db=%s", db->dbname);
	db->was_down = 0;
	db->setup_failing = 0;
	return db->conn;
}

/* A result that stands for "no connection". */
static PGresult *db_down_result(void)
{
	return PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
}

/* 1 when the connection the last call used broke under it (not timed
 * out: that one was dropped, and its statement may be running). */
static int db_broke(const struct db *db)
{
	return db->conn && PQstatus(db->conn) == CONNECTION_BAD;
}

/* Execute with text parameters, reconnecting once if allowed. */
PGresult *db_exec(struct db *db, const char *sql, int n, const char *const *params, int retry)
{
	long long deadline = db_deadline(db);

	for (int attempt = 0;; attempt++) {
		PGconn *c = db_conn(db);
		PGresult *res;

		if (!c)
			return db_down_result();
		res = db_collect(db, PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0),
				 deadline);
		if (PQresultStatus(res) != PGRES_FATAL_ERROR || !db_broke(db) || !retry ||
		    attempt > 0)
			return res;
		/* the server went away since the last request: one fresh try */
		PQclear(res);
	}
}

/* Prepare on first use per connection, then execute. */
PGresult *db_exec_stmt(struct db *db, struct db_stmt *st, const char *const *params, int retry)
{
	long long deadline = db_deadline(db);

	for (int attempt = 0;; attempt++) {
		PGconn *c = db_conn(db);
		PGresult *res;

		if (!c)
			return db_down_result();
		if (st->gen != db->gen) {
			res = db_collect(db, PQsendPrepare(c, st->name, st->sql, st->nparams, NULL),
					 deadline);
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				if (db_broke(db) && retry && attempt == 0) {
					PQclear(res);
					continue;
				}
				return res;
			}
			PQclear(res);
			st->gen = db->gen;
		}
		res = db_collect(
		    db, PQsendQueryPrepared(c, st->name, st->nparams, params, NULL, NULL, 0),
		    deadline);
		if (PQresultStatus(res) != PGRES_FATAL_ERROR || !db_broke(db) || !retry ||
		    attempt > 0)
			return res;
		/* the server went away since the last request: one fresh try */
		PQclear(res);
	}
}

/* Connect when due, record a failure. */
PGconn *db_conn_backoff(struct db *db, struct backoff *bo)
{
	PGconn *c;

	if ((!db->conn || PQstatus(db->conn) != CONNECTION_OK) && !backoff_due(bo))
		return NULL;
	c = db_conn(db);
	if (!c)
		backoff_fail(bo);
	return c;
}

/* Enter pipeline mode. */
int db_pipeline_enter(struct db *db)
{
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK || PQenterPipelineMode(db->conn) != 1)
		return -1;
	db->pl_deadline = db_deadline(db);
	db->pl_pending = 0;
	db->pl_broken = 0;
	return 0;
}

/* Queue a statement without parameters. */
void db_pipeline_send(struct db *db, const char *sql)
{
	if (db->pl_broken)
		return;
	if (PQsendQueryParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
		db->pl_broken = 1;
	else
		db->pl_pending++;
}

/* Queue a prepared statement. */
void db_pipeline_send_stmt(struct db *db, const struct db_stmt *st, const char *const *params)
{
	if (db->pl_broken)
		return;
	if (st->gen != db->gen ||
	    PQsendQueryPrepared(db->conn, st->name, st->nparams, params, NULL, NULL, 0) != 1)
		db->pl_broken = 1;
	else
		db->pl_pending++;
}

/* Send the queue and its sync. */
void db_pipeline_sync(struct db *db)
{
	if (!db->pl_broken && PQpipelineSync(db->conn) != 1)
		db->pl_broken = 1;
}

/* The next result of the pipeline, within its deadline: the first
 * PQgetResult of the next statement, then its end (a NULL) read too. */
static PGresult *db_pipeline_next(struct db *db)
{
	PGresult *res = NULL, *r;

	if (db->pl_broken || !db->conn)
		return NULL;
	for (;;) {
		if (db_await(db->conn, db->pl_deadline) != 0) {
			PQclear(res);
			db_timed_out(db);
			db->pl_broken = 1;
			return NULL;
		}
		r = PQgetResult(db->conn);
		if (!r)
			break;
		if (res)
			PQclear(r); /* only one result per statement here */
		else
			res = r;
	}
	if (!res)
		db->pl_broken = 1;
	return res;
}

/* The next statement's result. */
PGresult *db_pipeline_result(struct db *db)
{
	PGresult *res;

	if (db->pl_pending == 0)
		return NULL;
	res = db_pipeline_next(db);
	if (!res)
		return NULL;
	db->pl_pending--;
	if (PQstatus(db->conn) != CONNECTION_OK)
		db->pl_broken = 1;
	return res;
}

/* Drain, read the sync, leave pipeline mode; close a broken one. */
int db_pipeline_exit(struct db *db, const PGresult *failed)
{
	PGresult *res;
	int ok;

	while (db->pl_pending > 0 && (res = db_pipeline_result(db)) != NULL)
		PQclear(res);
	ok = !db->pl_broken && db->pl_pending == 0;
	if (ok) {
		/* the sync's result: no NULL follows it */
		ok = db_await(db->conn, db->pl_deadline) == 0;
		if (!ok)
			db_timed_out(db);
		res = ok ? PQgetResult(db->conn) : NULL;
		ok = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
	}
	if (ok && PQexitPipelineMode(db->conn) != 1)
		ok = 0;
	db->pl_pending = 0;
	db->pl_broken = 0;
	if (ok)
		return 0;
	if (db->conn) {
		/* the connection is in an unknown state: start a fresh one */
		if (!failed || !db_unavailable(db, failed))
			log_warnx("event=pipeline_broken db=%s msg=\"reconnecting to PostgreSQL\"",
				  db->dbname);
		PQfinish(db->conn);
		db->conn = NULL;
	}
	return -1;
}

/* A transaction's control statement; 0 or -1, logged unless simply down. */
static int db_control(struct db *db, const char *sql)
{
	PGresult *res = db_exec(db, sql, 0, NULL, 0);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok && !db_unavailable(db, res))
		db_log_error(sql, res);
	PQclear(res);
	return ok ? 0 : -1;
}

int db_begin(struct db *db)
{
	db->in_tx = 0;
	if (db_control(db, "BEGIN") != 0)
		return -1;
	db->in_tx = 1;
	return 0;
}

int db_commit(struct db *db)
{
	int rc = db_control(db, "COMMIT");

	db->in_tx = 0;
	return rc;
}

void db_rollback(struct db *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		PQclear(db_collect(db, PQsendQuery(db->conn, "ROLLBACK"), db_deadline(db)));
	db->in_tx = 0;
}

/* A retention DELETE, logged. */
long db_prune(struct db *db, const char *sql, long days, const char *event)
{
	char d[24];
	const char *p[] = { d };
	PGresult *res;
	long deleted;

	snprintf(d, sizeof(d), "%ld", days);
	res = db_exec(db, sql, 1, p, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (!db_unavailable(db, res))
			db_log_error(event, res);
		PQclear(res);
		return -1;
	}
	deleted = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (deleted > 0)
		log_info("event=%s rows=%ld retention_days=%ld", event, deleted, days);
	return deleted;
}

/* SQLSTATE text of a failed result. */
const char *db_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

/* Transient "database not there" conditions. */
int db_unavailable(struct db *db, const PGresult *res)
{
	const char *st = db_sqlstate(res);

	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		return 1;
	if (res && PQresultStatus(res) == PGRES_FATAL_ERROR && !*st)
		return 1; /* no SQLSTATE: client-side failure such as a lost connection */
	return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
	       strcmp(st, "57P03") == 0 || strcmp(st, "57014") == 0 || strcmp(st, "25006") == 0 ||
	       strcmp(st, "53300") == 0;
}

/* Unique constraint violated. */
int db_unique_violation(const PGresult *res)
{
	return strcmp(db_sqlstate(res), "23505") == 0;
}

/* Log a failed statement: the server's primary message, SQLSTATE and
 * constraint, never its DETAIL, which may quote the row ("Failing row
 * contains (...)": a password hash, an email) or a key's values.  Without
 * a server message (a client-side failure such as a lost connection),
 * libpq's own. */
void db_log_error(const char *what, const PGresult *res)
{
	char q[400], c[160];
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	const char *msg = primary ? primary : res ? PQresultErrorMessage(res) : "";

	log_error("event=db_error what=%s sqlstate=%s%s%s err=%s", what, db_sqlstate(res),
		  cons ? " constraint=" : "", cons ? log_q(c, sizeof(c), cons) : "",
		  log_q(q, sizeof(q), *msg ? msg : "no connection"));
}

/* Close the connection. */
void db_close(struct db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
}
