#!/usr/bin/env bats
# Access tokens: GET /api/auth/me and /api/auth/status, the JWKS and the
# discovery document, independent verification (PyJWT through the JWKS,
# libjwt), forged tokens, key rotation and RS256.

load ../lib/common
load 30-auth

# libjwt verifier, built by make check; built here if it is not yet.
libjwt_bin() {
	local b=$MAGENTA_BUILD/tests/tools/jwt-libjwt
	[[ -x $b ]] || make -s -C "$MAGENTA_BUILD" tests/tools/jwt-libjwt >/dev/null
	printf '%s\n' "$b"
}

# pyjwt TOKEN ALG: PyJWT verifies TOKEN with the key the JWKS gives for its
# kid, pinning ALG and requiring our claims; prints the claims.
pyjwt() {
	"$PY" - "$1" "$2" "$BASE_URL" <<-'EOF'
		import json, sys
		import jwt
		tok, alg, base = sys.argv[1:4]
		key = jwt.PyJWKClient(base + "/.well-known/jwks.json").get_signing_key_from_jwt(tok)
		claims = jwt.decode(tok, key.key, algorithms=[alg], audience="magenta", issuer=base,
		                    options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud", "jti"]})
		print(json.dumps(claims))
	EOF
}

# libjwt_verify TOKEN ALG: libjwt verifies TOKEN with the JWKS's first key.
libjwt_verify() {
	api GET /.well-known/jwks.json
	printf '%s' "$body" >"$BATS_TEST_TMPDIR/jwks.json"
	pubkey_pem_from_jwks "$BATS_TEST_TMPDIR/jwks.json" >"$BATS_TEST_TMPDIR/pub.pem"
	printf '%s' "$1" | "$(libjwt_bin)" "$BATS_TEST_TMPDIR/pub.pem" "$2"
}

# A user and a login: sets ID, AT, RT, SID.
start_session() {
	ID=$(seed_user Alice alice@example.com)
	login Alice
	assert_code 200
	AT=$(field .accessToken)
	RT=$(field .refreshToken)
	SID=$(jwt_claims "$AT" | jq -r .sid)
}

# expect_invalid: the last answer is 401 with the Bearer challenge.
expect_invalid() {
	assert_code 401
	[[ "$(header WWW-Authenticate)" == 'Bearer realm="magenta", error="invalid_token"' ]]
	[ "$(field .error)" = invalid_token ]
}

@test "me: the user of a valid token" {
	start_session
	me "$AT"
	assert_code 200
	[ "$(json_of .)" = "{\"id\":\"$ID\",\"username\":\"Alice\",\"email\":\"alice@example.com\",\"emailConfirmed\":true,\"createdAt\":\"2026-01-02T03:04:05.678Z\"}" ]
	[ "$(header Cache-Control)" = no-store ]
	# the scheme name is case-insensitive
	api GET /api/auth/me -H "Authorization: bearer $AT"
	assert_code 200
}

# me_burst TOKEN: 16 parallel GET /me, so every FastCGI process answers
# some; prints the sorted distinct status codes.
me_burst() {
	local i dir=$BATS_TEST_TMPDIR/burst.$RANDOM
	mkdir -p "$dir"
	for i in $(seq 1 16); do
		curl -s -o "$dir/$i.body" -w '%{http_code}\n' -H "Authorization: Bearer $1" \
			"$BASE_URL/api/auth/me" >"$dir/$i.code" &
	done
	wait
	cat "$dir"/*.code | sort -u | tr '\n' ' '
}

@test "me: a logout, a password change, a new email reach every process at once" {
	start_session
	# every process has now seen the session alive (and may remember it)
	[ "$(me_burst "$AT")" = "200 " ]
	[ "$(me_burst "$AT")" = "200 " ]
	psql_auth "UPDATE auth_users SET email = 'new@example.com' WHERE id = '$ID'"
	me "$AT"
	assert_code 200
	[ "$(field .email)" = new@example.com ]
	psql_auth "UPDATE auth_users SET security_stamp = 'changed by a password change' WHERE id = '$ID'"
	[ "$(me_burst "$AT")" = "401 " ]
	login Alice
	at=$(field .accessToken)
	rt=$(field .refreshToken)
	[ "$(me_burst "$at")" = "200 " ]
	post_json /api/auth/logout "{\"refreshToken\":\"$rt\"}"
	assert_code 200
	[ "$(me_burst "$at")" = "401 " ]
	# and a session that was never looked at is refused too, of course
	login Alice
	at=$(field .accessToken)
	[ "$(me_burst "$at")" = "200 " ]
	psql_auth "UPDATE auth_users SET deleted_at = now() WHERE id = '$ID'"
	[ "$(me_burst "$at")" = "401 " ]
}

@test "me: PostgreSQL restarted: nothing is answered from memory while it is down" {
	start_session
	[ "$(me_burst "$AT")" = "200 " ]
	stack_pg_stop >/dev/null
	me "$AT"
	assert_code 503
	stack_pg_start >/dev/null
	# notices sent while a process was not listening are lost: it forgets all
	psql_auth "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = '$SID'"
	[ "$(me_burst "$AT")" = "401 " ]
}

@test "status: isAuthenticated with the user for a valid token, 401 otherwise" {
	start_session
	api GET /api/auth/status -H "Authorization: Bearer $AT"
	assert_code 200
	[ "$(field .isAuthenticated)" = true ]
	[ "$(field .username)" = Alice ]
	[ "$(field .email)" = alice@example.com ]
	[ "$(field .userId)" = "$ID" ]
	[ "$(field .sessionId)" = "$SID" ]
	[[ "$(field .expiresAt)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]
	api GET /api/auth/status
	expect_invalid
}

@test "me: 401 with WWW-Authenticate for a missing, malformed or foreign token" {
	start_session
	api GET /api/auth/me
	expect_invalid
	[ "$(field .message)" = "A Bearer access token is required." ]
	api GET /api/auth/me -H "Authorization: Basic YWxpY2U6cHc="
	expect_invalid
	me 'abc'
	expect_invalid
	me 'a.b.c'
	expect_invalid
	me "${AT}x"
	expect_invalid
	me "$AT.$AT"
	expect_invalid
}

@test "forged tokens: only the well-made one passes" {
	start_session
	# the forger is right: a token it makes properly is accepted
	me "$(forge good "$ID" "$SID")"
	assert_code 200
	for kind in none hs256 tampered expired future wrong-iss wrong-aud other-key no-kid; do
		me "$(forge "$kind" "$ID" "$SID")"
		echo "forged $kind: $code"
		expect_invalid
	done
	me "$(forge expired "$ID" "$SID")"
	[ "$(field .message)" = "The access token has expired." ]
	# a well-made token for a session that does not exist
	me "$(forge good "$ID" 0193f1c2-0000-7000-8000-00000000dead)"
	expect_invalid
	# or for another user's session
	bob=$(seed_user Bob bob@example.com)
	me "$(forge good "$bob" "$SID")"
	expect_invalid
}

@test "jwks: the signing key's public half, cacheable; openid-configuration points at it" {
	start_session
	kid=$(cut -d. -f1 <<<"$AT" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .kid)
	api GET /.well-known/jwks.json
	assert_code 200
	[ "$(header Cache-Control)" = 'public, max-age=300' ]
	[ "$(json_of '.keys | length')" = 1 ]
	[ "$(field '.keys[0].kid')" = "$kid" ]
	[ "$(json_of '.keys[0] | [.kty, .crv, .alg, .use]')" = '["EC","P-256","ES256","sig"]' ]
	[ "$(json_of '.keys[0] | has("d")')" = false ]
	api GET /.well-known/openid-configuration
	assert_code 200
	[ "$(field .issuer)" = "$BASE_URL" ]
	[ "$(field .jwks_uri)" = "$BASE_URL/.well-known/jwks.json" ]
	[ "$(field .token_endpoint)" = "$BASE_URL/oauth2/token" ]
	[ "$(field .revocation_endpoint)" = "$BASE_URL/oauth2/revoke" ]
	[ "$(json_of .id_token_signing_alg_values_supported)" = '["ES256"]' ]
	[ "$(header Cache-Control)" = 'public, max-age=300' ]
}

@test "independent verifiers: PyJWT (through the JWKS) and libjwt accept every token we issue" {
	start_session
	tokens=("$AT")
	refresh "$RT"
	assert_code 200
	tokens+=("$(field .accessToken)")
	# the grace-period answer mints one too
	refresh "$RT"
	assert_code 200
	tokens+=("$(field .accessToken)")
	for t in "${tokens[@]}"; do
		run pyjwt "$t" ES256
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		[ "$(jq -r .sub <<<"$output")" = "$ID" ]
		[ "$(jq -r .sid <<<"$output")" = "$SID" ]
		run libjwt_verify "$t" ES256
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		[ "$(jq -r .username <<<"$output")" = Alice ]
	done
	# and both refuse what we refuse
	run pyjwt "$(forge other-key "$ID" "$SID")" ES256
	[ "$status" -ne 0 ]
	run libjwt_verify "$(forge tampered "$ID" "$SID")" ES256
	[ "$status" -ne 0 ]
}

@test "key rotation: a new signing key, the old one still accepted and published" {
	start_session
	keys=$STACK_DIR/keys
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" keygen --out "$keys/next.pem" >/dev/null
	[ "$(stat -c %a "$keys/next.pem")" = 600 ]
	auth_config "jwt_keys = $keys/next.pem:$keys/signing.pem"
	api GET /.well-known/jwks.json
	[ "$(json_of '.keys | length')" = 2 ]
	# tokens signed before the rotation keep working
	me "$AT"
	assert_code 200
	login Alice
	assert_code 200
	new=$(field .accessToken)
	new_kid=$(cut -d. -f1 <<<"$new" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .kid)
	[ "$new_kid" = "$(jq -r '.keys[0].kid' <<<"$(curl -s "$BASE_URL/.well-known/jwks.json")")" ]
	me "$new"
	assert_code 200
	run pyjwt "$new" ES256
	[ "$status" -eq 0 ]
	run pyjwt "$AT" ES256
	[ "$status" -eq 0 ]
	# the old key retired: its tokens are refused; back to it: the new key's are
	auth_config "jwt_keys = $keys/next.pem"
	me "$AT"
	expect_invalid
	auth_config_restore
	me "$new"
	expect_invalid
	rm -f "$keys/next.pem"
}

@test "RS256: selectable by jwt_alg, verified by PyJWT and libjwt; ES256 tokens then refused" {
	start_session
	keys=$STACK_DIR/keys
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" keygen --alg RS256 --out "$keys/rsa.pem" >/dev/null
	auth_config jwt_alg=RS256 "jwt_keys = $keys/rsa.pem"
	login Alice
	assert_code 200
	rs=$(field .accessToken)
	[ "$(cut -d. -f1 <<<"$rs" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .alg)" = RS256 ]
	me "$rs"
	assert_code 200
	api GET /.well-known/jwks.json
	[ "$(json_of '.keys[0] | [.kty, .alg, .e]')" = '["RSA","RS256","AQAB"]' ]
	run pyjwt "$rs" RS256
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run libjwt_verify "$rs" RS256
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	me "$AT"
	expect_invalid
	auth_config_restore
	rm -f "$keys/rsa.pem"
}

@test "start-up: a key that does not fit the configuration is refused with a clear message" {
	conf=$BATS_TEST_TMPDIR/bad.conf
	cp "$MAGENTA_CONFIG" "$conf"
	echo "jwt_alg = RS256" >>"$conf"
	run "$MAGENTA_PREFIX/sbin/magenta-auth" -t -f "$conf"
	[ "$status" -ne 0 ]
	[[ "$output" == *"the signing key (first in jwt_keys) is ES256, but jwt_alg is RS256"* ]]
	cp "$MAGENTA_CONFIG" "$conf"
	echo "jwt_keys = $BATS_TEST_TMPDIR/missing.pem" >>"$conf"
	run "$MAGENTA_PREFIX/sbin/magenta-auth" -t -f "$conf"
	[ "$status" -ne 0 ]
	[[ "$output" == *"cannot open key '$BATS_TEST_TMPDIR/missing.pem'"* ]]
	run "$MAGENTA_PREFIX/sbin/magenta-auth" -t -f "$MAGENTA_CONFIG"
	[ "$status" -eq 0 ]
	# keygen will not overwrite a key
	run "$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" keygen --out "$STACK_DIR/keys/signing.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"--force"* ]]
}
