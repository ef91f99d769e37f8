#!/usr/bin/env bats
# The refresh token as a cookie (refresh_cookie, refresh_cookie_origins;
# docs/auth.md "The refresh cookie"): login and refresh set magenta_refresh
# (HttpOnly, Secure, SameSite=Strict, Path=/api/auth/), refresh and logout
# accept it from an allowed Origin only, the body keeps its refreshToken.
# The stack turns it on for the web page, with its HTTPS origins.

load ../lib/common
load 30-auth

ORIGIN_OK=""

setup_file() {
	auth_config refresh_cookie=on \
		"refresh_cookie_origins = https://localhost:$HTTPS_PORT https://127.0.0.1:$HTTPS_PORT"
}

teardown_file() {
	auth_config_restore
}

setup() {
	reset_db
	ORIGIN_OK=https://localhost:$HTTPS_PORT
	seed_user alice alice@example.com >/dev/null
}

# The last call's Set-Cookie magenta_refresh (every Set-Cookie line is
# looked at): its value in $cookie, the whole line in $cookie_line; both
# empty (and false) when there is none.
set_cookie() {
	cookie_line=$(grep -i "^set-cookie: magenta_refresh=" <<<"$headers" | tail -n 1)
	cookie=${cookie_line#*: magenta_refresh=}
	cookie=${cookie%%;*}
	[ -n "$cookie_line" ]
}

# POST PATH with only the cookie TOKEN and ORIGIN ("" for none), and an
# empty body (Content-Length: 0, as browsers send it).
cookie_post() {
	local -a o=()
	[ -n "$3" ] && o=(-H "Origin: $3")
	api POST "$1" -H "Cookie: other=1; magenta_refresh=$2" "${o[@]}" -d ''
}

@test "refresh cookie: login sets it (HttpOnly, Secure, SameSite=Strict, Path=/api/auth/; the token's life with rememberMe, else a session cookie) and the body keeps refreshToken" {
	login alice
	assert_code 200
	set_cookie
	[ "$cookie" = "$(field .refreshToken)" ]
	[ ${#cookie} = 43 ]
	# no rememberMe: a session cookie (no Max-Age), which the browser
	# forgets when it closes
	[ "$cookie_line" = "set-cookie: magenta_refresh=$cookie; Path=/api/auth/; Secure; HttpOnly; SameSite=Strict" ]
	# and its rotation stays one
	cookie_post /api/auth/refresh "$cookie" "$ORIGIN_OK"
	assert_code 200
	set_cookie
	[ "$cookie_line" = "set-cookie: magenta_refresh=$cookie; Path=/api/auth/; Secure; HttpOnly; SameSite=Strict" ]
	# rememberMe: the cookie lives as long as that token, rotated too
	login alice "$AUTH_PW" '{"rememberMe":true}'
	set_cookie
	[[ $cookie_line == *"; Max-Age=$(field .refreshExpiresIn); Path=/api/auth/; Secure; HttpOnly; SameSite=Strict" ]]
	[ "$(field .refreshExpiresIn)" -gt 86400 ]
	cookie_post /api/auth/refresh "$cookie" "$ORIGIN_OK"
	assert_code 200
	set_cookie
	[[ $cookie_line == *"; Max-Age=$(field .refreshExpiresIn); Path=/api/auth/; Secure; HttpOnly; SameSite=Strict" ]]
	[ "$(field .refreshExpiresIn)" -gt 86400 ]
}

@test "refresh cookie: refresh by the cookie alone (no body) from an allowed Origin rotates it and sets the successor" {
	login alice
	local c1 c2
	set_cookie
	c1=$cookie
	cookie_post /api/auth/refresh "$c1" "$ORIGIN_OK"
	assert_code 200
	set_cookie
	c2=$cookie
	[ "$c2" != "$c1" ]
	[ "$c2" = "$(field .refreshToken)" ]
	me "$(field .accessToken)"
	assert_code 200
	[ "$(field .username)" = alice ]
	# the other allowed origin, and an empty JSON body, work as well
	api POST /api/auth/refresh -H "Cookie: magenta_refresh=$c2" -H "Origin: https://127.0.0.1:$HTTPS_PORT" \
		-H 'Content-Type: application/json' --data-binary '{}'
	assert_code 200
	set_cookie
	[ "$cookie" != "$c2" ]
	# rotation is real: the first cookie, after the grace period, is reuse
	psql_auth "UPDATE refresh_tokens SET used_at = now() - interval '1 hour' WHERE used_at IS NOT NULL" >/dev/null
	cookie_post /api/auth/refresh "$c1" "$ORIGIN_OK"
	assert_code 401
	[ "$(field .error)" = invalid_refresh_token ]
}

@test "refresh cookie: without an allowed Origin the cookie is refused (403 forbidden_origin) and nothing rotates" {
	login alice
	local c o
	set_cookie
	c=$cookie
	for o in "" "https://evil.test" "null" "http://localhost:$HTTPS_PORT" "https://localhost:$HTTPS_PORT/" \
		"https://localhost:$HTTPS_PORT.evil.test"; do
		cookie_post /api/auth/refresh "$c" "$o"
		assert_code 403
		[ "$(field .error)" = forbidden_origin ]
		set_cookie || true
		[ -z "$cookie_line" ]
	done
	[ "$(psql_auth 'SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL')" = 0 ]
	grep -q 'event=cookie_refused reason=origin path=/api/auth/refresh origin="https://evil.test"' \
		"$STACK_DIR/log/lighttpd-error.log"
	# the origin is the client's: quoted and escaped, it cannot forge a key
	cookie_post /api/auth/refresh "$c" 'https://x.test" event=forged'
	assert_code 403
	grep -qF 'reason=origin path=/api/auth/refresh origin="https://x.test\" event=forged"' \
		"$STACK_DIR/log/lighttpd-error.log"
	# and it still works from the page's origin
	cookie_post /api/auth/refresh "$c" "$ORIGIN_OK"
	assert_code 200
}

@test "refresh cookie: every magenta_refresh cookie is tried (another site's, sent first, does not hide the page's)" {
	login alice
	local c planted
	set_cookie
	c=$cookie
	# a sibling subdomain's Domain cookie (or one with a longer Path) comes
	# first in the header: a malformed one, and an unknown token
	planted=$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=')
	api POST /api/auth/refresh -H "Cookie: magenta_refresh=junk; magenta_refresh=$planted; magenta_refresh=$c" \
		-H "Origin: $ORIGIN_OK" -d ''
	assert_code 200
	set_cookie
	[ "$cookie" != "$c" ] && [ "$cookie" = "$(field .refreshToken)" ]
	# logout takes each too: the page's session ends
	api POST /api/auth/logout -H "Cookie: magenta_refresh=$planted; magenta_refresh=$cookie" \
		-H "Origin: $ORIGIN_OK" -d ''
	assert_code 200
	[ "$(psql_auth "SELECT revoked_reason FROM sessions")" = logout ]
	# none of them good: 401, as with one
	api POST /api/auth/refresh -H "Cookie: magenta_refresh=junk; magenta_refresh=$planted" \
		-H "Origin: $ORIGIN_OK" -d ''
	assert_code 401
	[ "$(field .error)" = invalid_refresh_token ]
}

@test "refresh cookie: a body refreshToken is used as before, with or without Origin, whatever cookie comes along" {
	login alice
	local t
	t=$(field .refreshToken)
	api POST /api/auth/refresh -H 'Content-Type: application/json' -H 'Cookie: magenta_refresh=junk' \
		-H 'Origin: https://evil.test' --data-binary "$(jq -cn --arg t "$t" '{refreshToken:$t}')"
	assert_code 200
	# the answer's cookie is the new token
	set_cookie
	[ "$cookie" = "$(field .refreshToken)" ]
	# a body with no token and no cookie: the usual 400
	post_json /api/auth/refresh '{}'
	assert_code 400
	[ "$(field '.errors[0].field')" = refreshToken ]
	api POST /api/auth/refresh -d ''
	assert_code 400
	[ "$(field '.errors[0].code')" = required ]
}

@test "refresh cookie: a bad or unknown cookie is 401 and the answer removes it" {
	cookie_post /api/auth/refresh "not-a-token" "$ORIGIN_OK"
	assert_code 401
	set_cookie
	[[ $cookie_line == *"magenta_refresh=; Max-Age=0; Path=/api/auth/;"* ]]
	cookie_post /api/auth/refresh "$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=')" "$ORIGIN_OK"
	assert_code 401
	set_cookie
	[[ $cookie_line == *"magenta_refresh=; Max-Age=0"* ]]
}

@test "refresh cookie: logout by the cookie ends the session and removes the cookie; from another Origin it is 403 and the session lives" {
	login alice
	local c
	set_cookie
	c=$cookie
	cookie_post /api/auth/logout "$c" "https://evil.test"
	assert_code 403
	[ "$(field .error)" = forbidden_origin ]
	[ "$(psql_auth 'SELECT count(*) FROM sessions WHERE revoked_at IS NULL')" = 1 ]
	cookie_post /api/auth/logout "$c" "$ORIGIN_OK"
	assert_code 200
	set_cookie
	[[ $cookie_line == *"magenta_refresh=; Max-Age=0; Path=/api/auth/; Secure; HttpOnly; SameSite=Strict" ]]
	[ "$(psql_auth "SELECT revoked_reason FROM sessions")" = logout ]
	cookie_post /api/auth/refresh "$c" "$ORIGIN_OK"
	assert_code 401
	# the Bearer logout of the page also sends the cookie: both end
	login alice
	api POST /api/auth/logout -H "Authorization: Bearer $(field .accessToken)" -H "Cookie: magenta_refresh=$(field .refreshToken)" \
		-H "Origin: $ORIGIN_OK" -d ''
	assert_code 200
	[ "$(psql_auth 'SELECT count(*) FROM sessions WHERE revoked_at IS NULL')" = 0 ]
	# the Bearer token alone: the cookie is removed all the same
	login alice
	api POST /api/auth/logout -H "Authorization: Bearer $(field .accessToken)" -d ''
	assert_code 200
	[[ $(header Set-Cookie) == "magenta_refresh=; Max-Age=0;"* ]]
}

@test "refresh cookie: off (the default), login sets no cookie and refresh and logout ignore one" {
	auth_config refresh_cookie=off
	login alice
	assert_code 200
	[ -z "$(header Set-Cookie)" ]
	local c
	c=$(field .refreshToken)
	api POST /api/auth/refresh -H "Cookie: magenta_refresh=$c" -H "Origin: $ORIGIN_OK" -d ''
	assert_code 415
	api POST /api/auth/refresh -H "Cookie: magenta_refresh=$c" -H "Origin: $ORIGIN_OK" \
		-H 'Content-Type: application/json' --data-binary '{}'
	assert_code 400
	cookie_post /api/auth/logout "$c" "$ORIGIN_OK"
	assert_code 400
	[ "$(psql_auth 'SELECT count(*) FROM sessions WHERE revoked_at IS NULL')" = 1 ]
	auth_config refresh_cookie=on \
		"refresh_cookie_origins = https://localhost:$HTTPS_PORT https://127.0.0.1:$HTTPS_PORT"
}

@test "refresh cookie: refresh_cookie_origins entries that are no origin stop magenta-auth at start-up" {
	local f=$BATS_TEST_TMPDIR/bad.conf
	cp "$MAGENTA_CONFIG" "$f"
	printf '%s\n' 'refresh_cookie_origins = https://localhost:7001/app' >>"$f"
	run "$MAGENTA_PREFIX/sbin/magenta-auth" -f "$f" -t
	[ "$status" != 0 ]
	[[ $output == *"refresh_cookie_origins"*"'https://localhost:7001/app' is not an origin"* ]]
	printf '%s\n' 'refresh_cookie_origins = https://localhost:7001 http://[::1]:8080' >>"$f"
	run "$MAGENTA_PREFIX/sbin/magenta-auth" -f "$f" -t
	[ "$status" = 0 ]
}
