#!/usr/bin/env bats
# Trusted devices (OWASP "device cookies") against the lockout DoS, and the
# login identifier checked like registration's before any lookup.  Locks
# after 5 failures, of 60 s (long enough to outlast each test; a test that
# needs one ended ends it in the database), 8 failures a minute per
# address, 127.0.0.1 a trusted proxy so each test speaks for its own
# client addresses (X-Forwarded-For).

load ../lib/common
load 30-auth

CONF=(lockout_threshold=5 lockout_base=60 lockout_max=120 ip_fail_limit=8 trusted_proxies=127.0.0.1)

setup_file() {
	auth_config "${CONF[@]}"
}

teardown_file() {
	auth_config_restore
}

# dlogin ADDR IDENT [PASSWORD] [TOKEN] [CURL ARGS...]: a login from ADDR,
# presenting the device token TOKEN when it is not empty.
dlogin() {
	api POST /api/auth/login -H 'Content-Type: application/json' -H "X-Forwarded-For: $1" "${@:5}" \
		--data-binary "$(jq -cn --arg u "$2" --arg p "${3:-$AUTH_PW}" --arg t "${4:-}" \
			'{usernameOrEmail:$u,password:$p} + (if $t == "" then {} else {deviceToken:$t} end)')"
}

# answer: status, headers but date and x-request-id, and body of the last call.
answer() {
	printf '%s\n%s\n%s' "$code" "$(grep -v '^\(date\|x-request-id\):' <<<"$headers")" "$body"
}

# refused: the last answer is the one fixed 401 of every failed login.
refused() {
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	[ "$(answer)" = "$FAIL_ANSWER" ]
}

# fail_n N IDENT ADDR [TOKEN]: N wrong passwords, each refused.
fail_n() {
	local i
	for ((i = 0; i < $1; i++)); do
		dlogin "$3" "$2" 'wrong password' "${4:-}"
		refused
	done
}

# token_sha256 TOKEN: hex SHA-256 of the token's 32 bytes.
token_sha256() {
	printf '%s=' "$1" | tr '_-' '/+' | base64 -d | sha256sum | cut -d' ' -f1
}

# random_token: 43 base64url characters the server never issued.
random_token() {
	head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='
}

# The fixed 401 (status, headers, body), taken from an unknown user.
setup() {
	reset_db
	dlogin 192.0.2.250 nobody-at-all 'wrong password'
	FAIL_ANSWER=$(answer)
	assert_code 401
	psql_auth "TRUNCATE login_address_failures"
}

@test "device: a victim locked out by an attacker still logs in from its known device; the attacker stays locked" {
	id=$(seed_user Alice alice@example.com)
	# the victim's earlier login made its browser a trusted device
	dlogin 192.0.2.1 Alice
	assert_code 200
	dev=$(field .deviceToken)
	[[ $dev =~ ^[A-Za-z0-9_-]{43}$ ]]
	[ "$dev" != "$(field .refreshToken)" ]
	# stored only as its SHA-256, bound to the account
	[ "$(psql_auth "SELECT user_id FROM login_devices WHERE token_hash = '\\x$(token_sha256 "$dev")'")" = "$id" ]
	[ "$(psql_auth "SELECT count(*) FROM login_devices d WHERE d::text LIKE '%$dev%'")" = 0 ]
	# an attacker's guesses from elsewhere lock the account
	fail_n 6 Alice 198.51.100.1
	[ "$(psql_auth "SELECT locked_until > now() FROM login_lockouts WHERE user_id = '$id'")" = t ]
	# even the right password is refused to untrusted clients, the victim's
	# other browsers included
	dlogin 198.51.100.2 Alice
	refused
	dlogin 192.0.2.1 alice@example.com
	refused
	# the known device gets in, with a new device token in place of its own
	dlogin 192.0.2.1 Alice "$AUTH_PW" "$dev"
	assert_code 200
	[ "$(field .user.id)" = "$id" ]
	dev2=$(field .deviceToken)
	[[ $dev2 =~ ^[A-Za-z0-9_-]{43}$ && $dev2 != "$dev" ]]
	me "$(field .accessToken)"
	assert_code 200
	# the attacker's lock is untouched by the victim's success: still
	# locked, and the old token, now replaced, is untrusted again
	[ "$(psql_auth "SELECT locked_until > now() FROM login_lockouts WHERE user_id = '$id'")" = t ]
	dlogin 198.51.100.1 Alice
	refused
	dlogin 192.0.2.1 Alice "$AUTH_PW" "$dev"
	refused
	[ "$(psql_auth "SELECT count(*) FROM login_devices WHERE user_id = '$id'")" = 1 ]
	# and the new one keeps working
	dlogin 192.0.2.1 Alice "$AUTH_PW" "$dev2"
	assert_code 200
}

@test "device: a device's own wrong passwords lock that device alone, answered like every other failure" {
	id=$(seed_user Bob bob@example.com)
	dlogin 192.0.2.2 Bob
	dev=$(field .deviceToken)
	# threshold failures with the token, then the next one locks the device
	fail_n 6 Bob 192.0.2.2 "$dev"
	[ "$(psql_auth "SELECT locks = 1 AND locked_until > now() FROM login_devices WHERE user_id = '$id'")" = t ]
	# the right password with the locked device: the same 401 as unknown
	# users, wrong passwords and locked accounts
	dlogin 192.0.2.2 Bob "$AUTH_PW" "$dev"
	refused
	# the account was not counted against (no row), and is not locked:
	# untrusted clients log in, and the device's failures were not the
	# address's either
	[ "$(psql_auth "SELECT count(*) FROM login_lockouts")" = 0 ]
	[ "$(psql_auth "SELECT count(*) FROM login_address_failures")" = 0 ]
	dlogin 192.0.2.3 Bob
	assert_code 200
	# once the device's window ends, it gets in again
	psql_auth "UPDATE login_devices SET locked_until = now() WHERE user_id = '$id'"
	dlogin 192.0.2.2 Bob "$AUTH_PW" "$dev"
	assert_code 200
	# parallel guesses with one token cannot get past its threshold
	dev=$(field .deviceToken)
	for i in $(seq 1 12); do
		curl -s -o /dev/null -H 'Content-Type: application/json' -H "X-Forwarded-For: 198.51.100.$i" \
			--data-binary "{\"usernameOrEmail\":\"Bob\",\"password\":\"wrong password\",\"deviceToken\":\"$dev\"}" \
			"$BASE_URL/api/auth/login" &
	done
	wait
	log=$STACK_DIR/log/lighttpd-error.log
	checked=$(grep -c "event=login_failed reason=bad_password user=$id addr=198.51.100.[0-9]* trusted=1" "$log" || true)
	locked=$(grep -c "event=login_failed reason=device_locked user=$id addr=198.51.100.[0-9]* trusted=1" "$log" || true)
	echo "checked $checked, refused as locked $locked"
	((checked == 5 && locked == 7))
}

@test "device: a token is bound to its account, its password and its lifetime" {
	a=$(seed_user Carol carol@example.com)
	b=$(seed_user Dan dan@example.com)
	dlogin 192.0.2.4 Carol
	carol_dev=$(field .deviceToken)
	dlogin 192.0.2.4 Dan
	dan_dev=$(field .deviceToken)
	fail_n 6 Dan 198.51.100.20
	# a new password (new security stamp) makes Dan's device untrusted
	psql_auth "UPDATE auth_users SET security_stamp = md5(random()::text) WHERE id = '$b'"
	dlogin 192.0.2.4 Dan "$AUTH_PW" "$dan_dev"
	refused
	# Carol's token gives nothing for Dan, even were their stamps equal:
	# Dan is locked for it, and Carol's device counted nothing
	psql_auth "UPDATE auth_users SET security_stamp = (SELECT security_stamp FROM auth_users WHERE id = '$a') WHERE id = '$b'"
	dlogin 192.0.2.4 Dan "$AUTH_PW" "$carol_dev"
	refused
	[ "$(psql_auth "SELECT failures FROM login_devices WHERE user_id = '$a'")" = 0 ]
	# a token the server never issued, likewise
	dlogin 192.0.2.4 Dan "$AUTH_PW" "$(random_token)"
	refused
	# an expired token is untrusted too
	fail_n 6 Carol 198.51.100.21
	psql_auth "UPDATE login_devices SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second' WHERE user_id = '$a'"
	dlogin 192.0.2.4 Carol "$AUTH_PW" "$carol_dev"
	refused
	# not a token at all: 400, before any lookup
	dlogin 192.0.2.4 Carol "$AUTH_PW" 'not-a-device-token'
	assert_code 400
	[ "$(field '.errors[0].field'):$(field '.errors[0].code')" = deviceToken:invalid_format ]
	post_json /api/auth/login '{"usernameOrEmail":"Carol","password":"x","deviceToken":5}'
	assert_code 400
	[ "$(field '.errors[0].field'):$(field '.errors[0].code')" = deviceToken:invalid_type ]
}

@test "device: the per-address 429 does not refuse a trusted device's right password" {
	id=$(seed_user Erin erin@example.com)
	dlogin 192.0.2.5 Erin
	dev=$(field .deviceToken)
	# 8 failures from one address (the limit)
	for i in 1 2 3 4 5 6 7 8; do
		dlogin 203.0.113.9 "nobody$i" 'wrong password'
		refused
	done
	# untrusted: 429, even with the right password or a foreign token
	dlogin 203.0.113.9 Erin
	assert_code 429
	dlogin 203.0.113.9 Erin "$AUTH_PW" "$(random_token)"
	assert_code 429
	# the trusted device from that address: its wrong password is checked
	# (and counted against the device, not the address), its right one
	# logs in
	dlogin 203.0.113.9 Erin 'wrong password' "$dev"
	refused
	[ "$(psql_auth "SELECT failures FROM login_devices WHERE user_id = '$id'")" = 1 ]
	[ "$(psql_auth "SELECT failures FROM login_address_failures WHERE address = '203.0.113.9'")" = 8 ]
	dlogin 203.0.113.9 Erin "$AUTH_PW" "$dev"
	assert_code 200
	dlogin 203.0.113.9 Erin
	assert_code 429
}

@test "identifier: not a username nor an email address by registration's rules: 400 before any lookup" {
	seed_user alice alice@example.com >/dev/null
	# U+0130 (capital I with dot above), which lower() may fold to "i"
	# (UTF-8 written out: U+0130, U+0131 dotless i, U+FF41 fullwidth a,
	# U+00A0 no-break space, U+00E5, U+00E4)
	for ident in $'al\xc4\xb0ce' $'AL\xc4\xb0CE' $'al\xc4\xb1ce' $'\xef\xbd\x81lice' $'alice\xc2\xa0' \
		$'\xc3\xa5lice' $'al\xc4\xb0ce@example.com' $'alice@ex\xc3\xa4mple.com' 'al ice' 'al.ice' 'ab' \
		'alice@' '@example.com' 'alice@example' "$(printf 'a%.0s' {1..51})"; do
		dlogin 192.0.2.6 "$ident"
		assert_code 400
		[ "$(field '.errors[0].field'):$(field '.errors[0].code')" = usernameOrEmail:invalid_format ]
	done
	# nothing was looked up or counted
	[ "$(psql_auth "SELECT count(*) FROM login_address_failures")" = 0 ]
	[ "$(psql_auth "SELECT count(*) FROM login_lockouts")" = 0 ]
	[ "$(psql_auth "SELECT count(*) FROM sessions")" = 0 ]
	# ASCII letter case still does not matter
	dlogin 192.0.2.6 ALICE
	assert_code 200
	dlogin 192.0.2.6 Alice@Example.COM
	assert_code 200
}

@test "device cookie: device_cookie = on sends an HttpOnly cookie instead of the body member, and reads it back" {
	auth_config "${CONF[@]}" device_cookie=on
	id=$(seed_user Frank frank@example.com)
	dlogin 192.0.2.7 Frank
	assert_code 200
	[ "$(field 'has("deviceToken")')" = false ]
	re='^magenta_device=([A-Za-z0-9_-]{43}); Max-Age=7776000; Path=/api/auth/login; Secure; HttpOnly; SameSite=Strict$'
	[[ $(header Set-Cookie) =~ $re ]]
	dev=${BASH_REMATCH[1]}
	[ "$(psql_auth "SELECT count(*) FROM login_devices WHERE token_hash = '\\x$(token_sha256 "$dev")' AND user_id = '$id'")" = 1 ]
	fail_n 6 Frank 198.51.100.30
	# the cookie, among others, is the trusted device
	dlogin 192.0.2.7 Frank "$AUTH_PW" '' -H "Cookie: theme=dark; magenta_device=$dev"
	assert_code 200
	[[ $(header Set-Cookie) =~ $re ]]
	dev2=${BASH_REMATCH[1]}
	[ "$dev2" != "$dev" ]
	# a failed login sets no cookie: the one 401
	dlogin 198.51.100.30 Frank
	refused
	# with the option off, a cookie is no device token
	auth_config "${CONF[@]}"
	dlogin 192.0.2.7 Frank "$AUTH_PW" '' -H "Cookie: magenta_device=$dev2"
	refused
	dlogin 192.0.2.7 Frank "$AUTH_PW" "$dev2"
	assert_code 200
}
