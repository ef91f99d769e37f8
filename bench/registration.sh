#!/usr/bin/env bash
# bench/registration.sh: registrations per second through lighttpd against the
# ceiling that bounds them — raw crypto_pwhash_str with the same parameters,
# in as many processes as magenta-registration hashes at once (its argon2
# slots: one per CPU), measured in the same run.
#
#   bench/registration.sh [SECONDS]      (default 10 s per measurement, ROUNDS=3)
#
# Starts its own private stack (PostgreSQL + lighttpd; no RabbitMQ needed)
# in a temporary directory and stops it afterwards.  Target: >= 90 %.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-10}
procs=${STACK_FCGI_PROCS:-4}
export STACK_FCGI_PROCS=$procs
# shellcheck source=scripts/lib/stack.sh
. "$top/scripts/lib/stack.sh"

stack_bench registration
stack_pg_start >/dev/null
stack_migrate >/dev/null
stack_lighttpd_start >/dev/null

# the raw ceiling runs as many processes as magenta-registration hashes at once
hashers=$(stack_bench_hashers registration)
echo "registration benchmark: $procs FastCGI processes ($hashers argon2 slots), $(nproc) cores, ${secs} s each"
grep -E '^(argon2|#argon2)' "$MAGENTA_CONFIG" || true

# warm up the processes and the database connections
wrk -t1 -c2 -d2s -s "$top/bench/register.lua" "$BASE_URL" >/dev/null
# Ours and the ceiling alternately, ROUNDS times: on a shared machine one
# pair alone can be off by tens of per cent; the medians are reported.
rounds=${ROUNDS:-3}
ratios=() raws=() rates=()
for round in $(seq "$rounds"); do
	read -r raw _ < <(MAGENTA_CONFIG=$MAGENTA_CONFIG "$MAGENTA_BUILD/bench/ceiling" pwhash "$hashers" "$secs")
	out=$(wrk -t2 -c$((procs * 2)) -d"${secs}s" --latency -s "$top/bench/register.lua" "$BASE_URL")
	rate=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	non2xx=$(sed -n 's/^non2xx=//p' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	ratio=$(awk -v r="$rate" -v raw="$raw" 'BEGIN { printf "%.1f", 100 * r / raw }')
	echo "round $round: raw $raw hashes/s; register $rate req/s (p50 $p50, p99 $p99, non-2xx $non2xx): $ratio %"
	raws+=("$raw") rates+=("$rate") ratios+=("$ratio")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "raw crypto_pwhash_str, $hashers processes (median): $(median "${raws[@]}") hashes/s"
echo "POST /api/registration/register (median): $(median "${rates[@]}") req/s"
# requests still in flight when wrk stopped finish in the backends: wait
# until the counts stop moving before comparing them
count() { psql -X -At -d MagentaUsers -c 'SELECT count(*) || $$ $$ || (SELECT count(*) FROM outbox) FROM users'; }
prev="" cur=$(count)
for _ in $(seq 50); do
	[[ $cur == "$prev" ]] && break
	prev=$cur
	sleep 0.2
	cur=$(count)
done
read -r users events <<<"$cur"
echo "rows written: $users users, $events outbox events"
echo "ratio (median of rounds): $(median "${ratios[@]}") % of the raw hash rate (target >= 90 %)"
