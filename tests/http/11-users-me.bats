#!/usr/bin/env bats
# The account's own endpoints (docs/registration.md): GET/PATCH/DELETE
# /api/registration/users/me, GET /api/registration/users/{id}, through
# lighttpd with real access tokens from magenta-auth, and each change's
# event through the real relay and consumer into the auth database.

load ../lib/common
load 30-auth
load 11-users

teardown() {
	auth_config_restore
	psql_users "DROP TRIGGER IF EXISTS users_lose_race ON users; DROP FUNCTION IF EXISTS users_lose_race(); DROP SEQUENCE IF EXISTS users_lost_races" >/dev/null 2>&1 || true
}

# lose_races N: the next N updates of users match no row, as when another
# request moved the version between a handler's read and its write.
lose_races() {
	psql_users "CREATE SEQUENCE users_lost_races;
		CREATE FUNCTION users_lose_race() RETURNS trigger LANGUAGE plpgsql AS
		\$\$BEGIN
			IF nextval('users_lost_races') <= $1 THEN
				RETURN NULL;
			END IF;
			RETURN NEW;
		END\$\$;
		CREATE TRIGGER users_lose_race BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_lose_race()" >/dev/null
}

@test "users/me: no token, a forged, expired, other-audience or alg-none token -> 401 with WWW-Authenticate: Bearer error=\"invalid_token\"" {
	new_user alice
	api GET /api/registration/users/me
	assert_code 401
	[[ $(header www-authenticate) == 'Bearer realm="magenta", error="invalid_token"' ]]
	[ "$(field .error)" = invalid_token ]
	local kind tok stamp
	# the forged tokens carry the right sst (the registration service's
	# check of the user's stamp), computed independently by b2sum
	stamp=$(psql_users "SELECT security_stamp FROM users WHERE id = '$UID_'")
	export FORGE_SST=$(printf 'magenta-sst-v1\0%s' "$stamp" | b2sum -l 128 | cut -d' ' -f1)
	[ "$(jwt_claims "$TOKEN" | jq -r .sst)" = "$FORGE_SST" ]
	for kind in other-key expired wrong-aud wrong-iss none hs256 tampered no-kid; do
		tok=$(forge "$kind" "$UID_" "$(jwt_claims "$TOKEN" | jq -r .sid)")
		as "$tok" GET /api/registration/users/me
		assert_code 401 || { echo "kind $kind" >&2; return 1; }
		[[ $(header www-authenticate) == *'error="invalid_token"'* ]]
	done
	# the forger itself is right: its good token passes
	tok=$(forge good "$UID_" "$(jwt_claims "$TOKEN" | jq -r .sid)")
	as "$tok" GET /api/registration/users/me
	assert_code 200
	# without the sst, or with another stamp's: refused
	tok=$(FORGE_SST= forge good "$UID_" "$(jwt_claims "$TOKEN" | jq -r .sid)")
	as "$tok" GET /api/registration/users/me
	assert_code 401
	tok=$(FORGE_SST=$(printf 'magenta-sst-v1\0other' | b2sum -l 128 | cut -d' ' -f1) forge good "$UID_" "$(jwt_claims "$TOKEN" | jq -r .sid)")
	as "$tok" GET /api/registration/users/me
	assert_code 401
	unset FORGE_SST
	api GET /api/registration/users/me -H "Authorization: Basic $(printf 'a:b' | base64)"
	assert_code 401
}

@test "users/me: GET answers the profile with its version as ETag, never the hash or the stamp" {
	new_user alice
	as "$TOKEN" GET /api/registration/users/me
	assert_code 200
	[ "$(json_of '[.id, .username, .email, .emailConfirmed, .displayName, .version, .roles]')" = \
		"[\"$UID_\",\"alice\",\"alice@example.com\",false,null,1,[]]" ]
	[[ $(field .createdAt) =~ ^20[0-9-]{8}T[0-9:.]{12}Z$ ]]
	[[ $(field .updatedAt) =~ ^20[0-9-]{8}T[0-9:.]{12}Z$ ]]
	[ "$(header etag)" = '"1"' ]
	! grep -qi 'argon2\|stamp\|hash' <<<"$body"
}

@test "users/{id}: self -> 200; another user's id, an unknown id, a malformed id -> the same 404" {
	new_user bob
	local bob=$UID_
	new_user alice
	as "$TOKEN" GET "/api/registration/users/$UID_"
	assert_code 200
	[ "$(field .username)" = alice ]
	as "$TOKEN" GET "/api/registration/users/$bob"
	assert_code 404
	local other=$body
	as "$TOKEN" GET /api/registration/users/0193f1c2-7a00-7000-8000-0000000000aa
	assert_code 404
	[ "$body" = "$other" ]
	as "$TOKEN" GET /api/registration/users/not-a-uuid
	assert_code 404
	[ "$body" = "$other" ]
	api GET "/api/registration/users/$UID_"
	assert_code 401
}

@test "PATCH users/me displayName: version 2, one UserUpdated outbox row with changedFields, applied in the auth database" {
	new_user alice
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"Alice Liddell"}'
	assert_code 200
	[ "$(json_of '[.displayName, .version]')" = '["Alice Liddell",2]' ]
	[ "$(header etag)" = '"2"' ]
	[ "$(outbox_count "$UID_")" = 2 ]
	local ev
	ev=$(outbox_last "$UID_")
	[ "$(json_of '[.eventType, .version, .changedFields, .data.displayName, .data.username, .userId]' "$ev")" = \
		"[\"UserUpdated\",2,[\"displayName\"],\"Alice Liddell\",\"alice\",\"$UID_\"]" ]
	[ "$(psql_users "SELECT routing_key, aggregate_version FROM outbox WHERE aggregate_id = '$UID_' ORDER BY id DESC LIMIT 1")" = 'user.updated|2' ]
	wait_applied "$UID_" 2
	[ "$(psql_auth "SELECT display_name FROM auth_users WHERE id = '$UID_'")" = 'Alice Liddell' ]
	[ "$(psql_auth "SELECT outcome FROM processed_events WHERE event_id = '$(jq -r .eventId <<<"$ev")'")" = applied ]
	# null clears it
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":null}'
	assert_code 200
	[ "$(json_of '[.displayName, .version]')" = '[null,3]' ]
	# the session stays: a profile change ends nothing
	wait_applied "$UID_" 3
	me "$TOKEN"
	assert_code 200
}

@test "PATCH users/me: a write that loses a race is tried again on the row read anew (one event); three lost in a row -> 409 concurrent_change, nothing written" {
	new_user alice
	lose_races 1
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"Second try"}'
	assert_code 200
	[ "$(json_of '[.displayName, .version]')" = '["Second try",2]' ]
	[ "$(psql_users "SELECT last_value FROM users_lost_races")" = 2 ] # written on the second
	[ "$(outbox_count "$UID_")" = 2 ]
	psql_users "DROP TRIGGER users_lose_race ON users; DROP FUNCTION users_lose_race(); DROP SEQUENCE users_lost_races" >/dev/null
	lose_races 3
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"Never"}'
	assert_code 409
	[ "$(field .error)" = concurrent_change ]
	[ "$(psql_users "SELECT display_name, version FROM users WHERE id = '$UID_'")" = 'Second try|2' ]
	[ "$(outbox_count "$UID_")" = 2 ]
}

@test "PATCH users/me: a change to nothing is 200 with no event" {
	new_user alice
	as "$TOKEN" PATCH /api/registration/users/me '{"username":"alice","email":"ALICE@example.com"}'
	assert_code 200
	[ "$(field .version)" = 1 ]
	as "$TOKEN" PATCH /api/registration/users/me '{}'
	assert_code 200
	[ "$(outbox_count "$UID_")" = 1 ]
}

@test "PATCH users/me username: 403 reauth_required without currentPassword, 403 with a wrong one; then login by the new name only" {
	new_user alice
	as "$TOKEN" PATCH /api/registration/users/me '{"username":"alicia"}'
	assert_code 403
	[ "$(field .error)" = reauth_required ]
	as "$TOKEN" PATCH /api/registration/users/me '{"username":"alicia","currentPassword":"wrong password here"}'
	assert_code 403
	[ "$(field .error)" = invalid_password ]
	[ "$(outbox_count "$UID_")" = 1 ]
	as "$TOKEN" PATCH /api/registration/users/me "$(jq -cn --arg p "$USER_PW" '{username:"alicia",currentPassword:$p}')"
	assert_code 200
	[ "$(json_of '[.username, .version]')" = '["alicia",2]' ]
	[ "$(json_of .changedFields "$(outbox_last "$UID_")")" = '["username"]' ]
	wait_applied "$UID_" 2
	login alicia "$USER_PW"
	assert_code 200
	login alice "$USER_PW"
	assert_code 401
	[ "$body" = "$AUTH_FAIL_BODY" ] || [ "$(json_of '{error,message}')" = "$AUTH_FAIL_BODY" ]
}

@test "PATCH users/me email: lower-cased, emailConfirmed false, login by the new address only" {
	new_user alice
	psql_users "UPDATE users SET email_confirmed = true WHERE id = '$UID_'" >/dev/null
	as "$TOKEN" PATCH /api/registration/users/me "$(jq -cn --arg p "$USER_PW" '{email:"Alice.New@Example.com",currentPassword:$p}')"
	assert_code 200
	[ "$(json_of '[.email, .emailConfirmed]')" = '["alice.new@example.com",false]' ]
	[ "$(json_of .changedFields "$(outbox_last "$UID_")")" = '["email","emailConfirmed"]' ]
	wait_applied "$UID_" 2
	login alice.new@example.com "$USER_PW"
	assert_code 200
	login alice@example.com "$USER_PW"
	assert_code 401
}

@test "PATCH users/me: taken username or email -> 409 naming the field; two users racing for one name -> one 200, one 409" {
	new_user bob
	local bob_token=$TOKEN
	new_user alice
	local body_u body_e
	body_u=$(jq -cn --arg p "$USER_PW" '{username:"BOB",currentPassword:$p}')
	as "$TOKEN" PATCH /api/registration/users/me "$body_u"
	assert_code 409
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["username:username_taken"]' ]
	body_e=$(jq -cn --arg p "$USER_PW" '{email:"bob@example.com",currentPassword:$p}')
	as "$TOKEN" PATCH /api/registration/users/me "$body_e"
	assert_code 409
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["email:email_taken"]' ]
	# race: both want "carol" at once
	local i
	for i in 1 2; do
		local t=$TOKEN
		((i == 2)) && t=$bob_token
		curl -s -o /dev/null -w '%{http_code}\n' -X PATCH -H "Authorization: Bearer $t" \
			-H 'Content-Type: application/json' \
			--data-binary "$(jq -cn --arg p "$USER_PW" '{username:"carol",currentPassword:$p}')" \
			"$BASE_URL/api/registration/users/me" >"$BATS_TEST_TMPDIR/race.$i" &
	done
	wait
	[ "$(cat "$BATS_TEST_TMPDIR"/race.* | sort | tr '\n' ' ')" = '200 409 ' ]
	[ "$(psql_users "SELECT count(*) FROM users WHERE username = 'carol'")" = 1 ]
}

@test "PATCH users/me If-Match: the current version -> 200, a stale one -> 412 and nothing written, a malformed one -> 400" {
	new_user alice
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"A"}' -H 'If-Match: "1"'
	assert_code 200
	[ "$(field .version)" = 2 ]
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"B"}' -H 'If-Match: "1"'
	assert_code 412
	[ "$(field .error)" = version_mismatch ]
	[ "$(psql_users "SELECT display_name, version FROM users WHERE id = '$UID_'")" = 'A|2' ]
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"B"}' -H 'If-Match: W/"2"'
	assert_code 400
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"B"}' -H 'If-Match: "2"'
	assert_code 200
	[ "$(outbox_count "$UID_")" = 3 ]
}

@test "PATCH users/me: the registration rules, unknown members, 415, 413, malformed JSON" {
	new_user alice
	as "$TOKEN" PATCH /api/registration/users/me '{"username":"a b","email":"nope","displayName":7,"password":"x"}'
	assert_code 400
	[ "$(jq -r '[.errors[] | .field + ":" + .code] | sort | join(" ")' <<<"$body")" = \
		'displayName:invalid_type email:invalid_format password:unknown_field username:invalid_format' ]
	as "$TOKEN" PATCH /api/registration/users/me "{\"displayName\":\"$(printf 'x%.0s' {1..101})\"}"
	assert_code 400
	[ "$(json_of '[.errors[].code]')" = '["invalid_format"]' ]
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":"tab\there"}'
	assert_code 400
	[ "$(json_of '[.errors[].code]')" = '["invalid_characters"]' ]
	api PATCH /api/registration/users/me -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' --data-binary '{}'
	assert_code 415
	as "$TOKEN" PATCH /api/registration/users/me "{\"displayName\":\"$(head -c 20000 /dev/zero | tr '\0' a)\"}"
	assert_code 413
	as "$TOKEN" PATCH /api/registration/users/me '{"displayName":'
	assert_code 400
	[ "$(outbox_count "$UID_")" = 1 ]
}

@test "DELETE users/me: 403 for a wrong password, 400 without one; 204, a tombstone, a UserDeleted; the token, refresh and login then fail; the name is free again" {
	new_user alice
	local uid=$UID_ old_refresh=$REFRESH
	as "$TOKEN" DELETE /api/registration/users/me '{"password":"wrong password here"}'
	assert_code 403
	as "$TOKEN" DELETE /api/registration/users/me '{}'
	assert_code 400
	[ "$(json_of '[.errors[] | .field + ":" + .code]')" = '["password:required"]' ]
	as "$TOKEN" DELETE /api/registration/users/me "$(jq -cn --arg p "$USER_PW" '{password:$p}')"
	assert_code 204
	[ -z "$body" ]
	[ "$(psql_users "SELECT count(*) FROM users WHERE id = '$uid'")" = 0 ]
	[ "$(psql_users "SELECT version, deleted_by, reason FROM deleted_users WHERE id = '$uid'")" = "2|$uid|self" ]
	local ev
	ev=$(outbox_last "$uid")
	[ "$(json_of '[.eventType, .version, .data.reason, .data.deletedBy, (.data | has("passwordHash"))]' "$ev")" = \
		"[\"UserDeleted\",2,\"self\",\"$uid\",false]" ]
	# the registration service refuses the token at once (the user is gone)
	as "$TOKEN" GET /api/registration/users/me
	assert_code 401
	wait_applied "$uid" 2
	[ "$(psql_auth "SELECT deleted_at IS NOT NULL, username, password_hash FROM auth_users WHERE id = '$uid'")" = 't||' ]
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE user_id = '$uid'")" = user_deleted ]
	refresh "$old_refresh"
	assert_code 401
	me "$TOKEN"
	assert_code 401
	login alice "$USER_PW"
	assert_code 401
	local deleted_login=$body
	login nobody-at-all "$USER_PW"
	[ "$body" = "$deleted_login" ]
	# the name is free again, and the new alice reaches the auth database
	new_user alice
	[ "$UID_" != "$uid" ]
}
