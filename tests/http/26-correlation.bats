#!/usr/bin/env bats
# Correlation (issue 20, docs/operations.md "Correlation and trace"): the
# X-Request-Id of the request that caused a change goes into its outbox row,
# the AMQP message (correlation_id and x-request-id), the relay's and the
# consumer's log lines (key req=, as the HTTP lines), processed_events; and
# magentactl trace finds the path by user, event or request id.

load ../lib/common
load 20-pipeline
load 30-auth
load 11-users

# the FastCGI programs write to the web server's error log
REG_LOG() { echo "$STACK_DIR/log/lighttpd-error.log"; }

# A request id of our own, unique in the logs of the whole run.
new_rid() {
	echo "$1-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
}

# logged FILE RID EVENT: FILE has a line of EVENT with req=RID.
logged() {
	grep -E "(^| )req=$2( |$)" "$1" | grep -q "event=$3 "
}

processed_req() {
	psql_auth "SELECT coalesce(request_id, '-') || ' ' || outcome FROM processed_events WHERE event_id = '$1'"
}

@test "correlation: a registration's X-Request-Id is in its outbox row, the message, the relay's and the consumer's lines, processed_events" {
	local rid uid eid q=corr.peek.$$ msg
	rid=$(new_rid abc)
	amqp_mgmt PUT "/queues/%2F/$q" '{"durable":false,"auto_delete":false}'
	amqp_mgmt POST "/bindings/%2F/e/magenta.events/q/$q" '{"routing_key":"user.created"}'
	api POST /api/registration/register -H 'Content-Type: application/json' -H "X-Request-Id: $rid" \
		--data-binary '{"username":"corr_alice","email":"corr_alice@example.com","password":"correlation pw 12","confirmPassword":"correlation pw 12"}'
	assert_code 201
	[ "$(header X-Request-Id)" = "$rid" ]
	uid=$(field .userId)
	eid=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$uid'")
	[ "$(psql_users "SELECT request_id FROM outbox WHERE event_id = '$eid'")" = "$rid" ]
	# the HTTP line, the relay's, the consumer's: one grep for req=
	logged "$(REG_LOG)" "$rid" user_registered
	wait_until 10 logged "$STACK_DIR/log/relay.log" "$rid" event_published
	grep -E " req=$rid " "$STACK_DIR/log/relay.log" | grep -q "event_id=$eid"
	wait_until 10 logged "$STACK_DIR/log/consumer.log" "$rid" event_applied
	grep -E " req=$rid " "$STACK_DIR/log/consumer.log" | grep -q "event_id=$eid"
	[ "$(grep -hE " req=$rid( |$)" "$(REG_LOG)" "$STACK_DIR/log/relay.log" "$STACK_DIR/log/consumer.log" | grep -c 'event=\(user_registered\|event_published\|event_applied\) ')" = 3 ]
	wait_until 10 _eq "$rid applied" processed_req "$eid"
	# on the wire: the correlation_id property and the x-request-id header,
	# outside the signed body
	amqp_mgmt POST "/queues/%2F/$q/get" '{"count":1,"ackmode":"ack_requeue_false","encoding":"auto"}'
	msg=$(jq -c '.[0]' <<<"$body")
	amqp_mgmt DELETE "/queues/%2F/$q"
	[ "$(jq -r .properties.message_id <<<"$msg")" = "$eid" ]
	[ "$(jq -r .properties.correlation_id <<<"$msg")" = "$rid" ]
	[ "$(jq -r '.properties.headers["x-request-id"]' <<<"$msg")" = "$rid" ]
	! jq -r .payload <<<"$msg" | grep -qF -e "$rid"
}

# trace_ok KEY: magentactl trace KEY exits 0.
trace_ok() { ctl trace "$1" >/dev/null 2>&1; }

@test "correlation: magentactl trace by user id, username, event id and request id prints the path; --json parses" {
	local rid uid eid key out
	rid=$(new_rid trace)
	api POST /api/registration/register -H 'Content-Type: application/json' -H "X-Request-Id: $rid" \
		--data-binary '{"username":"corr_bob","email":"corr_bob@example.com","password":"correlation pw 12","confirmPassword":"correlation pw 12"}'
	assert_code 201
	uid=$(field .userId)
	eid=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$uid'")
	wait_until 10 _eq "$rid applied" processed_req "$eid"
	for key in "$uid" "$eid" "$rid" corr_bob corr_bob@example.com; do
		run ctl trace --json "$key"
		[ "$status" -eq 0 ]
		[ "$(jq -r '.events | length' <<<"$output")" = 1 ]
		[ "$(jq -r '.events[0] | [.eventId, .type, .userId, .version, .requestId, .state] | join(" ")' <<<"$output")" = "$eid UserCreated $uid 1 $rid applied" ]
		[ "$(jq -r '.events[0].outbox | (.createdAt != null) and (.publishedAt != null) and (.attempts == 1)' <<<"$output")" = true ]
		[ "$(jq -r '.events[0].processed | [.outcome, (.processedAt != null), .redeliveries] | join(" ")' <<<"$output")" = "applied true 0" ]
		[ "$(jq -r '.events[0].parked, .events[0].rejected' <<<"$output")" = "$(printf 'null\nnull')" ]
		# the same for a person
		run ctl trace "$key"
		[ "$status" -eq 0 ]
		grep -q "^event $eid UserCreated user $uid version 1 req $rid: applied$" <<<"$output"
		grep -qE "^  outbox +created [0-9T:.-]+Z, published [0-9T:.-]+Z, attempts 1$" <<<"$output"
		grep -qE "^  consumer +applied at [0-9T:.-]+Z, 0 redeliveries$" <<<"$output"
	done
	# an unpublished row is found too, and says so (the relay stopped)
	stack_daemon_stop relay 3>&- >/dev/null
	local rid2 uid2
	rid2=$(new_rid held)
	api POST /api/registration/register -H 'Content-Type: application/json' -H "X-Request-Id: $rid2" \
		--data-binary '{"username":"corr_held","email":"corr_held@example.com","password":"correlation pw 12","confirmPassword":"correlation pw 12"}'
	assert_code 201
	run ctl trace --json "$rid2"
	stack_daemons_start 3>&- >/dev/null
	[ "$status" -eq 0 ]
	[ "$(jq -r '.events[0] | [.state, .outbox.publishedAt, .processed] | map(tostring) | join(" ")' <<<"$output")" = "unpublished null null" ]
	wait_until 15 trace_ok "$rid2"
	wait_until 15 _eq "$rid2 applied" processed_req "$(psql_users "SELECT event_id FROM outbox WHERE request_id = '$rid2'")"
}

@test "correlation: magentactl trace -- nothing found exits 1, a bad key or argument 3" {
	run ctl trace "$(cat /proc/sys/kernel/random/uuid)"
	[ "$status" -eq 1 ]
	[[ $output == *"nothing found"* ]]
	run ctl trace --json no-such-request-id
	[ "$status" -eq 1 ]
	[ "$(jq -r '.events | length' <<<"$output")" = 0 ]
	run ctl trace 'bad key!'
	[ "$status" -eq 3 ]
	run ctl trace
	[ "$status" -eq 3 ]
	run ctl trace --bogus x
	[ "$status" -eq 3 ]
	run ctl trace --help
	[ "$status" -eq 0 ]
	[[ $output == *"trace [--json] USER|EVENT_ID|REQUEST_ID"* ]]
}

@test "correlation: a PATCH users/me carries its own request id to its UserUpdated; trace by user shows both events" {
	local rid uid e1 e2
	new_user corr_carol
	uid=$UID_
	e1=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$uid' AND aggregate_version = 1")
	rid=$(new_rid patch)
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"Carol C"}' -H "X-Request-Id: $rid"
	assert_code 200
	e2=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$uid' AND aggregate_version = 2")
	[ -n "$e2" ]
	[ "$(psql_users "SELECT request_id FROM outbox WHERE event_id = '$e2'")" = "$rid" ]
	# the registration's own id is another one
	[ "$(psql_users "SELECT request_id <> '$rid' FROM outbox WHERE event_id = '$e1'")" = t ]
	wait_until 10 _eq "$rid applied" processed_req "$e2"
	wait_until 10 logged "$STACK_DIR/log/relay.log" "$rid" event_published
	wait_until 10 logged "$STACK_DIR/log/consumer.log" "$rid" event_applied
	run ctl trace --json "$uid"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.events[] | .eventId + " " + .type + " " + (.version | tostring)] | join(",")' <<<"$output")" = "$e1 UserCreated 1,$e2 UserUpdated 2" ]
	[ "$(jq -r '.events[1].requestId' <<<"$output")" = "$rid" ]
	run ctl trace --json "$rid"
	[ "$(jq -r '[.events[].eventId] | join(",")' <<<"$output")" = "$e2" ]
}

@test "correlation: an insane X-Request-Id is not stored: the id the service made instead is, everywhere" {
	local bad uid eid made
	for bad in 'has space' "$(printf 'x%.0s' {1..65})" 'semi;colon' 'quote"d'; do
		api POST /api/registration/register -H 'Content-Type: application/json' -H "X-Request-Id: $bad" \
			--data-binary "$(jq -cn --arg u "corr_x${#bad}_$RANDOM" '{username:$u,email:($u+"@example.com"),password:"correlation pw 12",confirmPassword:"correlation pw 12"}')"
		assert_code 201
		made=$(header X-Request-Id)
		[ "$made" != "$bad" ]
		uid=$(field .userId)
		eid=$(psql_users "SELECT event_id FROM outbox WHERE aggregate_id = '$uid'")
		[ "$(psql_users "SELECT request_id FROM outbox WHERE event_id = '$eid'")" = "$made" ]
		[ "$(psql_users "SELECT count(*) FROM outbox WHERE request_id = \$\$$bad\$\$")" = 0 ]
		wait_until 10 _eq "$made applied" processed_req "$eid"
	done
	! grep -qF 'req=has space' "$(REG_LOG)" "$STACK_DIR/log/relay.log" "$STACK_DIR/log/consumer.log"
}

@test "correlation: a message's insane correlation id is neither logged nor stored; a header alone is read" {
	local u eid env
	# straight to the exchange, as another publisher might (signed as the relay does)
	u=$(cat /proc/sys/kernel/random/uuid)
	eid=$(cat /proc/sys/kernel/random/uuid)
	env=$(envelope UserCreated "$u" 1 "$eid" corr_raw)
	PIPE_CORRELATION_ID='no good;id' publish "$env"
	wait_until 10 _eq "- applied" processed_req "$eid"
	grep "event_id=$eid" "$STACK_DIR/log/consumer.log" | grep -q "event=event_applied"
	! grep "event_id=$eid" "$STACK_DIR/log/consumer.log" | grep -q "req="
	u=$(cat /proc/sys/kernel/random/uuid)
	eid=$(cat /proc/sys/kernel/random/uuid)
	PIPE_REQUEST_HEADER=hdr-only-$$ publish "$(envelope UserCreated "$u" 1 "$eid" corr_hdr)"
	wait_until 10 _eq "hdr-only-$$ applied" processed_req "$eid"
	grep "event_id=$eid" "$STACK_DIR/log/consumer.log" | grep -q " req=hdr-only-$$ "
}

@test "correlation: a parked event keeps its request id until it is applied; trace shows it parked, then applied" {
	local a b ea1 ea2 eb1
	a=$(cat /proc/sys/kernel/random/uuid)
	b=$(cat /proc/sys/kernel/random/uuid)
	ea1=$(cat /proc/sys/kernel/random/uuid)
	ea2=$(cat /proc/sys/kernel/random/uuid)
	eb1=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$a" 1 "$ea1" corr_dan corr_dan@example.com)"
	wait_until 10 _eq "- applied" processed_req "$ea1"
	# B takes the name before A's rename has arrived: parked
	PIPE_CORRELATION_ID=park-$$ publish "$(envelope UserCreated "$b" 1 "$eb1" corr_dan corr_dan2@example.com)"
	wait_until 10 _eq "park-$$" psql_auth "SELECT request_id FROM parked_events WHERE event_id = '$eb1'"
	grep "event_id=$eb1" "$STACK_DIR/log/consumer.log" | grep "event=event_parked" | grep -q " req=park-$$ "
	run ctl trace --json "park-$$"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.events[0] | [.eventId, .state, .parked.blockedBy, (.parked.parkedAt != null), (.outbox | tostring), (.processed | tostring)] | join(" ")' <<<"$output")" = "$eb1 parked $a true null null" ]
	run ctl trace "park-$$"
	grep -qE "^  parked +since [0-9T:.-]+Z, waits for user $a$" <<<"$output"
	# A's rename frees the name: B's event is applied with its request id
	PIPE_CORRELATION_ID=rename-$$ publish "$(envelope UserUpdated "$a" 2 "$ea2" corr_daniel corr_dan@example.com)"
	wait_until 10 _eq "park-$$ applied" processed_req "$eb1"
	[ "$(processed_req "$ea2")" = "rename-$$ applied" ]
	run ctl trace --json "park-$$"
	[ "$(jq -r '.events[0] | [.state, (.parked | tostring)] | join(" ")' <<<"$output")" = "applied null" ]
}

@test "correlation: a poison message's request id is kept with its rejection; trace shows the dead letter" {
	local eid
	eid=$(cat /proc/sys/kernel/random/uuid)
	PIPE_UNSIGNED=1 PIPE_CORRELATION_ID=poison-$$ publish_raw '{"not":"signed"}' user.created "$eid"
	wait_until 10 _eq "poison-$$ bad_signature" psql_auth "SELECT request_id || ' ' || reason FROM rejected_messages WHERE message_id = '$eid'"
	grep "message_id=\"$eid\"" "$STACK_DIR/log/consumer.log" | grep "event=poison_rejected" | grep -q " req=poison-$$ "
	for key in "poison-$$" "$eid"; do
		run ctl trace --json "$key"
		[ "$status" -eq 0 ]
		[ "$(jq -r '.events[0] | [.eventId, .state, .requestId, .rejected.reason, .rejected.rejections] | join(" ")' <<<"$output")" = "$eid dead_lettered poison-$$ bad_signature 1" ]
	done
	run ctl trace "poison-$$"
	grep -qE "^  dlq +bad_signature \(unsigned\) at [0-9T:.-]+Z, 1 rejections$" <<<"$output"
}
