/* auth_cache: the sessions this process recently found alive, so that
 * GET /api/auth/me and /status can answer without a query.
 *
 * An entry lives at most AUTH_CACHE_TTL seconds (and never past its
 * session's end).  Before every lookup the process reads the notices of
 * sql/auth/012_auth_notify.sql (LISTEN magenta_auth on its one database
 * connection) and forgets what they name, so a logout, a reuse
 * revocation, a password change or a deletion takes effect at once in
 * every process.  A new connection (after a database restart) may have
 * missed notices: everything is forgotten then. */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "log.h"

#define CACHE_SLOTS 512

static struct auth_cached cache[CACHE_SLOTS];
static unsigned long listen_gen; /* the connection that LISTENs (db.gen); 0: none */

/* The slot of a session id (FNV-1a). */
static struct auth_cached *slot_of(const char *sid)
{
	unsigned h = 2166136261u;

	for (; *sid; sid++)
		h = (h ^ (unsigned char)*sid) * 16777619u;
	return &cache[h % CACHE_SLOTS];
}

/* Forget everything. */
static void forget_all(void)
{
	memset(cache, 0, sizeof(cache));
}

/* Forget one session. */
static void forget_session(const char *sid)
{
	struct auth_cached *e = slot_of(sid);

	if (e->used && strcmp(e->sid, sid) == 0)
		e->used = 0;
}

/* Forget every session of one user. */
static void forget_user(const char *uid)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (cache[i].used && strcmp(cache[i].uid, uid) == 0)
			cache[i].used = 0;
}

/* LISTEN on the current connection and apply the notices received. */
int auth_cache_sync(void)
{
	PGconn *c = db_conn(&auth.db);
	PGnotify *n;

	if (!c) {
		forget_all();
		listen_gen = 0;
		return -1;
	}
	if (listen_gen != auth.db.gen) {
		PGresult *res = PQexec(c, "LISTEN magenta_auth");
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

		PQclear(res);
		forget_all();
		if (!ok) {
			listen_gen = 0;
			return -1;
		}
		listen_gen = auth.db.gen;
	}
	/* Read what arrived, until nothing more is waiting: a server that
	 * shuts down sends an error, then closes, and only reading the close
	 * marks the connection broken. */
	for (;;) {
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};

		if (poll(&pfd, 1, 0) <= 0)
			break;
		if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
			/* the next query reconnects, and answers 503 until it can */
			forget_all();
			listen_gen = 0;
			return -1;
		}
	}
	while ((n = PQnotifies(c)) != NULL) {
		if (strncmp(n->extra, "s:", 2) == 0)
			forget_session(n->extra + 2);
		else if (strncmp(n->extra, "u:", 2) == 0)
			forget_user(n->extra + 2);
		else
			forget_all();
		PQfreemem(n);
	}
	return 0;
}

/* The live entry for session sid of user uid, or NULL. */
const struct auth_cached *auth_cache_get(const char *sid, const char *uid)
{
	struct auth_cached *e = slot_of(sid);

	if (!listen_gen || !e->used || strcmp(e->sid, sid) != 0 || strcmp(e->uid, uid) != 0)
		return NULL;
	if (e->until <= clock_mono()) {
		e->used = 0;
		return NULL;
	}
	return e;
}

/* Remember v for at most ttl seconds; values too long are not kept. */
void auth_cache_put(const struct auth_cached *v, double ttl)
{
	struct auth_cached *e = slot_of(v->sid);

	if (!listen_gen || ttl <= 0)
		return;
	*e = *v;
	if (ttl > AUTH_CACHE_TTL)
		ttl = AUTH_CACHE_TTL;
	e->until = clock_mono() + ttl;
	e->used = 1;
}
