# tests/: C unit tests run by make check; bats suites run by scripts/test.
UNIT_TESTS = tests/unit/test_validate tests/unit/test_conf tests/unit/test_uuid7 \
	tests/unit/test_pwhash tests/unit/test_event
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

tests_unit_test_validate_SOURCES = tests/unit/test_validate.c tests/unit/t.h
tests_unit_test_validate_LDADD = $(MAGENTA_LIBS)
tests_unit_test_conf_SOURCES = tests/unit/test_conf.c tests/unit/t.h
tests_unit_test_conf_LDADD = $(MAGENTA_LIBS)
tests_unit_test_uuid7_SOURCES = tests/unit/test_uuid7.c tests/unit/t.h
tests_unit_test_uuid7_LDADD = $(MAGENTA_LIBS)
tests_unit_test_pwhash_SOURCES = tests/unit/test_pwhash.c tests/unit/t.h
tests_unit_test_pwhash_LDADD = $(MAGENTA_LIBS)
tests_unit_test_event_SOURCES = tests/unit/test_event.c tests/unit/t.h
tests_unit_test_event_LDADD = $(MAGENTA_LIBS)

EXTRA_DIST += tests/http tests/lib tests/fixtures
