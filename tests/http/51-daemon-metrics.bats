#!/usr/bin/env bats
# The daemons' metrics (issue 20; docs/operations.md, "Daemon metrics"):
# magenta-relay and magenta-consumer started with relay_metrics_listen and
# consumer_metrics_listen on free ports answer GET /metrics in the
# Prometheus text format 0.0.4 (read with python3-prometheus-client's
# parser), their counters move with one registration, other paths and
# methods are refused; and magentactl status (which scrapes them) exits 0
# healthy, 1 degraded (the consumer stopped), 2 down (RabbitMQ or
# PostgreSQL stopped).

load ../lib/common
load 20-pipeline

PY=/usr/bin/python3

setup_file() {
	local p
	read -r -a p <<<"$(_stack_free_ports 2)"
	export MAGENTA_RELAY_METRICS_LISTEN=127.0.0.1:${p[0]}
	export MAGENTA_CONSUMER_METRICS_LISTEN=127.0.0.1:${p[1]}
	pipeline_setup_file
}

# a failed test must not leave a component down for the next file
teardown() {
	stack_pg_start 3>&- >/dev/null
	stack_rabbit_start 3>&- >/dev/null
	stack_daemons_start 3>&- >/dev/null
}

teardown_file() {
	unset MAGENTA_RELAY_METRICS_LISTEN MAGENTA_CONSUMER_METRICS_LISTEN
	pipeline_teardown_file
}

# scrape NAME [PATH [curl args]]: GET the daemon's PATH (/metrics) into
# $BATS_TEST_TMPDIR/NAME.prom; sets $code and $ctype.
scrape() {
	local addr path=${2:-/metrics}
	[[ $1 == relay ]] && addr=$MAGENTA_RELAY_METRICS_LISTEN || addr=$MAGENTA_CONSUMER_METRICS_LISTEN
	local out
	out=$(curl -s --max-time 5 -o "$BATS_TEST_TMPDIR/$1.prom" -w '%{http_code} %{content_type}' "${@:3}" "http://$addr$path") || true
	code=${out%% *}
	ctype=${out#* }
}

# value NAME SAMPLE [LABELS_JSON]: the sum of SAMPLE's values whose labels
# include LABELS_JSON, as the parser reads a fresh scrape of NAME.
value() {
	local want='{}'
	(($# < 3)) || want=$3
	scrape "$1"
	[[ $code == 200 ]] || { echo "scrape $1: $code" >&2; return 1; }
	"$PY" "$BATS_TEST_DIRNAME/../tools/prom-text.py" value "$BATS_TEST_TMPDIR/$1.prom" "$2" "$want"
}

# check_text FILE SERVICE FAMILY:TYPE...: FILE parses, each FAMILY is there
# with its TYPE, every sample labelled service=SERVICE
# (tests/tools/prom-text.py check says the rest).
check_text() { "$PY" "$BATS_TEST_DIRNAME/../tools/prom-text.py" check "$@"; }

_ge() {
	local v
	v=$(value "$1" "$2" "${@:4}") || return 1
	((v >= $3))
}
_age_below() { "$PY" -c "import sys,time; sys.exit(0 if time.time() - float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$(value "$1" magenta_loop_last_timestamp_seconds)" "$2"; }

@test "daemon metrics: both endpoints answer 0.0.4 text that prometheus_client parses, every family typed and described" {
	wait_until 10 _ge relay magenta_broker_connected 1
	scrape relay
	[ "$code" = 200 ]
	[ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ]
	check_text "$BATS_TEST_TMPDIR/relay.prom" relay \
		magenta_relay_events_published:counter magenta_relay_confirms:counter \
		magenta_relay_returns:counter magenta_relay_publish_duration_seconds:histogram \
		magenta_relay_outbox_backlog:gauge magenta_relay_outbox_oldest_age_seconds:gauge \
		magenta_broker_connected:gauge magenta_broker_reconnects:counter \
		magenta_database_connected:gauge magenta_loop_last_timestamp_seconds:gauge \
		magenta_start_time_seconds:gauge
	wait_until 10 _ge consumer magenta_broker_connected 1
	scrape consumer
	[ "$code" = 200 ]
	[ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ]
	check_text "$BATS_TEST_TMPDIR/consumer.prom" consumer \
		magenta_consumer_events:counter magenta_consumer_apply_duration_seconds:histogram \
		magenta_consumer_event_lag_seconds:histogram magenta_consumer_messages_held:gauge \
		magenta_broker_connected:gauge magenta_broker_reconnects:counter \
		magenta_database_connected:gauge magenta_loop_last_timestamp_seconds:gauge
	# the loops are alive: their last turn is recent
	_age_below relay 5
	_age_below consumer 5
}

@test "daemon metrics: one registration -> published +1, ack +1, applied +1, one lag observed, backlog 0" {
	local pub ack applied lag apply
	wait_until 10 _ge consumer magenta_broker_connected 1
	pub=$(value relay magenta_relay_events_published_total '{"event_type":"UserCreated"}')
	ack=$(value relay magenta_relay_confirms_total '{"result":"ack"}')
	applied=$(value consumer magenta_consumer_events_total '{"outcome":"applied"}')
	lag=$(value consumer magenta_consumer_event_lag_seconds_count)
	apply=$(value consumer magenta_consumer_apply_duration_seconds_count)
	register metricsuser >/dev/null
	wait_until 10 _eq 1 auth_live
	wait_until 5 _ge consumer magenta_consumer_events_total $((applied + 1)) '{"outcome":"applied"}'
	[ "$(value relay magenta_relay_events_published_total '{"event_type":"UserCreated"}')" = $((pub + 1)) ]
	[ "$(value relay magenta_relay_events_published_total '{"event_type":"UserDeleted"}')" = 0 ]
	[ "$(value relay magenta_relay_confirms_total '{"result":"ack"}')" = $((ack + 1)) ]
	[ "$(value consumer magenta_consumer_events_total '{"outcome":"applied"}')" = $((applied + 1)) ]
	[ "$(value consumer magenta_consumer_event_lag_seconds_count)" = $((lag + 1)) ]
	(($(value consumer magenta_consumer_apply_duration_seconds_count) >= apply + 1))
	# the lag was observed in a bucket of at most 60 s, not clamped to 0 or lost
	(($(value consumer magenta_consumer_event_lag_seconds_bucket '{"le":"60"}') == lag + 1))
	wait_until 5 _eq 0 value relay magenta_relay_outbox_backlog
	[ "$(value consumer magenta_consumer_messages_held)" = 0 ]
}

@test "daemon metrics: another path 404, another method 405; a silent client does not hold up the others" {
	scrape relay /other
	[ "$code" = 404 ]
	scrape consumer /metrics/x
	[ "$code" = 404 ]
	scrape relay /metrics -X POST
	[ "$code" = 405 ]
	# a client that sends nothing holds a slot for 3 s at most, and the
	# daemon answers others meanwhile
	local addr=${MAGENTA_RELAY_METRICS_LISTEN} idle
	"$PY" -c "import socket,sys,time; h,p=sys.argv[1].rsplit(':',1); s=socket.create_connection((h,int(p))); time.sleep(6)" "$addr" &
	idle=$!
	scrape relay
	[ "$code" = 200 ]
	kill "$idle" 2>/dev/null || true
	wait "$idle" 2>/dev/null || true
}

@test "status: healthy -> exit 0, both daemons up, one screen for people" {
	wait_until 10 _ge consumer magenta_broker_connected 1
	run ctl status --json
	echo "$output"
	[ "$status" = 0 ]
	jq -e '.health == "healthy" and .problems == [] and .daemons.relay.state == "up" and .daemons.consumer.state == "up"
		and .daemons.consumer.unacked == 0 and .daemons.relay.brokerConnected and .daemons.consumer.databaseConnected
		and .databases[$u] and .databases[$a]' --arg u "$USERS_DB" --arg a "$AUTH_DB" <<<"$output"
	run ctl status
	[ "$status" = 0 ]
	[[ $output == "health     healthy"* ]]
	[[ $output == *"relay      up, loop "* ]]
	[[ $output == *"consumerd  up, loop "* ]]
	[[ $output == *"0 unacked, 1 consumers"* ]]
	# not configured: unknown, which is no problem
	run env -u MAGENTA_RELAY_METRICS_LISTEN "$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" status --json
	[ "$status" = 0 ]
	jq -e '.daemons.relay.state == "unknown"' <<<"$output"
}

_status_is() {
	local rc=0
	ctl status --json >"$BATS_TEST_TMPDIR/st.json" 2>"$BATS_TEST_TMPDIR/st.err" || rc=$?
	[ "$rc" = "$1" ]
}

@test "status: consumer stopped -> degraded, exit 1 (no consumer on the queue, its metrics silent); back -> 0" {
	stack_daemon_stop consumer >/dev/null
	wait_until 20 _status_is 1
	jq -e '.health == "degraded" and .daemons.consumer.state == "down"
		and any(.problems[]; . == "queue: no consumer")' "$BATS_TEST_TMPDIR/st.json"
	run ctl status
	[ "$status" = 1 ]
	[[ $output == *"consumerd  down"* ]]
	stack_daemon_start consumer 3>&- >/dev/null
	wait_until 20 _status_is 0
}

@test "status: a backlog older than status_backlog_age_warn -> degraded, exit 1" {
	stack_daemon_stop relay >/dev/null
	outbox_insert 1 aged
	psql_users "UPDATE outbox SET created_at = now() - interval '10 minutes'"
	wait_until 10 _status_is 1
	jq -e '.daemons.relay.state == "down" and any(.problems[]; startswith("outbox: the oldest unpublished row is"))' "$BATS_TEST_TMPDIR/st.json"
	stack_daemon_start relay 3>&- >/dev/null
	wait_until 20 _eq 0 backlog
	wait_until 20 _status_is 0
}

@test "status: RabbitMQ stopped -> down, exit 2; PostgreSQL stopped -> down, exit 2" {
	stack_rabbit_stop >/dev/null
	wait_until 20 _status_is 2
	jq -e '.health == "down" and any(.problems[]; . == "RabbitMQ unreachable")' "$BATS_TEST_TMPDIR/st.json"
	stack_rabbit_start 3>&- >/dev/null
	wait_until 60 _status_is 0
	# the consumer reconnected: one reconnect counted
	(($(value consumer magenta_broker_reconnects_total) >= 1))
	stack_pg_stop >/dev/null
	wait_until 20 _status_is 2
	jq -e '.health == "down" and .databases[$u] == false and .databases[$a] == false' --arg u "$USERS_DB" --arg a "$AUTH_DB" "$BATS_TEST_TMPDIR/st.json"
	local out rc=0
	out=$(ctl status 2>/dev/null) || rc=$?
	[ "$rc" = 2 ]
	[[ $out == "health     down"* ]]
	stack_pg_start 3>&- >/dev/null
	wait_until 60 _status_is 0
}

@test "status: a configuration error -> exit 3 (unknown, not degraded), the key named; a wrong argument -> 3" {
	local rc=0
	MAGENTA_STATUS_QUEUE_WARN=many ctl status --json >"$BATS_TEST_TMPDIR/out" 2>&1 || rc=$?
	[ "$rc" = 3 ]
	grep -q status_queue_warn "$BATS_TEST_TMPDIR/out"
	rc=0
	ctl status --bogus >/dev/null 2>&1 || rc=$?
	[ "$rc" = 3 ]
	# the other commands keep exit 1 for a configuration error
	rc=0
	MAGENTA_STATUS_QUEUE_WARN=many ctl dlq list >/dev/null 2>&1 || rc=$?
	[ "$rc" = 1 ]
}
