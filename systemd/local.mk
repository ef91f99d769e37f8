# systemd/: units, with the install paths filled in.
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = systemd/magenta-registration.service
dist_systemdunit_DATA = systemd/magenta-registration.socket
EXTRA_DIST += systemd/magenta-registration.service.in
CLEANFILES += systemd/magenta-registration.service

systemd/%.service: $(srcdir)/systemd/%.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' $< >$@
