#!/usr/bin/env bats
# magentactl migrate: idempotent, each file in its own transaction, a failed
# file neither applied in part nor recorded.

load ../lib/common

ctl() { "$MAGENTA_PREFIX/bin/magentactl" -f "$MAGENTA_CONFIG" "$@"; }

@test "migrate: a second run applies nothing and says so" {
	run ctl migrate
	[ "$status" = 0 ]
	[[ "$output" == *"$USERS_DB: up to date"* ]]
	[[ "$output" == *"$AUTH_DB: up to date"* ]]
	[[ "$output" != *applied* ]]
}

@test "migrate: --create makes the database; a failing file is rolled back and not recorded" {
	local dir="$BATS_TEST_TMPDIR/sql" db=MigrateScratch$$
	mkdir -p "$dir/users"
	printf 'CREATE TABLE first (id int);\n' >"$dir/users/001_first.sql"
	printf 'CREATE TABLE second (id int);\nCREATE TABLE broken (;\n' >"$dir/users/002_second.sql"
	export MAGENTA_MIGRATIONS_DIR=$dir MAGENTA_USERS_DB=$db
	run ctl migrate --create users
	[ "$status" = 1 ]
	[[ "$output" == *"created database $db"* ]]
	[[ "$output" == *"applied users/001_first.sql"* ]]
	[[ "$output" == *002_second.sql* ]]
	[ "$(psql_db "$db" "SELECT string_agg(version, ',') FROM schema_migrations")" = 001_first.sql ]
	[ "$(psql_db "$db" "SELECT count(*) FROM pg_tables WHERE tablename IN ('first', 'second')")" = 1 ]
	# fixed, it applies only what is missing
	printf 'CREATE TABLE second (id int);\n' >"$dir/users/002_second.sql"
	run ctl migrate --create users
	[ "$status" = 0 ]
	[[ "$output" != *001_first* ]]
	[[ "$output" == *"applied users/002_second.sql"* ]]
	[ "$(psql_db "$db" "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations")" = 001_first.sql,002_second.sql ]
	psql_db postgres "DROP DATABASE \"$db\"" >/dev/null
}

@test "migrate: an unknown argument is a usage error" {
	run ctl migrate sideways
	[ "$status" = 2 ]
	[[ "$output" == *"unknown argument 'sideways'"* ]]
}
