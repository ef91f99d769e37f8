#!/usr/bin/env bats
# OAuth 2.0 (docs/oauth2.md): the clients made by `magentactl client`, and
# the standard endpoints of magenta-auth that they call.

load ../lib/common
load 30-auth

ctl() {
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" "$@"
}

teardown() {
	auth_config_restore
}

@test "client add: a confidential client's secret is printed once and stored only as its SHA-256; --public has none; list; remove" {
	local out id secret
	out=$(ctl client add "Web shop" --json)
	id=$(jq -r .clientId <<<"$out")
	secret=$(jq -r .clientSecret <<<"$out")
	[[ $id =~ ^[A-Za-z0-9_-]{22}$ ]]
	[[ $secret =~ ^[A-Za-z0-9_-]{43}$ ]]
	[ "$(jq -c '[.name, .public, .scope]' <<<"$out")" = '["Web shop",false,"openid profile email"]' ]
	# the hash, never the secret
	[ "$(psql_auth "SELECT encode(secret_hash, 'hex') FROM oauth_clients WHERE client_id = '$id'")" = \
		"$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)" ]
	! psql_auth "SELECT * FROM oauth_clients" | grep -qF -e "$secret"
	# public, with fewer scopes
	out=$(ctl client add cli-app --public --scope "openid email" --json)
	[ "$(jq -c '[.public, .clientSecret, .scope]' <<<"$out")" = '[true,null,"openid email"]' ]
	[ "$(psql_auth "SELECT secret_hash IS NULL, scopes, grants FROM oauth_clients WHERE name = 'cli-app'")" = 't|{openid,email}|{password,refresh_token}' ]
	out=$(ctl client add "Resource server" --grants none --json)
	[ "$(jq -c .grants <<<"$out")" = '[]' ]
	# plain output names it too
	run ctl client add "Plain one"
	[ "$status" = 0 ]
	[[ $output == *"client_secret  "* && $output == *"shown once"* ]]
	# list: every client, never a secret
	run ctl client list --json
	[ "$status" = 0 ]
	[ "$(jq -c '[.[] | .name] ' <<<"$output")" = '["Plain one","Resource server","Web shop","cli-app"]' ]
	[ "$(jq -c '[.[] | .grants | length]' <<<"$output")" = '[2,0,2,2]' ]
	! grep -qF -e "$secret" <<<"$output"
	run ctl client list
	[ "$status" = 0 ]
	[[ $output == *"$id"*"confidential"*"Web shop"* ]]
	# remove by id, then by name
	run ctl client remove "$id"
	[ "$status" = 0 ] || { echo "$output"; false; }
	run ctl client remove cli-app
	[ "$status" = 0 ]
	[ "$(psql_auth "SELECT name FROM oauth_clients ORDER BY name")" = $'Plain one\nResource server' ]
	run ctl client remove "$id"
	[ "$status" = 1 ]
	[[ $output == *"no client"* ]]
}

@test "client add: bad names, scopes, arguments and a taken name are refused with a clear message, nothing written" {
	run ctl client add ""
	[ "$status" = 2 ]
	run ctl client add " leading-space"
	[ "$status" = 2 ]
	run ctl client add "semi;colon"
	[ "$status" = 2 ]
	run ctl client add app --scope "openid admin"
	[ "$status" = 2 ]
	[[ $output == *"--scope"* ]]
	run ctl client add app --scope "openid  email"
	[ "$status" = 2 ]
	run ctl client add app --scope
	[ "$status" = 2 ]
	run ctl client add app --bogus
	[ "$status" = 2 ]
	run ctl client add app --grants password,password
	[ "$status" = 2 ]
	run ctl client add app --grants client_credentials
	[ "$status" = 2 ]
	[[ $output == *"--grants"* ]]
	run ctl client frobnicate
	[ "$status" = 2 ]
	[ "$(psql_auth "SELECT count(*) FROM oauth_clients")" = 0 ]
	ctl client add app >/dev/null
	run ctl client add app
	[ "$status" = 1 ]
	[[ $output == *"exists already"* ]]
	[ "$(psql_auth "SELECT count(*) FROM oauth_clients")" = 1 ]
}

@test "client remove: the client's live sessions are revoked in the same transaction, others stay" {
	local uid
	uid=$(seed_user alice alice@example.com)
	ctl client add app1 >/dev/null
	ctl client add app2 >/dev/null
	psql_auth "INSERT INTO sessions (id, user_id, security_stamp, expires_at, client_id, scope)
		SELECT gen_random_uuid(), '$uid', security_stamp, now() + interval '1 day', c.client_id, '{openid}'
		FROM auth_users, oauth_clients c WHERE auth_users.id = '$uid';
		INSERT INTO sessions (id, user_id, security_stamp, expires_at)
		SELECT gen_random_uuid(), '$uid', security_stamp, now() + interval '1 day' FROM auth_users WHERE id = '$uid'" >/dev/null
	ctl client remove app1
	[ "$(psql_auth "SELECT coalesce(c.name, '-') || ':' || coalesce(s.revoked_reason, 'live') FROM sessions s
		LEFT JOIN oauth_clients c USING (client_id) ORDER BY 1")" = $'-:client_removed\n-:live\napp2:live' ]
}

# new_client NAME [ARGS...]: sets CLIENT_ID, CLIENT_SECRET ("" for --public).
new_client() {
	local out
	out=$(ctl client add "$@" --json)
	CLIENT_ID=$(jq -r .clientId <<<"$out")
	CLIENT_SECRET=$(jq -r '.clientSecret // ""' <<<"$out")
}

# token [CURL ARGS...]: POST /oauth2/token, a form body from --data-urlencode.
token() {
	api POST /oauth2/token "$@"
}

# password_grant ID SECRET USER [PASSWORD] [CURL ARGS...]: client_secret_basic.
password_grant() {
	local id=$1 secret=$2 user=$3 pw=${4:-$AUTH_PW}
	shift $(($# < 4 ? $# : 4))
	token -u "$id:$secret" --data-urlencode grant_type=password \
		--data-urlencode "username=$user" --data-urlencode "password=$pw" "$@"
}

# assert_oauth_error STATUS CODE: an RFC 6749 5.2 answer, uncacheable.
assert_oauth_error() {
	assert_code "$1"
	[ "$(field .error)" = "$2" ] || { echo "error: $body" >&2; return 1; }
	[ "$(json_of 'keys')" = '["error","error_description"]' ]
	[ "$(header cache-control)" = no-store ]
	[ "$(header pragma)" = no-cache ]
	[[ $(header content-type) == application/json* ]]
}

@test "token, password grant: RFC 6749 5.1's answer for a confidential client (Basic), a session of that client with its scope, Cache-Control no-store" {
	local uid
	uid=$(seed_user alice alice@example.com)
	new_client shop
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice
	assert_code 200
	[ "$(json_of 'keys | sort')" = '["access_token","expires_in","id_token","refresh_token","scope","token_type"]' ]
	[ "$(json_of '[.token_type, .scope, (.expires_in | type)]')" = '["Bearer","openid profile email","number"]' ]
	[ "$(header cache-control)" = no-store ]
	[ "$(header pragma)" = no-cache ]
	[ "$(jwt_claims "$(field .access_token)" | jq -c '[.sub, .client_id, .scope, .aud]')" = \
		"[\"$uid\",\"$CLIENT_ID\",\"openid profile email\",\"magenta\"]" ]
	[[ $(field .refresh_token) =~ ^[A-Za-z0-9_-]{43}$ ]]
	# openid: an ID token for this client (OIDC Core 3.1.3.6)
	[ "$(jwt_claims "$(field .id_token)" | jq -c '[.iss, .sub, .aud, .azp, (.exp > .iat), (.at_hash | length)]')" = \
		"[\"$BASE_URL\",\"$uid\",\"$CLIENT_ID\",\"$CLIENT_ID\",true,22]" ]
	# a client's token is not for Magenta's own account surfaces
	local at
	at=$(field .access_token)
	[ "$(jwt_claims "$at" | jq -c .roles)" = '[]' ]
	me "$at"
	assert_code 403
	[ "$(field .error)" = insufficient_scope ]
	api GET /api/registration/users/me -H "Authorization: Bearer $at"
	assert_code 403
	[[ $(header www-authenticate) == *insufficient_scope* ]]
	api GET /oauth2/userinfo -H "Authorization: Bearer $at"
	assert_code 200
	[ "$(psql_auth "SELECT client_id, scope FROM sessions WHERE user_id = '$uid'")" = "$CLIENT_ID|{openid,profile,email}" ]
	# by email, with a narrower scope, client_secret_post
	token --data-urlencode grant_type=password --data-urlencode username=ALICE@example.com \
		--data-urlencode "password=$AUTH_PW" --data-urlencode "scope=openid email" \
		--data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET"
	assert_code 200
	[ "$(field .scope)" = "openid email" ]
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE user_id = '$uid' AND scope = '{openid,email}'")" = 1 ]
	# no openid, no ID token
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice "$AUTH_PW" --data-urlencode scope=email
	assert_code 200
	[ "$(json_of 'has("id_token")')" = false ]
	# no device token for a client: that is the JSON login's
	[ "$(psql_auth "SELECT count(*) FROM login_devices")" = 0 ]
}

@test "token: client authentication: wrong or missing secret, unknown client, both methods, a public client with a secret -> 401 invalid_client (WWW-Authenticate) or 400; a public client by client_id alone" {
	seed_user alice alice@example.com >/dev/null
	new_client shop
	local id=$CLIENT_ID secret=$CLIENT_SECRET
	password_grant "$id" "${secret}x" alice
	assert_oauth_error 401 invalid_client
	[[ $(header www-authenticate) == Basic* ]]
	password_grant "AAAAAAAAAAAAAAAAAAAAAA" "$secret" alice
	assert_oauth_error 401 invalid_client
	local unknown_body=$body
	password_grant "$id" "${secret}x" alice
	[ "$body" = "$unknown_body" ] # nothing tells an unknown client from a wrong secret
	token --data-urlencode grant_type=password --data-urlencode username=alice --data-urlencode "password=$AUTH_PW"
	assert_oauth_error 401 invalid_client
	token --data-urlencode grant_type=password --data-urlencode username=alice \
		--data-urlencode "password=$AUTH_PW" --data-urlencode "client_id=$id"
	assert_oauth_error 401 invalid_client # confidential: a secret is required
	password_grant "$id" "$secret" alice "$AUTH_PW" --data-urlencode "client_secret=$secret"
	assert_oauth_error 400 invalid_request
	token -H 'Authorization: Basic !!!' --data-urlencode grant_type=password
	assert_oauth_error 401 invalid_client
	new_client cli --public
	token --data-urlencode grant_type=password --data-urlencode username=alice \
		--data-urlencode "password=$AUTH_PW" --data-urlencode "client_id=$CLIENT_ID"
	assert_code 200
	token --data-urlencode grant_type=password --data-urlencode username=alice \
		--data-urlencode "password=$AUTH_PW" --data-urlencode "client_id=$CLIENT_ID" \
		--data-urlencode "client_secret=anything"
	assert_oauth_error 401 invalid_client
	# a removed client is unknown at once
	ctl client remove shop >/dev/null
	password_grant "$id" "$secret" alice
	assert_oauth_error 401 invalid_client
}

@test "token: every RFC 6749 5.2 error of the token endpoint, with its status" {
	seed_user alice alice@example.com >/dev/null
	new_client shop --scope "openid profile"
	token -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode username=alice
	assert_oauth_error 400 invalid_request # no grant_type
	token -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode grant_type=client_credentials
	assert_oauth_error 400 unsupported_grant_type
	local sid=$CLIENT_ID ssecret=$CLIENT_SECRET
	new_client rs --grants none # a resource server: it may introspect, never get a token
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice
	assert_oauth_error 400 unauthorized_client
	new_client refresher --grants refresh_token
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice
	assert_oauth_error 400 unauthorized_client
	CLIENT_ID=$sid CLIENT_SECRET=$ssecret
	token -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode grant_type=password --data-urlencode username=alice
	assert_oauth_error 400 invalid_request # no password
	token -u "$CLIENT_ID:$CLIENT_SECRET" -d 'grant_type=password&username=alice&username=bob&password=x'
	assert_oauth_error 400 invalid_request # a parameter twice (RFC 6749 3.1)
	token -u "$CLIENT_ID:$CLIENT_SECRET" -d 'grant_type=password&username=%zz&password=x'
	assert_oauth_error 400 invalid_request
	token -u "$CLIENT_ID:$CLIENT_SECRET" -H 'Content-Type: application/json' -d '{"grant_type":"password"}'
	assert_oauth_error 400 invalid_request
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice "$AUTH_PW" --data-urlencode "scope=openid email"
	assert_oauth_error 400 invalid_scope # more than the client may have
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice "$AUTH_PW" --data-urlencode "scope=openid admin"
	assert_oauth_error 400 invalid_scope
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice wrong-password
	assert_oauth_error 400 invalid_grant
	local wrong=$body
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" nobody
	assert_oauth_error 400 invalid_grant
	[ "$body" = "$wrong" ] # an unknown user answers as a wrong password
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" 'no such name!'
	[ "$body" = "$wrong" ]
	token -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode grant_type=refresh_token
	assert_oauth_error 400 invalid_request # no refresh_token
	token -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode grant_type=refresh_token --data-urlencode refresh_token=nonsense
	assert_oauth_error 400 invalid_grant
	# the client's default scope when none is asked for
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice
	assert_code 200
	[ "$(field .scope)" = "openid profile" ]
	# GET is not the token endpoint's method
	api GET /oauth2/token
	assert_code 405
}

@test "token: the password grant shares the JSON login's lockout and address limit (one implementation)" {
	seed_user alice alice@example.com >/dev/null
	new_client shop
	local thr
	thr=$(sed -n 's/^lockout_threshold *= *//p' "$MAGENTA_CONFIG" | tail -1)
	[ -n "$thr" ] || thr=$("$MAGENTA_PREFIX/sbin/magenta-auth" --sample-config | sed -n 's/^# *lockout_threshold *= *//p')
	for ((i = 0; i <= thr; i++)); do
		password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice "wrong $i"
		assert_oauth_error 400 invalid_grant
	done
	# locked: the right password fails on both surfaces
	password_grant "$CLIENT_ID" "$CLIENT_SECRET" alice
	assert_oauth_error 400 invalid_grant
	login alice
	assert_code 401
	[ "$(psql_auth "SELECT locked_until > now() FROM login_lockouts")" = t ]
}

@test "token, refresh_token grant: rotation, the client's binding, reuse revokes the session, scope may only shrink" {
	local uid r1 r2 sid
	uid=$(seed_user alice alice@example.com)
	new_client shop --scope "openid profile email"
	local id=$CLIENT_ID secret=$CLIENT_SECRET
	password_grant "$id" "$secret" alice "$AUTH_PW" --data-urlencode "scope=openid profile"
	assert_code 200
	r1=$(field .refresh_token)
	sid=$(psql_auth "SELECT id FROM sessions WHERE user_id = '$uid'")
	token -u "$id:$secret" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$r1"
	assert_code 200
	r2=$(field .refresh_token)
	[ "$r2" != "$r1" ]
	[ "$(field .scope)" = "openid profile" ]
	[ "$(jwt_claims "$(field .access_token)" | jq -r .sid)" = "$sid" ]
	# narrower: granted; wider than the session's: invalid_scope
	token -u "$id:$secret" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$r2" \
		--data-urlencode scope=openid
	assert_code 200
	[ "$(field .scope)" = openid ]
	local r3
	r3=$(field .refresh_token)
	token -u "$id:$secret" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$r3" \
		--data-urlencode "scope=openid email"
	assert_oauth_error 400 invalid_scope
	# refused before the rotation: r3 is still the current token
	[ "$(psql_auth "SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL")" = 1 ]
	# another client cannot use it, nor can the JSON surface; the session stays
	new_client other
	token -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$r3"
	assert_oauth_error 400 invalid_grant
	refresh "$r3"
	assert_code 401
	[ "$(psql_auth "SELECT revoked_at IS NULL FROM sessions WHERE id = '$sid'")" = t ]
	# and the JSON login's refresh token is not a client's
	login alice
	assert_code 200
	token -u "$id:$secret" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$(field .refreshToken)"
	assert_oauth_error 400 invalid_grant
	# r1 again, long after its grace: reuse, the whole session ends
	psql_auth "UPDATE refresh_tokens SET used_at = now() - interval '1 hour' WHERE used_at IS NOT NULL" >/dev/null
	token -u "$id:$secret" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$r1"
	assert_oauth_error 400 invalid_grant
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$sid'")" = refresh_reuse ]
}

@test "token: requests-oauthlib's LegacyApplicationClient (password grant) and its refresh_token, unmodified" {
	seed_user alice alice@example.com >/dev/null
	new_client shop
	# plain HTTP on 127.0.0.1: oauthlib wants this said out loud
	OAUTHLIB_INSECURE_TRANSPORT=1 run "$PY" - "$BASE_URL/oauth2/token" "$CLIENT_ID" "$CLIENT_SECRET" "$AUTH_PW" <<'PYEOF'
import sys
from oauthlib.oauth2 import LegacyApplicationClient
from requests_oauthlib import OAuth2Session
from requests.auth import HTTPBasicAuth
url, cid, secret, pw = sys.argv[1:]
s = OAuth2Session(client=LegacyApplicationClient(client_id=cid), scope=["openid", "profile"])
t = s.fetch_token(url, username="alice", password=pw, auth=HTTPBasicAuth(cid, secret),
                  scope="openid profile")
assert t["token_type"] == "Bearer" and t["scope"] == ["openid", "profile"], t
t2 = s.refresh_token(url, refresh_token=t["refresh_token"], auth=HTTPBasicAuth(cid, secret))
assert t2["refresh_token"] != t["refresh_token"], t2
# PyJWT verifies both tokens with the keys the discovery document points at
import jwt, requests
conf = requests.get(url.rsplit("/oauth2/", 1)[0] + "/.well-known/openid-configuration").json()
keys = jwt.PyJWKClient(conf["jwks_uri"])
for tok in (t, t2):
    at = jwt.decode(tok["access_token"], keys.get_signing_key_from_jwt(tok["access_token"]).key,
                    algorithms=["ES256"], audience="magenta", issuer=conf["issuer"])
    assert at["client_id"] == cid and at["scope"] == "openid profile", at
    it = jwt.decode(tok["id_token"], keys.get_signing_key_from_jwt(tok["id_token"]).key,
                    algorithms=["ES256"], audience=cid, issuer=conf["issuer"])
    assert it["sub"] == at["sub"] and it["azp"] == cid, it
try:
    s.fetch_token(url, username="alice", password="wrong", auth=HTTPBasicAuth(cid, secret))
    raise SystemExit("a wrong password was accepted")
except Exception as e:
    assert type(e).__name__ == "InvalidGrantError", repr(e)
# revoke (RFC 7009) as oauthlib prepares it; the refresh token is dead after
rurl, headers, body = s._client.prepare_token_revocation_request(
    conf["revocation_endpoint"], t2["refresh_token"], token_type_hint="refresh_token")
r = requests.post(rurl, data=body, headers=headers, auth=HTTPBasicAuth(cid, secret))
assert r.status_code == 200, r.text
try:
    s.refresh_token(url, refresh_token=t2["refresh_token"], auth=HTTPBasicAuth(cid, secret))
    raise SystemExit("a revoked refresh token was accepted")
except Exception as e:
    assert type(e).__name__ == "InvalidGrantError", repr(e)
print("ok")
PYEOF
	[ "$status" = 0 ] || { echo "$output"; false; }
	[ "${lines[-1]}" = ok ]
}

# session_of ID SECRET USER [SCOPE]: a password grant; sets AT, RT, SID.
session_of() {
	password_grant "$1" "$2" "$3" "$AUTH_PW" ${4:+--data-urlencode "scope=$4"}
	assert_code 200 || return 1
	AT=$(field .access_token)
	RT=$(field .refresh_token)
	SID=$(jwt_claims "$AT" | jq -r .sid)
}

# introspect ID SECRET TOKEN
introspect() {
	api POST /oauth2/introspect -u "$1:$2" --data-urlencode "token=$3"
}

@test "revoke (RFC 7009): a refresh token ends its session, an access token its session; unknown, malformed, another client's -> 200, nothing revoked" {
	local uid
	uid=$(seed_user alice alice@example.com)
	new_client shop
	local id=$CLIENT_ID secret=$CLIENT_SECRET
	new_client other
	session_of "$id" "$secret" alice
	local rt=$RT sid=$SID
	# another client's revocation of it: 200, and the session lives
	api POST /oauth2/revoke -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$rt"
	assert_code 200
	[ "$(psql_auth "SELECT revoked_at IS NULL FROM sessions WHERE id = '$sid'")" = t ]
	for t in nonsense AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA a.b.c; do
		api POST /oauth2/revoke -u "$id:$secret" --data-urlencode "token=$t" --data-urlencode token_type_hint=refresh_token
		assert_code 200
	done
	[ "$(psql_auth "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL")" = 0 ]
	api POST /oauth2/revoke -u "$id:$secret" --data-urlencode "token=$rt" --data-urlencode token_type_hint=access_token
	assert_code 200
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$sid'")" = revoked ]
	token -u "$id:$secret" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$rt"
	assert_oauth_error 400 invalid_grant
	# an access token ends its own session
	session_of "$id" "$secret" alice
	api POST /oauth2/revoke -u "$id:$secret" --data-urlencode "token=$AT"
	assert_code 200
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE id = '$SID'")" = revoked ]
	api GET /oauth2/userinfo -H "Authorization: Bearer $AT"
	assert_code 401
	# errors: no token, no client
	api POST /oauth2/revoke -u "$id:$secret" --data-urlencode token_type_hint=refresh_token
	assert_oauth_error 400 invalid_request
	api POST /oauth2/revoke --data-urlencode "token=$rt"
	assert_oauth_error 401 invalid_client
}

@test "introspect (RFC 7662): active with the claims for a live access or refresh token; active:false for anything else; confidential clients only" {
	local uid
	uid=$(seed_user alice alice@example.com)
	new_client shop --scope "openid email"
	local id=$CLIENT_ID secret=$CLIENT_SECRET
	new_client rs --grants none # a resource server: any confidential client may ask
	local rs=$CLIENT_ID rss=$CLIENT_SECRET
	session_of "$id" "$secret" alice
	introspect "$rs" "$rss" "$AT"
	assert_code 200
	[ "$(json_of '[.active, .token_type, .sub, .sid, .client_id, .scope, .username]')" = \
		"[true,\"Bearer\",\"$uid\",\"$SID\",\"$id\",\"openid email\",\"alice\"]" ]
	[ "$(json_of '[.exp, .iat] | map(type)')" = '["number","number"]' ]
	[ "$(field .exp)" = "$(jwt_claims "$AT" | jq .exp)" ]
	[ "$(header cache-control)" = no-store ]
	introspect "$rs" "$rss" "$RT"
	assert_code 200
	# (no token_type: RFC 6749 7.1's types are access tokens')
	[ "$(json_of '[.active, has("token_type"), .sub, .client_id, .scope]')" = \
		"[true,false,\"$uid\",\"$id\",\"openid email\"]" ]
	# the JSON login's tokens are active too, without client or scope
	login alice
	introspect "$rs" "$rss" "$(field .accessToken)"
	[ "$(json_of '[.active, .username, has("client_id"), has("scope")]')" = '[true,"alice",false,false]' ]
	# inactive, all alike: garbage, a forged token, a used refresh token, a revoked session
	local inactive='{"active":false}'
	for t in nonsense AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "$(forge other-key "$uid" "$SID")" \
		"$(forge expired "$uid" "$SID")"; do
		introspect "$rs" "$rss" "$t"
		assert_code 200
		[ "$body" = "$inactive" ]
	done
	token -u "$id:$secret" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$RT"
	assert_code 200
	local next
	next=$(field .refresh_token)
	introspect "$rs" "$rss" "$RT"
	[ "$body" = "$inactive" ]
	introspect "$rs" "$rss" "$next"
	[ "$(field .active)" = true ]
	# a refresh that narrows the scope: the new access token's own scope
	token -u "$id:$secret" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$next" \
		--data-urlencode scope=openid
	assert_code 200
	local narrow
	narrow=$(field .access_token)
	introspect "$rs" "$rss" "$narrow"
	[ "$(json_of '[.active, .scope]')" = '[true,"openid"]' ]
	api GET /oauth2/userinfo -H "Authorization: Bearer $narrow"
	[ "$(json_of 'keys')" = '["sub"]' ]
	api POST /oauth2/revoke -u "$id:$secret" --data-urlencode "token=$AT"
	introspect "$rs" "$rss" "$AT"
	[ "$body" = "$inactive" ]
	# a public client may not introspect; nor an unauthenticated caller
	new_client cli --public
	api POST /oauth2/introspect --data-urlencode "client_id=$CLIENT_ID" --data-urlencode "token=$AT"
	assert_oauth_error 401 invalid_client
	api POST /oauth2/introspect --data-urlencode "token=$AT"
	assert_oauth_error 401 invalid_client
	introspect "$rs" "$rss" ""
	assert_oauth_error 400 invalid_request
}

@test "userinfo (OIDC Core 5.3): sub and the claims of the granted scopes; 403 insufficient_scope without openid; 401 for a bad or ended token" {
	local uid
	uid=$(seed_user alice alice@example.com)
	psql_auth "UPDATE auth_users SET display_name = 'Alice Liddell' WHERE id = '$uid'" >/dev/null
	new_client shop
	session_of "$CLIENT_ID" "$CLIENT_SECRET" alice
	api GET /oauth2/userinfo -H "Authorization: Bearer $AT"
	assert_code 200
	[ "$(json_of '[.sub, .preferred_username, .name, .email, .email_verified, (.updated_at | type)]')" = \
		"[\"$uid\",\"alice\",\"Alice Liddell\",\"alice@example.com\",true,\"number\"]" ]
	api POST /oauth2/userinfo -H "Authorization: Bearer $AT" -H 'Content-Length: 0'
	assert_code 200
	session_of "$CLIENT_ID" "$CLIENT_SECRET" alice "openid email"
	api GET /oauth2/userinfo -H "Authorization: Bearer $AT"
	[ "$(json_of 'keys')" = '["email","email_verified","sub"]' ]
	session_of "$CLIENT_ID" "$CLIENT_SECRET" alice "profile"
	api GET /oauth2/userinfo -H "Authorization: Bearer $AT"
	assert_code 403
	[[ $(header www-authenticate) == *'error="insufficient_scope"'* ]]
	login alice # the JSON login's session has no scope
	api GET /oauth2/userinfo -H "Authorization: Bearer $(field .accessToken)"
	assert_code 403
	api GET /oauth2/userinfo
	assert_code 401
	[[ $(header www-authenticate) == Bearer* ]]
	api GET /oauth2/userinfo -H "Authorization: Bearer x.y.z"
	assert_code 401
	session_of "$CLIENT_ID" "$CLIENT_SECRET" alice
	api POST /oauth2/revoke -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$RT"
	api GET /oauth2/userinfo -H "Authorization: Bearer $AT"
	assert_code 401
}

@test "discovery: openid-configuration lists exactly the OAuth 2.0 endpoints that answer, and a test follows every URL in it" {
	api GET /.well-known/openid-configuration
	assert_code 200
	local doc=$body
	[ "$(jq -c '[.token_endpoint, .introspection_endpoint, .revocation_endpoint, .userinfo_endpoint, .jwks_uri]' <<<"$doc")" = \
		"[\"$BASE_URL/oauth2/token\",\"$BASE_URL/oauth2/introspect\",\"$BASE_URL/oauth2/revoke\",\"$BASE_URL/oauth2/userinfo\",\"$BASE_URL/.well-known/jwks.json\"]" ]
	[ "$(jq -c .grant_types_supported <<<"$doc")" = '["password","refresh_token"]' ]
	[ "$(jq -c .token_endpoint_auth_methods_supported <<<"$doc")" = '["client_secret_basic","client_secret_post","none"]' ]
	[ "$(jq -c .scopes_supported <<<"$doc")" = '["openid","profile","email"]' ]
	[ "$(jq 'has("authorization_endpoint")' <<<"$doc")" = false ]
	# every URL in it answers: POST endpoints with an OAuth error, not 404
	local u path
	[ "$(jq -r .issuer <<<"$doc")" = "$BASE_URL" ]
	for u in $(jq -r 'to_entries | map(select(.key | test("_(endpoint|uri)$"))) | .[].value' <<<"$doc"); do
		[[ $u == "$BASE_URL"/* ]]
		path=${u#"$BASE_URL"}
		case $path in
		/oauth2/token | /oauth2/introspect | /oauth2/revoke)
			api POST "$path" --data-urlencode x=1
			assert_code 401 || [ "$code" = 400 ]
			[ -n "$(field .error)" ] ;;
		/oauth2/userinfo)
			api GET "$path"
			assert_code 401 ;;
		*)
			api GET "$path"
			assert_code 200 ;;
		esac
	done
}

# The npm packages of the Node clients, installed once per run under the
# stack directory (nothing is committed): NODE_PATH for node.
node_clients() {
	local dir=$STACK_DIR/node-clients
	if [[ ! -f $dir/.done ]]; then
		mkdir -p "$dir"
		(cd "$dir" && npm install --no-audit --no-fund --loglevel=error --no-save \
			openid-client@5.7.1 jose@5.10.0 >npm.log 2>&1) || { cat "$dir/npm.log" >&2; return 1; }
		touch "$dir/.done"
	fi
	NODE_PATH=$dir/node_modules
}

@test "clients: Node's openid-client (discovery, password and refresh grants, introspection, userinfo, revocation) and jose (remote JWKS), unmodified" {
	seed_user alice alice@example.com >/dev/null
	new_client node-app
	node_clients
	run env NODE_PATH="$NODE_PATH" node "$BATS_TEST_DIRNAME/34-oauth2-clients.mjs" "$BASE_URL" \
		"$CLIENT_ID" "$CLIENT_SECRET" alice "$AUTH_PW"
	[ "$status" = 0 ] || { echo "$output"; false; }
	[ "${lines[-1]}" = ok ]
	[ "$(psql_auth "SELECT revoked_reason FROM sessions WHERE client_id = '$CLIENT_ID' ORDER BY created_at LIMIT 1")" = revoked ]
}

# jwks_kids: the kids the JWKS lists now, space-separated.
jwks_kids() {
	curl -fsS "$BASE_URL/.well-known/jwks.json" | jq -r '[.keys[].kid] | join(" ")'
}

# login_kid: the kid of a fresh login's access token.
login_kid() {
	login alice >/dev/null
	cut -d. -f1 <<<"$(field .accessToken)" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .kid
}

@test "key rotation: magentactl key rotate publishes a new key first (standby), it signs after the delay; tokens of both keys verify through PyJWKClient in the overlap; the retired key's tokens fail once it leaves" {
	local dir=$BATS_TEST_TMPDIR/keys old new t0 a b
	seed_user alice alice@example.com >/dev/null
	mkdir -m 700 "$dir"
	# the stack's key, as the ring's first (signing since yesterday)
	cp "$STACK_DIR/keys/signing.pem" "$dir/key-$(date -u -d '-1 day' +%Y%m%dT%H%M%SZ).pem"
	auth_config "jwt_key_dir = $dir" "jwks_max_age = 1" "access_ttl = 30" "jwt_leeway = 0" \
		"jwt_public_keys = $BATS_TEST_TMPDIR/jwks.json"
	old=$(login_kid)
	[ "$(jwks_kids)" = "$old" ]
	api GET /.well-known/jwks.json
	[ "$(header cache-control)" = 'public, max-age=1' ]
	login alice
	a=$(field .accessToken)
	run ctl key rotate --delay 6
	[ "$status" = 0 ] || { echo "$output"; false; }
	[[ $output == *"published now, signs from"* ]]
	t0=$SECONDS
	# standby: published within a second, not signing yet
	wait_until 5 bash -c "[ \$(curl -fsS '$BASE_URL/.well-known/jwks.json' | jq '.keys | length') = 2 ]"
	new=$(jwks_kids | tr ' ' '\n' | grep -vxF -e "$old")
	[ -n "$new" ]
	if ((SECONDS - t0 < 5)); then
		[ "$(login_kid)" = "$old" ]
	fi
	# the registration service's verification keys were written too
	[ "$(jq -r '[.keys[].kid] | sort | join(" ")' "$BATS_TEST_TMPDIR/jwks.json")" = "$(tr ' ' '\n' <<<"$old $new" | sort | paste -sd' ')" ]
	run ctl key list --json
	[ "$(jq -r '[.[].state] | join(",")' <<<"$output")" = standby,signing ]
	# then the new key signs
	local deadline=$((SECONDS + 15))
	while [ "$(login_kid)" != "$new" ]; do
		((SECONDS < deadline)) || { echo "the new key never signed" >&2; false; }
		sleep 0.3
	done
	b=$(field .accessToken)
	run ctl key list --json
	[ "$(jq -r '[.[].state] | join(",")' <<<"$output")" = signing,retired ]
	# both verify through the published keys (PyJWT's PyJWKClient)
	run "$PY" - "$BASE_URL" "$a" "$b" <<'PYEOF'
import sys, jwt
base, *toks = sys.argv[1:]
keys = jwt.PyJWKClient(base + "/.well-known/jwks.json")
for t in toks:
    jwt.decode(t, keys.get_signing_key_from_jwt(t).key, algorithms=["ES256"], audience="magenta", issuer=base)
print("ok")
PYEOF
	[ "$status" = 0 ] || { echo "$output"; false; }
	# a token of the old key that would live long: accepted during the overlap
	local forged
	forged=$(forge good "$(psql_auth "SELECT id FROM auth_users")" "$(jwt_claims "$b" | jq -r .sid)")
	me "$forged"
	assert_code 200
	# 30 s (access_ttl + leeway) after the new key started, the old one leaves
	wait_until 45 bash -c "[ \"\$(curl -fsS '$BASE_URL/.well-known/jwks.json' | jq -r '[.keys[].kid] | join(\" \")')\" = '$new' ]"
	me "$forged"
	assert_code 401
	run "$PY" - "$BASE_URL" "$forged" <<'PYEOF'
import sys, jwt
base, tok = sys.argv[1:]
try:
    jwt.PyJWKClient(base + "/.well-known/jwks.json").get_signing_key_from_jwt(tok)
    print("still published")
except jwt.PyJWKClientError:
    print("gone")
PYEOF
	[ "$output" = gone ]
	run ctl key list --json
	[ "$(jq -r '[.[].state] | join(",")' <<<"$output")" = signing,expired ]
	run ctl key prune
	[ "$status" = 0 ]
	[ "$(find "$dir" -name 'key-*.pem' | wc -l)" = 1 ]
	# one rotation at a time, and nothing without a key directory
	ctl key rotate --delay 100 >/dev/null
	run ctl key rotate
	[ "$status" = 1 ]
	[[ $output == *"one rotation at a time"* ]]
}
