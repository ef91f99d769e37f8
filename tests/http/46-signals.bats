#!/usr/bin/env bats
# Signals (docs/deployment.md, "Signals"): what TERM, HUP and USR1 do to a
# FastCGI program under -p (its supervisor and workers), to a single
# process, and to the daemons; --version and --help of every program; the
# spawn-fcgi recipe of docs/deployment.md as written, with log_file.
#
# The FastCGI programs here are the test's own magenta-auth on a Unix
# socket in the test's directory, with a configuration of their own (a
# copy of the stack's, with keys added at the end: a later line wins).

load ../lib/common
load 30-auth

# _conf FILE LINE...: the stack's configuration plus LINEs, into FILE.
_conf() {
	local f=$1
	shift
	cp "$MAGENTA_CONFIG" "$f"
	printf '%s\n' "$@" >>"$f"
}

# _auth CONF SOCK PROCS: magenta-auth -f CONF -l SOCK -p PROCS, stderr in
# SOCK.log; prog_pid, and once started prog_kids (its workers).
_auth() {
	local procs=$3
	"$MAGENTA_PREFIX/sbin/magenta-auth" -f "$1" -l "$2" -p "$procs" 2>"$2.log" 3>&- &
	prog_pid=$!
	wait_until 30 grep -q "event=start pid=$prog_pid " "$2.log"
	prog_kids=()
	if ((procs > 1)); then
		wait_until 10 eval '[ "$(pgrep -c -P "$prog_pid")" = "$procs" ]'
		mapfile -t prog_kids < <(pgrep -P "$prog_pid")
	fi
}

# _status SOCK URI: the status line of a GET straight to the socket.
_status() {
	env -i REQUEST_METHOD=GET REQUEST_URI="$2" REMOTE_ADDR=127.0.0.1 \
		cgi-fcgi -bind -connect "$1" 2>/dev/null 3>&- | head -n 1 | tr -d '\r'
}

# _kids SOCK: the kids of the JWKS the program serves, in order.
_kids() {
	env -i REQUEST_METHOD=GET REQUEST_URI=/.well-known/jwks.json REMOTE_ADDR=127.0.0.1 \
		cgi-fcgi -bind -connect "$1" 2>/dev/null 3>&- | sed '1,/^\r$/d' | jq -r '[.keys[].kid] | join(" ")'
}

# _login_kid SOCK USER: the kid in the header of the access token a login
# through the socket gets.
_login_kid() {
	local t
	t=$(fcgi_post "$1" /api/auth/login \
		"$(jq -cn --arg u "$2" --arg p "$AUTH_PW" '{usernameOrEmail:$u,password:$p}')" |
		sed '1,/^\r$/d' | jq -r .accessToken)
	[[ $t == *.*.* ]] || return 1
	cut -d. -f1 <<<"$t" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .kid
}

# _client SOCK OUT: GET /.well-known/jwks.json in a loop, one status line
# per request appended to OUT, until OUT.stop exists.
_client() {
	while [[ ! -e $2.stop ]]; do
		printf '%s\n' "$(_status "$1" /.well-known/jwks.json)" >>"$2"
	done
}

# _lines FILE: its line count.
_lines() { wc -l <"$1"; }

# _gone PID...: none of them runs any more.
_gone() {
	local p
	for p in "$@"; do
		! kill -0 "$p" 2>/dev/null || return 1
	done
}

teardown() {
	# whatever a test left running
	[[ -n ${prog_pid:-} ]] && kill -KILL "$prog_pid" "${prog_kids[@]}" 2>/dev/null
	[[ -n ${client_pid:-} ]] && kill "$client_pid" 2>/dev/null
	if [[ -n ${rpid:-} ]]; then
		kill -KILL "$rpid" "$cpid" 2>/dev/null
		stack_daemons_start 3>&- >/dev/null
	fi
	return 0
}

@test "fastcgi -p 2: SIGHUP with a new signing key: the same supervisor replaces both workers one at a time, no request fails meanwhile, tokens then carry the new kid" {
	local d=$BATS_TEST_TMPDIR conf=$BATS_TEST_TMPDIR/auth.conf sock=$BATS_TEST_TMPDIR/auth.sock
	local ctl=$MAGENTA_PREFIX/bin/magentactl old new out=$BATS_TEST_TMPDIR/client
	"$ctl" -f "$MAGENTA_CONFIG" keygen --out "$d/old.pem" >/dev/null
	"$ctl" -f "$MAGENTA_CONFIG" keygen --out "$d/new.pem" >/dev/null
	_conf "$conf" "jwt_keys = $d/old.pem"
	seed_user hupuser hupuser@example.com >/dev/null
	_auth "$conf" "$sock" 2
	old=$(_kids "$sock")
	[ -n "$old" ]
	[ "$(_login_kid "$sock" hupuser)" = "$old" ]
	# a client that never stops asking, across the reload
	_client "$sock" "$out" &
	client_pid=$!
	wait_until 10 eval '[ "$(_lines "$out")" -ge 20 ]'
	sed -i "s|^jwt_keys = .*|jwt_keys = $d/new.pem:$d/old.pem|" "$conf"
	kill -HUP "$prog_pid"
	wait_until 20 grep -q "event=reload pid=$prog_pid " "$sock.log"
	wait_until 20 eval '[ "$(grep -c "event=worker_replaced" "$sock.log")" = 2 ]'
	wait_until 20 _gone "${prog_kids[@]}"
	# one at a time: the second slot's new worker came after the first old
	# one had stopped
	local stop0 repl1
	stop0=$(grep -n "event=worker_stop pid=${prog_kids[0]} " "$sock.log" | cut -d: -f1)
	repl1=$(grep -n "event=worker_replaced slot=1 old=${prog_kids[1]} " "$sock.log" | cut -d: -f1)
	grep -q "event=worker_replaced slot=0 old=${prog_kids[0]} " "$sock.log"
	[ -n "$stop0" ] && [ -n "$repl1" ] && [ "$stop0" -lt "$repl1" ]
	local n
	n=$(_lines "$out")
	wait_until 10 eval '[ "$(_lines "$out")" -ge $((n + 20)) ]'
	touch "$out.stop"
	wait "$client_pid"
	client_pid=
	# every request answered 200, the supervisor is the same and has two new workers
	[ "$(grep -vc '^Status: 200 OK$' "$out")" = 0 ]
	kill -0 "$prog_pid"
	[ "$(pgrep -c -P "$prog_pid")" = 2 ]
	new=$(_kids "$sock")
	[[ $new == *" $old" && $new != "$old" ]]
	[ "$(_login_kid "$sock" hupuser)" = "${new%% *}" ]
	# the argon2 slots are the same set, not a second one
	grep -q "event=argon2 pid=$prog_pid slots=[0-9]* semid=[0-9]* kept=1" "$sock.log"
	kill -TERM "$prog_pid"
	wait "$prog_pid"
	prog_pid=
}

@test "fastcgi -p 2: SIGHUP with a broken configuration: event=reload_failed, the old workers serve on" {
	local conf=$BATS_TEST_TMPDIR/auth.conf sock=$BATS_TEST_TMPDIR/auth.sock
	_conf "$conf"
	_auth "$conf" "$sock" 2
	local kids
	kids=$(_kids "$sock")
	# a key file that is not there, then an unknown key
	echo "jwt_keys = $BATS_TEST_TMPDIR/missing.pem" >>"$conf"
	kill -HUP "$prog_pid"
	wait_until 20 grep -q "event=reload_failed pid=$prog_pid .*missing.pem" "$sock.log"
	echo "no_such_key = 1" >>"$conf"
	kill -HUP "$prog_pid"
	wait_until 20 grep -q "event=reload_failed pid=$prog_pid .*no_such_key" "$sock.log"
	! grep -q "event=worker_replaced" "$sock.log"
	[ "$(pgrep -P "$prog_pid" | sort)" = "$(printf '%s\n' "${prog_kids[@]}" | sort)" ]
	[ "$(_status "$sock" /api/auth/health)" = "Status: 200 OK" ]
	[ "$(_kids "$sock")" = "$kids" ]
	# and it still supervises as before: a worker that dies is replaced
	kill -KILL "${prog_kids[0]}"
	wait_until 10 eval '[ "$(pgrep -c -P "$prog_pid")" = 2 ] && ! kill -0 "${prog_kids[0]}" 2>/dev/null'
	[ "$(_kids "$sock")" = "$kids" ]
	kill -TERM "$prog_pid"
	wait "$prog_pid"
	prog_pid=
}

@test "fastcgi -p 2: SIGTERM: idle workers exit at once, a request in hand is answered first, the supervisor exits 0" {
	local conf=$BATS_TEST_TMPDIR/auth.conf sock=$BATS_TEST_TMPDIR/auth.sock gate=$BATS_TEST_TMPDIR/gate
	local client rc=0
	_conf "$conf" "fcgi_stop_grace = 30"
	_auth "$conf" "$sock" 2
	# a request whose body is not all there yet: a worker holds it
	"$BATS_TEST_DIRNAME/../tools/fcgi-slow.py" "$sock" /api/auth/login \
		'{"usernameOrEmail":"nobody-here","password":"not the password"}' "$gate" \
		>"$BATS_TEST_TMPDIR/answer" 3>&- &
	client=$!
	wait_until 10 test -e "$gate.sent"
	kill -TERM "$prog_pid"
	wait_until 10 grep -q "event=stopping pid=$prog_pid " "$sock.log"
	# the idle worker went (well within the 30 s grace), the busy one stays
	wait_until 5 eval '[ "$(pgrep -c -P "$prog_pid")" = 1 ]'
	touch "$gate"
	wait "$client"
	head -n 1 "$BATS_TEST_TMPDIR/answer" | grep -q '^Status: 401'
	wait_until 5 _gone "$prog_pid"
	wait "$prog_pid" || rc=$?
	prog_pid=
	[ "$rc" = 0 ]
	[ "$(grep -c "event=worker_stop" "$sock.log")" = 2 ]
	! grep -q "event=worker_killed" "$sock.log"
}

@test "fastcgi -p 2: SIGTERM: a worker that does not stop (SIGSTOP) is killed after fcgi_stop_grace, and the supervisor exits 0" {
	local conf=$BATS_TEST_TMPDIR/auth.conf sock=$BATS_TEST_TMPDIR/auth.sock rc=0 t0 t1
	_conf "$conf" "fcgi_stop_grace = 2"
	_auth "$conf" "$sock" 2
	kill -STOP "${prog_kids[0]}"
	t0=$(date +%s%N)
	kill -TERM "$prog_pid"
	wait_until 15 _gone "$prog_pid"
	t1=$(date +%s%N)
	wait "$prog_pid" || rc=$?
	prog_pid=
	[ "$rc" = 0 ]
	grep -q "event=worker_killed pid=${prog_kids[0]} grace=2" "$sock.log"
	_gone "${prog_kids[@]}"
	# not before the grace was over
	[ $(((t1 - t0) / 1000000)) -ge 1900 ]
}

@test "fastcgi: SIGUSR1 reopens log_file in the supervisor and every worker (a moved log gets no more lines)" {
	local conf=$BATS_TEST_TMPDIR/auth.conf sock=$BATS_TEST_TMPDIR/auth.sock log=$BATS_TEST_TMPDIR/auth-file.log
	_conf "$conf" "log_file = $log"
	_auth_file() {
		"$MAGENTA_PREFIX/sbin/magenta-auth" -f "$conf" -l "$sock" -p 2 2>"$sock.log" 3>&- &
		prog_pid=$!
	}
	_auth_file
	wait_until 30 grep -q "event=start pid=$prog_pid " "$log"
	wait_until 10 eval '[ "$(pgrep -c -P "$prog_pid")" = 2 ]'
	mapfile -t prog_kids < <(pgrep -P "$prog_pid")
	# nothing on standard error: it all went to the file
	! grep -q "event=start" "$sock.log"
	mv "$log" "$log.1"
	kill -USR1 "$prog_pid"
	local p
	for p in "$prog_pid" "${prog_kids[@]}"; do
		wait_until 10 grep -q "event=log_reopened pid=$p\$" "$log"
	done
	! grep -q "event=log_reopened" "$log.1"
	# what follows goes to the new file
	kill -TERM "$prog_pid"
	wait "$prog_pid"
	prog_pid=
	grep -q "event=stop pid=" "$log"
	! grep -q "event=stop pid=" "$log.1"
}

@test "fastcgi, one process (no -p): SIGHUP reloads it in place, a broken file changes nothing, SIGTERM stops it with exit 0" {
	local d=$BATS_TEST_TMPDIR conf=$BATS_TEST_TMPDIR/auth.conf sock=$BATS_TEST_TMPDIR/auth.sock
	local old new rc=0
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" keygen --out "$d/old.pem" >/dev/null
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" keygen --out "$d/new.pem" >/dev/null
	_conf "$conf" "jwt_keys = $d/old.pem"
	"$MAGENTA_PREFIX/sbin/magenta-auth" -f "$conf" -l "$sock" 2>"$sock.log" 3>&- &
	prog_pid=$!
	wait_until 30 grep -q "event=start pid=$prog_pid procs=1 " "$sock.log"
	old=$(_kids "$sock")
	sed -i "s|^jwt_keys = .*|jwt_keys = $d/new.pem:$d/old.pem|" "$conf"
	kill -HUP "$prog_pid"
	wait_until 20 grep -q "event=reload pid=$prog_pid " "$sock.log"
	new=$(_kids "$sock")
	[[ $new == *" $old" && $new != "$old" ]]
	echo "jwt_keys = $d/missing.pem" >>"$conf"
	kill -HUP "$prog_pid"
	wait_until 20 grep -q "event=reload_failed pid=$prog_pid " "$sock.log"
	[ "$(_kids "$sock")" = "$new" ]
	kill -TERM "$prog_pid"
	wait_until 5 _gone "$prog_pid"
	wait "$prog_pid" || rc=$?
	grep -q "event=stop pid=$prog_pid " "$sock.log"
	prog_pid=
	[ "$rc" = 0 ]
}

# The daemons of the stack give way to private ones with log files
# (rpid, cpid: their pids, for teardown too).
_daemons() {
	stack_daemons_stop >/dev/null
	local bin=$MAGENTA_PREFIX/sbin
	"$bin/magenta-relay" -f "$dconf" -d --log-file "$rlog" 2>/dev/null 3>&- &
	rpid=$!
	"$bin/magenta-consumer" -f "$dconf" -d --log-file "$clog" 2>/dev/null 3>&- &
	cpid=$!
	wait_until 15 grep -q 'event=consuming' "$clog"
	wait_until 15 grep -q 'event=amqp_connected' "$rlog"
}

# _flows NAME: a user registered now reaches the auth database.
_flows() {
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		"$(jq -cn --arg u "$1" '{username:$u,email:($u+"@example.com"),password:"signals test pw 1",confirmPassword:"signals test pw 1"}')"
	assert_code 201
	wait_until 20 eval "[ \"\$(psql_auth \"SELECT count(*) FROM auth_users WHERE username = '$1'\")\" = 1 ]"
}

@test "daemons: SIGHUP reloads (event keys again; a broken file: event=reload_failed), SIGUSR1 reopens the log, and events still flow" {
	local dconf=$BATS_TEST_TMPDIR/daemons.conf rlog=$BATS_TEST_TMPDIR/relay.log clog=$BATS_TEST_TMPDIR/consumer.log
	local rc=0
	_conf "$dconf"
	_daemons
	_flows sigbefore
	kill -HUP "$rpid" "$cpid"
	wait_until 20 grep -q 'event=reload ' "$rlog"
	wait_until 20 grep -q 'event=reload ' "$clog"
	grep -q 'event=keys signing_kid=' "$rlog"
	grep -q 'event=keys verify_keys=1 seal_keys=1' "$clog"
	_flows sigafterhup
	# a broken file: refused, the daemons go on as they were
	echo "event_signing_key = $BATS_TEST_TMPDIR/missing.pem" >>"$dconf"
	echo "event_verify_keys = $BATS_TEST_TMPDIR/missing.pub" >>"$dconf"
	kill -HUP "$rpid" "$cpid"
	wait_until 20 grep -q 'event=reload_failed .*missing.pem' "$rlog"
	wait_until 20 grep -q 'event=reload_failed .*missing.pub' "$clog"
	_flows sigafterbroken
	# rotation of the logs
	mv "$rlog" "$rlog.1"
	mv "$clog" "$clog.1"
	kill -USR1 "$rpid" "$cpid"
	wait_until 10 grep -q 'event=log_reopened' "$rlog"
	wait_until 10 grep -q 'event=log_reopened' "$clog"
	kill -TERM "$rpid" "$cpid"
	wait "$rpid" || rc=$?
	wait "$cpid" || rc=$?
	[ "$rc" = 0 ]
	grep -q 'event=stop' "$rlog"
	grep -q 'event=stop' "$clog"
	rpid=
	stack_daemons_start 3>&- >/dev/null
}

@test "every program answers --version and --help; magentactl COMMAND --help prints that command's usage without reading any configuration" {
	local v p c
	v=$(sed -n 's/^AC_INIT(\[\([^]]*\)\], *\[\([^]]*\)\].*/\1 \2/p' "$MAGENTA_SRC/configure.ac")
	[ -n "$v" ]
	for p in sbin/magenta-registration sbin/magenta-auth sbin/magenta-relay sbin/magenta-consumer bin/magentactl; do
		run "$MAGENTA_PREFIX/$p" --version
		[ "$status" = 0 ]
		[ "$output" = "${p#*/} ($v)" ]
		run "$MAGENTA_PREFIX/$p" --help
		[ "$status" = 0 ]
		[[ ${lines[0]} == "usage: ${p#*/} "* ]]
		[[ $output == *--version* ]]
	done
	# the daemons' log and pid files are long options now
	run "$MAGENTA_PREFIX/sbin/magenta-relay" --help
	[[ $output == *"--log-file FILE"* && $output == *"--pid-file FILE"* ]]
	run "$MAGENTA_PREFIX/sbin/magenta-relay" -l x -d
	[ "$status" = 2 ]
	for c in sample-config migrate keygen hash-password status dlq resync user; do
		run "$MAGENTA_PREFIX/bin/magentactl" -f "$BATS_TEST_TMPDIR/none.conf" "$c" --help
		[ "$status" = 0 ]
		[[ ${lines[0]} == "usage: magentactl [-f FILE] $c"* ]]
	done
}

@test "spawn-fcgi: docs/deployment.md's recipe as written (forking, -u/-g) with log_file: both programs serve and log their start in the file" {
	((EUID == 0)) || skip "the recipe drops privileges (-u/-g): run as root"
	local d=$STACK_DIR/spawnfcgi-recipe conf recipe p n rc=0
	rm -rf "$d"
	mkdir -p "$d"
	conf=$d/magenta.conf
	# the programs run as nobody: their files are theirs
	_conf "$conf" "jwt_keys = $d/signing.pem" "jwt_public_keys = $d/jwks.json" \
		"log_file = $d/magenta.log" "mfa_key_file = $d/mfa.key"
	install -m 0600 "$STACK_DIR/keys/mfa.key" "$d/mfa.key"
	"$MAGENTA_PREFIX/bin/magentactl" -f "$conf" keygen --out "$d/signing.pem" >/dev/null
	"$MAGENTA_PREFIX/bin/magentactl" -f "$conf" keygen --public --out "$d/jwks.json" >/dev/null
	chown -R nobody:nogroup "$d"
	chmod 0644 "$conf" "$d/jwks.json"
	# the recipe's block, with this stack's paths and users
	recipe=$(awk '/^\*\*By spawn-fcgi\*\*/ { f = 1 } f && /^```sh$/ { g = 1; next } g && /^```$/ { exit } g' \
		"$MAGENTA_SRC/docs/deployment.md")
	[[ $recipe == *"spawn-fcgi -s "* ]]
	sed -e "s|/run/magenta|$d/run|g" -e "s|/usr/local/sbin|$MAGENTA_PREFIX/sbin|g" \
		-e "s|/usr/local/etc/magenta/magenta.conf|$conf|g" \
		-e 's|-U magenta|-U nobody|g' -e 's|-u magenta -g magenta|-u nobody -g nogroup|g' \
		<<<"$recipe" >"$d/recipe.sh"
	! grep -q -- '-[uUg] magenta' "$d/recipe.sh"
	bash -e "$d/recipe.sh" >"$d/recipe.out" 2>&1 || rc=$?
	cat "$d/recipe.out"
	[ "$rc" = 0 ]
	for n in registration auth; do
		wait_until 20 test -s "$d/run/$n.pid"
		p=$(cat "$d/run/$n.pid")
		wait_until 30 grep -q "service=$n event=start pid=$p " "$d/magenta.log"
		[ "$(stat -c %U "/proc/$p")" = nobody ]
		[ "$(_status "$d/run/$n.sock" "/api/$n/health")" = "Status: 200 OK" ]
	done
	for n in registration auth; do
		p=$(cat "$d/run/$n.pid")
		kill -TERM "$p"
		wait_until 15 _gone "$p"
		grep -q "service=$n event=stop pid=$p" "$d/magenta.log"
	done
	rm -rf "$d"
}
