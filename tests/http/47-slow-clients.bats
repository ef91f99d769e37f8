#!/usr/bin/env bats
# Slow and hostile clients (issue 19, section 5): 200 slowloris connections
# (a request's headers trickled, a byte every 1-2 s) and 50 that send the
# complete headers of a login or a registration with a 4 KiB
# Content-Length, then the body a byte a second.  They are never idle (each
# byte resets lighttpd's server.max-read-idle), so they stay open; normal
# logins and registrations must still be answered in time.  What makes it
# so (docs/auth.md, "Slow clients"): lighttpd reads every connection without
# a thread of its own, its table (server.max-connections 8192) has room,
# and it reads a request's whole body before it hands the request to a
# FastCGI worker (server.stream-request-body = 0, lighttpd-magenta.conf),
# so 50 slow bodies hold none of the 4 + 4 workers.
#
# Addresses: the slowloris connections come from 127.0.0.1.  A user of that
# address is refused with 429 too_many_connections (lighttpd-conns.lua: it
# holds more than 64 connections): by design, and asserted below.  So the
# normal traffic comes from 127.0.0.2.  The slow bodies come from
# 127.0.0.3, under the cap (which lighttpd runs once a request's headers
# are complete, and which would answer them 429 behind 200 slowloris
# connections of their address): so they reach their body, as those of an
# attacker with many addresses do, and it is the body buffering, not the
# cap, that keeps them from the workers.
#
# The second test runs the same attack against Apache, which closes it
# instead (mod_qos, mod_reqtimeout), and must read bodies whole too.

load ../lib/common

PW='TestPassword123!'
SLOW=200
BODIES=50
# seconds the attack must last while it is checked: past max-read-idle (10)
HOLD=15
# seconds a normal request may take: under this attack, on 2 cores, a login
# took at most 1.3 s (argon2id, 4 at once on 2 slots); a starved server
# never answers
MAX_TIME=10

setup_file() {
	# the logins need the event pipeline: relay and consumer
	stack_daemons_start >/dev/null
	stack_spawnfcgi_start
	stack_apache_start
}

teardown_file() {
	stack_apache_stop
	stack_spawnfcgi_stop
}

# the server under test (lighttpd unless a test says otherwise), and the
# directory of the FastCGI sockets behind it
port=$HTTP_PORT
sockdir=$STACK_DIR/sock

# A test that failed half-way must not leave its sockets open.
teardown() {
	touch "$BATS_TEST_TMPDIR/stop"
	if [[ -n ${attack_pid:-} ]]; then
		wait "$attack_pid" 2>/dev/null || true
	fi
	return 0
}

# attack PORT: in the background (attack_pid), $BODIES slow bodies from
# 127.0.0.3 then $SLOW slowloris connections from 127.0.0.1, to
# 127.0.0.1:PORT, kept going
# until $BATS_TEST_TMPDIR/stop exists (at most 120 s).  Its own bookkeeping,
# rewritten every 0.5 s in $BATS_TEST_TMPDIR/status, one line per kind:
#   KIND opened open closed answered held
# (closed: by the server; answered: the server sent bytes; held: seconds
# since the last connection was opened, 0 until then).
attack() {
	python3 - "$1" "$SLOW" "$BODIES" "$BATS_TEST_TMPDIR/status" "$BATS_TEST_TMPDIR/stop" <<'EOF' 3>&- &
import os, random, resource, select, socket, sys, time
port, nslow, nbody, status, stop = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
need = nslow + nbody + 64
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < need:
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
end = time.monotonic() + 120
conns = []  # dicts: kind, sock, data (bytes still to trickle), due, state

def conn(kind, addr, head, data):
    s = socket.socket()
    s.settimeout(5)
    s.bind((addr, 0))
    c = {"kind": kind, "sock": s, "data": data, "state": "open",
         "due": time.monotonic() + random.uniform(1, 2)}
    conns.append(c)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(head)
    except OSError:
        # refused, or closed at once (Apache's per-address cap)
        c["state"] = "closed"
    s.setblocking(False)

def write_status(held):
    with open(status + ".tmp", "w") as f:
        for kind in ("body", "slow"):
            c = [x for x in conns if x["kind"] == kind]
            f.write("%s %d %d %d %d %d\n" % (kind, len(c),
                    sum(x["state"] == "open" for x in c),
                    sum(x["state"] == "closed" for x in c),
                    sum(x["state"] == "answered" for x in c), held))
    os.rename(status + ".tmp", status)

try:
    for i in range(nbody):
        path = (b"/api/auth/login", b"/api/registration/register")[i % 2]
        conn("body", "127.0.0.3", b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n",
             b'{"usernameOrEmail":"' + b"s" * 4096)
    for i in range(nslow):
        # header lines without end: the blank line never comes
        conn("slow", "127.0.0.1", b"GET /api/auth/health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
             b"X-Slow-%d: %s\r\n" % (i, b"z" * 4000))
    start = time.monotonic()
    last = 0
    while not os.path.exists(stop) and time.monotonic() < end:
        now = time.monotonic()
        live = [c for c in conns if c["state"] == "open"]
        for c in live:
            if c["due"] <= now:
                try:
                    c["sock"].send(c["data"][:1])
                    c["data"] = c["data"][1:]
                except OSError:
                    c["state"] = "closed"
                c["due"] = now + (1 if c["kind"] == "body" else random.uniform(1, 2))
        live = [c for c in conns if c["state"] == "open"]
        r, _, _ = select.select([c["sock"] for c in live], [], [], 0.1)
        for c in live:
            if c["sock"] in r:
                try:
                    got = c["sock"].recv(4096)
                except OSError:
                    got = b""
                c["state"] = "answered" if got else "closed"
                if got:
                    print("%s answered: %r" % (c["kind"], got[:40]), file=sys.stderr)
        if now - last >= 0.5:
            write_status(int(now - start))
            last = now
    write_status(int(time.monotonic() - start))
finally:
    for c in conns:
        c["sock"].close()
EOF
	attack_pid=$!
}

# count KIND FIELD: from the attack's status, FIELD (opened open closed
# answered held) of KIND (slow, body).
count() {
	local col
	case $2 in
	opened) col=2 ;; open) col=3 ;; closed) col=4 ;; answered) col=5 ;; held) col=6 ;;
	esac
	awk -v k="$1" -v c="$col" '$1 == k { print $c }' "$BATS_TEST_TMPDIR/status" 2>/dev/null
}
attack_opened() { [ "$(count slow opened)" = "$SLOW" ]; }
attack_gone() { [ "$(count slow open)" = 0 ] && [ "$(count body open)" = 0 ]; }
attack_capped() { (($(count slow open) <= 32 && $(count body open) <= 32)); }

# health_from1_ok: GET /api/auth/health from 127.0.0.1 (lighttpd) is 200.
health_from1_ok() {
	API_MAX_TIME=5 api GET /api/auth/health 2>/dev/null
	[ "$code" = 200 ]
}
attack_held() { (($(count slow held) >= HOLD)); }

# backend_conns NAME: connections open to the FastCGI socket of magenta-NAME
# in $sockdir (the listening socket not counted; lighttpd names it NAME.sock-0).
backend_conns() {
	local n
	n=$(grep -Ec " $sockdir/$1\.sock(-[0-9]+)?\$" /proc/net/unix) || true
	echo $((n - 1))
}

# from2 METHOD PATH [curl args...]: api from 127.0.0.2 to 127.0.0.2:$port,
# at most $MAX_TIME s for the answer.
from2() {
	local method=$1 path=$2
	shift 2
	API_MAX_TIME=$MAX_TIME _http_call "http://127.0.0.2:$port$path" --interface 127.0.0.2 -X "$method" "$@"
}

# in_auth_db USERNAME: the consumer has applied the user's event.
in_auth_db() {
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE username = '$1'")" = 1 ]
}

# register NAME: register NAME from 127.0.0.2; 201 within $MAX_TIME s.
register() {
	from2 POST /api/registration/register -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg u "$1" --arg e "$1@example.com" --arg p "$PW" \
			'{username:$u,email:$e,password:$p,confirmPassword:$p}')"
	assert_code 201 || return 1
	[ "$(field .username)" = "$1" ]
}

# login NAME: NAME logs in from 127.0.0.2; 200 with a token within
# $MAX_TIME s.
login() {
	from2 POST /api/auth/login -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg u "$1" --arg p "$PW" '{usernameOrEmail:$u,password:$p}')"
	assert_code 200 || return 1
	[ "$(field .user.username)" = "$1" ] || return 1
	[[ "$(field .accessToken)" == *.*.* ]]
}

# client I: one of the parallel normal users: 4 logins of slow$I and 3
# registrations, in turn; one line each in $BATS_TEST_TMPDIR/client.I,
# "ok MS WHAT" (MS: milliseconds taken) or "FAIL WHAT: STATUS", which ends
# it (a starved server would keep the test waiting MAX_TIME each).
client() {
	local i=$1 k t0 what ok out=$BATS_TEST_TMPDIR/client.$1
	for k in 1 2 3 4 5 6 7; do
		t0=${EPOCHREALTIME/./}
		ok=0
		if ((k % 2)); then
			what="login slow$i"
			login "slow$i" 2>>"$out.err" || ok=$?
		else
			what="register slow${i}x$k"
			register "slow${i}x$k" 2>>"$out.err" || ok=$?
		fi
		if ((ok == 0)); then
			echo "ok $(((${EPOCHREALTIME/./} - t0) / 1000)) $what" >>"$out"
		else
			echo "FAIL $what: $code" >>"$out"
			return 1
		fi
	done
}

# users_ready: slow1 .. slow4 registered and known to the auth service.
users_ready() {
	local i
	for i in 1 2 3 4; do
		register "slow$i"
	done
	for i in 1 2 3 4; do
		wait_until 30 in_auth_db "slow$i"
	done
}

# normal_traffic: 4 normal users at once (client), 7 requests each, every
# one answered within $MAX_TIME s (from2), all within 60 s.
normal_traffic() {
	local i t0=$SECONDS
	local -a clients=()
	for i in 1 2 3 4; do
		client "$i" &
		clients+=($!)
	done
	wait "${clients[@]}" || true
	cat "$BATS_TEST_TMPDIR"/client.[0-9]
	echo "normal traffic: $((SECONDS - t0)) s"
	((SECONDS - t0 < 60))
	[ "$(cat "$BATS_TEST_TMPDIR"/client.[0-9] | grep -c '^ok ')" = 28 ]
}

@test "slow clients: 200 slowloris from 127.0.0.1 and 50 slow bodies from 127.0.0.3 stay open; 127.0.0.2 logs in and registers in time" {
	users_ready
	attack "$HTTP_PORT"
	wait_until 60 attack_opened
	cat "$BATS_TEST_TMPDIR/status"
	[ "$(count body opened)" = "$BODIES" ]
	# no slow body reached a FastCGI program: lighttpd is still reading them
	[ "$(backend_conns auth)" = 0 ]
	[ "$(backend_conns registration)" = 0 ]

	# the attacking address is refused at once, by design (the cap)
	API_MAX_TIME=5 api GET /api/auth/health
	assert_code 429
	[ "$(field .error)" = too_many_connections ]

	normal_traffic

	# the attack lasted past max-read-idle, and is still in place: the
	# server closed or answered (nearly) none
	wait_until 30 attack_held
	cat "$BATS_TEST_TMPDIR/status"
	(($(count slow open) >= SLOW * 95 / 100))
	(($(count body open) >= BODIES * 95 / 100))
	[ "$(count slow answered)" = 0 ]
	[ "$(count body answered)" = 0 ]
	[ "$(backend_conns auth)" = 0 ]
	[ "$(backend_conns registration)" = 0 ]
	# and a user registered under attack logs in
	wait_until 30 in_auth_db slow1x2
	login slow1x2

	# attack over: 127.0.0.1 is served again
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$attack_pid"
	attack_pid=
	wait_until 10 health_from1_ok
}

# Apache holds no connection for long: mod_qos closes an address's
# connections past 32 at once, mod_reqtimeout the others when their headers
# are not complete within 5 s, or their body within 10 s (both extended
# only at 500 bytes/s).  The programs behind it (spawn-fcgi) have 2 workers
# each: Apache must read a body whole before it connects to one (mod_buffer,
# apache-magenta.conf), and must survive a body that comes in pieces.
@test "slow clients: apache: the same attack is closed within seconds; a slow body holds no worker and crashes no child; 127.0.0.2 is served in time" {
	port=$APACHE_PORT
	sockdir=$STACK_DIR/sock-apache
	local segv
	segv=$(grep -c 'Segmentation fault' "$STACK_DIR/log/apache-error.log") || true
	users_ready
	attack "$APACHE_PORT"
	wait_until 60 attack_opened
	# the per-address cap (the helper sees the closes on its next round)
	wait_until 5 attack_capped
	cat "$BATS_TEST_TMPDIR/status"
	# the slow bodies still pending are read by Apache, not by a program
	(($(count body open) > 0))
	[ "$(backend_conns auth)" = 0 ]
	[ "$(backend_conns registration)" = 0 ]
	# 127.0.0.1 holds its 32: it is not served
	API_MAX_TIME=5 _http_call "$APACHE_URL/api/auth/health"
	echo "from 127.0.0.1: $code"
	[ "$code" != 200 ]

	normal_traffic
	[ "$(backend_conns auth)" = 0 ]
	[ "$(backend_conns registration)" = 0 ]
	# mod_reqtimeout closes the rest: none is left after 30 s
	wait_until 30 attack_gone
	cat "$BATS_TEST_TMPDIR/status"
	# no Apache child crashed on the way
	[ "$(grep -c 'Segmentation fault' "$STACK_DIR/log/apache-error.log")" = "${segv:-0}" ]
	wait_until 30 in_auth_db slow1x2
	login slow1x2
}
