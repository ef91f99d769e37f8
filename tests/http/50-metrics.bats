#!/usr/bin/env bats
# Metrics (issue 20; docs/operations.md, "Metrics"): GET
# /api/registration/metrics and /api/auth/metrics in the Prometheus text
# format 0.0.4, read with a real parser (python3-prometheus-client); the
# counters move by what the traffic did; they are the whole program's (the
# stack's lighttpd runs 4 workers per program); a SIGHUP reload keeps them;
# only 127.0.0.1 may read them, through lighttpd, Apache and the program.

load ../lib/common
load 30-auth

PY=/usr/bin/python3

setup_file() {
	# a reused refresh token is reuse at once, not after a grace period
	auth_config refresh_grace=0
}

teardown_file() {
	auth_config_restore
}

teardown() {
	[[ -n ${prog_pid:-} ]] && kill -KILL "$prog_pid" "${prog_kids[@]}" 2>/dev/null
	if [[ -n ${APACHE_UP:-} ]]; then
		stack_apache_stop >/dev/null
		stack_spawnfcgi_stop >/dev/null
	fi
	return 0
}

# scrape SERVICE: GET /api/SERVICE/metrics into $BATS_TEST_TMPDIR/SERVICE.prom
# (also $code, $headers); fails unless 200.
scrape() {
	api GET "/api/$1/metrics"
	assert_code 200
	cp "$body_file" "$BATS_TEST_TMPDIR/$1.prom"
}

# value FILE NAME [LABELS_JSON]: the sum of the samples NAME whose labels
# include LABELS_JSON, as the parser reads FILE (0 when none).
value() { "$PY" "$BATS_TEST_DIRNAME/../tools/prom-text.py" value "$@"; }

# check_text FILE FAMILY:TYPE...: FILE parses, each FAMILY is there with its
# TYPE, every sample is the registration's or the auth's
# (tests/tools/prom-text.py check says the rest).
check_text() { "$PY" "$BATS_TEST_DIRNAME/../tools/prom-text.py" check "$1" registration,auth "${@:2}"; }

@test "metrics: both endpoints answer text/plain 0.0.4 that prometheus_client parses, with every family and type" {
	scrape registration
	[ "$(header content-type)" = "text/plain; version=0.0.4; charset=utf-8" ]
	check_text "$BATS_TEST_TMPDIR/registration.prom" \
		magenta_http_requests:counter magenta_http_request_duration_seconds:histogram \
		magenta_argon2_hashes:counter magenta_argon2_wait_seconds:histogram \
		magenta_workers:gauge magenta_start_time_seconds:gauge
	scrape auth
	[ "$(header content-type)" = "text/plain; version=0.0.4; charset=utf-8" ]
	check_text "$BATS_TEST_TMPDIR/auth.prom" \
		magenta_http_requests:counter magenta_http_request_duration_seconds:histogram \
		magenta_argon2_hashes:counter magenta_argon2_wait_seconds:histogram \
		magenta_logins:counter magenta_refresh_rotations:counter \
		magenta_refresh_reuse_detected:counter magenta_tokens_issued:counter \
		magenta_workers:gauge magenta_start_time_seconds:gauge
	# the login families are the auth service's only
	! grep -q '^magenta_logins_total' "$BATS_TEST_TMPDIR/registration.prom" || false
	# every route of the table has its histogram
	[ "$(value "$BATS_TEST_TMPDIR/auth.prom" magenta_http_request_duration_seconds_count \
		'{"route":"/oauth2/token","method":"POST"}')" = 0 ]
	grep -q 'route="/oauth2/token",method="POST",le="+Inf"' "$BATS_TEST_TMPDIR/auth.prom"
	# the stack's lighttpd runs 4 workers per program; started in the last hour
	procs=$(awk '/^var.magenta_procs/ { print $3 }' "$STACK_DIR/lighttpd.conf")
	[ "$(value "$BATS_TEST_TMPDIR/auth.prom" magenta_workers)" = "$procs" ]
	[ "$(value "$BATS_TEST_TMPDIR/registration.prom" magenta_workers)" = "$procs" ]
	start=$(value "$BATS_TEST_TMPDIR/auth.prom" magenta_start_time_seconds)
	((start <= $(date +%s) && start > $(date +%s) - 3600))
}

@test "metrics: a registration, logins good and bad, a refresh and a reused token move the counters they should, by exactly that" {
	local r=$BATS_TEST_TMPDIR/registration.prom a=$BATS_TEST_TMPDIR/auth.prom
	scrape registration
	cp "$r" "$r.0"
	scrape auth
	cp "$a" "$a.0"

	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		'{"username":"metricsuser","email":"metrics@example.com","password":"TestPassword123!","confirmPassword":"TestPassword123!"}'
	assert_code 201
	seed_user Alice alice@example.com >/dev/null
	login Alice
	assert_code 200
	rt=$(field .refreshToken)
	login Alice 'wrong password, surely'
	assert_code 401
	refresh "$rt"
	assert_code 200
	refresh "$rt" # used already, no grace: the session is revoked
	assert_code 401

	scrape registration
	scrape auth
	# delta FILE NAME [LABELS]: NAME's value now less before this test
	delta() {
		local want='{}'
		(($# < 3)) || want=$3
		echo $(($(value "$1" "$2" "$want") - $(value "$1.0" "$2" "$want")))
	}
	[ "$(delta "$r" magenta_http_requests_total \
		'{"route":"/api/registration/register","method":"POST","status":"201"}')" = 1 ]
	[ "$(delta "$r" magenta_http_request_duration_seconds_count \
		'{"route":"/api/registration/register","method":"POST"}')" = 1 ]
	[ "$(delta "$r" magenta_argon2_hashes_total)" = 1 ]
	[ "$(delta "$r" magenta_argon2_wait_seconds_count)" = 1 ]
	# the first scrape counts once it has answered: the second sees it
	[ "$(delta "$r" magenta_http_requests_total \
		'{"route":"/api/registration/metrics","method":"GET","status":"200"}')" = 1 ]

	[ "$(delta "$a" magenta_http_requests_total \
		'{"route":"/api/auth/login","method":"POST","status":"200"}')" = 1 ]
	[ "$(delta "$a" magenta_http_requests_total \
		'{"route":"/api/auth/login","method":"POST","status":"401"}')" = 1 ]
	[ "$(delta "$a" magenta_http_requests_total \
		'{"route":"/api/auth/refresh","method":"POST","status":"200"}')" = 1 ]
	[ "$(delta "$a" magenta_http_requests_total \
		'{"route":"/api/auth/refresh","method":"POST","status":"401"}')" = 1 ]
	[ "$(delta "$a" magenta_http_request_duration_seconds_count '{"route":"/api/auth/login"}')" = 2 ]
	[ "$(delta "$a" magenta_logins_total '{"result":"ok"}')" = 1 ]
	[ "$(delta "$a" magenta_logins_total '{"result":"failed"}')" = 1 ]
	[ "$(delta "$a" magenta_logins_total '{"result":"locked"}')" = 0 ]
	[ "$(delta "$a" magenta_logins_total '{"result":"throttled"}')" = 0 ]
	# two logins, one verification each (a wrong password costs the same)
	[ "$(delta "$a" magenta_argon2_hashes_total)" = 2 ]
	[ "$(delta "$a" magenta_refresh_rotations_total)" = 1 ]
	[ "$(delta "$a" magenta_refresh_reuse_detected_total)" = 1 ]
	# the login's pair and the refresh's pair
	[ "$(delta "$a" magenta_tokens_issued_total '{"kind":"access"}')" = 2 ]
	[ "$(delta "$a" magenta_tokens_issued_total '{"kind":"refresh"}')" = 2 ]
	[ "$(delta "$a" magenta_tokens_issued_total '{"kind":"id"}')" = 0 ]
	[ "$(psql_auth "SELECT revoked_reason FROM sessions")" = refresh_reuse ]
	# no user name, address or token in the text
	! grep -Eq 'Alice|metricsuser|example\.com|127\.0\.0\.1|'"$rt" "$r" "$a" || false
}

@test "metrics: 20 requests spread over the 4 workers add exactly 20; unknown paths are route=\"other\"" {
	local a=$BATS_TEST_TMPDIR/auth.prom
	scrape auth
	cp "$a" "$a.0"
	# in parallel, so that several workers serve them
	for i in $(seq 20); do
		curl -fsS -o /dev/null "$BASE_URL/api/auth/health" &
	done
	wait
	api GET /api/auth/no-such-thing
	assert_code 404
	api GET "/api/auth/$(printf 'x%.0s' $(seq 100))"
	assert_code 404
	scrape auth
	[ "$(($(value "$a" magenta_http_requests_total '{"route":"/api/auth/health","status":"200"}') -
		$(value "$a.0" magenta_http_requests_total '{"route":"/api/auth/health","status":"200"}')))" = 20 ]
	[ "$(($(value "$a" magenta_http_requests_total '{"route":"other","method":"GET","status":"404"}') -
		$(value "$a.0" magenta_http_requests_total '{"route":"other","method":"GET","status":"404"}')))" = 2 ]
	! grep -q 'no-such-thing\|xxxx' "$a" || false
	check_text "$a" magenta_http_requests:counter
}

@test "metrics: 403 from another address (127.0.0.2) for both endpoints, from lighttpd; and from the program itself (metrics_allow)" {
	local port=${BASE_URL##*:}
	for svc in registration auth; do
		API_MAX_TIME=5 _http_call "http://127.0.0.2:$port/api/$svc/metrics" --interface 127.0.0.2
		assert_code 403
		[[ $body != *magenta_* ]]
		# the other routes are open to it
		API_MAX_TIME=5 _http_call "http://127.0.0.2:$port/api/$svc/health" --interface 127.0.0.2
		assert_code 200
	done
	# lighttpd refused them itself: the programs never saw them
	! grep -q 'event=metrics_refused addr="127.0.0.2"' "$STACK_DIR/log/lighttpd-error.log" || false
	# the second lock: straight to a program's socket with REMOTE_ADDR of
	# another host, as a web server without the rule would pass it
	local sock
	sock=$(find "$STACK_DIR/sock" -name 'auth.sock*' -type s | head -n 1)
	[ -n "$sock" ]
	run env -i REQUEST_METHOD=GET REQUEST_URI=/api/auth/metrics REMOTE_ADDR=10.1.2.3 \
		cgi-fcgi -bind -connect "$sock" 3>&-
	[[ ${lines[0]} == "Status: 403 Forbidden"* ]]
	[[ $output != *magenta_http* ]]
	run env -i REQUEST_METHOD=GET REQUEST_URI=/api/auth/metrics REMOTE_ADDR=127.0.0.1 \
		cgi-fcgi -bind -connect "$sock" 3>&-
	[[ ${lines[0]} == "Status: 200 OK"* ]]
	[[ $output == *magenta_http_requests_total* ]]
}

# fcgi_get SOCK URI: GET straight to a FastCGI socket from 127.0.0.1; the body.
fcgi_get() {
	env -i REQUEST_METHOD=GET REQUEST_URI="$2" REMOTE_ADDR=127.0.0.1 \
		cgi-fcgi -bind -connect "$1" 2>/dev/null 3>&- | tr -d '\r' | sed '1,/^$/d'
}

# health_count FILE: GET /api/auth/health answered 200, in FILE.
health_count() {
	value "$1" magenta_http_requests_total '{"route":"/api/auth/health","status":"200"}'
}

@test "metrics: a SIGHUP reload keeps the counts, with -p 2 (workers replaced) and with one process" {
	local sock=$BATS_TEST_TMPDIR/auth.sock m=$BATS_TEST_TMPDIR/m.prom procs start
	for procs in 2 1; do
		rm -f "$sock" "$sock.log"
		fcgi_program auth "$sock" "$procs"
		for i in 1 2 3 4 5; do
			fcgi_get "$sock" /api/auth/health >/dev/null
		done
		fcgi_get "$sock" /api/auth/metrics >"$m"
		[ "$(health_count "$m")" = 5 ]
		[ "$(value "$m" magenta_workers)" = "$procs" ]
		start=$(value "$m" magenta_start_time_seconds)
		kill -HUP "$prog_pid"
		wait_until 20 grep -q "event=reload pid=$prog_pid " "$sock.log"
		if ((procs > 1)); then
			wait_until 20 eval '[ "$(grep -c "event=worker_replaced" "$sock.log")" = 2 ]'
		fi
		for i in 1 2 3; do
			fcgi_get "$sock" /api/auth/health >/dev/null
		done
		fcgi_get "$sock" /api/auth/metrics >"$m"
		check_text "$m" magenta_http_requests:counter magenta_workers:gauge
		[ "$(health_count "$m")" = 8 ]
		[ "$(value "$m" magenta_http_requests_total '{"route":"/api/auth/metrics","status":"200"}')" = 1 ]
		[ "$(value "$m" magenta_start_time_seconds)" = "$start" ]
		if ((procs > 1)); then
			# the workers that count now are new ones
			for k in "${prog_kids[@]}"; do
				wait_until 20 eval '! kill -0 '"$k"' 2>/dev/null'
			done
			[ "$(value "$m" magenta_workers)" = "$procs" ]
		fi
		fcgi_program_stop
		prog_pid=
	done
}

@test "metrics: through Apache (spawn-fcgi), 200 from 127.0.0.1 and 403 from 127.0.0.2" {
	APACHE_UP=1
	stack_spawnfcgi_start >/dev/null
	stack_apache_start >/dev/null
	local port=${APACHE_URL##*:}
	for svc in registration auth; do
		_http_call "$APACHE_URL/api/$svc/metrics"
		assert_code 200
		[[ $body == *"magenta_workers{service=\"$svc\"}"* ]]
		API_MAX_TIME=5 _http_call "http://127.0.0.2:$port/api/$svc/metrics" --interface 127.0.0.2
		assert_code 403
		[[ $body != *magenta_* ]]
	done
	# Apache refused them itself (Require ip): the programs never saw them
	! grep -q 'event=metrics_refused addr="127.0.0.2"' "$STACK_DIR"/log/spawnfcgi-*.log || false
}

@test "metrics: var.magenta_metrics_allow and metrics_allow let another address in, and only it" {
	# lighttpd restarted with the variable set, the programs with their key
	STACK_METRICS_ALLOW='127\.0\.0\.2' auth_config refresh_grace=0 'metrics_allow = 127.0.0.1 127.0.0.2/32'
	grep -q '^var.magenta_metrics_allow = "127\\.0\\.0\\.2"$' "$STACK_DIR/lighttpd.conf"
	local port=${BASE_URL##*:}
	for svc in registration auth; do
		API_MAX_TIME=5 _http_call "http://127.0.0.2:$port/api/$svc/metrics" --interface 127.0.0.2
		assert_code 200
		[[ $body == *"magenta_workers{service=\"$svc\"}"* ]]
		api GET "/api/$svc/metrics"
		assert_code 200
	done
	# the program alone still refuses an address outside its list
	local sock
	sock=$(find "$STACK_DIR/sock" -name 'auth.sock*' -type s | head -n 1)
	run env -i REQUEST_METHOD=GET REQUEST_URI=/api/auth/metrics REMOTE_ADDR=127.0.0.3 \
		cgi-fcgi -bind -connect "$sock" 3>&-
	[[ ${lines[0]} == "Status: 403 Forbidden"* ]]
	# back to the default for the rest of the file
	auth_config refresh_grace=0
	API_MAX_TIME=5 _http_call "http://127.0.0.2:$port/api/auth/metrics" --interface 127.0.0.2
	assert_code 403
}
