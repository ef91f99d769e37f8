# web/: the sign-up / sign-in page (static files, no build step), installed
# to $(pkgdatadir)/web and served at / by lighttpd/magenta-web.conf and
# apache/magenta-web.conf.
webdir = $(pkgdatadir)/web
dist_web_DATA = web/index.html web/app.css web/app.js
