# lighttpd/: Magenta's routes for lighttpd, for inclusion from a server
# configuration.  lighttpd/magenta.conf is installed as
# $(sysconfdir)/magenta/lighttpd-magenta.conf: the plain name magenta.conf in
# that directory belongs to the programs' own configuration file.
lighttpddir = $(sysconfdir)/magenta
dist_lighttpd_DATA = lighttpd/lighttpd.conf.sample
EXTRA_DIST += lighttpd/magenta.conf

install-data-local: install-lighttpd-routes
uninstall-local: uninstall-lighttpd-routes

install-lighttpd-routes:
	$(MKDIR_P) '$(DESTDIR)$(lighttpddir)'
	$(INSTALL_DATA) '$(srcdir)/lighttpd/magenta.conf' '$(DESTDIR)$(lighttpddir)/lighttpd-magenta.conf'

uninstall-lighttpd-routes:
	rm -f '$(DESTDIR)$(lighttpddir)/lighttpd-magenta.conf'

.PHONY: install-lighttpd-routes uninstall-lighttpd-routes
