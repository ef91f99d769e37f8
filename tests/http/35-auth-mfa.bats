#!/usr/bin/env bats
# The TOTP second factor (docs/auth.md, "Second factor"): enrolment with the
# password, confirmation with a first code, login's mfa_required and
# /api/auth/mfa/verify, single use, the lockout, recovery codes, disabling.
# Codes are computed by an independent implementation, Python's pyotp.
# Short lock windows here (threshold 3, 2 s doubling up to 4 s) and an
# issuer that needs escaping in the otpauth:// URI.

load ../lib/common
load 30-auth

MFA_ISSUER='ACME & Co: Test/1'

setup_file() {
	auth_config lockout_threshold=3 lockout_base=2 lockout_max=4 "mfa_issuer = $MFA_ISSUER"
}

# a test that changed the configuration puts the file's back
teardown() {
	if [[ -n ${OWN_CONFIG:-} ]]; then
		auth_config lockout_threshold=3 lockout_base=2 lockout_max=4 "mfa_issuer = $MFA_ISSUER"
	fi
	true
}

teardown_file() {
	auth_config_restore
}

# totp SECRET [OFFSET]: pyotp's code for now + OFFSET seconds.
totp() {
	"$PY" -c 'import pyotp, sys, time; print(pyotp.TOTP(sys.argv[1]).at(time.time() + int(sys.argv[2])))' \
		"$1" "${2:-0}"
}

# early_in_step: at least 8 s are left in the current 30 s step (so that a
# test's codes all fall in the steps it means).
early_in_step() { (($(date +%s) % 30 < 22)); }

# bearer TOKEN METHOD PATH [JSON]: an authenticated call.
bearer() {
	api "$2" "$3" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		${4:+--data-binary "$4"}
}

# enrolled NAME EMAIL: a user with a confirmed TOTP; sets UID_, AT (an
# access token of the session that enrolled), DEV (its device token),
# SECRET and CODES (the
# recovery codes, one per line).  The confirmation used the previous
# step's code, so the current step's and the next are still unused.
enrolled() {
	wait_until 30 early_in_step
	UID_=$(seed_user "$1" "$2")
	login "$2"
	assert_code 200
	AT=$(field .accessToken)
	DEV=$(field .deviceToken)
	bearer "$AT" POST /api/auth/mfa/totp "$(jq -cn --arg p "$AUTH_PW" '{password:$p}')"
	assert_code 200
	SECRET=$(field .secret)
	bearer "$AT" POST /api/auth/mfa/totp/confirm "{\"code\":\"$(totp "$SECRET" -30)\"}"
	assert_code 200
	CODES=$(field '.recoveryCodes[]')
}

# mfa_login IDENT: a login that must answer mfa_required; sets TICKET.
mfa_login() {
	login "$1"
	assert_code 403
	[ "$(field .error)" = mfa_required ]
	TICKET=$(field .mfaTicket)
	[[ $TICKET =~ ^[A-Za-z0-9_-]{43}$ ]]
}

# verify TICKET CODE
verify() {
	post_json /api/auth/mfa/verify "$(jq -cn --arg t "$1" --arg c "$2" '{ticket:$t,code:$c}')"
}

failures() {
	psql_auth "SELECT coalesce((SELECT failures FROM login_lockouts WHERE user_id = '$UID_'), 0)"
}

@test "mfa: enrol, confirm, then login asks for a code and verify completes it with the token pair" {
	wait_until 30 early_in_step
	id=$(seed_user Alice alice@example.com)
	login Alice
	assert_code 200
	at=$(field .accessToken)
	bearer "$at" GET /api/auth/mfa/totp
	assert_code 200
	[ "$body" = '{"enabled":false,"pending":false,"recoveryCodesLeft":0}' ]
	bearer "$at" POST /api/auth/mfa/totp "$(jq -cn --arg p "$AUTH_PW" '{password:$p}')"
	assert_code 200
	[ "$(header Cache-Control)" = no-store ]
	secret=$(field .secret)
	[[ $secret =~ ^[A-Z2-7]{32}$ ]]
	[ "$(field .digits)/$(field .period)/$(field .algorithm)" = 6/30/SHA1 ]
	# the secret is stored sealed: neither its base32 nor its bytes are in the row
	hex=$("$PY" -c 'import base64, sys; print(base64.b32decode(sys.argv[1]).hex())' "$secret")
	[ "$(psql_auth "SELECT count(*) FROM mfa_totp m WHERE user_id = '$id' AND confirmed_at IS NULL
		AND position('\\x$hex'::bytea IN secret_sealed) = 0 AND m::text NOT LIKE '%$secret%'")" = 1 ]
	# pending: login is not asked for a code yet
	bearer "$at" GET /api/auth/mfa/totp
	[ "$(field .pending)" = true ]
	login Alice
	assert_code 200
	# a wrong first code does not enable it
	bearer "$at" POST /api/auth/mfa/totp/confirm '{"code":"000000"}'
	[ "$code" = 400 ] || [ "$(totp "$secret")" = 000000 ]
	bearer "$at" POST /api/auth/mfa/totp/confirm "{\"code\":\"$(totp "$secret" -30)\"}"
	assert_code 200
	[ "$(field .enabled)" = true ]
	[ "$(field '.recoveryCodes | length')" = 10 ]
	[ "$(field '[.recoveryCodes[] | test("^[a-z2-7]{4}(-[a-z2-7]{4}){3}$")] | all')" = true ]
	# stored hashed only
	rc1=$(field '.recoveryCodes[0]')
	[ "$(psql_auth "SELECT count(*) FROM mfa_recovery_codes c WHERE user_id = '$id' AND c::text NOT LIKE '%${rc1:0:4}%${rc1:5:4}%'")" = 10 ]
	bearer "$at" GET /api/auth/mfa/totp
	[ "$body" = '{"enabled":true,"pending":false,"recoveryCodesLeft":10}' ]
	# enrolling again while enabled is refused
	bearer "$at" POST /api/auth/mfa/totp "$(jq -cn --arg p "$AUTH_PW" '{password:$p}')"
	assert_code 409
	[ "$(field .error)" = mfa_enabled ]

	# login: the password alone opens no session
	sessions=$(psql_auth "SELECT count(*) FROM sessions")
	mfa_login alice@example.com
	[ "$(field .expiresIn)" = 300 ]
	[ "$(field 'has("accessToken") or has("refreshToken")')" = false ]
	[ "$(psql_auth "SELECT count(*) FROM sessions")" = "$sessions" ]
	# only the ticket's hash is stored
	[ "$(psql_auth "SELECT count(*) FROM mfa_tickets t WHERE t::text LIKE '%$TICKET%'")" = 0 ]
	verify "$TICKET" "$(totp "$secret")"
	assert_code 200
	[ "$(field .tokenType)" = Bearer ]
	[ "$(field .user.id)" = "$id" ]
	rt=$(field .refreshToken)
	[[ $rt =~ ^[A-Za-z0-9_-]{43}$ ]]
	# the stack's refresh_cookie is on: the page's cookie, as at login
	grep -qi "^set-cookie: magenta_refresh=$rt;.*HttpOnly" <<<"$headers"
	me "$(field .accessToken)"
	assert_code 200
	refresh "$rt"
	assert_code 200
	# the ticket is spent
	verify "$TICKET" "$(totp "$secret" 30)"
	assert_code 401
	[ "$(field .error)" = invalid_ticket ]
	[ "$(psql_auth "SELECT count(*) FROM mfa_tickets")" = 0 ]
}

@test "mfa: a code is single-use within its window; the next step's code works" {
	enrolled Bob bob@example.com
	mfa_login Bob
	c=$(totp "$SECRET")
	verify "$TICKET" "$c"
	assert_code 200
	# the same code again, with a new ticket: refused, and counted
	mfa_login Bob
	before=$(failures)
	verify "$TICKET" "$c"
	assert_code 401
	[ "$(field .error)" = invalid_code ]
	[ "$(failures)" = $((before + 1)) ]
	# the previous step's code is older than the one used: refused too
	verify "$TICKET" "$(totp "$SECRET" -30)"
	assert_code 401
	# the next step's code is new (the lock aside: this would be the
	# fourth attempt, which threshold 3 refuses before it looks)
	psql_auth "DELETE FROM login_lockouts" >/dev/null
	verify "$TICKET" "$(totp "$SECRET" 30)"
	assert_code 200
}

@test "mfa: wrong codes count toward the account's lockout; a locked account's right code is refused" {
	enrolled Carol carol@example.com
	mfa_login Carol
	# the login's own attempt is counted until its second factor is given
	[ "$(failures)" = 1 ]
	right=$(totp "$SECRET")
	wrong=$(printf '%06d' $(((10#$right + 1) % 1000000)))
	verify "$TICKET" "$wrong"
	assert_code 401
	[ "$(field .error)" = invalid_code ]
	[ "$(failures)" = 2 ]
	verify "$TICKET" 12345x
	assert_code 401
	[ "$(failures)" = 3 ]
	# the fourth attempt locks (threshold 3): counted before its code is
	# checked, as a login's is, it is refused, with the lock's seconds left
	verify "$TICKET" "$wrong"
	assert_code 429
	[ "$(field .error)" = too_many_attempts ]
	[[ $(header Retry-After) =~ ^[12]$ ]]
	[ "$(psql_auth "SELECT locked_until > now() FROM login_lockouts WHERE user_id = '$UID_'")" = t ]
	verify "$TICKET" "$right"
	assert_code 429
	[ "$(field .error)" = too_many_attempts ]
	[[ $(header Retry-After) =~ ^[12]$ ]]
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE user_id = '$UID_'")" = 1 ] # the enrolling one
	# and the login itself is locked
	login Carol
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ]
}

@test "mfa: a ticket allows five codes, then is used up" {
	enrolled Dave dave@example.com
	mfa_login Dave
	for i in 1 2 3 4 5; do
		# the account's lock aside (tested above): the ticket's own limit
		psql_auth "DELETE FROM login_lockouts" >/dev/null
		verify "$TICKET" 999999
		assert_code 401
		[ "$(field .error)" = invalid_code ] || [ "$(totp "$SECRET")" = 999999 ]
	done
	verify "$TICKET" "$(totp "$SECRET")"
	assert_code 401
	[ "$(field .error)" = invalid_ticket ]
}

@test "mfa: an expired ticket, a garbage ticket and a missing code are refused" {
	enrolled Erin erin@example.com
	mfa_login Erin
	psql_auth "UPDATE mfa_tickets SET created_at = now() - interval '10 minutes',
		expires_at = now() - interval '1 second'" >/dev/null
	verify "$TICKET" "$(totp "$SECRET")"
	assert_code 401
	[ "$(field .error)" = invalid_ticket ]
	verify "not-a-ticket" "$(totp "$SECRET")"
	assert_code 401
	[ "$(field .error)" = invalid_ticket ]
	verify "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$(totp "$SECRET")"
	assert_code 401
	[ "$(field .error)" = invalid_ticket ]
	post_json /api/auth/mfa/verify '{"ticket":"x"}'
	assert_code 400
	[ "$(field '.errors[0].field')" = code ]
	post_json /api/auth/mfa/verify '{"code":"123456"}'
	assert_code 400
	[ "$(field '.errors[0].field')" = ticket ]
	# a ticket made before a password change (new security stamp) is void
	mfa_login Erin
	psql_auth "UPDATE auth_users SET security_stamp = md5(random()::text) WHERE id = '$UID_'" >/dev/null
	verify "$TICKET" "$(totp "$SECRET")"
	assert_code 401
	[ "$(field .error)" = invalid_ticket ]
}

@test "mfa: a recovery code completes a login once" {
	enrolled Frank frank@example.com
	rc=$(head -n1 <<<"$CODES")
	mfa_login Frank
	# in upper case and without dashes, as a user may type it
	verify "$TICKET" "$(tr a-z A-Z <<<"${rc//-/}")"
	assert_code 200
	bearer "$(field .accessToken)" GET /api/auth/mfa/totp
	[ "$(field .recoveryCodesLeft)" = 9 ]
	mfa_login Frank
	verify "$TICKET" "$rc"
	assert_code 401
	[ "$(field .error)" = invalid_code ]
	verify "$TICKET" "$(sed -n 2p <<<"$CODES")"
	assert_code 200
}

@test "mfa: enrolment needs a live session and the current password" {
	id=$(seed_user Grace grace@example.com)
	api POST /api/auth/mfa/totp -H 'Content-Type: application/json' --data-binary "{\"password\":\"$AUTH_PW\"}"
	assert_code 401
	login Grace
	at=$(field .accessToken)
	bearer "$at" POST /api/auth/mfa/totp '{}'
	assert_code 400
	[ "$(field '.errors[0].field')" = password ]
	bearer "$at" POST /api/auth/mfa/totp '{"password":"wrong password"}'
	assert_code 403
	[ "$(field .error)" = invalid_password ]
	# counted as a failed login
	UID_=$id
	[ "$(failures)" = 1 ]
	[ "$(psql_auth "SELECT count(*) FROM mfa_totp")" = 0 ]
	# a revoked session cannot enrol
	psql_auth "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'" >/dev/null
	bearer "$at" POST /api/auth/mfa/totp "$(jq -cn --arg p "$AUTH_PW" '{password:$p}')"
	assert_code 401
	[ "$(psql_auth "SELECT count(*) FROM mfa_totp")" = 0 ]
}

@test "mfa: disabling needs the password and a code; then login needs none" {
	enrolled Heidi heidi@example.com
	bearer "$AT" DELETE /api/auth/mfa/totp "$(jq -cn --arg p 'wrong password' --arg c "$(totp "$SECRET")" '{password:$p,code:$c}')"
	assert_code 403
	[ "$(field .error)" = invalid_password ]
	bearer "$AT" DELETE /api/auth/mfa/totp "$(jq -cn --arg p "$AUTH_PW" '{password:$p,code:"000000"}')"
	assert_code 403
	[ "$(field .error)" = invalid_code ] || [ "$(totp "$SECRET")" = 000000 ]
	bearer "$AT" DELETE /api/auth/mfa/totp "$(jq -cn --arg p "$AUTH_PW" '{password:$p}')"
	assert_code 400
	[ "$(psql_auth "SELECT count(*) FROM mfa_totp WHERE confirmed_at IS NOT NULL")" = 1 ]
	mfa_login Heidi
	# the two failures and the login's attempt: the fourth attempt locks
	# (threshold 3), before its password is checked
	[ "$(failures)" = 3 ]
	bearer "$AT" POST /api/auth/mfa/totp/disable "$(jq -cn --arg p "$AUTH_PW" --arg c "$(totp "$SECRET")" '{password:$p,code:$c}')"
	assert_code 429
	[ "$(field .error)" = too_many_attempts ]
	[[ $(header Retry-After) =~ ^[12]$ ]]
	[ "$(psql_auth "SELECT count(*) FROM mfa_totp WHERE confirmed_at IS NOT NULL")" = 1 ]
	psql_auth "UPDATE login_lockouts SET locked_until = now()" >/dev/null
	# the POST form, with the current code
	bearer "$AT" POST /api/auth/mfa/totp/disable "$(jq -cn --arg p "$AUTH_PW" --arg c "$(totp "$SECRET")" '{password:$p,code:$c}')"
	assert_code 200
	[ "$body" = '{"enabled":false}' ]
	[ "$(psql_auth "SELECT (SELECT count(*) FROM mfa_totp) + (SELECT count(*) FROM mfa_recovery_codes)
		+ (SELECT count(*) FROM mfa_tickets)")" = 0 ]
	# the ticket of before is gone with it
	verify "$TICKET" "$(totp "$SECRET" 30)"
	assert_code 401
	login Heidi
	assert_code 200
	[ "$(field .tokenType)" = Bearer ]
}

@test "mfa: the otpauth URI escapes the issuer and the username; a standard URI parser reads them back" {
	id=$(seed_user 'Zoë & Co:x/y?' zoe@example.com)
	login zoe@example.com
	assert_code 200
	bearer "$(field .accessToken)" POST /api/auth/mfa/totp "$(jq -cn --arg p "$AUTH_PW" '{password:$p}')"
	assert_code 200
	uri=$(field .otpauthUri)
	secret=$(field .secret)
	[ "$uri" = "otpauth://totp/ACME%20%26%20Co%3A%20Test%2F1:Zo%C3%AB%20%26%20Co%3Ax%2Fy%3F?secret=$secret&issuer=ACME%20%26%20Co%3A%20Test%2F1&algorithm=SHA1&digits=6&period=30" ]
	# the label splits at its one unescaped ':'; pyotp's code from the
	# secret read back is the one the service accepts
	run "$PY" -c 'import sys, urllib.parse as u, pyotp
p = u.urlsplit(sys.argv[1])
issuer, name = [u.unquote(x) for x in p.path[1:].split(":")]
q = dict(u.parse_qsl(p.query))
print(p.scheme, p.netloc, issuer, name, q["issuer"], q["secret"], sep="|")
print(pyotp.TOTP(q["secret"]).at(0) == pyotp.TOTP(sys.argv[2]).at(0))' "$uri" "$secret"
	[ "$status" = 0 ]
	[ "${lines[0]}" = "otpauth|totp|$MFA_ISSUER|Zoë & Co:x/y?|$MFA_ISSUER|$secret" ]
	[ "${lines[1]}" = True ]
}

@test "mfa: the OAuth password grant refuses an enrolled user (invalid_grant); the login API works" {
	enrolled Ivan ivan@example.com
	out=$("$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" client add "MFA app" --json)
	cid=$(jq -r .clientId <<<"$out")
	csecret=$(jq -r .clientSecret <<<"$out")
	api POST /oauth2/token -u "$cid:$csecret" --data-urlencode grant_type=password \
		--data-urlencode username=Ivan --data-urlencode "password=$AUTH_PW"
	assert_code 400
	[ "$(field .error)" = invalid_grant ]
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE client_id IS NOT NULL")" = 0 ]
	mfa_login Ivan
	verify "$TICKET" "$(totp "$SECRET")"
	assert_code 200
}

@test "mfa: a deleted user's second factor is removed with them" {
	enrolled Judy judy@example.com
	mfa_login Judy
	[ "$(psql_auth "SELECT (SELECT count(*) FROM mfa_totp) || '/' || (SELECT count(*) FROM mfa_recovery_codes)
		|| '/' || (SELECT count(*) FROM mfa_tickets)")" = 1/10/1 ]
	# as the consumer applies UserDeleted
	psql_auth "UPDATE auth_users SET deleted_at = now(), password_hash = '' WHERE id = '$UID_'" >/dev/null
	[ "$(psql_auth "SELECT (SELECT count(*) FROM mfa_totp) || '/' || (SELECT count(*) FROM mfa_recovery_codes)
		|| '/' || (SELECT count(*) FROM mfa_tickets)")" = 0/0/0 ]
	verify "$TICKET" "$(totp "$SECRET")"
	assert_code 401
}

@test "mfa: a trusted device still needs a code; verify replaces its device token" {
	enrolled Ken ken@example.com
	dev=$DEV
	login Ken "$AUTH_PW" "$(jq -cn --arg d "$dev" '{deviceToken:$d}')"
	assert_code 403
	[ "$(field .error)" = mfa_required ]
	ticket=$(field .mfaTicket)
	# the login's attempt is counted against the device, not the account
	[ "$(failures)" = 0 ]
	[ "$(psql_auth "SELECT failures FROM login_devices WHERE user_id = '$UID_'")" = 1 ]
	verify "$ticket" "$(totp "$SECRET")"
	assert_code 200
	dev2=$(field .deviceToken)
	[[ $dev2 =~ ^[A-Za-z0-9_-]{43}$ ]] && [ "$dev2" != "$dev" ]
	# the device presented is replaced by the new one, its count gone with it
	[ "$(psql_auth "SELECT count(*) || '/' || sum(failures) FROM login_devices WHERE user_id = '$UID_'")" = 1/0 ]
}

@test "mfa: a pending enrolment takes five wrong codes, then is discarded; it expires after ten minutes" {
	wait_until 30 early_in_step
	UID_=$(seed_user Nina nina@example.com)
	login Nina
	AT=$(field .accessToken)
	pw=$(jq -cn --arg p "$AUTH_PW" '{password:$p}')
	bearer "$AT" POST /api/auth/mfa/totp "$pw"
	assert_code 200
	SECRET=$(field .secret)
	right=$(totp "$SECRET")
	wrong=$(printf '%06d' $(((10#$right + 500000) % 1000000)))
	for i in 1 2 3 4; do
		bearer "$AT" POST /api/auth/mfa/totp/confirm "{\"code\":\"$wrong\"}"
		assert_code 400
		[ "$(field .error)" = invalid_code ]
	done
	[ "$(psql_auth "SELECT confirm_attempts FROM mfa_totp WHERE user_id = '$UID_'")" = 4 ]
	bearer "$AT" GET /api/auth/mfa/totp
	[ "$(field .pending)" = true ]
	# the fifth wrong code is the last: the secret is gone
	bearer "$AT" POST /api/auth/mfa/totp/confirm "{\"code\":\"$wrong\"}"
	assert_code 400
	[ "$(field .error)" = invalid_code ]
	[ "$(psql_auth "SELECT count(*) FROM mfa_totp")" = 0 ]
	bearer "$AT" GET /api/auth/mfa/totp
	[ "$(field .pending)" = false ]
	bearer "$AT" POST /api/auth/mfa/totp/confirm "{\"code\":\"$right\"}"
	assert_code 409
	[ "$(field .error)" = mfa_not_pending ]
	# enrol again: a new secret and a new count
	bearer "$AT" POST /api/auth/mfa/totp "$pw"
	assert_code 200
	SECRET=$(field .secret)
	bearer "$AT" POST /api/auth/mfa/totp/confirm "{\"code\":\"$(printf '%06d' $(((10#$(totp "$SECRET") + 500000) % 1000000)))\"}"
	assert_code 400
	[ "$(psql_auth "SELECT confirm_attempts FROM mfa_totp WHERE user_id = '$UID_'")" = 1 ]
	# ten minutes old: expired, even with the right code, and removed
	psql_auth "UPDATE mfa_totp SET created_at = now() - interval '10 minutes 1 second'" >/dev/null
	bearer "$AT" GET /api/auth/mfa/totp
	[ "$(field .pending)" = false ]
	bearer "$AT" POST /api/auth/mfa/totp/confirm "{\"code\":\"$(totp "$SECRET")\"}"
	assert_code 409
	[ "$(field .error)" = mfa_not_pending ]
	[ "$(psql_auth "SELECT count(*) FROM mfa_totp")" = 0 ]
	# nine minutes old: still confirmable
	bearer "$AT" POST /api/auth/mfa/totp "$pw"
	assert_code 200
	SECRET=$(field .secret)
	psql_auth "UPDATE mfa_totp SET created_at = now() - interval '9 minutes'" >/dev/null
	bearer "$AT" POST /api/auth/mfa/totp/confirm "{\"code\":\"$(totp "$SECRET")\"}"
	assert_code 200
	[ "$(field .enabled)" = true ]
}

@test "mfa: parallel verifies on several tickets, parallel enrolments, cannot get past the threshold" {
	# a lock that outlasts the burst on a loaded machine (as 30-auth-lockout)
	OWN_CONFIG=1
	auth_config lockout_threshold=3 lockout_base=60 lockout_max=60 "mfa_issuer = $MFA_ISSUER"
	enrolled Olga olga@example.com
	tickets=()
	for i in $(seq 1 10); do
		mfa_login Olga
		tickets+=("$TICKET")
		# the login's own attempt aside: the verifies' count is tested
		psql_auth "DELETE FROM login_lockouts" >/dev/null
	done
	wrong=$(printf '%06d' $(((10#$(totp "$SECRET") + 500000) % 1000000)))
	for t in "${tickets[@]}"; do
		curl -s -o /dev/null -H 'Content-Type: application/json' \
			--data-binary "$(jq -cn --arg t "$t" --arg c "$wrong" '{ticket:$t,code:$c}')" \
			"$BASE_URL/api/auth/mfa/verify" &
	done
	wait
	# each attempt was counted before its code was checked: exactly
	# threshold of them were checked against an unlocked account
	log=$STACK_DIR/log/lighttpd-error.log
	checked=$(grep -c "event=mfa_verify_failed reason=bad_code kind=totp user=$UID_" "$log" || true)
	locked=$(grep -c "event=mfa_verify_failed reason=locked user=$UID_" "$log" || true)
	echo "verify: checked $checked, refused as locked $locked"
	((checked == 3 && locked == 7))
	[ "$(psql_auth "SELECT locks FROM login_lockouts WHERE user_id = '$UID_'")" = 1 ]
	# the password at enrolment (and disabling) likewise
	psql_auth "DELETE FROM login_lockouts" >/dev/null
	for i in $(seq 1 10); do
		curl -s -o /dev/null -H 'Content-Type: application/json' -H "Authorization: Bearer $AT" \
			--data-binary '{"password":"wrong password"}' "$BASE_URL/api/auth/mfa/totp" &
	done
	wait
	checked=$(grep -c "event=mfa_refused reason=bad_password user=$UID_" "$log" || true)
	locked=$(grep -c "event=mfa_refused reason=locked user=$UID_" "$log" || true)
	echo "enrol: checked $checked, refused as locked $locked"
	((checked == 3 && locked == 7))
}

@test "mfa: a ticket whose trusted device is gone counts against the account" {
	enrolled Pia pia@example.com
	login Pia "$AUTH_PW" "$(jq -cn --arg d "$DEV" '{deviceToken:$d}')"
	assert_code 403
	ticket=$(field .mfaTicket)
	[ "$(failures)" = 0 ]
	# the device's row goes (expired and collected, or signed out) before the code
	psql_auth "DELETE FROM login_devices WHERE user_id = '$UID_'" >/dev/null
	right=$(totp "$SECRET")
	verify "$ticket" "$(printf '%06d' $(((10#$right + 500000) % 1000000)))"
	assert_code 401
	[ "$(field .error)" = invalid_code ]
	[ "$(failures)" = 1 ]
	# and the account's lock holds it: at the threshold, the next attempt locks
	psql_auth "UPDATE login_lockouts SET failures = 3 WHERE user_id = '$UID_'" >/dev/null
	verify "$ticket" "$right"
	assert_code 429
	[ "$(field .error)" = too_many_attempts ]
	psql_auth "UPDATE login_lockouts SET locked_until = now() WHERE user_id = '$UID_'" >/dev/null
	verify "$ticket" "$right"
	assert_code 200
	# the success took the attempt back: the account's count is gone
	[ "$(failures)" = 0 ]
}

@test "mfa: without mfa_key_file enrolment answers 503 and an enrolled login cannot finish; a replaced key keeps old secrets" {
	enrolled Liam liam@example.com
	auth_config lockout_threshold=3 lockout_base=2 lockout_max=4 "mfa_issuer = $MFA_ISSUER" \
		"mfa_key_file = $STACK_DIR/keys/none.key"
	mfa_login Liam
	verify "$TICKET" "$(totp "$SECRET")"
	assert_code 503
	id=$(seed_user Mia mia@example.com)
	login Mia
	bearer "$(field .accessToken)" POST /api/auth/mfa/totp "$(jq -cn --arg p "$AUTH_PW" '{password:$p}')"
	assert_code 503
	[ "$(field .error)" = mfa_unavailable ]
	# a new first key, the old one listed after it: the old secret opens,
	# a new enrolment is sealed with the new key
	(umask 077 && openssl rand -hex 32 >"$STACK_DIR/keys/mfa-new.key")
	auth_config lockout_threshold=3 lockout_base=2 lockout_max=4 "mfa_issuer = $MFA_ISSUER" \
		"mfa_key_file = $STACK_DIR/keys/mfa-new.key:$STACK_DIR/keys/mfa.key"
	verify "$TICKET" "$(totp "$SECRET")"
	assert_code 200
	# the new key alone does not open the old secret
	auth_config lockout_threshold=3 lockout_base=2 lockout_max=4 "mfa_issuer = $MFA_ISSUER" \
		"mfa_key_file = $STACK_DIR/keys/mfa-new.key"
	mfa_login Liam
	verify "$TICKET" "$(totp "$SECRET" 30)"
	assert_code 500
	auth_config lockout_threshold=3 lockout_base=2 lockout_max=4 "mfa_issuer = $MFA_ISSUER"
	rm -f "$STACK_DIR/keys/mfa-new.key"
}
