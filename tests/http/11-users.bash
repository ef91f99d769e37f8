# shellcheck shell=bash
# tests/http/11-users.bash: helpers of the 11-users-*.bats files (load
# 11-users after ../lib/common and 30-auth), which test the account
# lifecycle end to end: registration endpoint -> MagentaUsers + outbox ->
# relay -> consumer -> MagentaAuthentication -> magenta-auth.
#
#   USER_PW                      the password new_user registers with
#   new_user NAME [PW]           register NAME (email NAME@example.com),
#                                wait until the auth database has it, log in;
#                                sets UID_, TOKEN, REFRESH
#   as TOKEN METHOD PATH [JSON [CURL ARGS...]]
#                                a registration call with the Bearer token
#                                (and the JSON body, unless empty)
#   auth_version ID              the version of user ID in auth_users ("" when
#                                it has none)
#   wait_applied ID VERSION      until auth_users has ID at VERSION (10 s)
#   outbox_last ID               the payload of user ID's newest outbox row
#   outbox_count ID              how many outbox rows user ID has
#   ctl ARGS...                  magentactl against the stack

USER_PW='lifecycle test pw 1'

new_user() {
	local name=$1 pw=${2:-$USER_PW}
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		"$(jq -cn --arg u "$name" --arg p "$pw" '{username:$u,email:($u+"@example.com"),password:$p,confirmPassword:$p}')"
	assert_code 201 || return 1
	UID_=$(field .userId)
	wait_applied "$UID_" 1 || return 1
	login "$name" "$pw"
	assert_code 200 || return 1
	TOKEN=$(field .accessToken)
	REFRESH=$(field .refreshToken)
}

as() {
	local token=$1 method=$2 path=$3 json=${4:-}
	shift $(($# < 4 ? $# : 4))
	if [[ -n $json ]]; then
		api "$method" "$path" -H "Authorization: Bearer $token" \
			-H 'Content-Type: application/json' --data-binary "$json" "$@"
	elif [[ $method == POST ]]; then
		# no body: lighttpd wants a length for a POST all the same
		api "$method" "$path" -H "Authorization: Bearer $token" -H 'Content-Length: 0' "$@"
	else
		api "$method" "$path" -H "Authorization: Bearer $token" "$@"
	fi
}

auth_version() {
	psql_auth "SELECT version FROM auth_users WHERE id = '$1'"
}

_applied_at() { [[ $(auth_version "$1") == "$2" ]]; }
wait_applied() {
	wait_until 10 _applied_at "$1" "$2"
}

outbox_last() {
	psql_users "SELECT payload FROM outbox WHERE aggregate_id = '$1' ORDER BY id DESC LIMIT 1"
}

outbox_count() {
	psql_users "SELECT count(*) FROM outbox WHERE aggregate_id = '$1'"
}

ctl() {
	"$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" "$@"
}
