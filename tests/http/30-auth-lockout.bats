#!/usr/bin/env bats
# Brute-force protection of POST /api/auth/login: the per-account lockout
# (short windows configured here: 2 s doubling up to 4 s), the
# administrator's lock from the registration side, and the per-address
# limit (here 8 failures a minute, with 127.0.0.1 a trusted proxy so each
# test can speak for its own client address through X-Forwarded-For).

load ../lib/common
load 30-auth

FILE_CONFIG=(lockout_threshold=5 lockout_base=2 lockout_max=4 ip_fail_limit=8
	trusted_proxies=127.0.0.1)

setup_file() {
	auth_config "${FILE_CONFIG[@]}"
}

# a test that changed the configuration puts the file's back
teardown() {
	if [[ -n ${OWN_CONFIG:-} ]]; then
		auth_config "${FILE_CONFIG[@]}"
	fi
	true
}

teardown_file() {
	auth_config_restore
}

# fail_n N IDENT ADDR: N wrong passwords, each answered with the fixed 401.
fail_n() {
	local i
	for ((i = 0; i < $1; i++)); do
		login_from "$3" "$2" 'wrong password'
		assert_code 401
		[ "$body" = "$AUTH_FAIL_BODY" ]
	done
}

# unlocked NAME: the account's lock (if any) has ended.
unlocked() {
	[ "$(psql_auth "SELECT coalesce(l.locked_until <= now(), true)
		FROM auth_users u LEFT JOIN login_lockouts l ON l.user_id = u.id WHERE u.username = '$1'")" = t ]
}

@test "lockout: after 5 failures the right password gets the same 401, until the window ends" {
	seed_user Alice alice@example.com >/dev/null
	fail_n 5 Alice 192.0.2.1
	# the 6th attempt, with the right password, finds the account locked
	login_from 192.0.2.1 Alice
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	h_locked=$(grep -v '^\(date\|x-request-id\):' <<<"$headers")
	login_from 192.0.2.1 Alice 'wrong password'
	[ "$(grep -v '^\(date\|x-request-id\):' <<<"$headers")" = "$h_locked" ]
	# and so it is from any other address
	login_from 192.0.2.2 alice@example.com
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	[ "$(psql_auth "SELECT count(*) FROM sessions")" = 0 ]
	# the window is lockout_base (2 s): then the right password works
	wait_until 10 unlocked Alice
	login_from 192.0.2.1 Alice
	assert_code 200
	# and the success reset the counters
	[ "$(psql_auth "SELECT count(*) FROM login_lockouts")" = 0 ]
}

@test "lockout: the second window is twice the first, capped at lockout_max" {
	seed_user Bob bob@example.com >/dev/null
	fail_n 5 Bob 192.0.2.3
	login_from 192.0.2.3 Bob 'wrong password' # locks for 2 s
	first=$(psql_auth "SELECT extract(epoch FROM locked_until - updated_at) FROM login_lockouts")
	wait_until 10 unlocked Bob
	fail_n 5 Bob 192.0.2.4
	login_from 192.0.2.4 Bob 'wrong password' # locks for 4 s
	second=$(psql_auth "SELECT extract(epoch FROM locked_until - updated_at) FROM login_lockouts")
	[ "$(psql_auth "SELECT locks FROM login_lockouts")" = 2 ]
	awk -v a="$first" -v b="$second" 'BEGIN { exit !(a == 2 && b == 4) }'
	wait_until 10 unlocked Bob
	fail_n 5 Bob 192.0.2.5
	login_from 192.0.2.5 Bob 'wrong password' # 8 s, capped at 4
	third=$(psql_auth "SELECT extract(epoch FROM locked_until - updated_at) FROM login_lockouts")
	awk -v c="$third" 'BEGIN { exit !(c == 4) }'
}

@test "lockout: a success before the threshold resets the count" {
	seed_user Carol carol@example.com >/dev/null
	fail_n 4 Carol 192.0.2.6
	login_from 192.0.2.6 Carol
	assert_code 200
	# (another address: this one is near its own limit now)
	fail_n 4 Carol 192.0.2.8
	login_from 192.0.2.8 Carol
	assert_code 200
	[ "$(psql_auth "SELECT count(*) FROM login_lockouts")" = 0 ]
}

@test "lockout: parallel guesses cannot get past the threshold" {
	# a lock that outlasts the burst on a loaded machine: with the file's
	# 2 s, a burst slower than that met an expired lock and was checked
	# again (9 guesses once, at load 11), which is right but not this test
	OWN_CONFIG=1
	auth_config lockout_threshold=5 lockout_base=60 lockout_max=60 ip_fail_limit=8 \
		trusted_proxies=127.0.0.1
	id=$(seed_user Dave dave@example.com)
	# 20 wrong guesses at once, from 20 addresses
	for i in $(seq 1 20); do
		curl -s -o /dev/null -H 'Content-Type: application/json' -H "X-Forwarded-For: 198.51.100.$i" \
			--data-binary '{"usernameOrEmail":"Dave","password":"wrong password"}' \
			"$BASE_URL/api/auth/login" &
	done
	wait
	# each attempt was counted before its password was checked: exactly
	# threshold of them were checked against an unlocked account
	log=$STACK_DIR/log/lighttpd-error.log
	# (each line is written before its answer is sent)
	checked=$(grep -c "event=login_failed reason=bad_password user=$id" "$log" || true)
	locked=$(grep -c "event=login_failed reason=locked user=$id" "$log" || true)
	echo "checked $checked, refused as locked $locked"
	((checked == 5 && locked == 15))
	[ "$(psql_auth "SELECT locks FROM login_lockouts")" = 1 ]
}

@test "admin lock: lockout_enabled with lockout_end in the future answers like a wrong password" {
	seed_user Erin erin@example.com >/dev/null
	psql_auth "UPDATE auth_users SET lockout_end = now() + interval '1 hour' WHERE username = 'Erin'"
	login_from 192.0.2.7 Erin
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	# an end in the past is no lock
	psql_auth "UPDATE auth_users SET lockout_end = now() - interval '1 second' WHERE username = 'Erin'"
	login_from 192.0.2.7 Erin
	assert_code 200
	at=$(field .accessToken)
	# lockout_enabled false: the end date does not lock
	psql_auth "UPDATE auth_users SET lockout_enabled = false, lockout_end = now() + interval '1 hour' WHERE username = 'Erin'"
	login_from 192.0.2.7 Erin
	assert_code 200
	# an admin lock also ends the sessions already open
	psql_auth "UPDATE auth_users SET lockout_enabled = true WHERE username = 'Erin'"
	me "$at"
	assert_code 401
}

@test "per address: more than ip_fail_limit failures a minute gives 429 with Retry-After" {
	seed_user Frank frank@example.com >/dev/null
	# 8 failures spread over unknown and known users
	for i in 1 2 3 4; do
		login_from 203.0.113.9 "nobody$i" 'x'
		assert_code 401
	done
	for u in frank frank@example.com nobody5 nobody6; do
		login_from 203.0.113.9 "$u" 'wrong password'
		assert_code 401
	done
	# the 9th is refused before any password is checked, even the right one
	login_from 203.0.113.9 Frank
	assert_code 429
	[ "$(field .error)" = too_many_requests ]
	ra=$(header Retry-After)
	[[ "$ra" =~ ^[0-9]+$ ]] && ((ra >= 1 && ra <= 60))
	# another address is not affected
	login_from 203.0.113.10 Frank
	assert_code 200
	# the window ends a minute after its first failure
	psql_auth "UPDATE login_address_failures SET window_start = now() - interval '61 seconds' WHERE address = '203.0.113.9'"
	login_from 203.0.113.9 Frank
	assert_code 200
}

@test "per address: successes do not count, and the address is the right-most untrusted hop" {
	seed_user Grace grace@example.com >/dev/null
	for i in $(seq 1 12); do
		login_from 203.0.113.20 Grace
		assert_code 200
	done
	# (a success writes nothing for its address)
	[ "$(psql_auth "SELECT count(*) FROM login_address_failures WHERE address = '203.0.113.20'")" = 0 ]
	# a client cannot pick its address by sending its own X-Forwarded-For:
	# the trusted proxy (127.0.0.1) appended the real one, which counts
	for i in $(seq 1 9); do
		login_from "10.9.9.$i, 203.0.113.21" grace 'wrong password'
	done
	# 8 failures counted, then the 9th refused (429 counts nothing: no
	# password was checked)
	[ "$(psql_auth "SELECT failures FROM login_address_failures WHERE address = '203.0.113.21'")" = 8 ]
	[ "$code" = 429 ]
	# IPv6 clients count per /64
	login_from 2001:db8:1:2::1 grace 'wrong password'
	login_from 2001:db8:1:2::ffff grace 'wrong password'
	[ "$(psql_auth "SELECT failures FROM login_address_failures WHERE address = '2001:db8:1:2::/64'")" = 2 ]
}
