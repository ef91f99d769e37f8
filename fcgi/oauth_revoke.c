/* oauth_revoke: POST /oauth2/revoke (RFC 7009).  The calling client
 * authenticates; a refresh token of its own ends that token's whole
 * session, an access token of its own ends the session it was issued in.
 * Anything else (an unknown, malformed, expired or already revoked token,
 * another client's) is answered 200 all the same and revokes nothing, so
 * the answer tells a client nothing about tokens that are not its own.
 * token_type_hint is only a hint (RFC 7009 2.1): both kinds are tried. */
#include "config.h"

#include <string.h>
#include <time.h>

#include <sodium.h>

#include "log.h"
#include "oauth.h"
#include "uuid7.h"

/* $1 refresh token hash, $2 client id. */
static struct db_stmt st_revoke_refresh = {
    "oauth_revoke_refresh",
    "UPDATE sessions SET revoked_at = now(), revoked_reason = 'revoked'"
    " WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1::bytea)"
    "  AND client_id = $2 AND revoked_at IS NULL RETURNING id",
    2, 0};

/* $1 session id, $2 user id, $3 client id. */
static struct db_stmt st_revoke_session = {
    "oauth_revoke_session",
    "UPDATE sessions SET revoked_at = now(), revoked_reason = 'revoked'"
    " WHERE id = $1::uuid AND user_id = $2::uuid AND client_id = $3 AND revoked_at IS NULL"
    " RETURNING id",
    3, 0};

/* Run a revoking statement; 0, or -1 after a 5xx reply. */
static int revoke(struct http_req *r, struct db_stmt *st, const char *const *p, const char *kind,
		  const char *client)
{
	PGresult *res = db_exec_stmt(&auth.db, st, p, 1);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_db_failed(r, res, "oauth_revoke");
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 1)
		log_info("event=oauth_revoked session=%s via=%s client=%s", PQgetvalue(res, 0, 0),
			 kind, client);
	else
		log_info("event=oauth_revoke_ignored via=%s client=%s", kind, client);
	PQclear(res);
	return 0;
}

void h_oauth_revoke(struct http_req *r)
{
	struct form f;
	struct oauth_client c;
	struct token_claims claims;
	unsigned char raw[REFRESH_RAWBYTES], hash[REFRESH_HASHBYTES];
	char hash_hex[2 * REFRESH_HASHBYTES + 3];
	const char *tok;
	size_t len = 0;

	memset(raw, 0, sizeof(raw));
	if (oauth_form(r, &f) != 0)
		goto out;
	if (oauth_client_auth(r, &f, &c) != 0)
		goto out;
	tok = oauth_param(&f, "token", &len);
	if (!tok) {
		oauth_error(r, 400, "invalid_request", "token is required.", NULL);
		goto out;
	}
	auth_keys_check();
	if (refresh_parse(tok, len, raw) == 0) {
		const char *p[] = {hash_hex, c.id};

		refresh_hash(hash, raw);
		auth_bytea(hash_hex, hash, sizeof(hash));
		if (revoke(r, &st_revoke_refresh, p, "refresh_token", c.id) != 0)
			goto out;
	} else if (token_verify(&auth.tok, tok, len, time(NULL), 0, &claims) == TOKEN_OK &&
		   uuid_valid(claims.sub) && uuid_valid(claims.sid)) {
		/* even expired: its signature proves which session it was */
		const char *p[] = {claims.sid, claims.sub, c.id};

		if (revoke(r, &st_revoke_session, p, "access_token", c.id) != 0)
			goto out;
	} else {
		log_info("event=oauth_revoke_ignored via=unknown client=%s", c.id);
	}
	http_reply_text(r, 200, NULL, "Pragma: no-cache\r\n", "{}", 2);
out:
	sodium_memzero(raw, sizeof(raw));
	form_free(&f);
}
