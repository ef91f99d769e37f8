# lib/: the shared core, linked into every program.
noinst_LIBRARIES += lib/libmagenta.a
lib_libmagenta_a_SOURCES = \
	lib/account.c lib/account.h \
	lib/backoff.c lib/backoff.h \
	lib/clientaddr.c lib/clientaddr.h \
	lib/clock.c lib/clock.h \
	lib/conf.c lib/conf.h \
	lib/cookie.c lib/cookie.h \
	lib/daemon.c lib/daemon.h \
	lib/db.c lib/db.h \
	lib/devicetoken.c lib/devicetoken.h \
	lib/event.c lib/event.h \
	lib/eventseal.c lib/eventseal.h \
	lib/eventsig.c lib/eventsig.h \
	lib/fcgi_wipe.c lib/fcgi_wipe.h \
	lib/form.c lib/form.h \
	lib/hostlist.c lib/hostlist.h \
	lib/http.c lib/http.h lib/http_reply.c \
	lib/jose.c lib/jose.h \
	lib/json.c lib/json.h \
	lib/keyring.c lib/keyring.h \
	lib/log.c lib/log.h \
	lib/mailtemplate.c lib/mailtemplate.h lib/strbuf.c lib/strbuf.h \
	lib/mailtoken.c lib/mailtoken.h \
	lib/daemon_metrics.c lib/daemon_metrics.h \
	lib/metrics.c lib/metrics.h lib/metrics_route.c \
	lib/metrics_listen.c lib/metrics_listen.h \
	lib/mfa_key.c lib/mfa_key.h \
	lib/mq.c lib/mq.h lib/mq_internal.h \
	lib/mq_consume.c lib/mq_declare.c lib/mq_publish.c \
	lib/oauth_client.c lib/oauth_client.h \
	lib/pemkey.c lib/pemkey.h \
	lib/phc.c lib/phc.h \
	lib/pwhash.c lib/pwhash.h \
	lib/refresh.c lib/refresh.h \
	lib/reload.c lib/reload.h \
	lib/roles.c lib/roles.h \
	lib/service.c lib/service.h \
	lib/token.c lib/token.h \
	lib/token_key.c lib/token_key.h \
	lib/topology.c lib/topology.h \
	lib/totp.c lib/totp.h \
	lib/uuid7.c lib/uuid7.h \
	lib/validate.c lib/validate.h

MAGENTA_LIBS = lib/libmagenta.a $(LIBPQ_LIBS) $(JSONC_LIBS) $(SODIUM_LIBS) $(FCGI_LIBS)
