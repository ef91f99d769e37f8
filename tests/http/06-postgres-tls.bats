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
	export TLS_DIR=$STACK_DIR/tls-pg
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
	# a role that may log in only with a client certificate (CN=magenta_tls)
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=magenta_tls \
		-keyout "$TLS_DIR/client.key" -out "$TLS_DIR/client.csr" 2>/dev/null
	openssl x509 -req -in "$TLS_DIR/client.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
		-CAserial "$TLS_DIR/ca.srl" -days 2 -out "$TLS_DIR/client.crt" 2>/dev/null
	chmod 0600 "$TLS_DIR/client.key"
	psql_db postgres "CREATE ROLE magenta_tls LOGIN IN ROLE postgres"
	psql_db postgres "ALTER SYSTEM SET ssl_ca_file = 'tls-ca.crt'"
	install -m 0644 "$TLS_DIR/ca.crt" "$data/tls-ca.crt"
	chown --reference="$data" "$data/tls-ca.crt"
	cp "$data/pg_hba.conf" "$TLS_DIR/pg_hba.conf.orig"
	{
		printf 'hostssl all magenta_tls 127.0.0.1/32 cert\n'
		printf 'host    all magenta_tls 127.0.0.1/32 reject\n'
		cat "$TLS_DIR/pg_hba.conf.orig"
	} >"$data/pg_hba.conf"
		psql_db postgres "ALTER SYSTEM SET ssl_cert_file = 'tls-server.crt'"
	psql_db postgres "ALTER SYSTEM SET ssl_key_file = 'tls-server.key'"
	psql_db postgres "ALTER SYSTEM SET ssl = on"
	psql_db postgres "SELECT pg_reload_conf()" >/dev/null
	ssl_on() { [ "$(psql_db postgres "SHOW ssl")" = on ]; }
	wait_until 10 ssl_on
}

teardown_file() {
	cat "$TLS_DIR/pg_hba.conf.orig" >"$STACK_DIR/pg/data/pg_hba.conf"
	psql_db postgres "ALTER SYSTEM RESET ssl_ca_file"
	psql_db postgres "ALTER SYSTEM RESET ssl"
	psql_db postgres "ALTER SYSTEM RESET ssl_cert_file"
	psql_db postgres "ALTER SYSTEM RESET ssl_key_file"
	psql_db postgres "SELECT pg_reload_conf()" >/dev/null
	stack_lighttpd_restart >/dev/null
	psql_db postgres "DROP ROLE magenta_tls"
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

@test "postgres TLS: a role with cert authentication logs in with pg_sslcert and pg_sslkey, and not without" {
	MAGENTA_PG_USER=magenta_tls MAGENTA_PG_SSLMODE=verify-full MAGENTA_PG_SSLROOTCERT=$TLS_DIR/ca.crt \
		MAGENTA_PG_SSLCERT=$TLS_DIR/client.crt MAGENTA_PG_SSLKEY=$TLS_DIR/client.key \
		stack_lighttpd_restart >/dev/null
	api GET /api/registration/ready
	assert_code 200
	api POST /api/registration/register -H 'Content-Type: application/json' --data-binary \
		'{"username":"certuser","email":"cert@example.com","password":"Correct-Horse-42x","confirmPassword":"Correct-Horse-42x"}'
	assert_code 201
	[ "$(psql_db postgres "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
		WHERE a.usename = 'magenta_tls' AND s.ssl AND s.client_dn = '/CN=magenta_tls'")" -ge 1 ]
	# the same role without its certificate is refused
	MAGENTA_PG_USER=magenta_tls MAGENTA_PG_SSLMODE=verify-full MAGENTA_PG_SSLROOTCERT=$TLS_DIR/ca.crt \
		stack_lighttpd_restart >/dev/null
	api GET /api/registration/ready
	assert_code 503
}
