#!/usr/bin/env bats
# The event pipeline when things break: RabbitMQ stopped or killed,
# PostgreSQL stopped, the auth database unreachable, either daemon killed
# (also between publishing and marking).  Nothing may be lost, nothing
# applied twice, nothing dead-lettered for an outage.

load ../lib/common
load 20-pipeline

teardown() {
	# whatever a failed test left behind
	kill -CONT "$(_stack_rabbit_node_pid)" 2>/dev/null || true
	psql_users "DROP TRIGGER IF EXISTS pipeline_stall ON outbox; DROP FUNCTION IF EXISTS pipeline_stall()" >/dev/null 2>&1 || true
	psql_db postgres "ALTER DATABASE \"$AUTH_DB\" ALLOW_CONNECTIONS true" >/dev/null 2>&1 || true
	psql_auth "DROP TRIGGER IF EXISTS pipeline_fail ON auth_users; DROP FUNCTION IF EXISTS pipeline_fail(); DROP SEQUENCE IF EXISTS pipeline_fail_calls" >/dev/null 2>&1 || true
}

# A trigger on auth_users that fails inserts of USERNAME ('' for all) with
# SQLSTATE STATE.
fail_inserts() {
	psql_auth "CREATE SEQUENCE IF NOT EXISTS pipeline_fail_calls;
		CREATE FUNCTION pipeline_fail() RETURNS trigger LANGUAGE plpgsql AS
		\$\$BEGIN
			IF '$1' = '' OR NEW.username = '$1' THEN
				PERFORM nextval('pipeline_fail_calls'); -- not rolled back with the failure
				RAISE EXCEPTION 'injected failure' USING ERRCODE = '$2';
			END IF;
			RETURN NEW;
		END\$\$;
		CREATE TRIGGER pipeline_fail BEFORE INSERT ON auth_users FOR EACH ROW EXECUTE FUNCTION pipeline_fail()"
}

# _count_connections PORT FILE: accept and close connections on 127.0.0.1:PORT,
# writing their count to FILE after each, until killed.  Closed with a reset,
# so that no TIME_WAIT keeps the port from the broker started after.
_count_connections() {
	exec python3 - "$1" "$2" <<'EOF'
import os, socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
n = 0
while True:
    c, _ = s.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    n += 1
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
EOF
}

# Every user of MagentaUsers is in auth_users with the same hash, each
# UserCreated event applied exactly once.
same_users() {
	local n=$1 a b
	a=$(psql_users "SELECT count(*) || ' ' || md5(string_agg(id || password_hash, ',' ORDER BY id)) FROM users")
	b=$(psql_auth "SELECT count(*) || ' ' || md5(string_agg(id || password_hash, ',' ORDER BY id)) FROM auth_users WHERE deleted_at IS NULL")
	[[ $a == "$n "* && $a == "$b" ]] || {
		echo "users: $a / auth_users: $b" >&2
		return 1
	}
	[ "$(psql_auth "SELECT count(*) FROM processed_events WHERE outcome = 'applied'")" = "$n" ]
	[ "$(psql_auth "SELECT count(*) FROM processed_events WHERE outcome <> 'applied'")" = 0 ]
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE version <> 1")" = 0 ]
	# every outbox event id is the one recorded
	[ "$(psql_users "SELECT md5(string_agg(event_id::text, ',' ORDER BY event_id)) FROM outbox")" = \
		"$(psql_auth "SELECT md5(string_agg(event_id::text, ',' ORDER BY event_id)) FROM processed_events")" ]
}

@test "faults: RabbitMQ stopped -> registrations still 201, backlog grows; restarted -> it drains" {
	stack_rabbit_stop
	register_many 20 norabbit
	wait_until 10 _eq 20 backlog
	# the relay keeps running and says so once, not once per retry
	daemon_pid relay >/dev/null
	daemon_pid consumer >/dev/null
	downs=$(grep -c 'event=amqp_down' "$STACK_DIR/log/relay.log")
	cdowns=$(grep -c 'event=amqp_down' "$STACK_DIR/log/consumer.log")
	# a stand-in on the broker's port counts the daemons' retries (each
	# connects, finds no broker and tries again later): the logs must not
	# grow with them
	_count_connections "$AMQP_PORT" "$BATS_TEST_TMPDIR/retries" 3>&- &
	local counter=$!
	wait_until 30 bash -c "[ \$(cat '$BATS_TEST_TMPDIR/retries' 2>/dev/null || echo 0) -ge 6 ]"
	kill "$counter"
	wait "$counter" || true
	[ "$(grep -c 'event=amqp_down' "$STACK_DIR/log/relay.log")" = "$downs" ]
	[ "$(grep -c 'event=amqp_down' "$STACK_DIR/log/consumer.log")" = "$cdowns" ]
	run ctl status
	[ "$status" = 2 ] # down: RabbitMQ unreachable
	[[ $output == *"outbox     20 unpublished"* ]]
	stack_rabbit_start 3>&-
	wait_until 60 _eq 0 backlog
	wait_until 30 _eq 20 auth_live
	same_users 20
	grep -q 'event=amqp_up' "$STACK_DIR/log/relay.log"
	grep -q 'event=amqp_up' "$STACK_DIR/log/consumer.log"
	[ "$(dlq_depth)" = 0 ]
}

@test "faults: RabbitMQ killed -9 during 500 registrations, restarted -> every user arrives, once" {
	register_many 500 kill9 3>&- &
	local load=$!
	wait_until 60 bash -c "[ \$(psql -X -At -h 127.0.0.1 -p $PGPORT -U postgres -d $USERS_DB -c 'SELECT count(*) FROM users') -ge 100 ]"
	stack_rabbit_kill
	wait "$load"
	[ "$(psql_users "SELECT count(*) FROM users")" = 500 ]
	stack_rabbit_start 3>&-
	wait_until 90 _eq 0 backlog
	wait_until 60 _eq 500 auth_live
	same_users 500
	[ "$(dlq_depth)" = 0 ]
}

@test "faults: consumer killed -9 mid-load and restarted -> nothing lost, nothing applied twice" {
	outbox_insert 10000 ckill
	wait_until 30 bash -c "[ \$(psql -X -At -h 127.0.0.1 -p $PGPORT -U postgres -d $AUTH_DB -c 'SELECT count(*) FROM processed_events') -ge 200 ]"
	stack_daemon_kill consumer KILL
	local got
	got=$(applied)
	[ "$got" -lt 10000 ] # it was killed mid-load
	stack_daemon_start consumer 3>&-
	wait_until 60 _eq 10000 applied
	wait_until 10 _eq 0 backlog
	same_users 10000
	[ "$(dlq_depth)" = 0 ]
}

@test "faults: relay killed -9 mid-load and restarted -> nothing lost, nothing applied twice" {
	outbox_insert 10000 rkill
	wait_until 30 bash -c "[ \$(psql -X -At -h 127.0.0.1 -p $PGPORT -U postgres -d $USERS_DB -c 'SELECT count(*) FROM outbox WHERE published_at IS NOT NULL') -ge 200 ]"
	stack_daemon_kill relay KILL
	[ "$(backlog)" -gt 0 ]
	stack_daemon_start relay 3>&-
	wait_until 60 _eq 0 backlog
	wait_until 60 _eq 10000 applied
	same_users 10000
	[ "$(dlq_depth)" = 0 ]
}

@test "faults: relay killed between publish and mark -> delivered twice, applied once, recorded as a redelivery" {
	# the relay's mark (UPDATE ... SET published_at) hangs: the event is out,
	# confirmed and consumed, but the row is not marked when the relay dies
	psql_users "CREATE FUNCTION pipeline_stall() RETURNS trigger LANGUAGE plpgsql AS
		'BEGIN PERFORM pg_sleep(60); RETURN NEW; END';
		CREATE TRIGGER pipeline_stall BEFORE UPDATE ON outbox FOR EACH ROW
		WHEN (NEW.published_at IS NOT NULL) EXECUTE FUNCTION pipeline_stall()"
	id=$(register twice)
	eid=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$id'")
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM processed_events WHERE event_id = '$eid'"
	[ "$(backlog)" = 1 ]
	stack_daemon_kill relay KILL
	# end the relay's orphaned backend (it would sleep on, holding the row)
	psql_users "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'magenta-relay'" >/dev/null
	psql_users "DROP TRIGGER pipeline_stall ON outbox; DROP FUNCTION pipeline_stall()"
	[ "$(backlog)" = 1 ]
	stack_daemon_start relay 3>&-
	wait_until 20 _eq 0 backlog
	wait_until 10 _eq "applied 1" psql_auth "SELECT outcome || ' ' || redeliveries FROM processed_events WHERE event_id = '$eid'"
	[ "$(psql_auth "SELECT count(*) FROM processed_events")" = 1 ]
	[ "$(psql_auth "SELECT version FROM auth_users WHERE id = '$id'")" = 1 ]
	grep -q "event=event_redelivered event_id=$eid" "$STACK_DIR/log/consumer.log"
}

@test "faults: the relay's connection ended while it waits for the broker's confirms -> the rest of that batch is refused, not run outside its transaction; the event arrives once" {
	local node id eid warned
	node=$(_stack_rabbit_node_pid)
	warned=$(grep -c "there is no transaction in progress" "$STACK_DIR/log/postgresql.log" || true)
	# a broker that does not answer keeps the relay inside its batch's
	# transaction (claimed, published, waiting for the confirms)
	kill -STOP "$node"
	id=$(register lost_tx)
	eid=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$id'")
	wait_until 10 _eq 1 psql_users "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'magenta-relay' AND state = 'idle in transaction'"
	psql_users "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'magenta-relay'" >/dev/null
	# gone before the relay goes on: it finds its connection closed, rather
	# than a statement of its failing midway
	wait_until 10 _eq 0 psql_users "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'magenta-relay'"
	kill -CONT "$node"
	wait_until 20 _eq 0 backlog
	wait_until 10 _eq applied psql_auth "SELECT outcome FROM processed_events WHERE event_id = '$eid'"
	[ "$(psql_auth "SELECT version FROM auth_users WHERE id = '$id'")" = 1 ]
	[ "$(dlq_depth)" = 0 ]
	# its marks were refused on the dead connection, not run on a new one
	# in autocommit: no COMMIT reached PostgreSQL outside a transaction
	[ "$(grep -c "there is no transaction in progress" "$STACK_DIR/log/postgresql.log" || true)" = "$warned" ]
	grep -q "event=db_lost_in_transaction db=$USERS_DB " "$STACK_DIR/log/relay.log"
}

@test "faults: auth database unreachable for 10 s under load -> no dead letters, all applied after" {
	outbox_insert 200 before
	wait_until 30 _eq 200 applied
	# refuse new connections to MagentaAuthentication and drop the consumer's
	psql_db postgres "ALTER DATABASE \"$AUTH_DB\" ALLOW_CONNECTIONS false"
	psql_db postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$AUTH_DB' AND pid <> pg_backend_pid()" >/dev/null
	local t0=$SECONDS
	# load during the outage: through registration and straight into the outbox
	register_many 20 during
	outbox_insert 1000 during-bulk
	wait_until 20 _eq 0 backlog # the relay is not affected
	while ((SECONDS - t0 < 10)); do
		[ "$(dlq_depth)" = 0 ]
		sleep 1
	done
	psql_db postgres "ALTER DATABASE \"$AUTH_DB\" ALLOW_CONNECTIONS true"
	wait_until 60 _eq 1220 applied
	same_users 1220
	[ "$(dlq_depth)" = 0 ]
	grep -q 'event=db_down db=MagentaAuthentication' "$STACK_DIR/log/consumer.log"
	grep -q 'event=db_up db=MagentaAuthentication' "$STACK_DIR/log/consumer.log"
}

@test "faults: PostgreSQL stopped and restarted under load -> both daemons carry on" {
	outbox_insert 1500 pgstop
	wait_until 30 bash -c "[ \$(psql -X -At -h 127.0.0.1 -p $PGPORT -U postgres -d $AUTH_DB -c 'SELECT count(*) FROM processed_events') -ge 100 ]"
	stack_pg_stop
	sleep 2 # an outage of a few seconds, not a blip
	daemon_pid relay >/dev/null
	daemon_pid consumer >/dev/null
	stack_pg_start 3>&-
	wait_until 60 _eq 0 backlog
	wait_until 60 _eq 1500 applied
	same_users 1500
	[ "$(dlq_depth)" = 0 ]
	outbox_insert 10 after
	wait_until 20 _eq 1510 applied
}

@test "faults: PostgreSQL restarted while both daemons idle -> the next events flow" {
	outbox_insert 5 before
	wait_until 20 _eq 5 applied
	# the daemons' connections sit idle, then the server restarts under them
	stack_pg_stop
	stack_pg_start 3>&-
	outbox_insert 5 after
	wait_until 20 _eq 10 applied
	same_users 10
	[ "$(dlq_depth)" = 0 ]
	# the consumer's new connection was set up as the old one was (its
	# statement prepared, synchronous_commit on)
	! grep -q 'prepared statement "apply" does not exist' "$STACK_DIR/log/consumer.log" || false
}

@test "faults: the consumer's connection ended while idle, then a poison message -> the events after it are applied" {
	outbox_insert 3 before
	wait_until 20 _eq 3 applied
	# the server ends the idle connection (idle_session_timeout, an
	# administrator); the poison note is what reconnects, not the apply
	[ "$(psql_auth "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'magenta-consumer'")" = 1 ]
	publish_raw 'not JSON at all' user.created poison-idle
	wait_until 20 eval '[ "$(dlq_depth)" = 1 ]'
	[ "$(psql_auth "SELECT count(*) FROM rejected_messages WHERE message_id = 'poison-idle'")" = 1 ]
	# the new connection was set up too: the next events apply
	outbox_insert 3 after
	wait_until 20 _eq 6 applied
	same_users 6
	! grep -q 'prepared statement "apply" does not exist' "$STACK_DIR/log/consumer.log" || false
}

@test "faults: PostgreSQL killed -9 under load -> both daemons carry on" {
	outbox_insert 1500 pgkill
	wait_until 30 bash -c "[ \$(psql -X -At -h 127.0.0.1 -p $PGPORT -U postgres -d $AUTH_DB -c 'SELECT count(*) FROM processed_events') -ge 100 ]"
	local pgpid
	pgpid=$(daemon_pid postgres)
	stack_pg_kill
	# PostgreSQL refuses to start while the old postmaster's pid still
	# exists, even as a zombie not yet reaped
	wait_until 10 test ! -e "/proc/$pgpid"
	stack_pg_start 3>&-
	wait_until 60 _eq 0 backlog
	wait_until 60 _eq 1500 applied
	same_users 1500
	[ "$(dlq_depth)" = 0 ]
}

@test "faults: a database error that is not the message's fault is retried, never dead-lettered" {
	# 55000 (object not in prerequisite state) for every insert: the system,
	# not the event, is wrong -- nothing may be nacked or rejected
	local log=$BATS_TEST_TMPDIR/consumer.log from
	from=$(($(wc -l <"$STACK_DIR/log/consumer.log") + 1))
	fail_inserts '' 55000
	outbox_insert 50 blocked
	wait_until 10 _eq 0 backlog
	wait_until 10 bash -c "tail -n +$from '$STACK_DIR/log/consumer.log' | grep -q 'event=db_error what=apply sqlstate=55000'"
	# several retries, seen by the trigger: its calls (a sequence, which no
	# rollback undoes) at least triple those made when the error was logged
	local calls
	calls=$(psql_auth "SELECT last_value FROM pipeline_fail_calls")
	wait_until 30 bash -c "[ \$(psql -X -At -h 127.0.0.1 -p $PGPORT -U postgres -d $AUTH_DB -c 'SELECT last_value FROM pipeline_fail_calls') -ge $((3 * calls)) ]"
	[ "$(applied)" = 0 ]
	[ "$(dlq_depth)" = 0 ]
	tail -n +"$from" "$STACK_DIR/log/consumer.log" >"$log"
	[ "$(grep -c 'event=db_error what=apply sqlstate=55000' "$log")" = 1 ] # logged once
	psql_auth "DROP TRIGGER pipeline_fail ON auth_users; DROP FUNCTION pipeline_fail(); DROP SEQUENCE pipeline_fail_calls"
	wait_until 30 _eq 50 applied
	same_users 50
	grep -q 'event=apply_recovered' "$STACK_DIR/log/consumer.log"
	# held, not requeued: no message was delivered twice
	[ "$(psql_auth "SELECT count(*) FROM processed_events WHERE redeliveries > 0")" = 0 ]
}

@test "faults: an event whose data keeps failing is requeued alone until the delivery limit dead-letters it" {
	local u1 u2 u3 e1 e2 e3
	fail_inserts explode 23514 # check_violation: caused by this event's data
	u1=$(cat /proc/sys/kernel/random/uuid) u2=$(cat /proc/sys/kernel/random/uuid) u3=$(cat /proc/sys/kernel/random/uuid)
	e1=$(cat /proc/sys/kernel/random/uuid) e2=$(cat /proc/sys/kernel/random/uuid) e3=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$u1" 1 "$e1" fine1)"
	publish "$(envelope UserCreated "$u2" 1 "$e2" explode)"
	publish "$(envelope UserCreated "$u3" 1 "$e3" fine2)"
	wait_until 10 _eq 2 applied
	# redelivered (delivery_limit = 10 by default), then dead-lettered by the broker
	wait_until 30 _eq 1 dlq_depth
	ctl dlq list --json | jq -e --arg e "$e2" '.[0].id == $e and .[0].reason == "delivery_limit"'
	grep -q "event=event_failed event_id=$e2" "$STACK_DIR/log/consumer.log"
	# fixed: replay it
	psql_auth "DROP TRIGGER pipeline_fail ON auth_users; DROP FUNCTION pipeline_fail(); DROP SEQUENCE pipeline_fail_calls"
	ctl dlq replay "$e2"
	wait_until 10 _eq 3 applied
	[ "$(psql_auth "SELECT username FROM auth_users WHERE id = '$u2'")" = explode ]
}
