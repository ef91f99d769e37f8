# bench/: benchmark helpers (the runners are shell scripts in bench/).
noinst_PROGRAMS += bench/pwhash-rate
bench_pwhash_rate_SOURCES = bench/pwhash-rate.c
bench_pwhash_rate_LDADD = $(MAGENTA_LIBS)

# bench/auth.sh: the ceilings for the authentication service, and the
# FastCGI hello-world it is compared with.
noinst_PROGRAMS += bench/auth-rate bench/auth-hello
bench_auth_rate_SOURCES = bench/auth-rate.c
bench_auth_rate_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)
bench_auth_hello_SOURCES = bench/auth-hello.c
bench_auth_hello_LDADD = $(FCGI_LIBS)
EXTRA_DIST += bench/auth.sh bench/auth-login.lua bench/auth-refresh.lua bench/auth-refresh.sql

# the runners and their inputs
EXTRA_DIST += bench/README.md bench/registration.sh bench/register.lua \
	bench/pipeline.sh bench/pipeline-event.sql bench/pipeline-insert.sql
