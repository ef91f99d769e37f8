#!/usr/bin/env bats
# The event pipeline over AMQP with TLS (amqp_tls, amqp_cacert): the private
# RabbitMQ also listens with TLS on $AMQPS_PORT, with a certificate from the
# stack's test CA ($STACK_DIR/tls-amqp/ca.crt) for 127.0.0.1.

load ../lib/common
load 20-pipeline

# tls_daemons [CACERT]: restart relay and consumer over TLS (default: the
# stack's CA).
tls_daemons() {
	stack_daemons_stop >/dev/null
	MAGENTA_AMQP_TLS=on MAGENTA_AMQP_PORT=$AMQPS_PORT \
		MAGENTA_AMQP_CACERT=${1:-$STACK_DIR/tls-amqp/ca.crt} stack_daemons_start 3>&- >/dev/null
}

setup_file() {
	[[ -n ${AMQPS_PORT:-} ]] || {
		echo "this stack has no AMQPS_PORT (made before TLS): run scripts/test afresh" >&2
		return 1
	}
	pipeline_setup_file
}

teardown() {
	# back to plain AMQP for the next test and file
	stack_daemons_stop >/dev/null
	stack_daemons_start 3>&- >/dev/null
}

# tls_connections: "name ssl" of the broker's client connections, sorted.
tls_connections() {
	amqp_mgmt GET /connections
	jq -r '.[] | "\(.client_properties.connection_name // .name) \(.ssl)"' <<<"$body" | sort
}

@test "pipeline over TLS: relay and consumer verify the broker and carry a registration" {
	tls_daemons
	has_tls() { [[ $(tls_connections | grep -c ' true$') -ge 2 ]]; }
	# (the management API lists connections a few seconds late)
	wait_until 30 has_tls
	tls_connections | grep -q '^magenta-relay true$'
	tls_connections | grep -q '^magenta-consumer true$'
	id=$(register tlsuser)
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'"
	[ "$(backlog)" = 0 ]
}

@test "pipeline over TLS: a broker certificate from another CA is refused; the event waits in the outbox" {
	local other=$BATS_TEST_TMPDIR/other-ca.crt
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=another-ca -keyout "$BATS_TEST_TMPDIR/other-ca.key" -out "$other" 2>/dev/null
	: >"$STACK_DIR/log/relay.log"
	tls_daemons "$other"
	id=$(register tlsrefused)
	refused() { grep -q 'event=amqp_down .*err="connect: SSL peer cert verification failed"' "$STACK_DIR/log/relay.log"; }
	wait_until 15 refused
	[ "$(backlog)" = 1 ]
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'")" = 0 ]
	# the right CA again: the waiting event goes through
	tls_daemons
	wait_until 15 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'"
	[ "$(backlog)" = 0 ]
}

# client_cert NAME CA_BASENAME: a client certificate CN=magenta-daemon in
# $BATS_TEST_TMPDIR/NAME.{crt,key}, signed by CA_BASENAME.{crt,key}.
client_cert() {
	local d=$BATS_TEST_TMPDIR
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=magenta-daemon \
		-keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
	openssl x509 -req -in "$d/$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
		-CAserial "$d/$1.srl" -days 2 -out "$d/$1.crt" 2>/dev/null
}

@test "pipeline over TLS: a client certificate from the broker's CA is presented and accepted; one from another CA is refused" {
	local d=$BATS_TEST_TMPDIR
	client_cert good "$STACK_DIR/tls-amqp/ca"
	MAGENTA_AMQP_CERT=$d/good.crt MAGENTA_AMQP_KEY=$d/good.key tls_daemons
	subjects() {
		amqp_mgmt GET /connections
		jq -r '.[] | "\(.client_properties.connection_name) \(.peer_cert_subject)"' <<<"$body" | sort
	}
	both() { [[ $(subjects | grep -c ' CN=magenta-daemon$') == 2 ]]; }
	wait_until 30 both
	id=$(register mtlsuser)
	wait_until 10 _eq 1 psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'"
	# a certificate the broker's CA did not sign
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=another-ca -keyout "$d/other-ca.key" -out "$d/other-ca.crt" 2>/dev/null
	client_cert bad "$d/other-ca"
	: >"$STACK_DIR/log/relay.log"
	MAGENTA_AMQP_CERT=$d/bad.crt MAGENTA_AMQP_KEY=$d/bad.key tls_daemons
	id=$(register mtlsrefused)
	down() { grep -q 'event=amqp_down' "$STACK_DIR/log/relay.log"; }
	wait_until 15 down
	! grep -q 'event=amqp_connected' "$STACK_DIR/log/relay.log" || false
	[ "$(backlog)" = 1 ]
	[ "$(psql_auth "SELECT count(*) FROM auth_users WHERE id = '$id'")" = 0 ]
}
