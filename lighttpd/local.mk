# lighttpd/: Magenta's routes for lighttpd, for inclusion from a server
# configuration.  lighttpd/magenta.conf is installed as
# $(sysconfdir)/magenta/lighttpd-magenta.conf: the plain name magenta.conf in
# that directory belongs to the programs' own configuration file.
# lighttpd/errors.conf (lighttpd's own errors as JSON, for a server that
# serves Magenta alone) is installed beside it as lighttpd-magenta-errors.conf,
# with the documents it names in $(pkgdatadir)/lighttpd-errors/.
# lighttpd/limits.conf (connection limits, same kind of server) is installed
# as lighttpd-magenta-limits.conf, and the per-address script it runs,
# lighttpd/conns.lua, as $(pkgdatadir)/lighttpd-conns.lua.
# lighttpd/magenta-web.conf (the web page at /) is installed as
# lighttpd-magenta-web.conf.
# lighttpd/lighttpd.conf.sample is made from its .in with the install paths.
lighttpddir = $(sysconfdir)/magenta
lighttpd_DATA = lighttpd/lighttpd.conf.sample
EXTRA_DIST += lighttpd/lighttpd.conf.sample.in
CLEANFILES += lighttpd/lighttpd.conf.sample
lighttpd/lighttpd.conf.sample: $(srcdir)/lighttpd/lighttpd.conf.sample.in Makefile
	$(AM_V_GEN)$(MKDIR_P) lighttpd && $(MAGENTA_SUBST_PATHS) $< >$@

EXTRA_DIST += lighttpd/magenta.conf lighttpd/magenta-web.conf lighttpd/errors.conf lighttpd/limits.conf lighttpd/conns.lua
lighttpderrorsdir = $(pkgdatadir)/lighttpd-errors
dist_lighttpderrors_DATA = \
	lighttpd/errors/magenta-400.html \
	lighttpd/errors/magenta-411.html \
	lighttpd/errors/magenta-413.html \
	lighttpd/errors/magenta-414.html \
	lighttpd/errors/magenta-417.html \
	lighttpd/errors/magenta-431.html \
	lighttpd/errors/magenta-501.html \
	lighttpd/errors/magenta-505.html

install-data-local: install-lighttpd-routes
uninstall-local: uninstall-lighttpd-routes

install-lighttpd-routes:
	$(MKDIR_P) '$(DESTDIR)$(lighttpddir)'
	$(INSTALL_DATA) '$(srcdir)/lighttpd/magenta.conf' '$(DESTDIR)$(lighttpddir)/lighttpd-magenta.conf'
	$(INSTALL_DATA) '$(srcdir)/lighttpd/errors.conf' '$(DESTDIR)$(lighttpddir)/lighttpd-magenta-errors.conf'
	$(INSTALL_DATA) '$(srcdir)/lighttpd/limits.conf' '$(DESTDIR)$(lighttpddir)/lighttpd-magenta-limits.conf'
	$(INSTALL_DATA) '$(srcdir)/lighttpd/magenta-web.conf' '$(DESTDIR)$(lighttpddir)/lighttpd-magenta-web.conf'
	$(MKDIR_P) '$(DESTDIR)$(pkgdatadir)'
	$(INSTALL_DATA) '$(srcdir)/lighttpd/conns.lua' '$(DESTDIR)$(pkgdatadir)/lighttpd-conns.lua'

uninstall-lighttpd-routes:
	rm -f '$(DESTDIR)$(lighttpddir)/lighttpd-magenta.conf' '$(DESTDIR)$(lighttpddir)/lighttpd-magenta-errors.conf' \
		'$(DESTDIR)$(lighttpddir)/lighttpd-magenta-limits.conf' '$(DESTDIR)$(lighttpddir)/lighttpd-magenta-web.conf' \
		'$(DESTDIR)$(pkgdatadir)/lighttpd-conns.lua'

.PHONY: install-lighttpd-routes uninstall-lighttpd-routes
