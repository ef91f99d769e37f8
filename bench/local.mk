# bench/: benchmark helpers (the runners are shell scripts in bench/).
noinst_PROGRAMS += bench/pwhash-rate
bench_pwhash_rate_SOURCES = bench/pwhash-rate.c
bench_pwhash_rate_LDADD = $(MAGENTA_LIBS)
