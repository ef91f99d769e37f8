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

@test "login: an unknown user still costs an argon2id verification" {
	seed_user Erin erin@example.com >/dev/null
	# median of five timings each; without the dummy verification the
	# unknown user would answer in a small fraction of the time
	t_known=() t_unknown=()
	for i in 1 2 3 4 5; do
		t_known+=("$(curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' \
			--data-binary '{"usernameOrEmail":"Erin","password":"wrong password"}' "$BASE_URL/api/auth/login")")
		t_unknown+=("$(curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' \
			--data-binary '{"usernameOrEmail":"Nobody","password":"wrong password"}' "$BASE_URL/api/auth/login")")
	done
	mk=$(printf '%s\n' "${t_known[@]}" | sort -n | sed -n 3p)
	mu=$(printf '%s\n' "${t_unknown[@]}" | sort -n | sed -n 3p)
	echo "median known $mk s, unknown $mu s"
	awk -v k="$mk" -v u="$mu" 'BEGIN { exit !(u >= 0.5 * k) }'
}

@test "login: its worker runs as SCHED_BATCH while it hashes, and as SCHED_OTHER again once it has answered" {
	local sock=$BATS_TEST_TMPDIR/auth.sock
	# a program of its own, with a verification of about a third of a second
	fcgi_program auth "$sock" 2 MAGENTA_ARGON2_OPSLIMIT=64
	batch_while_serving "$sock" /api/auth/login '{"usernameOrEmail":"nobody","password":"whatever it may be"}'
	grep -q '^Status: 401' "$BATS_TEST_TMPDIR/answer"
	fcgi_program_stop
}

# _regions "FLAG..." PID...: how many of these processes' mappings of at
# least 8 MiB have all these VmFlags: "wf dd" for a worker's private argon2id
# region (wiped on fork, out of core files), "sh dd" for the slots' shared
# one (lib/pwhash.c).
_regions() {
	local flags=$1 p n=0
	shift
	for p in "$@"; do
		n=$((n + $(awk -v want="$flags" '/^[0-9a-f]+-[0-9a-f]+ / { size = 0 } /^Size:/ { size = $2 }
			/^VmFlags:/ && size >= 8192 { k = split(want, f, " "); ok = 1
				for (i = 1; i <= k; i++) if (index($0, " " f[i]) == 0) ok = 0
				n += ok } END { print n + 0 }' "/proc/$p/smaps")))
	done
	echo "$n"
}

# _huge_kb PID...: kB of shared memory these processes map with huge pages
# (ShmemPmdMapped): the slots' pool is collapsed into huge pages by the
# supervisor (MADV_COLLAPSE, Linux 6.1 on), whatever shmem_enabled says.
_huge_kb() {
	local p n=0
	for p in "$@"; do
		n=$((n + $(awk '/^ShmemPmdMapped:/ { n += $2 } END { print n + 0 }' "/proc/$p/smaps")))
	done
	echo "$n"
}

# _login_via SOCK: one login of an unknown user straight to a FastCGI socket.
_login_via() {
	fcgi_post "$1" /api/auth/login '{"usernameOrEmail":"nobody","password":"whatever it may be"}' |
		grep -q '^Status: 401'
}

@test "login: argon2id's memory is kept — per worker without slots, one shared region per slot in huge pages with them — and not with argon2_keep_memory = off" {
	local n sock=$BATS_TEST_TMPDIR/auth.sock
	# 2 workers, 2 slots: no slots (never more than workers), private regions
	fcgi_program auth "$sock" 2 MAGENTA_ARGON2_CONCURRENCY=2 MAGENTA_ARGON2_MEMLIMIT_KIB=8192
	grep -q "event=start pid=$prog_pid procs=2 argon2_slots=unlimited argon2_memory=per-worker " "$sock.log"
	# the supervisor made the dummy hash, and gave its region back
	[ "$(_regions "wf dd" "$prog_pid")" = 0 ]
	[ "$(_regions "wf dd" "${prog_kids[@]}")" = 0 ]
	_login_via "$sock"
	[ "$(_regions "wf dd" "${prog_kids[@]}")" = 1 ]
	_login_via "$sock"
	_login_via "$sock"
	# one region per worker that has verified, never more
	n=$(_regions "wf dd" "${prog_kids[@]}")
	[ "$n" = 1 ] || [ "$n" = 2 ]
	[ "$(_regions "wf dd" "$prog_pid")" = 0 ]
	[ "$(_regions "sh dd" "$prog_pid" "${prog_kids[@]}")" = 0 ]
	fcgi_program_stop

	# 3 workers, 1 slot: the slot's one region, made by the supervisor and
	# used by whichever worker holds the slot; no private ones
	fcgi_program auth "$sock.pool" 3 MAGENTA_ARGON2_CONCURRENCY=1 MAGENTA_ARGON2_MEMLIMIT_KIB=8192
	grep -q "event=start pid=$prog_pid procs=3 argon2_slots=1 argon2_semid=[0-9]* argon2_memory=per-slot " "$sock.pool.log"
	[ "$(_regions "sh dd" "$prog_pid")" = 1 ]
	[ "$(_huge_kb "$prog_pid")" -ge 8192 ]
	for n in 1 2 3 4; do _login_via "$sock.pool"; done
	[ "$(_regions "sh dd" "${prog_kids[@]}")" = 3 ]
	# and the workers that used it map it with huge pages too
	[ "$(_huge_kb "${prog_kids[@]}")" -ge 8192 ]
	[ "$(_regions "wf dd" "$prog_pid" "${prog_kids[@]}")" = 0 ]
	fcgi_program_stop

	fcgi_program auth "$sock.off" 1 MAGENTA_ARGON2_KEEP_MEMORY=off MAGENTA_ARGON2_MEMLIMIT_KIB=8192
	grep -q "event=start pid=$prog_pid procs=1 argon2_memory=off " "$sock.off.log"
	_login_via "$sock.off"
	_login_via "$sock.off"
	[ "$(_regions "wf dd" "$prog_pid")" = 0 ]
	fcgi_program_stop
}

# _affinities PID...: each process's CPU list (Cpus_allowed_list), sorted.
_affinities() {
	local p
	for p in "$@"; do
		awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$p/status"
	done | sort
}

# _affinities_are WANT PID...: whether their sorted CPU lists are WANT.
_affinities_are() {
	[ "$(_affinities "${@:2}")" = "$1" ]
}

# _cpu_nth LIST N: the N-th CPU (0-based) of a CPU list, empty when none.
_cpu_nth() {
	tr ',' '\n' <<<"$1" | awk -F- -v n="$2" '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++)
		if (k++ == n) { print c; exit } }'
}

# _until_affinities WANT SOCK URI BODY: send the request (POST BODY, or
# GET when empty) until the workers' sorted CPU lists are WANT (40 at most).
_until_affinities() {
	local i
	for i in $(seq 40); do
		if [[ -n $4 ]]; then
			fcgi_post "$2" "$3" "$4" >/dev/null
		else
			env -i REQUEST_METHOD=GET REQUEST_URI="$3" REMOTE_ADDR=127.0.0.1 \
				cgi-fcgi -bind -connect "$2" >/dev/null 3>&-
		fi
		_affinities_are "$1" "${prog_kids[@]}" && return 0
	done
	return 1
}

# _login_burst SOCK: 24 logins, 6 at once (more than the 2 slots).
_login_burst() {
	local k pids=()
	for k in 1 2 3 4 5 6; do
		(for n in 1 2 3 4; do _login_via "$1" || exit 1; done) 3>&- &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k"; done
}

@test "login: with argon2 slots tied to CPUs, logins under load are served, and requests that do not hash leave every worker free; argon2_pin_cpus = off pins none" {
	local sock=$BATS_TEST_TMPDIR/auth.sock all c1 want
	all=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status)
	c1=$(_cpu_nth "$all" 1)
	[[ -n $c1 ]] || skip "one CPU: nothing to spread"
	# (which CPU each hash runs on, and when a worker stays on its slot's
	# CPU: tests/unit/test_pwhash.c, where the slots can be held by hand)
	# (failed logins from one address: not the per-address limit's test)
	fcgi_program auth "$sock" 5 MAGENTA_ARGON2_CONCURRENCY=2 MAGENTA_ARGON2_MEMLIMIT_KIB=8192 \
		MAGENTA_IP_FAIL_LIMIT=1000
	grep -q "event=start pid=$prog_pid procs=5 argon2_slots=2 .* argon2_pin=on " "$sock.log"
	_affinities_are "$(printf '%s\n' "$all" "$all" "$all" "$all" "$all")" "${prog_kids[@]}"
	_login_burst "$sock"
	[ "$(_affinities "$prog_pid")" = "$all" ]
	want=$(printf '%s\n' "$all" "$all" "$all" "$all" "$all")
	_until_affinities "$want" "$sock" /api/auth/health ""
	fcgi_program_stop

	fcgi_program auth "$sock.off" 4 MAGENTA_ARGON2_CONCURRENCY=2 MAGENTA_ARGON2_PIN_CPUS=off \
		MAGENTA_ARGON2_MEMLIMIT_KIB=8192 MAGENTA_IP_FAIL_LIMIT=1000
	grep -q "event=start pid=$prog_pid procs=4 argon2_slots=2 .* argon2_pin=off " "$sock.off.log"
	_login_burst "$sock.off"
	[ "$(_affinities "${prog_kids[@]}" | sort -u)" = "$all" ]
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
	! grep -qF "$AUTH_PW" "$log" || false
	! grep -qF "$rt" "$log" || false
	! grep -qF "${at%%.*}.${at#*.}" "$log" || false
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

