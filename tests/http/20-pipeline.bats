#!/usr/bin/env bats
# The event pipeline end to end: registration -> outbox -> magenta-relay ->
# RabbitMQ -> magenta-consumer -> auth_users; duplicates, order, poison
# messages, unroutable events, magentactl status/dlq, signals.
# (Failures of PostgreSQL, RabbitMQ and the daemons: 20-pipeline-faults.bats.)

load ../lib/common
load 20-pipeline

# user USERID COLUMNS: those columns of auth_users, '|'-separated.
user() {
	psql_auth "SELECT $2 FROM auth_users WHERE id = '$1'"
}

# outcome EVENT_ID: outcome and redeliveries in processed_events.
outcome() {
	psql_auth "SELECT outcome || ' ' || redeliveries FROM processed_events WHERE event_id = '$1'"
}

@test "pipeline: a registration reaches auth_users with the same hash, once" {
	local id hash
	id=$(register alice)
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'"
	hash=$(psql_users "SELECT password_hash FROM users WHERE id = '$id'")
	[[ $hash == '$argon2id$'* ]]
	[ "$(user "$id" password_hash)" = "$hash" ]
	[ "$(user "$id" "username || ' ' || email || ' ' || version || ' ' || (deleted_at IS NULL)")" = "alice alice@example.com 1 true" ]
	[ "$(user "$id" security_stamp)" = "$(psql_users "SELECT security_stamp FROM users WHERE id = '$id'")" ]
	# recorded once, as applied, with the outbox row's event id
	eid=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$id'")
	[ "$(outcome "$eid")" = "applied 0" ]
	wait_until 5 _eq 0 backlog
	[ "$(psql_users "SELECT attempts || ' ' || (last_error IS NULL) FROM outbox WHERE event_id = '$eid'")" = "1 true" ]
}

@test "pipeline: the relay publishes persistent, mandatory-safe messages with the envelope's ids" {
	local q=pipeline.peek.$$
	# a private queue of our own on the exchange sees what the consumer sees
	amqp_mgmt PUT "/queues/%2F/$q" '{"durable":false,"auto_delete":false}'
	amqp_mgmt POST "/bindings/%2F/e/magenta.events/q/$q" '{"routing_key":"user.created"}'
	id=$(register peeker)
	eid=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$id'")
	wait_until 10 _eq 0 backlog
	amqp_mgmt POST "/queues/%2F/$q/get" '{"count":1,"ackmode":"ack_requeue_false","encoding":"auto"}'
	msg=$(jq -c '.[0]' <<<"$body")
	amqp_mgmt DELETE "/queues/%2F/$q"
	[ "$(jq -r .properties.message_id <<<"$msg")" = "$eid" ]
	[ "$(jq -r .properties.type <<<"$msg")" = UserCreated ]
	[ "$(jq -r .properties.delivery_mode <<<"$msg")" = 2 ]
	[ "$(jq -r .properties.content_type <<<"$msg")" = application/json ]
	[ "$(jq -r .properties.app_id <<<"$msg")" = magenta-relay ]
	[ "$(jq -r '.properties.timestamp > 1700000000' <<<"$msg")" = true ]
	[ "$(jq -r .routing_key <<<"$msg")" = user.created ]
	[ "$(jq -r '.payload | fromjson | .eventId' <<<"$msg")" = "$eid" ]
	# the hash sealed, the message signed (23-pipeline-security.bats)
	[ "$(jq -r '.payload | fromjson | .data.passwordHash | startswith("sealed:v1:")' <<<"$msg")" = true ]
	[ "$(jq -r '.properties.headers["x-magenta-signature"] | length' <<<"$msg")" = 88 ]
}

@test "pipeline: the same message published twice is applied once, the second counted" {
	local u eid env
	u=$(cat /proc/sys/kernel/random/uuid)
	eid=$(cat /proc/sys/kernel/random/uuid)
	env=$(envelope UserCreated "$u" 1 "$eid" twice)
	publish "$env"
	publish "$env"
	wait_until 10 _eq "applied 1" outcome "$eid"
	[ "$(psql_auth "SELECT count(*) FROM processed_events")" = 1 ]
	[ "$(user "$u" "username || ' ' || version")" = "twice 1" ]
	# another event id for the same user and version: a row of its own,
	# same_version (not a redelivery: those only count, above)
	eid2=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$u" 1 "$eid2" other-name)"
	wait_until 10 _eq "same_version 0" outcome "$eid2"
	[ "$(outcome "$eid")" = "applied 1" ]
	[ "$(user "$u" username)" = twice ]
}

@test "pipeline: out of order -- update v2 before create v1 ends as v2" {
	local u e1 e2
	u=$(cat /proc/sys/kernel/random/uuid)
	e1=$(cat /proc/sys/kernel/random/uuid)
	e2=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserUpdated "$u" 2 "$e2" renamed renamed@example.com)"
	wait_until 10 _eq "applied 0" outcome "$e2"
	publish "$(envelope UserCreated "$u" 1 "$e1" original)"
	wait_until 10 _eq "stale 0" outcome "$e1"
	[ "$(user "$u" "username || ' ' || email || ' ' || version || ' ' || email_confirmed || ' ' || security_stamp")" = "renamed renamed@example.com 2 true stamp2" ]
}

@test "pipeline: out of order -- delete v3 then update v2: the user stays deleted" {
	local u e1 e2 e3
	u=$(cat /proc/sys/kernel/random/uuid)
	e1=$(cat /proc/sys/kernel/random/uuid)
	e2=$(cat /proc/sys/kernel/random/uuid)
	e3=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$u" 1 "$e1" doomed)"
	wait_until 10 _eq "applied 0" outcome "$e1"
	publish "$(envelope UserDeleted "$u" 3 "$e3")"
	wait_until 10 _eq "applied 0" outcome "$e3"
	publish "$(envelope UserUpdated "$u" 2 "$e2" doomed2)"
	wait_until 10 _eq "stale 0" outcome "$e2"
	# a tombstone: version 3, deleted, secrets wiped, the name free again
	[ "$(user "$u" "version || ' ' || (deleted_at IS NOT NULL) || ' ' || password_hash || '|' || security_stamp")" = "3 true |" ]
	[ "$(auth_live)" = 0 ]
	# and a late create cannot resurrect it either
	e0=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$u" 1 "$e0" doomed)"
	wait_until 10 _eq "stale 0" outcome "$e0"
	[ "$(auth_live)" = 0 ]
}

@test "pipeline: a delete before anything else leaves a tombstone that later events respect" {
	local u
	u=$(cat /proc/sys/kernel/random/uuid)
	e2=$(cat /proc/sys/kernel/random/uuid)
	e1=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserDeleted "$u" 2 "$e2")"
	wait_until 10 _eq "applied 0" outcome "$e2"
	publish "$(envelope UserCreated "$u" 1 "$e1" ghost)"
	wait_until 10 _eq "stale 0" outcome "$e1"
	[ "$(user "$u" "version || ' ' || (deleted_at IS NOT NULL)")" = "2 true" ]
}

@test "pipeline: a name still held by a stale user is parked, then applied when the holder moves" {
	# in MagentaUsers: A was 'bob', renamed to 'robert' (v2); then B took 'bob'.
	# Here B's create arrives before A's rename: it must wait, not fail.
	local a b ea1 ea2 eb1
	a=$(cat /proc/sys/kernel/random/uuid)
	b=$(cat /proc/sys/kernel/random/uuid)
	ea1=$(cat /proc/sys/kernel/random/uuid)
	ea2=$(cat /proc/sys/kernel/random/uuid)
	eb1=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$a" 1 "$ea1" bob bob@example.com)"
	wait_until 10 _eq "applied 0" outcome "$ea1"
	publish "$(envelope UserCreated "$b" 1 "$eb1" Bob bob2@example.com)"
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM parked_events WHERE event_id = '$eb1' AND blocked_by = '$a'"
	[ "$(outcome "$eb1")" = "" ]
	ctl status --json | jq -e '.consumer.parked == 1'
	# nothing dead-lettered, nothing left in the queue
	[ "$(dlq_depth)" = 0 ]
	publish "$(envelope UserUpdated "$a" 2 "$ea2" robert robert@example.com)"
	wait_until 10 _eq "applied 0" outcome "$eb1"
	[ "$(outcome "$ea2")" = "applied 0" ]
	[ "$(user "$a" username)" = robert ]
	[ "$(user "$b" username)" = Bob ]
	[ "$(psql_auth "SELECT count(*) FROM parked_events")" = 0 ]
}

@test "pipeline: a parked event that turns out stale is dropped when its own user moves on" {
	# A holds 'carol'; B's v1 (carol) is parked; then B's v2 (renamed away)
	# arrives: v2 applies, and the parked v1 is recorded stale, not applied.
	local a b
	a=$(cat /proc/sys/kernel/random/uuid)
	b=$(cat /proc/sys/kernel/random/uuid)
	ea=$(cat /proc/sys/kernel/random/uuid)
	eb1=$(cat /proc/sys/kernel/random/uuid)
	eb2=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$a" 1 "$ea" carol carol@example.com)"
	wait_until 10 _eq "applied 0" outcome "$ea"
	publish "$(envelope UserCreated "$b" 1 "$eb1" carol carol2@example.com)"
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM parked_events"
	publish "$(envelope UserUpdated "$b" 2 "$eb2" caroline caroline@example.com)"
	wait_until 10 _eq "stale 0" outcome "$eb1"
	[ "$(outcome "$eb2")" = "applied 0" ]
	[ "$(user "$a" username)" = carol ]
	[ "$(user "$b" "username || ' ' || version")" = "caroline 2" ]
	[ "$(psql_auth "SELECT count(*) FROM parked_events")" = 0 ]
}

@test "pipeline: a chain of 600 parked renames, each waiting for the name the next one frees, is applied in one go" {
	# chain0..chain600 hold those names; each user i >= 1 is renamed to
	# chain(i-1), which user i-1 still holds, so each waits behind the one
	# before (parked by calling the consumer's function directly, as 600
	# events arriving in this order would).  Then chain0's rename arrives:
	# applying it frees chain0 for user 1, whose rename frees chain1 for
	# user 2, and so on, 600 deep.
	local n=600 e
	uid() { echo "'00000000-0000-4000-8000-' || lpad(($1)::text, 12, '0')"; }
	psql_auth "INSERT INTO auth_users (id, username, email, password_hash, security_stamp,
		email_confirmed, lockout_enabled, version, created_at, updated_at)
		SELECT ($(uid i))::uuid, 'chain' || i, 'chain' || i || '@example.com', 'h', 's', true,
		false, 1, now(), now() FROM generate_series(0, $n) i"
	[ "$(psql_auth "SELECT count(*) FILTER (WHERE apply_user_event(gen_random_uuid(), 'UserUpdated',
		($(uid i))::uuid, 2, now(), 'chain' || (i - 1), 'chain' || i || '@example.com', 'h', 's',
		true, false, NULL, now(), now()) = 'parked') FROM generate_series(1, $n) i")" = "$n" ]
	e=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserUpdated 00000000-0000-4000-8000-000000000000 2 "$e" chain-free chain0@example.com)"
	wait_until 30 _eq "applied 0" outcome "$e"
	[ "$(psql_auth "SELECT count(*) FROM parked_events")" = 0 ]
	[ "$(psql_auth "SELECT count(*) FROM generate_series(1, $n) i JOIN auth_users u
		ON u.id = ($(uid i))::uuid AND u.username = 'chain' || (i - 1) AND u.version = 2")" = "$n" ]
	[ "$(psql_auth "SELECT count(*) FROM processed_events WHERE outcome = 'applied' AND version = 2
		AND user_id::text LIKE '00000000-0000-4000-8000-%'")" = $((n + 1)) ]
	[ "$(dlq_depth)" = 0 ]
}

@test "pipeline: poison goes to the DLQ within 1 s, the events behind it are applied, dlq list shows it" {
	local u eid
	u=$(cat /proc/sys/kernel/random/uuid)
	eid=$(cat /proc/sys/kernel/random/uuid)
	publish_raw 'this is not JSON' user.created poison-1
	publish_raw "$(jq -cn '{eventId:"x", eventType:"UserExploded", schemaVersion:1}')" user.updated
	publish "$(envelope UserCreated "$u" 1 "$eid" afterpoison)"
	wait_until 1 _eq 2 dlq_depth
	wait_until 10 _eq "applied 0" outcome "$eid"
	ctl dlq list --json >"$BATS_TEST_TMPDIR/dlq.json"
	jq -e 'length == 2' "$BATS_TEST_TMPDIR/dlq.json"
	jq -e '.[] | select(.id == "poison-1") | .reason | startswith("invalid_json")' "$BATS_TEST_TMPDIR/dlq.json"
	jq -e '.[] | select(.type == "UserExploded") | .reason == "unknown_type: eventType"' "$BATS_TEST_TMPDIR/dlq.json"
	jq -e '.[] | select(.id == "poison-1") | .routingKey == "user.created" and .deaths == 1' "$BATS_TEST_TMPDIR/dlq.json"
	# the text form too
	run ctl dlq list
	[ "$status" = 0 ]
	[[ $output == *poison-1*invalid_json* ]]
	[[ $output == *"2 dead letters"* ]]
	# listing does not consume them
	[ "$(dlq_depth)" = 2 ]
	# the reason is in the consumer's log, and the body is not
	grep -q 'event=poison_rejected message_id="poison-1" routing_key="user.created" reason=invalid_json' "$STACK_DIR/log/consumer.log"
	! grep -q 'this is not JSON' "$STACK_DIR/log/consumer.log" || false
}

@test "pipeline: schema violations are poison, with the field named and no value logged" {
	local u
	u=$(cat /proc/sys/kernel/random/uuid)
	# a bad email, a version that is not an integer, an unknown schema version
	publish "$(envelope UserCreated "$u" 1 "" badmail not-an-email)"
	publish_raw "$(envelope UserCreated "$u" 1 | jq -c '.version = "1"')" user.created
	publish_raw "$(envelope UserCreated "$u" 1 | jq -c '.schemaVersion = 2')" user.created
	publish_raw "$(envelope UserCreated "$u" 1 | jq -c 'del(.data.passwordHash)')" user.created
	wait_until 5 _eq 4 dlq_depth
	reasons=$(ctl dlq list --json | jq -r '[.[].reason] | sort | join(",")')
	[ "$reasons" = "invalid_field: data.email,invalid_field: version,missing_field: data.passwordHash,unsupported_schema: schemaVersion" ]
	[ "$(psql_auth "SELECT count(*) FROM auth_users")" = 0 ]
	# hashes never reach the log
	! grep -qF -e "$PIPE_HASH" "$STACK_DIR/log/consumer.log" || false
}

@test "pipeline: dlq replay publishes a dead letter again and removes it once confirmed" {
	local u eid
	u=$(cat /proc/sys/kernel/random/uuid)
	eid=$(cat /proc/sys/kernel/random/uuid)
	# a valid event dead-lettered by hand, as the delivery limit would do
	PIPE_EXCHANGE=magenta.events.dlx publish "$(envelope UserCreated "$u" 1 "$eid" replayed)"
	publish_raw 'poison again' user.created poison-2
	wait_until 5 _eq 2 dlq_depth
	run ctl dlq replay "$eid"
	[ "$status" = 0 ]
	[[ $output == *"1 replayed, 0 failed"* ]]
	wait_until 10 _eq "applied 0" outcome "$eid"
	[ "$(dlq_depth)" = 1 ]
	# replaying poison sends it back to the DLQ (once, no loop); unknown ids fail
	run ctl dlq replay --all
	[ "$status" = 0 ]
	[[ $output == *"1 replayed, 0 failed"* ]]
	wait_until 5 _eq 1 dlq_depth
	run ctl dlq replay no-such-id
	[ "$status" = 1 ]
	[[ $output == *"no dead letter with id 'no-such-id'"* ]]
}

@test "pipeline: queue unbound -> rows stay unpublished (mandatory return); rebound -> they drain" {
	local k id1 id2
	for k in user.created user.updated user.deleted; do
		amqp_mgmt DELETE "/bindings/%2F/e/magenta.events/q/$PIPE_QUEUE/$k"
		assert_code 204
	done
	id1=$(register unbound1)
	id2=$(register unbound2)
	wait_until 10 _eq 2 psql_users "SELECT count(*) FROM outbox WHERE attempts >= 1 AND published_at IS NULL AND last_error LIKE '%NO_ROUTE%'"
	[ "$(backlog)" = 2 ]
	ctl status --json | jq -e '.outbox.backlog == 2 and .outbox.failing == 2'
	[ "$(psql_auth "SELECT count(*) FROM auth_users")" = 0 ]
	grep -q 'event=publish_refused' "$STACK_DIR/log/relay.log"
	for k in user.created user.updated user.deleted; do
		amqp_mgmt POST "/bindings/%2F/e/magenta.events/q/$PIPE_QUEUE" "{\"routing_key\":\"$k\"}"
		assert_code 201
	done
	wait_until 15 _eq 0 backlog
	wait_until 10 _eq 2 auth_live
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE last_error IS NULL AND attempts >= 2")" = 2 ]
	grep -q 'event=publish_recovered' "$STACK_DIR/log/relay.log"
}

@test "pipeline: magentactl status shows backlog, queues and the last event applied" {
	id=$(register statususer)
	eid=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$id'")
	wait_until 10 _eq 1 auth_live
	run ctl status --json
	[ "$status" = 0 ]
	jq -e --arg e "$eid" '.consumer.lastEventId == $e and .consumer.lastEventType == "UserCreated"' <<<"$output"
	jq -e '.outbox.backlog == 0 and .queue.consumers >= 1 and .queue.exists and .dlq.messages == 0 and .errors == []' <<<"$output"
	run ctl status
	[ "$status" = 0 ]
	[[ $output == *"outbox     0 unpublished"* ]]
	[[ $output == *"last applied UserCreated $eid"* ]]
}

@test "pipeline: SIGTERM -> both daemons finish and exit 0 within 5 s; SIGUSR1 reopens the log" {
	local bin=$MAGENTA_PREFIX/sbin rpid cpid rlog=$BATS_TEST_TMPDIR/relay.log
	stack_daemons_stop
	"$bin/magenta-relay" -f "$MAGENTA_CONFIG" -d --log-file "$rlog" 3>&- &
	rpid=$!
	"$bin/magenta-consumer" -f "$MAGENTA_CONFIG" -d 2>"$BATS_TEST_TMPDIR/consumer.log" 3>&- &
	cpid=$!
	wait_until 10 grep -q 'event=consuming' "$BATS_TEST_TMPDIR/consumer.log"
	wait_until 10 grep -q 'event=amqp_connected' "$rlog"
	# SIGUSR1: the log file is reopened (rotation)
	mv "$rlog" "$rlog.1"
	kill -USR1 "$rpid"
	wait_until 5 grep -q 'event=log_reopened' "$rlog"
	# work in flight when the signal comes
	outbox_insert 300 sigterm
	kill -TERM "$rpid" "$cpid"
	wait_until 5 bash -c "! kill -0 $rpid 2>/dev/null && ! kill -0 $cpid 2>/dev/null"
	rc=0
	wait "$rpid" || rc=$?
	[ "$rc" = 0 ]
	rc=0
	wait "$cpid" || rc=$?
	[ "$rc" = 0 ]
	grep -q 'event=stop' "$rlog"
	grep -q 'event=stop' "$BATS_TEST_TMPDIR/consumer.log"
	# whatever they did not finish, the harness' daemons do
	stack_daemons_start 3>&-
	wait_until 30 _eq 0 backlog
	wait_until 30 _eq 300 applied
}

@test "pipeline: two relays and two consumers at once -> every event published once, applied once" {
	local bin=$MAGENTA_PREFIX/sbin r2 c2
	"$bin/magenta-relay" -f "$MAGENTA_CONFIG" -d 2>"$BATS_TEST_TMPDIR/relay2.log" 3>&- &
	r2=$!
	"$bin/magenta-consumer" -f "$MAGENTA_CONFIG" -d 2>"$BATS_TEST_TMPDIR/consumer2.log" 3>&- &
	c2=$!
	wait_until 10 grep -q 'event=consuming' "$BATS_TEST_TMPDIR/consumer2.log"
	outbox_insert 3000 multi
	wait_until 60 _eq 3000 applied
	wait_until 10 _eq 0 backlog
	kill -TERM "$r2" "$c2"
	wait "$r2"
	wait "$c2"
	# both relays and both consumers took part
	grep -q 'published=[1-9]' <(grep 'event=stop' "$BATS_TEST_TMPDIR/relay2.log")
	grep -q 'applied=[1-9]' <(grep 'event=stop' "$BATS_TEST_TMPDIR/consumer2.log")
	# SKIP LOCKED: no row was published by both, so nothing arrived twice
	[ "$(psql_auth "SELECT count(*) FROM processed_events WHERE redeliveries > 0 OR outcome <> 'applied'")" = 0 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE attempts <> 1")" = 0 ]
	[ "$(auth_live)" = 3000 ]
}

# _cpu_ticks PID: user + system CPU ticks the process has used.
_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

@test "pipeline: a declaration the broker refuses (an exchange of another type) is logged once by relay and consumer and retried with backoff, not in a loop; fixed, both go on" {
	local bin=$MAGENTA_PREFIX/sbin cpid rpid x=refused.x.$$ q=refused.q.$$ log=$BATS_TEST_TMPDIR/refused.log t0 t1
	amqp_mgmt PUT "/exchanges/%2F/$x" '{"type":"fanout","durable":true}'
	assert_code 201
	MAGENTA_EXCHANGE=$x MAGENTA_QUEUE=$q "$bin/magenta-consumer" -f "$MAGENTA_CONFIG" -d \
		2>"$log" 3>&- &
	cpid=$!
	MAGENTA_EXCHANGE=$x "$bin/magenta-relay" -f "$MAGENTA_CONFIG" -d 2>"$log.relay" 3>&- &
	rpid=$!
	wait_until 10 grep -q "event=amqp_refused who=[a-z-]* err=\"exchange.declare: .*PRECONDITION_FAILED" "$log"
	wait_until 10 grep -q "event=amqp_refused who=[a-z-]* err=\"exchange.declare: .*PRECONDITION_FAILED" "$log.relay"
	# the measure is a window of time: a loop would burn it whole
	t0=$(_cpu_ticks "$cpid")
	t1=$(_cpu_ticks "$rpid")
	sleep 3
	(($(_cpu_ticks "$cpid") - t0 < 30))
	(($(_cpu_ticks "$rpid") - t1 < 30))
	[ "$(grep -c 'event=amqp_refused' "$log")" = 1 ]
	[ "$(grep -c 'event=amqp_refused' "$log.relay")" = 1 ]
	! grep -q 'event=consuming' "$log" || false
	# the exchange gone, their own declarations go through
	amqp_mgmt DELETE "/exchanges/%2F/$x"
	wait_until 40 grep -q "event=consuming queue=$q" "$log"
	grep -q 'event=amqp_accepted' "$log"
	wait_until 40 grep -q 'event=amqp_accepted' "$log.relay"
	amqp_mgmt GET "/exchanges/%2F/$x"
	[ "$(field .type)" = topic ]
	kill -TERM "$cpid" "$rpid"
	wait "$cpid" "$rpid"
	amqp_mgmt DELETE "/queues/%2F/$q"
	amqp_mgmt DELETE "/queues/%2F/$q.dlq"
	amqp_mgmt DELETE "/exchanges/%2F/$x"
	amqp_mgmt DELETE "/exchanges/%2F/$x.dlx"
}

@test "pipeline: queue_type classic, and a seed-style queue that already exists without arguments" {
	local bin=$MAGENTA_PREFIX/sbin cpid q=seed.compat.$$ u eid
	# the seed's service declared its queue durable, classic, no arguments
	amqp_mgmt PUT "/queues/%2F/$q" '{"durable":true,"auto_delete":false,"arguments":{}}'
	stack_daemon_stop consumer
	MAGENTA_QUEUE=$q MAGENTA_QUEUE_TYPE=classic "$bin/magenta-consumer" -f "$MAGENTA_CONFIG" -d \
		2>"$BATS_TEST_TMPDIR/classic.log" 3>&- &
	cpid=$!
	wait_until 10 grep -q 'event=consuming' "$BATS_TEST_TMPDIR/classic.log"
	# used as it is, with one warning, and bound by the consumer
	grep -q "event=queue_arguments_differ queue=$q" "$BATS_TEST_TMPDIR/classic.log"
	u=$(cat /proc/sys/kernel/random/uuid)
	eid=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$u" 1 "$eid" classic)"
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM processed_events WHERE event_id = '$eid' AND outcome = 'applied'"
	amqp_mgmt GET "/queues/%2F/$q"
	[ "$(field .type)" = classic ]
	# its own dead-letter queue was declared classic too
	amqp_mgmt GET "/queues/%2F/$q.dlq"
	[ "$(field .type)" = classic ]
	kill -TERM "$cpid"
	wait "$cpid"
	amqp_mgmt DELETE "/queues/%2F/$q"
	amqp_mgmt DELETE "/queues/%2F/$q.dlq"
	stack_daemon_start consumer 3>&-
	# the event also went to the real queue: applied there, seen as a redelivery
	wait_until 10 _eq "applied 1" outcome "$eid"
}

@test "pipeline: the consumer forgets event ids past their retention; one delivered again still changes nothing" {
	local u eid u2 eid2
	u=$(cat /proc/sys/kernel/random/uuid) eid=$(cat /proc/sys/kernel/random/uuid)
	u2=$(cat /proc/sys/kernel/random/uuid) eid2=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$u" 1 "$eid" forgotten)"
	publish "$(envelope UserCreated "$u2" 1 "$eid2" remembered)"
	wait_until 10 _eq "applied 0" outcome "$eid"
	wait_until 10 _eq "applied 0" outcome "$eid2"
	psql_auth "UPDATE processed_events SET processed_at = now() - interval '31 days' WHERE event_id = '$eid';
		UPDATE processed_events SET processed_at = now() - interval '29 days' WHERE event_id = '$eid2'"
	# a (re)started consumer sweeps at once, then every 30 s
	stack_daemon_stop consumer
	stack_daemon_start consumer 3>&-
	wait_until 10 _eq 0 psql_auth "SELECT count(*) FROM processed_events WHERE event_id = '$eid'"
	[ "$(outcome "$eid2")" = "applied 0" ]
	grep -q 'event=processed_pruned rows=1 retention_days=30' "$STACK_DIR/log/consumer.log"
	# the forgotten event again, with other content: its version is stored,
	# so it is recorded as same_version and the user stays as it was
	publish "$(envelope UserCreated "$u" 1 "$eid" rewritten)"
	wait_until 10 _eq "same_version 0" outcome "$eid"
	[ "$(user "$u" "username || ' ' || version")" = "forgotten 1" ]
}

@test "pipeline: the consumer's housekeeping runs on its timer while events keep coming (consumer_sweep_seconds)" {
	local first loop
	stack_daemon_stop consumer
	MAGENTA_CONSUMER_SWEEP_SECONDS=2 stack_daemon_start consumer 3>&-
	first=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$(cat /proc/sys/kernel/random/uuid)" 1 "$first" first)"
	wait_until 10 _eq "applied 0" outcome "$first"
	psql_auth "UPDATE processed_events SET processed_at = now() - interval '31 days' WHERE event_id = '$first'"
	# an event every 0.2 s for 10 s: the consumer is never idle for a second
	(
		for _ in $(seq 1 50); do
			publish "$(envelope UserCreated "$(cat /proc/sys/kernel/random/uuid)" 1)" >/dev/null
			sleep 0.2
		done
	) 3>&- &
	loop=$!
	wait_until 6 _eq 0 psql_auth "SELECT count(*) FROM processed_events WHERE event_id = '$first'"
	kill -0 "$loop" # pruned while the traffic went on
	wait "$loop"
	stack_daemon_stop consumer
	stack_daemon_start consumer 3>&-
}

@test "pipeline: the consumer forgets why it rejected a message after rejected_messages_retention_days" {
	local old recent
	publish_raw 'old poison' user.created poison-old
	publish_raw 'recent poison' user.created poison-recent
	wait_until 10 _eq 2 dlq_depth
	wait_until 10 _eq 2 psql_auth "SELECT count(*) FROM rejected_messages"
	old=$(printf '%s' 'old poison' | sha256sum | cut -d' ' -f1)
	recent=$(printf '%s' 'recent poison' | sha256sum | cut -d' ' -f1)
	psql_auth "UPDATE rejected_messages SET rejected_at = now() - interval '91 days' WHERE body_sha256 = '$old';
		UPDATE rejected_messages SET rejected_at = now() - interval '89 days' WHERE body_sha256 = '$recent'"
	stack_daemon_stop consumer
	stack_daemon_start consumer 3>&-
	wait_until 10 _eq 0 psql_auth "SELECT count(*) FROM rejected_messages WHERE body_sha256 = '$old'"
	[ "$(psql_auth "SELECT count(*) FROM rejected_messages WHERE body_sha256 = '$recent'")" = 1 ]
	grep -q 'event=rejected_pruned rows=1 retention_days=90' "$STACK_DIR/log/consumer.log"
	# both dead letters are still listed: the forgotten one with the
	# broker's reason only
	ctl dlq list --json >"$BATS_TEST_TMPDIR/dlq.json"
	jq -e '.[] | select(.id == "poison-old") | .reason == "rejected"' "$BATS_TEST_TMPDIR/dlq.json"
	jq -e '.[] | select(.id == "poison-recent") | .reason | startswith("invalid_json")' "$BATS_TEST_TMPDIR/dlq.json"
}

@test "pipeline: the relay deletes published outbox rows older than the retention period, nothing else; with 0, none" {
	outbox_insert 30 retained
	wait_until 10 _eq 0 backlog
	# 10 published 8 days ago, 10 published 6 days ago, 10 just now; plus
	# an old row that was never published (it must stay, whatever its age)
	psql_users "UPDATE outbox SET published_at = now() - interval '8 days' WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 10);
		UPDATE outbox SET published_at = now() - interval '6 days' WHERE id IN (SELECT id FROM outbox ORDER BY id OFFSET 10 LIMIT 10)"
	stack_daemon_stop relay
	psql_users "INSERT INTO outbox (event_id, aggregate_id, aggregate_version, event_type, routing_key, payload, created_at)
		VALUES (gen_random_uuid(), gen_random_uuid(), 1, 'UserCreated', 'user.created', '{}', now() - interval '30 days')"
	psql_users "UPDATE outbox SET next_attempt_at = now() + interval '1 hour' WHERE published_at IS NULL"
	# with 0, kept for ever: a row inserted after the start published
	# means the start's sweep is behind it, and it deleted nothing
	MAGENTA_OUTBOX_RETENTION_DAYS=0 stack_daemon_start relay 3>&-
	outbox_insert 1 marker
	wait_until 10 _eq 1 psql_users "SELECT count(*) FROM outbox o JOIN users u ON u.id = o.aggregate_id
		WHERE u.username = 'marker1' AND o.published_at IS NOT NULL"
	[ "$(psql_users "SELECT count(*) FROM outbox")" = 32 ]
	! grep -q 'event=outbox_pruned' "$STACK_DIR/log/relay.log" || false
	psql_users "DELETE FROM outbox WHERE aggregate_id = (SELECT id FROM users WHERE username = 'marker1')"
	stack_daemon_stop relay
	stack_daemon_start relay 3>&-
	wait_until 10 _eq 21 psql_users "SELECT count(*) FROM outbox"
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE published_at < now() - interval '7 days'")" = 0 ]
	[ "$(backlog)" = 1 ]
	grep -q 'event=outbox_pruned rows=10 retention_days=7' "$STACK_DIR/log/relay.log"
	psql_users "DELETE FROM outbox WHERE published_at IS NULL"
}
