# systemd/: units, with the install paths filled in.
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = systemd/magenta-registration.service systemd/magenta-auth.service
systemdunit_DATA += systemd/magenta-relay.service systemd/magenta-consumer.service
systemdunit_DATA += systemd/magenta-mailer.service
EXTRA_DIST += systemd/magenta-mailer.service.in
CLEANFILES += systemd/magenta-mailer.service
dist_systemdunit_DATA = systemd/magenta-registration.socket systemd/magenta-auth.socket
EXTRA_DIST += systemd/magenta-registration.service.in systemd/magenta-auth.service.in
CLEANFILES += systemd/magenta-registration.service systemd/magenta-auth.service
EXTRA_DIST += systemd/magenta-relay.service.in systemd/magenta-consumer.service.in
CLEANFILES += systemd/magenta-relay.service systemd/magenta-consumer.service

systemd/%.service: $(srcdir)/systemd/%.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' $< >$@
