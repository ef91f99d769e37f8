#!/usr/bin/env bats
# Roles in access tokens (issue 16): the claim "roles" follows
# auth_users.roles, which only events change (a UserUpdated through the
# real pipeline here), and reaches the tokens at the next refresh; the
# public keys for verifiers (magentactl keygen --public, jwt_public_keys).

load ../lib/common
load 20-pipeline
load 30-auth

# libjwt verifier, built by make check; built here if it is not yet.
libjwt_bin() {
	local b=$MAGENTA_BUILD/tests/tools/jwt-libjwt
	[[ -x $b ]] || make -s -C "$MAGENTA_BUILD" tests/tools/jwt-libjwt >/dev/null
	printf '%s\n' "$b"
}

# libjwt_claims TOKEN JWKS_FILE: libjwt verifies TOKEN (ES256) with the
# first key of the JWKS file; prints the claims.
libjwt_claims() {
	pubkey_pem_from_jwks "$2" >"$BATS_TEST_TMPDIR/pub.pem"
	printf '%s' "$1" | "$(libjwt_bin)" "$BATS_TEST_TMPDIR/pub.pem" ES256
}

# The JWKS that GET /.well-known/jwks.json serves, into a file; its path.
served_jwks() {
	curl -fsS "$BASE_URL/.well-known/jwks.json" >"$BATS_TEST_TMPDIR/served.json"
	printf '%s\n' "$BATS_TEST_TMPDIR/served.json"
}

# outcome EVENT_ID: the consumer's outcome for the event.
outcome() {
	psql_auth "SELECT outcome FROM processed_events WHERE event_id = '$1'"
}

# user_event TYPE USER VERSION ROLES_JSON: the full state of Alice (the
# same hash and security stamp every time: only the roles change, so no
# session is revoked) at VERSION, with the event id $EID.
user_event() {
	jq -cn --arg t "$1" --arg u "$2" --argjson v "$3" --argjson r "$4" --arg e "$EID" \
		--arg h "$(auth_hash)" '
		{eventId:$e, eventType:$t, schemaVersion:1, occurredAt:"2026-12-01T10:00:00.000Z",
		 userId:$u, version:$v}
		+ (if $t == "UserUpdated" then {changedFields:["roles"]} else {} end)
		+ {data:{username:"Alice", email:"alice@example.com", passwordHash:$h,
			securityStamp:"stamp-of-alice", emailConfirmed:true, lockoutEnabled:true,
			lockoutEnd:null, createdAt:"2026-12-01T10:00:00.000Z",
			updatedAt:"2026-12-01T10:00:00.000Z", roles:$r}}'
}

# apply TYPE USER VERSION ROLES_JSON: publish the event, wait until applied.
apply() {
	local key=user.updated
	[[ $1 == UserCreated ]] && key=user.created
	EID=$(cat /proc/sys/kernel/random/uuid)
	publish_raw "$(user_event "$@")" "$key" "$EID"
	wait_until 20 _eq applied outcome "$EID"
}

teardown() {
	auth_config_restore
}

@test "roles: [] in a login's token; a UserUpdated event granting admin reaches the next refreshed token (libjwt verifies it); revoking it too" {
	u=$(cat /proc/sys/kernel/random/uuid)
	apply UserCreated "$u" 1 '[]'
	login Alice
	assert_code 200
	at=$(field .accessToken)
	rt=$(field .refreshToken)
	[ "$(jwt_claims "$at" | jq -c .roles)" = '[]' ]
	run libjwt_claims "$at" "$(served_jwks)"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(jq -c .roles <<<"$output")" = '[]' ]

	# the grant, as the registration service would publish it
	apply UserUpdated "$u" 2 '["admin"]'
	[ "$(psql_auth "SELECT roles::text FROM auth_users WHERE id = '$u'")" = '{admin}' ]
	# the token already issued keeps what it said (until its exp)
	[ "$(jwt_claims "$at" | jq -c .roles)" = '[]' ]
	refresh "$rt"
	assert_code 200
	at2=$(field .accessToken)
	rt2=$(field .refreshToken)
	run libjwt_claims "$at2" "$(served_jwks)"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(jq -c .roles <<<"$output")" = '["admin"]' ]
	[ "$(jq -r .sub <<<"$output")" = "$u" ]
	# and with the stack's jwt_public_keys (keygen --public), as the
	# registration service verifies
	run libjwt_claims "$at2" "$STACK_DIR/keys/jwks.json"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(jq -c .roles <<<"$output")" = '["admin"]' ]
	# the session survived the role change
	me "$at2"
	assert_code 200

	# taking the role away reaches the next token the same way
	apply UserUpdated "$u" 3 '[]'
	refresh "$rt2"
	assert_code 200
	at3=$(field .accessToken)
	run libjwt_claims "$at3" "$(served_jwks)"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(jq -c .roles <<<"$output")" = '[]' ]
}

@test "roles: a name auth_users.roles holds that roles.h does not know makes no token (500) and no session, not one without it" {
	u=$(cat /proc/sys/kernel/random/uuid)
	apply UserCreated "$u" 1 '["admin"]'
	login Alice
	assert_code 200
	[ "$(jwt_claims "$(field .accessToken)" | jq -c .roles)" = '["admin"]' ]
	# no event can carry it (the consumer refuses unknown roles): a row
	# written by something else
	psql_auth "UPDATE auth_users SET roles = '{admin,root}' WHERE id = '$u'" >/dev/null
	login Alice
	assert_code 500
	grep -q "event=login_refused user=$u msg=\"unknown role in roles\"" "$STACK_DIR"/log/*.log
	# refused before the session: nothing is left that no token could use
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE user_id = '$u'")" = 1 ]
}

@test "keygen --public: the JWKS GET /.well-known/jwks.json serves, byte for byte; the stack's jwt_public_keys is it; 0644, not replaced without --force" {
	served=$(served_jwks)
	ctl keygen --public --out - >"$BATS_TEST_TMPDIR/ctl.json"
	# the same text and a newline
	cmp "$BATS_TEST_TMPDIR/ctl.json" <(cat "$served"; echo)
	cmp "$STACK_DIR/keys/jwks.json" "$BATS_TEST_TMPDIR/ctl.json"
	[ "$(stat -c %a "$STACK_DIR/keys/jwks.json")" = 644 ]
	out=$BATS_TEST_TMPDIR/pub/jwks.json
	run ctl keygen --public --out "$out"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"kid $(jq -r '.keys[0].kid' "$served")"* ]]
	[ "$(stat -c %a "$out")" = 644 ]
	run ctl keygen --public --out "$out"
	[ "$status" -ne 0 ]
	[[ "$output" == *"--force"* ]]
	run ctl keygen --public --out "$out" --force
	[ "$status" -eq 0 ]
	cmp "$out" "$BATS_TEST_TMPDIR/ctl.json"
}

@test "keygen --public: a rotation (two jwt_keys) reaches the stack's jwt_public_keys at restart; the retired key's tokens still verify with it" {
	login_token() {
		login Alice
		assert_code 200
		field .accessToken
	}
	u=$(cat /proc/sys/kernel/random/uuid)
	apply UserCreated "$u" 1 '[]'
	old=$(login_token)
	keys=$STACK_DIR/keys
	ctl keygen --out "$BATS_TEST_TMPDIR/next.pem" >/dev/null
	auth_config "jwt_keys = $BATS_TEST_TMPDIR/next.pem:$keys/signing.pem"
	[ "$(jq '.keys | length' "$keys/jwks.json")" = 2 ]
	cmp "$keys/jwks.json" <(cat "$(served_jwks)"; echo)
	new=$(login_token)
	# the new signer is first: libjwt verifies the new token with it ...
	run libjwt_claims "$new" "$keys/jwks.json"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# ... and the old token with the second key, which is the old signer's
	jq '{keys: [.keys[1]]}' "$keys/jwks.json" >"$BATS_TEST_TMPDIR/second.json"
	run libjwt_claims "$old" "$BATS_TEST_TMPDIR/second.json"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	auth_config_restore
	[ "$(jq '.keys | length' "$keys/jwks.json")" = 1 ]
	cmp "$keys/jwks.json" <(cat "$(served_jwks)"; echo)
}
