#!/usr/bin/env bats
# OAuth 2.0 (docs/oauth2.md): the clients made by `magentactl client`, and
# the standard endpoints of magenta-auth that they call.

load ../lib/common
load 30-auth

ctl() {
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" "$@"
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
	! psql_auth "SELECT * FROM oauth_clients" | grep -qF "$secret"
	# public, with fewer scopes
	out=$(ctl client add cli-app --public --scope "openid email" --json)
	[ "$(jq -c '[.public, .clientSecret, .scope]' <<<"$out")" = '[true,null,"openid email"]' ]
	[ "$(psql_auth "SELECT secret_hash IS NULL, scopes FROM oauth_clients WHERE name = 'cli-app'")" = 't|{openid,email}' ]
	# plain output names it too
	run ctl client add "Plain one"
	[ "$status" = 0 ]
	[[ $output == *"client_secret  "* && $output == *"shown once"* ]]
	# list: every client, never a secret
	run ctl client list --json
	[ "$status" = 0 ]
	[ "$(jq -c '[.[] | .name] ' <<<"$output")" = '["Plain one","Web shop","cli-app"]' ]
	! grep -qF "$secret" <<<"$output"
	run ctl client list
	[ "$status" = 0 ]
	[[ $output == *"$id"*"confidential"*"Web shop"* ]]
	# remove by id, then by name
	run ctl client remove "$id"
	[ "$status" = 0 ]
	run ctl client remove cli-app
	[ "$status" = 0 ]
	[ "$(psql_auth "SELECT name FROM oauth_clients")" = 'Plain one' ]
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
