#!/usr/bin/env bats
# The web page (web/, served at / by lighttpd-magenta-web.conf): its
# security headers, its files, and the whole flow in headless Chromium
# (tests/tools/web-flow.py: sign up with a bad password, sign up, sign in,
# profile, reload, display name, sign out, sign in with the email, change
# the password, sign in with it, delete the account), with a
# screenshot per step in $STACK_DIR/log/web-flow/; then the mails' links
# (/confirm-email, /reset-password, served as the page) followed in
# Chromium from the SMTP sink's messages (web-flow.py --mail).  Over HTTPS on the
# stack's port (the refresh cookie is Secure); Chromium reaches 127.0.0.1
# only.

load ../lib/common
load 30-auth

setup_file() {
	stack_daemons_start >/dev/null
}

teardown_file() {
	auth_config_restore
	stack_daemon_stop mailer >/dev/null
	stack_smtp_stop >/dev/null
}

# _eq WANT CMD...: CMD prints WANT.
_eq() {
	local want=$1
	shift
	[ "$("$@")" = "$want" ]
}

# USERNAME has reached the auth database.
_in_auth() { [ "$(psql_auth "SELECT count(*) FROM auth_users WHERE username = '$1'")" = 1 ]; }

# The base64 SHA-256 of the stack certificate's key, for Chromium.
spki() {
	openssl x509 -in "$STACK_DIR/tls/server.pem" -pubkey -noout |
		openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
}

# https PATH [curl args...] on the page's origin.
page() {
	local path=$1
	shift
	_http_call "$HTTPS_URL$path" --cacert "$STACK_CACERT" "$@"
}

# The page's headers on the last answer.
assert_page_headers() {
	local csp
	csp=$(header Content-Security-Policy)
	[[ $csp == *"default-src 'none'"* ]]
	[[ $csp == *"script-src 'self'"* ]]
	[[ $csp == *"style-src 'self'"* ]]
	[[ $csp == *"connect-src 'self'"* ]]
	[[ $csp == *"frame-ancestors 'none'"* ]]
	[[ $csp != *unsafe-inline* && $csp != *unsafe-eval* ]]
	[ "$(header X-Content-Type-Options)" = nosniff ]
	[ "$(header Referrer-Policy)" = no-referrer ]
	[ "$(header X-Frame-Options)" = DENY ]
}

@test "web: / is the page, with CSP (no unsafe-inline, frame-ancestors 'none'), nosniff and Referrer-Policy" {
	page /
	assert_code 200
	[[ $(header Content-Type) == "text/html; charset=utf-8" ]]
	assert_page_headers
	grep -q '<script type="module" src="app.js"></script>' <<<"$body"
	page /app.js
	assert_code 200
	[ "$(header Content-Type)" = "text/javascript; charset=utf-8" ]
	assert_page_headers
	page /app.css
	assert_code 200
	[ "$(header Content-Type)" = "text/css; charset=utf-8" ]
	page /index.html
	assert_code 200
	# on plain HTTP too (the same server configuration)
	api GET /
	assert_code 200
	assert_page_headers
	# nothing else of the disk: no listing, no escape
	page /nope.html
	assert_code 404
	page /../../etc/passwd --path-as-is
	[ "$code" != 200 ]
}

@test "web: the mails' links, /confirm-email and /reset-password, are the page (query kept), with its headers" {
	local path
	for path in /confirm-email /reset-password '/confirm-email?token=abc_DEF-123' '/reset-password?token=abc'; do
		page "$path"
		assert_code 200
		[[ $(header Content-Type) == "text/html; charset=utf-8" ]]
		assert_page_headers
		grep -q '<script type="module" src="app.js"></script>' <<<"$body"
	done
	# the token is not in the access log (once the next request is there,
	# this one is written too)
	page /?logged=mark-60
	wait_until 10 grep -q -F 'logged=mark-60' "$STACK_DIR/log/lighttpd-access.log"
	run grep -c -F abc_DEF-123 "$STACK_DIR/log/lighttpd-access.log"
	[ "$output" = 0 ]
	grep -q -F '"GET /index.html?token=(not logged) HTTP/' "$STACK_DIR/log/lighttpd-access.log"
	# the exact paths only
	page /confirm-email/x
	assert_code 404
	page /reset-passwordx
	assert_code 404
	page /confirm-email.html
	assert_code 404
}

@test "web: the API paths stay the programs' (JSON, their headers), not the page's" {
	page /api/auth/health
	assert_code 200
	[[ $(header Content-Type) == application/json* ]]
	[ -z "$(header Content-Security-Policy)" ]
	page /api/registration/nope
	assert_code 404
	[[ $(header Content-Type) == application/json* ]]
}

@test "web: the installed files are the source's; no inline script or style, no handler attributes, nothing from outside" {
	local f
	for f in index.html app.css app.js; do
		cmp "$MAGENTA_SRC/web/$f" "$MAGENTA_PREFIX/share/magenta/web/$f"
	done
	local h=$MAGENTA_SRC/web/index.html
	# every <script> has a src; no style attributes or elements; no on*= handlers
	[ "$(grep -c '<script' "$h")" = "$(grep -c '<script[^>]* src="app.js"' "$h")" ]
	run grep -nE '<style|style=|[[:space:]]on[a-z]+=' "$h"
	[ "$status" = 1 ]
	# no absolute URL to fetch anything from (a comment's prose aside)
	run grep -nE '(src|href)="(https?:)?//|url\(|@import|fetch\("https?:' "$MAGENTA_SRC"/web/*
	[ "$status" = 1 ]
	# labels for every input; each error element is named by its input
	local ids id
	ids=$(grep -o '<input id="[^"]*"' "$h" | cut -d'"' -f2)
	for id in $ids; do
		grep -q "<label for=\"$id\">" "$h" || { echo "no label for $id"; return 1; }
	done
	for id in $(grep -o 'class="error" id="[^"]*"' "$h" | cut -d'"' -f4); do
		grep -q "aria-describedby=\"[^\"]*$id" "$h" || { echo "$id is named by no input"; return 1; }
	done
}

@test "web: the whole flow in headless Chromium, a screenshot per step" {
	[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
	local shots=$STACK_DIR/log/web-flow
	rm -rf "$shots"
	run timeout 300 /usr/bin/python3 "$BATS_TEST_DIRNAME/../tools/web-flow.py" \
		"$HTTPS_URL/" "$(spki)" "$shots" alice_web alice.web@example.com
	echo "$output"
	[ "$status" = 0 ]
	[[ $output == *"ok outside hosts are unreachable"* ]]
	local n
	n=$(find "$shots" -name '[0-9][0-9]-*.png' | wc -l)
	[ "$n" = 11 ]
	# what the browser did, seen from the server: the account made, renamed
	# and given a new password (UserUpdated), deleted; its sessions ended
	# by the sign-outs (the one after the password change too) and the
	# deletion
	[ "$(psql_users "SELECT count(*) FROM users")" = 0 ]
	[ "$(psql_users "SELECT count(*) FROM deleted_users")" = 1 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE payload->>'eventType' = 'UserUpdated' AND payload->'changedFields' ? 'displayName'")" = 1 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE event_type = 'UserUpdated'")" = 2 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE event_type = 'UserDeleted'")" = 1 ]
	# the first sign-out is a logout; the session of the password change
	# ends by the page's logout or by the consumer's new security stamp,
	# whichever comes first
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE revoked_reason = 'logout'")" -ge 1 ]
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE revoked_reason IN ('logout', 'password_changed')")" -ge 2 ]
	wait_until 20 _eq 0 psql_auth "SELECT count(*) FROM auth_users WHERE deleted_at IS NULL"
	wait_until 20 _eq 0 psql_auth "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"
	# the browser's refreshes came with the page's Origin and the cookie
	grep -q 'event=refresh_ok' "$STACK_DIR/log/lighttpd-error.log"
}

@test "web: the page renews its access token before it expires, through the refresh cookie" {
	# access tokens of 30 s: the page renews after 15
	auth_config access_ttl=30
	post_json /api/registration/register \
		'{"username":"bob_web","email":"bob.web@example.com","password":"plum orchard lantern 42","confirmPassword":"plum orchard lantern 42"}'
	assert_code 201
	wait_until 20 _in_auth bob_web
	local shots=$STACK_DIR/log/web-flow-silent
	rm -rf "$shots"
	run timeout 120 /usr/bin/python3 "$BATS_TEST_DIRNAME/../tools/web-flow.py" --silent-refresh 40 \
		"$HTTPS_URL/" "$(spki)" "$shots" bob_web bob.web@example.com
	echo "$output"
	[ "$status" = 0 ]
	# the server rotated the session's refresh token: the cookie came, from
	# the page's origin
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL")" -ge 1 ]
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE revoked_at IS NULL")" = 1 ]
}

# ADDR has N mails in the sink.
_mails_to() { (($(grep -l -x -F "X-Sink-Rcpt-To: $1"$'\r' "$STACK_DIR"/mail/*.eml 2>/dev/null | wc -l) == $2)); }

@test "web: the mails' links in Chromium: confirm the address (resend, its 429), forgot password, reset with a bad then a good password, sign in" {
	[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
	rm -f "$STACK_DIR"/mail/*.eml
	stack_smtp_start >/dev/null
	stack_daemon_start mailer >/dev/null
	local shots=$STACK_DIR/log/web-flow-mail
	rm -rf "$shots"
	run timeout 300 /usr/bin/python3 "$BATS_TEST_DIRNAME/../tools/web-flow.py" --mail "$STACK_DIR/mail" \
		"$HTTPS_URL/" "$(spki)" "$shots" carol_web carol.web@example.com
	echo "$output"
	[ "$status" = 0 ]
	[ "$(find "$shots" -name '[0-9][0-9]-mail-*.png' | wc -l)" = 8 ]
	# seen from the server: the address confirmed (the registration
	# then three resends, the fourth refused), one reset mail, none for the
	# unknown address, the reset token spent and the new password set
	[ "$(psql_users "SELECT email_confirmed FROM users WHERE username = 'carol_web'")" = t ]
	_mails_to carol.web@example.com 5
	_mails_to nobody.here@example.com 0
	[ "$(psql_users "SELECT count(*) FROM email_tokens WHERE purpose = 'confirm' AND used_at IS NOT NULL")" -ge 1 ]
	[ "$(psql_users "SELECT count(*) FROM email_tokens WHERE purpose = 'reset' AND used_at IS NOT NULL")" = 1 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE event_type = 'UserUpdated' AND payload->'changedFields' ? 'emailConfirmed'")" = 1 ]
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE event_type = 'UserUpdated' AND payload->'changedFields' ? 'passwordHash'")" -ge 1 ]
	grep -q 'event=mail_rate_limited kind=resend' "$STACK_DIR/log/lighttpd-error.log"
	# no token of the mails in a log (the browser's GETs carried them)
	local tok n=0
	for tok in $(grep -ho 'token=[A-Za-z0-9_-]*' "$STACK_DIR"/mail/*.eml | cut -d= -f2); do
		n=$((n + 1))
		if grep -r -l -F -- "$tok" "$STACK_DIR/log"; then return 1; fi
	done
	[ "$n" = 5 ]
}
