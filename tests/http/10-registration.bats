#!/usr/bin/env bats
# POST /api/registration/register and the registration service's health,
# through lighttpd, against the private PostgreSQL.

load ../lib/common

PW='TestPassword123!'

# A test that stopped the relay and failed half-way must not leave it stopped.
teardown() {
	stack_daemon_start relay >/dev/null
	psql_users 'ALTER TABLE users DROP CONSTRAINT IF EXISTS test_refuse' >/dev/null
}

# register USERNAME EMAIL [PASSWORD [CONFIRM]]: POST the seed's body.
register() {
	local pw="${3:-$PW}" confirm="${4:-${3:-$PW}}"
	api POST /api/registration/register -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg u "$1" --arg e "$2" --arg p "$pw" --arg c "$confirm" \
			'{username:$u,email:$e,password:$p,confirmPassword:$c}')"
}

# post_raw BODY [content-type]: POST exactly these bytes.
post_raw() {
	api POST /api/registration/register -H "Content-Type: ${2:-application/json}" --data-binary "$1"
}

# error_codes: "field:code" of every error in $body, one per line, sorted.
error_codes() {
	jq -r '.errors[] | "\(.field):\(.code)"' <<<"$body" | sort
}

@test "register: 201 with Location, the seed's fields, email lower-cased" {
	register testuser Test@Example.COM
	[ "$code" = 201 ]
	id=$(jq -r .userId <<<"$body")
	[[ "$id" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	[ "$(jq -r .success <<<"$body")" = true ]
	[ "$(jq -r .username <<<"$body")" = testuser ]
	[ "$(jq -r .email <<<"$body")" = test@example.com ]
	grep -qi "^location: /api/registration/users/$id" <<<"$headers"
	grep -qi '^content-type: application/json' <<<"$headers"
	[ "$(psql_users "SELECT username || ' ' || email || ' ' || version FROM users WHERE id = '$id'")" = "testuser test@example.com 1" ]
}

@test "register: the stored hash is argon2id with the configured cost and never the password" {
	register hashcheck hash@example.com
	[ "$code" = 201 ]
	hash=$(psql_users "SELECT password_hash FROM users WHERE username = 'hashcheck'")
	[[ "$hash" == '$argon2id$v=19$m=19456,t=2,p=1$'* ]]
	[[ "$hash" != *"$PW"* ]]
	# the password appears nowhere in either table
	[ "$(psql_users "SELECT count(*) FROM users u, outbox o WHERE u::text LIKE '%TestPassword123%' OR o::text LIKE '%TestPassword123%'")" = 0 ]
	# and the security stamp is a fresh random value
	stamp=$(psql_users "SELECT security_stamp FROM users WHERE username = 'hashcheck'")
	[[ "$stamp" =~ ^[0-9a-f]{32}$ ]]
}

@test "register: the UserCreated outbox row carries the full envelope, written in the same transaction" {
	# the relay would publish (and so rewrite) the row: hold it for this test
	stack_daemon_stop relay
	register outboxer Outboxer@Example.com
	[ "$code" = 201 ]
	id=$(jq -r .userId <<<"$body")
	# same transaction: the two rows were written by the same xid (the relay
	# was stopped until the request was answered and has not touched the row)
	[ "$(psql_users "SELECT count(*) FROM users u JOIN outbox o ON o.aggregate_id = u.id WHERE u.id = '$id' AND u.xmin = o.xmin")" = 1 ]
	row=$(psql_users "SELECT routing_key || ' ' || event_type || ' ' || aggregate_version || ' ' || (published_at IS NULL) || ' ' || attempts FROM outbox WHERE aggregate_id = '$id'")
	[ "$row" = "user.created UserCreated 1 true 0" ]
	payload=$(psql_users "SELECT payload FROM outbox WHERE aggregate_id = '$id'")
	user=$(psql_users "SELECT json_build_object('hash', password_hash, 'stamp', security_stamp, 'created', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) FROM users WHERE id = '$id'")
	event_id=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$id'")
	[ "$(jq -r .eventId <<<"$payload")" = "$event_id" ]
	[ "$(jq -r .eventType <<<"$payload")" = UserCreated ]
	[ "$(jq -r .schemaVersion <<<"$payload")" = 1 ]
	[ "$(jq -r .userId <<<"$payload")" = "$id" ]
	[ "$(jq -r .version <<<"$payload")" = 1 ]
	[ "$(jq -r 'has("changedFields")' <<<"$payload")" = false ]
	[[ "$(jq -r .occurredAt <<<"$payload")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
	[ "$(jq -r .data.username <<<"$payload")" = outboxer ]
	[ "$(jq -r .data.email <<<"$payload")" = outboxer@example.com ]
	[ "$(jq -r .data.passwordHash <<<"$payload")" = "$(jq -r .hash <<<"$user")" ]
	[ "$(jq -r .data.securityStamp <<<"$payload")" = "$(jq -r .stamp <<<"$user")" ]
	[ "$(jq -r .data.createdAt <<<"$payload")" = "$(jq -r .created <<<"$user")" ]
	[ "$(jq -r .data.emailConfirmed <<<"$payload")" = false ]
	[ "$(jq -r .data.lockoutEnabled <<<"$payload")" = true ]
	[ "$(jq -r .data.lockoutEnd <<<"$payload")" = null ]
	[ "$(jq -r '.data | has("password")' <<<"$payload")" = false ]
	stack_daemon_start relay
}

@test "register: every violation is listed at once" {
	register 'x!' 'not-an-email' 'short' 'different'
	[ "$code" = 400 ]
	[ "$(jq -r .success <<<"$body")" = false ]
	run error_codes
	[ "$output" = "$(printf '%s\n' confirmPassword:mismatch email:invalid_format password:too_short username:invalid_format)" ]
	[ "$(psql_users 'SELECT count(*) FROM users')" = 0 ]
	[ "$(psql_users 'SELECT count(*) FROM outbox')" = 0 ]
}

@test "register: missing fields and wrong types" {
	post_raw '{}'
	[ "$code" = 400 ]
	run error_codes
	[ "$output" = "$(printf '%s\n' confirmPassword:required email:required password:required username:required)" ]
	post_raw '{"username":42,"email":true,"password":["x"],"confirmPassword":null}'
	[ "$code" = 400 ]
	run error_codes
	[ "$output" = "$(printf '%s\n' confirmPassword:required email:invalid_type password:invalid_type username:invalid_type)" ]
}

@test "register: username rules (3-50 of [A-Za-z0-9_-])" {
	register ab ab@example.com
	[ "$code" = 400 ]
	[ "$(error_codes)" = username:invalid_format ]
	register "$(printf 'a%.0s' {1..51})" long@example.com
	[ "$code" = 400 ]
	[ "$(error_codes)" = username:invalid_format ]
	register 'bad name' space@example.com
	[ "$code" = 400 ]
	[ "$(error_codes)" = username:invalid_format ]
	register 'café' cafe@example.com
	[ "$code" = 400 ]
	[ "$(error_codes)" = username:invalid_format ]
	register "$(printf 'a%.0s' {1..50})" fifty@example.com
	[ "$code" = 201 ]
	register Ab_-9 shortest@example.com
	[ "$code" = 201 ]
}

@test "register: email rules (syntax, at most 254 octets)" {
	for bad in plain @example.com 'a@b' 'a@@example.com' 'a b@example.com' '.a@example.com' 'a..b@example.com' 'a@-x.com' 'jörg@example.com'; do
		register emailer "$bad"
		[ "$code" = 400 ] && [ "$(error_codes)" = email:invalid_format ] || { echo "accepted: $bad"; return 1; }
	done
	local253="$(printf 'b%.0s' {1..61})"
	long="a@$local253.$local253.$local253.$local253.comm" # 2 + 4*62 + 4 = 254
	[ ${#long} = 254 ]
	register long254 "$long"
	[ "$code" = 201 ]
	register long255 "${long}m"
	[ "$code" = 400 ]
	[ "$(error_codes)" = email:invalid_format ]
}

@test "register: password length counts Unicode code points (12..128)" {
	register pw11 pw11@example.com 'abcdefghijk'
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:too_short ]
	# 11 emoji are 44 bytes but 11 characters: too short
	register emoji11 emoji11@example.com "$(printf '😀%.0s' {1..11})"
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:too_short ]
	# 12 accented letters are 24 bytes and exactly 12 characters: fine
	register accent12 accent12@example.com "$(printf 'é%.0s' {1..12})"
	[ "$code" = 201 ]
	register pw128 pw128@example.com "$(printf 'x%.0s' {1..127})Y"
	[ "$code" = 201 ]
	register pw129 pw129@example.com "$(printf 'x%.0s' {1..128})Y"
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:too_long ]
	# no composition rules: a long passphrase of lower-case words is fine
	register phrase phrase@example.com 'purple monkey dishwasher'
	[ "$code" = 201 ]
}

@test "register: common passwords are refused, case-insensitively" {
	register common1 common1@example.com 'password1234'
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:common_password ]
	register common2 common2@example.com 'QWERTYUIOP123'
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:common_password ]
}

@test "register: the password may not be the username or the email" {
	register LongUsername12 lu@example.com 'longusername12'
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:matches_identity ]
	register someone some.one@example.com 'Some.One@Example.com'
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:matches_identity ]
}

@test "register: confirmPassword must equal password" {
	register confirmer confirmer@example.com "$PW" "${PW}x"
	[ "$code" = 400 ]
	[ "$(error_codes)" = confirmPassword:mismatch ]
}

@test "register: a taken username or email in another letter case is 409" {
	register Alice alice@example.com
	[ "$code" = 201 ]
	register ALICE other@example.com
	[ "$code" = 409 ]
	[ "$(error_codes)" = username:username_taken ]
	register bob ALICE@EXAMPLE.COM
	[ "$code" = 409 ]
	[ "$(error_codes)" = email:email_taken ]
	register alice Alice@Example.com
	[ "$code" = 409 ]
	[ "$(error_codes)" = "$(printf '%s\n' email:email_taken username:username_taken)" ]
	[ "$(psql_users 'SELECT count(*) FROM users')" = 1 ]
	[ "$(psql_users 'SELECT count(*) FROM outbox')" = 1 ]
}

@test "register: 20 identical requests in parallel give exactly one 201, the rest 409" {
	local req dir="$BATS_TEST_TMPDIR"
	req=$(jq -cn --arg p "$PW" '{username:"racer",email:"racer@example.com",password:$p,confirmPassword:$p}')
	for i in $(seq 20); do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 -X POST "$BASE_URL/api/registration/register" \
			-H 'Content-Type: application/json' --data-binary "$req" >"$dir/r$i" &
	done
	wait
	[ "$(cat "$dir"/r* | grep -c '^201$')" = 1 ]
	[ "$(cat "$dir"/r* | grep -c '^409$')" = 19 ]
	[ "$(psql_users "SELECT count(*) FROM users WHERE username = 'racer'")" = 1 ]
	[ "$(psql_users 'SELECT count(*) FROM outbox')" = 1 ]
}

@test "register: 415 unless the body is application/json" {
	post_raw '{"username":"x"}' 'text/plain'
	[ "$code" = 415 ]
	[ "$(jq -r .error <<<"$body")" = unsupported_media_type ]
	post_raw '{"username":"x"}' 'application/x-www-form-urlencoded'
	[ "$code" = 415 ]
	post_raw '{"username":"x"}' 'application/json; charset=latin1'
	[ "$code" = 415 ]
	# a charset of utf-8 is fine
	post_raw '{}' 'application/json; charset=UTF-8'
	[ "$code" = 400 ]
}

@test "register: 413 above 16 KiB, as JSON, also when lighttpd refuses it" {
	big=$(jq -cn --arg u "$(head -c 20000 /dev/zero | tr '\0' a)" '{username:$u}')
	post_raw "$big"
	[ "$code" = 413 ]
	grep -qi '^content-type: application/json' <<<"$headers"
	[ "$(jq -r .error <<<"$body")" = payload_too_large ]
}

@test "lighttpd's own refusals, before any route applies, are JSON too: 411, 431, 400" {
	# a POST with neither a body nor Content-Length
	api POST /api/registration/register
	[ "$code" = 411 ]
	grep -qi '^content-type: application/json' <<<"$headers"
	[ "$(jq -r .error <<<"$body")" = length_required ]
	[ "$(jq -r '.errors[0].code' <<<"$body")" = length_required ]
	# a header field over lighttpd's limit (server.max-request-field-size)
	api GET /api/registration/health -H "X-Big: $(head -c 10000 /dev/zero | tr '\0' a)"
	[ "$code" = 431 ]
	grep -qi '^content-type: application/json' <<<"$headers"
	[ "$(jq -r .error <<<"$body")" = headers_too_large ]
	# a request line that is no HTTP at all
	raw=$(timeout 10 /usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"NOT A REQUEST\r\n\r\n")
while True:
    b = s.recv(4096)
    if not b:
        break
    sys.stdout.write(b.decode())' "$HTTP_PORT" | tr -d '\r')
	grep -q '^HTTP/1.[01] 400' <<<"$raw"
	grep -qi '^content-type: application/json' <<<"$raw"
	[ "$(sed '1,/^$/d' <<<"$raw" | jq -r .error)" = bad_request ]
}

@test "register: malformed JSON, non-objects, invalid UTF-8, NUL and repeated members are 400" {
	for raw in '{"username":' '{"username":"a",}' "{'username':\"a\"}" '[1,2]' '"text"' '{"a":1} trailing' ''; do
		post_raw "$raw"
		[ "$code" = 400 ] && [ "$(jq -r .error <<<"$body")" = malformed_json ] || { echo "not refused: $raw"; return 1; }
	done
	api POST /api/registration/register -H 'Content-Type: application/json' \
		--data-binary @<(printf '{"username":"ab\xff\xfecd"}')
	[ "$code" = 400 ]
	[ "$(jq -r .error <<<"$body")" = invalid_utf8 ]
	# an overlong encoding of '/' is invalid too
	api POST /api/registration/register -H 'Content-Type: application/json' \
		--data-binary @<(printf '{"username":"\xc0\xaf"}')
	[ "$code" = 400 ]
	[ "$(jq -r .error <<<"$body")" = invalid_utf8 ]
	api POST /api/registration/register -H 'Content-Type: application/json' \
		--data-binary @<(printf '{"username":"ab\x00cd"}')
	[ "$code" = 400 ]
	[ "$(jq -r .error <<<"$body")" = invalid_body ]
	# an escaped NUL inside a string is refused per field
	post_raw '{"username":"ab\u0000cd","email":"a@example.com","password":"TestPassword123!","confirmPassword":"TestPassword123!"}'
	[ "$code" = 400 ]
	[ "$(error_codes)" = username:invalid_characters ]
	# a member named twice: which one would count is a guess
	post_raw '{"username":"twice","email":"t@example.com","password":"TestPassword123!","confirmPassword":"TestPassword123!","username":"other"}'
	[ "$code" = 400 ]
	[ "$(jq -r .error <<<"$body")" = duplicate_member ]
	[ "$(psql_users 'SELECT count(*) FROM users')" = 0 ]
}

@test "register: 405 with Allow for another method; unknown paths are JSON 404" {
	api GET /api/registration/register
	[ "$code" = 405 ]
	grep -qi '^allow: POST' <<<"$headers"
	[ "$(jq -r .error <<<"$body")" = method_not_allowed ]
	api DELETE /api/registration/register
	[ "$code" = 405 ]
	api GET /api/registration/no-such-thing
	[ "$code" = 404 ]
	[ "$(jq -r .error <<<"$body")" = not_found ]
	grep -qi '^content-type: application/json' <<<"$headers"
}

@test "register: a sane X-Request-Id is echoed, an unsafe one replaced" {
	api GET /api/registration/health -H 'X-Request-Id: abc-123.test_1'
	grep -qi '^x-request-id: abc-123.test_1' <<<"$headers"
	api GET /api/registration/health -H 'X-Request-Id: bad id with spaces'
	run grep -ci '^x-request-id: bad' <<<"$headers"
	[ "$output" = 0 ]
	grep -qiE '^x-request-id: [0-9a-f-]{36}' <<<"$headers"
}

@test "health and ready answer JSON" {
	api GET /api/registration/health
	[ "$code" = 200 ]
	[ "$(jq -r .status <<<"$body")" = ok ]
	api GET /api/registration/ready
	[ "$code" = 200 ]
	[ "$(jq -r .database <<<"$body")" = up ]
}

@test "register: a statement the database refuses is 500, logged with its constraint and SQLSTATE but never the row (no hash, no email)" {
	local log=$STACK_DIR/log/lighttpd-error.log before
	# a constraint the service's validation does not know: PostgreSQL's
	# DETAIL would be "Failing row contains (..., the hash, ...)"
	psql_users "ALTER TABLE users ADD CONSTRAINT test_refuse CHECK (username <> 'refused')"
	before=$(wc -l <"$log")
	register refused refused-mail@example.com
	[ "$code" = 500 ]
	[ "$(jq -r .error <<<"$body")" = internal_error ]
	wait_until 10 eval 'tail -n +$((before + 1)) "$log" | grep -q "event=db_error what=register_insert"'
	tail -n +$((before + 1)) "$log" | grep "event=db_error what=register_insert" >"$BATS_TEST_TMPDIR/line"
	grep -q 'sqlstate=23514 constraint="test_refuse" err="new row for relation' "$BATS_TEST_TMPDIR/line"
	! grep -qiE 'argon2|refused-mail|Failing row|DETAIL' "$BATS_TEST_TMPDIR/line" || false
	[ "$(psql_users 'SELECT count(*) FROM users')" = 0 ]
	[ "$(psql_users 'SELECT count(*) FROM outbox')" = 0 ]
}

@test "PostgreSQL down: 503 with Retry-After, nothing half-written; back: 201 without a restart" {
	register before before@example.com
	[ "$code" = 201 ]
	stack_pg_stop
	register during during@example.com
	[ "$code" = 503 ]
	grep -qiE '^retry-after: [0-9]+' <<<"$headers"
	[ "$(jq -r .error <<<"$body")" = service_unavailable ]
	api GET /api/registration/ready
	[ "$code" = 503 ]
	[ "$(jq -r .database <<<"$body")" = down ]
	api GET /api/registration/health
	[ "$code" = 200 ]
	stack_pg_start
	register after after@example.com
	[ "$code" = 201 ]
	register during during@example.com
	[ "$code" = 201 ]
	[ "$(psql_users 'SELECT count(*) FROM users')" = 3 ]
	[ "$(psql_users 'SELECT count(*) FROM outbox')" = 3 ]
	# every user has exactly its one event
	[ "$(psql_users 'SELECT count(*) FROM users u JOIN outbox o ON o.aggregate_id = u.id')" = 3 ]
}

@test "PostgreSQL restarted between requests: the very next registration is 201 (a broken connection is retried once)" {
	# give every FastCGI process a connection, then make them all stale
	for i in $(seq 12); do
		api GET /api/registration/ready
		[ "$code" = 200 ]
	done
	stack_pg_stop
	stack_pg_start
	for i in 1 2 3 4 5 6; do
		register "restart$i" "restart$i@example.com"
		[ "$code" = 201 ] || { echo "registration $i after the restart: $code $body"; return 1; }
	done
	[ "$(psql_users "SELECT count(*) FROM users u JOIN outbox o ON o.aggregate_id = u.id WHERE u.username LIKE 'restart%'")" = 6 ]
}

@test "configuration: body_limit, password_min and the john-data blocklist take effect" {
	[ -f /usr/share/john/password.lst ] || skip "john-data not installed"
	MAGENTA_BODY_LIMIT=1024 MAGENTA_PASSWORD_MIN=8 stack_lighttpd_restart
	big=$(jq -cn --arg u "$(head -c 2000 /dev/zero | tr '\0' a)" '{username:$u}')
	post_raw "$big"
	[ "$code" = 413 ]
	[[ "$(jq -r .message <<<"$body")" == *1024* ]]
	register eightchar eight@example.com 'zq8#Lm2!'
	[ "$code" = 201 ]
	# "qwertyuiop" is in john-data's password.lst, not in ours
	register johnlist john@example.com qwertyuiop
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:common_password ]
	stack_lighttpd_restart
	register eightchar2 eight2@example.com 'zq8#Lm2!'
	[ "$code" = 400 ]
	[ "$(error_codes)" = password:too_short ]
}
