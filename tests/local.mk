# tests/: C unit tests run by make check; bats suites run by scripts/test.
UNIT_TESTS = tests/unit/test_validate tests/unit/test_conf tests/unit/test_uuid7 \
	tests/unit/test_pwhash tests/unit/test_event tests/unit/test_json tests/unit/test_log tests/unit/test_token \
	tests/unit/test_token_key tests/unit/test_jose \
	tests/unit/test_clientaddr tests/unit/test_event_parse tests/unit/test_backoff tests/unit/test_json_wipe \
	tests/unit/test_fcgi_wipe tests/unit/test_eventsig tests/unit/test_devicetoken tests/unit/test_cookie \
	tests/unit/test_hostlist tests/unit/test_daemon_metrics tests/unit/test_totp tests/unit/test_mfa_key
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

tests_unit_test_validate_SOURCES = tests/unit/test_validate.c tests/unit/t.h
tests_unit_test_validate_LDADD = $(MAGENTA_LIBS)
tests_unit_test_conf_SOURCES = tests/unit/test_conf.c tests/unit/t.h
tests_unit_test_conf_LDADD = $(MAGENTA_LIBS)
tests_unit_test_hostlist_SOURCES = tests/unit/test_hostlist.c tests/unit/t.h
tests_unit_test_hostlist_LDADD = $(MAGENTA_LIBS)
tests_unit_test_daemon_metrics_SOURCES = tests/unit/test_daemon_metrics.c tests/unit/t.h
tests_unit_test_daemon_metrics_LDADD = $(MAGENTA_LIBS)
# lib/totp.c again, with the hook that makes HMAC fail (TOTP_TEST_HOOKS):
# the library's copy, which the programs link, has none
tests_unit_test_totp_SOURCES = tests/unit/test_totp.c tests/unit/t.h lib/totp.c
tests_unit_test_totp_CPPFLAGS = $(AM_CPPFLAGS) -DTOTP_TEST_HOOKS
tests_unit_test_totp_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)
tests_unit_test_mfa_key_SOURCES = tests/unit/test_mfa_key.c tests/unit/t.h
tests_unit_test_mfa_key_LDADD = $(MAGENTA_LIBS)
tests_unit_test_uuid7_SOURCES = tests/unit/test_uuid7.c tests/unit/t.h
tests_unit_test_uuid7_LDADD = $(MAGENTA_LIBS)
tests_unit_test_pwhash_SOURCES = tests/unit/test_pwhash.c tests/unit/t.h
tests_unit_test_pwhash_LDADD = $(MAGENTA_LIBS)
tests_unit_test_event_SOURCES = tests/unit/test_event.c tests/unit/t.h
tests_unit_test_event_LDADD = $(MAGENTA_LIBS)
tests_unit_test_json_SOURCES = tests/unit/test_json.c tests/unit/t.h
tests_unit_test_json_LDADD = $(MAGENTA_LIBS)
tests_unit_test_log_SOURCES = tests/unit/test_log.c tests/unit/t.h
tests_unit_test_log_LDADD = $(MAGENTA_LIBS)
tests_unit_test_token_SOURCES = tests/unit/test_token.c tests/unit/token_t.h tests/unit/t.h
tests_unit_test_token_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)
tests_unit_test_token_key_SOURCES = tests/unit/test_token_key.c tests/unit/token_t.h tests/unit/t.h
tests_unit_test_token_key_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)
tests_unit_test_jose_SOURCES = tests/unit/test_jose.c tests/unit/t.h
tests_unit_test_jose_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)
tests_unit_test_clientaddr_SOURCES = tests/unit/test_clientaddr.c tests/unit/t.h
tests_unit_test_clientaddr_LDADD = $(MAGENTA_LIBS)
tests_unit_test_event_parse_SOURCES = tests/unit/test_event_parse.c tests/unit/t.h
tests_unit_test_event_parse_LDADD = $(MAGENTA_LIBS)
tests_unit_test_backoff_SOURCES = tests/unit/test_backoff.c tests/unit/t.h
tests_unit_test_backoff_LDADD = $(MAGENTA_LIBS)
tests_unit_test_json_wipe_SOURCES = tests/unit/test_json_wipe.c tests/unit/free_watch.h tests/unit/t.h
tests_unit_test_json_wipe_LDADD = $(MAGENTA_LIBS)
tests_unit_test_fcgi_wipe_SOURCES = tests/unit/test_fcgi_wipe.c tests/unit/free_watch.h tests/unit/t.h
tests_unit_test_fcgi_wipe_LDADD = $(MAGENTA_LIBS)
tests_unit_test_eventsig_SOURCES = tests/unit/test_eventsig.c tests/unit/t.h
tests_unit_test_eventsig_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)
tests_unit_test_devicetoken_SOURCES = tests/unit/test_devicetoken.c tests/unit/t.h
tests_unit_test_devicetoken_LDADD = $(MAGENTA_LIBS)
tests_unit_test_cookie_SOURCES = tests/unit/test_cookie.c tests/unit/t.h
tests_unit_test_cookie_LDADD = $(MAGENTA_LIBS)
# the browser flow of tests/http/60-web.bats
EXTRA_DIST += tests/tools/web-flow.py

# An independent JWT verifier for tests/http/30-auth-tokens.bats and
# 33-auth-roles.bats: the only user of libjwt, which configure therefore
# does not require.  Without it, building the verifier says what is missing,
# and those tests fail with that message.
if HAVE_LIBJWT
check_PROGRAMS += tests/tools/jwt-libjwt
tests_tools_jwt_libjwt_SOURCES = tests/tools/jwt-libjwt.c
tests_tools_jwt_libjwt_CPPFLAGS = $(AM_CPPFLAGS) $(JWT_CFLAGS)
tests_tools_jwt_libjwt_LDADD = $(JWT_LIBS)
else
EXTRA_DIST += tests/tools/jwt-libjwt.c
tests/tools/jwt-libjwt:
	@echo "tests/tools/jwt-libjwt: configure found no libjwt: install the Debian package libjwt-dev and run configure again" >&2; exit 1
endif

EXTRA_DIST += tests/http tests/lib tests/tools/event-tool.py tests/tools/amqp-try.py tests/tools/smtp-sink.py \
	tests/tools/fcgi-slow.py tests/tools/prom-text.py

UNIT_TESTS += tests/unit/test_strbuf
tests_unit_test_strbuf_SOURCES = tests/unit/test_strbuf.c tests/unit/t.h
tests_unit_test_strbuf_LDADD = $(MAGENTA_LIBS)
UNIT_TESTS += tests/unit/test_form
tests_unit_test_form_SOURCES = tests/unit/test_form.c tests/unit/t.h
tests_unit_test_form_LDADD = $(MAGENTA_LIBS)
UNIT_TESTS += tests/unit/test_oauth_client
tests_unit_test_oauth_client_SOURCES = tests/unit/test_oauth_client.c tests/unit/t.h
tests_unit_test_oauth_client_LDADD = $(MAGENTA_LIBS)
UNIT_TESTS += tests/unit/test_keyring
tests_unit_test_keyring_SOURCES = tests/unit/test_keyring.c tests/unit/t.h
tests_unit_test_keyring_LDADD = $(MAGENTA_LIBS)
UNIT_TESTS += tests/unit/test_metrics
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c tests/unit/t.h
tests_unit_test_metrics_LDADD = $(MAGENTA_LIBS)
UNIT_TESTS += tests/unit/test_mail
tests_unit_test_mail_SOURCES = tests/unit/test_mail.c tests/unit/t.h
tests_unit_test_mail_LDADD = $(MAGENTA_LIBS)
