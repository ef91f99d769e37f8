# shellcheck shell=bash
# tests/http/20-pipeline.bash: helpers of the 20-pipeline*.bats files
# (load 20-pipeline), which test magenta-relay, magenta-consumer and
# magentactl status/dlq against the real stack (docs/events.md).
#
#   (setup_file, teardown_file and setup call the three below)
#   pipeline_setup_file      restart the daemons with quick retry timings
#   pipeline_teardown_file   restart them with the configured timings
#   pipeline_setup           every component up, pipeline idle, tables and
#                            queues empty, bindings in place
#   ctl ARGS...              magentactl against the stack
#   register NAME            POST /api/registration/register; prints the id
#   register_many N PREFIX   N registrations, 8 at a time; all must be 201
#   outbox_insert N PREFIX   N users + UserCreated outbox rows straight into
#                            MagentaUsers (load without argon2 cost)
#   envelope TYPE USER VERSION [EVENT_ID [NAME [EMAIL]]]
#                            a valid event envelope (JSON)
#   publish JSON [KEY]       publish to magenta.events through the management
#                            API (persistent, message_id = eventId)
#   publish_raw BODY KEY [MESSAGE_ID]
#                            the same for any body; both sign it and seal its
#                            hash as the relay does (PIPE_UNSIGNED=1: neither,
#                            PIPE_NO_SEAL=1: signed, hash in clear;
#                            PIPE_EXCHANGE: another exchange;
#                            PIPE_CORRELATION_ID, PIPE_REQUEST_HEADER: the
#                            correlation_id, the x-request-id header)
#   event_tool ARGS...       tests/tools/event-tool.py (sign, verify, open)
#   backlog                  unpublished outbox rows
#   auth_live                live users in auth_users
#   applied                  processed_events rows with outcome applied
#   dlq_depth                messages in the dead-letter queue (passive declare)
#   daemon_pid NAME          pid of the harness' relay, consumer or postgres

PIPE_QUEUE=authentication.user.events
PIPE_DLQ=authentication.user.events.dlq
PIPE_HASH='$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8wH0zl2wC9H5u2kP3rS6lq6H0k6QhW0pVf2m8XfE4ZQ'

# Timings that keep the fault tests short: reconnect within a second, poll
# the outbox five times a second, retry a returned row within a second.
PIPE_ENV=(MAGENTA_RECONNECT_MAX_MS=1000 MAGENTA_RELAY_POLL_MS=200 MAGENTA_RELAY_RETRY_MAX_MS=1000)

pipeline_setup_file() {
	stack_daemons_stop >/dev/null
	export "${PIPE_ENV[@]}"
	stack_daemons_start 3>&- >/dev/null
}

pipeline_teardown_file() {
	local v
	stack_daemons_stop >/dev/null
	for v in "${PIPE_ENV[@]}"; do
		unset "${v%%=*}"
	done
	stack_daemons_start 3>&- >/dev/null
}

# The hooks of every 20-pipeline*.bats file (a file may redefine one after
# loading this).
setup_file() { pipeline_setup_file; }
teardown_file() { pipeline_teardown_file; }
setup() { pipeline_setup; }

ctl() {
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" "$@"
}

daemon_pid() {
	_stack_pid_read "$STACK_DIR/$1.pid"
}

backlog() {
	psql_users "SELECT count(*) FROM outbox WHERE published_at IS NULL"
}

auth_live() {
	psql_auth "SELECT count(*) FROM auth_users WHERE deleted_at IS NULL"
}

applied() {
	psql_auth "SELECT count(*) FROM processed_events WHERE outcome = 'applied'"
}

dlq_depth() {
	ctl status --json | jq -r '.dlq.messages // "down"'
}

# 0 when the outbox is drained and the queue holds nothing ready.
_pipeline_idle() {
	local s rc=0
	# degraded (1: dead letters left by a test) is idle too; down (2) is not
	s=$(ctl status --json 2>/dev/null) || rc=$?
	((rc < 2)) || return 1
	[[ $(jq -r '.outbox.backlog' <<<"$s") == 0 && $(jq -r '.queue.messages' <<<"$s") == 0 ]]
}

# 0 when ARGS... equal (for wait_until).
_eq() { [[ "$("${@:2}")" == "$1" ]]; }

pipeline_setup() {
	# a failed test may have left a component down or a binding missing
	stack_pg_start 3>&- >/dev/null
	stack_rabbit_start 3>&- >/dev/null
	stack_daemons_start 3>&- >/dev/null
	local k
	for k in user.created user.updated user.deleted; do
		amqp_mgmt POST "/bindings/%2F/e/magenta.events/q/$PIPE_QUEUE" "{\"routing_key\":\"$k\"}"
	done
	wait_until 30 _pipeline_idle
	reset_db
	amqp_mgmt DELETE "/queues/%2F/$PIPE_QUEUE/contents"
	amqp_mgmt DELETE "/queues/%2F/$PIPE_DLQ/contents"
}

register() {
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		"$(jq -cn --arg u "$1" '{username:$u,email:($u+"@example.com"),password:"pipeline test pw 1",confirmPassword:"pipeline test pw 1"}')"
	assert_code 201 >&2 || return 1
	field .userId
}

register_many() {
	local n=$1 prefix=$2 codes=$BATS_TEST_TMPDIR/codes.$2
	seq 1 "$n" | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 \
		-H 'Content-Type: application/json' \
		--data-binary "{\"username\":\"$prefix{}\",\"email\":\"$prefix{}@example.com\",\"password\":\"pipeline test pw 1\",\"confirmPassword\":\"pipeline test pw 1\"}" \
		"$BASE_URL/api/registration/register" >"$codes"
	local ok
	ok=$(grep -c '^201$' "$codes" || true)
	if [[ $ok != "$n" ]]; then
		echo "register_many: $ok of $n answered 201: $(sort "$codes" | uniq -c | tr '\n' ' ')" >&2
		return 1
	fi
}

outbox_insert() {
	psql_users "WITH g AS (
	SELECT gen_random_uuid() AS id, gen_random_uuid() AS eid, '$2' || i AS name,
	       to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS ts
	FROM generate_series(1, $1) i),
u AS (INSERT INTO users (id, username, email, password_hash, security_stamp)
	SELECT id, name, name || '@example.com', '$PIPE_HASH', md5(random()::text) FROM g RETURNING id),
o AS (INSERT INTO outbox (event_id, aggregate_id, aggregate_version, event_type, routing_key, payload)
	SELECT eid, id, 1, 'UserCreated', 'user.created', jsonb_build_object(
		'eventId', eid, 'eventType', 'UserCreated', 'schemaVersion', 1, 'occurredAt', ts,
		'userId', id, 'version', 1, 'data', jsonb_build_object(
			'username', name, 'email', name || '@example.com', 'passwordHash', '$PIPE_HASH',
			'securityStamp', md5(eid::text), 'emailConfirmed', false, 'lockoutEnabled', true,
			'lockoutEnd', NULL, 'createdAt', ts, 'updatedAt', ts))
	FROM g RETURNING event_id)
SELECT count(pg_notify('magenta_outbox', event_id::text)) FROM o" >/dev/null
}

envelope() {
	local type=$1 user=$2 version=$3 eid=${4:-$(cat /proc/sys/kernel/random/uuid)}
	local name=${5:-user${version}x${user:0:8}} email=${6:-}
	[[ -n $email ]] || email="$name@example.com"
	jq -cn --arg t "$type" --arg u "$user" --argjson v "$version" --arg e "$eid" \
		--arg n "$name" --arg m "$email" --arg h "$PIPE_HASH" '
		{eventId:$e, eventType:$t, schemaVersion:1, occurredAt:"2026-11-23T10:00:00.123Z",
		 userId:$u, version:$v}
		+ (if $t == "UserUpdated" then {changedFields:["username","email"]} else {} end)
		+ (if $t == "UserDeleted" then {} else {data:{username:$n, email:$m, passwordHash:$h,
			securityStamp:("stamp" + ($v|tostring)), emailConfirmed:($v > 1), lockoutEnabled:true,
			lockoutEnd:null, createdAt:"2026-11-23T10:00:00.123Z",
			updatedAt:"2026-11-23T10:00:00.123Z"}} end)'
}

publish_raw() {
	local props body=$1 w
	props=$(jq -cn --arg id "${3:-}" '{delivery_mode:2, content_type:"application/json"}
		+ (if $id == "" then {} else {message_id:$id} end)')
	# as the relay sends it: the hash sealed, signed (PIPE_UNSIGNED=1,
	# PIPE_NO_SEAL=1 leave that out)
	if [[ -z ${PIPE_UNSIGNED:-} ]]; then
		w=$(event_tool wire "$STACK_DIR/keys" "$2" ${PIPE_NO_SEAL:+--no-seal} <<<"$body") || return 1
		body=$(jq -r .body <<<"$w")
		props=$(jq -c --argjson w "$w" \
			'. + {headers:{"x-magenta-signature":$w.sig, "x-magenta-key-id":$w.kid}}' <<<"$props")
	fi
	# a request id as the relay carries it (26-correlation.bats)
	props=$(jq -c --arg c "${PIPE_CORRELATION_ID:-}" --arg h "${PIPE_REQUEST_HEADER:-}" '.
		+ (if $c == "" then {} else {correlation_id:$c} end)
		+ (if $h == "" then {} else {headers:((.headers // {}) + {"x-request-id":$h})} end)' <<<"$props")
	amqp_mgmt POST "/exchanges/%2F/${PIPE_EXCHANGE:-magenta.events}/publish" \
		"$(jq -cn --arg b "$body" --arg k "$2" --argjson p "$props" \
			'{properties:$p, routing_key:$k, payload:$b, payload_encoding:"string"}')"
	assert_code 200 >&2 || return 1
	[[ $(field .routed) == true ]] || {
		echo "publish: not routed: $body" >&2
		return 1
	}
}

# tests/tools/event-tool.py: events signed and sealed independently of our C
event_tool() {
	/usr/bin/python3 "$BATS_TEST_DIRNAME/../tools/event-tool.py" "$@"
}

publish() {
	local key=${2:-} t
	t=$(jq -r .eventType <<<"$1")
	if [[ -z $key ]]; then
		case $t in
		UserCreated) key=user.created ;;
		UserUpdated) key=user.updated ;;
		*) key=user.deleted ;;
		esac
	fi
	publish_raw "$1" "$key" "$(jq -r .eventId <<<"$1")"
}
