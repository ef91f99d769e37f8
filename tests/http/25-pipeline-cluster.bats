#!/usr/bin/env bats
# The event pipeline on a three-node RabbitMQ cluster (docs/events.md,
# "Production layout"): the relay and the consumer are given every node
# (amqp_hosts), the queue is a quorum queue with a member on each node, and
# the node that leads it is killed -9 mid-load.  Nothing may be lost or
# applied twice, the daemons move to another node by themselves, and the
# killed node comes back into the cluster.  The suite's single broker keeps
# running on its own ports; the cluster is extra, stopped at the end.

load ../lib/common
load 20-pipeline

# cluster_daemons [HOSTS]: the daemons on the cluster (default: its nodes
# in order), with the quick retry timings of the other pipeline files.
# Both connect to node 1, and the consumer declares the queue there: node 1
# leads it, so killing the leader takes both daemons' node, and they
# reconnect while the two others elect a new leader (the relay's first
# publishes there were nacked: relay_drop_nacked).
cluster_daemons() {
	stack_daemons_stop >/dev/null
	MAGENTA_AMQP_HOSTS=${1:-$AMQP_HOSTS} stack_daemons_start 3>&- >/dev/null
}

setup_file() {
	stack_rabbit_cluster_start 3 3>&- >&2
	export "${PIPE_ENV[@]}"
	cluster_daemons
}

teardown_file() {
	# back to the suite's single broker for the files after this one
	pipeline_teardown_file
	stack_rabbit_cluster_stop 3>&- >/dev/null
}

# The quorum queue Q as the cluster sees it: "members online leader" counts
# and name.
qq() {
	stack_rabbit_cluster_mgmt "/queues/%2F/$1" |
		jq -r '"\(.type) \(.members | length) \(.online | length) \(.leader)"'
}

# 0 when Q is a quorum queue with 3 members, all online, and a leader.
qq_whole() {
	local s
	s=$(qq "$1") || return 1
	[[ $s == "quorum 3 3 "* && $s != *" null" ]]
}

# Nothing waits in the cluster's queue, nothing in the outbox.
cluster_idle() {
	[[ $(backlog) == 0 ]] &&
		[[ $(stack_rabbit_cluster_mgmt "/queues/%2F/$PIPE_QUEUE" | jq -r '.messages') == 0 ]]
}

# 0 when Q has a leader.
qq_led() {
	local s
	s=$(qq "$1") || return 1
	[[ $s == "quorum "* && $s != *" null" ]]
}

setup() {
	wait_until 60 qq_led "$PIPE_QUEUE"
	wait_until 30 cluster_idle
	reset_db
}

# The "host:port" that daemon NAME's log says it connected to last.
daemon_node() {
	sed -n 's/.*event=amqp_\(connected\|up\) host=\([^ ]*\) port=\([0-9]*\).*/\2:\3/p' \
		"$STACK_DIR/log/$1.log" | tail -1
}

# The AMQP port of cluster node I.
node_port() {
	local -a p
	read -r -a p <<<"$AMQP_PORTS"
	echo "${p[$1 - 1]}"
}

@test "cluster: the queue and its dead-letter queue are quorum queues replicated on all three nodes" {
	[ "$STACK_RABBIT_CLUSTER_N" = 3 ]
	[ "$(stack_rabbit_cluster_running)" = 3 ]
	qq_whole "$PIPE_QUEUE"
	qq_whole "$PIPE_DLQ"
	# the daemons are on the cluster's first node, not on the suite's
	# single broker
	[ "$(daemon_node consumer)" = "127.0.0.1:$(node_port 1)" ]
	[ "$(daemon_node relay)" = "127.0.0.1:$(node_port 1)" ]
	outbox_insert 5 clusterok
	wait_until 20 _eq 5 applied
}

@test "cluster: the queue's leader killed -9 mid-load -> the daemons fail over by themselves, every event applied once" {
	local relay consumer leader lport n=3000 i
	relay=$(daemon_pid relay)
	consumer=$(daemon_pid consumer)
	leader=$(stack_rabbit_cluster_leader "$PIPE_QUEUE")
	lport=$(node_port "$leader")
	echo "$leader" >"$BATS_FILE_TMPDIR/killed"
	# events keep arriving in the outbox before, during and after the kill
	(
		for i in $(seq 1 30); do
			outbox_insert 100 "cl${i}x"
			sleep 0.1
		done
	) 3>&- &
	local load=$!
	wait_until 60 bash -c "[ \$(psql -X -At -h 127.0.0.1 -p $PGPORT -U postgres -d $AUTH_DB -c 'SELECT count(*) FROM processed_events') -ge 300 ]"
	local t_kill
	t_kill=$(psql_auth "SELECT clock_timestamp()")
	stack_rabbit_node_kill "$leader" 3>&-
	wait "$load"
	[ "$(psql_users "SELECT count(*) FROM outbox")" = "$n" ]
	# no operator action: the same processes drain everything
	wait_until 90 _eq 0 backlog
	wait_until 90 _eq "$n" applied
	[ "$(daemon_pid relay)" = "$relay" ]
	[ "$(daemon_pid consumer)" = "$consumer" ]
	# exactly once: one processed_events row per outbox event, each applied,
	# the same ids; nothing dead-lettered
	[ "$(psql_auth "SELECT count(*) FROM processed_events")" = "$n" ]
	[ "$(psql_auth "SELECT count(*) FROM processed_events WHERE outcome <> 'applied'")" = 0 ]
	[ "$(psql_users "SELECT md5(string_agg(event_id::text, ',' ORDER BY event_id)) FROM outbox")" = \
		"$(psql_auth "SELECT md5(string_agg(event_id::text, ',' ORDER BY event_id)) FROM processed_events")" ]
	[ "$(auth_live)" = "$n" ]
	# (a queue whose leader moved has no figures for a moment: wait for them)
	dlq_cluster() { stack_rabbit_cluster_mgmt "/queues/%2F/$PIPE_DLQ" | jq -r .messages; }
	wait_until 30 _eq 0 dlq_cluster
	# a new leader among the two left
	wait_until 30 bash -c ". '$STACK_LIB'; l=\$(stack_rabbit_cluster_leader $PIPE_QUEUE) && [ \"\$l\" != $leader ]"
	# both were on the killed node (node 1 led the queue); each is on a
	# live node now and logged the move
	[ "$leader" = 1 ]
	local d
	for d in relay consumer; do
		[[ $(daemon_node "$d") != "127.0.0.1:$lport" ]]
		grep -q "event=amqp_down host=127.0.0.1 port=$lport " "$STACK_DIR/log/$d.log"
		grep -q "event=amqp_failover from=127.0.0.1:$lport to=127.0.0.1:" "$STACK_DIR/log/$d.log"
	done
	# how long the pipeline paused: the longest gap between two applied
	# events after the kill
	local gap
	gap=$(psql_auth "SELECT round(extract(epoch FROM max(d))::numeric, 2) FROM (
		SELECT processed_at - lag(processed_at) OVER (ORDER BY processed_at) AS d
		FROM processed_events WHERE processed_at >= '$t_kill'::timestamptz - interval '1 s') g")
	echo "# longest pause in applied events after the kill: ${gap} s" >&3
}

@test "cluster: the killed node started again rejoins; the queue has its three members online again" {
	local killed
	killed=$(cat "$BATS_FILE_TMPDIR/killed")
	[ "$(stack_rabbit_cluster_running)" = 2 ]
	# magentactl fails over too: node 1 is down, the next one answers
	# with the queue's figures
	local st
	st=$(env MAGENTA_AMQP_HOSTS="$AMQP_HOSTS" "$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" status --json 2>&1) || true
	echo "magentactl status: $st" >&2
	jq -e '.queue.messages | numbers' <<<"$st" >/dev/null
	stack_rabbit_node_start "$killed" 3>&- >&2
	stack_rabbit_cluster_wait 3 60
	wait_until 60 qq_whole "$PIPE_QUEUE"
	wait_until 60 qq_whole "$PIPE_DLQ"
	outbox_insert 5 rejoined
	wait_until 20 _eq 5 applied
}

@test "cluster: a dead first entry in amqp_hosts -> both daemons connect to the next node at start" {
	local dead first
	dead=$(_stack_free_ports 1)
	first=${AMQP_HOSTS%%,*}
	local d
	declare -A from
	for d in relay consumer; do
		from[$d]=$(($(wc -l <"$STACK_DIR/log/$d.log") + 1))
	done
	cluster_daemons "127.0.0.1:$dead,$AMQP_HOSTS"
	# (the logs from this start on)
	since() { tail -n "+${from[$1]}" "$STACK_DIR/log/$1.log"; }
	for d in relay consumer; do
		wait_until 20 bash -c "tail -n +${from[$d]} '$STACK_DIR/log/$d.log' | grep -q 'event=amqp_connected host=127.0.0.1 port=${first#*:} '"
		since "$d" | grep -q "event=amqp_node_down host=127.0.0.1 port=$dead .*connect"
		! since "$d" | grep -q 'event=amqp_down ' || false
	done
	outbox_insert 5 deadfirst
	wait_until 20 _eq 5 applied
	cluster_daemons
}
