#!/usr/bin/env bats
# TLS between the programs and PostgreSQL (pg_sslmode, pg_sslrootcert): the
# private server gets a certificate from a test CA for 127.0.0.1, then the
# FastCGI programs connect with verify-full, against that CA and another.

load ../lib/common

# openssl_ec NAME SUBJECT: a P-256 key NAME.key and a self-signed NAME.crt.
openssl_ec() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "$2" -keyout "$TLS_DIR/$1.key" -out "$TLS_DIR/$1.crt" 2>/dev/null
}

setup_file() {
	export TLS_DIR=$STACK_DIR/tls
	local data=$STACK_DIR/pg/data
	mkdir -p "$TLS_DIR"
	openssl_ec ca /CN=magenta-test-ca
	openssl_ec other /CN=another-ca
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
		-keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" 2>/dev/null
	openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
		-CAcreateserial -days 2 -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') \
		-out "$TLS_DIR/server.crt" 2>/dev/null
	install -m 0644 "$TLS_DIR/server.crt" "$data/tls-server.crt"
	install -m 0600 "$TLS_DIR/server.key" "$data/tls-server.key"
	chown --reference="$data" "$data/tls-server.crt" "$data/tls-server.key"
	psql_db postgres "ALTER SYSTEM SET ssl_cert_file = 'tls-server.crt'"
	psql_db postgres "ALTER SYSTEM SET ssl_key_file = 'tls-server.key'"
	psql_db postgres "ALTER SYSTEM SET ssl = on"
	psql_db postgres "SELECT pg_reload_conf()" >/dev/null
	ssl_on() { [ "$(psql_db postgres "SHOW ssl")" = on ]; }
	wait_until 10 ssl_on
}

teardown_file() {
	psql_db postgres "ALTER SYSTEM RESET ssl"
	psql_db postgres "ALTER SYSTEM RESET ssl_cert_file"
	psql_db postgres "ALTER SYSTEM RESET ssl_key_file"
	psql_db postgres "SELECT pg_reload_conf()" >/dev/null
	stack_lighttpd_restart >/dev/null
}

# ssl_of APP: whether the connections of application_name APP use TLS.
ssl_of() {
	psql_db postgres "SELECT coalesce(bool_and(s.ssl), false) FROM pg_stat_activity a
		JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = '$1'"
}

@test "postgres TLS: verify-full against the server's CA connects, encrypted" {
	MAGENTA_PG_SSLMODE=verify-full MAGENTA_PG_SSLROOTCERT=$TLS_DIR/ca.crt stack_lighttpd_restart >/dev/null
	api GET /api/registration/ready
	assert_code 200
	api GET /api/auth/ready
	assert_code 200
	[ "$(ssl_of magenta-registration)" = t ]
	[ "$(ssl_of magenta-auth)" = t ]
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		'{"username":"tlsuser","email":"tls@example.com","password":"Correct-Horse-42x","confirmPassword":"Correct-Horse-42x"}'
	assert_code 201
}

@test "postgres TLS: verify-full against another CA refuses the server: 503, nothing written" {
	MAGENTA_PG_SSLMODE=verify-full MAGENTA_PG_SSLROOTCERT=$TLS_DIR/other.crt stack_lighttpd_restart >/dev/null
	api GET /api/registration/ready
	assert_code 503
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		'{"username":"tlsuser2","email":"tls2@example.com","password":"Correct-Horse-42x","confirmPassword":"Correct-Horse-42x"}'
	assert_code 503
	[ "$(psql_users "SELECT count(*) FROM users")" = 0 ]
	grep -q 'event=db_down db=MagentaUsers err=.*certificate verify failed' "$STACK_DIR/log/lighttpd-error.log"
}

@test "postgres TLS: the default (prefer) still connects, encrypted when the server offers it" {
	stack_lighttpd_restart >/dev/null
	api GET /api/auth/ready
	assert_code 200
	[ "$(ssl_of magenta-auth)" = t ]
}
