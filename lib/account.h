/* account: a user row of MagentaUsers, and every change to it written
 * together with its event (the transactional outbox, one statement).
 *
 * Changes are optimistic: a writer reads the row (account_load), builds
 * the new state, and account_update / account_delete write it only if the
 * row still has the version that was read; otherwise nothing is written
 * and the caller reads again (or answers 412 to a client that named the
 * version with If-Match).  Each change bumps version by one and writes one
 * outbox row whose envelope (event.h) carries the full new state, so the
 * consumer's version guard orders them.  The outbox row keeps the request
 * id attached to the log (log_request_id(): the X-Request-Id of the HTTP
 * request writing it; NULL in magentactl) for correlation.
 *
 * Used by the registration service (fcgi/users_*.c) and magentactl
 * (user grant-admin, resync). */
#ifndef MAGENTA_ACCOUNT_H
#define MAGENTA_ACCOUNT_H

#include <json-c/json.h>

#include "db.h"
#include "event.h"
#include "pwhash.h"
#include "uuid7.h"
#include "validate.h"

#define ACCOUNT_STAMP_MAX 64
#define ACCOUNT_HASH_MAX 255

/* An indefinite administrator's lock is stored as this lockoutEnd (a
 * real timestamp: events and every reader take it as one). */
#define ACCOUNT_LOCK_FOREVER "9999-12-31T23:59:59.000Z"

struct account {
	char id[UUID_STRLEN + 1];
	char username[USERNAME_BYTES_MAX + 1];
	char email[EMAIL_MAX + 1];
	char password_hash[ACCOUNT_HASH_MAX + 1];
	char security_stamp[ACCOUNT_STAMP_MAX + 1];
	char display_name[EVENT_DISPLAY_NAME_MAX + 1]; /* "": none */
	char lockout_end[TIME_STRLEN + 1];	       /* "": none */
	char created_at[TIME_STRLEN + 1];
	char updated_at[TIME_STRLEN + 1];
	int email_confirmed, lockout_enabled;
	unsigned roles; /* roles.h */
	long long version;
};

/* The columns account_from_row reads, in its order, for a SELECT from
 * users (times as UTC text with milliseconds, like the events'). */
#define ACCOUNT_COLUMNS                                                                            \
	"id::text, username, email, password_hash, security_stamp, coalesce(display_name, ''),"   \
	" coalesce(to_char(lockout_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ''),"  \
	" to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"        \
	" to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"        \
	" email_confirmed, lockout_enabled, roles::text, version"
#define ACCOUNT_NCOLUMNS 13

/* Fill a from row of res (ACCOUNT_COLUMNS from column first).  0, or -1
 * when a value does not fit or roles holds an unknown name. */
int account_from_row(const PGresult *res, int row, int first, struct account *a);

/* Read user id.  1 with *a filled, 0 when there is no such user, -1 when
 * the statement failed: *failed is then the result (caller PQclear()s;
 * db_unavailable tells a 503 from a 500). */
int account_load(struct db *db, const char *id, struct account *a, PGresult **failed);

/* The same, by username (case-insensitively) or, when it holds an '@', by
 * email. */
int account_find(struct db *db, const char *name, struct account *a, PGresult **failed);

/* 1 when a is locked by an administrator now. */
int account_locked(const struct account *a);

/* The envelope of an event about a (event_envelope_new): UserCreated and
 * UserUpdated carry a's state and version; UserDeleted only the audit
 * data (event_add_deletion) and the version.  changed (consumed, may be
 * NULL) for UserUpdated. */
struct json_object *account_envelope(const struct account *a, const char *event_type,
				     const char *event_id, const char *occurred_at,
				     struct json_object *changed, const char *deleted_by,
				     const char *reason);

/* Write a's state as the row's new state if the row still has version
 * a->version - 1, with one UserUpdated outbox row (event id made here,
 * into event_id) listing changed (consumed), at a->updated_at.  Returns
 * the result (caller PQclear()s): PGRES_TUPLES_OK with one row when
 * written, with none when the version moved (or the user is gone); an
 * error otherwise (db_unique_violation: the username or email is taken). */
PGresult *account_update(struct db *db, const struct account *a, struct json_object *changed,
			 char event_id[UUID_STRLEN + 1]);

/* Delete user a if it still has version a->version, keeping its tombstone
 * (deleted_users) at version + 1 and one UserDeleted outbox row with the
 * audit data (deleted_by may be NULL; reason "self", "admin",
 * "operator").  Result as account_update's. */
PGresult *account_delete(struct db *db, const struct account *a, const char *deleted_by,
			 const char *reason, char event_id[UUID_STRLEN + 1]);

/* Write an event about a's current state (UserUpdated at a->version,
 * changedFields []) to the outbox without changing the row, if it still
 * has that version: magentactl resync.  Result as account_update's. */
PGresult *account_republish(struct db *db, const struct account *a,
			    char event_id[UUID_STRLEN + 1]);

/* Write the UserDeleted event of a deleted user again (magentactl resync):
 * at version, the version of its tombstone in deleted_users, with the
 * audit data deleted_by (may be NULL) and reason, if that tombstone is
 * still there at that version.  Result as account_update's. */
PGresult *account_republish_deletion(struct db *db, const char *id, long long version,
				     const char *deleted_by, const char *reason,
				     char event_id[UUID_STRLEN + 1]);

#endif
