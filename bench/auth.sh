#!/usr/bin/env bash
# bench/auth.sh: the authentication service against its ceilings, each
# measured in the same run on the same machine:
#
#   POST /api/auth/login     vs raw argon2id verifications (same parameters,
#                               as many processes as magenta-auth runs
#                               hashes at once: its argon2 slots, one
#                               per CPU)                            >= 90 %
#     and an unknown user's login vs a wrong password's, one at a time
#                               (the dummy verification)      about 100 %
#   POST /api/auth/refresh   vs pgbench running the same SQL statement with
#                               as many clients as FastCGI processes >= 60 %
#   GET /api/auth/me         vs a libfcgi hello-world behind the same
#                               lighttpd (bench/auth-hello)          >= 50 %
#   GET /.well-known/jwks.json  vs the same hello-world              >= 85 %
#   token sign / verify      vs openssl speed ecdsap256, both per CPU
#                               second, one process                  >= 80 %
#
#   bench/auth.sh [SECONDS [PART...]]   (default 6 s per measurement;
#                                        parts: login refresh me tokens)
#
# Each comparison runs ROUNDS times (default 5), ours and the ceiling
# alternately, and reports the medians: the machine may be shared.
# Starts its own private stack (PostgreSQL + lighttpd; no RabbitMQ) in a
# temporary directory and stops it afterwards.  STACK_FCGI_PROCS sets the
# FastCGI processes per program (default 4).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-6}
rounds=${ROUNDS:-5}
parts=" ${*:2} "
[[ $parts == "  " ]] && parts=" login refresh me tokens "
want() { [[ $parts == *" $1 "* ]]; }
procs=${STACK_FCGI_PROCS:-4}
conns=$((procs * 2))
users=64
export STACK_FCGI_PROCS=$procs
# shellcheck source=scripts/lib/stack.sh
. "$top/scripts/lib/stack.sh"

stack_bench auth
stack_pg_start >/dev/null
stack_migrate >/dev/null
stack_lighttpd_start >/dev/null

# The same lighttpd, plus the hello-world baseline under /bench/hello.
stack_lighttpd_stop >/dev/null
cat >"$dir/bench-lighttpd.conf" <<EOF
include "$dir/lighttpd.conf"
fastcgi.server += (
	"/bench/hello" => ((
		"socket"      => "$dir/sock/hello.sock",
		"bin-path"    => "$MAGENTA_BUILD/bench/auth-hello -p $procs",
		"max-procs"   => 1,
		"check-local" => "disable",
	)),
)
EOF
# magenta-auth reaches PostgreSQL through its Unix socket, as a service on
# the database's machine should (TCP when the socket path is too long)
pghost=127.0.0.1
[[ -S $dir/pg/.s.PGSQL.$PGPORT ]] && pghost=$dir/pg
MAGENTA_PG_HOST=$pghost _stack_spawn "$dir/log/lighttpd-error.log" "$dir" lighttpd -D -f "$dir/bench-lighttpd.conf"
_stack_pid_write "$dir/lighttpd.pid" "$STACK_LAST_PID"
wait_ok() {
	local i
	for i in $(seq 1 100); do
		curl -fs -o /dev/null "$BASE_URL$1" && return 0
		sleep 0.1
	done
	echo "bench: $1 does not answer" >&2
	return 1
}
wait_ok /api/auth/health
wait_ok /bench/hello
# the raw login ceiling runs as many processes as magenta-auth hashes at once
hashers=$(stack_bench_hashers auth)

# Busy CPU time of the whole machine so far, in clock ticks (user, nice,
# system, irq, softirq; not idle or I/O wait).
clk=$(getconf CLK_TCK)
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
psql_auth() { psql -X -At -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$AUTH_DB" -c "$1"; }
rate_of() { awk '/^Requests\/sec:/ { print $2 }' <<<"$1"; }
non2xx_of() { sed -n 's/^non2xx=//p' <<<"$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
results=()
# compare NAME TARGET CEILING_NAME: median of the rounds in A[] (ours) and
# B[] (the ceiling), and of their per-round ratios; TARGET "-": a view
# without a target of its own (the per-CPU ones).
compare() {
	local i r=() p
	for i in "${!A[@]}"; do
		r+=("$(awk -v a="${A[$i]}" -v b="${B[$i]}" 'BEGIN { printf "%.1f", 100 * a / b }')")
	done
	p=$(median "${r[@]}")
	echo "  $1: ours ${A[*]} /s; $3 ${B[*]} /s; ratios ${r[*]} %"
	results+=("$(printf '%-28s %10.1f /s  vs %-31s %10.1f /s  = %5.1f %%  (%s)' \
		"$1" "$(median "${A[@]}")" "$3" "$(median "${B[@]}")" "$p" \
		"$([[ $2 == - ]] && echo "no target of its own" || echo "target >= $2 %")")")
}
# login_as N: a fresh session of benchN; prints the answer.
login_as() {
	curl -fsS -H 'Content-Type: application/json' \
		--data-binary "{\"usernameOrEmail\":\"bench$1\",\"password\":\"BenchPassword!42\"}" \
		"$BASE_URL/api/auth/login"
}

echo "auth benchmark: $procs FastCGI processes, $(nproc) cores, ${secs} s per measurement," \
	"$rounds rounds (medians), wrk $conns connections"
grep -E '^#?argon2' "$MAGENTA_CONFIG" || echo "argon2: defaults (m=19456 KiB, t=2)"

# Users bench1..benchN with one password (hashed once, as registration would).
hash=$(printf 'BenchPassword!42' | "$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" hash-password)
psql_auth "INSERT INTO auth_users (id, username, email, password_hash, security_stamp, version,
	created_at, updated_at) SELECT gen_random_uuid(), 'bench' || i, 'bench' || i || '@example.com',
	'$hash', 'stamp', 1, now(), now() FROM generate_series(1, $users) i"
wrk -t1 -c2 -d2s -s "$top/bench/auth-login.lua" "$BASE_URL" -- "$users" >/dev/null

# -- 1. login vs argon2id verify with the same parameters and process count.
if want login; then
# Also per CPU second: the CPU time of our whole stack (magenta-auth,
# PostgreSQL, lighttpd, wrk) against that of the raw verifications, which
# other work on a shared machine does not distort.
stack_jiffies() {
	local t=0 p pm lp
	read -r pm _ <"$dir/postgres.pid"
	read -r lp _ <"$dir/lighttpd.pid"
	for p in "$pm" $(pgrep -P "$pm") "$lp" $(pgrep -f -- "$MAGENTA_PREFIX/sbin/magenta-auth"); do
		[[ -r /proc/$p/stat ]] && t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat")))
	done
	echo "$t"
}
echo "1. POST /api/auth/login ($procs workers, $hashers argon2 slots) vs raw argon2id verify ($hashers processes)"
A=() B=() CA=() CB=()
for ((i = 0; i < rounds; i++)); do
	j0=$(stack_jiffies)
	# (times: its second line is the CPU of this subshell's children: wrk)
	out=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$top/bench/auth-login.lua" "$BASE_URL" -- "$users"
		times >"$dir/times")
	out+=$'\n'$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
		print "wrkcpu", u[1] * 60 + u[2], s[1] * 60 + s[2] }' "$dir/times")
	j1=$(stack_jiffies)
	[[ $(non2xx_of "$out") == 0 ]] || echo "  (login: $(non2xx_of "$out") non-2xx answers)"
	A+=("$(rate_of "$out")")
	n=$(awk '/requests in/ { print $1 }' <<<"$out")
	CA+=("$(awk -v n="$n" -v j=$((j1 - j0)) -v c="$clk" '/^wrkcpu/ { printf "%.1f", n / (j / c + $2 + $3) }' <<<"$out")")
	read -r wall percpu < <(MAGENTA_CONFIG=$MAGENTA_CONFIG "$MAGENTA_BUILD/bench/ceiling" pwverify "$hashers" "$secs")
	B+=("$wall") CB+=("$percpu")
done
compare "POST /api/auth/login" 90 "argon2id verify"
A=("${CA[@]}") B=("${CB[@]}")
compare "login per CPU second" - "argon2id verify per CPU second"
# An unknown user must cost what a wrong password costs (the dummy
# verification, docs/auth.md): one login at a time, alternately, each
# timed by curl; the medians' ratio should be about 100 %.  11 of each:
# fewer failures than ip_fail_limit allows one address, one per user.
psql_auth "DELETE FROM login_address_failures"
login_time() {
	curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' \
		--data-binary "{\"usernameOrEmail\":\"$1\",\"password\":\"wrong password\"}" \
		"$BASE_URL/api/auth/login"
}
A=() B=()
for ((i = 0; i < 11; i++)); do
	B+=("$(login_time "bench$((i % users + 1))")")
	A+=("$(login_time "nobody$i")")
done
ratio=$(awk -v u="$(median "${A[@]}")" -v k="$(median "${B[@]}")" 'BEGIN { printf "%.1f", 100 * u / k }')
echo "  unknown user: median $(median "${A[@]}") s; wrong password: median $(median "${B[@]}") s; $ratio %"
results+=("$(printf '%-28s %10.4f s   vs %-31s %10.4f s   = %5.1f %%  (%s)' "login of an unknown user" \
	"$(median "${A[@]}")" "a wrong password" "$(median "${B[@]}")" "$ratio" "about 100 %; under 50 %: no dummy verification")")
# (the failed logins above count against one address: clear them)
psql_auth "DELETE FROM login_address_failures"
fi

# -- 2. refresh vs pgbench running the same statement
# Both against tables the size of a small live system (20 000 sessions,
# 100 000 refresh tokens) with fresh planner statistics, durable commits,
# PostgreSQL through its Unix socket, and the session settings magenta-auth
# uses (DB_KEY_LOOKUPS in lib/db.h).
if want refresh; then
echo "2. POST /api/auth/refresh vs pgbench, the same statement ($procs clients, PostgreSQL at $pghost)"
box="\\x$(head -c 72 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
psql_auth "INSERT INTO sessions (id, user_id, security_stamp, client_addr, expires_at, created_at)
	SELECT gen_random_uuid(), u.id, 'stamp', 'background', now() + interval '1 day', now() - interval '1 hour'
	FROM generate_series(1, 20000) i JOIN auth_users u ON u.username = 'bench' || (i % $users + 1);
	INSERT INTO refresh_tokens (session_id, token_hash, expires_at, used_at)
	SELECT s.id, sha256(convert_to(s.id::text || k, 'UTF8')), now() + interval '1 day',
	CASE WHEN k < 4 THEN now() END FROM sessions s, generate_series(0, 4) k"
A=() B=() CA=() CB=()
for ((i = 0; i < rounds; i++)); do
	psql_auth "DELETE FROM sessions WHERE client_addr IS DISTINCT FROM 'background';
		DELETE FROM login_address_failures"
	psql_auth "VACUUM ANALYZE"
	# a token per connection, and one spare per wrk thread (auth-refresh.lua)
	: >"$dir/tokens"
	for ((c = 1; c <= conns + 2; c++)); do
		login_as "$c" | jq -r .refreshToken >>"$dir/tokens"
	done
	j0=$(busy_jiffies)
	out=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$top/bench/auth-refresh.lua" "$BASE_URL" -- "$dir/tokens" 2)
	j1=$(busy_jiffies)
	[[ $(non2xx_of "$out") == 0 ]] || echo "  (refresh: $(non2xx_of "$out") non-2xx answers)"
	A+=("$(rate_of "$out")")
	CA+=("$(awk -v n="$(awk '/requests in/ { print $1 }' <<<"$out")" -v j=$((j1 - j0)) -v c="$clk" \
		'BEGIN { printf "%.1f", n / (j / c) }')")
	# pgbench: one session per client, its token 0 hashed as sha256('c-0')
	psql_auth "INSERT INTO sessions (id, user_id, security_stamp, client_addr, expires_at)
		SELECT gen_random_uuid(), u.id, 'stamp', 'pgbench', now() + interval '1 day'
		FROM generate_series(0, $procs - 1) c JOIN auth_users u ON u.username = 'bench' || (c + 1);
		INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
		SELECT s.id, sha256(convert_to(c || '-0', 'UTF8')), now() + interval '1 day'
		FROM generate_series(0, $procs - 1) c JOIN auth_users u ON u.username = 'bench' || (c + 1)
		JOIN sessions s ON s.user_id = u.id AND s.client_addr = 'pgbench'"
	j0=$(busy_jiffies)
	pgb=$(PGOPTIONS="-c plan_cache_mode=force_generic_plan -c enable_seqscan=off" \
		"$(_stack_pg_bindir)/pgbench" -n -M prepared -c "$procs" -j 2 -T "$secs" \
		-D k=0 -D "box=$box" -D ttl=86400 -D ttl_remember=2592000 \
		-f "$top/bench/auth-refresh.sql" -h "$pghost" -p "$PGPORT" -U postgres "$AUTH_DB" 2>&1)
	j1=$(busy_jiffies)
	# every transaction must have rotated a token: a broken chain would
	# make pgbench fast for nothing
	done_tx=$(awk '/number of transactions actually processed/ { print $NF }' <<<"$pgb")
	rotated=$(psql_auth "SELECT count(*) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
		WHERE s.client_addr = 'pgbench' AND t.parent_id IS NOT NULL")
	[[ $done_tx == "$rotated" ]] || echo "  (pgbench: $done_tx transactions but $rotated rotations)"
	B+=("$(awk '/^tps = / { print $3; exit }' <<<"$pgb")")
	CB+=("$(awk -v n="$done_tx" -v j=$((j1 - j0)) -v c="$clk" 'BEGIN { printf "%.1f", n / (j / c) }')")
done
compare "POST /api/auth/refresh" 60 "pgbench, same statement"
A=("${CA[@]}") B=("${CB[@]}")
compare "refresh per busy CPU second" - "pgbench per busy CPU second"
fi

# -- 3. GET /me and the JWKS vs the hello-world behind the same lighttpd
if want me; then
echo "3. GET /api/auth/me and /.well-known/jwks.json vs a libfcgi hello-world"
at=$(login_as 1 | jq -r .accessToken)
wrk -t2 -c"$conns" -d2s -H "Authorization: Bearer $at" "$BASE_URL/api/auth/me" >/dev/null
A=() J=() B=()
for ((i = 0; i < rounds; i++)); do
	B+=("$(rate_of "$(wrk -t2 -c"$conns" -d"${secs}s" "$BASE_URL/bench/hello")")")
	out=$(wrk -t2 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $at" "$BASE_URL/api/auth/me")
	grep -q 'Non-2xx' <<<"$out" && echo "  (/me: $(grep 'Non-2xx' <<<"$out"))"
	A+=("$(rate_of "$out")")
	J+=("$(rate_of "$(wrk -t2 -c"$conns" -d"${secs}s" "$BASE_URL/.well-known/jwks.json")")")
done
compare "GET /api/auth/me" 50 "libfcgi hello-world"
A=("${J[@]}")
compare "GET /.well-known/jwks.json" 85 "libfcgi hello-world"
fi

# -- 4. token signing and verification vs openssl speed, per CPU second
if want tokens; then
echo "4. access tokens vs openssl speed ecdsap256 (one process, per CPU second)"
S=() V=() OS=() OV=()
for ((i = 0; i < rounds; i++)); do
	speed=$(openssl speed -seconds "$secs" ecdsap256 2>/dev/null | awk '/nistp256/ { print $(NF-1), $NF }')
	OS+=("${speed% *}") OV+=("${speed#* }")
	S+=("$(MAGENTA_CONFIG=$MAGENTA_CONFIG "$MAGENTA_BUILD/bench/ceiling" sign "$secs")")
	V+=("$(MAGENTA_CONFIG=$MAGENTA_CONFIG "$MAGENTA_BUILD/bench/ceiling" verify "$secs")")
done
A=("${S[@]}") B=("${OS[@]}")
compare "access token sign (ES256)" 80 "openssl speed ecdsap256 sign"
A=("${V[@]}") B=("${OV[@]}")
compare "access token verify (ES256)" 80 "openssl speed ecdsap256 verify"
fi

echo
echo "results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$procs FastCGI processes, $rounds rounds of ${secs} s, medians):"
printf '%s\n' "${results[@]}"
