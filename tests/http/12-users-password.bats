#!/usr/bin/env bats
# POST /api/registration/users/me/password and what the authentication
# service does with its event: every session revoked, login by the new
# password only (docs/registration.md, docs/auth.md).

load ../lib/common
load 30-auth
load 11-users

NEW_PW='a brand new passphrase'

teardown() {
	auth_config_restore
}

# pw_change CURRENT NEW [CONFIRM]
pw_change() {
	as "$TOKEN" POST /api/registration/users/me/password \
		"$(jq -cn --arg c "$1" --arg n "$2" --arg f "${3:-$2}" '{currentPassword:$c,newPassword:$n,confirmPassword:$f}')"
}

@test "password: the registration policy on newPassword, a confirmation that differs, a missing currentPassword -> 400 and nothing written" {
	new_user alice
	pw_change "$USER_PW" short
	assert_code 400
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["newPassword:too_short"]' ]
	pw_change "$USER_PW" "$NEW_PW" "not the same passphrase"
	assert_code 400
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["confirmPassword:mismatch"]' ]
	pw_change "$USER_PW" alice@example.com
	assert_code 400
	[ "$(json_of '[.errors[].code]')" = '["matches_identity"]' ]
	as "$TOKEN" POST /api/registration/users/me/password "$(jq -cn --arg n "$NEW_PW" '{newPassword:$n,confirmPassword:$n}')"
	assert_code 400
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["currentPassword:required"]' ]
	api POST /api/registration/users/me/password --data-binary '{}' -H 'Content-Type: application/json'
	assert_code 401
	[ "$(outbox_count "$UID_")" = 1 ]
}

@test "password: a wrong current password -> 403 invalid_password, nothing written" {
	new_user alice
	pw_change "not my password at all" "$NEW_PW"
	assert_code 403
	[ "$(json_of '[.error, .errors[0].field]')" = '["invalid_password","currentPassword"]' ]
	[ "$(outbox_count "$UID_")" = 1 ]
	login alice "$USER_PW"
	assert_code 200
}

@test "password: a new hash and stamp in one UserUpdated; then refresh and /me refuse the old session, login takes the new password only" {
	new_user alice
	local old_token=$TOKEN old_refresh=$REFRESH old_hash old_stamp sid
	sid=$(jwt_claims "$TOKEN" | jq -r .sid)
	old_hash=$(psql_users "SELECT password_hash FROM users WHERE id = '$UID_'")
	old_stamp=$(psql_users "SELECT security_stamp FROM users WHERE id = '$UID_'")
	pw_change "$USER_PW" "$NEW_PW"
	assert_code 200
	[ "$(field .version)" = 2 ]
	local ev
	ev=$(outbox_last "$UID_")
	[ "$(json_of '[.eventType, .version, .changedFields]' "$ev")" = '["UserUpdated",2,["passwordHash","securityStamp"]]' ]
	[ "$(jq -r .data.passwordHash <<<"$ev")" != "$old_hash" ]
	[ "$(jq -r .data.securityStamp <<<"$ev")" != "$old_stamp" ]
	[[ $(jq -r .data.passwordHash <<<"$ev") == '$argon2id$'* ]]
	# the registration service refuses tokens issued before the change at once
	as "$old_token" GET /api/registration/users/me
	assert_code 401
	[[ $(field .message) == *'before a password change'* ]]
	wait_applied "$UID_" 2
	# the event's transaction revoked the session
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$sid'")" = password_changed ]
	[ "$(psql_auth "SELECT password_hash FROM auth_users WHERE id = '$UID_'")" = \
		"$(psql_users "SELECT password_hash FROM users WHERE id = '$UID_'")" ]
	refresh "$old_refresh"
	assert_code 401
	me "$old_token"
	assert_code 401
	login alice "$USER_PW"
	assert_code 401
	login alice "$NEW_PW"
	assert_code 200
	me "$(field .accessToken)"
	assert_code 200
}

@test "password: after reauth_limit wrong current passwords -> 429 with Retry-After, even for the right one; a success clears the count" {
	auth_config reauth_limit=2 reauth_window=600
	new_user alice
	pw_change "wrong password one" "$NEW_PW"
	assert_code 403
	# a success in between starts the count again
	as "$TOKEN" PATCH /api/registration/users/me "$(jq -cn --arg p "$USER_PW" '{username:"alice2",currentPassword:$p}')"
	assert_code 200
	[ "$(psql_users "SELECT count(*) FROM reauth_failures")" = 0 ]
	pw_change "wrong password one" "$NEW_PW"
	assert_code 403
	pw_change "wrong password two" "$NEW_PW"
	assert_code 403
	pw_change "$USER_PW" "$NEW_PW"
	assert_code 429
	[ "$(field .error)" = too_many_attempts ]
	local ra
	ra=$(header retry-after)
	((ra > 500 && ra <= 600))
	# the same limit guards the other re-authenticating endpoints
	as "$TOKEN" DELETE /api/registration/users/me "$(jq -cn --arg p "$USER_PW" '{password:$p}')"
	assert_code 429
	[ "$(psql_users "SELECT count(*) FROM users WHERE id = '$UID_'")" = 1 ]
	# once the window has passed, the right password works again
	psql_users "UPDATE reauth_failures SET first_at = now() - interval '601 seconds'" >/dev/null
	pw_change "$USER_PW" "$NEW_PW"
	assert_code 200
}
