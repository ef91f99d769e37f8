#!/usr/bin/env bats
# Who may put what on the broker (issue 15, docs/events.md "Broker users"
# and "Authenticated events"): least-privilege broker users, events signed
# by the relay and verified by the consumer before it parses them, password
# hashes sealed to the consumer, costly hashes refused.  The signatures and
# seals are checked and made here with PyNaCl (tests/tools/event-tool.py),
# independently of our C code.

load ../lib/common
load 20-pipeline

# user USERID COLUMNS: those columns of auth_users, '|'-separated.
user() {
	psql_auth "SELECT $2 FROM auth_users WHERE id = '$1'"
}

# amqp_try USER PASSWORD ACTION ARGS...: "ok" or "refused: ..." (pika)
amqp_try() {
	/usr/bin/python3 "$BATS_TEST_DIRNAME/../tools/amqp-try.py" "$AMQP_PORT" "$@"
}

# The DLQ's reasons, sorted, comma-separated.
dlq_reasons() {
	ctl dlq list --json | jq -r '[.[].reason] | sort | join(",")'
}

# Every column of a user in auth_users that an event may change.
user_state() {
	user "$1" "username, email, password_hash, security_stamp, version, deleted_at IS NULL"
}

@test "broker users: neither guest (monitoring) nor the relay can publish to the consumer's queue, read it, or declare or bind a queue" {
	local spy=security.spy.$$ who pw
	amqp_mgmt PUT "/queues/%2F/$spy" '{"durable":false,"auto_delete":false}'
	assert_code 201
	for who in guest magenta-relay; do
		pw=guest
		[[ $who == magenta-relay ]] && pw=$AMQP_RELAY_PASSWORD
		run amqp_try "$who" "$pw" publish "" authentication.user.events '{"eventType":"UserDeleted"}'
		[[ $status == 1 && $output == refused:*ACCESS_REFUSED* ]] || { echo "$who publish: $output"; false; }
		run amqp_try "$who" "$pw" get authentication.user.events
		[[ $status == 1 && $output == refused:*ACCESS_REFUSED* ]] || { echo "$who get: $output"; false; }
		run amqp_try "$who" "$pw" declare "$spy.$who"
		[[ $status == 1 && $output == refused:*ACCESS_REFUSED* ]] || { echo "$who declare: $output"; false; }
		run amqp_try "$who" "$pw" bind "$spy" magenta.events '#'
		[[ $status == 1 && $output == refused:*ACCESS_REFUSED* ]] || { echo "$who bind: $output"; false; }
	done
	# guest cannot publish to the exchange either, not even through the
	# management UI; the relay can (that is its job, and why it signs)
	run amqp_try guest guest publish magenta.events user.deleted '{}'
	[[ $status == 1 && $output == refused:*ACCESS_REFUSED* ]]
	amqp_mgmt_as guest:guest POST /exchanges/%2F/magenta.events/publish \
		'{"properties":{},"routing_key":"user.deleted","payload":"{}","payload_encoding":"string"}'
	[[ $code != 200 && $body == *ACCESS_REFUSED* ]] || { echo "management publish as guest: $code $body"; false; }
	run amqp_try magenta-relay "$AMQP_RELAY_PASSWORD" publish magenta.events no.such.key '{}'
	[ "$output" = ok ]
	# guest still sees the management UI (the seed's story), read-only
	amqp_mgmt_as guest:guest GET /overview
	assert_code 200
	amqp_mgmt_as guest:guest GET /whoami
	[[ $(field .tags) == *monitoring* && $(field .tags) != *administrator* ]]
	# the consumer may read its own queue, but neither publish to it nor bind a spy
	run amqp_try magenta-consumer "$AMQP_CONSUMER_PASSWORD" publish "" authentication.user.events '{}'
	[[ $status == 1 && $output == refused:*ACCESS_REFUSED* ]]
	run amqp_try magenta-consumer "$AMQP_CONSUMER_PASSWORD" bind "$spy" magenta.events '#'
	[[ $status == 1 && $output == refused:*ACCESS_REFUSED* ]]
	# nothing reached the spy queue
	amqp_mgmt POST "/queues/%2F/$spy/get" '{"count":5,"ackmode":"ack_requeue_false","encoding":"auto"}'
	assert_code 200
	[ "$(jq length <<<"$body")" = 0 ]
	amqp_mgmt DELETE "/queues/%2F/$spy"
}

@test "forged events: takeover, squat and delete without the relay's key are dead-lettered as bad_signature and change nothing" {
	local id before eid evil=$BATS_TEST_TMPDIR/evil hash2 w body
	id=$(register victim)
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'"
	before=$(user_state "$id")
	ctl keygen --events --dir "$evil" >/dev/null
	hash2=$(printf 'attacker pass 123' | ctl hash-password)
	# takeover: a far higher version with the attacker's hash, unsigned
	PIPE_UNSIGNED=1 publish "$(envelope UserUpdated "$id" 999 "" victim victim@example.com | jq -c --arg h "$hash2" '.data.passwordHash = $h')"
	# the same signed with a key of the attacker's (unknown key id) ...
	cp "$STACK_DIR/keys/events-seal.pub" "$evil/events-seal.pub"
	body=$(envelope UserUpdated "$id" 998 "" victim victim@example.com | jq -c --arg h "$hash2" '.data.passwordHash = $h')
	w=$(event_tool wire "$evil" user.updated <<<"$body")
	amqp_mgmt POST /exchanges/%2F/magenta.events/publish "$(jq -cn --argjson w "$w" \
		'{properties:{headers:{"x-magenta-signature":$w.sig, "x-magenta-key-id":$w.kid}}, routing_key:"user.updated", payload:$w.body, payload_encoding:"string"}')"
	assert_code 200
	# ... and claiming the relay's key id (another body: the DLQ's reasons
	# are kept by body)
	local kid
	kid=$(event_tool kid "$STACK_DIR/keys/events-sign.pub")
	w=$(event_tool wire "$evil" user.updated <<<"$(jq -c '.version = 995' <<<"$body")")
	amqp_mgmt POST /exchanges/%2F/magenta.events/publish "$(jq -cn --argjson w "$w" --arg k "$kid" \
		'{properties:{headers:{"x-magenta-signature":$w.sig, "x-magenta-key-id":$k}}, routing_key:"user.updated", payload:$w.body, payload_encoding:"string"}')"
	assert_code 200
	# a genuine signature moved to another routing key, or over another body
	w=$(event_tool wire "$STACK_DIR/keys" user.updated <<<"$(envelope UserUpdated "$id" 997 "" victim victim@example.com)")
	amqp_mgmt POST /exchanges/%2F/magenta.events/publish "$(jq -cn --argjson w "$w" \
		'{properties:{headers:{"x-magenta-signature":$w.sig, "x-magenta-key-id":$w.kid}}, routing_key:"user.created", payload:$w.body, payload_encoding:"string"}')"
	amqp_mgmt POST /exchanges/%2F/magenta.events/publish "$(jq -cn --argjson w "$w" \
		'{properties:{headers:{"x-magenta-signature":$w.sig, "x-magenta-key-id":$w.kid}}, routing_key:"user.updated", payload:($w.body | sub("\"version\":997"; "\"version\":996")), payload_encoding:"string"}')"
	# squat a name; delete the victim
	PIPE_UNSIGNED=1 publish "$(envelope UserCreated "$(cat /proc/sys/kernel/random/uuid)" 1 "" squatter)"
	PIPE_UNSIGNED=1 publish "$(envelope UserDeleted "$id" 1000)"
	wait_until 10 _eq 7 dlq_depth
	run dlq_reasons
	echo "$output"
	[ "$output" = "bad_signature: signature mismatch,bad_signature: signature mismatch,bad_signature: signature mismatch,bad_signature: unknown key id,bad_signature: unsigned,bad_signature: unsigned,bad_signature: unsigned" ]
	# nothing changed: same row, no squatter, nothing recorded as processed
	[ "$(user_state "$id")" = "$before" ]
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE username = 'squatter'")" = 0 ]
	[ "$(psql_auth "SELECT count(*) FROM processed_events")" = 1 ]
	# the victim still logs in with the real password, the attacker's fails
	post_json /api/auth/login '{"usernameOrEmail":"victim","password":"pipeline test pw 1"}'
	assert_code 200
	post_json /api/auth/login '{"usernameOrEmail":"victim","password":"attacker pass 123"}'
	assert_code 401
	grep -q 'event=poison_rejected .*reason=bad_signature' "$STACK_DIR/log/consumer.log"
	# a replayed forgery is refused again
	run ctl dlq replay --all
	[ "$status" = 0 ]
	wait_until 10 _eq 7 dlq_depth
	[ "$(user_state "$id")" = "$before" ]
}

@test "sealed hashes: a spy queue (even an administrator's) sees the relay's signature and a sealed hash, never the hash itself" {
	local q=security.peek.$$ id msg body kid sig rk hash
	amqp_mgmt PUT "/queues/%2F/$q" '{"durable":false,"auto_delete":false}'
	amqp_mgmt POST "/bindings/%2F/e/magenta.events/q/$q" '{"routing_key":"#"}'
	id=$(register sealme)
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'"
	amqp_mgmt POST "/queues/%2F/$q/get" '{"count":1,"ackmode":"ack_requeue_false","encoding":"auto"}'
	assert_code 200
	msg=$(jq -c '.[0]' <<<"$body")
	amqp_mgmt DELETE "/queues/%2F/$q"
	local payload
	payload=$(jq -r .payload <<<"$msg")
	hash=$(psql_users "SELECT password_hash FROM users WHERE id = '$id'")
	[[ $hash == '$argon2id$'* ]]
	# no hash on the wire
	[[ $payload != *'$argon2'* ]]
	[[ $(jq -r .data.passwordHash <<<"$payload") == sealed:v1:* ]]
	# the signature is Ed25519 over the documented message, by the relay's key
	kid=$(jq -r '.properties.headers["x-magenta-key-id"]' <<<"$msg")
	sig=$(jq -r '.properties.headers["x-magenta-signature"]' <<<"$msg")
	rk=$(jq -r .routing_key <<<"$msg")
	[ "$rk" = user.created ]
	[ "$kid" = "$(event_tool kid "$STACK_DIR/keys/events-sign.pub")" ]
	printf '%s' "$payload" | event_tool verify "$STACK_DIR/keys" "$rk" "$kid" "$sig"
	! printf '%s ' "$payload" | event_tool verify "$STACK_DIR/keys" "$rk" "$kid" "$sig" || false
	! printf '%s' "$payload" | event_tool verify "$STACK_DIR/keys" user.deleted "$kid" "$sig" || false
	# the consumer's key opens it to exactly the stored hash
	[ "$(jq -r .data.passwordHash <<<"$payload" | event_tool open "$STACK_DIR/keys")" = "$hash" ]
	[ "$(user "$id" password_hash)" = "$hash" ]
	# the outbox keeps the event as written
	[ "$(psql_users "SELECT payload->'data'->>'passwordHash' FROM outbox WHERE aggregate_id = '$id'")" = "$hash" ]
}

@test "sealed hashes: a signed event with a hash in clear, or a seal that does not open, is poison; dlq list shows which are sealed" {
	local u1 u2 u3
	u1=$(cat /proc/sys/kernel/random/uuid)
	u2=$(cat /proc/sys/kernel/random/uuid)
	u3=$(cat /proc/sys/kernel/random/uuid)
	PIPE_NO_SEAL=1 publish "$(envelope UserCreated "$u1" 1 "" clearhash)"
	# sealed to a key that is not the consumer's
	ctl keygen --events --dir "$BATS_TEST_TMPDIR/other" >/dev/null
	cp "$STACK_DIR/keys/events-sign.pem" "$STACK_DIR/keys/events-sign.pub" "$BATS_TEST_TMPDIR/other/"
	local w
	w=$(event_tool wire "$BATS_TEST_TMPDIR/other" user.created <<<"$(envelope UserCreated "$u2" 1 "" othersealed)")
	amqp_mgmt POST /exchanges/%2F/magenta.events/publish "$(jq -cn --argjson w "$w" \
		'{properties:{headers:{"x-magenta-signature":$w.sig, "x-magenta-key-id":$w.kid}}, routing_key:"user.created", payload:$w.body, payload_encoding:"string"}')"
	publish "$(envelope UserCreated "$u3" 1 "" goodone)"
	wait_until 10 _eq 2 dlq_depth
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$u3'"
	[ "$(dlq_reasons)" = "bad_seal: data.passwordHash: unknown key id,unsealed_hash: data.passwordHash" ]
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE id IN ('$u1', '$u2')")" = 0 ]
	[ "$(ctl dlq list --json | jq -r '[.[].passwordHash] | sort | join(",")')" = "PLAIN,sealed" ]
	run ctl dlq list
	[[ $output == *HASH* && $output == *sealed* ]]
	! grep -qF -e "$PIPE_HASH" "$STACK_DIR/log/consumer.log" || false
}

@test "costly hashes: an event whose hash names more argon2 memory or time than allowed is poison, never stored" {
	local u1 u2 u3 salt='c29tZXNhbHRzb21lc2FsdA' h='8wH0zl2wC9H5u2kP3rS6lq6H0k6QhW0pVf2m8XfE4ZQ'
	u1=$(cat /proc/sys/kernel/random/uuid)
	u2=$(cat /proc/sys/kernel/random/uuid)
	u3=$(cat /proc/sys/kernel/random/uuid)
	publish "$(envelope UserCreated "$u1" 1 "" bigmem | jq -c --arg h "\$argon2id\$v=19\$m=262144,t=2,p=1\$$salt\$$h" '.data.passwordHash = $h')"
	publish "$(envelope UserCreated "$u2" 1 "" manyrounds | jq -c --arg h "\$argon2id\$v=19\$m=19456,t=9,p=1\$$salt\$$h" '.data.passwordHash = $h')"
	publish "$(envelope UserCreated "$u3" 1 "" notargon | jq -c '.data.passwordHash = "$2b$10$abcdefghijklmnopqrstuv"')"
	wait_until 10 _eq 3 dlq_depth
	[ "$(dlq_reasons)" = "hash_too_costly: data.passwordHash: m=262144 t=2 p=1,hash_too_costly: data.passwordHash: m=19456 t=9 p=1,invalid_field: data.passwordHash" ] ||
	[ "$(dlq_reasons)" = "hash_too_costly: data.passwordHash: m=19456 t=9 p=1,hash_too_costly: data.passwordHash: m=262144 t=2 p=1,invalid_field: data.passwordHash" ]
	[ "$(psql_auth "SELECT count(*) FROM auth_users")" = 0 ]
	# at the limits (argon2_max_memlimit_kib, argon2_max_opslimit) it is taken
	publish "$(envelope UserCreated "$u1" 1 "" atlimit | jq -c --arg h "\$argon2id\$v=19\$m=77824,t=8,p=1\$$salt\$$h" '.data.passwordHash = $h')"
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$u1'"
}

@test "event keys: keygen --events writes both pairs once; the daemons refuse to start without them; the consumer accepts every listed key (rotation)" {
	local d=$BATS_TEST_TMPDIR/keys u
	run ctl keygen --events --dir "$d"
	[ "$status" = 0 ]
	[[ $output == *"kid $(event_tool kid "$d/events-sign.pub")"* ]]
	[ "$(stat -c %a "$d/events-sign.pem")" = 600 ]
	[ "$(stat -c %a "$d/events-seal.pem")" = 600 ]
	run ctl keygen --events --dir "$d"
	[ "$status" = 1 ]
	[[ $output == *"--force"* ]]
	# no key: no start, and the reason named
	run timeout 10 env MAGENTA_EVENT_SIGNING_KEY="$d/missing.pem" "$MAGENTA_PREFIX/sbin/magenta-relay" -f "$MAGENTA_CONFIG" -d
	[ "$status" = 1 ]
	[[ $output == *"event=config_error"*missing.pem* ]]
	run timeout 10 env MAGENTA_EVENT_VERIFY_KEYS="$d/missing.pub" "$MAGENTA_PREFIX/sbin/magenta-consumer" -f "$MAGENTA_CONFIG" -d
	[ "$status" = 1 ]
	[[ $output == *"event=config_error"*missing.pub* ]]
	# rotation: the consumer takes the new relay key beside the old one
	stack_daemon_stop consumer >/dev/null
	MAGENTA_EVENT_VERIFY_KEYS="$d/events-sign.pub:$STACK_DIR/keys/events-sign.pub" stack_daemon_start consumer 3>&- >/dev/null
	cp "$STACK_DIR/keys/events-seal.pub" "$d/events-seal.pub"
	u=$(cat /proc/sys/kernel/random/uuid)
	local w
	w=$(event_tool wire "$d" user.created <<<"$(envelope UserCreated "$u" 1 "" newkey)")
	amqp_mgmt POST /exchanges/%2F/magenta.events/publish "$(jq -cn --argjson w "$w" \
		'{properties:{headers:{"x-magenta-signature":$w.sig, "x-magenta-key-id":$w.kid}}, routing_key:"user.created", payload:$w.body, payload_encoding:"string"}')"
	id2=$(register oldkey)
	wait_until 10 _eq 2 psql_auth "SELECT count(*) FROM auth_users WHERE id IN ('$u', '$id2')"
	stack_daemon_stop consumer >/dev/null
	stack_daemon_start consumer 3>&- >/dev/null
}
