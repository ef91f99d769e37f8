#!/usr/bin/env bats
# POST /api/auth/login, health and ready, and the input hygiene of every
# magenta-auth endpoint, through lighttpd against the private PostgreSQL.
# Users are seeded into auth_users directly, as the event consumer would.

load ../lib/common
load 30-auth

@test "login: 200 with the token pair and the user, by username" {
	id=$(seed_user Alice alice@example.com)
	login Alice
	assert_code 200
	[ "$(field .tokenType)" = Bearer ]
	[ "$(field .expiresIn)" = 900 ]
	[ "$(field .refreshExpiresIn)" = 86400 ]
	[ "$(json_of .user)" = "{\"id\":\"$id\",\"username\":\"Alice\",\"email\":\"alice@example.com\"}" ]
	[[ "$(field .refreshToken)" =~ ^[A-Za-z0-9_-]{43}$ ]]
	[[ "$(field .accessToken)" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$ ]]
	[ "$(header Cache-Control)" = no-store ]
	claims=$(jwt_claims "$(field .accessToken)")
	[ "$(json_of .sub "$claims")" = "\"$id\"" ]
	[ "$(json_of .username "$claims")" = '"Alice"' ]
	[ "$(json_of '.exp - .iat' "$claims")" = 900 ]
	# one session with one refresh token, stored only as its SHA-256
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE user_id = '$id' AND revoked_at IS NULL")" = 1 ]
	sid=$(jq -r .sid <<<"$claims")
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens WHERE session_id = '$sid'")" = 1 ]
	rt=$(field .refreshToken)
	want=$(printf '%s' "$rt" | tr '_-' '/+' | sed 's/$/=/' | base64 -d | sha256sum | cut -d' ' -f1)
	[ "$(psql_auth "SELECT encode(token_hash, 'hex') FROM refresh_tokens WHERE session_id = '$sid'")" = "$want" ]
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens t, sessions s WHERE t::text LIKE '%$rt%' OR s::text LIKE '%$rt%'")" = 0 ]
}

@test "login: by email, in any letter case, and the username in any case" {
	id=$(seed_user Bob bob@example.com)
	login BOB@Example.COM
	assert_code 200
	[ "$(field .user.id)" = "$id" ]
	login bOb
	assert_code 200
	[ "$(field .user.id)" = "$id" ]
}

@test "login: rememberMe gives the long refresh lifetime; false and absent the short one" {
	seed_user Carol carol@example.com >/dev/null
	login carol "$AUTH_PW" '{"rememberMe":true}'
	assert_code 200
	[ "$(field .refreshExpiresIn)" = 2592000 ]
	[ "$(psql_auth "SELECT remember FROM sessions ORDER BY created_at DESC LIMIT 1")" = t ]
	login carol "$AUTH_PW" '{"rememberMe":false}'
	assert_code 200
	[ "$(field .refreshExpiresIn)" = 86400 ]
	# an absolute session end, session_max after the login
	[ "$(psql_auth "SELECT bool_and(expires_at - created_at = interval '90 days') FROM sessions")" = t ]
}

@test "login: unknown user, wrong password and deleted user give byte-identical 401s" {
	seed_user Dave dave@example.com >/dev/null
	seed_user Gone gone@example.com >/dev/null
	psql_auth "UPDATE auth_users SET deleted_at = now() WHERE username = 'Gone'"
	login Dave 'not the password'
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	h1=$(grep -v '^\(date\|x-request-id\):' <<<"$headers")
	login nobody-here
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	[ "$(grep -v '^\(date\|x-request-id\):' <<<"$headers")" = "$h1" ]
	login nobody@example.com
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	login Gone
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	login gone@example.com
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	[ "$(psql_auth "SELECT count(*) FROM sessions")" = 0 ]
}

# _login_via SOCK: one login of an unknown user straight to a FastCGI socket.
_login_via() {
	fcgi_post "$1" /api/auth/login '{"usernameOrEmail":"nobody","password":"whatever it may be"}' |
		grep -q '^Status: 401'
}

# _slot_taken_by_login SOCK SEMID: log in as nobody, in the background,
# until the one argon2 slot is seen taken while such a login runs (20
# logins at most).
_slot_taken_by_login() {
	local i pid
	for ((i = 0; i < 20; i++)); do
		_login_via "$1" 3>&- &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			if [ "$(_semval "$2")" = 0 ]; then
				wait "$pid"
				return 0
			fi
		done
		wait "$pid"
	done
	return 1
}

@test "login: an unknown user still costs an argon2id verification (it takes an argon2 slot)" {
	local sock=$BATS_TEST_TMPDIR/auth.sock semid
	# a program of its own: one slot, a verification of about a third of
	# a second; nothing else hashes there (the dummy hash is made at start)
	fcgi_program auth "$sock" 2 MAGENTA_ARGON2_CONCURRENCY=1 MAGENTA_ARGON2_OPSLIMIT=64
	semid=$(sed -n "s/.*event=argon2 pid=$prog_pid slots=1 semid=\([0-9]*\).*/\1/p" "$sock.log")
	[ -n "$semid" ]
	[ "$(_semval "$semid")" = 1 ]
	_slot_taken_by_login "$sock" "$semid"
	[ "$(_semval "$semid")" = 1 ]
	fcgi_program_stop
}

@test "login: the dummy hash never lets anyone in, whatever the password" {
	for pw in x "$AUTH_PW" password; do
		login nobody "$pw"
		assert_code 401
	done
}

@test "login: missing, empty and mistyped members are 400 listing each" {
	post_json /api/auth/login '{}'
	assert_code 400
	[ "$(jq -r '[.errors[] | "\(.field):\(.code)"] | sort | join(" ")' <<<"$body")" = "password:required usernameOrEmail:required" ]
	post_json /api/auth/login '{"usernameOrEmail":"","password":""}'
	assert_code 400
	post_json /api/auth/login '{"usernameOrEmail":5,"password":["x"],"rememberMe":"yes"}'
	assert_code 400
	[ "$(jq -r '[.errors[] | "\(.field):\(.code)"] | sort | join(" ")' <<<"$body")" = "password:invalid_type rememberMe:invalid_type usernameOrEmail:invalid_type" ]
	post_json /api/auth/login "{\"usernameOrEmail\":\"$(printf 'a%.0s' {1..321})\",\"password\":\"x\"}"
	assert_code 400
	[ "$(field '.errors[0].code')" = too_long ]
	post_json /api/auth/login '{"usernameOrEmail":"a\u0000b","password":"x"}'
	assert_code 400
	[ "$(field '.errors[0].code')" = invalid_characters ]
	# none of these reached the counters
	[ "$(psql_auth "SELECT count(*) FROM login_address_failures")" = 0 ]
}

@test "hygiene: 415, 400 for malformed JSON, invalid UTF-8 and non-objects, 413, all JSON" {
	api POST /api/auth/login -H 'Content-Type: text/plain' --data-binary '{"usernameOrEmail":"a","password":"b"}'
	assert_code 415
	[ "$(field .error)" = unsupported_media_type ]
	post_json /api/auth/login '{"usernameOrEmail":"a",'
	assert_code 400
	[ "$(field .error)" = malformed_json ]
	post_json /api/auth/login '["a","b"]'
	assert_code 400
	api POST /api/auth/login -H 'Content-Type: application/json' --data-binary $'{"usernameOrEmail":"\xc3\x28","password":"b"}'
	assert_code 400
	[ "$(field .error)" = invalid_utf8 ]
	post_json /api/auth/refresh '{"refreshToken":'
	assert_code 400
	api POST /api/auth/refresh -H 'Content-Type: text/plain' --data-binary '{}'
	assert_code 415
	# over 16 KiB: refused by lighttpd, answered as JSON by magenta-auth
	big=$(head -c 20000 /dev/zero | tr '\0' 'a')
	post_json /api/auth/login "{\"usernameOrEmail\":\"$big\",\"password\":\"x\"}"
	assert_code 413
	[ "$(field .error)" = payload_too_large ]
	grep -q '^content-type: application/json' <<<"$headers"
}

@test "hygiene: 405 with Allow, 404 JSON for unknown paths" {
	api GET /api/auth/login
	assert_code 405
	[ "$(header Allow)" = POST ]
	[ "$(field .error)" = method_not_allowed ]
	api POST /api/auth/me --data-binary ""
	assert_code 405
	[ "$(header Allow)" = GET ]
	api DELETE /.well-known/jwks.json
	assert_code 405
	api GET /api/auth/nothing-here
	assert_code 404
	[ "$(field .error)" = not_found ]
	# the rest of /.well-known/ (ACME challenges, …) is the web server's
	api GET /.well-known/acme-challenge/token
	assert_code 404
	[ "$(grep -c '^content-type: application/json' <<<"$headers")" = 0 ]
}

@test "health and ready" {
	api GET /api/auth/health
	assert_code 200
	[ "$body" = '{"status":"ok","service":"auth"}' ]
	api GET /api/auth/ready
	assert_code 200
	[ "$(field .database)" = up ]
	[[ "$(field .signingKey)" =~ ^[A-Za-z0-9_-]{43}$ ]]
}

@test "PostgreSQL down: 503 with Retry-After from login and ready; back up, login works again" {
	seed_user Frank frank@example.com >/dev/null
	stack_pg_stop >/dev/null
	login Frank
	assert_code 503
	[ -n "$(header Retry-After)" ]
	api GET /api/auth/ready
	assert_code 503
	api GET /api/auth/health
	assert_code 200
	stack_pg_start >/dev/null
	login Frank
	assert_code 200
}

@test "login: no password, hash or token in the logs" {
	seed_user Grace grace@example.com >/dev/null
	login Grace 'a wrong password for the log check'
	login Grace
	assert_code 200
	rt=$(field .refreshToken)
	at=$(field .accessToken)
	refresh "$rt"
	assert_code 200
	log=$STACK_DIR/log/lighttpd-error.log
	wait_until 5 grep -q 'event=refresh_ok' "$log"
	! grep -qF 'a wrong password for the log check' "$log" || false
	! grep -qF -e "$AUTH_PW" "$log" || false
	! grep -qF -e "$rt" "$log" || false
	! grep -qF -e "${at%%.*}.${at#*.}" "$log" || false
	! grep -qF '$argon2id$' "$log" || false
}

# user_arrived ID: the consumer has applied the user's creation.
user_arrived() {
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE id = '$1'")" = 1 ]
}

@test "end to end: register, the event reaches the auth database, log in by username and by email" {
	_stack_pid_read "$STACK_DIR/relay.pid" >/dev/null && _stack_pid_read "$STACK_DIR/consumer.pid" >/dev/null ||
		skip "the event pipeline (magenta-relay, magenta-consumer) is not running"
	post_json /api/registration/register '{"username":"testuser","email":"test@example.com","password":"TestPassword123!","confirmPassword":"TestPassword123!"}'
	assert_code 201
	id=$(field .userId)
	wait_until 15 user_arrived "$id"
	login testuser 'TestPassword123!'
	assert_code 200
	[ "$(field .user.id)" = "$id" ]
	login test@example.com 'TestPassword123!'
	assert_code 200
	me "$(field .accessToken)"
	assert_code 200
	[ "$(field .username)" = testuser ]
}

