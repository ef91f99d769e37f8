#!/usr/bin/env bats
# Smoke tests of the harness itself: the private stack is up, reachable the
# way the other tests reach it, and its helpers do what they promise.

load ../lib/common

@test "harness: registration health is 200 through lighttpd" {
	api GET /api/registration/health
	assert_code 200
	[ "$(field .status)" = ok ]
	# lower-cased header names, served by our lighttpd
	grep -q '^content-type: application/json' <<<"$headers"
	[[ "$(header Server)" == lighttpd* ]]
	# and it went through lighttpd's access log
	wait_until 5 grep -q '"GET /api/registration/health HTTP/1.1" 200' "$STACK_DIR/log/lighttpd-access.log"
}

@test "harness: ready is 200 (the program reaches the private PostgreSQL)" {
	api GET /api/registration/ready
	assert_code 200
	[ "$(field .database)" = up ]
}

@test "harness: both databases exist and every installed migration is applied" {
	[ "$(psql_db postgres "SELECT count(*) FROM pg_database WHERE datname IN ('$USERS_DB', '$AUTH_DB')")" = 2 ]
	local db sub f n=0
	for sub in users auth; do
		db=$USERS_DB
		[ "$sub" = auth ] && db=$AUTH_DB
		for f in "$MAGENTA_PREFIX"/share/magenta/sql/"$sub"/*.sql; do
			[ -f "$f" ] || continue
			[ "$(psql_db "$db" "SELECT count(*) FROM schema_migrations WHERE version = '${f##*/}'")" = 1 ] ||
				{ echo "not applied: $sub/${f##*/}"; return 1; }
			n=$((n + 1))
		done
	done
	[ "$n" -ge 2 ]
}

@test "harness: reset_db empties every table, new ones too, and keeps schema_migrations" {
	local before
	before=$(psql_users 'SELECT count(*) FROM schema_migrations')
	psql_users 'CREATE TABLE smoke_extra (id serial PRIMARY KEY, v text)'
	psql_users "INSERT INTO smoke_extra (v) VALUES ('a'), ('b')"
	reset_db
	[ "$(psql_users 'SELECT count(*) FROM smoke_extra')" = 0 ]
	# identities restart
	[ "$(psql_users "INSERT INTO smoke_extra (v) VALUES ('c') RETURNING id")" = 1 ]
	psql_users 'DROP TABLE smoke_extra'
	[ "$(psql_users 'SELECT count(*) FROM schema_migrations')" = "$before" ]
	# every test started from empty application tables
	[ "$(psql_users 'SELECT count(*) FROM users')" = 0 ]
}

@test "harness: RabbitMQ answers on AMQP and its management API (guest, loopback)" {
	_stack_port_open "$AMQP_PORT"
	amqp_mgmt GET /overview
	assert_code 200
	[ "$(field .node)" = "$RABBITMQ_NODENAME" ]
	amqp_mgmt GET /vhosts/%2F
	assert_code 200
	# a wrong password is refused
	_http_call "$AMQP_MGMT_URL/api/overview" -u guest:wrong
	[ "$code" = 401 ]
}

@test "harness: api reports no answer as 000; wait_until polls and gives up on time" {
	BASE_URL=http://127.0.0.1:1 api GET /
	[ "$code" = 000 ]
	local f=$BATS_TEST_TMPDIR/flag
	(sleep 0.3 && touch "$f") &
	wait_until 5 test -e "$f"
	local t0=$SECONDS
	run wait_until 1 false
	[ "$status" -ne 0 ]
	[[ "$output" == *"still false after 1 s"* ]]
	[ $((SECONDS - t0)) -le 3 ]
}

@test "harness: PostgreSQL stops and comes back on the same port with its data" {
	stack_pg_stop
	api GET /api/registration/ready
	[ "$code" = 503 ]
	stack_pg_start
	wait_until 10 eval 'api GET /api/registration/ready; [ "$code" = 200 ]'
	[ "$(psql_db postgres "SELECT count(*) FROM pg_database WHERE datname = '$USERS_DB'")" = 1 ]
}

@test "harness: lighttpd runs each program as one parent whose workers share one socket; a worker that dies is replaced" {
	local n lp parent procs kids victim
	lp=$(_stack_pid_read "$STACK_DIR/lighttpd.pid")
	procs=$(awk '/^var.magenta_procs/ { print $3 }' "$STACK_DIR/lighttpd.conf")
	for n in registration auth; do
		# one socket (lighttpd names it <socket>-0), one parent under lighttpd
		[ "$(find "$STACK_DIR/sock" -name "$n.sock*" | wc -l)" = 1 ]
		parent=$(pgrep -P "$lp" -f "$MAGENTA_PREFIX/sbin/magenta-$n")
		[[ $parent =~ ^[0-9]+$ ]]
		mapfile -t kids < <(pgrep -P "$parent")
		[ "${#kids[@]}" = "$procs" ]
		# a worker killed outright is replaced, and the service answers
		victim=${kids[0]}
		kill -KILL "$victim"
		wait_until 10 _workers_replaced "$parent" "$victim" "$procs"
		api GET "/api/$n/health"
		assert_code 200
	done
}

# _workers_replaced PARENT GONE N: PARENT has N children again, GONE not among them.
_workers_replaced() {
	local k
	mapfile -t k < <(pgrep -P "$1")
	[ "${#k[@]}" = "$3" ] && ! printf '%s\n' "${k[@]}" | grep -qx -e "$2"
}

# _slots_of SERVICE PID: "SLOTS SEMID" from that program's argon2 line
# (logged by its init, before it forks its workers).
_slots_of() {
	sed -n "s/.*service=$1 event=argon2 pid=$2 slots=\([0-9]*\) semid=\([0-9-]*\).*/\1 \2/p" \
		"$STACK_DIR/log/lighttpd-error.log" | tail -1
}

# _exited PID: PID is gone, or a zombie waiting for its parent.
_exited() { ! kill -0 "$1" 2>/dev/null || [[ $(ps -o stat= -p "$1") == Z* ]]; }

# _all_exited PID...: every PID is gone (or a zombie).
_all_exited() {
	local p
	for p in "$@"; do _exited "$p" || return 1; done
}

# _stop_all PID LOG [RC]: SIGTERM to the program PID (our child); it and
# every worker it had must be gone within 5 s, and its stop in LOG.  What
# is left is killed.  A non-zero RC (an earlier failed check) fails too,
# after that clean-up.
_stop_all() {
	local pid=$1 log=$2 rc=${3:-0} kids
	mapfile -t kids < <(pgrep -P "$pid")
	kill -TERM "$pid"
	wait_until 5 _all_exited "$pid" "${kids[@]}" || rc=$?
	if [ "$rc" != 0 ]; then
		pkill -KILL -P "$pid" || true
		kill -KILL "$pid" || true
	fi
	wait "$pid" || true
	[ "$rc" = 0 ] && grep -q "event=stop pid=$pid" "$log"
}

# _held_back PID: PID has exactly one child, and still has for the next
# 0.3 s (a replacement it holds back, not one on its way).
_held_back() {
	local i
	for ((i = 0; i < 15; i++)); do
		[ "$(pgrep -c -P "$1")" = 1 ] || return 1
		sleep 0.02
	done
}

@test "a program stops at once on SIGTERM while it holds back a dead worker's replacement, and takes every worker with it" {
	local pid kids tries rc=1 log=$BATS_TEST_TMPDIR/auth.log
	"$MAGENTA_PREFIX/sbin/magenta-auth" -f "$MAGENTA_CONFIG" \
		-l "$BATS_TEST_TMPDIR/auth.sock" -p 2 2>"$log" 3>&- &
	pid=$!
	wait_until 10 grep -q "event=start pid=$pid procs=2 " "$log"
	wait_until 10 eval '[ "$(pgrep -c -P "$pid")" = 2 ]'
	# a worker dies and is replaced; the replacement dies at once: the
	# next replacement waits a second (a crash loop must not spin)
	for ((tries = 0; tries < 10; tries++)); do
		mapfile -t kids < <(pgrep -P "$pid")
		kill -KILL "${kids[0]}"
		wait_until 10 _workers_replaced "$pid" "${kids[0]}" 2
		mapfile -t kids < <(pgrep -n -P "$pid")
		kill -KILL "${kids[0]}"
		if _held_back "$pid"; then
			rc=0
			break
		fi
		wait_until 10 eval '[ "$(pgrep -c -P "$pid")" = 2 ]'
	done
	[ "$rc" = 0 ]
	# everything is gone at once: no replacement comes after the stop
	_stop_all "$pid" "$log"
	[ "$(grep -c "event=worker_died" "$log")" -ge 2 ]
	[ "$(grep -c "event=worker_stop" "$log")" -ge 1 ]
}

@test "a program started with SIGCHLD ignored still replaces a dead worker, and stops on SIGTERM" {
	local pid kids rc=0 log=$BATS_TEST_TMPDIR/auth.log
	# an ignored signal stays ignored across exec
	perl -e '$SIG{CHLD} = "IGNORE"; exec @ARGV or exit 127' \
		"$MAGENTA_PREFIX/sbin/magenta-auth" -f "$MAGENTA_CONFIG" \
		-l "$BATS_TEST_TMPDIR/auth.sock" -p 2 2>"$log" 3>&- &
	pid=$!
	wait_until 10 grep -q "event=start pid=$pid procs=2 " "$log"
	wait_until 10 eval '[ "$(pgrep -c -P "$pid")" = 2 ]'
	mapfile -t kids < <(pgrep -P "$pid")
	kill -KILL "${kids[0]}"
	wait_until 10 _workers_replaced "$pid" "${kids[0]}" 2 || rc=$?
	grep -q "event=worker_died pid=${kids[0]} " "$log" || rc=1
	_stop_all "$pid" "$log" "$rc"
}

@test "argon2id slots: a program's workers hash at most one per CPU at once (one semaphore set), keep the slots when a worker dies, remove them when the program stops" {
	local lp n parent slots semid pid kids log=$BATS_TEST_TMPDIR/auth.log
	lp=$(_stack_pid_read "$STACK_DIR/lighttpd.pid")
	for n in registration auth; do
		parent=$(pgrep -P "$lp" -f "$MAGENTA_PREFIX/sbin/magenta-$n")
		read -r slots semid < <(_slots_of "$n" "$parent")
		[ "$slots" = "$(nproc)" ]
		[ "$(_semval "$semid")" = "$slots" ]
	done
	# a program of its own: 3 workers, 1 slot
	MAGENTA_ARGON2_CONCURRENCY=1 "$MAGENTA_PREFIX/sbin/magenta-auth" -f "$MAGENTA_CONFIG" \
		-l "$BATS_TEST_TMPDIR/auth.sock" -p 3 2>"$log" 3>&- &
	pid=$!
	wait_until 10 grep -q "event=start pid=$pid procs=3 " "$log"
	semid=$(sed -n "s/.*event=argon2 pid=$pid slots=1 semid=\([0-9]*\).*/\1/p" "$log")
	[ "$(_semval "$semid")" = 1 ]
	mapfile -t kids < <(pgrep -P "$pid")
	[ "${#kids[@]}" = 3 ]
	kill -KILL "${kids[0]}"
	wait_until 10 _workers_replaced "$pid" "${kids[0]}" 3
	[ "$(_semval "$semid")" = 1 ]
	sem_exists "$semid" || false
	kill -TERM "$pid"
	wait "$pid"
	grep -q "event=stop pid=$pid" "$log"
	! sem_exists "$semid"
}
