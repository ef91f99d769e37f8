# apache/: Magenta's routes for Apache httpd, for inclusion from a server
# configuration.  apache/magenta.conf is installed as
# $(sysconfdir)/magenta/apache-magenta.conf, beside lighttpd-magenta.conf;
# apache/limits.conf (connection limits, for the main server configuration)
# as apache-magenta-limits.conf.
apachedir = $(sysconfdir)/magenta
EXTRA_DIST += apache/magenta.conf apache/limits.conf

install-data-local: install-apache-routes
uninstall-local: uninstall-apache-routes

install-apache-routes:
	$(MKDIR_P) '$(DESTDIR)$(apachedir)'
	$(INSTALL_DATA) '$(srcdir)/apache/magenta.conf' '$(DESTDIR)$(apachedir)/apache-magenta.conf'
	$(INSTALL_DATA) '$(srcdir)/apache/limits.conf' '$(DESTDIR)$(apachedir)/apache-magenta-limits.conf'

uninstall-apache-routes:
	rm -f '$(DESTDIR)$(apachedir)/apache-magenta.conf' '$(DESTDIR)$(apachedir)/apache-magenta-limits.conf'

.PHONY: install-apache-routes uninstall-apache-routes
