#!/usr/bin/env bats
# POST /api/auth/refresh (rotation, reuse detection, the grace period) and
# POST /api/auth/logout.  refresh_grace is 5 s here: the "after the grace
# period" case needs only a short wait, and the "within" case's six calls
# still fit on a loaded machine (2 s did not, once, at load 11).

load ../lib/common
load 30-auth

setup_file() {
	auth_config refresh_grace=5
}

teardown_file() {
	auth_config_restore
}

# The crash tests stop PostgreSQL's WAL writer and make the auth database's
# commits wait for the disk (the test server's default is not to): never
# leave either behind.
teardown() {
	[[ -n ${WALWRITER:-} ]] && kill -CONT "$WALWRITER" 2>/dev/null
	if [[ -n ${SYNC_ON:-} ]]; then
		wait_until 30 psql_db postgres "ALTER DATABASE \"$AUTH_DB\" RESET synchronous_commit"
		auth_config refresh_grace=5
	fi
	true
}

# Commits in the auth database wait for the disk, as on a production server
# (the test server's default is not to), and magenta-auth restarts with
# CONFIG... so that its connections pick that up.
sync_commits() {
	SYNC_ON=1
	psql_db postgres "ALTER DATABASE \"$AUTH_DB\" SET synchronous_commit = on"
	auth_config refresh_grace=5 "$@"
}

# Stop PostgreSQL's WAL writer (sets WALWRITER): what commits without
# waiting for the disk then stays in the server's memory.
stop_walwriter() {
	local pm
	read -r pm _ <"$STACK_DIR/postgres.pid"
	WALWRITER=$(pgrep -P "$pm" -f '^postgres: walwriter')
	[ -n "$WALWRITER" ]
	kill -STOP "$WALWRITER"
}

# A crash: the stopped WAL writer is killed, so the postmaster ends every
# other server process at once (nothing more is written) and restarts
# through crash recovery.  Returns when the auth database answers again.
crash_pg() {
	kill -KILL "$WALWRITER"
	WALWRITER=
	wait_until 60 psql_auth "SELECT 1"
}

# The server's WAL write and insert positions (read-only queries: they
# write nothing themselves), and whether it has written past LSN.
wal_written() { psql_auth "SELECT pg_current_wal_lsn()"; }
wal_inserted() { psql_auth "SELECT pg_current_wal_insert_lsn()"; }
written_past() { [ "$(psql_auth "SELECT pg_current_wal_lsn() > '$1'::pg_lsn")" = t ]; }

# A user and a fresh login: sets ID, AT (access token), RT (refresh token), SID.
start_session() {
	ID=$(seed_user "${1:-Alice}" "${2:-alice@example.com}")
	login "${1:-Alice}"
	assert_code 200
	AT=$(field .accessToken)
	RT=$(field .refreshToken)
	SID=$(jwt_claims "$AT" | jq -r .sid)
}

# grace_over: every used token was used more than refresh_grace (5 s) ago.
grace_over() {
	[ "$(psql_auth "SELECT coalesce(bool_and(used_at < now() - interval '5 seconds'), true)
		FROM refresh_tokens WHERE used_at IS NOT NULL")" = t ]
}

@test "refresh: a new pair; the old token is marked used and linked to its successor" {
	start_session
	refresh "$RT"
	assert_code 200
	r2=$(field .refreshToken)
	a2=$(field .accessToken)
	[[ "$r2" =~ ^[A-Za-z0-9_-]{43}$ ]] && [ "$r2" != "$RT" ]
	[ "$(field .tokenType)" = Bearer ]
	[ "$(field .user.id)" = "$ID" ]
	[ "$(jwt_claims "$a2" | jq -r .sid)" = "$SID" ]
	[ "$(jwt_claims "$a2" | jq -r .jti)" != "$(jwt_claims "$AT" | jq -r .jti)" ]
	me "$a2"
	assert_code 200
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens WHERE session_id = '$SID'")" = 2 ]
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens p JOIN refresh_tokens c ON c.parent_id = p.id
		WHERE p.used_at IS NOT NULL AND c.used_at IS NULL AND c.sealed IS NOT NULL")" = 1 ]
	# neither raw token is anywhere in the database
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens t WHERE t::text LIKE '%$RT%' OR t::text LIKE '%$r2%'")" = 0 ]
	# and the new one works in turn
	refresh "$r2"
	assert_code 200
}

@test "refresh: R1 again after the grace period revokes the session: R1 and R2 are 401" {
	start_session
	refresh "$RT"
	assert_code 200
	r2=$(field .refreshToken)
	a2=$(field .accessToken)
	wait_until 15 grace_over
	refresh "$RT"
	assert_code 401
	[ "$(field .error)" = invalid_refresh_token ]
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$SID'")" = refresh_reuse ]
	refresh "$r2"
	assert_code 401
	# the access tokens of the family stop working too
	me "$a2"
	assert_code 401
	me "$AT"
	assert_code 401
}

@test "refresh: R1 again within the grace period returns the current pair" {
	start_session
	refresh "$RT"
	assert_code 200
	r2=$(field .refreshToken)
	# the client lost that answer and retries with R1
	refresh "$RT"
	assert_code 200
	[ "$(field .refreshToken)" = "$r2" ]
	me "$(field .accessToken)"
	assert_code 200
	[ "$(psql_auth "SELECT revoked_at IS NULL FROM sessions WHERE id = '$SID'")" = t ]
	# R2 rotates normally; R1, still within its grace, now yields R3
	refresh "$r2"
	assert_code 200
	r3=$(field .refreshToken)
	refresh "$RT"
	assert_code 200
	[ "$(field .refreshToken)" = "$r3" ]
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens WHERE session_id = '$SID'")" = 3 ]
}

@test "refresh: ten concurrent refreshes with one token rotate it once and all get the same pair" {
	start_session
	dir=$BATS_TEST_TMPDIR/conc
	mkdir -p "$dir"
	for i in $(seq 1 10); do
		curl -s -o "$dir/$i" -w '%{http_code}\n' -H 'Content-Type: application/json' \
			--data-binary "{\"refreshToken\":\"$RT\"}" "$BASE_URL/api/auth/refresh" >"$dir/$i.code" &
	done
	wait
	[ "$(cat "$dir"/*.code | sort -u)" = 200 ]
	[ "$(jq -r .refreshToken "$dir"/[0-9]* | sort -u | wc -l)" = 1 ]
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens WHERE session_id = '$SID'")" = 2 ]
	[ "$(psql_auth "SELECT revoked_at IS NULL FROM sessions WHERE id = '$SID'")" = t ]
}

@test "refresh: unknown, malformed and missing tokens" {
	refresh "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
	assert_code 401
	[ "$(field .error)" = invalid_refresh_token ]
	refresh 'not-a-token'
	assert_code 401
	refresh "$(printf 'A%.0s' {1..44})"
	assert_code 401
	post_json /api/auth/refresh '{}'
	assert_code 400
	[ "$(field '.errors[0].field')" = refreshToken ]
	post_json /api/auth/refresh '{"refreshToken":42}'
	assert_code 400
	[ "$(field .error)" = invalid_type ]
}

@test "refresh: an expired token, and a session past its absolute end, are 401" {
	start_session
	psql_auth "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE session_id = '$SID'"
	refresh "$RT"
	assert_code 401
	# expiry alone is not reuse: the session stays
	[ "$(psql_auth "SELECT revoked_at IS NULL FROM sessions WHERE id = '$SID'")" = t ]
	login Alice
	rt=$(field .refreshToken)
	sid=$(jwt_claims "$(field .accessToken)" | jq -r .sid)
	psql_auth "UPDATE sessions SET expires_at = now() - interval '1 second', created_at = now() - interval '1 day' WHERE id = '$sid'"
	refresh "$rt"
	assert_code 401
}

@test "refresh: a new token never outlives its session" {
	start_session
	psql_auth "UPDATE sessions SET expires_at = now() + interval '100 seconds' WHERE id = '$SID'"
	refresh "$RT"
	assert_code 200
	((0 < $(field .refreshExpiresIn) && $(field .refreshExpiresIn) <= 100))
}

@test "refresh: a password change (new security stamp) or a deleted user ends the session" {
	start_session
	psql_auth "UPDATE auth_users SET security_stamp = 'changed', version = 2 WHERE id = '$ID'"
	refresh "$RT"
	assert_code 401
	me "$AT"
	assert_code 401
	# a login with the new stamp works, and a deletion ends it
	login Alice
	assert_code 200
	rt=$(field .refreshToken)
	at=$(field .accessToken)
	psql_auth "UPDATE auth_users SET deleted_at = now() WHERE id = '$ID'"
	refresh "$rt"
	assert_code 401
	me "$at"
	assert_code 401
}

@test "logout with the refresh token: 200, then refresh and /me are 401" {
	start_session
	post_json /api/auth/logout "{\"refreshToken\":\"$RT\"}"
	assert_code 200
	[ "$(field .success)" = true ]
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$SID'")" = logout ]
	refresh "$RT"
	assert_code 401
	me "$AT"
	assert_code 401
	# again: still 200
	post_json /api/auth/logout "{\"refreshToken\":\"$RT\"}"
	assert_code 200
}

@test "logout with the Bearer access token, even an expired one" {
	start_session
	api POST /api/auth/logout -H "Authorization: Bearer $AT" --data-binary ''
	assert_code 200
	refresh "$RT"
	assert_code 401
	# an expired token signed by us still ends its session
	login Alice
	rt=$(field .refreshToken)
	sid=$(jwt_claims "$(field .accessToken)" | jq -r .sid)
	old=$(forge expired "$ID" "$sid")
	api POST /api/auth/logout -H "Authorization: Bearer $old" -H 'Content-Type: application/json' --data-binary '{}'
	assert_code 200
	refresh "$rt"
	assert_code 401
}

@test "logout: unknown or forged tokens are 200 and change nothing; no token at all is 400" {
	start_session
	post_json /api/auth/logout '{"refreshToken":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'
	assert_code 200
	post_json /api/auth/logout '{"refreshToken":"junk"}'
	assert_code 200
	api POST /api/auth/logout -H "Authorization: Bearer $(forge other-key "$ID" "$SID")" --data-binary ''
	assert_code 200
	api POST /api/auth/logout -H "Authorization: Bearer $(forge none "$ID" "$SID")" -H 'Content-Length: 0'
	assert_code 200
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL")" = 0 ]
	refresh "$RT"
	assert_code 200
	post_json /api/auth/logout '{}'
	assert_code 400
	[ "$(field .error)" = invalid_request ]
	api POST /api/auth/logout --data-binary ''
	assert_code 400
	post_json /api/auth/logout '{"refreshToken":7}'
	assert_code 400
}

@test "sessions: two logins are two families; ending one leaves the other" {
	start_session
	login Alice
	rt2=$(field .refreshToken)
	at2=$(field .accessToken)
	post_json /api/auth/logout "{\"refreshToken\":\"$RT\"}"
	assert_code 200
	refresh "$rt2"
	assert_code 200
	me "$at2"
	assert_code 200
}

# scans: "S U": sequential scans of sessions and refresh_tokens, and rows
# updated in refresh_tokens (one per refresh).
scans() {
	psql_auth "SELECT sum(seq_scan) || ' ' || sum(n_tup_upd) FILTER (WHERE relname = 'refresh_tokens')
		|| ' ' || (SELECT sum(idx_tup_read) FROM pg_stat_user_indexes
			WHERE relname IN ('sessions', 'refresh_tokens', 'auth_users'))
		FROM pg_stat_user_tables WHERE relname IN ('sessions', 'refresh_tokens')"
}

@test "refresh: after a PostgreSQL restart, no worker sends a rotation on its dead connection" {
	local procs rt i
	seed_user Rita rita@example.com >/dev/null
	login Rita
	assert_code 200
	rt=$(field .refreshToken)
	# every worker has a connection, then the server restarts under them
	procs=$(awk '/^var.magenta_procs/ { print $3 }' "$STACK_DIR/lighttpd.conf")
	for ((i = 0; i < 2 * procs; i++)); do
		api GET /api/auth/ready
	done
	stack_pg_stop >/dev/null
	stack_pg_start >/dev/null
	# a rotation is not retried (a lost answer may hide a commit), so each
	# worker must find its connection gone before it sends one; the workers
	# take requests in turn
	for ((i = 0; i < 2 * procs; i++)); do
		refresh "$rt"
		assert_code 200
		rt=$(field .refreshToken)
	done
}

@test "refresh: a few index lookups only, even with plans made while the tables were nearly empty" {
	start_session
	# statistics of nearly empty tables, as on a fresh install before
	# autovacuum looks again, and refresh plans cached on them
	psql_auth "ANALYZE sessions; ANALYZE refresh_tokens; ANALYZE auth_users"
	for i in 1 2 3 4 5 6 7 8; do
		refresh "$RT"
		assert_code 200
		RT=$(field .refreshToken)
	done
	# then the tables grow far past those statistics
	psql_auth "INSERT INTO sessions (id, user_id, security_stamp, expires_at)
		SELECT gen_random_uuid(), '$ID', 'other', now() + interval '1 day' FROM generate_series(1, 3000);
		INSERT INTO refresh_tokens (session_id, token_hash, expires_at, used_at)
		SELECT id, sha256(convert_to(id::text, 'UTF8')), now() + interval '1 day', now()
		FROM sessions WHERE security_stamp = 'other'"
	read -r seq0 upd0 idx0 <<<"$(scans)"
	for i in 1 2 3 4 5 6 7 8; do
		refresh "$RT"
		assert_code 200
		RT=$(field .refreshToken)
	done
	# the services' statistics reach the server within seconds of idling
	counted() { read -r seq1 upd1 idx1 <<<"$(scans)" && ((upd1 >= upd0 + 8)); }
	wait_until 20 counted
	echo "sequential scans: $seq0 -> $seq1, index entries read: $idx0 -> $idx1, over $((upd1 - upd0)) refreshes"
	[ "$seq1" -eq "$seq0" ]
	# by key: the token, its session, its user, the foreign-key checks (6
	# entries); not every session of the user (a plan that starts from the
	# users reads the 3 000 above for each refresh, with index scans only).
	# (Statistics arrive late: count per refresh counted in the window.)
	(((idx1 - idx0) <= (upd1 - upd0) * 10))
}

@test "sessions: with login_sync_commit on, a login's session survives a database crash" {
	sync_commits login_sync_commit=on
	start_session Sam sam@example.com
	stop_walwriter
	login Sam
	assert_code 200
	rt=$(field .refreshToken)
	crash_pg
	refresh "$rt"
	assert_code 200
	refresh "$RT"
	assert_code 200
}

@test "sessions: by default a crash can forget a session opened just before it, never a rotation or a logout" {
	sync_commits
	start_session Bea bea@example.com
	rt_b=$RT
	login Bea
	assert_code 200
	rt_c=$(field .refreshToken)
	stop_walwriter
	# each waits for the disk: the log is written past its end before
	logged=$(wal_inserted)
	refresh "$rt_b"
	assert_code 200
	rt_b2=$(field .refreshToken)
	written_past "$logged"
	logged=$(wal_inserted)
	post_json /api/auth/logout "{\"refreshToken\":\"$rt_c\"}"
	assert_code 200
	written_past "$logged"
	# a session that answered before anything was written for it (again
	# if something else, autovacuum say, wrote the log meanwhile)
	for try in 1 2 3 4 5; do
		written=$(wal_written)
		login Bea
		assert_code 200
		[ "$(wal_written)" = "$written" ] && break
	done
	[ "$(wal_written)" = "$written" ]
	at_a=$(field .accessToken)
	rt_a=$(field .refreshToken)
	sid_a=$(jwt_claims "$at_a" | jq -r .sid)
	crash_pg
	# gone: its holder must log in again
	refresh "$rt_a"
	assert_code 401
	me "$at_a"
	assert_code 401
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE id = '$sid_a'")" = 0 ]
	# kept: the rotation (its successor works, the used token stays used)
	# and the logout
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL
		AND token_hash = sha256(decode(translate('$rt_b', '-_', '+/') || '=', 'base64'))")" = 1 ]
	refresh "$rt_b2"
	assert_code 200
	refresh "$rt_c"
	assert_code 401
	login Bea
	assert_code 200
}
