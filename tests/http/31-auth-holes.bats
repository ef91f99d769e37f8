#!/usr/bin/env bats
# Smaller holes of issue 15 that need the whole stack: the one username
# limit (events carry at most what a token signs), and PostgreSQL's own
# log without the DETAIL lines that name emails.

load ../lib/common
load 20-pipeline
load 30-auth

# The username of user ID in auth_users.
auth_username() {
	psql_auth "SELECT username FROM auth_users WHERE id = '$1'"
}

# A UserUpdated of user ID at VERSION renaming it NAME, with the password
# hash of AUTH_PW (so that the user can log in).
renamed() {
	envelope UserUpdated "$1" "$2" "$(cat /proc/sys/kernel/random/uuid)" "$3" "$1@example.com" |
		jq -c --arg h "$(auth_hash)" '.data.passwordHash = $h'
}

@test "holes: a 255-byte username logs in and signs; a 256-byte one is poison" {
	local id long longer
	id=$(cat /proc/sys/kernel/random/uuid)
	# the longest username at its longest escaped: every byte a quote
	long=$(printf '"%.0s' $(seq 255))
	longer=$long'"'
	publish "$(renamed "$id" 1 "$long" | jq -c '.eventType = "UserCreated" | del(.changedFields)')"
	wait_until 10 _eq 255 psql_auth "SELECT octet_length(username) FROM auth_users WHERE id = '$id'"
	login "$id@example.com"
	assert_code 200
	[ "$(field .user.username)" = "$long" ]
	[ "$(jwt_claims "$(field .accessToken)" | jq -r .username)" = "$long" ]
	me "$(field .accessToken)"
	assert_code 200
	[ "$(field .username)" = "$long" ]
	# one byte more: dead-lettered, named, and the user keeps the old name
	publish "$(renamed "$id" 2 "$longer")"
	wait_until 10 _eq 1 dlq_depth
	[ "$(ctl dlq list --json | jq -r '.[0].reason')" = "invalid_field: data.username" ]
	[ "$(auth_username "$id")" = "$long" ]
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE user_id = '$id'")" = 1 ]
}

@test "holes: PostgreSQL logs a unique violation without the DETAIL naming the email" {
	local mail="holes-$RANDOM$RANDOM@example.com"
	psql_users "INSERT INTO users (id, username, email, password_hash, security_stamp)
		VALUES (gen_random_uuid(), 'holes_a', '$mail', '$PIPE_HASH', 'stamp')"
	# the copy's email comes from the table, so that the failing statement
	# (which the server logs) does not hold it: only a DETAIL line would
	run psql_users "INSERT INTO users (id, username, email, password_hash, security_stamp)
		SELECT gen_random_uuid(), 'holes_b', email, password_hash, 'stamp'
		FROM users WHERE username = 'holes_a'"
	[ "$status" != 0 ]
	[[ $output == *users_email_key* ]]
	[[ $output == *"$mail"* ]] # the client is told; the server's log is not
	# the server's line is written before the client hears of the error
	wait_until 5 grep -q 'ERROR:  duplicate key value violates unique constraint "users_email_key"' \
		"$STACK_DIR/log/postgresql.log"
	! grep -F -e "$mail" "$STACK_DIR/log/postgresql.log" || false
	! grep -q 'DETAIL:  Key ' "$STACK_DIR/log/postgresql.log" || false
}
