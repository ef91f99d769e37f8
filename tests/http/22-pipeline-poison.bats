#!/usr/bin/env bats
# Poison the consumer must survive (issue 15): a message with an empty body
# is dead-lettered with its reason, and the consumer goes on.  Before the
# fix, a sanitizer build (MAGENTA_CONFIGURE_ARGS=--enable-sanitizers)
# aborted on it in lib/mq.c (memcpy from NULL) and crash-looped.

load ../lib/common
load 20-pipeline

@test "pipeline poison: an empty body is dead-lettered as empty_body; the consumer goes on" {
	local pid u eid
	pid=$(daemon_pid consumer)
	u=$(cat /proc/sys/kernel/random/uuid)
	eid=$(cat /proc/sys/kernel/random/uuid)
	publish_raw '' user.created empty-1
	publish "$(envelope UserCreated "$u" 1 "$eid" afterempty)"
	wait_until 10 _eq 1 dlq_depth
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM processed_events WHERE event_id = '$eid' AND outcome = 'applied'"
	# the same process, still running: it did not abort on the empty body
	[ "$(daemon_pid consumer)" = "$pid" ]
	kill -0 "$pid"
	[ "$(psql_auth "SELECT reason || ' ' || message_id || ' ' || rejections FROM rejected_messages")" = "empty_body empty-1 1" ]
	ctl dlq list --json >"$BATS_TEST_TMPDIR/dlq.json"
	jq -e 'length == 1 and .[0].id == "empty-1" and .[0].reason == "empty_body"' "$BATS_TEST_TMPDIR/dlq.json"
	grep -q 'event=poison_rejected message_id="empty-1" routing_key="user.created" reason=empty_body' "$STACK_DIR/log/consumer.log"
	! grep -q 'runtime error' "$STACK_DIR/log/consumer.log" || false
}
