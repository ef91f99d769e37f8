# shellcheck shell=bash
# stack.sh: Magenta's private stack (PostgreSQL, RabbitMQ, lighttpd + the
# FastCGI programs, the daemons) under one directory, $STACK_DIR.
#
# Sourced by scripts/run, scripts/test and the bats tests (tests/lib/common.bash).
# Re-entrant: every piece of state lives in files under $STACK_DIR (env,
# magenta.conf, *.pid, logs), so any shell that sources $STACK_DIR/env and this
# file can start, stop or kill any component another shell started.
#
# The contract (others call these):
#   stack_deps                     install missing Debian packages
#   stack_init DIR [fixed]         create DIR, choose ports, write DIR/env and DIR/magenta.conf
#   stack_build                    out-of-tree configure + make + make install
#   stack_pg_start|stop|kill       private PostgreSQL
#   stack_migrate                  magentactl migrate --create
#   stack_rabbit_start|stop|kill   private RabbitMQ node (+ its own epmd)
#   stack_rabbitmqctl ARGS...      rabbitmqctl against our node (right HOME/cookie)
#   stack_rabbit_cluster_start N, stack_rabbit_cluster_stop, stack_rabbit_node_kill|start|stop I,
#   stack_rabbit_cluster_leader QUEUE, stack_rabbit_cluster_mgmt PATH,
#   stack_rabbit_cluster_running, stack_rabbit_cluster_wait N SECONDS
#                                  a cluster of N more nodes ("RabbitMQ cluster" below)
#   stack_tls_init                 the stack's test CA and HTTPS server certificate
#                                  (127.0.0.1, localhost) in $STACK_DIR/tls, made once
#   stack_lighttpd_start|stop|restart
#   stack_spawnfcgi_start|stop     the FastCGI programs under spawn-fcgi, on unix
#                                  sockets in $STACK_DIR/sock-apache (not in stack_up)
#   stack_apache_start|stop        a private Apache on $APACHE_PORT in front of
#                                  them (not in stack_up: tests start both)
#   stack_daemons_start|stop, stack_daemon_start|stop NAME, stack_daemon_kill NAME [SIG]
#                                  NAME is relay or consumer (binary magenta-NAME);
#                                  stack_daemon_start|stop|kill also take mailer,
#                                  which stack_up does not start
#   stack_smtp_start|stop          a private SMTP sink on $SMTP_PORT (tests/tools/smtp-sink.py)
#                                  writing each message it takes to $STACK_DIR/mail
#   stack_up, stack_down, stack_status
#   stack_bench NAME               a benchmark's private, self-removing stack
#   stack_bench_hashers SERVICE    argon2id computations SERVICE runs at once
# Functions print one progress line each; on failure they print what failed and
# the tail of the relevant log to stderr and return non-zero.  They never exit.
#
# Process handling: every process we start is recorded as "PID STARTTIME" in
# $STACK_DIR/NAME.pid, and only a live process with that PID *and* that start
# time is ever signalled, so a recycled PID is never hit.

STACK_LIB="${BASH_SOURCE[0]}"
# the source tree: this file is scripts/lib/stack.sh in it
STACK_SRC_DEFAULT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_RABBIT_BIN=/usr/lib/rabbitmq/bin

STACK_PACKAGES=(build-essential autoconf automake pkg-config libfcgi-dev
	librabbitmq-dev libpq-dev libjson-c-dev libjwt-dev libsodium-dev libssl-dev
	postgresql rabbitmq-server lighttpd spawn-fcgi bats curl jq john-data
	python3-jwt python3-cryptography python3-nacl python3-pika python3-requests-oauthlib wrk apache2-utils apache2 openssl
	libfcgi-bin lighttpd-modules-lua libapache2-mod-qos python3-prometheus-client
	lighttpd-mod-openssl chromium chromium-driver python3-selenium python3-pyotp
	libcurl4-openssl-dev python3-aiosmtpd)

# ---------------------------------------------------------------- helpers

# One progress line.
_stack_say() { printf 'stack: %s\n' "$*"; }

# A failure: message, then the last lines of LOG if given.
_stack_fail() {
	local msg=$1 log=${2:-}
	printf 'stack: FAILED: %s\n' "$msg" >&2
	if [[ -n $log && -s $log ]]; then
		printf 'stack: --- last lines of %s ---\n' "$log" >&2
		tail -n "${STACK_LOG_LINES:-30}" "$log" | sed 's/^/  | /' >&2
	fi
	return 1
}

# Seconds since the epoch with microseconds (bash 5 EPOCHREALTIME).
_stack_now() { printf '%s' "${EPOCHREALTIME/,/.}"; }

# Elapsed seconds since START (one decimal).
_stack_since() { awk -v a="$1" -v b="$(_stack_now)" 'BEGIN { printf "%.1f", b - a }'; }

# 1 if the deadline DEADLINE (from _stack_now) has passed.
_stack_past() { awk -v d="$1" -v n="$(_stack_now)" 'BEGIN { exit !(n > d) }'; }

# Deadline SECONDS from now.
_stack_deadline() { awk -v n="$(_stack_now)" -v s="$1" 'BEGIN { printf "%.6f", n + s }'; }

# Fields of /proc/PID/stat into _ST=(STATE PPID STARTTIME); fails if no such
# process.  No subshell: this runs for every process on the machine.
_stack_stat() {
	local s
	_ST=()
	{ read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
	[[ -n $s ]] || return 1
	s=${s##*) } # after the command name, which may hold spaces
	local -a f
	read -r -a f <<<"$s"
	_ST=("${f[0]}" "${f[1]}" "${f[19]}")
}

# PID [STARTTIME]: a live (not zombie) process, with that start time if given.
_stack_alive() {
	local pid=$1 start=${2:-}
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	_stack_stat "$pid" || return 1
	[[ ${_ST[0]} != Z && ${_ST[0]} != X ]] || return 1
	[[ -z $start || $start == "${_ST[2]}" ]]
}

# Record PID (with its start time) in FILE.
_stack_pid_write() {
	_stack_stat "$2" || _ST=('?' '?' '?')
	printf '%s %s\n' "$2" "${_ST[2]}" >"$1"
}

# Print the PID recorded in FILE if that process is still the live one.
_stack_pid_read() {
	local pid="" start=""
	[[ -f $1 ]] || return 1
	read -r pid start <"$1" || [[ -n $pid ]] || return 1
	_stack_alive "$pid" "$start" || return 1
	printf '%s\n' "$pid"
}

# Direct children of PID.
_stack_children() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		_stack_stat "$p" || continue
		[[ ${_ST[1]} == "$1" && ${_ST[0]} != Z ]] && printf '%s\n' "$p"
	done
	return 0
}

# PIDs of live processes whose executable lies under DIR/ (our own build),
# except those whose executable is named one of EXCLUDE...
_stack_pids_under() {
	local dir=$1 p arg0 exe x
	shift
	for p in /proc/[0-9]*; do
		# argv[0] first (a builtin read), the executable for candidates only
		arg0=""
		{ IFS= read -r -d '' arg0 <"$p/cmdline"; } 2>/dev/null || [[ -n ${arg0:-} ]] || continue
		[[ $arg0 == "$dir"/* ]] || continue
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		exe=${exe% (deleted)} # reinstalled since it started
		[[ $exe == "$dir"/* ]] || continue
		for x in "$@"; do
			[[ ${exe##*/} == "$x" ]] && continue 2
		done
		_stack_alive "${p#/proc/}" && printf '%s\n' "${p#/proc/}"
	done
	return 0
}

# Wait until none of PIDs is alive, at most SECONDS; fails on timeout.
_stack_wait_gone() {
	local secs=$1 d p left
	shift
	d=$(_stack_deadline "$secs")
	while :; do
		left=0
		for p in "$@"; do
			_stack_alive "$p" && left=1
		done
		((left)) || return 0
		_stack_past "$d" && return 1
		sleep 0.1
	done
}

# Stop PID (NAME for messages): signal SIG, wait SECONDS, then SIGKILL.
_stack_terminate() {
	local name=$1 pid=$2 secs=$3 sig=${4:-TERM}
	kill -s "$sig" "$pid" 2>/dev/null || true
	_stack_wait_gone "$secs" "$pid" && return 0
	printf 'stack: %s (pid %s) still there after %ss: SIGKILL\n' "$name" "$pid" "$secs" >&2
	kill -s KILL "$pid" 2>/dev/null || true
	_stack_wait_gone 5 "$pid" && return 0
	_stack_fail "$name (pid $pid) survived SIGKILL"
}

# 0 if something accepts TCP connections on 127.0.0.1:PORT.
_stack_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Wait until 127.0.0.1:PORT accepts, at most SECONDS, while PID (if given) lives.
_stack_wait_port() {
	local port=$1 secs=$2 pid=${3:-} d
	d=$(_stack_deadline "$secs")
	until _stack_port_open "$port"; do
		if [[ -n $pid ]] && ! _stack_alive "$pid"; then
			return 2
		fi
		_stack_past "$d" && return 1
		sleep 0.1
	done
}

# Print COUNT distinct free TCP ports on 127.0.0.1, below the ephemeral range.
_stack_free_ports() {
	local count=$1 lo=20000 hi=32000
	if [[ -x /usr/bin/python3 ]]; then
		# bind() without SO_REUSEADDR also refuses ports in TIME_WAIT; the
		# sockets stay bound until all ports are chosen, so they differ.
		/usr/bin/python3 - "$count" "$lo" "$hi" <<'EOF'
import random, socket, sys
count, lo, hi = map(int, sys.argv[1:])
held = []
while len(held) < count:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(lo, hi)))
    except OSError:
        s.close()
        continue
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
		return
	fi
	local -a ports=()
	local p
	while ((${#ports[@]} < count)); do
		p=$((lo + RANDOM % (hi - lo)))
		[[ " ${ports[*]} " == *" $p "* ]] && continue
		_stack_port_open "$p" && continue
		ports+=("$p")
	done
	echo "${ports[*]}"
}

# Run a command as the postgres system user when we are root.
_stack_as_pg() {
	if ((EUID == 0)); then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Start CMD... in the background in its own session (so a Ctrl-C in the
# terminal or the end of the calling shell does not reach it), stdin from
# /dev/null, stdout+stderr appended to LOG, no other descriptor inherited, in
# directory DIR; sets STACK_LAST_PID.
# setsid execs (no fork) because a background job of a shell without job
# control is not a process group leader; with job control, setsid would fork,
# so it is left out (the job has its own process group then anyway).
_stack_spawn() {
	local log=$1 dir=$2
	shift 2
	local -a pre=(setsid)
	[[ $- == *m* ]] && pre=()
	(
		# none of the caller's traps or errexit (bats sets them)
		set +eE
		trap - ERR DEBUG RETURN
		cd "$dir" || exit 1
		# keep no descriptor of the caller open (bats waits for its fd 3
		# and pipes to close: a server holding them would hang the suite)
		local fd
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			if ((fd > 2)); then
				{ eval "exec $fd>&-"; } 2>/dev/null
			fi
		done
		exec "${pre[@]}" "$@"
	) </dev/null >>"$log" 2>&1 &
	STACK_LAST_PID=$!
	# not a job of this shell: no "Killed" notices when a test kills it
	disown "$STACK_LAST_PID" 2>/dev/null || true
}

# Load $STACK_DIR/env if this shell does not have it yet.
_stack_load() {
	if [[ -z ${STACK_DIR:-} ]]; then
		_stack_fail "STACK_DIR is not set (stack_init first, or source \$STACK_DIR/env)"
		return 1
	fi
	if [[ ${_STACK_LOADED:-} != "$STACK_DIR" ]]; then
		[[ -f $STACK_DIR/env ]] || {
			_stack_fail "$STACK_DIR/env missing: run stack_init first"
			return 1
		}
		# shellcheck source=/dev/null
		. "$STACK_DIR/env"
		_STACK_LOADED=$STACK_DIR
	fi
}

# PostgreSQL server binaries: pg_config's bindir if the server is there.
_stack_pg_bindir() {
	local d
	d=$(pg_config --bindir 2>/dev/null) || d=
	if [[ -n $d && -x $d/postgres && -x $d/initdb ]]; then
		printf '%s\n' "$d"
		return
	fi
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -V -r); do
		if [[ -x $d/postgres && -x $d/initdb ]]; then
			printf '%s\n' "$d"
			return
		fi
	done
	return 1
}

# ---------------------------------------------------------------- deps

# Install the Debian packages that are missing (apt-get update once, first).
stack_deps() {
	local -a missing=() sudo=()
	local p st
	for p in "${STACK_PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || st=""
		[[ $st == *" installed" ]] || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		_stack_say "deps: all ${#STACK_PACKAGES[@]} Debian packages present"
		return 0
	fi
	if ((EUID != 0)); then
		command -v sudo >/dev/null || {
			_stack_fail "deps: missing ${missing[*]}; not root and no sudo: install them as root"
			return 1
		}
		sudo=(sudo)
	fi
	_stack_say "deps: installing ${missing[*]}"
	local log
	log=$(mktemp -t magenta-apt.XXXXXX)
	# The packages' maintainer scripts may start system instances of
	# PostgreSQL and RabbitMQ (or be denied by policy-rc.d): either is fine,
	# we never use them, and our ports are our own.
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 ||
		! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
		_stack_fail "deps: apt-get failed" "$log"
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
	_stack_say "deps: installed ${#missing[@]} packages"
}

# ---------------------------------------------------------------- init

# Create DIR and its layout, choose ports, write DIR/env and DIR/magenta.conf.
# With "fixed": HTTP 8080 and RabbitMQ management 15672 (scripts/run); the
# other ports are free ones.  An existing DIR/env keeps its ports and node
# name, so a restart reuses them (and the data).
stack_init() {
	local dir=${1:?usage: stack_init DIR [fixed]} mode=${2:-}
	mkdir -p "$dir" || {
		_stack_fail "init: cannot create $dir"
		return 1
	}
	dir=$(cd "$dir" && pwd)
	# the caller's fsync choice holds for a new DIR
	local fsync=${STACK_PG_FSYNC:-}
	# forget any stack this shell knew; keep only what DIR itself recorded
	unset HTTP_PORT HTTPS_PORT HTTPS_AUTH_PORT PGPORT AMQP_PORT AMQP_MGMT_PORT ERL_EPMD_PORT RABBITMQ_DIST_PORT APACHE_PORT \
		AMQPS_PORT RABBITMQ_NODENAME STACK_PG_FSYNC _STACK_LOADED STACK_RABBIT_CLUSTER_N \
		RABBITMQ_CLUSTER_NODES AMQP_PORTS AMQP_HOSTS AMQP_MGMT_PORTS RABBITMQ_DIST_PORTS \
		AMQP_ADMIN_PASSWORD AMQP_RELAY_PASSWORD AMQP_CONSUMER_PASSWORD SMTP_PORT
	if [[ -f $dir/env ]]; then
		# shellcheck source=/dev/null
		. "$dir/env"
	fi
	STACK_DIR=$dir
	MAGENTA_SRC=$STACK_SRC_DEFAULT
	MAGENTA_BUILD=$dir/build
	MAGENTA_PREFIX=$dir/prefix

	local -a ports
	read -r -a ports <<<"$(_stack_free_ports 11)"
	if [[ $mode == fixed ]]; then
		HTTP_PORT=8080
		AMQP_MGMT_PORT=15672
		# the seed's registration and authentication URLs (both serve every route)
		HTTPS_PORT=7001
		HTTPS_AUTH_PORT=7018
		STACK_PG_FSYNC=${STACK_PG_FSYNC:-${fsync:-on}}
	else
		HTTP_PORT=${HTTP_PORT:-${ports[0]}}
		AMQP_MGMT_PORT=${AMQP_MGMT_PORT:-${ports[1]}}
		HTTPS_PORT=${HTTPS_PORT:-${ports[8]}}
		HTTPS_AUTH_PORT=${HTTPS_AUTH_PORT:-${ports[9]}}
		STACK_PG_FSYNC=${STACK_PG_FSYNC:-${fsync:-off}}
	fi
	PGPORT=${PGPORT:-${ports[2]}}
	AMQP_PORT=${AMQP_PORT:-${ports[3]}}
	ERL_EPMD_PORT=${ERL_EPMD_PORT:-${ports[4]}}
	RABBITMQ_DIST_PORT=${RABBITMQ_DIST_PORT:-${ports[5]}}
	APACHE_PORT=${APACHE_PORT:-${ports[6]}}
	AMQPS_PORT=${AMQPS_PORT:-${ports[7]}}
	SMTP_PORT=${SMTP_PORT:-${ports[10]}}
	RABBITMQ_NODENAME=${RABBITMQ_NODENAME:-magenta-$RANDOM$$@localhost}
	# the broker's users (stack_rabbit_start, docs/events.md "Broker users")
	AMQP_ADMIN_PASSWORD=${AMQP_ADMIN_PASSWORD:-$(_stack_secret)}
	AMQP_RELAY_PASSWORD=${AMQP_RELAY_PASSWORD:-$(_stack_secret)}
	AMQP_CONSUMER_PASSWORD=${AMQP_CONSUMER_PASSWORD:-$(_stack_secret)}

	mkdir -p "$dir"/{log,sock,www,tmp,keys,rabbit,pg,mail} || return 1
	if ((EUID == 0)); then
		# the postgres user must reach $dir/pg: traverse only, no listing
		chmod 0711 "$dir"
		chown postgres: "$dir/pg" 2>/dev/null || true
		chmod 0700 "$dir/pg"
		if id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$dir/pg" 2>/dev/null; then
			# name the first directory on the way that postgres cannot enter
			local up="" part blocked=$dir
			local -a parts
			IFS=/ read -r -a parts <<<"${dir#/}"
			for part in "${parts[@]}"; do
				up+=/$part
				if ! runuser -u postgres -- test -x "$up" 2>/dev/null; then
					blocked=$up
					break
				fi
			done
			_stack_fail "init: the postgres user cannot reach $dir/pg (blocked at $blocked); use a checkout outside it, or allow traversal: chmod o+x $blocked"
			return 1
		fi
	fi

	local r=$dir/rabbit
	{
		printf '# generated by stack_init: source this to talk to the stack in %s\n' "$dir"
		local v
		for v in STACK_DIR MAGENTA_SRC MAGENTA_BUILD MAGENTA_PREFIX HTTP_PORT HTTPS_PORT HTTPS_AUTH_PORT PGPORT \
			AMQP_PORT AMQP_MGMT_PORT ERL_EPMD_PORT RABBITMQ_DIST_PORT RABBITMQ_NODENAME \
			STACK_PG_FSYNC APACHE_PORT AMQPS_PORT AMQP_ADMIN_PASSWORD AMQP_RELAY_PASSWORD \
			AMQP_CONSUMER_PASSWORD SMTP_PORT; do
			printf 'export %s=%q\n' "$v" "${!v}"
		done
		printf 'export %s=%q\n' \
			BASE_URL "http://127.0.0.1:$HTTP_PORT" \
			HTTPS_URL "https://localhost:$HTTPS_PORT" \
			HTTPS_AUTH_URL "https://localhost:$HTTPS_AUTH_PORT" \
			STACK_CACERT "$dir/tls/ca.pem" \
			APACHE_URL "http://127.0.0.1:$APACHE_PORT" \
			AMQP_MGMT_URL "http://127.0.0.1:$AMQP_MGMT_PORT" \
			MAGENTA_CONFIG "$dir/magenta.conf" \
			PGHOST 127.0.0.1 PGUSER postgres PGDATABASE postgres \
			USERS_DB MagentaUsers AUTH_DB MagentaAuthentication \
			ERL_EPMD_ADDRESS 127.0.0.1 \
			RABBITMQ_NODE_IP_ADDRESS 127.0.0.1 \
			RABBITMQ_NODE_PORT "$AMQP_PORT" \
			RABBITMQ_CONF_ENV_FILE "$r/rabbitmq-env.conf" \
			RABBITMQ_CONFIG_FILE "$r/rabbitmq.conf" \
			RABBITMQ_ENABLED_PLUGINS_FILE "$r/enabled_plugins" \
			RABBITMQ_MNESIA_BASE "$r/mnesia" \
			RABBITMQ_LOG_BASE "$dir/log/rabbitmq" \
			RABBITMQ_PID_FILE "$r/node.pid" \
			RABBITMQ_HOME_DIR "$r"
	} >"$dir/env.tmp" && chmod 0600 "$dir/env.tmp" && mv "$dir/env.tmp" "$dir/env"

	# the programs' configuration (keys: magenta-registration --sample-config)
	cat >"$dir/magenta.conf" <<EOF
# magenta.conf for the private stack in $dir (generated by stack_init).
# Any key can be overridden by the environment as MAGENTA_<KEY>.
log_level = info
pg_host = 127.0.0.1
pg_port = $PGPORT
pg_user = postgres
users_db = MagentaUsers
auth_db = MagentaAuthentication
migrations_dir = $MAGENTA_PREFIX/share/magenta/sql
# password_blocklist: the default (ours, then john-data's password.lst when present)
amqp_host = 127.0.0.1
amqp_port = $AMQP_PORT
# magentactl's broker user; the relay and the consumer log in as their own
# (MAGENTA_AMQP_USER and MAGENTA_AMQP_PASSWORD, set by stack_daemon_start)
amqp_user = magenta-admin
amqp_password = $AMQP_ADMIN_PASSWORD
jwt_issuer = http://127.0.0.1:$HTTP_PORT
jwt_keys = $dir/keys/signing.pem
# the registration service verifies access tokens with these: the JWKS of
# jwt_keys, re-written by _stack_jwt_keys at every start
jwt_public_keys = $dir/keys/jwks.json
event_signing_key = $dir/keys/events-sign.pem
event_verify_keys = $dir/keys/events-sign.pub
event_seal_keys = $dir/keys/events-seal.pem
event_seal_public_key = $dir/keys/events-seal.pub
# the web page (web/, served at /) keeps its refresh token in this cookie;
# cookie-authenticated refresh and logout only from these page origins
refresh_cookie = on
refresh_cookie_origins = https://localhost:$HTTPS_PORT https://127.0.0.1:$HTTPS_PORT https://localhost:$HTTPS_AUTH_PORT https://127.0.0.1:$HTTPS_AUTH_PORT
# the TOTP second factor's key (docs/auth.md, "Second factor"), made by
# _stack_jwt_keys on first start
mfa_key_file = $dir/keys/mfa.key
# magenta-mailer: the private SMTP sink (stack_smtp_start); the links lead
# to the web page over HTTPS (its /confirm-email and /reset-password)
smtp_url = smtp://127.0.0.1:$SMTP_PORT
smtp_from = Magenta <no-reply@magenta.test>
mail_link_base = https://localhost:$HTTPS_PORT
EOF
	chmod 0600 "$dir/magenta.conf"
	_STACK_LOADED=
	export STACK_DIR
	_stack_load || return 1
	_stack_say "init: $dir (http $HTTP_PORT, https $HTTPS_PORT $HTTPS_AUTH_PORT, pg $PGPORT, amqp $AMQP_PORT, mgmt $AMQP_MGMT_PORT, epmd $ERL_EPMD_PORT, dist $RABBITMQ_DIST_PORT, apache $APACHE_PORT)"
}

# ---------------------------------------------------------------- build

# Out-of-tree configure (once, or from clean when the options change), make,
# make install.
stack_build() {
	_stack_load || return 1
	local log=$STACK_DIR/log/build.log t0 src=$MAGENTA_SRC
	t0=$(_stack_now)
	: >"$log"
	if [[ -f $src/config.status ]]; then
		_stack_fail "build: $src is configured in place; out-of-tree builds need it clean (make distclean there)"
		return 1
	fi
	if [[ ! -x $src/configure ]]; then
		(cd "$src" && autoreconf -fi) >>"$log" 2>&1 || {
			_stack_fail "build: autoreconf -fi in $src" "$log"
			return 1
		}
	fi
	local -a args=(--prefix="$MAGENTA_PREFIX")
	[[ ${MAGENTA_WERROR:-0} == 1 ]] && args+=(--enable-werror)
	# extra options for developers, e.g. MAGENTA_CONFIGURE_ARGS=--enable-sanitizers
	local -a extra=()
	read -r -a extra <<<"${MAGENTA_CONFIGURE_ARGS:-}"
	args+=("${extra[@]}")
	mkdir -p "$MAGENTA_BUILD"
	local stamp=$MAGENTA_BUILD/.stack-configure-args
	if [[ ! -f $MAGENTA_BUILD/Makefile || "$(cat "$stamp" 2>/dev/null)" != "${args[*]}" ]]; then
		# configure alone would keep the objects built with the old options
		# (make sees no source changed: a "sanitizer" run used unsanitized
		# programs): anything built before goes first
		if [[ -n $(ls -A "$MAGENTA_BUILD") ]]; then
			_stack_say "build: configure options changed (now: ${args[*]}): rebuilding from clean"
			rm -rf "$MAGENTA_BUILD" && mkdir -p "$MAGENTA_BUILD" || {
				_stack_fail "build: cannot empty $MAGENTA_BUILD"
				return 1
			}
		fi
		(cd "$MAGENTA_BUILD" && "$src/configure" "${args[@]}") >>"$log" 2>&1 || {
			_stack_fail "build: configure ${args[*]}" "$log"
			return 1
		}
		printf '%s\n' "${args[*]}" >"$stamp"
	fi
	make -C "$MAGENTA_BUILD" -j2 >>"$log" 2>&1 || {
		STACK_LOG_LINES=60 _stack_fail "build: make (see $log)" "$log"
		return 1
	}
	make -C "$MAGENTA_BUILD" install >>"$log" 2>&1 || {
		_stack_fail "build: make install" "$log"
		return 1
	}
	local warnings
	warnings=$(grep -c 'warning:' "$log" || true)
	local werror=""
	[[ ${MAGENTA_WERROR:-0} == 1 ]] && werror=", -Werror"
	_stack_say "build: installed into $MAGENTA_PREFIX in $(_stack_since "$t0") s ($warnings compiler warnings$werror)"
}

# ---------------------------------------------------------------- PostgreSQL

# Start the private PostgreSQL (initdb the first time); waits until it accepts.
stack_pg_start() {
	_stack_load || return 1
	local pid bindir data=$STACK_DIR/pg/data log=$STACK_DIR/log/postgresql.log t0
	if pid=$(_stack_pid_read "$STACK_DIR/postgres.pid"); then
		_stack_say "postgresql: already running (pid $pid, port $PGPORT)"
		return 0
	fi
	t0=$(_stack_now)
	bindir=$(_stack_pg_bindir) || {
		_stack_fail "postgresql: no server binaries (pg_config --bindir, /usr/lib/postgresql/*/bin): apt-get install postgresql"
		return 1
	}
	if [[ ! -f $data/PG_VERSION ]]; then
		local -a nosync=()
		[[ $STACK_PG_FSYNC == off ]] && nosync=(--no-sync)
		rm -rf "$data"
		(cd "$STACK_DIR/pg" && _stack_as_pg "$bindir/initdb" -D "$data" -U postgres -A trust \
			-E UTF8 --locale=C.UTF-8 "${nosync[@]}") >"$STACK_DIR/log/initdb.log" 2>&1 || {
			_stack_fail "postgresql: initdb" "$STACK_DIR/log/initdb.log"
			return 1
		}
		# Private loopback-only instance: trust is acceptable here only
		# because it listens on 127.0.0.1 and its socket directory lies in
		# a directory private to this stack.  Never copy this to a server.
		_stack_as_pg tee "$data/pg_hba.conf" >/dev/null <<-'EOF'
			# private test/dev instance of scripts/lib/stack.sh: loopback only, trust
			local all all              trust
			host  all all 127.0.0.1/32 trust
		EOF
		printf "\ninclude 'stack.conf'\n" | _stack_as_pg tee -a "$data/postgresql.conf" >/dev/null
	fi
	# unix socket paths are limited to 107 bytes: do without one if too long
	local sockdir=$STACK_DIR/pg
	((${#sockdir} + 20 > 107)) && sockdir=
	local -a fast=()
	[[ $STACK_PG_FSYNC == off ]] && fast=("fsync = off" "full_page_writes = off" "synchronous_commit = off")
	printf '%s\n' "# written by stack_pg_start at every start" \
		"listen_addresses = '127.0.0.1'" "port = $PGPORT" \
		"unix_socket_directories = '$sockdir'" "max_connections = 250" \
		"logging_collector = off" "log_line_prefix = '%m [%p] %q%u@%d '" \
		"log_min_duration_statement = -1" \
		"# no DETAIL lines: a unique violation's names the email (docs/auth.md, Logs)" \
		"log_error_verbosity = terse" "${fast[@]}" |
		_stack_as_pg tee "$data/stack.conf" >/dev/null
	if _stack_port_open "$PGPORT"; then
		_stack_fail "postgresql: port $PGPORT is taken by another program"
		return 1
	fi
	# A postmaster killed by stack_pg_kill may linger as a zombie when its
	# parent (a finished test's shell) is gone and nobody has reaped it yet:
	# kill(pid, 0) still succeeds, so PostgreSQL would refuse its stale lock
	# file.  A zombie holds no shared memory; the file can go.
	local lockpid="" lock
	for lock in "$data/postmaster.pid" "$STACK_DIR/pg/.s.PGSQL.$PGPORT.lock"; do
		[[ -f $lock ]] || continue
		read -r lockpid <"$lock" || true
		if [[ $lockpid =~ ^[0-9]+$ ]] && ! _stack_alive "$lockpid"; then
			rm -f "$lock"
		fi
	done
	local -a as=()
	((EUID == 0)) && as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
	_stack_spawn "$log" "$STACK_DIR/pg" "${as[@]}" "$bindir/postgres" -D "$data"
	pid=$STACK_LAST_PID
	_stack_pid_write "$STACK_DIR/postgres.pid" "$pid"
	local d
	d=$(_stack_deadline 60)
	until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -d postgres -U postgres; do
		if ! _stack_alive "$pid"; then
			_stack_fail "postgresql: server exited during start-up" "$log"
			return 1
		fi
		if _stack_past "$d"; then
			_stack_fail "postgresql: not accepting connections after 60 s" "$log"
			return 1
		fi
		sleep 0.1
	done
	_stack_say "postgresql: up on 127.0.0.1:$PGPORT (pid $pid, fsync $STACK_PG_FSYNC, $(_stack_since "$t0") s)"
}

# Stop PostgreSQL (fast shutdown), waiting until it is gone.
stack_pg_stop() {
	_stack_load || return 1
	local pid
	if ! pid=$(_stack_pid_read "$STACK_DIR/postgres.pid"); then
		rm -f "$STACK_DIR/postgres.pid"
		_stack_say "postgresql: not running"
		return 0
	fi
	# SIGINT is PostgreSQL's fast shutdown: roll back, disconnect, checkpoint
	_stack_terminate postgresql "$pid" 30 INT || return 1
	rm -f "$STACK_DIR/postgres.pid"
	_stack_say "postgresql: stopped (pid $pid)"
}

# Kill PostgreSQL with SIGKILL (a crash, for failure tests), backends included.
stack_pg_kill() {
	_stack_load || return 1
	local pid
	if ! pid=$(_stack_pid_read "$STACK_DIR/postgres.pid"); then
		_stack_say "postgresql: not running"
		return 0
	fi
	local -a kids
	mapfile -t kids < <(_stack_children "$pid")
	kill -s KILL "$pid" 2>/dev/null || true
	# the backends notice the postmaster's death by themselves; make sure
	if ! _stack_wait_gone 5 "$pid" "${kids[@]}"; then
		kill -s KILL "${kids[@]}" 2>/dev/null || true
		_stack_wait_gone 5 "$pid" "${kids[@]}" || {
			_stack_fail "postgresql: processes survived SIGKILL"
			return 1
		}
	fi
	# until reaped, the dead postmaster's pid still "exists" (see stack_pg_start)
	local d
	d=$(_stack_deadline 3)
	while [[ -e /proc/$pid ]] && ! _stack_past "$d"; do
		sleep 0.1
	done
	rm -f "$STACK_DIR/postgres.pid"
	_stack_say "postgresql: killed (pid $pid and ${#kids[@]} children)"
}

# Create the databases if missing and apply the migrations.
stack_migrate() {
	_stack_load || return 1
	local log=$STACK_DIR/log/migrate.log
	if ! "$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" migrate --create >"$log" 2>&1; then
		_stack_fail "migrate: magentactl migrate --create" "$log"
		return 1
	fi
	_stack_say "migrate: databases $USERS_DB and $AUTH_DB up to date (log $log)"
}

# ---------------------------------------------------------------- RabbitMQ

# rabbitmqctl against our node, with our HOME (so our .erlang.cookie).
stack_rabbitmqctl() {
	_stack_load || return 1
	HOME=$RABBITMQ_HOME_DIR LC_ALL=C.UTF-8 LANG=C.UTF-8 ERL_CRASH_DUMP="$STACK_DIR/log/erl_crash.dump" \
		RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
		"$STACK_RABBIT_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@"
}

# PID of the Erlang VM of our node (or of the cluster node whose
# _stack_rabbit_cnode set _STACK_RABBIT_PIDF), if it runs.
_stack_rabbit_node_pid() {
	local pid k exe
	pid=$(_stack_pid_read "${_STACK_RABBIT_PIDF:-$STACK_DIR/rabbit.pid}") || return 1
	# the launcher script (rabbitmq-server) runs the VM as its child
	for k in $(_stack_children "$pid"); do
		exe=$(readlink "/proc/$k/exe" 2>/dev/null) || continue
		if [[ ${exe##*/} == beam* ]]; then
			printf '%s\n' "$k"
			return 0
		fi
	done
	return 1
}

# Start the private epmd (foreground process of our own, so we know its PID).
_stack_epmd_start() {
	local pid
	if pid=$(_stack_pid_read "$STACK_DIR/epmd.pid"); then
		return 0
	fi
	if _stack_port_open "$ERL_EPMD_PORT"; then
		_stack_fail "rabbitmq: epmd port $ERL_EPMD_PORT is taken by another program"
		return 1
	fi
	_stack_spawn "$STACK_DIR/log/epmd.log" "$RABBITMQ_HOME_DIR" \
		epmd -address 127.0.0.1 -port "$ERL_EPMD_PORT"
	pid=$STACK_LAST_PID
	_stack_pid_write "$STACK_DIR/epmd.pid" "$pid"
	_stack_wait_port "$ERL_EPMD_PORT" 10 "$pid" || {
		_stack_fail "rabbitmq: epmd did not listen on $ERL_EPMD_PORT" "$STACK_DIR/log/epmd.log"
		return 1
	}
}

# A test CA and a server certificate for 127.0.0.1 (in its CN, which
# librabbitmq's host name check reads when there is no DNS name), made once
# per stack in $STACK_DIR/tls-amqp.
_stack_amqp_certs() {
	local d=$STACK_DIR/tls-amqp
	[[ -s $d/server.crt && -s $d/server.key && -s $d/ca.crt ]] && return 0
	mkdir -p "$d" || return 1
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-subj /CN=magenta-stack-amqp-ca -keyout "$d/ca.key" -out "$d/ca.crt" &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
				-keyout "$d/server.key" -out "$d/server.csr" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
				-CAcreateserial -days 3650 -out "$d/server.crt"
	) >"$STACK_DIR/log/tls-amqp.log" 2>&1 || {
		_stack_fail "rabbitmq: could not make the test certificates" "$STACK_DIR/log/tls-amqp.log"
		return 1
	}
	chmod 0644 "$d/ca.crt" "$d/server.crt"
}

# A random password (URL- and config-safe characters).
_stack_secret() {
	head -c 24 /dev/urandom | base64 | tr -d '/+=\n'
}

# The management API as magenta-admin (or as $STACK_MGMT_AS, USER:PASSWORD),
# quietly; 0 on a 2xx answer.
_stack_mgmt() {
	local method=$1 path=$2
	local -a args=(-sf -o /dev/null --max-time 10 -X "$method"
		-u "${STACK_MGMT_AS:-magenta-admin:$AMQP_ADMIN_PASSWORD}" -H 'Content-Type: application/json')
	(($# >= 3)) && args+=(--data-binary "$3")
	curl "${args[@]}" "$AMQP_MGMT_URL/api$path"
}

# Set one user's password, tags and permissions on vhost "/".
_stack_rabbit_user() {
	local user=$1 pw=$2 tags=$3 conf=$4 write=$5 read=$6
	_stack_mgmt PUT "/users/$user" "$(jq -cn --arg p "$pw" --arg t "$tags" '{password:$p, tags:$t}')" &&
		_stack_mgmt PUT "/permissions/%2F/$user" \
			"$(jq -cn --arg c "$conf" --arg w "$write" --arg r "$read" '{configure:$c, write:$w, read:$r}')"
}

# The broker's users, least privilege (docs/events.md, "Broker users"):
#   magenta-admin     administrator, everything (magentactl, the tests)
#   magenta-relay     may declare and publish to the exchange, nothing else
#   magenta-consumer  may declare its topology and read its queue
#   guest/guest       the seed's management UI: monitoring, no permissions
# On a new node guest is still RabbitMQ's default administrator: it makes
# magenta-admin.  The rest is set again on every start, so it always holds.
_stack_rabbit_users() {
	local e='magenta\.events' q='authentication\.user\.events' d
	d=$(_stack_deadline 30)
	until _stack_mgmt GET /whoami; do
		if STACK_MGMT_AS=guest:guest _stack_rabbit_user magenta-admin "$AMQP_ADMIN_PASSWORD" \
			administrator '.*' '.*' '.*'; then
			continue
		fi
		if _stack_past "$d"; then
			_stack_fail "rabbitmq: cannot make the broker's administrator (management API)"
			return 1
		fi
		sleep 0.2
	done
	_stack_rabbit_user magenta-relay "$AMQP_RELAY_PASSWORD" "" "^$e\$" "^$e\$" '^$' &&
		_stack_rabbit_user magenta-consumer "$AMQP_CONSUMER_PASSWORD" "" \
			"^($e|$e\\.dlx|$q|$q\\.dlq)\$" "^($e\\.dlx|$q|$q\\.dlq)\$" "^($e|$e\\.dlx|$q)\$" &&
		_stack_rabbit_user guest guest monitoring '^$' '^$' '^$' || {
		_stack_fail "rabbitmq: cannot set up the broker's users (management API)"
		return 1
	}
}

# Start the private RabbitMQ node with the management plugin; waits for it.
stack_rabbit_start() {
	_stack_load || return 1
	_stack_rabbit_node_up
}

# Start one node as the RABBITMQ_* variables, AMQP_PORT, AMQP_MGMT_PORT and
# AMQPS_PORT (empty: no TLS) describe it, recorded in _STACK_RABBIT_PIDF
# (default rabbit.pid); waits for it, then sets up the users unless
# _STACK_RABBIT_NO_USERS is set.  The single node, or a cluster node in a
# subshell after _stack_rabbit_cnode.
_stack_rabbit_node_up() {
	local r=$RABBITMQ_HOME_DIR pid t0 log=${_STACK_RABBIT_LOG:-$STACK_DIR/log/rabbitmq.out}
	local pidf=${_STACK_RABBIT_PIDF:-$STACK_DIR/rabbit.pid} what=${_STACK_RABBIT_WHAT:-rabbitmq}
	if pid=$(_stack_rabbit_node_pid); then
		_stack_say "$what: already running (node $RABBITMQ_NODENAME, pid $pid, amqp $AMQP_PORT)"
		return 0
	fi
	t0=$(_stack_now)
	local p
	for p in "$AMQP_PORT" "$AMQP_MGMT_PORT" "$RABBITMQ_DIST_PORT" ${AMQPS_PORT:+"$AMQPS_PORT"}; do
		if _stack_port_open "$p"; then
			_stack_fail "$what: port $p is taken by another program"
			return 1
		fi
	done
	mkdir -p "$r/mnesia" "$RABBITMQ_LOG_BASE"
	: >"$RABBITMQ_CONF_ENV_FILE" # not /etc/rabbitmq/rabbitmq-env.conf
	printf '[rabbitmq_management].\n' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
	cat >"$RABBITMQ_CONFIG_FILE" <<-EOF
		# written by _stack_rabbit_node_up
		listeners.tcp.default = 127.0.0.1:$AMQP_PORT
		management.tcp.ip = 127.0.0.1
		management.tcp.port = $AMQP_MGMT_PORT
		# guest/guest, from loopback only (RabbitMQ's default, stated)
		loopback_users.guest = true
		log.console = false
		log.file.level = info
	EOF
	# AMQP over TLS too, with a certificate from the stack's own test CA
	# (tls-amqp/ca.crt) for 127.0.0.1 (stacks made before AMQPS_PORT: none)
	if [[ -n ${AMQPS_PORT:-} ]]; then
		_stack_amqp_certs || return 1
		cat >>"$RABBITMQ_CONFIG_FILE" <<-EOF
			listeners.ssl.default = 127.0.0.1:$AMQPS_PORT
			ssl_options.cacertfile = $STACK_DIR/tls-amqp/ca.crt
			ssl_options.certfile = $STACK_DIR/tls-amqp/server.crt
			ssl_options.keyfile = $STACK_DIR/tls-amqp/server.key
			# a client certificate is optional, but must come from the CA
			ssl_options.verify = verify_peer
			ssl_options.fail_if_no_peer_cert = false
		EOF
	fi
	# one cookie for the stack: cluster nodes copy the single node's
	local cookie=$STACK_DIR/rabbit/.erlang.cookie
	if [[ ! -s $cookie ]]; then
		(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$cookie")
	fi
	chmod 0400 "$cookie"
	if [[ ! -s $r/.erlang.cookie ]]; then
		cp "$cookie" "$r/.erlang.cookie" && chmod 0400 "$r/.erlang.cookie" || return 1
	fi
	_stack_epmd_start || return 1
	_stack_spawn "$log" "$r" env HOME="$r" LC_ALL=C.UTF-8 LANG=C.UTF-8 \
		ERL_CRASH_DUMP="$STACK_DIR/log/erl_crash.dump" \
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
		"$STACK_RABBIT_BIN/rabbitmq-server"
	pid=$STACK_LAST_PID
	_stack_pid_write "$pidf" "$pid"
	local rc=0
	_stack_wait_port "$AMQP_PORT" 90 "$pid" || rc=$?
	if ((rc)); then
		local why="did not open the AMQP port $AMQP_PORT within 90 s"
		((rc == 2)) && why="exited during start-up"
		_stack_fail "$what: node $why (logs in $RABBITMQ_LOG_BASE)" "$log"
		tail -n 20 "$RABBITMQ_LOG_BASE/$RABBITMQ_NODENAME.log" 2>/dev/null | sed 's/^/  | /' >&2
		return 1
	fi
	local out
	if ! out=$(stack_rabbitmqctl await_startup --timeout 60 2>&1); then
		printf '%s\n' "$out" >>"$log"
		_stack_fail "$what: rabbitmqctl await_startup" "$log"
		return 1
	fi
	_stack_wait_port "$AMQP_MGMT_PORT" 30 "$pid" || {
		_stack_fail "$what: management plugin not listening on $AMQP_MGMT_PORT" \
			"$RABBITMQ_LOG_BASE/$RABBITMQ_NODENAME.log"
		return 1
	}
	[[ -n ${_STACK_RABBIT_NO_USERS:-} ]] || _stack_rabbit_users || return 1
	_stack_say "$what: up, node $RABBITMQ_NODENAME, amqp 127.0.0.1:$AMQP_PORT, management http://127.0.0.1:$AMQP_MGMT_PORT ($(_stack_since "$t0") s)"
}

# Stop the node (graceful: SIGTERM to the VM) and our epmd.
stack_rabbit_stop() {
	_stack_load || return 1
	local pid rc=0 what="" _STACK_RABBIT_STOPPED=""
	_stack_rabbit_node_down || rc=1
	[[ -z $_STACK_RABBIT_STOPPED ]] || what="node (pid $_STACK_RABBIT_STOPPED) "
	if pid=$(_stack_pid_read "$STACK_DIR/epmd.pid"); then
		_stack_terminate epmd "$pid" 10 TERM || rc=1
		what+="epmd (pid $pid)"
	fi
	rm -f "$STACK_DIR/epmd.pid"
	_stack_say "rabbitmq: ${what:+stopped }${what:-not running}"
	return "$rc"
}

# Kill the node with SIGKILL (a crash, for failure tests); epmd stays.
stack_rabbit_kill() {
	_stack_load || return 1
	_stack_rabbit_node_kill
}

# SIGKILL the node of _STACK_RABBIT_PIDF (default: the single node).
_stack_rabbit_node_kill() {
	local pid npid pidf=${_STACK_RABBIT_PIDF:-$STACK_DIR/rabbit.pid} what=${_STACK_RABBIT_WHAT:-rabbitmq}
	if ! pid=$(_stack_pid_read "$pidf"); then
		_stack_say "$what: not running"
		return 0
	fi
	local -a kids=()
	if npid=$(_stack_rabbit_node_pid); then
		mapfile -t kids < <(_stack_children "$npid")
		kill -s KILL "$npid" 2>/dev/null || true
	fi
	# the launcher script exits once its VM is gone; its helpers too
	if ! _stack_wait_gone 10 "$pid" ${npid:+"$npid"} "${kids[@]}"; then
		kill -s KILL "$pid" "${kids[@]}" 2>/dev/null || true
		_stack_wait_gone 5 "$pid" "${kids[@]}" || _stack_fail "$what: processes survived SIGKILL" || true
	fi
	rm -f "$pidf"
	_stack_say "$what: killed (node pid ${npid:-?})"
}

# SIGTERM the node of _STACK_RABBIT_PIDF (default: the single node) and
# its launcher (sets _STACK_RABBIT_STOPPED to the launcher's pid); 1 when
# one of them survived SIGKILL.
_stack_rabbit_node_down() {
	local pid npid rc=0 pidf=${_STACK_RABBIT_PIDF:-$STACK_DIR/rabbit.pid}
	if pid=$(_stack_pid_read "$pidf"); then
		if npid=$(_stack_rabbit_node_pid); then
			_stack_terminate "${_STACK_RABBIT_WHAT:-rabbitmq} node" "$npid" 60 TERM || rc=1
		fi
		_stack_terminate "${_STACK_RABBIT_WHAT:-rabbitmq} launcher" "$pid" 10 TERM || rc=1
		_STACK_RABBIT_STOPPED=$pid
	fi
	rm -f "$pidf"
	return "$rc"
}

# ---------------------------------------------------------------- RabbitMQ cluster

# A cluster of N more nodes beside the single one, for failover tests and
# bench/chaos.sh --cluster (docs/events.md, "Production layout"): nodes
# ${RABBITMQ_NODENAME%@*}-cI@localhost, I = 1..N, sharing the stack's
# epmd and Erlang cookie, each with its own AMQP, management and
# distribution ports, home $STACK_DIR/rabbit-cI (data in mnesia/ there),
# logs $STACK_DIR/log/rabbitmq-cI{,.out}, pid file $STACK_DIR/rabbit-cI.pid.
# stack_rabbit_cluster_start writes to $STACK_DIR/env (and exports):
#   STACK_RABBIT_CLUSTER_N   N
#   RABBITMQ_CLUSTER_NODES   "name1 name2 ..."
#   AMQP_PORTS               "p1 p2 ..."        AMQP ports, node order
#   AMQP_HOSTS               "127.0.0.1:p1,..." ready for amqp_hosts
#   AMQP_MGMT_PORTS          "m1 m2 ..."        management HTTP ports
#   RABBITMQ_DIST_PORTS      "d1 d2 ..."        Erlang distribution ports

# Point the RABBITMQ_* variables (and AMQP_PORT, AMQP_MGMT_PORT,
# AMQP_MGMT_URL) at cluster node I: for a subshell that then calls
# rabbitmqctl or the node helpers.
_stack_rabbit_cnode() {
	local i=$1 h
	local -a names amqp mgmt dist
	read -r -a names <<<"${RABBITMQ_CLUSTER_NODES:-}"
	read -r -a amqp <<<"${AMQP_PORTS:-}"
	read -r -a mgmt <<<"${AMQP_MGMT_PORTS:-}"
	read -r -a dist <<<"${RABBITMQ_DIST_PORTS:-}"
	if ! [[ $i =~ ^[0-9]+$ ]] || ((i < 1 || i > ${#names[@]})); then
		_stack_fail "rabbitmq cluster: no node '$i' (nodes 1..${#names[@]}; stack_rabbit_cluster_start N first)"
		return 1
	fi
	h=$STACK_DIR/rabbit-c$i
	RABBITMQ_NODENAME=${names[i - 1]}
	AMQP_PORT=${amqp[i - 1]}
	AMQP_MGMT_PORT=${mgmt[i - 1]}
	AMQP_MGMT_URL=http://127.0.0.1:$AMQP_MGMT_PORT
	AMQPS_PORT=
	RABBITMQ_DIST_PORT=${dist[i - 1]}
	RABBITMQ_NODE_PORT=$AMQP_PORT
	RABBITMQ_HOME_DIR=$h
	RABBITMQ_CONF_ENV_FILE=$h/rabbitmq-env.conf
	RABBITMQ_CONFIG_FILE=$h/rabbitmq.conf
	RABBITMQ_ENABLED_PLUGINS_FILE=$h/enabled_plugins
	RABBITMQ_MNESIA_BASE=$h/mnesia
	RABBITMQ_LOG_BASE=$STACK_DIR/log/rabbitmq-c$i
	RABBITMQ_PID_FILE=$h/node.pid
	export RABBITMQ_NODENAME RABBITMQ_DIST_PORT RABBITMQ_NODE_PORT RABBITMQ_HOME_DIR \
		RABBITMQ_CONF_ENV_FILE RABBITMQ_CONFIG_FILE RABBITMQ_ENABLED_PLUGINS_FILE \
		RABBITMQ_MNESIA_BASE RABBITMQ_LOG_BASE RABBITMQ_PID_FILE
	_STACK_RABBIT_PIDF=$STACK_DIR/rabbit-c$i.pid
	_STACK_RABBIT_LOG=$STACK_DIR/log/rabbitmq-c$i.out
	_STACK_RABBIT_WHAT="rabbitmq node $i"
	mkdir -p "$h"
}

# stack_rabbit_cluster_start N: start N nodes (default 3) joined into one
# cluster, the broker's users set up on it; waits until every node runs.
# A cluster already running is left as it is (its size must be N).
stack_rabbit_cluster_start() {
	_stack_load || return 1
	local n=${1:-3} i t0 rc=0
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 9)) || {
		_stack_fail "usage: stack_rabbit_cluster_start N (1..9)"
		return 1
	}
	t0=$(_stack_now)
	if [[ ${STACK_RABBIT_CLUSTER_N:-} != "$n" ]] || ! ls "$STACK_DIR"/rabbit-c[0-9]*.pid >/dev/null 2>&1; then
		stack_rabbit_cluster_stop >/dev/null || return 1
		rm -rf "$STACK_DIR"/rabbit-c[0-9]* "$STACK_DIR"/log/rabbitmq-c[0-9]*
		local -a p names=() amqp=() mgmt=() dist=()
		read -r -a p <<<"$(_stack_free_ports $((3 * n)))"
		for ((i = 1; i <= n; i++)); do
			names+=("${RABBITMQ_NODENAME%@*}-c$i@localhost")
			amqp+=("${p[3 * i - 3]}")
			mgmt+=("${p[3 * i - 2]}")
			dist+=("${p[3 * i - 1]}")
		done
		STACK_RABBIT_CLUSTER_N=$n
		RABBITMQ_CLUSTER_NODES="${names[*]}"
		AMQP_PORTS="${amqp[*]}"
		AMQP_MGMT_PORTS="${mgmt[*]}"
		RABBITMQ_DIST_PORTS="${dist[*]}"
		AMQP_HOSTS=$(printf '127.0.0.1:%s,' "${amqp[@]}")
		AMQP_HOSTS=${AMQP_HOSTS%,}
		export STACK_RABBIT_CLUSTER_N RABBITMQ_CLUSTER_NODES AMQP_PORTS AMQP_MGMT_PORTS \
			RABBITMQ_DIST_PORTS AMQP_HOSTS
		_stack_rabbit_cluster_env_write || return 1
	fi
	_stack_epmd_start || return 1
	# start them all at once (a node's start is mostly waiting), then join
	# nodes 2..N to node 1; the users are made on node 1 and shared
	local -a jobs=()
	for ((i = 1; i <= n; i++)); do
		(
			_stack_rabbit_cnode "$i" || exit 1
			((i == 1)) || _STACK_RABBIT_NO_USERS=1
			_stack_rabbit_node_up
		) &
		jobs+=($!)
	done
	for i in "${jobs[@]}"; do
		wait "$i" || rc=1
	done
	((rc == 0)) || return 1
	local first=${RABBITMQ_CLUSTER_NODES%% *}
	for ((i = 2; i <= n; i++)); do
		(
			_stack_rabbit_cnode "$i" || exit 1
			# already a member (a restart of a started cluster): nothing to do
			if stack_rabbitmqctl cluster_status --formatter json 2>/dev/null |
				jq -e --arg f "$first" '.disk_nodes | index($f)' >/dev/null; then
				exit 0
			fi
			log=$STACK_DIR/log/rabbitmq-c$i.out
			{
				stack_rabbitmqctl stop_app &&
					stack_rabbitmqctl join_cluster "$first" &&
					stack_rabbitmqctl start_app &&
					stack_rabbitmqctl await_startup --timeout 60
			} >>"$log" 2>&1 || {
				_stack_fail "rabbitmq node $i: could not join $first" "$log"
				exit 1
			}
		) || return 1
	done
	stack_rabbit_cluster_wait "$n" 60 || return 1
	_stack_say "rabbitmq cluster: up, $n nodes, amqp_hosts $AMQP_HOSTS ($(_stack_since "$t0") s)"
}

# Record the cluster's variables in $STACK_DIR/env (replacing earlier ones).
_stack_rabbit_cluster_env_write() {
	local v f=$STACK_DIR/env
	{
		grep -v -E '^export (STACK_RABBIT_CLUSTER_N|RABBITMQ_CLUSTER_NODES|AMQP_PORTS|AMQP_HOSTS|AMQP_MGMT_PORTS|RABBITMQ_DIST_PORTS)=' "$f"
		for v in STACK_RABBIT_CLUSTER_N RABBITMQ_CLUSTER_NODES AMQP_PORTS AMQP_HOSTS \
			AMQP_MGMT_PORTS RABBITMQ_DIST_PORTS; do
			printf 'export %s=%q\n' "$v" "${!v}"
		done
	} >"$f.tmp" && chmod 0600 "$f.tmp" && mv "$f.tmp" "$f"
}

# stack_rabbit_cluster_mgmt PATH: GET the management API's PATH (after
# /api) from the first cluster node that answers; prints the JSON.
stack_rabbit_cluster_mgmt() {
	_stack_load || return 1
	local m
	for m in ${AMQP_MGMT_PORTS:-}; do
		curl -sf --max-time 5 -u "magenta-admin:$AMQP_ADMIN_PASSWORD" \
			"http://127.0.0.1:$m/api$1" && return 0
	done
	return 1
}

# stack_rabbit_cluster_running: the number of cluster nodes that run, as
# the first node that answers sees them.
stack_rabbit_cluster_running() {
	stack_rabbit_cluster_mgmt /nodes | jq '[.[] | select(.running)] | length'
}

# stack_rabbit_cluster_wait N SECONDS: wait until N nodes run.
stack_rabbit_cluster_wait() {
	local want=$1 d
	d=$(_stack_deadline "${2:-60}")
	until [[ $(stack_rabbit_cluster_running 2>/dev/null) == "$want" ]]; do
		if _stack_past "$d"; then
			_stack_fail "rabbitmq cluster: $(stack_rabbit_cluster_running 2>/dev/null || echo no) nodes running after ${2:-60} s, not $want"
			return 1
		fi
		sleep 0.5
	done
}

# stack_rabbit_cluster_leader QUEUE: the index (1..N) of the node that
# leads the quorum queue QUEUE (vhost /); fails when it has no leader.
stack_rabbit_cluster_leader() {
	_stack_load || return 1
	local q leader i=0 name
	q=$(jq -rn --arg q "${1:?usage: stack_rabbit_cluster_leader QUEUE}" '$q|@uri')
	leader=$(stack_rabbit_cluster_mgmt "/queues/%2F/$q" | jq -r '.leader // empty') || return 1
	for name in ${RABBITMQ_CLUSTER_NODES:-}; do
		i=$((i + 1))
		if [[ $name == "$leader" ]]; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

# stack_rabbit_node_kill I: SIGKILL cluster node I (a crash).
stack_rabbit_node_kill() {
	_stack_load || return 1
	(_stack_rabbit_cnode "${1:?usage: stack_rabbit_node_kill I}" && _stack_rabbit_node_kill)
}

# stack_rabbit_node_start I: start cluster node I again; it rejoins the
# cluster from its data directory.  Waits until it runs.
stack_rabbit_node_start() {
	_stack_load || return 1
	(
		_stack_rabbit_cnode "${1:?usage: stack_rabbit_node_start I}" || exit 1
		_STACK_RABBIT_NO_USERS=1 # the cluster has them
		_stack_epmd_start && _stack_rabbit_node_up
	)
}

# stack_rabbit_node_stop I: stop cluster node I gracefully.
stack_rabbit_node_stop() {
	_stack_load || return 1
	(_stack_rabbit_cnode "${1:?usage: stack_rabbit_node_stop I}" && _stack_rabbit_node_down)
}

# stack_rabbit_cluster_stop: stop every cluster node (by its pid file).
stack_rabbit_cluster_stop() {
	_stack_load || return 1
	local f i j rc=0 stopped=0
	local -a jobs=()
	# all at once: each node's stop is mostly waiting
	for f in "$STACK_DIR"/rabbit-c[0-9]*.pid; do
		[[ -e $f ]] || continue
		i=${f##*/rabbit-c}
		i=${i%.pid}
		if [[ -n ${RABBITMQ_CLUSTER_NODES:-} ]]; then
			(_stack_rabbit_cnode "$i" && _stack_rabbit_node_down) &
		else
			# no names known (env lost): the pid file is enough
			(_STACK_RABBIT_PIDF=$f _STACK_RABBIT_WHAT="rabbitmq node $i" _stack_rabbit_node_down) &
		fi
		jobs+=($!)
		stopped=$((stopped + 1))
	done
	for j in "${jobs[@]}"; do
		wait "$j" || rc=1
	done
	((stopped == 0)) || _stack_say "rabbitmq cluster: stopped $stopped nodes"
	return "$rc"
}

# ---------------------------------------------------------------- lighttpd

# The stack's HTTPS certificates, made once in $STACK_DIR/tls (run/tls/ for
# scripts/run): a test CA (ca.pem, which curl --cacert and browsers are
# given) and a server certificate for 127.0.0.1 and localhost signed by it
# (server.pem, server.key).  A certificate about to expire is made again.
stack_tls_init() {
	_stack_load || return 1
	local d=$STACK_DIR/tls
	if [[ -s $d/ca.pem && -s $d/server.pem && -s $d/server.key ]] &&
		openssl x509 -checkend 86400 -noout -in "$d/server.pem" >/dev/null 2>&1; then
		return 0
	fi
	mkdir -p "$d" || return 1
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
			-subj /CN=magenta-stack-https-ca -keyout "$d/ca.key" -out "$d/ca.pem" &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
				-keyout "$d/server.key" -out "$d/server.csr" &&
			printf '%s\n' 'subjectAltName = DNS:localhost, IP:127.0.0.1' \
				'basicConstraints = CA:FALSE' 'keyUsage = digitalSignature' \
				'extendedKeyUsage = serverAuth' >"$d/server.ext" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
				-CAcreateserial -days 825 -extfile "$d/server.ext" -out "$d/server.pem"
	) >"$STACK_DIR/log/tls.log" 2>&1 || {
		_stack_fail "tls: could not make the HTTPS certificates" "$STACK_DIR/log/tls.log"
		return 1
	}
	chmod 0644 "$d/ca.pem" "$d/server.pem"
	_stack_say "tls: made a test CA and a certificate for localhost and 127.0.0.1 in $d"
}

# Write $STACK_DIR/lighttpd.conf, which includes the installed routes,
# errors and limits files, as lighttpd.conf.sample does
# (STACK_METRICS_ALLOW set: its var.magenta_metrics_allow).  It listens on
# 127.0.0.2 too, on the same port: a second client address for the
# per-address limits (tests/http/45-connections.bats).  HTTPS (the
# stack's test certificate) on $HTTPS_PORT and $HTTPS_AUTH_PORT, the seed's
# registration and authentication ports: each serves every route, so the
# web page reaches both APIs from one origin.  No HSTS: this is a private
# test stack on localhost (production: lighttpd.conf.sample).
_stack_lighttpd_conf() {
	local tls=$STACK_DIR/tls
	cat >"$STACK_DIR/lighttpd.conf" <<EOF
# lighttpd for the private stack in $STACK_DIR (written by stack_lighttpd_start).
server.modules = ( "mod_accesslog", "mod_openssl" )
server.bind = "127.0.0.1"
server.port = $HTTP_PORT
\$SERVER["socket"] == "127.0.0.2:$HTTP_PORT" { }
\$SERVER["socket"] == "127.0.0.1:$HTTPS_PORT" {
	ssl.engine = "enable"
	ssl.pemfile = "$tls/server.pem"
	ssl.privkey = "$tls/server.key"
}
\$SERVER["socket"] == "127.0.0.1:$HTTPS_AUTH_PORT" {
	ssl.engine = "enable"
	ssl.pemfile = "$tls/server.pem"
	ssl.privkey = "$tls/server.key"
}
server.document-root = "$STACK_DIR/www"
# the FastCGI programs' stderr (their logs) goes to the same file
server.errorlog = "$STACK_DIR/log/lighttpd-error.log"
server.breakagelog = "$STACK_DIR/log/lighttpd-error.log"
server.upload-dirs = ( "$STACK_DIR/tmp" )
accesslog.filename = "$STACK_DIR/log/lighttpd-access.log"

var.magenta_sbindir = "$MAGENTA_PREFIX/sbin"
var.magenta_config  = "$MAGENTA_CONFIG"
var.magenta_rundir  = "$STACK_DIR/sock"
var.magenta_procs   = ${STACK_FCGI_PROCS:-4}
${STACK_METRICS_ALLOW:+var.magenta_metrics_allow = \"$STACK_METRICS_ALLOW\"}
include "$MAGENTA_PREFIX/etc/magenta/lighttpd-magenta.conf"
var.magenta_datadir = "$MAGENTA_PREFIX/share/magenta"
include "$MAGENTA_PREFIX/etc/magenta/lighttpd-magenta-errors.conf"
include "$MAGENTA_PREFIX/etc/magenta/lighttpd-magenta-limits.conf"
# the web page at /
var.magenta_webdir = "$MAGENTA_PREFIX/share/magenta/web"
include "$MAGENTA_PREFIX/etc/magenta/lighttpd-magenta-web.conf"
EOF
}

# magenta-auth's access token signing key (jwt_keys), made on first start,
# and its public half for the registration service (jwt_public_keys, the
# JWKS), written again at every start: jwt_keys may have changed (a
# rotation), and the registration service must verify what auth signs.
# $1 names the caller in messages.
_stack_jwt_keys() {
	local ctl=$MAGENTA_PREFIX/bin/magentactl
	if [[ ! -f $STACK_DIR/keys/signing.pem ]]; then
		"$ctl" -f "$MAGENTA_CONFIG" keygen \
			--out "$STACK_DIR/keys/signing.pem" >"$STACK_DIR/log/keygen.log" 2>&1 || {
			_stack_fail "$1: magentactl keygen (the signing key)" "$STACK_DIR/log/keygen.log"
			return 1
		}
	fi
	if [[ ! -f $STACK_DIR/keys/mfa.key ]]; then
		(umask 077 && openssl rand -hex 32 >"$STACK_DIR/keys/mfa.key") || {
			_stack_fail "$1: openssl rand (mfa_key_file)"
			return 1
		}
	fi
	"$ctl" -f "$MAGENTA_CONFIG" keygen --public --force >"$STACK_DIR/log/keygen-public.log" 2>&1 || {
		_stack_fail "$1: magentactl keygen --public (jwt_public_keys)" "$STACK_DIR/log/keygen-public.log"
		return 1
	}
}

# Start lighttpd (and so the FastCGI programs); waits until health answers.
stack_lighttpd_start() {
	_stack_load || return 1
	local pid t0 log=$STACK_DIR/log/lighttpd-error.log
	if pid=$(_stack_pid_read "$STACK_DIR/lighttpd.pid"); then
		_stack_say "lighttpd: already running (pid $pid, $BASE_URL)"
		return 0
	fi
	t0=$(_stack_now)
	[[ -f $MAGENTA_PREFIX/etc/magenta/lighttpd-magenta.conf ]] || {
		_stack_fail "lighttpd: $MAGENTA_PREFIX/etc/magenta/lighttpd-magenta.conf missing (stack_build first)"
		return 1
	}
	if _stack_port_open "$HTTP_PORT"; then
		_stack_fail "lighttpd: port $HTTP_PORT is taken by another program"
		return 1
	fi
	if [[ -z ${HTTPS_PORT:-} || -z ${HTTPS_AUTH_PORT:-} ]]; then
		# a stack made before the HTTPS ports: choose them now
		local -a hp
		read -r -a hp <<<"$(_stack_free_ports 2)"
		HTTPS_PORT=${hp[0]} HTTPS_AUTH_PORT=${hp[1]}
		printf 'export %s=%q\n' HTTPS_PORT "$HTTPS_PORT" HTTPS_AUTH_PORT "$HTTPS_AUTH_PORT" \
			HTTPS_URL "https://localhost:$HTTPS_PORT" HTTPS_AUTH_URL "https://localhost:$HTTPS_AUTH_PORT" \
			STACK_CACERT "$STACK_DIR/tls/ca.pem" >>"$STACK_DIR/env"
		export HTTPS_PORT HTTPS_AUTH_PORT HTTPS_URL=https://localhost:$HTTPS_PORT \
			HTTPS_AUTH_URL=https://localhost:$HTTPS_AUTH_PORT STACK_CACERT=$STACK_DIR/tls/ca.pem
	fi
	local p
	for p in "$HTTPS_PORT" "$HTTPS_AUTH_PORT"; do
		if _stack_port_open "$p"; then
			_stack_fail "lighttpd: port $p (HTTPS) is taken by another program"
			return 1
		fi
	done
	stack_tls_init || return 1
	_stack_jwt_keys lighttpd || return 1
	_stack_lighttpd_conf
	lighttpd -tt -f "$STACK_DIR/lighttpd.conf" >"$STACK_DIR/log/lighttpd-check.log" 2>&1 || {
		_stack_fail "lighttpd: configuration refused (lighttpd -tt)" "$STACK_DIR/log/lighttpd-check.log"
		return 1
	}
	_stack_spawn "$log" "$STACK_DIR" lighttpd -D -f "$STACK_DIR/lighttpd.conf"
	pid=$STACK_LAST_PID
	_stack_pid_write "$STACK_DIR/lighttpd.pid" "$pid"
	local d
	d=$(_stack_deadline 30)
	until curl -fsS -o /dev/null --max-time 2 "$BASE_URL/api/registration/health" 2>/dev/null; do
		if ! _stack_alive "$pid"; then
			_stack_fail "lighttpd: exited during start-up" "$log"
			return 1
		fi
		if _stack_past "$d"; then
			_stack_fail "lighttpd: GET /api/registration/health not 200 after 30 s" "$log"
			return 1
		fi
		sleep 0.1
	done
	_stack_say "lighttpd: up on $BASE_URL, $HTTPS_URL and $HTTPS_AUTH_URL (pid $pid, $(_stack_since "$t0") s)"
}

# Stop lighttpd and make sure no FastCGI program it started is left.
stack_lighttpd_stop() {
	_stack_load || return 1
	local pid rc=0
	local -a kids=()
	if pid=$(_stack_pid_read "$STACK_DIR/lighttpd.pid"); then
		mapfile -t kids < <(_stack_children "$pid")
		_stack_terminate lighttpd "$pid" 10 TERM || rc=1
	fi
	rm -f "$STACK_DIR/lighttpd.pid"
	# lighttpd signals its FastCGI children; any that outlive it (or were
	# orphaned by a crash) are found by executable under our prefix
	local -a left=()
	local k
	if ((${#kids[@]})); then
		_stack_wait_gone 2 "${kids[@]}" || true
	fi
	for k in "${kids[@]}"; do
		_stack_alive "$k" && left+=("$k")
	done
	local -a daemons=("${STACK_DAEMONS[@]/#/magenta-}" magenta-mailer) more
	mapfile -t more < <(_stack_pids_under "$MAGENTA_PREFIX/sbin" "${daemons[@]}")
	# programs that spawn-fcgi started (and their workers) are not lighttpd's
	local -a sf=()
	mapfile -t sf < <(_stack_spawnfcgi_pids)
	for k in "${more[@]}"; do
		_stack_stat "$k" || continue
		[[ " ${sf[*]} " == *" $k "* || " ${sf[*]} " == *" ${_ST[1]} "* ]] && continue
		[[ " ${left[*]} " == *" $k "* ]] || left+=("$k")
	done
	if ((${#left[@]})); then
		kill -s TERM "${left[@]}" 2>/dev/null || true
		_stack_wait_gone 5 "${left[@]}" || {
			kill -s KILL "${left[@]}" 2>/dev/null || true
			_stack_wait_gone 5 "${left[@]}" || rc=1
		}
	fi
	if [[ -n ${pid:-} ]]; then
		_stack_say "lighttpd: stopped (pid $pid${left[*]:+, ${#left[@]} leftover FastCGI processes ended})"
	else
		_stack_say "lighttpd: not running${left[*]:+ (${#left[@]} leftover FastCGI processes ended)}"
	fi
	return "$rc"
}

# Stop and start lighttpd (new FastCGI processes, new environment).
stack_lighttpd_restart() {
	stack_lighttpd_stop && stack_lighttpd_start
}

# ---------------------------------------------------------------- spawn-fcgi + Apache

# The programs spawn-fcgi runs, each on its own socket in $STACK_DIR/sock-apache.
STACK_SPAWNFCGI=(registration auth)

# PIDs of the live programs that stack_spawnfcgi_start recorded.
_stack_spawnfcgi_pids() {
	local n
	[[ -n ${STACK_DIR:-} ]] || return 0
	for n in "${STACK_SPAWNFCGI[@]}"; do
		_stack_pid_read "$STACK_DIR/spawnfcgi-$n.pid" 2>/dev/null || true
	done
}

# Start magenta-registration and magenta-auth under spawn-fcgi, each with
# ${STACK_FCGI_PROCS:-2} workers (-p) on a unix socket in $STACK_DIR/sock-apache:
# mode 0660, group www-data when root (Apache's children run as www-data),
# else 0600.  spawn-fcgi -n binds the socket and execs the program in its own
# process, so the PID recorded is the program's supervisor; waits until each
# program has read its configuration and accepts on the socket.
stack_spawnfcgi_start() {
	_stack_load || return 1
	local n bin sock log pid t0 rc=0
	local dir=$STACK_DIR/sock-apache
	local -a own=(-M 0600)
	if ((EUID == 0)); then
		id www-data >/dev/null 2>&1 || {
			_stack_fail "spawn-fcgi: no user www-data (Apache's children run as it)"
			return 1
		}
		own=(-M 0660 -G www-data)
	fi
	mkdir -p "$dir" || return 1
	chmod 0755 "$dir"
	_stack_jwt_keys spawn-fcgi || return 1
	for n in "${STACK_SPAWNFCGI[@]}"; do
		bin=$MAGENTA_PREFIX/sbin/magenta-$n
		sock=$dir/$n.sock
		log=$STACK_DIR/log/spawnfcgi-$n.log
		if pid=$(_stack_pid_read "$STACK_DIR/spawnfcgi-$n.pid"); then
			_stack_say "spawn-fcgi: magenta-$n already running (pid $pid, $sock)"
			continue
		fi
		[[ -x $bin ]] || {
			_stack_fail "spawn-fcgi: $bin missing (stack_build first)"
			rc=1
			continue
		}
		t0=$(_stack_now)
		# a socket left by a program that was killed: spawn-fcgi would
		# replace it anyway, but a fresh one tells us when it is bound
		rm -f "$sock"
		_stack_spawn "$log" "$STACK_DIR" spawn-fcgi -n -s "$sock" "${own[@]}" -- \
			"$bin" -f "$MAGENTA_CONFIG" -p "${STACK_FCGI_PROCS:-2}"
		pid=$STACK_LAST_PID
		_stack_pid_write "$STACK_DIR/spawnfcgi-$n.pid" "$pid"
		# ready: the socket is bound and the program logged its start
		# (configuration read, database set up) under this very pid
		local d
		d=$(_stack_deadline 20)
		until [[ -S $sock ]] && grep -q "event=start pid=$pid " "$log" 2>/dev/null; do
			if ! _stack_alive "$pid"; then
				rm -f "$STACK_DIR/spawnfcgi-$n.pid"
				_stack_fail "spawn-fcgi: magenta-$n exited during start-up" "$log"
				rc=1
				continue 2
			fi
			if _stack_past "$d"; then
				_stack_fail "spawn-fcgi: magenta-$n not started after 20 s" "$log"
				rc=1
				continue 2
			fi
			sleep 0.1
		done
		_stack_say "spawn-fcgi: magenta-$n on $sock (pid $pid, ${STACK_FCGI_PROCS:-2} workers, $(_stack_since "$t0") s)"
	done
	return "$rc"
}

# Stop the programs spawn-fcgi started (SIGTERM to the supervisor, which
# stops its workers), make sure no worker is left, remove the sockets.
stack_spawnfcgi_stop() {
	_stack_load || return 1
	local n pid k rc=0
	local -a kids
	for n in "${STACK_SPAWNFCGI[@]}"; do
		if pid=$(_stack_pid_read "$STACK_DIR/spawnfcgi-$n.pid"); then
			mapfile -t kids < <(_stack_children "$pid")
			_stack_terminate "magenta-$n (spawn-fcgi)" "$pid" 10 TERM || rc=1
			# the supervisor waits for its workers; an orphan would be a bug
			local -a left=()
			for k in "${kids[@]}"; do
				_stack_alive "$k" && left+=("$k")
			done
			if ((${#left[@]})); then
				_stack_fail "spawn-fcgi: magenta-$n left ${#left[@]} workers: ${left[*]}" || true
				kill -s KILL "${left[@]}" 2>/dev/null || true
				_stack_wait_gone 5 "${left[@]}" || true
				rc=1
			fi
			_stack_say "spawn-fcgi: magenta-$n stopped (pid $pid)"
		elif [[ -f $STACK_DIR/spawnfcgi-$n.pid ]]; then
			_stack_say "spawn-fcgi: magenta-$n not running"
		fi
		rm -f "$STACK_DIR/spawnfcgi-$n.pid" "$STACK_DIR/sock-apache/$n.sock"
	done
	return "$rc"
}

# The apache2 binary (in /usr/sbin, which a user's PATH may lack).
_stack_apache_bin() {
	local b
	b=$(command -v apache2 2>/dev/null) || b=/usr/sbin/apache2
	[[ -x $b ]] || return 1
	printf '%s\n' "$b"
}

# Write $STACK_DIR/apache/apache2.conf: a private server that loads only
# the modules it needs and includes the installed limits and routes files.
# It listens on 127.0.0.2 too, on the same port: a second client address
# for the per-address limits (tests/http/45-connections.bats).
_stack_apache_conf() {
	local a=$STACK_DIR/apache m=/usr/lib/apache2/modules mod
	mkdir -p "$a/run" || return 1
	{
		cat <<-EOF
			# Apache for the private stack in $STACK_DIR (written by stack_apache_start).
			ServerRoot "$a"
			DefaultRuntimeDir "$a/run"
			PidFile "$a/run/apache2.pid"
			Listen 127.0.0.1:$APACHE_PORT
			Listen 127.0.0.2:$APACHE_PORT
			ServerName 127.0.0.1
			ErrorLog "$STACK_DIR/log/apache-error.log"
			LogLevel warn
		EOF
		# Debian 12's mod_qos was built to find libpcre.so.3's symbols in
		# Apache, which now brings PCRE2's instead: load them first
		local pcre
		pcre=$(/sbin/ldconfig -p 2>/dev/null | awk '$1 == "libpcre.so.3" { print $NF; exit }')
		[[ -n $pcre ]] && printf 'LoadFile %s\n' "$pcre"
		for mod in mpm_event authz_core authz_host proxy proxy_fcgi request env headers buffer reqtimeout qos \
			alias dir mime; do
			printf 'LoadModule %s_module %s/mod_%s.so\n' "$mod" "$m" "$mod"
		done
		if ((EUID == 0)); then
			printf 'User www-data\nGroup www-data\n'
		fi
		cat <<-EOF
			# workers, timeouts, the per-address cap: the shipped limits;
			# few spare threads on a test machine
			Include "$MAGENTA_PREFIX/etc/magenta/apache-magenta-limits.conf"
			StartServers 1
			MinSpareThreads 8
			MaxSpareThreads 50
			Timeout 30
			# as Debian's security.conf
			TraceEnable Off
			ServerTokens Prod
			DocumentRoot "$STACK_DIR/www"
			<Directory />
			    AllowOverride None
			    Require all denied
			</Directory>
			<Directory "$STACK_DIR/www">
			    Require all granted
			</Directory>
			# the request line without its query: a mail link's holds a token
			LogFormat "%h %l %u %t \\"%m %U %H\\" %>s %b %D" magenta
			CustomLog "$STACK_DIR/log/apache-access.log" magenta

			Define MAGENTA_RUNDIR "$STACK_DIR/sock-apache"
			Include "$MAGENTA_PREFIX/etc/magenta/apache-magenta.conf"
			# the web page at /; the page's own types only
			TypesConfig "$a/mime.types"
			Define MAGENTA_WEBDIR "$MAGENTA_PREFIX/share/magenta/web"
			Include "$MAGENTA_PREFIX/etc/magenta/apache-magenta-web.conf"
		EOF
	} >"$a/apache2.conf"
	: >"$a/mime.types"
}

# Start the private Apache on 127.0.0.1:$APACHE_PORT (the port is chosen by
# stack_init, or here for an older env); waits until it accepts.  The
# programs behind it come from stack_spawnfcgi_start.
stack_apache_start() {
	_stack_load || return 1
	local pid t0 bin conf=$STACK_DIR/apache/apache2.conf log=$STACK_DIR/log/apache.log
	if pid=$(_stack_pid_read "$STACK_DIR/apache.pid"); then
		_stack_say "apache: already running (pid $pid, $APACHE_URL)"
		return 0
	fi
	t0=$(_stack_now)
	bin=$(_stack_apache_bin) || {
		_stack_fail "apache: no apache2 binary: apt-get install apache2"
		return 1
	}
	[[ -f $MAGENTA_PREFIX/etc/magenta/apache-magenta.conf ]] || {
		_stack_fail "apache: $MAGENTA_PREFIX/etc/magenta/apache-magenta.conf missing (stack_build first)"
		return 1
	}
	if [[ -z ${APACHE_PORT:-} ]]; then
		APACHE_PORT=$(_stack_free_ports 1)
		APACHE_URL=http://127.0.0.1:$APACHE_PORT
		printf 'export APACHE_PORT=%q\nexport APACHE_URL=%q\n' "$APACHE_PORT" "$APACHE_URL" >>"$STACK_DIR/env"
		export APACHE_PORT APACHE_URL
	fi
	if _stack_port_open "$APACHE_PORT"; then
		_stack_fail "apache: port $APACHE_PORT is taken by another program"
		return 1
	fi
	_stack_apache_conf || return 1
	"$bin" -d "$STACK_DIR/apache" -f "$conf" -t >"$STACK_DIR/log/apache-check.log" 2>&1 || {
		_stack_fail "apache: configuration refused (apache2 -t)" "$STACK_DIR/log/apache-check.log"
		return 1
	}
	_stack_spawn "$log" "$STACK_DIR" "$bin" -d "$STACK_DIR/apache" -f "$conf" -DFOREGROUND
	pid=$STACK_LAST_PID
	_stack_pid_write "$STACK_DIR/apache.pid" "$pid"
	local rc=0
	_stack_wait_port "$APACHE_PORT" 20 "$pid" || rc=$?
	if ((rc)); then
		local why="did not listen on $APACHE_PORT within 20 s"
		((rc == 2)) && why="exited during start-up"
		_stack_fail "apache: $why" "$STACK_DIR/log/apache-error.log"
		tail -n 10 "$log" 2>/dev/null | sed 's/^/  | /' >&2
		return 1
	fi
	_stack_say "apache: up on $APACHE_URL (pid $pid, $(_stack_since "$t0") s)"
}

# Stop the private Apache (SIGTERM: the parent stops its children).
stack_apache_stop() {
	_stack_load || return 1
	local pid k rc=0
	local -a kids
	if ! pid=$(_stack_pid_read "$STACK_DIR/apache.pid"); then
		[[ -f $STACK_DIR/apache.pid ]] && _stack_say "apache: not running"
		rm -f "$STACK_DIR/apache.pid"
		return 0
	fi
	mapfile -t kids < <(_stack_children "$pid")
	_stack_terminate apache "$pid" 15 TERM || rc=1
	if ((${#kids[@]})) && ! _stack_wait_gone 5 "${kids[@]}"; then
		for k in "${kids[@]}"; do
			kill -s KILL "$k" 2>/dev/null || true
		done
		_stack_wait_gone 5 "${kids[@]}" || rc=1
	fi
	rm -f "$STACK_DIR/apache.pid"
	_stack_say "apache: stopped (pid $pid)"
	return "$rc"
}

# ---------------------------------------------------------------- daemons

STACK_DAEMONS=(relay consumer)

# Canonical daemon name: relay or consumer (magenta- prefix optional).
_stack_daemon_name() {
	local n=${1#magenta-}
	case $n in
	relay | consumer | mailer) printf '%s\n' "$n" ;;
	*)
		_stack_fail "unknown daemon '$1' (relay, consumer or mailer)"
		return 1
		;;
	esac
}

# Start magenta-NAME -f $MAGENTA_CONFIG -d; skipped if not built yet.
stack_daemon_start() {
	_stack_load || return 1
	local n bin pid log wait_for_start=
	n=$(_stack_daemon_name "${1:?usage: stack_daemon_start NAME}") || return 1
	bin=$MAGENTA_PREFIX/sbin/magenta-$n
	log=$STACK_DIR/log/$n.log
	if pid=$(_stack_pid_read "$STACK_DIR/$n.pid"); then
		_stack_say "$n: already running (pid $pid)"
		return 0
	fi
	if [[ ! -x $bin ]]; then
		_stack_say "$n: skipped, $bin not built yet"
		return 0
	fi
	# the mailer talks to PostgreSQL and SMTP only
	if [[ $n == mailer ]]; then
		_stack_spawn "$log" "$STACK_DIR" "$bin" -f "$MAGENTA_CONFIG" -d
		pid=$STACK_LAST_PID
		_stack_pid_write "$STACK_DIR/$n.pid" "$pid"
		wait_for_start=1
	fi
	# the event keys, made once (docs/events.md, "Authenticated events")
	if [[ -z ${wait_for_start:-} && ! -f $STACK_DIR/keys/events-sign.pem ]]; then
		"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" keygen --events \
			>"$STACK_DIR/log/keygen-events.log" 2>&1 || {
			_stack_fail "$n: magentactl keygen --events" "$STACK_DIR/log/keygen-events.log"
			return 1
		}
	fi
	# each daemon logs in as its own broker user (_stack_rabbit_users)
	if [[ -z ${wait_for_start:-} ]]; then
		local pw=AMQP_${n^^}_PASSWORD
		_stack_spawn "$log" "$STACK_DIR" env MAGENTA_AMQP_USER="magenta-$n" \
			MAGENTA_AMQP_PASSWORD="${!pw}" "$bin" -f "$MAGENTA_CONFIG" -d
		pid=$STACK_LAST_PID
		_stack_pid_write "$STACK_DIR/$n.pid" "$pid"
	fi
	# no readiness signal: a daemon that dies at once is a failure
	local i
	for i in 1 2 3 4 5; do
		sleep 0.1
		_stack_alive "$pid" || {
			rm -f "$STACK_DIR/$n.pid"
			_stack_fail "$n: exited at start" "$log"
			return 1
		}
	done
	_stack_say "$n: started (pid $pid, log $log)"
}

# Stop a daemon: SIGTERM, 10 s, then SIGKILL (reported).
stack_daemon_stop() {
	_stack_load || return 1
	local n pid
	n=$(_stack_daemon_name "${1:?usage: stack_daemon_stop NAME}") || return 1
	if ! pid=$(_stack_pid_read "$STACK_DIR/$n.pid"); then
		rm -f "$STACK_DIR/$n.pid"
		[[ -x $MAGENTA_PREFIX/sbin/magenta-$n ]] && _stack_say "$n: not running"
		return 0
	fi
	_stack_terminate "$n" "$pid" 10 TERM || return 1
	rm -f "$STACK_DIR/$n.pid"
	_stack_say "$n: stopped (pid $pid)"
}

# Send SIG (default KILL) to a daemon, for failure tests; waits for it to go.
stack_daemon_kill() {
	_stack_load || return 1
	local n pid sig=${2:-KILL}
	n=$(_stack_daemon_name "${1:?usage: stack_daemon_kill NAME [SIG]}") || return 1
	if ! pid=$(_stack_pid_read "$STACK_DIR/$n.pid"); then
		_stack_say "$n: not running"
		return 0
	fi
	kill -s "$sig" "$pid" || return 1
	if [[ $sig == KILL || $sig == 9 || $sig == SIGKILL ]]; then
		_stack_wait_gone 5 "$pid" || return 1
		rm -f "$STACK_DIR/$n.pid"
	fi
	_stack_say "$n: sent SIG${sig#SIG} (pid $pid)"
}

stack_daemons_start() {
	local n rc=0
	for n in "${STACK_DAEMONS[@]}"; do
		stack_daemon_start "$n" || rc=1
	done
	return "$rc"
}

stack_daemons_stop() {
	local n rc=0 i
	for ((i = ${#STACK_DAEMONS[@]} - 1; i >= 0; i--)); do
		n=${STACK_DAEMONS[i]}
		stack_daemon_stop "$n" || rc=1
	done
	return "$rc"
}

# ---------------------------------------------------------------- SMTP sink

# Start the private SMTP sink on $SMTP_PORT: every message it takes is a
# file in $STACK_DIR/mail (NNNNNN.eml).  SMTP_SINK_ARGS: more options of
# tests/tools/smtp-sink.py.
stack_smtp_start() {
	_stack_load || return 1
	local pid log=$STACK_DIR/log/smtp-sink.log
	if pid=$(_stack_pid_read "$STACK_DIR/smtp.pid"); then
		_stack_say "smtp: already running (pid $pid, port $SMTP_PORT)"
		return 0
	fi
	mkdir -p "$STACK_DIR/mail"
	local -a extra=()
	read -r -a extra <<<"${SMTP_SINK_ARGS:-}"
	_stack_spawn "$log" "$STACK_DIR" /usr/bin/python3 "$MAGENTA_SRC/tests/tools/smtp-sink.py" \
		--port "$SMTP_PORT" --dir "$STACK_DIR/mail" "${extra[@]}"
	pid=$STACK_LAST_PID
	_stack_pid_write "$STACK_DIR/smtp.pid" "$pid"
	if ! _stack_wait_port "$SMTP_PORT" 15 "$pid"; then
		_stack_fail "smtp: the sink does not listen on $SMTP_PORT" "$log"
		return 1
	fi
	_stack_say "smtp: sink on 127.0.0.1:$SMTP_PORT (pid $pid, mail in $STACK_DIR/mail)"
}

# Stop the SMTP sink.
stack_smtp_stop() {
	_stack_load || return 1
	local pid
	if ! pid=$(_stack_pid_read "$STACK_DIR/smtp.pid"); then
		rm -f "$STACK_DIR/smtp.pid"
		return 0
	fi
	_stack_terminate smtp "$pid" 10 TERM || return 1
	rm -f "$STACK_DIR/smtp.pid"
	_stack_say "smtp: stopped (pid $pid)"
}

# ---------------------------------------------------------------- all

# Start everything (stack_init and stack_build done before).
stack_up() {
	_stack_load || return 1
	stack_pg_start &&
		stack_migrate &&
		stack_rabbit_start &&
		stack_daemons_start &&
		stack_lighttpd_start
}

# Stop everything by PID, in reverse order; goes on past failures.
stack_down() {
	_stack_load || return 1
	local rc=0
	stack_apache_stop || rc=1
	stack_spawnfcgi_stop || rc=1
	stack_lighttpd_stop || rc=1
	stack_daemon_stop mailer || rc=1
	stack_smtp_stop || rc=1
	stack_daemons_stop || rc=1
	stack_rabbit_cluster_stop || rc=1
	stack_rabbit_stop || rc=1
	stack_pg_stop || rc=1
	# strays (a pid file lost to a crash or an interrupt at the wrong
	# moment, a program started by hand from our prefix) go too
	local -a left
	mapfile -t left < <(_stack_strays)
	if ((${#left[@]})); then
		_stack_say "down: ending ${#left[@]} leftover processes of this stack: ${left[*]}"
		kill -s TERM "${left[@]}" 2>/dev/null || true
		if ! _stack_wait_gone 5 "${left[@]}"; then
			kill -s KILL "${left[@]}" 2>/dev/null || true
			_stack_wait_gone 5 "${left[@]}" || rc=1
		fi
	fi
	return "$rc"
}

# PIDs of processes that belong to this stack by their identity: executable
# under $MAGENTA_PREFIX, or a command line naming this stack's PostgreSQL data
# directory, lighttpd configuration, RabbitMQ home, or epmd port.  Never by
# program name alone: other stacks (and the system's) run the same programs.
_stack_strays() {
	local p exe
	local -a argv
	for p in /proc/[0-9]*; do
		argv=()
		{ mapfile -t -d '' argv <"$p/cmdline"; } 2>/dev/null || continue
		((${#argv[@]})) || continue
		p=${p#/proc/}
		if [[ ${argv[0]} == "$MAGENTA_PREFIX"/* ]]; then
			exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
			[[ ${exe% (deleted)} == "$MAGENTA_PREFIX"/* ]] || continue
		elif [[ " ${argv[*]} " == *" -D $STACK_DIR/pg/data "* ||
			" ${argv[*]} " == *" -f $STACK_DIR/lighttpd.conf "* ||
			" ${argv[*]} " == *" --dir $STACK_DIR/mail "* ||
			" ${argv[*]} " == *" -f $STACK_DIR/apache/apache2.conf "* ||
			" ${argv[*]} " == *" -home $RABBITMQ_HOME_DIR "* ||
			" ${argv[*]} " == *" -home $STACK_DIR/rabbit-c"[0-9]* ||
			(${argv[0]##*/} == epmd && " ${argv[*]} " == *" -port $ERL_EPMD_PORT "*) ]]; then
			:
		else
			continue
		fi
		_stack_alive "$p" && printf '%s\n' "$p"
	done
	return 0
}

# A benchmark's stack: a new temporary directory ($dir, named after NAME),
# stopped and removed when the calling script exits (BENCH_KEEP=1: left
# running, for a look afterwards); dependencies installed, the tree built
# and installed into it (or STACK_BENCH_PREFIX, an installed build, copied
# there), its env sourced.  Starts nothing.  PostgreSQL commits durably
# (fsync on, as in production) unless STACK_PG_FSYNC=off.
stack_bench() {
	dir=$(mktemp -d "${TMPDIR:-/tmp}/magenta-bench-${1:?usage: stack_bench NAME}.XXXXXX")
	trap _stack_bench_cleanup EXIT INT TERM
	stack_deps >/dev/null || return 1
	STACK_PG_FSYNC=${STACK_PG_FSYNC:-on} stack_init "$dir" >/dev/null || return 1
	if [[ -n ${STACK_BENCH_PREFIX:-} ]]; then
		# an installed build (the test suite's): a copy, so that this
		# stack's processes are told from the other's by their executable
		[[ -x $STACK_BENCH_PREFIX/sbin/magenta-registration ]] || {
			_stack_fail "bench: STACK_BENCH_PREFIX=$STACK_BENCH_PREFIX holds no installed build"
			return 1
		}
		cp -a "$STACK_BENCH_PREFIX/." "$dir/prefix/" || return 1
	else
		bash -c '. "$1"; . "$2"; stack_build' _ "$dir/env" "$STACK_LIB" >/dev/null || return 1
	fi
	# shellcheck source=/dev/null
	. "$dir/env"
}

# stack_bench_hashers SERVICE: how many argon2id computations
# magenta-SERVICE (started by lighttpd in the benchmark's stack) runs at
# once: its argon2 slots, from its latest event=argon2 line; all its
# workers (STACK_FCGI_PROCS) when it has no fewer slots than workers.  A raw
# argon2id ceiling runs as many processes: that is also where raw argon2id
# is fastest.
stack_bench_hashers() {
	local n
	local procs=${STACK_FCGI_PROCS:-4}
	n=$(sed -n "s/.*service=$1 event=argon2 pid=[0-9]* slots=\([0-9]*\) .*/\1/p" \
		"$dir/log/lighttpd-error.log" | tail -1)
	((${n:-0} > 0 && n < procs)) || n=$procs
	echo "$n"
}

# Stop the benchmark's stack and remove its directory.
_stack_bench_cleanup() {
	set +e
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "bench: kept the running stack in $dir (BENCH_KEEP=1; stop it with:" \
			"STACK_DIR=$dir bash -c '. scripts/lib/stack.sh; stack_down'; rm -rf $dir)"
		return
	fi
	[[ -f $dir/env ]] && STACK_DIR=$dir stack_down >/dev/null
	rm -rf "$dir"
}

# One line per component: running (pid) or stopped.
stack_status() {
	_stack_load || return 1
	local pid n
	_status_line() { printf '  %-11s %s\n' "$1" "$2"; }
	if pid=$(_stack_pid_read "$STACK_DIR/postgres.pid"); then
		_status_line postgresql "running, pid $pid, 127.0.0.1:$PGPORT"
	else
		_status_line postgresql stopped
	fi
	if pid=$(_stack_rabbit_node_pid); then
		_status_line rabbitmq "running, pid $pid, node $RABBITMQ_NODENAME, amqp 127.0.0.1:$AMQP_PORT${AMQPS_PORT:+ (TLS :$AMQPS_PORT)}, management $AMQP_MGMT_URL"
	else
		_status_line rabbitmq stopped
	fi
	local f i
	for f in "$STACK_DIR"/rabbit-c[0-9]*.pid; do
		[[ -e $f ]] || continue
		i=${f##*/rabbit-c}
		i=${i%.pid}
		if pid=$(_STACK_RABBIT_PIDF=$f _stack_rabbit_node_pid); then
			_status_line "rabbitmq-c$i" "running, pid $pid, cluster node $i of ${STACK_RABBIT_CLUSTER_N:-?}, amqp 127.0.0.1:$(cut -d' ' -f"$i" <<<"${AMQP_PORTS:-}")"
		else
			_status_line "rabbitmq-c$i" stopped
		fi
	done
	if pid=$(_stack_pid_read "$STACK_DIR/epmd.pid"); then
		_status_line epmd "running, pid $pid, 127.0.0.1:$ERL_EPMD_PORT"
	else
		_status_line epmd stopped
	fi
	for n in "${STACK_DAEMONS[@]}" mailer; do
		if pid=$(_stack_pid_read "$STACK_DIR/$n.pid"); then
			_status_line "$n" "running, pid $pid"
		elif [[ -x $MAGENTA_PREFIX/sbin/magenta-$n ]]; then
			_status_line "$n" stopped
		else
			_status_line "$n" "not built"
		fi
	done
	if pid=$(_stack_pid_read "$STACK_DIR/smtp.pid"); then
		_status_line smtp-sink "running, pid $pid, 127.0.0.1:$SMTP_PORT, mail in $STACK_DIR/mail"
	fi
	if pid=$(_stack_pid_read "$STACK_DIR/lighttpd.pid"); then
		local kids
		kids=$(_stack_children "$pid" | wc -l)
		_status_line lighttpd "running, pid $pid, $BASE_URL, $HTTPS_URL, $HTTPS_AUTH_URL, $kids FastCGI processes"
	else
		_status_line lighttpd stopped
	fi
	for n in "${STACK_SPAWNFCGI[@]}"; do
		if pid=$(_stack_pid_read "$STACK_DIR/spawnfcgi-$n.pid"); then
			_status_line spawn-fcgi "magenta-$n running, pid $pid, $STACK_DIR/sock-apache/$n.sock"
		fi
	done
	if pid=$(_stack_pid_read "$STACK_DIR/apache.pid"); then
		_status_line apache "running, pid $pid, $APACHE_URL"
	else
		_status_line apache "stopped (tests start it: stack_spawnfcgi_start, stack_apache_start)"
	fi
}
