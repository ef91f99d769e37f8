# lighttpd/: the routes, installed for inclusion from a server configuration.
lighttpddir = $(sysconfdir)/magenta
dist_lighttpd_DATA = lighttpd/magenta.conf
