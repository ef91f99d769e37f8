#!/usr/bin/env bats
# Durability (docs/auth.md "Durability"): what an answer promises survives
# a crash of PostgreSQL, whatever the server's default.  The test server
# commits without waiting for the disk (synchronous_commit = off with
# fsync off, scripts/lib/stack.sh), and here both databases say so too
# (ALTER DATABASE): the programs must set synchronous_commit = on on their
# own connections.  A crash with the WAL writer stopped (as in
# 30-auth-refresh.bats) loses every commit that did not write the log
# itself before answering.

load ../lib/common
load 30-auth

setup_file() {
	psql_db postgres "ALTER DATABASE \"$USERS_DB\" SET synchronous_commit = off"
	psql_db postgres "ALTER DATABASE \"$AUTH_DB\" SET synchronous_commit = off"
	# restarts lighttpd: the programs connect anew, under these defaults;
	# no grace, so that a reuse revokes at once
	auth_config refresh_grace=0
}

teardown_file() {
	psql_db postgres "ALTER DATABASE \"$USERS_DB\" RESET synchronous_commit"
	psql_db postgres "ALTER DATABASE \"$AUTH_DB\" RESET synchronous_commit"
	auth_config_restore
}

# Never leave the WAL writer stopped, nor the relay down.
teardown() {
	[[ -n ${WALWRITER:-} ]] && kill -CONT "$WALWRITER" 2>/dev/null
	if [[ -n ${RELAY_STOPPED:-} ]]; then
		wait_until 30 psql_users "SELECT 1" >/dev/null
		stack_daemon_start relay 3>&- >/dev/null
	fi
	true
}

# Stop PostgreSQL's WAL writer (sets WALWRITER): a commit that does not
# write the log itself stays in the server's memory.
stop_walwriter() {
	local pm
	read -r pm _ <"$STACK_DIR/postgres.pid"
	WALWRITER=$(pgrep -P "$pm" -f '^postgres: walwriter')
	[ -n "$WALWRITER" ]
	kill -STOP "$WALWRITER"
}

# kill -9 of the stopped WAL writer: the postmaster ends every other
# server process at once (nothing more is written) and goes through crash
# recovery.  Returns when both databases answer again.
crash_pg() {
	local old=$WALWRITER
	kill -KILL "$WALWRITER"
	WALWRITER=
	# a new WAL writer once recovery is over (the old server may still
	# answer for a moment after the kill)
	wait_until 60 new_walwriter "$old"
	wait_until 60 psql_auth "SELECT 1" >/dev/null
	wait_until 60 psql_users "SELECT 1" >/dev/null
}

# A WAL writer other than OLD runs.
new_walwriter() {
	local pm w
	read -r pm _ <"$STACK_DIR/postgres.pid"
	w=$(pgrep -P "$pm" -f '^postgres: walwriter') && [ "$w" != "$1" ]
}

# The session id of an access token.
sid_of() { jwt_claims "$1" | jq -r .sid; }

@test "durability: the test server's default would lose a commit (the premise of this file)" {
	[ "$(psql_users "SHOW synchronous_commit")" = off ]
	[ "$(psql_auth "SHOW synchronous_commit")" = off ]
}

@test "durability: a registration answered 201 survives a crash of PostgreSQL" {
	# the consumer commits synchronously: its commits would write our log
	# too, so nothing may reach it
	stack_daemon_stop relay >/dev/null
	RELAY_STOPPED=1
	stop_walwriter
	post_json /api/registration/register '{"username":"durable","email":"durable@example.com",
		"password":"correct horse battery staple","confirmPassword":"correct horse battery staple"}'
	assert_code 201
	id=$(field .userId)
	crash_pg
	[ "$(psql_users "SELECT username FROM users WHERE id = '$id'")" = durable ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE aggregate_id = '$id'")" = 1 ]
	# and the registration service works on: the name is taken
	post_json /api/registration/register '{"username":"durable","email":"other@example.com",
		"password":"correct horse battery staple","confirmPassword":"correct horse battery staple"}'
	assert_code 409
}

@test "durability: a rotation, a logout and a reuse revocation survive a crash of PostgreSQL" {
	seed_user Dora dora@example.com >/dev/null
	for s in a b c; do
		login Dora
		assert_code 200
		declare "rt_$s=$(field .refreshToken)" "sid_$s=$(sid_of "$(field .accessToken)")"
	done
	stop_walwriter
	refresh "$rt_a"
	assert_code 200
	rt_a2=$(field .refreshToken)
	post_json /api/auth/logout "{\"refreshToken\":\"$rt_b\"}"
	assert_code 200
	refresh "$rt_c"
	assert_code 200
	refresh "$rt_c" # used again, no grace: the session is revoked
	assert_code 401
	crash_pg
	# the rotation: its successor works, and the used token stays used
	refresh "$rt_a2"
	assert_code 200
	refresh "$rt_a"
	assert_code 401
	# the logout and the revocation
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$sid_b'")" = logout ]
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$sid_c'")" = refresh_reuse ]
	refresh "$rt_b"
	assert_code 401
}

ctl() { "$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" "$@"; }

# N: the number of parked events is N.
parked_is() { [ "$(psql_auth "SELECT count(*) FROM parked_events")" = "$1" ]; }

@test "durability: a ghost (an auth user MagentaUsers does not have) is shown by status and removed by resync --prune-unknown" {
	# what a crash that erased a published registration left before
	# commits were durable: the user arrived here, not in MagentaUsers
	ghost=$(seed_user ghost ghost@example.com)
	login ghost
	assert_code 200
	# the same name registered again: its event is parked behind the ghost
	pw='another horse battery staple'
	post_json /api/registration/register "$(jq -cn --arg p "$pw" \
		'{username:"ghost",email:"ghost@example.com",password:$p,confirmPassword:$p}')"
	assert_code 201
	real=$(field .userId)
	wait_until 30 parked_is 1
	run ctl status --json
	[ "$(jq -c '.consumer | [.parked, .parkedBehindUnknown, .unknownBlockers]' <<<"$output")" = "[1,1,1]" ]
	run ctl status
	[[ $output == *"ghosts     1 parked events wait for 1 users that MagentaUsers does not have"* ]]

	# a dry run lists it and changes nothing
	run ctl resync --prune-unknown --dry-run
	echo "$output"
	[ "$status" = 0 ]
	[[ $output == *"$ghost"*"ghost"* ]]
	[[ ${lines[-1]} == "1 user of MagentaAuthentication unknown to MagentaUsers (dry run: nothing changed)" ]]
	[ "$(psql_auth "SELECT deleted_at IS NULL FROM auth_users WHERE id = '$ghost'")" = t ]
	parked_is 1

	run ctl resync --prune-unknown
	echo "$output"
	[ "$status" = 0 ]
	[[ ${lines[-1]} == "1 user of MagentaAuthentication unknown to MagentaUsers removed" ]]
	# tombstoned by a UserDeleted of the next version, through
	# apply_user_event: the parked registration is applied at once
	[ "$(psql_auth "SELECT version || ' ' || (deleted_at IS NOT NULL) FROM auth_users WHERE id = '$ghost'")" = "2 true" ]
	[ "$(psql_auth "SELECT outcome FROM processed_events WHERE user_id = '$ghost' AND event_type = 'UserDeleted'")" = applied ]
	parked_is 0
	[ "$(psql_auth "SELECT id FROM auth_users WHERE username = 'ghost' AND deleted_at IS NULL")" = "$real" ]
	login ghost
	assert_code 401
	login ghost "$pw"
	assert_code 200
	[ "$(field .user.id)" = "$real" ]
	run ctl status --json
	[ "$(jq -c '.consumer | [.parked, .parkedBehindUnknown, .unknownBlockers]' <<<"$output")" = "[0,0,0]" ]
	# nothing left to remove
	run ctl resync --prune-unknown
	[ "$status" = 0 ]
	[[ ${lines[-1]} == "0 users of MagentaAuthentication unknown to MagentaUsers removed" ]]
}
