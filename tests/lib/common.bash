# shellcheck shell=bash
# tests/lib/common.bash: what every bats file gets with `load ../lib/common`.
#
# The suite runs against the private stack that scripts/test started; it
# exports STACK_DIR.  (To run a file by hand against ./scripts/run's stack:
# `STACK_DIR=$PWD/run bats tests/http/FILE.bats` -- its tables get emptied.)
#
# Provides:
#   the variables of $STACK_DIR/env (BASE_URL, PGPORT, AMQP_PORT, AMQP_MGMT_URL,
#     MAGENTA_CONFIG, MAGENTA_PREFIX, USERS_DB, AUTH_DB, ...) and every
#     stack_* function of scripts/lib/stack.sh (stack_pg_stop, ...)
#   setup()                  reset_db before each test; a file that defines its
#                            own setup() calls reset_db itself
#   reset_db                 empty every table but schema_migrations in both
#                            databases (RESTART IDENTITY CASCADE)
#   api METHOD PATH [curl args...]
#                            HTTP to $BASE_URL; sets $code (status, 000 if no
#                            answer), $body, $headers (lower-cased names, one
#                            "name: value" per line), $body_file (raw bytes)
#   post_json PATH JSON      api POST with Content-Type: application/json
#   header NAME              value of a response header of the last call
#   field FILTER             jq -r FILTER on $body (field '.userId')
#   json_of FILTER [JSON]    jq -c FILTER on JSON (default $body)
#   assert_code N            fail, showing the answer, unless $code is N
#   psql_users SQL, psql_auth SQL, psql_db DB SQL
#                            run SQL (psql -X -At, ON_ERROR_STOP), print rows
#   wait_until SECONDS CMD...
#                            poll CMD every 0.1 s until it succeeds; fails after
#                            SECONDS (use it instead of sleep)
#   amqp_mgmt METHOD PATH [DATA]
#                            RabbitMQ management HTTP API as magenta-admin (PATH
#                            below /api, vhost "/" written %2F); sets what api sets
#   amqp_mgmt_as USER:PASSWORD METHOD PATH [DATA]
#                            the same as another broker user

if [[ -z ${STACK_DIR:-} || ! -f ${STACK_DIR:-}/env ]]; then
	echo "tests/lib/common.bash: STACK_DIR is not set or has no env file: run the suite with ./scripts/test" >&2
	return 1
fi
# shellcheck source=/dev/null
. "$STACK_DIR/env"
# shellcheck source=../../scripts/lib/stack.sh
. "$BATS_TEST_DIRNAME/../../scripts/lib/stack.sh"

# Each test starts from empty tables.
setup() {
	reset_db
}

# Empty every table of DB except schema_migrations, found in the catalog so
# that new tables are covered without a change here.
_reset_one() {
	psql_db "$1" "SET lock_timeout = '10s';
DO \$\$
DECLARE t text;
BEGIN
	SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO t
	FROM pg_tables
	WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
	  AND tablename <> 'schema_migrations';
	IF t IS NOT NULL THEN
		EXECUTE 'TRUNCATE ' || t || ' RESTART IDENTITY CASCADE';
	END IF;
END
\$\$;" >/dev/null
}

reset_db() {
	_reset_one "$USERS_DB" && _reset_one "$AUTH_DB"
}

# psql against the private server, results only (-At), stop at the first error.
psql_db() {
	local db=$1
	shift
	psql -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$db" -c "$*"
}
psql_users() { psql_db "$USERS_DB" "$@"; }
psql_auth() { psql_db "$AUTH_DB" "$@"; }

# curl URL ARGS... into $code, $body, $headers, $body_file.
_http_call() {
	local url=$1 dir=${BATS_TEST_TMPDIR:-$STACK_DIR/tmp} hf
	shift
	body_file=$(mktemp "$dir/body.XXXXXX")
	hf=$(mktemp "$dir/headers.XXXXXX")
	curl_rc=0
	code=$(curl -sS --max-time "${API_MAX_TIME:-30}" -o "$body_file" -D "$hf" -w '%{http_code}' \
		"$@" "$url") || curl_rc=$?
	[[ -n $code ]] || code=000
	if ((curl_rc)); then
		echo "api: curl exited $curl_rc for $url" >&2
	fi
	body=$(cat "$body_file")
	# the last header block (after any 100 Continue), names lower-cased
	headers=$(tr -d '\r' <"$hf" | awk '
		/^HTTP\// { blk = ""; next }
		/^[^ \t:]+:/ { i = index($0, ":"); $0 = tolower(substr($0, 1, i - 1)) substr($0, i) }
		NF { blk = blk $0 "\n" }
		END { printf "%s", blk }')
	rm -f "$hf"
	return 0
}

api() {
	local method=$1 path=$2
	shift 2
	_http_call "$BASE_URL$path" -X "$method" "$@"
}

post_json() {
	api POST "$1" -H 'Content-Type: application/json' --data-binary "$2"
}

header() {
	local name
	name=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
	awk -v n="$name" 'index($0, n ":") == 1 { v = substr($0, length(n) + 2); sub(/^[ \t]+/, "", v); print v; exit }' <<<"$headers"
}

field() {
	jq -r "$1" <<<"$body"
}

json_of() {
	if (($# > 1)); then
		jq -c "$1" <<<"$2"
	else
		jq -c "$1" <<<"$body"
	fi
}

assert_code() {
	if [[ $code != "$1" ]]; then
		printf 'expected HTTP %s, got %s\n--- headers\n%s\n--- body\n%s\n' "$1" "$code" "$headers" "$body" >&2
		return 1
	fi
}

wait_until() {
	local secs=$1 d
	shift
	d=$(_stack_deadline "$secs")
	until "$@"; do
		if _stack_past "$d"; then
			echo "wait_until: '$*' still false after ${secs} s" >&2
			return 1
		fi
		sleep 0.1
	done
}

# sem_exists ID: the kernel has a System V semaphore set ID.
sem_exists() { awk -v id="$1" 'NR > 1 && $2 == id { found = 1 } END { exit !found }' /proc/sysvipc/sem; }

# _semval ID: the value of System V semaphore set ID's semaphore 0 (the
# free argon2 slots; lib/pwhash.c).
_semval() { ipcs -s -i "$1" | awk '$1 == "0" && NF >= 5 { print $2 }'; }

# fcgi_program NAME SOCK PROCS [VAR=VALUE...]: a private magenta-NAME on the
# Unix socket SOCK with PROCS workers (and these settings), logging to
# SOCK.log; once it has logged its start, prog_pid is its pid and prog_kids
# its workers (none with 1 worker: the program serves itself).
fcgi_program() {
	local name=$1 sock=$2 procs=$3
	shift 3
	env "$@" "$MAGENTA_PREFIX/sbin/magenta-$name" -f "$MAGENTA_CONFIG" -l "$sock" -p "$procs" \
		2>"$sock.log" 3>&- &
	prog_pid=$!
	wait_until 30 grep -q "event=start pid=$prog_pid " "$sock.log"
	prog_kids=()
	((procs == 1)) || mapfile -t prog_kids < <(pgrep -P "$prog_pid")
	((procs == 1 || ${#prog_kids[@]} == procs))
}

# fcgi_program_stop: stop the program fcgi_program started (SIGTERM), and
# wait for it.
fcgi_program_stop() {
	kill -TERM "$prog_pid"
	wait "$prog_pid"
}

# fcgi_post SOCK URI BODY: POST a JSON body straight to a FastCGI socket
# (cgi-fcgi, no web server); the program's whole answer on stdout.
fcgi_post() {
	printf '%s' "$3" | env -i REQUEST_METHOD=POST REQUEST_URI="$2" \
		CONTENT_TYPE=application/json CONTENT_LENGTH=${#3} REMOTE_ADDR=127.0.0.1 \
		cgi-fcgi -bind -connect "$1" 3>&-
}

amqp_mgmt() {
	amqp_mgmt_as "magenta-admin:$AMQP_ADMIN_PASSWORD" "$@"
}

amqp_mgmt_as() {
	local who=$1 method=$2 path=$3
	[[ $path == /api/* ]] || path=/api$path
	local -a args=(-X "$method" -u "$who" -H 'Content-Type: application/json')
	(($# >= 4)) && args+=(--data-binary "$4")
	_http_call "$AMQP_MGMT_URL$path" "${args[@]}"
}
