/* db: one PostgreSQL connection per process, re-established on demand.
 *
 * Statements are always parameterized (PQsendQueryParams); nothing here
 * builds SQL from input.
 *
 * Every connection commits synchronously (synchronous_commit = on, sent
 * in the startup packet, so it overrides the server's, the database's and
 * the role's defaults): an answer sent after a COMMIT promises that the
 * change survives a crash of the database.  A statement may lower it for
 * its own transaction (a login's session, see docs/auth.md "Durability"). */
#ifndef MAGENTA_DB_H
#define MAGENTA_DB_H

#include <libpq-fe.h>

/* A statement prepared once per connection: on first use (db_exec_stmt),
 * or on every new connection when registered (db_prepare_on_connect). */
struct db_stmt {
	const char *name; /* unique within the program */
	const char *sql;
	int nparams;
	unsigned long gen; /* the connection it was prepared on; 0: none yet */
};

#define DB_SETUP_STMTS 4 /* statements db_prepare_on_connect may register */

struct db {
	PGconn *conn;
	char dbname[128];
	char app[64];
	int was_down;	   /* to log the state change once */
	int setup_failing; /* a new connection's set-up failed: logged once */
	unsigned long gen; /* +1 at every new connection: prepared statements are per connection */
	const char *on_connect; /* SQL run on every new connection, or NULL */
	struct db_stmt *setup[DB_SETUP_STMTS]; /* prepared on every new connection */
	int nsetup;
	int in_tx;		/* between db_begin and db_commit/db_rollback */
	long timeout_ms;	/* bound of one call (db_timeout); 0: none */
	/* between db_pipeline_enter and db_pipeline_exit: */
	long long pl_deadline; /* of the whole pipeline (db_timeout) */
	size_t pl_pending;     /* statements sent whose results are not read yet */
	int pl_broken;	       /* a send failed or a result is missing */
};

/* Session settings for programs whose statements all find rows by key
 * (the FastCGI services), run on each of their connections:
 * - a generic plan, made once per prepared statement and connection: a
 *   custom plan per execution costs more than these statements do;
 * - no sequential scan while an index can serve: a plan cached while a
 *   table was nearly empty (fresh install, statistics not yet refreshed
 *   by autovacuum) must not scan it whole once it has grown.  (Not
 *   enough for a join: the planner may read a whole index instead; a
 *   statement that joins must fix its order itself, see sql_rotate.) */
#define DB_KEY_LOOKUPS "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off"

/* Prepare (without connecting) a handle for database dbname, using the
 * pg_* configuration keys; app is the application_name. */
void db_init(struct db *db, const char *dbname, const char *app);

/* Run sql (static text, e.g. DB_KEY_LOOKUPS) on every new connection of
 * db, before its first statement; a connection on which it fails is
 * dropped as unusable. */
void db_on_connect(struct db *db, const char *sql);

/* Prepare st on every new connection of db, right after its on_connect
 * SQL, so that it can be sent at once, also in a pipeline
 * (db_pipeline_send_stmt); a connection on which it fails is dropped as
 * unusable, like one whose on_connect SQL fails.  st must outlive db.  0,
 * or -1 when DB_SETUP_STMTS are registered already.  Call before the first
 * connection. */
int db_prepare_on_connect(struct db *db, struct db_stmt *st) __attribute__((warn_unused_result));

/* Bound every call on db (db_exec, db_exec_stmt, db_begin, ...) to ms
 * milliseconds, measured here, by the client: a server that hangs (stopped,
 * swapping, behind a dead network) cannot stall the caller longer.  A call
 * that runs out of time drops the connection (its statement may still run
 * on the server: its outcome is unknown, like that of a lost connection)
 * and fails as "database unavailable" (db_unavailable), logged once per
 * outage as event=db_timeout; the next call connects afresh, within
 * pg_connect_timeout.  The server is told the same bound
 * (statement_timeout), so it ends a statement nobody waits for.  ms = 0:
 * no bound (the daemons, magentactl).  Call before the first connection. */
void db_timeout(struct db *db, long ms);

/* Return a usable connection, connecting or reconnecting when needed,
 * and setting every new one up (on_connect SQL, then the statements of
 * db_prepare_on_connect); NULL when the server cannot be reached (logged
 * once per outage, event=db_down) or the set-up failed (a missing
 * migration, say: logged once until a set-up succeeds, as
 * event=db_session_setup_failed); event=db_up when it works again.  Server
 * notices are logged at debug level.  Inside a transaction (db_begin) a
 * connection that died is not replaced: its transaction is gone, and the
 * statements after it would each commit on their own; NULL until the
 * owner ends it (db_rollback), logged as event=db_lost_in_transaction. */
PGconn *db_conn(struct db *db);

/* db_conn for a daemon's loop, paced by bo: while db has no connection a
 * new one is tried only once bo is due, and a failure to connect or to set
 * the connection up is recorded in bo (backoff_fail).  A success resets
 * nothing: bo may pace more than connecting (the consumer's retries of a
 * failed transaction), so its owner calls backoff_reset when its work
 * succeeded.  NULL while the database is down or not yet due. */
struct backoff;
PGconn *db_conn_backoff(struct db *db, struct backoff *bo);

/* BEGIN a transaction on db (connecting when needed).  0, or -1 (logged
 * unless the database is simply down). */
int db_begin(struct db *db) __attribute__((warn_unused_result));

/* COMMIT the transaction db_begin opened; it is over either way.  0, or
 * -1 (logged unless the database is simply down). */
int db_commit(struct db *db) __attribute__((warn_unused_result));

/* Roll back the transaction db_begin opened, if the connection still
 * has one; it is over. */
void db_rollback(struct db *db);

/* Run sql with n text parameters (NULL = SQL NULL).  When the connection
 * turns out to be broken before the statement could run and retry is
 * set, reconnect and run it once more: only for statements that are safe
 * to repeat, and never on a connection with session state (LISTEN, SET,
 * an open transaction) beyond its on_connect settings, which a silent
 * reconnect would lose.  Returns the result (caller PQclear()s; never
 * NULL: a connection failure comes back as a fatal-error result). */
PGresult *db_exec(struct db *db, const char *sql, int n, const char *const *params, int retry);

/* Like db_exec for a prepared statement: prepares st on the current
 * connection the first time, then executes it (one round trip). */
PGresult *db_exec_stmt(struct db *db, struct db_stmt *st, const char *const *params, int retry);

/* Pipeline mode (libpq): statements sent back to back and their results
 * read after one sync, in one round trip.  Between db_pipeline_enter and
 * db_pipeline_exit only db_pipeline_* calls may use db.  A send that fails
 * breaks the pipeline: what follows sends nothing, db_pipeline_result
 * returns NULL and db_pipeline_exit -1.  The whole pipeline is bounded by
 * db_timeout's bound (a time out drops the connection, as in db_exec). */

/* Enter pipeline mode on the connection db_conn returned.  0, or -1 (no
 * connection, or libpq refused: nothing to exit). */
int db_pipeline_enter(struct db *db) __attribute__((warn_unused_result));

/* Queue a statement without parameters (BEGIN, COMMIT). */
void db_pipeline_send(struct db *db, const char *sql);

/* Queue an execution of st, which must be prepared on this connection
 * (db_prepare_on_connect), with its st->nparams text parameters. */
void db_pipeline_send_stmt(struct db *db, const struct db_stmt *st, const char *const *params);

/* Send what is queued, with the sync that ends it: the server runs it.
 * After an error the server skips the statements up to the sync (their
 * results are PGRES_PIPELINE_ABORTED). */
void db_pipeline_sync(struct db *db);

/* The result of the next statement sent, in order (the caller PQclear()s
 * it); NULL once the pipeline is broken (the connection lost, or the
 * time out) or every result has been read. */
PGresult *db_pipeline_result(struct db *db);

/* Read the results left and the sync, and leave pipeline mode: 0.  -1
 * when the pipeline broke: the connection, in an unknown state, is closed
 * (the next db_conn makes a fresh one); logged as event=pipeline_broken
 * unless failed (the first failed result the caller kept, or NULL) says
 * the database is unavailable. */
int db_pipeline_exit(struct db *db, const PGresult *failed);

/* Run a retention DELETE whose one parameter is a number of days (sql
 * uses $1::integer); log the rows deleted as event=<event>, or the failure
 * (quietly when the database is down: the caller tries again later).
 * Returns the rows deleted, or -1. */
long db_prune(struct db *db, const char *sql, long days, const char *event);

/* 1 when res (or the connection) shows the database unavailable: no
 * connection (also after a db_timeout), SQLSTATE class 08, 57P01-57P03, a
 * statement cancelled (57014: statement_timeout), or a read-only standby.
 * Such failures are transient: answer 503, retry later. */
int db_unavailable(struct db *db, const PGresult *res);

/* The SQLSTATE of a failed result, or "" */
const char *db_sqlstate(const PGresult *res);

/* 1 when res failed with a unique violation (23505). */
int db_unique_violation(const PGresult *res);

/* Log a failed result once, at error level, with context. */
void db_log_error(const char *what, const PGresult *res);

/* Close the connection. */
void db_close(struct db *db);

#endif
