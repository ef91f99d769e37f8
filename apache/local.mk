# apache/: Magenta's routes for Apache httpd, for inclusion from a server
# configuration.  apache/magenta.conf is installed as
# $(sysconfdir)/magenta/apache-magenta.conf, beside lighttpd-magenta.conf;
# apache/limits.conf (connection limits, for the main server configuration)
# as apache-magenta-limits.conf; apache/magenta-web.conf (the web page at
# /, made from its .in with the install paths) as apache-magenta-web.conf.
apachedir = $(sysconfdir)/magenta
EXTRA_DIST += apache/magenta.conf apache/limits.conf apache/magenta-web.conf.in
CLEANFILES += apache/magenta-web.conf
apache/magenta-web.conf: $(srcdir)/apache/magenta-web.conf.in Makefile
	$(AM_V_GEN)$(MKDIR_P) apache && $(MAGENTA_SUBST_PATHS) $< >$@
noinst_DATA = apache/magenta-web.conf

install-data-local: install-apache-routes
uninstall-local: uninstall-apache-routes

install-apache-routes: apache/magenta-web.conf
	$(MKDIR_P) '$(DESTDIR)$(apachedir)'
	$(INSTALL_DATA) '$(srcdir)/apache/magenta.conf' '$(DESTDIR)$(apachedir)/apache-magenta.conf'
	$(INSTALL_DATA) '$(srcdir)/apache/limits.conf' '$(DESTDIR)$(apachedir)/apache-magenta-limits.conf'
	$(INSTALL_DATA) apache/magenta-web.conf '$(DESTDIR)$(apachedir)/apache-magenta-web.conf'

uninstall-apache-routes: apache/magenta-web.conf
	rm -f '$(DESTDIR)$(apachedir)/apache-magenta.conf' '$(DESTDIR)$(apachedir)/apache-magenta-limits.conf' \
		'$(DESTDIR)$(apachedir)/apache-magenta-web.conf'

.PHONY: install-apache-routes uninstall-apache-routes
