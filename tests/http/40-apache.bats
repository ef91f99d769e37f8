#!/usr/bin/env bats
# Deployment under Apache: the installed apache-magenta.conf in a private
# Apache (mod_proxy_fcgi), in front of magenta-registration and magenta-auth
# started by spawn-fcgi on unix sockets -- the same build that lighttpd
# serves in the other files.  Every request here goes through Apache.

load ../lib/common

PW='TestPassword123!'

# api (and so post_json) through Apache; lighttpd stays at $BASE_URL.
api() {
	local method=$1 path=$2
	shift 2
	_http_call "$APACHE_URL$path" -X "$method" "$@"
}

setup_file() {
	# the login test needs the event pipeline: relay and consumer
	stack_daemons_start >/dev/null
	stack_spawnfcgi_start
	stack_apache_start
}

teardown_file() {
	stack_apache_stop
	stack_spawnfcgi_stop
}

# A test that moved a socket away and failed half-way must not leave it so.
teardown() {
	local s
	for s in "$STACK_DIR"/sock-apache/*.away; do
		[[ -e $s ]] && mv "$s" "${s%.away}"
	done
	return 0
}

# register USERNAME EMAIL: POST the seed's body.
register() {
	post_json /api/registration/register "$(jq -cn --arg u "$1" --arg e "$2" --arg p "$PW" \
		'{username:$u,email:$e,password:$p,confirmPassword:$p}')"
}

# in_auth_db USERNAME: the consumer has applied the user's event.
in_auth_db() {
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE username = '$1'")" = 1 ]
}

# from_apache: the last answer came through our Apache.
from_apache() {
	[[ "$(header Server)" == Apache* ]]
}

@test "apache: register is 201 with Location, served by the spawn-fcgi program" {
	api POST /api/registration/register -H 'Content-Type: application/json' -H 'X-Request-Id: apache-reg-1' \
		--data-binary "$(jq -cn --arg p "$PW" '{username:"apacheuser",email:"apache@example.com",password:$p,confirmPassword:$p}')"
	assert_code 201
	from_apache
	id=$(field .userId)
	[ "$(header Location)" = "/api/registration/users/$id" ]
	[ "$(header X-Request-Id)" = apache-reg-1 ]
	grep -q '^content-type: application/json' <<<"$headers"
	[ "$(psql_users "SELECT username FROM users WHERE id = '$id'")" = apacheuser ]
	# the program spawn-fcgi started did it (with our request id), not lighttpd's
	grep -q "req=apache-reg-1 .*event=user_registered user=$id" "$STACK_DIR/log/spawnfcgi-registration.log"
	[ "$(grep -c "user=$id" "$STACK_DIR/log/lighttpd-error.log")" = 0 ]
}

@test "apache: the new user logs in, and the Bearer token reaches GET /api/auth/me" {
	register apachelogin apachelogin@example.com
	assert_code 201
	id=$(field .userId)
	# relay -> RabbitMQ -> consumer -> auth_users
	wait_until 30 in_auth_db apachelogin
	post_json /api/auth/login "$(jq -cn --arg p "$PW" '{usernameOrEmail:"apachelogin",password:$p}')"
	assert_code 200
	from_apache
	[ "$(field .tokenType)" = Bearer ]
	[ "$(field .user.id)" = "$id" ]
	access=$(field .accessToken)
	[[ $access == *.*.* ]]
	[[ "$(field .refreshToken)" =~ ^[A-Za-z0-9_-]{40,}$ ]]
	# REMOTE_ADDR is the client's own address
	grep -q "event=login_ok user=$id .*addr=127.0.0.1" "$STACK_DIR/log/spawnfcgi-auth.log"
	api GET /api/auth/me -H "Authorization: Bearer $access"
	assert_code 200
	[ "$(field .id)" = "$id" ]
	[ "$(field .username)" = apachelogin ]
	# without the header the same request is refused: the 200 came from it
	api GET /api/auth/me
	assert_code 401
	grep -qi '^www-authenticate: Bearer' <<<"$headers"
}

@test "apache: the account endpoints — PATCH and DELETE with a Bearer token and a body, an admin search with a query string" {
	register apacheadm apacheadm@example.com
	assert_code 201
	id=$(field .userId)
	wait_until 30 in_auth_db apacheadm
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" user grant-admin apacheadm >/dev/null
	post_json /api/auth/login "$(jq -cn --arg p "$PW" '{usernameOrEmail:"apacheadm",password:$p}')"
	assert_code 200
	access=$(field .accessToken)
	api PATCH /api/registration/users/me -H "Authorization: Bearer $access" \
		-H 'Content-Type: application/json' -H 'If-Match: "2"' --data-binary '{"displayName":"Via Apache"}'
	assert_code 200
	from_apache
	[ "$(json_of '[.displayName, .version]')" = '["Via Apache",3]' ]
	[ "$(header ETag)" = '"3"' ]
	api GET '/api/registration/admin/users?q=APACHEA&limit=5' -H "Authorization: Bearer $access"
	assert_code 200
	[ "$(json_of '[.users[].id]')" = "[\"$id\"]" ]
	api DELETE /api/registration/users/me -H "Authorization: Bearer $access" \
		-H 'Content-Type: application/json' --data-binary "$(jq -cn --arg p "$PW" '{password:$p}')"
	assert_code 204
	from_apache
	[ "$(psql_users "SELECT reason FROM deleted_users WHERE id = '$id'")" = self ]
}

@test "apache: JWKS and openid-configuration; the rest of /.well-known/ is not Magenta's" {
	api GET /.well-known/jwks.json
	assert_code 200
	from_apache
	[ "$(json_of '[.keys[0].kty, .keys[0].crv, .keys[0].alg]')" = '["EC","P-256","ES256"]' ]
	kid=$(field '.keys[0].kid')
	[[ "$kid" =~ ^[A-Za-z0-9_-]{20,}$ ]]
	api GET /.well-known/openid-configuration
	assert_code 200
	[[ "$(field .jwks_uri)" == */.well-known/jwks.json ]]
	# ACME challenges and the like stay with the server: its own 404 page
	api GET /.well-known/acme-challenge/token
	assert_code 404
	[[ "$(header Content-Type)" != application/json* ]]
}

@test "apache: the OAuth 2.0 endpoints reach magenta-auth: a password grant, userinfo with its Basic and Bearer headers passed through" {
	local out id secret at
	register oauthuser oauth@example.com
	assert_code 201
	wait_until 10 in_auth_db oauthuser
	out=$("$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" client add apache-app --json)
	id=$(jq -r .clientId <<<"$out")
	secret=$(jq -r .clientSecret <<<"$out")
	api POST /oauth2/token -u "$id:$secret" --data-urlencode grant_type=password \
		--data-urlencode username=oauthuser --data-urlencode "password=$PW"
	assert_code 200
	from_apache
	at=$(field .access_token)
	api GET /oauth2/userinfo -H "Authorization: Bearer $at"
	assert_code 200
	[ "$(field .preferred_username)" = oauthuser ]
	api POST /oauth2/token -u "$id:wrong" --data-urlencode grant_type=password
	assert_code 401
	[ "$(field .error)" = invalid_client ]
}

@test "apache: a 20 KiB body is refused by Apache itself with a JSON 413, declared or chunked" {
	head -c 20480 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/big"
	local path te
	for path in /api/registration/register /api/auth/login; do
		for te in Content-Length chunked; do
			local -a how=()
			[ "$te" = chunked ] && how=(-H 'Transfer-Encoding: chunked')
			api POST "$path" -H 'Content-Type: application/json' "${how[@]}" \
				--data-binary @"$BATS_TEST_TMPDIR/big"
			assert_code 413
			grep -q '^content-type: application/json' <<<"$headers"
			[ "$(field .error)" = payload_too_large ]
			# Apache's answer, not the program's ("Request body exceeds
			# 16384 bytes."), which would carry an X-Request-Id
			[ "$(field .message)" = "Request body too large." ]
			[ -z "$(header X-Request-Id)" ]
		done
	done
	# exactly 16 KiB passes, chunked too, and reaches the program whole
	printf '{"username":"%s"}' "$(head -c 16369 /dev/zero | tr '\0' a)" >"$BATS_TEST_TMPDIR/edge"
	[ "$(wc -c <"$BATS_TEST_TMPDIR/edge")" = 16384 ]
	api POST /api/registration/register -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary @"$BATS_TEST_TMPDIR/edge"
	assert_code 400
	[ "$(json_of '[.errors[] | .field + ":" + .code] | sort')" = \
		'["confirmPassword:required","email:required","password:required","username:invalid_format"]' ]
}

@test "apache: malformed JSON is 400 from either program" {
	post_json /api/registration/register '{"username":'
	assert_code 400
	from_apache
	[ "$(field .error)" = malformed_json ]
	post_json /api/auth/login '{"usernameOrEmail":"x",}'
	assert_code 400
	[ "$(field .error)" = malformed_json ]
	[ "$(psql_users 'SELECT count(*) FROM users')" = 0 ]
}

@test "apache: / is the web page with its security headers (apache-magenta-web.conf); the API paths stay the programs'" {
	api GET /
	assert_code 200
	[ "$(header Content-Type)" = "text/html; charset=utf-8" ]
	grep -q '<title>Magenta</title>' <<<"$body"
	local csp
	csp=$(header Content-Security-Policy)
	[[ $csp == *"script-src 'self'"* && $csp == *"frame-ancestors 'none'"* && $csp != *unsafe-inline* ]]
	[ "$(header X-Content-Type-Options)" = nosniff ]
	[ "$(header Referrer-Policy)" = no-referrer ]
	api GET /app.js
	assert_code 200
	[ "$(header Content-Type)" = "text/javascript; charset=utf-8" ]
	api GET /api/auth/health
	assert_code 200
	[ -z "$(header Content-Security-Policy)" ]
}

@test "apache: the mails' links, /confirm-email and /reset-password, are the page with its headers; only those paths" {
	local path csp
	for path in '/confirm-email?token=abc_DEF-123' '/reset-password?token=abc' /reset-password; do
		api GET "$path"
		assert_code 200
		[ "$(header Content-Type)" = "text/html; charset=utf-8" ]
		grep -q '<title>Magenta</title>' <<<"$body"
		csp=$(header Content-Security-Policy)
		[[ $csp == *"script-src 'self'"* && $csp == *"frame-ancestors 'none'"* && $csp != *unsafe-inline* ]]
		[ "$(header X-Content-Type-Options)" = nosniff ]
	done
	api GET /confirm-email/x
	assert_code 404
	api GET /reset-passwordx
	assert_code 404
	# the token is not in the access log (Apache writes each line at once)
	grep -q -F '"GET /confirm-email HTTP/1.1" 200' "$STACK_DIR/log/apache-access.log"
	run grep -c -F abc_DEF-123 "$STACK_DIR/log/apache-access.log"
	[ "$output" = 0 ]
}

@test "apache: 404 and 405 are JSON, and so are Apache's own errors (ErrorDocument)" {
	api GET /api/registration/no-such-thing
	assert_code 404
	[ "$(field .error)" = not_found ]
	grep -q '^content-type: application/json' <<<"$headers"
	api GET /api/auth/no-such-thing
	assert_code 404
	[ "$(field .error)" = not_found ]
	api GET /api/registration/register
	assert_code 405
	[ "$(header Allow)" = POST ]
	[ "$(field .error)" = method_not_allowed ]
	api DELETE /api/auth/login
	assert_code 405
	[ "$(header Allow)" = POST ]
	# TRACE is refused by Apache (TraceEnable Off); its ErrorDocument asks
	# the program, which answers from REDIRECT_STATUS (its own 405 would
	# name the allowed methods)
	local path
	for path in /api/registration/health /api/auth/health /.well-known/jwks.json; do
		api TRACE "$path"
		assert_code 405
		grep -q '^content-type: application/json' <<<"$headers"
		[ "$(field .error)" = method_not_allowed ]
		[ "$(field .message)" = "Method not allowed." ]
		[ -n "$(header X-Request-Id)" ]
	done
}

@test "apache: a program it cannot reach is a JSON 503, and service resumes at once" {
	mv "$STACK_DIR/sock-apache/auth.sock" "$STACK_DIR/sock-apache/auth.sock.away"
	api GET /api/auth/health
	assert_code 503
	grep -q '^content-type: application/json' <<<"$headers"
	[ "$(field .error)" = service_unavailable ]
	# the other program is unaffected
	api GET /api/registration/health
	assert_code 200
	mv "$STACK_DIR/sock-apache/auth.sock.away" "$STACK_DIR/sock-apache/auth.sock"
	# the very next request gets through
	api GET /api/auth/health
	assert_code 200
	[ "$(field .service)" = auth ]
}

@test "lighttpd: the same installed programs answer through lighttpd too" {
	_http_call "$BASE_URL/api/registration/health"
	assert_code 200
	[[ "$(header Server)" == lighttpd* ]]
	_http_call "$BASE_URL/.well-known/jwks.json"
	assert_code 200
	via_lighttpd=$(json_of '[.keys[].kid]')
	api GET /.well-known/jwks.json
	assert_code 200
	# one signing key, whichever server and whichever start-up
	[ "$(json_of '[.keys[].kid]')" = "$via_lighttpd" ]
}

@test "spawn-fcgi: sockets 0660 with group www-data, Apache's children run as www-data" {
	local n pid
	for n in registration auth; do
		sock=$STACK_DIR/sock-apache/$n.sock
		[ -S "$sock" ]
		if ((EUID == 0)); then
			[ "$(stat -c '%a %U %G' "$sock")" = "660 root www-data" ]
		else
			[ "$(stat -c '%a %U' "$sock")" = "600 $(id -un)" ]
		fi
		# the supervisor spawn-fcgi exec'd (its pid recorded) and its -p workers
		pid=$(_stack_pid_read "$STACK_DIR/spawnfcgi-$n.pid")
		[ "$(readlink "/proc/$pid/exe")" = "$MAGENTA_PREFIX/sbin/magenta-$n" ]
		[ "$(_stack_children "$pid" | wc -l)" = "${STACK_FCGI_PROCS:-2}" ]
	done
	((EUID == 0)) || skip "not root: Apache does not change user"
	pid=$(_stack_pid_read "$STACK_DIR/apache.pid")
	kids=$(_stack_children "$pid")
	[ -n "$kids" ]
	for k in $kids; do
		# the effective uid
		[ "$(awk '$1 == "Uid:" { print $3 }' "/proc/$k/status")" = "$(id -u www-data)" ]
	done
	# so the group bit is what lets them in: without it, 503
	chmod 0600 "$STACK_DIR/sock-apache/registration.sock"
	api GET /api/registration/health
	chmod 0660 "$STACK_DIR/sock-apache/registration.sock"
	assert_code 503
	api GET /api/registration/health
	assert_code 200
}

@test "spawn-fcgi: stack_spawnfcgi_stop leaves no process behind; start brings them back" {
	local n pid all=()
	for n in registration auth; do
		pid=$(_stack_pid_read "$STACK_DIR/spawnfcgi-$n.pid")
		all+=("$pid" $(_stack_children "$pid"))
	done
	[ "${#all[@]}" = $((2 + 2 * ${STACK_FCGI_PROCS:-2})) ]
	stack_spawnfcgi_stop
	for pid in "${all[@]}"; do
		if _stack_alive "$pid"; then
			echo "pid $pid is still there" >&2
			return 1
		fi
	done
	# nothing of ours listens on those sockets any more
	[ ! -e "$STACK_DIR/sock-apache/registration.sock" ]
	[ ! -e "$STACK_DIR/sock-apache/auth.sock" ]
	[ -z "$(_stack_spawnfcgi_pids)" ]
	run pgrep -f -- "-f $MAGENTA_CONFIG -p "
	[ "$status" = 1 ]
	api GET /api/registration/health
	assert_code 503
	[ "$(field .error)" = service_unavailable ]
	# lighttpd's own processes were left alone
	_http_call "$BASE_URL/api/registration/health"
	assert_code 200
	stack_spawnfcgi_start
	api GET /api/registration/health
	assert_code 200
	api GET /api/auth/health
	assert_code 200
}
