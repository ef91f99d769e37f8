#!/usr/bin/env bats
# A database that hangs (up, but answering nothing: every PostgreSQL
# process stopped with SIGSTOP) must not hang the services: a request that
# needs it answers 503 once pg_query_timeout_ms (or pg_connect_timeout)
# has passed, /health answers without it, and service is back once the
# database answers again (docs/auth.md "Durability").

load ../lib/common
load 30-auth

# curl gives up after this long (the answers come within about 2 s): a
# request that hangs on the stopped database gets no answer (code 000).
API_MAX_TIME=20

setup_file() {
	auth_config pg_query_timeout_ms=1500 pg_connect_timeout=2
}

teardown_file() {
	auth_config_restore
}

# Always resume the database: the rest of the suite needs it; and stop
# the test's own program, if any.
teardown() {
	pg_resume
	[[ -n ${prog_pid:-} ]] && kill -TERM "$prog_pid" 2>/dev/null
	true
}

# Stop (SIGSTOP) the postmaster and every server process (sets FROZEN).
pg_freeze() {
	local pm
	read -r pm _ <"$STACK_DIR/postgres.pid"
	mapfile -t FROZEN < <(pgrep -P "$pm")
	FROZEN+=("$pm")
	kill -STOP "${FROZEN[@]}"
}

# Resume what pg_freeze stopped.
pg_resume() {
	if ((${#FROZEN[@]})); then
		kill -CONT "${FROZEN[@]}" 2>/dev/null || true
		FROZEN=()
	fi
}

register_body() {
	jq -cn --arg u "$1" --arg p "$AUTH_PW" \
		'{username:$u,email:($u + "@example.com"),password:$p,confirmPassword:$p}'
}

# A login and a registration (of a new name) go through.
served() {
	login Hank
	[[ $code == 200 ]] || return 1
	post_json /api/registration/register "$(register_body "after$RANDOM$RANDOM")"
	[[ $code == 201 ]]
}

@test "hang: with PostgreSQL stopped, /health is 200, login, refresh, register and /ready 503; resumed, all is back" {
	FROZEN=()
	seed_user Hank hank@example.com >/dev/null
	login Hank
	assert_code 200
	rt=$(field .refreshToken)
	post_json /api/registration/register "$(register_body before)"
	assert_code 201

	pg_freeze
	api GET /api/auth/health
	assert_code 200
	api GET /api/registration/health
	assert_code 200
	login Hank
	assert_code 503
	[ "$(header Retry-After)" = 5 ]
	refresh "$rt"
	assert_code 503
	post_json /api/registration/register "$(register_body during)"
	assert_code 503
	api GET /api/auth/ready
	assert_code 503
	api GET /api/registration/ready
	assert_code 503
	# twice: a connection dropped for a time-out is not waited on again
	login Hank
	assert_code 503
	# logged as a time-out (a connected worker) or as down (one that had
	# to connect); the programs log to lighttpd's error log
	grep -qE 'event=db_(timeout|down) db=MagentaAuthentication' "$STACK_DIR/log/lighttpd-error.log"
	grep -qE 'event=db_(timeout|down) db=MagentaUsers' "$STACK_DIR/log/lighttpd-error.log"

	pg_resume
	wait_until 30 served
	api GET /api/auth/ready
	assert_code 200
	api GET /api/registration/ready
	assert_code 200
}

# SOCK URI BODY: the first line of a program's answer, within 20 s ("" if
# it does not answer by then).
fcgi_status() {
	timeout 20 bash -c 'printf "%s" "$3" | env -i REQUEST_METHOD=POST REQUEST_URI="$2" \
		CONTENT_TYPE=application/json CONTENT_LENGTH=${#3} REMOTE_ADDR=127.0.0.1 \
		cgi-fcgi -bind -connect "$1" 3>&-' _ "$@" | head -n 1 | tr -d '\r' || true
}

@test "hang: a worker whose connection is open answers 503 when the stopped database does not answer, then reconnects" {
	FROZEN=()
	local sock=$BATS_TEST_TMPDIR/auth.sock
	local body='{"usernameOrEmail":"Hank","password":"correct horse battery staple"}'
	seed_user Hank hank@example.com >/dev/null
	# one worker: the connection its first login opened is the one used
	fcgi_program auth "$sock" 1 MAGENTA_PG_QUERY_TIMEOUT_MS=1500
	[ "$(fcgi_status "$sock" /api/auth/login "$body")" = "Status: 200 OK" ]
	pg_freeze
	[[ $(fcgi_status "$sock" /api/auth/login "$body") == "Status: 503 "* ]]
	grep -q 'event=db_timeout db=MagentaAuthentication timeout_ms=1500' "$sock.log"
	pg_resume
	wait_until 30 eval '[ "$(fcgi_status "$sock" /api/auth/login "$body")" = "Status: 200 OK" ]'
	grep -q 'event=db_up db=MagentaAuthentication' "$sock.log"
	fcgi_program_stop
	prog_pid=
}
