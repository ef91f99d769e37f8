#!/usr/bin/env bats
# HTTPS on the seed's two ports (7001 registration, 7018 authentication in
# ./scripts/run; free ports here): lighttpd's mod_openssl with the stack's
# test certificate (stack_tls_init), every route on both ports, HTTP kept.
# The seed's own curl lines, byte for byte, with --cacert (and -k).

load ../lib/common

setup_file() {
	# the seed's flow needs the relay and the consumer
	stack_daemons_start >/dev/null
}

# https METHOD URL [curl args...]: like api, to an HTTPS URL, trusting
# the stack's CA only.
https() {
	local method=$1 url=$2
	shift 2
	_http_call "$url" --cacert "$STACK_CACERT" -X "$method" "$@"
}

_logs_in() {
	https POST "$HTTPS_AUTH_URL/api/auth/login" -H "Content-Type: application/json" -d "$1"
	[ "$code" = 200 ]
}

@test "https: the seed's registration and login, exactly as its curl lines send them" {
	# seeds/000_6bf08c2199819a9e.txt, "Testing the Setup", 1. and 3.
	# (its https://localhost:7001 and :7018 are $HTTPS_URL, $HTTPS_AUTH_URL)
	https POST "$HTTPS_URL/api/registration/register" \
		-H "Content-Type: application/json" \
		-d '{
    "username": "testuser",
    "email": "test@example.com",
    "password": "TestPassword123!",
    "confirmPassword": "TestPassword123!"
  }'
	assert_code 201
	[ "$(field .success)" = true ]
	[ "$(field .username)" = testuser ]
	local login='{
    "usernameOrEmail": "testuser",
    "password": "TestPassword123!",
    "rememberMe": false
  }'
	# the event reaches the auth database within moments
	wait_until 20 _logs_in "$login"
	[ "$(field .tokenType)" = Bearer ]
	[ "$(field .user.username)" = testuser ]
	[[ $(field .accessToken) == *.*.* ]]
	[ "$(field '.refreshToken | length')" = 43 ]
	# the access token works on the registration port too
	https GET "$HTTPS_URL/api/registration/users/me" -H "Authorization: Bearer $(field .accessToken)"
	assert_code 200
	[ "$(field .username)" = testuser ]
}

@test "https: both ports serve both APIs and the page; HTTP stays on its port" {
	local u
	for u in "$HTTPS_URL" "$HTTPS_AUTH_URL"; do
		https GET "$u/api/registration/health"
		assert_code 200
		https GET "$u/api/auth/health"
		assert_code 200
		https GET "$u/.well-known/jwks.json"
		assert_code 200
		https GET "$u/"
		assert_code 200
		grep -q '<title>Magenta</title>' <<<"$body"
	done
	api GET /api/registration/health
	assert_code 200
	[[ $BASE_URL == http://127.0.0.1:* ]]
	# plain HTTP spoken to an HTTPS port is refused
	run curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTPS_PORT/api/auth/health"
	[ "$output" != 200 ]
}

@test "https: the certificate is the stack CA's, for localhost and 127.0.0.1; others refuse it; -k takes it" {
	https GET "https://127.0.0.1:$HTTPS_AUTH_PORT/api/auth/health"
	assert_code 200
	https GET "https://localhost:$HTTPS_PORT/api/registration/health"
	assert_code 200
	# the system's CAs do not know it (curl 60: certificate problem)
	run curl -sS --max-time 5 -o /dev/null "https://localhost:$HTTPS_PORT/api/registration/health"
	[ "$status" = 60 ]
	# nor a name it was not made for
	run curl -sS --max-time 5 -o /dev/null --cacert "$STACK_CACERT" \
		--resolve "other.test:$HTTPS_PORT:127.0.0.1" "https://other.test:$HTTPS_PORT/api/registration/health"
	[ "$status" = 60 ]
	run curl -sS -k --max-time 5 -o /dev/null -w '%{http_code}' "https://localhost:$HTTPS_PORT/api/registration/health"
	[ "$output" = 200 ]
	openssl x509 -in "$STACK_DIR/tls/server.pem" -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1'
	openssl verify -CAfile "$STACK_CACERT" "$STACK_DIR/tls/server.pem"
	# the private key is the owner's alone
	[ "$(stat -c %a "$STACK_DIR/tls/server.key")" = 600 ]
}

@test "https: the private stack sends no HSTS; the production samples show TLS with HSTS" {
	https GET "$HTTPS_URL/api/auth/health"
	assert_code 200
	[ -z "$(header Strict-Transport-Security)" ]
	https GET "$HTTPS_URL/"
	[ -z "$(header Strict-Transport-Security)" ]
	local s=$MAGENTA_PREFIX/etc/magenta/lighttpd.conf.sample a=$MAGENTA_PREFIX/etc/magenta/apache-magenta.conf
	grep -q '"mod_openssl"' "$s"
	grep -q 'ssl.pemfile = "/etc/ssl/magenta/fullchain.pem"' "$s"
	grep -q '"Strict-Transport-Security" => "max-age=63072000' "$s"
	grep -q 'SSLCertificateFile ' "$a"
	grep -q 'Strict-Transport-Security "max-age=63072000' "$a"
}

@test "https: the sample's TLS block is a configuration lighttpd accepts" {
	# the sample with this stack's certificate, ports and directories
	local c=$BATS_TEST_TMPDIR/sample.conf p
	p=$(_stack_free_ports 2)
	sed -e "s|/etc/ssl/magenta/fullchain.pem|$STACK_DIR/tls/server.pem|" \
		-e "s|/etc/ssl/magenta/privkey.pem|$STACK_DIR/tls/server.key|" \
		-e "s|0.0.0.0:443|127.0.0.1:${p% *}|" -e "s|^server.port .*|server.port = ${p#* }|" \
		-e '/^server.username/d' -e '/^server.groupname/d' \
		-e "s|\"/var/log/lighttpd/|\"$BATS_TEST_TMPDIR/|" -e "s|\"/run/lighttpd.pid\"|\"$BATS_TEST_TMPDIR/l.pid\"|" \
		"$MAGENTA_PREFIX/etc/magenta/lighttpd.conf.sample" >"$c"
	run lighttpd -tt -f "$c"
	echo "$output"
	[ "$status" = 0 ]
}
