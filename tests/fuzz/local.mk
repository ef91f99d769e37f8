# tests/fuzz/: libFuzzer harnesses, built only by ./configure --enable-fuzzing
# (CC=clang) and run by scripts/fuzz; the seed corpora and dictionaries
# are committed, what the fuzzers find is not.
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/fuzz.h tests/fuzz/fuzz_form.c \
	tests/fuzz/fuzz_json.c tests/fuzz/fuzz_event.c tests/fuzz/fuzz_conf.c \
	tests/fuzz/fuzz_token.c tests/fuzz/fuzz_clientaddr.c tests/fuzz/fuzz_http.c tests/fuzz/json.dict \
	tests/fuzz/token.dict

if FUZZING
FUZZ_TARGETS = tests/fuzz/fuzz_form tests/fuzz/fuzz_json tests/fuzz/fuzz_event \
	tests/fuzz/fuzz_conf tests/fuzz/fuzz_token tests/fuzz/fuzz_clientaddr tests/fuzz/fuzz_http
noinst_PROGRAMS += $(FUZZ_TARGETS)
FUZZ_LINK_FLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer

tests_fuzz_fuzz_form_SOURCES = tests/fuzz/fuzz_form.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_form_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_form_LDADD = $(MAGENTA_LIBS)

tests_fuzz_fuzz_json_SOURCES = tests/fuzz/fuzz_json.c tests/fuzz/fuzz.h fcgi/users_rules.c
tests_fuzz_fuzz_json_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/fcgi
tests_fuzz_fuzz_json_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_json_LDADD = $(MAGENTA_LIBS)

tests_fuzz_fuzz_event_SOURCES = tests/fuzz/fuzz_event.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_event_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_event_LDADD = $(MAGENTA_LIBS)

tests_fuzz_fuzz_conf_SOURCES = tests/fuzz/fuzz_conf.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_conf_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_conf_LDADD = $(MAGENTA_LIBS)

tests_fuzz_fuzz_token_SOURCES = tests/fuzz/fuzz_token.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_token_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_token_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)

tests_fuzz_fuzz_clientaddr_SOURCES = tests/fuzz/fuzz_clientaddr.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_clientaddr_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_clientaddr_LDADD = $(MAGENTA_LIBS)

tests_fuzz_fuzz_http_SOURCES = tests/fuzz/fuzz_http.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_http_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_http_LDADD = $(MAGENTA_LIBS)
endif
