#!/usr/bin/env bash
# bench/chaos.sh: the pipeline's promise checked under crashes.  Nothing a
# client was told is done may be lost, no event may be applied twice, and
# both databases must end in the same state, while every component is
# killed in turn under load.
#
#   bench/chaos.sh [--quick] [--cluster] [N]
#
# Starts its own private stack (PostgreSQL with fsync on, RabbitMQ, the two
# daemons, lighttpd with the FastCGI programs) in a temporary directory.
# bench/chaos-load.py registers N users (default 10 000; --quick 1 000) at a
# bounded rate from several clients, and for a fifth of them runs a
# follow-up through the account lifecycle (a display-name change; a password
# change, then a display-name change on top of it; a deletion, then a new
# user under the same name), keeping a ledger of every request's outcome.
# Meanwhile, ROUNDS times (default 3; --quick 1), in turn: kill -9 the
# relay, the consumer, RabbitMQ, PostgreSQL (both databases' server) and a
# FastCGI worker, each restarted after a random 1-5 s (a worker is restarted
# by its program's supervisor at once); in the first round also a broker
# stop of 30 s (--quick: 10 s).  --cluster runs RabbitMQ as a cluster of
# three nodes (a quorum queue on all three) and kills, instead of the whole
# broker, the node that leads the queue.
#
# After the load it waits for the pipeline to drain (deadline DRAIN_S,
# default 300 s), dumps both databases and lets bench/chaos-check.py judge
# them against the ledger: attempted, acknowledged, indeterminate, lost,
# duplicated, divergent, the drain time after the last fault and the events'
# lag.  Exit status 1 when lost, duplicated or divergent is not 0.
#
# Environment: RATE (registrations/s, default 40; --quick 15), ROUNDS,
# CLIENTS (default 6), SEED (faults' random seed), CHAOS_OUT=DIR (keep the
# ledger, dumps and fault log there), STACK_BENCH_PREFIX=DIR (use an
# installed build instead of building: the test suite's), BENCH_KEEP=1.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0 cluster=0 n=""
for arg in "$@"; do
	case $arg in
	--quick) quick=1 ;;
	--cluster) cluster=1 ;;
	[0-9]*) n=$arg ;;
	*)
		echo "usage: bench/chaos.sh [--quick] [--cluster] [N]" >&2
		exit 2
		;;
	esac
done
if ((quick)); then
	n=${n:-1000} rate=${RATE:-15} rounds=${ROUNDS:-1} stop_s=10
else
	n=${n:-10000} rate=${RATE:-40} rounds=${ROUNDS:-3} stop_s=30
fi
drain_s=${DRAIN_S:-300}
RANDOM=${SEED:-$$}
# shellcheck source=scripts/lib/stack.sh
. "$top/scripts/lib/stack.sh"

stack_bench chaos
out=${CHAOS_OUT:-$dir/chaos}
mkdir -p "$out"
# Every user of the load comes from one client address: the per-address
# login limit would refuse the logins that wait for an event in flight.
echo "ip_fail_limit = 1000000" >>"$MAGENTA_CONFIG"
stack_pg_start >/dev/null
stack_migrate >/dev/null
if ((cluster)); then
	stack_rabbit_cluster_start 3 >/dev/null
	# shellcheck source=/dev/null
	. "$STACK_DIR/env"
	export MAGENTA_AMQP_HOSTS=$AMQP_HOSTS
else
	stack_rabbit_start >/dev/null
fi
stack_daemons_start >/dev/null
stack_lighttpd_start >/dev/null

q() { psql -X -At -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$1" -c "$2" 2>/dev/null; }
say() { printf 'chaos: %s %s\n' "$(date -u +%T)" "$*" | tee -a "$out/faults.log"; }
now() { _stack_now; }

# ---------------------------------------------------------------- faults

# The FastCGI workers: the children of the programs lighttpd started.
workers() {
	local lp sup
	lp=$(_stack_pid_read "$STACK_DIR/lighttpd.pid") || return 0
	for sup in $(_stack_children "$lp"); do
		_stack_children "$sup"
	done
}

pause() { sleep "$((RANDOM % 5 + 1))"; }

fault_daemon() {
	say "kill -9 $1"
	stack_daemon_kill "$1" >/dev/null
	pause
	stack_daemon_start "$1" >/dev/null
	say "$1 restarted"
}

fault_rabbit() {
	if ((cluster)); then
		local leader
		leader=$(stack_rabbit_cluster_leader "authentication.user.events")
		say "kill -9 RabbitMQ node $leader (the queue's leader)"
		stack_rabbit_node_kill "$leader" >/dev/null
		pause
		stack_rabbit_node_start "$leader" >/dev/null
		say "RabbitMQ node $leader restarted"
	else
		say "kill -9 RabbitMQ"
		stack_rabbit_kill >/dev/null
		pause
		stack_rabbit_start >/dev/null
		say "RabbitMQ restarted"
	fi
}

fault_pg() {
	say "kill -9 PostgreSQL"
	stack_pg_kill >/dev/null
	pause
	stack_pg_start >/dev/null
	say "PostgreSQL restarted"
}

fault_worker() {
	local -a w
	mapfile -t w < <(workers)
	if ((${#w[@]} == 0)); then
		say "no FastCGI worker found"
		return 0
	fi
	local victim=${w[RANDOM % ${#w[@]}]}
	say "kill -9 FastCGI worker $victim ($(readlink "/proc/$victim/exe" 2>/dev/null | sed 's|.*/||'))"
	kill -s KILL "$victim" 2>/dev/null || true
	# its supervisor starts another at once: wait until the count is back
	local d
	d=$(_stack_deadline 30)
	until (($(workers | wc -l) >= ${#w[@]})) || _stack_past "$d"; do
		sleep 0.2
	done
	say "FastCGI workers back: $(workers | wc -l)"
}

fault_broker_stop() {
	if ((cluster)); then
		return 0
	fi
	say "RabbitMQ stopped for $stop_s s"
	stack_rabbit_stop >/dev/null
	sleep "$stop_s"
	stack_rabbit_start >/dev/null
	say "RabbitMQ started again"
}

# Registrations in the ledger so far.
registered() {
	local k
	k=$(grep -c '"op": "register"' "$out/ledger.jsonl" 2>/dev/null) || true
	echo "${k:-0}"
}

# The faults, ROUNDS times, while the load runs, round R once (R-1)/ROUNDS
# of the registrations were sent (so they spread over the load however fast
# the machine is); writes the time the last one ended to $out/last-fault.
faults() {
	local r f done=0
	for ((r = 1; r <= rounds; r++)); do
		while [[ ! -f $out/load-done ]] && (($(registered) < (r - 1) * n / rounds)); do
			sleep 1
		done
		for f in "fault_daemon relay" "fault_daemon consumer" fault_rabbit fault_pg fault_worker; do
			[[ -f $out/load-done ]] && break 2
			sleep 1
			$f
			done=$((done + 1))
			now >"$out/last-fault"
		done
		if ((r == 1)) && ! ((cluster)) && [[ ! -f $out/load-done ]]; then
			fault_broker_stop
			done=$((done + 1))
			now >"$out/last-fault"
		fi
	done
	echo "$done" >"$out/faults-done"
}

# The backlog (events committed, not yet applied) once a second, its
# maximum into $out/max-backlog.
watch_backlog() {
	local max=0 made applied
	while [[ ! -f $out/watch-stop ]]; do
		made=$(q "$USERS_DB" "SELECT count(*) FROM outbox") || made=""
		applied=$(q "$AUTH_DB" "SELECT count(*) FROM processed_events") || applied=""
		if [[ -n $made && -n $applied ]] && ((made - applied > max)); then
			max=$((made - applied))
			echo "$max" >"$out/max-backlog"
		fi
		sleep 1
	done
}

# ---------------------------------------------------------------- run

planned=$((rounds * 5 + (cluster ? 0 : 1)))
echo "chaos: $n registrations at $rate/s, $rounds round(s) of faults ($planned planned)$( ((cluster)) && echo ', RabbitMQ cluster of 3'); stack $STACK_DIR"
rm -f "$out"/{load-done,watch-stop,last-fault,faults-done,max-backlog}
echo 0 >"$out/max-backlog"
t_start=$(now)
python3 "$top/bench/chaos-load.py" "$BASE_URL" "$n" "$out/ledger.jsonl" --rate "$rate" \
	--clients "${CLIENTS:-6}" --prefix "c$RANDOM" --stop "$out/load-stop" >"$out/load.log" 2>&1 &
load_pid=$!
watch_backlog &
watch_pid=$!
faults &
faults_pid=$!
load_rc=0
wait "$load_pid" || load_rc=$?
touch "$out/load-done"
wait "$faults_pid" || true
t_load=$(now)
cat "$out/load.log"
if ((load_rc)); then
	echo "chaos: the load generator failed (exit $load_rc)" >&2
	exit 1
fi
done_faults=$(cat "$out/faults-done" 2>/dev/null || echo 0)
echo "chaos: load done in $(_stack_since "$t_start") s; $done_faults of $planned faults injected"

# Drain: every outbox row published, every event applied, nothing parked.
d=$(_stack_deadline "$drain_s")
drained=0
while ! _stack_past "$d"; do
	st=$(q "$USERS_DB" "SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FROM outbox") || st=""
	ap=$(q "$AUTH_DB" "SELECT (SELECT count(*) FROM processed_events) || '|' || (SELECT count(*) FROM parked_events)") || ap=""
	if [[ -n $st && -n $ap ]]; then
		IFS='|' read -r unpub total <<<"$st"
		IFS='|' read -r applied parked <<<"$ap"
		if ((unpub == 0 && applied >= total && parked == 0)); then
			drained=1
			break
		fi
	fi
	sleep 0.5
done
touch "$out/watch-stop"
wait "$watch_pid" || true
t_drained=$(now)
last=$(cat "$out/last-fault" 2>/dev/null || echo "$t_load")
drain=$(awk -v a="$last" -v b="$t_drained" 'BEGIN { printf "%.1f", b - a }')
if ((drained)); then
	echo "chaos: drained $drain s after the last fault ended, $(awk -v a="$t_load" -v b="$t_drained" 'BEGIN { printf "%.1f", b - a }') s after the load's last answer"
else
	echo "chaos: NOT drained $drain_s s after the load: unpublished ${unpub:-?}, applied ${applied:-?} of ${total:-?}, parked ${parked:-?}"
fi
echo "chaos: max backlog $(cat "$out/max-backlog") events (committed, not yet applied)"

# Both databases as they are now, for the checker.
copy() { psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$1" -c "COPY ($2) TO STDOUT" >"$out/$3"; }
copy "$USERS_DB" "SELECT id, username, email, md5(password_hash), security_stamp,
	coalesce(display_name, ''), array_to_string(roles, ','), version FROM users" users.tsv
copy "$USERS_DB" "SELECT id, version FROM deleted_users" deleted.tsv
copy "$USERS_DB" "SELECT event_id, aggregate_id, aggregate_version, event_type,
	extract(epoch FROM created_at) FROM outbox" outbox.tsv
copy "$AUTH_DB" "SELECT id, username, email, md5(password_hash), security_stamp,
	coalesce(display_name, ''), array_to_string(roles, ','), version,
	CASE WHEN deleted_at IS NULL THEN 'f' ELSE 't' END FROM auth_users" auth_users.tsv
copy "$AUTH_DB" "SELECT event_id, user_id, version, outcome, extract(epoch FROM processed_at),
	redeliveries FROM processed_events" processed.tsv
copy "$AUTH_DB" "SELECT message_id, reason FROM rejected_messages" rejected.tsv

rc=0
python3 "$top/bench/chaos-check.py" "$out" "$BASE_URL" || rc=1
echo "chaos: drain after last fault $drain s; faults $done_faults of $planned"
((drained)) || rc=1
# A sanitizer build (scripts/test --sanitize) reports into the programs'
# logs, leaks when they exit: stop them, then look.
if [[ ${BENCH_KEEP:-0} != 1 ]]; then
	stack_down >/dev/null 2>&1 || true
	san=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR"/log/*.log 2>/dev/null || true)
	if [[ -n $san ]]; then
		echo "chaos: sanitizer reports in: $san"
		grep -h -A8 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' $san | head -n 40
		rc=1
	fi
fi
exit "$rc"
