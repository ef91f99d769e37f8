#!/usr/bin/env bats
# One magenta.conf for every program: each checks and uses its own keys,
# accepts the others' unchecked, and refuses a key that is nobody's.

load ../lib/common

# conf_with LINE...: the stack's magenta.conf plus LINEs, as a new file.
conf_with() {
	local f=$BATS_TEST_TMPDIR/magenta.conf
	cp "$MAGENTA_CONFIG" "$f"
	printf '%s\n' "$@" >>"$f"
	printf '%s' "$f"
}

check() { "$MAGENTA_PREFIX/sbin/magenta-$1" -f "$2" -t 2>&1; }

@test "config: a bad value of a daemon's key is the daemons' error only; the services start" {
	local f
	f=$(conf_with "amqp_port = none" "queue_type = stream")
	run check registration "$f"
	[ "$status" = 0 ] || { echo "$output"; false; }
	[[ "$output" == *"configuration ok: $f"* ]]
	run check auth "$f"
	[ "$status" = 0 ] || { echo "$output"; false; }
	run check relay "$f"
	[ "$status" = 1 ]
	[[ "$output" == *"key 'amqp_port': 'none' is not an integer"* ]]
	run check consumer "$f"
	[ "$status" = 1 ]
	[[ "$output" == *"key 'amqp_port'"* ]]
	run "$MAGENTA_PREFIX/bin/magentactl" -f "$f" status
	[ "$status" = 3 ]
	[[ "$output" == *"key 'amqp_port'"* ]]
}

@test "config: a bad value of the registration service's key stops it alone; a key of no program stops every one" {
	local f p
	f=$(conf_with "password_min = 3")
	run check registration "$f"
	[ "$status" = 1 ]
	[[ "$output" == *"key 'password_min': 3 is outside 8..1024"* ]]
	run check relay "$f"
	[ "$status" = 0 ] || { echo "$output"; false; }
	f=$(conf_with "pasword_min = 14")
	for p in registration auth relay consumer; do
		run check "$p" "$f"
		[ "$status" = 1 ]
		[[ "$output" == *"unknown key 'pasword_min'"* ]]
	done
}

@test "config: the environment follows the same rule" {
	run env MAGENTA_PREFETCH=0 "$MAGENTA_PREFIX/sbin/magenta-auth" -f "$MAGENTA_CONFIG" -t
	[ "$status" = 0 ] || { echo "$output"; false; }
	run env MAGENTA_PREFETCH=0 "$MAGENTA_PREFIX/sbin/magenta-consumer" -f "$MAGENTA_CONFIG" -t
	[ "$status" = 1 ]
	[[ "$output" == *"MAGENTA_PREFETCH"* ]]
}

@test "config: --help and --sample-config list a program's own keys" {
	run "$MAGENTA_PREFIX/sbin/magenta-registration" --help
	[ "$status" = 0 ]
	[[ "$output" == *"  password_blocklist "* ]]
	[[ "$output" != *"  amqp_host "* ]]
	[[ "$output" != *"  refresh_ttl "* ]]
	run "$MAGENTA_PREFIX/sbin/magenta-consumer" --sample-config
	[ "$status" = 0 ]
	[[ "$output" == *"#prefetch = 100"* ]]
	[[ "$output" != *"#relay_batch = "* ]]
	[[ "$output" != *"#jwt_keys = "* ]]
}
