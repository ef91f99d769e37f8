# bench/: benchmark helpers (the runners are shell scripts in bench/).
# the ceilings (argon2id, token signatures), and the FastCGI hello-world
# bench/auth.sh compares with
noinst_PROGRAMS += bench/ceiling bench/auth-hello
bench_ceiling_SOURCES = bench/ceiling.c
bench_ceiling_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)
bench_auth_hello_SOURCES = bench/auth-hello.c
bench_auth_hello_LDADD = $(FCGI_LIBS)
EXTRA_DIST += bench/auth.sh bench/auth-login.lua bench/auth-refresh.lua bench/auth-refresh.sql

# the runners and their inputs
EXTRA_DIST += bench/README.md bench/registration.sh bench/register.lua \
	bench/pipeline.sh bench/pipeline-event.sql bench/pipeline-insert.sql \
	bench/chaos.sh bench/chaos-load.py bench/chaos-check.py
