#!/usr/bin/env bats
# Connection exhaustion (issue 15): one address holding 1 500 idle,
# half-sent requests must not take the service from another address.  The
# limits are the shipped ones: lighttpd-magenta-limits.conf (included by the
# stack's lighttpd.conf as by lighttpd.conf.sample) and
# apache-magenta-limits.conf (by the stack's Apache).  Both servers listen
# on 127.0.0.2 too: the other client.  Everything stays on 127.0.0.0/8.

load ../lib/common

PW='TestPassword123!'
IDLE=1500

setup_file() {
	# the login needs the event pipeline: relay and consumer
	stack_daemons_start >/dev/null
	stack_spawnfcgi_start
	stack_apache_start
}

teardown_file() {
	stack_apache_stop
	stack_spawnfcgi_stop
}

# A test that failed half-way must not leave its sockets open.
teardown() {
	touch "$BATS_TEST_TMPDIR/stop"
	if [[ -n ${idle_pid:-} ]]; then
		wait "$idle_pid" 2>/dev/null || true
	fi
	return 0
}

# idle_conns PORT COUNT MODE: in the background (idle_pid), COUNT connections
# from 127.0.0.1 to 127.0.0.1:PORT, each sent the first lines of a request
# and never the rest.  MODE hold: keep them until $BATS_TEST_TMPDIR/stop
# exists (at most 120 s), then close them all.  MODE drop: wait until the
# server has closed every one, at most 40 s; exit 1 if it has not.  Writes
# the number opened to $BATS_TEST_TMPDIR/ready once all are open, or once
# a connect has waited 2 s (the server no longer accepts: fewer opened).
idle_conns() {
	python3 - "$1" "$2" "$3" "$BATS_TEST_TMPDIR/ready" "$BATS_TEST_TMPDIR/stop" <<'EOF' 3>&- &
import os, resource, select, socket, sys, time
port, count, mode, ready, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < count + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count + 64, max(hard, count + 64)))
end = time.monotonic() + (120 if mode == "hold" else 40)
socks = []
try:
    for _ in range(count):
        s = socket.socket()
        s.settimeout(2)
        s.bind(("127.0.0.1", 0))
        try:
            s.connect(("127.0.0.1", port))
        except socket.timeout:
            # the server's queue is full: it has stopped accepting
            s.close()
            break
        s.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\n")
        socks.append(s)
    with open(ready + ".tmp", "w") as f:
        f.write("%d\n" % len(socks))
    os.rename(ready + ".tmp", ready)
    if mode == "hold":
        while not os.path.exists(stop) and time.monotonic() < end:
            time.sleep(0.05)
        sys.exit(0)
    # drop: a socket the server closed reads EOF (or a reset)
    open_ = list(socks)
    while open_ and time.monotonic() < end:
        r, _, _ = select.select(open_, [], [], 0.5)
        for s in r:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                open_.remove(s)
    print("%d of %d still open" % (len(open_), len(socks)))
    sys.exit(1 if open_ else 0)
finally:
    for s in socks:
        s.close()
EOF
	idle_pid=$!
}

# ready_count: the number of connections idle_conns opened, once it has.
ready_count() { cat "$BATS_TEST_TMPDIR/ready" 2>/dev/null; }
opened() { [[ -f $BATS_TEST_TMPDIR/ready ]] || ! kill -0 "$idle_pid" 2>/dev/null; }

# lighttpd_sockets: the sockets lighttpd holds open (listening ones included).
lighttpd_sockets() {
	local pid
	pid=$(_stack_pid_read "$STACK_DIR/lighttpd.pid") || return 1
	find "/proc/$pid/fd" -lname 'socket:*' 2>/dev/null | wc -l
}

# from2 PORT METHOD PATH [curl args...]: api from 127.0.0.2 to
# 127.0.0.2:PORT, with at most 5 s for the answer.
from2() {
	local port=$1 method=$2 path=$3
	shift 3
	API_MAX_TIME=5 _http_call "http://127.0.0.2:$port$path" --interface 127.0.0.2 -X "$method" "$@"
}

# register_user NAME: register NAME (password $PW) and wait until it can
# log in (the consumer has applied its event); its id in $id.
register_user() {
	post_json /api/registration/register "$(jq -cn --arg u "$1" --arg e "$1@example.com" --arg p "$PW" \
		'{username:$u,email:$e,password:$p,confirmPassword:$p}')"
	assert_code 201
	id=$(field .userId)
	wait_until 30 in_auth_db "$1"
}

# login_from2 PORT NAME: NAME logs in from 127.0.0.2 within 5 s.
login_from2() {
	from2 "$1" POST /api/auth/login -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg u "$2" --arg p "$PW" '{usernameOrEmail:$u,password:$p}')"
	assert_code 200
	[ "$(field .user.id)" = "$id" ]
	[[ "$(field .accessToken)" == *.*.* ]]
}

# in_auth_db USERNAME: the consumer has applied the user's event.
in_auth_db() {
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE username = '$1'")" = 1 ]
}

# health_from1_ok [BASE]: GET /api/auth/health from 127.0.0.1 is 200.
health_from1_ok() {
	API_MAX_TIME=5 _http_call "${1:-$BASE_URL}/api/auth/health" 2>/dev/null
	[ "$code" = 200 ]
}

@test "connections: 1 500 idle half-sent requests from 127.0.0.1; 127.0.0.2 still logs in at once" {
	register_user connuser
	idle_conns "$HTTP_PORT" "$IDLE" hold
	wait_until 60 opened
	echo "opened $(ready_count) idle connections"
	# the other address: health and a login, each answered within 5 s
	from2 "$HTTP_PORT" GET /api/auth/health
	assert_code 200
	login_from2 "$HTTP_PORT" connuser
	[ "$(ready_count)" = "$IDLE" ]
	grep -q "event=login_ok user=$id .*addr=127.0.0.2" "$STACK_DIR/log/lighttpd-error.log"
	# while lighttpd held every idle connection: none was dropped to make room
	local n
	n=$(lighttpd_sockets)
	echo "lighttpd holds $n sockets"
	[ "$n" -ge "$IDLE" ]
	# the per-address cap: the address holding them is refused at once
	API_MAX_TIME=5 api GET /api/auth/health
	assert_code 429
	[ "$(field .error)" = too_many_connections ]
	[[ "$(header Content-Type)" == application/json* ]]
	[ "$(header Retry-After)" = 10 ]

	# all closed: the address is served again
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$idle_pid"
	idle_pid=
	wait_until 10 health_from1_ok
}

@test "connections: lighttpd closes a half-sent request that stays idle (server.max-read-idle)" {
	idle_conns "$HTTP_PORT" 3 drop
	wait_until 10 opened
	[ "$(ready_count)" = 3 ]
	# the tool waits at most 40 s for the server to close all three
	wait "$idle_pid"
	idle_pid=
}

@test "connections: apache: 1 500 idle half-sent requests from 127.0.0.1; 127.0.0.2 still logs in at once" {
	register_user connapache
	idle_conns "$APACHE_PORT" "$IDLE" hold
	wait_until 60 opened
	echo "opened $(ready_count) idle connections"
	from2 "$APACHE_PORT" GET /api/auth/health
	assert_code 200
	[[ "$(header Server)" == Apache* ]]
	login_from2 "$APACHE_PORT" connapache
	[ "$(ready_count)" = "$IDLE" ]
	grep -q "event=login_ok user=$id .*addr=127.0.0.2" "$STACK_DIR/log/spawnfcgi-auth.log"
	# the address holding them gets no answer from the programs
	API_MAX_TIME=5 _http_call "$APACHE_URL/api/auth/health"
	echo "from 127.0.0.1: $code"
	[ "$code" != 200 ]

	touch "$BATS_TEST_TMPDIR/stop"
	wait "$idle_pid"
	idle_pid=
	wait_until 30 health_from1_ok "$APACHE_URL"
}
