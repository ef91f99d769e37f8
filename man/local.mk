# man/: the programs' manual pages, hand-written roff.  Each page is made
# from its .in with the install paths filled in (as systemd/ does: make
# expands ${prefix} fully, configure's own substitution would not).
man8_MANS = man/magenta-registration.8 man/magenta-auth.8 man/magenta-relay.8 \
	man/magenta-consumer.8 man/magenta-mailer.8
man1_MANS = man/magentactl.1
EXTRA_DIST += man/magenta-registration.8.in man/magenta-auth.8.in man/magenta-relay.8.in \
	man/magenta-consumer.8.in man/magenta-mailer.8.in man/magentactl.1.in man/check-man.sh
CLEANFILES += $(man8_MANS) $(man1_MANS)

# Every page renders without a groff warning.
TESTS += man/check-man.sh

man/%.8: $(srcdir)/man/%.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(MAGENTA_SUBST_PATHS) $< >$@

man/%.1: $(srcdir)/man/%.1.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(MAGENTA_SUBST_PATHS) $< >$@
