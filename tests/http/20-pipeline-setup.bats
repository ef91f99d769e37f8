#!/usr/bin/env bats
# The consumer's database connections are set up by lib/db.c: each new one
# runs the session SETs and prepares apply_user_event() (consumer_db_init,
# db_prepare_on_connect).  While that cannot succeed (a migration missing,
# say) nothing may be applied, acked or dead-lettered; the failure is
# logged once, not once per retry; the events flow once it is fixed.

load ../lib/common
load 20-pipeline

# rename_apply FROM TO: every function named FROM is renamed TO.
rename_apply() {
	psql_auth "DO \$\$DECLARE f regprocedure; BEGIN
		FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname = '$1' LOOP
			EXECUTE format('ALTER FUNCTION %s RENAME TO %I', f, '$2');
		END LOOP; END\$\$"
}

teardown() {
	rename_apply apply_user_event_away apply_user_event >/dev/null 2>&1 || true
}

# Sessions ever opened on the auth database, read from another database
# (reading it opens none there).
auth_sessions() {
	psql_db postgres "SELECT sessions FROM pg_stat_database WHERE datname = '$AUTH_DB'"
}

# 0 when the output of ARGS... is at least N.
_ge() { (($("${@:2}") >= $1)); }

@test "pipeline set-up: a connection whose statement cannot be prepared is retried, logged once, never dead-lettered" {
	local from s0 log=$BATS_TEST_TMPDIR/consumer.log
	outbox_insert 3 before
	wait_until 20 _eq 3 applied
	from=$(($(wc -l <"$STACK_DIR/log/consumer.log") + 1))
	rename_apply apply_user_event apply_user_event_away
	# the consumer's next statement needs a new connection, set up afresh
	[ "$(psql_auth "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'magenta-consumer'")" = 1 ]
	s0=$(auth_sessions)
	outbox_insert 20 nosetup
	wait_until 10 _eq 0 backlog
	# the consumer tries again and again (nothing else opens sessions on
	# the auth database meanwhile), each new connection failing its set-up
	wait_until 30 _ge $((s0 + 4)) auth_sessions
	tail -n +"$from" "$STACK_DIR/log/consumer.log" >"$log"
	[ "$(grep -c "event=db_session_setup_failed db=$AUTH_DB what=prepare stmt=apply sqlstate=42883" "$log")" = 1 ]
	[ "$(applied)" = 3 ]
	[ "$(dlq_depth)" = 0 ]
	rename_apply apply_user_event_away apply_user_event
	wait_until 30 _eq 23 applied
	tail -n +"$from" "$STACK_DIR/log/consumer.log" >"$log"
	grep -q "event=db_up db=$AUTH_DB" "$log"
	[ "$(dlq_depth)" = 0 ]
	# held, not requeued: no message was delivered twice
	[ "$(psql_auth "SELECT count(*) FROM processed_events WHERE redeliveries > 0")" = 0 ]
	! grep -q 'prepared statement "apply" does not exist' "$log" || false
}
