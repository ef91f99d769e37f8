#!/usr/bin/env bats
# The administrators' endpoints (docs/registration.md "Admin"): search,
# lock, unlock, delete; the role granted with magentactl user grant-admin.

load ../lib/common
load 30-auth
load 11-users

# admin_user NAME: a user with the admin role; sets ADMIN_ID, ADMIN_TOKEN.
admin_user() {
	new_user "$1"
	ctl user grant-admin "$1" >/dev/null
	ADMIN_ID=$UID_ ADMIN_TOKEN=$TOKEN
}

@test "admin: a caller without the role -> 403 on every admin endpoint, 404 on another user's profile" {
	new_user bob
	local bob=$UID_
	new_user alice
	as "$TOKEN" GET /api/registration/admin/users
	assert_code 403
	[ "$(field .error)" = forbidden ]
	as "$TOKEN" POST "/api/registration/admin/users/$bob/lock"
	assert_code 403
	as "$TOKEN" POST "/api/registration/admin/users/$bob/unlock"
	assert_code 403
	as "$TOKEN" DELETE "/api/registration/admin/users/$bob"
	assert_code 403
	as "$TOKEN" GET "/api/registration/users/$bob"
	assert_code 404
	api GET /api/registration/admin/users
	assert_code 401
	[ "$(psql_users "SELECT count(*) FROM outbox WHERE aggregate_id = '$bob'")" = 1 ]
}

@test "admin: search by username or email prefix, case-insensitively, LIKE characters literal, keyset pages; bad parameters -> 400" {
	admin_user root
	new_user anna
	new_user annabel
	new_user ann_x
	new_user bert
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?q=ANN'
	assert_code 200
	[ "$(json_of '[.users[].username]')" = '["anna","annabel","ann_x"]' ]
	[ "$(field .next)" = null ]
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?q=ann_'
	[ "$(json_of '[.users[].username]')" = '["ann_x"]' ]
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?q=bert%40example'
	[ "$(json_of '[.users[].username]')" = '["bert"]' ]
	! grep -qi 'argon2\|securityStamp\|passwordHash' <<<"$body"
	# pages of two, in id (registration) order
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?limit=2'
	[ "$(json_of '[.users[].username]')" = '["root","anna"]' ]
	local next
	next=$(field .next)
	as "$ADMIN_TOKEN" GET "/api/registration/admin/users?limit=2&after=$next"
	[ "$(json_of '[.users[].username]')" = '["annabel","ann_x"]' ]
	as "$ADMIN_TOKEN" GET "/api/registration/admin/users?limit=2&after=$(field .next)"
	[ "$(json_of '[.users[].username]')" = '["bert"]' ]
	[ "$(field .next)" = null ]
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?limit=0'
	assert_code 400
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?limit=1000000'
	assert_code 400
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?after=nope'
	assert_code 400
	as "$ADMIN_TOKEN" GET "/api/registration/admin/users?q=$(printf 'a%.0s' {1..255})"
	assert_code 400
	[ "$(json_of '[.errors[].field]')" = '["q"]' ]
	# (an encoded control character lighttpd refuses itself, before us)
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?q=%7f'
	assert_code 400
	# a parameter twice: which one counts would be a guess
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?q=ann&q=bert'
	assert_code 400
	[ "$(field .error)" = invalid_query ]
	# an empty q is no filter
	as "$ADMIN_TOKEN" GET '/api/registration/admin/users?q=&limit=1'
	assert_code 200
	[ "$(json_of '.users | length')" = 1 ]
}

@test "admin: lock -> UserUpdated lockoutEnd, sessions revoked, login and the user's token refused; unlock -> login works" {
	admin_user root
	new_user alice
	local sid
	sid=$(jwt_claims "$TOKEN" | jq -r .sid)
	as "$ADMIN_TOKEN" GET "/api/registration/users/$UID_"
	assert_code 200
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/$UID_/lock"
	assert_code 200
	[ "$(json_of '[.lockoutEnd, .version]')" = '["9999-12-31T23:59:59.000Z",2]' ]
	[ "$(json_of '[.eventType, .changedFields, .data.lockoutEnd]' "$(outbox_last "$UID_")")" = \
		'["UserUpdated",["lockoutEnd"],"9999-12-31T23:59:59.000Z"]' ]
	wait_applied "$UID_" 2
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$sid'")" = locked ]
	refresh "$REFRESH"
	assert_code 401
	login alice "$USER_PW"
	assert_code 401
	[ "$(json_of '{error,message}')" = "$AUTH_FAIL_BODY" ]
	as "$TOKEN" GET /api/registration/users/me
	assert_code 401
	# locking again changes nothing
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/$UID_/lock"
	assert_code 200
	[ "$(outbox_count "$UID_")" = 2 ]
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/$UID_/unlock"
	assert_code 200
	[ "$(json_of '[.lockoutEnd, .version]')" = '[null,3]' ]
	wait_applied "$UID_" 3
	login alice "$USER_PW"
	assert_code 200
}

@test "admin: lock until a time -> that time in UTC; a past or malformed time -> 400; locking oneself -> 400" {
	admin_user root
	new_user alice
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/$UID_/lock" '{"until":"2099-01-02T03:04:05+02:00"}'
	assert_code 200
	[ "$(field .lockoutEnd)" = 2099-01-02T01:04:05.000Z ]
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/$UID_/lock" '{"until":"2001-01-01T00:00:00Z"}'
	assert_code 400
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/$UID_/lock" '{"until":"soon"}'
	assert_code 400
	[ "$(json_of '[.errors[].field]')" = '["until"]' ]
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/$ADMIN_ID/lock"
	assert_code 400
	[ "$(field .error)" = cannot_lock_self ]
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/0193f1c2-7a00-7000-8000-0000000000aa/lock"
	assert_code 404
	as "$ADMIN_TOKEN" POST "/api/registration/admin/users/$UID_/frobnicate"
	assert_code 404
}

@test "admin: delete -> 204, UserDeleted with reason admin and the admin's id; the user's login is then the unknown user's 401" {
	admin_user root
	new_user alice
	local uid=$UID_
	as "$ADMIN_TOKEN" DELETE "/api/registration/admin/users/$uid"
	assert_code 204
	[ "$(json_of '[.eventType, .version, .data.reason, .data.deletedBy]' "$(outbox_last "$uid")")" = \
		"[\"UserDeleted\",2,\"admin\",\"$ADMIN_ID\"]" ]
	[ "$(psql_users "SELECT reason, deleted_by FROM deleted_users WHERE id = '$uid'")" = "admin|$ADMIN_ID" ]
	wait_applied "$uid" 2
	login alice "$USER_PW"
	assert_code 401
	[ "$(json_of '{error,message}')" = "$AUTH_FAIL_BODY" ]
	as "$ADMIN_TOKEN" DELETE "/api/registration/admin/users/$uid"
	assert_code 404
	as "$ADMIN_TOKEN" DELETE "/api/registration/admin/users/$ADMIN_ID"
	assert_code 400
}
