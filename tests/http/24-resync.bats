#!/usr/bin/env bats
# magentactl user (grant-admin, revoke-admin, show) and magentactl resync:
# the events they write to the outbox, applied by the real relay and
# consumer; the authentication database dropped and rebuilt from
# MagentaUsers (docs/events.md "Tools").

load ../lib/common
load 20-pipeline

RS_PW='resync test pw 1'

# A failed test must not leave the auth database missing or the consumer
# stopped for the files after this one.
teardown() {
	rs_refuse_drop
	ctl migrate --create auth >/dev/null 2>&1 || true
	stack_daemon_start consumer 3>&- >/dev/null || true
}

# rs_refuse USERID: from now on the outbox refuses UserUpdated rows of
# that user (a failure in the middle of a resync); rs_refuse_drop: no more.
rs_refuse() {
	psql_users "CREATE FUNCTION rs_refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		IF NEW.aggregate_id = '$1' AND NEW.event_type = 'UserUpdated' THEN
			RAISE EXCEPTION 'refused by the test';
		END IF;
		RETURN NEW;
	END \$\$;
	CREATE TRIGGER rs_refuse BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION rs_refuse()" >/dev/null
}
rs_refuse_drop() {
	psql_users "DROP TRIGGER IF EXISTS rs_refuse ON outbox; DROP FUNCTION IF EXISTS rs_refuse()" >/dev/null
}

# rs_register NAME [DISPLAYNAME]: a registration; prints the id.
rs_register() {
	post_json /api/registration/register "$(jq -cn --arg u "$1" --arg p "$RS_PW" --arg d "${2:-}" \
		'{username:$u,email:($u+"@example.com"),password:$p,confirmPassword:$p}
		 + (if $d == "" then {} else {displayName:$d} end)')"
	assert_code 201 >&2 || return 1
	field .userId
}

# rs_login NAME: POST /api/auth/login with the test password.
rs_login() {
	post_json /api/auth/login "$(jq -cn --arg u "$1" --arg p "$RS_PW" '{usernameOrEmail:$u,password:$p}')"
}

# rs_users / rs_auth: the identity of every live user, one line each, in
# id order, as MagentaUsers and MagentaAuthentication hold it.
RS_COLS="id, username, email, password_hash, security_stamp, roles::text, coalesce(display_name, ''), version"
rs_users() { psql_users "SELECT $RS_COLS FROM users ORDER BY id"; }
rs_auth() { psql_auth "SELECT $RS_COLS FROM auth_users WHERE deleted_at IS NULL ORDER BY id"; }

# outbox_count USERID: the user's outbox rows.
outbox_count() { psql_users "SELECT count(*) FROM outbox WHERE aggregate_id = '$1'"; }

# outcomes: the outcomes in processed_events with their counts ("applied 6").
outcomes() {
	psql_auth "SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome)
		FROM (SELECT outcome, count(*) AS n FROM processed_events GROUP BY outcome) o"
}

@test "user grant-admin / revoke-admin: a UserUpdated of roles, applied; twice writes nothing; unknown user" {
	local id
	id=$(rs_register admina)
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'"

	run ctl user grant-admin admina
	[ "$status" = 0 ]
	[[ $output == *"user 'admina' is now admin: version 2, event "* ]]
	[ "$(psql_users "SELECT roles::text || ' ' || version FROM users WHERE id = '$id'")" = "{admin} 2" ]
	# the outbox row: UserUpdated at version 2, only roles changed, full state
	[ "$(psql_users "SELECT event_type || ' ' || routing_key || ' ' || aggregate_version
		|| ' ' || (payload->>'version') || ' ' || (payload->'changedFields')::text
		|| ' ' || (payload->'data'->'roles')::text || ' ' || (payload->'data'->>'username')
		FROM outbox WHERE aggregate_id = '$id' AND aggregate_version = 2")" = \
		'UserUpdated user.updated 2 2 ["roles"] ["admin"] admina' ]
	wait_until 10 _eq "{admin} 2" psql_auth "SELECT roles::text || ' ' || version FROM auth_users WHERE id = '$id'"

	# already admin (named by email this time): nothing written
	run ctl user grant-admin admina@example.com
	[ "$status" = 0 ]
	[[ $output == *"user 'admina' is admin already: nothing written"* ]]
	[ "$(outbox_count "$id")" = 2 ]
	[ "$(psql_users "SELECT version FROM users WHERE id = '$id'")" = 2 ]

	# back, by the username in another letter case
	run ctl user revoke-admin ADMINA
	[ "$status" = 0 ]
	[[ $output == *"user 'admina' is no longer admin: version 3, event "* ]]
	[ "$(psql_users "SELECT (payload->'changedFields')::text || ' ' || (payload->'data'->'roles')::text
		FROM outbox WHERE aggregate_id = '$id' AND aggregate_version = 3")" = '["roles"] []' ]
	wait_until 10 _eq "{} 3" psql_auth "SELECT roles::text || ' ' || version FROM auth_users WHERE id = '$id'"
	run ctl user revoke-admin admina
	[ "$status" = 0 ]
	[[ $output == *"is not admin already: nothing written"* ]]
	[ "$(outbox_count "$id")" = 3 ]

	run ctl user grant-admin nobody
	[ "$status" = 1 ]
	[[ $output == *"no such user 'nobody'"* ]]
	run ctl user grant-admin 'not a name'
	[ "$status" = 2 ]
	[ "$(psql_users "SELECT count(*) FROM outbox")" = 3 ]
}

@test "user show: the profile, roles and version, never the hash or the stamp; --json" {
	local id hash stamp
	id=$(rs_register shown 'Shown Person')
	run ctl user grant-admin shown
	[ "$status" = 0 ]
	hash=$(psql_users "SELECT password_hash FROM users WHERE id = '$id'")
	stamp=$(psql_users "SELECT security_stamp FROM users WHERE id = '$id'")

	run ctl user show Shown
	[ "$status" = 0 ]
	[[ $output == *"id              $id"* ]]
	[[ $output == *"email           shown@example.com"* ]]
	[[ $output == *"emailConfirmed  false"* ]]
	[[ $output == *"displayName     Shown Person"* ]]
	[[ $output == *"roles           admin"* ]]
	[[ $output == *"lockedUntil     -"* ]]
	[[ $output == *"version         2"* ]]
	[[ $output != *"$hash"* && $output != *"$stamp"* && $output != *argon2* ]]

	run ctl user show --json shown@example.com
	[ "$status" = 0 ]
	[ "$(jq -c '[.id, .username, .displayName, .roles, .lockoutEnd, .locked, .version]' <<<"$output")" = \
		"[\"$id\",\"shown\",\"Shown Person\",[\"admin\"],null,false,2]" ]
	[[ $output != *"$hash"* && $output != *"$stamp"* && $output != *argon2* ]]

	run ctl user show nobody
	[ "$status" = 1 ]
	[[ $output == *"no such user 'nobody'"* ]]
}

@test "resync: the auth database dropped and rebuilt; every user logs in, the databases agree; a second run changes nothing" {
	local ids=() id gone u before
	for u in rs1 rs2 rs3 rs4 rs5; do
		if [[ $u == rs2 ]]; then
			id=$(rs_register "$u" 'Second User')
		else
			id=$(rs_register "$u")
		fi
		ids+=("$id")
	done
	gone=$(rs_register rsgone)
	run ctl user grant-admin rs3
	[ "$status" = 0 ]
	wait_until 20 _eq "6 0" psql_auth "SELECT count(*) || ' ' || count(*) FILTER (WHERE version <> 1 AND username <> 'rs3') FROM auth_users"
	wait_until 10 _eq "{admin} 2" psql_auth "SELECT roles::text || ' ' || version FROM auth_users WHERE username = 'rs3'"
	# a deleted user, as a fixture (the DELETE endpoint is another part of
	# issue 16): its row gone, its tombstone at the next version
	psql_users "WITH d AS (DELETE FROM users WHERE id = '$gone' RETURNING id, version)
		INSERT INTO deleted_users (id, version, deleted_by, reason)
		SELECT id, version + 1, id, 'self' FROM d" >/dev/null

	# the auth database lost
	stack_daemon_stop consumer >/dev/null
	psql_db postgres "DROP DATABASE \"$AUTH_DB\" WITH (FORCE)" >/dev/null
	run ctl migrate --create auth
	[ "$status" = 0 ]
	[[ $output == *"created database $AUTH_DB"* ]]
	[ "$(psql_auth "SELECT count(*) FROM auth_users")" = 0 ]
	rs_login rs1
	assert_code 401
	stack_daemon_start consumer 3>&- >/dev/null

	run ctl resync --batch 2
	[ "$status" = 0 ]
	# one progress line per batch (stderr), then the summary (stdout)
	[ "$(grep '^resync: .* / ' <<<"$output")" = "resync: 2 / 5 users, 0 / 1 deleted
resync: 4 / 5 users, 0 / 1 deleted
resync: 5 / 5 users, 0 / 1 deleted
resync: 5 / 5 users, 1 / 1 deleted" ]
	[[ $output == *"resync: 5 UserUpdated and 1 UserDeleted events written to the outbox of $USERS_DB; 0 users skipped"* ]]
	# the rows did not change; the events carry each user's own version
	[ "$(psql_users "SELECT string_agg(username || ':' || version, ' ' ORDER BY username) FROM users")" = \
		"rs1:1 rs2:1 rs3:2 rs4:1 rs5:1" ]
	[ "$(psql_users "SELECT count(*) FROM outbox o JOIN users u ON u.id = o.aggregate_id
		WHERE o.event_type = 'UserUpdated' AND o.aggregate_version = u.version
		AND (o.payload->>'version')::bigint = u.version AND o.payload->'changedFields' = '[]'
		AND o.payload->'data'->>'passwordHash' = u.password_hash")" = 5 ]
	[ "$(psql_users "SELECT aggregate_version || ' ' || (payload->>'version') || ' ' || (payload->'data')::text
		FROM outbox WHERE aggregate_id = '$gone' AND event_type = 'UserDeleted'")" = \
		"2 2 {\"reason\": \"self\", \"deletedBy\": \"$gone\"}" ]

	wait_until 30 _eq "applied 6" outcomes
	[ "$(rs_auth | wc -l)" = 5 ]
	[ "$(rs_auth)" = "$(rs_users)" ]
	[ "$(psql_auth "SELECT version || ' ' || (deleted_at IS NOT NULL) || ' ' || count(*) OVER ()
		FROM auth_users WHERE id = '$gone'")" = "2 true 1" ]
	for u in rs1 rs2 rs3 rs4 rs5; do
		rs_login "$u"
		assert_code 200
	done
	rs_login rsgone
	assert_code 401

	# again: every event finds its version stored, nothing changes
	before=$(psql_auth "SELECT string_agg(a::text, E'\n' ORDER BY id) FROM auth_users a")
	run ctl resync
	[ "$status" = 0 ]
	[[ $output == *"resync: 5 / 5 users, 1 / 1 deleted"* ]]
	[[ $output == *"5 UserUpdated and 1 UserDeleted events written"* ]]
	wait_until 30 _eq "applied 6, same_version 6" outcomes
	[ "$(psql_auth "SELECT string_agg(a::text, E'\n' ORDER BY id) FROM auth_users a")" = "$before" ]
}

@test "resync --since: only users changed (and users deleted) since then; a future time writes nothing; bad arguments" {
	local old new n
	old=$(rs_register rsold)
	new=$(rs_register rsnew)
	psql_users "UPDATE users SET updated_at = '2020-01-01T00:00:00Z' WHERE id = '$old'" >/dev/null
	psql_users "INSERT INTO deleted_users (id, version, deleted_at, reason) VALUES
		(gen_random_uuid(), 2, '2020-01-01T00:00:00Z', 'operator'),
		(gen_random_uuid(), 3, now(), 'admin')" >/dev/null
	n=$(psql_users "SELECT count(*) FROM outbox")

	run ctl resync --since 2999-01-01T00:00:00Z
	[ "$status" = 0 ]
	[[ $output == *"resync: 0 UserUpdated and 0 UserDeleted events written"* ]]
	[ "$(psql_users "SELECT count(*) FROM outbox")" = "$n" ]

	run ctl resync --dry-run --since 2021-06-01
	[ "$status" = 0 ]
	[[ $output == *"resync: 1 users and 1 deleted users to write (dry run: nothing written)"* ]]
	[ "$(psql_users "SELECT count(*) FROM outbox")" = "$n" ]

	run ctl resync --since 2021-06-01T00:00:00+02:00
	[ "$status" = 0 ]
	[[ $output == *"resync: 1 / 1 users, 1 / 1 deleted"* ]]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE id > $n AND aggregate_id = '$new' AND event_type = 'UserUpdated'")" = 1 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE id > $n AND aggregate_id = '$old'")" = 0 ]
	[ "$(psql_users "SELECT count(*) FROM outbox o JOIN deleted_users d ON d.id = o.aggregate_id
		WHERE o.id > $n AND d.reason = 'admin' AND o.aggregate_version = 3")" = 1 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE id > $n")" = 2 ]
	n=$(psql_users "SELECT count(*) FROM outbox")

	local bad
	for bad in yesterday 2026-02-30 2026-11-23T25:00:00Z '2026-11-23 10:00:00' ''; do
		run ctl resync --since "$bad"
		[ "$status" = 2 ]
		[[ $output == *"--since wants a time (RFC 3339"* ]]
	done
	run ctl resync --batch 0
	[ "$status" = 2 ]
	[[ $output == *"--batch wants a number from 1 to 100000"* ]]
	run ctl resync --prune-unknown --since 2026-01-01
	[ "$status" = 2 ]
	[ "$(psql_users "SELECT count(*) FROM outbox")" = "$n" ]
}

@test "resync: a failure stops it with exit 1 and what was written; the batches before committed, its own rolled back" {
	local u victim n first
	for u in rf1 rf2 rf3 rf4; do
		rs_register "$u" >/dev/null
	done
	victim=$(psql_users "SELECT id FROM users ORDER BY id OFFSET 3 LIMIT 1")
	first=$(psql_users "SELECT string_agg(id::text, ' ' ORDER BY id) FROM (SELECT id FROM users ORDER BY id LIMIT 2) f")
	n=$(psql_users "SELECT count(*) FROM outbox")
	rs_refuse "$victim"
	run ctl resync --batch 2
	rs_refuse_drop
	[ "$status" = 1 ]
	[[ $output == *"magentactl: resync: user '$victim': database '$USERS_DB': refused by the test; written before it (committed): 2 users, 0 deleted; the batch it was in is rolled back"* ]]
	[[ $output == *"resync: 2 / 4 users, 0 / 0 deleted"* ]]
	[[ $output != *"resync: 4 / 4 users"* ]]
	# the first batch is in the outbox, nothing of the second (the victim
	# is its second user: the first one's row is rolled back with it)
	[ "$(psql_users "SELECT string_agg(aggregate_id::text, ' ' ORDER BY aggregate_id) FROM outbox WHERE id > $n")" = "$first" ]
	# and once the cause is gone, a second run writes everything
	run ctl resync --batch 2
	[ "$status" = 0 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE id > $n")" = 6 ]
}
