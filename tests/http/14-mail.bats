#!/usr/bin/env bats
# Mail (docs/registration.md, "Mail"): the confirmation of an email address
# and the password reset, end to end over real SMTP: registration service ->
# mail_outbox -> magenta-mailer -> a private SMTP server (tests/tools/
# smtp-sink.py, aiosmtpd) whose messages are read here and their links
# followed.

load ../lib/common
load 30-auth
load 11-users

NEW_PW='a reset passphrase here'

setup_file() {
	# quick retries, so that a test of an SMTP outage waits seconds
	export MAGENTA_MAIL_POLL_MS=200 MAGENTA_MAIL_RETRY_MAX_MS=1000
	stack_smtp_start >/dev/null
	stack_daemon_start mailer >/dev/null
}

teardown_file() {
	stack_daemon_stop mailer >/dev/null
	stack_smtp_stop >/dev/null
}

setup() {
	reset_db
	rm -f "$STACK_DIR"/mail/*.eml
}

teardown() {
	auth_config_restore
}

# mails_to ADDR: the files of the messages to ADDR, oldest first.
mails_to() {
	grep -l -x -F "X-Sink-Rcpt-To: $1"$'\r' "$STACK_DIR"/mail/*.eml 2>/dev/null | sort || true
}
_has_mails() { (($(mails_to "$1" | wc -l) >= $2)); }

# wait_mail ADDR [N]: until ADDR has N mails (1), 15 s; MAIL is the newest.
wait_mail() {
	wait_until 15 _has_mails "$1" "${2:-1}" || return 1
	MAIL=$(mails_to "$1" | tail -n 1)
}

# _mail_rows CONDITION N: mail_outbox has N rows where CONDITION holds.
_mail_rows() { [[ $(psql_users "SELECT count(*) FROM mail_outbox WHERE $1") == "$2" ]]; }

# token_of FILE: the token of the link in the mail.
token_of() {
	grep -o 'token=[A-Za-z0-9_-]*' "$1" | head -n 1 | cut -d= -f2
}

confirm() {
	post_json /api/registration/confirm-email "$(jq -cn --arg t "$1" '{token:$t}')"
}

forgot() {
	post_json /api/registration/password/forgot "$(jq -cn --arg e "$1" '{email:$e}')"
}

# forgot_from ADDR EMAIL: the same through a trusted proxy for client ADDR.
forgot_from() {
	api POST /api/registration/password/forgot -H 'Content-Type: application/json' \
		-H "X-Forwarded-For: $1" --data-binary "$(jq -cn --arg e "$2" '{email:$e}')"
}

reset_pw() {
	post_json /api/registration/password/reset \
		"$(jq -cn --arg t "$1" --arg n "$2" --arg c "${3:-$2}" '{token:$t,newPassword:$n,confirmPassword:$c}')"
}

@test "confirm: registration mails a link; following it confirms the address (UserUpdated), and the auth service shows it" {
	new_user alice
	wait_mail alice@example.com
	grep -q -x $'Subject: Confirm your email address\r' "$MAIL"
	grep -q -x $'From: Magenta <no-reply@magenta.test>\r' "$MAIL"
	grep -q -F -e "$HTTPS_URL/confirm-email?token=" "$MAIL"
	grep -q -F 'Hello alice,' "$MAIL"
	local tok
	tok=$(token_of "$MAIL")
	[ ${#tok} = 43 ]
	# the database has the token's hash, and once sent not the token
	[ "$(psql_users "SELECT count(*) FROM email_tokens WHERE purpose = 'confirm' AND length(token_hash) = 32")" = 1 ]
	[ "$(psql_users "SELECT count(*) FROM email_tokens WHERE position('$tok' IN encode(token_hash, 'escape')) > 0")" = 0 ]
	[ "$(psql_users "SELECT sent_at IS NOT NULL, params ? 'token', params->>'username' FROM mail_outbox")" = 't|f|alice' ]
	me "$TOKEN"
	[ "$(field .emailConfirmed)" = false ]
	confirm "$tok"
	assert_code 200
	[ "$(json_of '[.emailConfirmed, .version]')" = '[true,2]' ]
	[ "$(json_of '[.eventType, .changedFields, .data.emailConfirmed]' "$(outbox_last "$UID_")")" = '["UserUpdated",["emailConfirmed"],true]' ]
	wait_applied "$UID_" 2
	me "$TOKEN"
	[ "$(field .emailConfirmed)" = true ]
	# single use
	confirm "$tok"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
}

@test "confirm: a malformed, unknown or expired token -> 400 invalid_token, nothing changes" {
	new_user bob
	wait_mail bob@example.com
	local tok
	tok=$(token_of "$MAIL")
	confirm "not a token"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
	local unknown_body=$body
	confirm "$(printf 'A%.0s' {1..43})"
	assert_code 400
	[ "$body" = "$unknown_body" ]
	post_json /api/registration/confirm-email '{}'
	assert_code 400
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["token:required"]' ]
	psql_users "UPDATE email_tokens SET expires_at = now() - interval '1 second'" >/dev/null
	confirm "$tok"
	assert_code 400
	[ "$body" = "$unknown_body" ]
	[ "$(psql_users "SELECT email_confirmed FROM users WHERE id = '$UID_'")" = f ]
	[ "$(outbox_count "$UID_")" = 1 ]
}

@test "confirm: an email change mails the new address; a token of the old one confirms nothing" {
	new_user alice
	wait_mail alice@example.com
	local old_tok new_tok
	old_tok=$(token_of "$MAIL")
	as "$TOKEN" PATCH /api/registration/users/me \
		"$(jq -cn --arg p "$USER_PW" '{email:"alice2@example.com",currentPassword:$p}')"
	assert_code 200
	[ "$(field .emailConfirmed)" = false ]
	wait_mail alice2@example.com
	new_tok=$(token_of "$MAIL")
	[ "$new_tok" != "$old_tok" ]
	confirm "$old_tok"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
	confirm "$new_tok"
	assert_code 200
	[ "$(json_of '[.email, .emailConfirmed]')" = '["alice2@example.com",true]' ]
}

@test "resend: 202 and one more mail each time; past mail_resend_limit 429 with Retry-After; confirmed -> 409; no token -> 401" {
	new_user alice
	wait_mail alice@example.com
	local i
	for i in 1 2 3; do
		as "$TOKEN" POST /api/registration/users/me/confirm-email/resend
		assert_code 202
	done
	wait_mail alice@example.com 4
	as "$TOKEN" POST /api/registration/users/me/confirm-email/resend
	assert_code 429
	[ "$(field .error)" = too_many_requests ]
	(($(header retry-after) > 0 && $(header retry-after) <= 3600))
	[ "$(psql_users "SELECT count(*) FROM mail_outbox")" = 4 ]
	# each mail has a token of its own; the newest works
	confirm "$(token_of "$MAIL")"
	assert_code 200
	as "$TOKEN" POST /api/registration/users/me/confirm-email/resend
	assert_code 409
	[ "$(field .error)" = already_confirmed ]
	api POST /api/registration/users/me/confirm-email/resend -H 'Content-Length: 0'
	assert_code 401
}

@test "forgot: a known and an unknown address get the same status and body; only the known one is mailed; the address's limit is silent" {
	new_user alice
	wait_mail alice@example.com
	forgot alice@example.com
	assert_code 202
	local known=$body
	forgot nobody@example.com
	assert_code 202
	[ "$body" = "$known" ]
	wait_mail alice@example.com 2
	grep -q -x $'Subject: Reset your password\r' "$MAIL"
	grep -q -F -e "$HTTPS_URL/reset-password?token=" "$MAIL"
	[ "$(psql_users "SELECT count(*) FROM mail_outbox WHERE recipient = 'nobody@example.com'")" = 0 ]
	[ "$(psql_users "SELECT count(*) FROM email_tokens WHERE purpose = 'reset'")" = 1 ]
	# mail_forgot_address_limit (3): more requests are answered alike, unmailed
	local i
	for i in 1 2 3; do
		forgot alice@example.com
		assert_code 202
		[ "$body" = "$known" ]
	done
	[ "$(psql_users "SELECT count(*) FROM mail_outbox WHERE template = 'password-reset'")" = 3 ]
	forgot "not an address"
	assert_code 400
}

@test "forgot: the client's limit counts the X-Forwarded-For client behind a trusted proxy: 429 with Retry-After for it alone" {
	auth_config trusted_proxies=127.0.0.1 mail_forgot_client_limit=2
	forgot_from 203.0.113.7 a@example.com
	assert_code 202
	forgot_from 203.0.113.7 b@example.com
	assert_code 202
	forgot_from 203.0.113.7 c@example.com
	assert_code 429
	[ "$(field .error)" = too_many_requests ]
	(($(header retry-after) > 0))
	forgot_from 203.0.113.8 c@example.com
	assert_code 202
}

@test "reset: the policy first (the token survives a refused password), then a new password: old sessions revoked, the token single use" {
	new_user alice
	wait_mail alice@example.com
	local old_refresh=$REFRESH tok sid
	sid=$(jwt_claims "$TOKEN" | jq -r .sid)
	forgot alice@example.com
	wait_mail alice@example.com 2
	tok=$(token_of "$MAIL")
	reset_pw "$tok" short
	assert_code 400
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["newPassword:too_short"]' ]
	reset_pw "$tok" "$NEW_PW" "another passphrase"
	assert_code 400
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["confirmPassword:mismatch"]' ]
	reset_pw "$tok" alice@example.com
	assert_code 400
	[ "$(json_of '[.errors[].code]')" = '["matches_identity"]' ]
	[ "$(psql_users "SELECT used_at IS NULL FROM email_tokens WHERE purpose = 'reset'")" = t ]
	reset_pw "$tok" "$NEW_PW"
	assert_code 200
	[ "$(field .success)" = true ]
	local ev
	ev=$(outbox_last "$UID_")
	[ "$(json_of '[.eventType, .version, .changedFields]' "$ev")" = '["UserUpdated",2,["passwordHash","securityStamp","emailConfirmed"]]' ]
	wait_applied "$UID_" 2
	[ "$(psql_auth "SELECT revoked_reason IS NOT NULL FROM sessions WHERE id = '$sid'")" = t ]
	refresh "$old_refresh"
	assert_code 401
	login alice "$USER_PW"
	assert_code 401
	login alice "$NEW_PW"
	assert_code 200
	reset_pw "$tok" "yet another passphrase"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
}

@test "reset: the token is spent in a step of its own: a reset whose password write then fails leaves it spent" {
	new_user alice
	wait_mail alice@example.com
	forgot alice@example.com
	wait_mail alice@example.com 2
	local tok
	tok=$(token_of "$MAIL")
	# the password write fails (a trigger refuses it), after the token was spent
	psql_users "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$
		BEGIN RAISE EXCEPTION 'refused by the test'; END \$\$;
		CREATE TRIGGER test_refuse BEFORE UPDATE OF password_hash ON users
		FOR EACH ROW EXECUTE FUNCTION test_refuse()" >/dev/null
	reset_pw "$tok" "$NEW_PW"
	local rc=$code
	psql_users "DROP TRIGGER test_refuse ON users; DROP FUNCTION test_refuse()" >/dev/null
	[ "$rc" = 500 ]
	[ "$(psql_users "SELECT used_at IS NOT NULL FROM email_tokens WHERE purpose = 'reset'")" = t ]
	reset_pw "$tok" "$NEW_PW"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
	login alice "$USER_PW"
	assert_code 200
}

@test "reset: an expired, unknown or malformed token -> 400 invalid_token, the password stays" {
	new_user alice
	wait_mail alice@example.com
	forgot alice@example.com
	wait_mail alice@example.com 2
	local tok
	tok=$(token_of "$MAIL")
	reset_pw "x" "$NEW_PW"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
	psql_users "UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'reset'" >/dev/null
	reset_pw "$tok" "$NEW_PW"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
	# a confirmation token is no reset token
	confirm "$tok"
	assert_code 400
	[ "$(outbox_count "$UID_")" = 1 ]
	login alice "$USER_PW"
	assert_code 200
}

@test "SMTP down: registration is answered 201 at once; the mail goes out once SMTP is back" {
	stack_smtp_stop >/dev/null
	post_json /api/registration/register '{"username":"carol","email":"carol@example.com","password":"lifecycle test pw 1","confirmPassword":"lifecycle test pw 1"}'
	assert_code 201
	wait_until 15 _mail_rows "attempts >= 2 AND last_error IS NOT NULL AND sent_at IS NULL" 1
	[ -z "$(mails_to carol@example.com)" ]
	# magentactl status shows the queue
	local st
	st=$(ctl status --json 2>/dev/null || true)
	jq -e '.outbox.mail.queued == 1 and .outbox.mail.failing == 1' <<<"$st"
	stack_smtp_start >/dev/null
	wait_mail carol@example.com
	[ "$(psql_users "SELECT sent_at IS NOT NULL, last_error IS NULL FROM mail_outbox")" = 't|t' ]
	st=$(ctl status --json 2>/dev/null || true)
	jq -e '.outbox.mail.queued == 0' <<<"$st"
	confirm "$(token_of "$MAIL")"
	assert_code 200
}

@test "mailer: a mail whose token expired before it could be sent is abandoned, its token text gone from the queue" {
	stack_smtp_stop >/dev/null
	new_user dave
	wait_until 15 _mail_rows "attempts >= 1 AND sent_at IS NULL" 1
	psql_users "UPDATE email_tokens SET expires_at = now() - interval '1 second'" >/dev/null
	# the clean-up runs when a mailer starts, then every 10 minutes
	stack_daemon_stop mailer >/dev/null
	stack_daemon_start mailer >/dev/null
	wait_until 15 _mail_rows "NOT params ? 'token' AND last_error LIKE 'not sent:%' AND sent_at IS NULL" 1
	local st
	st=$(ctl status --json 2>/dev/null || true)
	jq -e '.outbox.mail.queued == 0' <<<"$st"
	stack_smtp_start >/dev/null
}

@test "mailer: SMTP AUTH with smtp_user and smtp_password; a wrong password keeps the mail queued" {
	stack_daemon_stop mailer >/dev/null
	stack_smtp_stop >/dev/null
	SMTP_SINK_ARGS="--auth magenta:s3cret-pw" stack_smtp_start >/dev/null
	MAGENTA_SMTP_USER=magenta MAGENTA_SMTP_PASSWORD=wrong stack_daemon_start mailer >/dev/null
	new_user alice
	wait_until 15 _mail_rows "attempts >= 1 AND last_error IS NOT NULL" 1
	[ -z "$(mails_to alice@example.com)" ]
	stack_daemon_stop mailer >/dev/null
	MAGENTA_SMTP_USER=magenta MAGENTA_SMTP_PASSWORD=s3cret-pw stack_daemon_start mailer >/dev/null
	wait_mail alice@example.com
	grep -q -x $'X-Sink-Auth: magenta\r' "$MAIL"
	# the password is never logged
	! grep -q s3cret-pw "$STACK_DIR/log/mailer.log"
	stack_daemon_stop mailer >/dev/null
	stack_smtp_stop >/dev/null
	stack_smtp_start >/dev/null
	stack_daemon_start mailer >/dev/null
}

@test "login_require_confirmed_email: refused with 403 email_not_confirmed only after the right password; the password grant says invalid_grant; confirmed -> 200" {
	auth_config login_require_confirmed_email=on
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		"$(jq -cn --arg p "$USER_PW" '{username:"alice",email:"alice@example.com",password:$p,confirmPassword:$p}')"
	assert_code 201
	UID_=$(field .userId)
	wait_applied "$UID_" 1
	login alice "not the password"
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
	login alice "$USER_PW"
	assert_code 403
	[ "$(field .error)" = email_not_confirmed ]
	local out id secret
	out=$(ctl client add "Mail app" --json)
	id=$(jq -r .clientId <<<"$out")
	secret=$(jq -r .clientSecret <<<"$out")
	api POST /oauth2/token -u "$id:$secret" --data-urlencode grant_type=password \
		--data-urlencode username=alice --data-urlencode "password=$USER_PW"
	assert_code 400
	[ "$(field .error)" = invalid_grant ]
	[[ $(field .error_description) == *confirmed* ]]
	wait_mail alice@example.com
	confirm "$(token_of "$MAIL")"
	assert_code 200
	wait_applied "$UID_" 2
	login alice "$USER_PW"
	assert_code 200
}

# reg_as NAME EMAIL: register NAME with EMAIL; UID_, TOKEN of its login.
reg_as() {
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		"$(jq -cn --arg u "$1" --arg e "$2" --arg p "$USER_PW" '{username:$u,email:$e,password:$p,confirmPassword:$p}')"
	assert_code 201 || return 1
	UID_=$(field .userId)
	wait_applied "$UID_" 1 || return 1
	login "$1" "$USER_PW"
	assert_code 200 || return 1
	TOKEN=$(field .accessToken)
}

# set_email TOKEN EMAIL: PATCH the caller's address.
set_email() {
	as "$1" PATCH /api/registration/users/me \
		"$(jq -cn --arg e "$2" --arg p "$USER_PW" '{email:$e,currentPassword:$p}')"
	assert_code 200
}

@test "reset: an email change spends the open reset tokens (changing back does not revive them); a token of another address than the account's is refused" {
	new_user alice
	wait_mail alice@example.com
	forgot alice@example.com
	wait_mail alice@example.com 2
	local tok
	tok=$(token_of "$MAIL")
	set_email "$TOKEN" alice2@example.com
	[ "$(psql_users "SELECT used_at IS NOT NULL FROM email_tokens WHERE purpose = 'reset'")" = t ]
	set_email "$TOKEN" alice@example.com
	reset_pw "$tok" "$NEW_PW"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
	login alice "$USER_PW"
	assert_code 200
	# a live token sent to an address the account no longer has (written
	# behind the service's back): refused all the same
	forgot alice@example.com
	wait_until 15 _mail_rows "template = 'password-reset'" 2
	wait_mail alice@example.com 4
	tok=$(token_of "$MAIL")
	psql_users "UPDATE users SET email = 'alice3@example.com' WHERE id = '$UID_'" >/dev/null
	reset_pw "$tok" "$NEW_PW"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
	psql_users "UPDATE users SET email = 'alice@example.com' WHERE id = '$UID_'" >/dev/null
	reset_pw "$tok" "$NEW_PW"
	assert_code 200
}

@test "reset: a password change spends the open reset tokens" {
	new_user alice
	wait_mail alice@example.com
	forgot alice@example.com
	wait_mail alice@example.com 2
	local tok
	tok=$(token_of "$MAIL")
	as "$TOKEN" POST /api/registration/users/me/password \
		"$(jq -cn --arg c "$USER_PW" --arg n "$NEW_PW" '{currentPassword:$c,newPassword:$n,confirmPassword:$n}')"
	assert_code 200
	[ "$(psql_users "SELECT used_at IS NOT NULL FROM email_tokens WHERE purpose = 'reset'")" = t ]
	reset_pw "$tok" "yet another passphrase"
	assert_code 400
	[ "$(field .error)" = invalid_token ]
	wait_applied "$UID_" 2
	login alice "$NEW_PW"
	assert_code 200
}

@test "rate: email changes count against resend:<user>: past mail_resend_limit the address changes, no mail is queued" {
	new_user alice
	wait_mail alice@example.com
	local i
	for i in 1 2 3 4; do
		set_email "$TOKEN" "alice$i@example.com"
	done
	[ "$(json_of '[.email, .emailConfirmed]')" = '["alice4@example.com",false]' ]
	[ "$(psql_users "SELECT email FROM users WHERE id = '$UID_'")" = alice4@example.com ]
	# the registration's mail and three of the four changes'
	[ "$(psql_users "SELECT string_agg(recipient, ',' ORDER BY id) FROM mail_outbox")" = alice@example.com,alice1@example.com,alice2@example.com,alice3@example.com ]
	grep -q 'event=mail_rate_limited kind=confirm_email_change' "$STACK_DIR/log/lighttpd-error.log"
	as "$TOKEN" POST /api/registration/users/me/confirm-email/resend
	assert_code 429
}

@test "rate: confirmation mails count per address (mail_confirm_address_limit) at registration, email change and resend" {
	auth_config mail_confirm_address_limit=2
	reg_as usr1 v@example.com
	set_email "$TOKEN" u1@example.com
	reg_as usr2 v@example.com
	set_email "$TOKEN" u2@example.com
	# the third mail to v@: registered all the same, without a mail
	reg_as usr3 v@example.com
	[ "$(psql_users "SELECT count(*) FROM mail_outbox WHERE recipient = 'v@example.com'")" = 2 ]
	[ "$(psql_users "SELECT count(*) FROM email_tokens WHERE user_id = '$UID_'")" = 0 ]
	as "$TOKEN" POST /api/registration/users/me/confirm-email/resend
	assert_code 429
	[ "$(field .error)" = too_many_requests ]
	set_email "$TOKEN" u3@example.com
	# an email change to it: changed, no mail
	set_email "$TOKEN" v@example.com
	[ "$(psql_users "SELECT count(*) FROM mail_outbox WHERE recipient = 'v@example.com'")" = 2 ]
	# a refused registration (409) is rolled back with its count
	psql_users "DELETE FROM mail_rate_limits" >/dev/null
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		"$(jq -cn --arg p "$USER_PW" '{username:"usr4",email:"v@example.com",password:$p,confirmPassword:$p}')"
	assert_code 409
	[ "$(psql_users "SELECT count(*) FROM mail_rate_limits WHERE key = 'confirm-address:v@example.com'")" = 0 ]
}

@test "login_require_confirmed_email: the right password of an unconfirmed account never locks it; once confirmed it logs in" {
	auth_config login_require_confirmed_email=on lockout_threshold=2
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		"$(jq -cn --arg p "$USER_PW" '{username:"alice",email:"alice@example.com",password:$p,confirmPassword:$p}')"
	assert_code 201
	UID_=$(field .userId)
	wait_applied "$UID_" 1
	local i
	for i in 1 2 3 4 5; do
		login alice "$USER_PW"
		assert_code 403
		[ "$(field .error)" = email_not_confirmed ]
	done
	[ "$(psql_auth "SELECT count(*) FROM login_lockouts WHERE user_id = '$UID_'")" = 0 ]
	wait_mail alice@example.com
	confirm "$(token_of "$MAIL")"
	assert_code 200
	wait_applied "$UID_" 2
	login alice "$USER_PW"
	assert_code 200
}

@test "mailer: with smtp_user, -t refuses plain SMTP to another host; smtps://, smtp_starttls or a loopback host are accepted" {
	local bin=$MAGENTA_PREFIX/sbin/magenta-mailer
	run env MAGENTA_SMTP_USER=magenta MAGENTA_SMTP_URL=smtp://mail.example.com:587 "$bin" -f "$MAGENTA_CONFIG" -t
	[ "$status" = 1 ]
	[[ $output == *"event=config_error"*"smtp_user is set"* ]]
	run env MAGENTA_SMTP_USER=magenta MAGENTA_SMTP_URL=smtp://[2001:db8::1]:25 "$bin" -f "$MAGENTA_CONFIG" -t
	[ "$status" = 1 ]
	run env MAGENTA_SMTP_USER=magenta MAGENTA_SMTP_URL=smtps://mail.example.com:465 "$bin" -f "$MAGENTA_CONFIG" -t
	[ "$status" = 0 ]
	run env MAGENTA_SMTP_USER=magenta MAGENTA_SMTP_URL=smtp://mail.example.com:587 MAGENTA_SMTP_STARTTLS=on "$bin" -f "$MAGENTA_CONFIG" -t
	[ "$status" = 0 ]
	local u
	for u in smtp://127.0.0.2:25 smtp://localhost:25 smtp://[::1]:25; do
		run env MAGENTA_SMTP_USER=magenta MAGENTA_SMTP_URL=$u "$bin" -f "$MAGENTA_CONFIG" -t
		[ "$status" = 0 ]
	done
	run env MAGENTA_SMTP_URL=smtp://mail.example.com:25 "$bin" -f "$MAGENTA_CONFIG" -t
	[ "$status" = 0 ]
	# the same at start
	run env MAGENTA_SMTP_USER=magenta MAGENTA_SMTP_URL=smtp://mail.example.com:587 "$bin" -f "$MAGENTA_CONFIG" -d
	[ "$status" = 1 ]
}

_port_open() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

@test "mailer: an attempt counts when the row is leased: a mailer that dies while sending uses it up (mail_max_attempts)" {
	stack_smtp_stop >/dev/null
	# an SMTP server that accepts and never speaks: the delivery hangs
	python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); held = []
while True: held.append(s.accept())' "$SMTP_PORT" >/dev/null 2>&1 3>&- &
	local hang=$!
	wait_until 15 _port_open "$SMTP_PORT"
	new_user alice
	# in flight: counted already, not failed
	wait_until 15 _mail_rows "attempts = 1 AND last_error IS NULL AND sent_at IS NULL" 1
	stack_daemon_kill mailer >/dev/null
	kill "$hang"
	wait "$hang" || true
	stack_smtp_start >/dev/null
	# its lease would end in 90 s: end it now
	psql_users "UPDATE mail_outbox SET next_attempt_at = now()" >/dev/null
	MAGENTA_MAIL_MAX_ATTEMPTS=1 stack_daemon_start mailer >/dev/null
	# a newer mail goes out; the older one, its one attempt used, does not
	new_user bob
	wait_mail bob@example.com
	[ -z "$(mails_to alice@example.com)" ]
	[ "$(psql_users "SELECT attempts, sent_at IS NULL FROM mail_outbox WHERE recipient = 'alice@example.com'")" = '1|t' ]
	stack_daemon_stop mailer >/dev/null
	stack_daemon_start mailer >/dev/null
}

@test "mailer: a link longer than its buffer is a render error: the mail stays unsent with the reason" {
	stack_daemon_stop mailer >/dev/null
	MAGENTA_MAIL_LINK_BASE="http://127.0.0.1/$(printf 'a%.0s' {1..1100})" stack_daemon_start mailer >/dev/null
	new_user alice
	wait_until 15 _mail_rows "attempts >= 1 AND last_error LIKE 'the link is longer%' AND sent_at IS NULL" 1
	[ -z "$(mails_to alice@example.com)" ]
	grep -q 'event=mail_render_failed' "$STACK_DIR/log/mailer.log"
	stack_daemon_stop mailer >/dev/null
	stack_daemon_start mailer >/dev/null
}
