#!/usr/bin/env bats
# The chaos check (issue 19): bench/chaos.sh --quick -- 1 000 registrations
# and lifecycle changes while the relay, the consumer, RabbitMQ, PostgreSQL
# and a FastCGI worker are each killed with SIGKILL, and RabbitMQ is stopped
# for 10 s -- must end with nothing lost, nothing applied twice and both
# databases alike.  It runs on a private stack of its own (PostgreSQL with
# fsync on, its own RabbitMQ and lighttpd) built from this suite's install:
# the suite's stack is not touched.  The second test shows that the checker
# does see each kind of failure.

load ../lib/common

setup_file() {
	export CHAOS_DIR=$BATS_FILE_TMPDIR/chaos
}

# $1: a chaos-check.py table's line for NAME: its number.
count_of() {
	sed -n "s/^chaos: $1 *\([0-9][0-9]*\).*/\1/p" <<<"$output" | tail -n 1
}

@test "chaos: --quick: every component killed in turn under load; lost = duplicated = divergent = 0" {
	CHAOS_OUT=$CHAOS_DIR STACK_BENCH_PREFIX=$MAGENTA_PREFIX \
		run timeout 400 "$MAGENTA_SRC/bench/chaos.sh" --quick
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(count_of lost)" = 0 ]
	[ "$(count_of duplicated)" = 0 ]
	[ "$(count_of divergent)" = 0 ]
	# the load and the faults really happened
	[ "$(count_of attempted)" -ge 1000 ]
	[ "$(count_of acknowledged)" -ge 500 ]
	grep -q '^chaos: load done in .*; 6 of 6 faults injected$' <<<"$output"
	for what in 'kill -9 relay' 'kill -9 consumer' 'kill -9 RabbitMQ' 'kill -9 PostgreSQL' \
		'kill -9 FastCGI worker' 'RabbitMQ stopped for 10 s'; do
		grep -q -e "$what" "$CHAOS_DIR/faults.log"
	done
	# the lifecycle was in the load: changes and deletions acknowledged
	grep -Eq '^chaos:   password +ok [1-9]' <<<"$output"
	grep -Eq '^chaos:   delete +ok [1-9]' <<<"$output"
	grep -Eq '^chaos:   reregister +ok [1-9]' <<<"$output"
}

@test "chaos: the checker counts a lost event, a double application and a divergent user" {
	[ -f "$CHAOS_DIR/processed.tsv" ] || skip "needs the dumps of the test before"
	local d=$BATS_TEST_TMPDIR/doctored
	# the dumps as they are: nothing to report
	cp -r "$CHAOS_DIR" "$d"
	run python3 "$MAGENTA_SRC/bench/chaos-check.py" "$d" -
	echo "$output"
	[ "$status" -eq 0 ]
	# one event never applied
	sed -i 1d "$d/processed.tsv"
	run python3 "$MAGENTA_SRC/bench/chaos-check.py" "$d" -
	[ "$status" -eq 1 ]
	[ "$(count_of lost)" = 1 ]
	[ "$(count_of duplicated)" = 0 ]
	# a user version applied by a second event
	cp "$CHAOS_DIR/processed.tsv" "$d/processed.tsv"
	awk -F'\t' -v OFS='\t' 'NR == 1 { print; $1 = "00000000-0000-7000-8000-000000000000"; $4 = "applied"; print; next } { print }' \
		"$CHAOS_DIR/processed.tsv" >"$d/processed.tsv"
	run python3 "$MAGENTA_SRC/bench/chaos-check.py" "$d" -
	[ "$status" -eq 1 ]
	[ "$(count_of duplicated)" = 1 ]
	# a password hash that differs between the databases
	cp "$CHAOS_DIR/processed.tsv" "$d/processed.tsv"
	awk -F'\t' -v OFS='\t' '!done && $9 == "f" { $4 = "0123456789abcdef0123456789abcdef"; done = 1 } { print }' \
		"$CHAOS_DIR/auth_users.tsv" >"$d/auth_users.tsv"
	run python3 "$MAGENTA_SRC/bench/chaos-check.py" "$d" -
	[ "$status" -eq 1 ]
	[ "$(count_of divergent)" = 1 ]
	grep -q 'differs: password_hash' <<<"$output"
}
