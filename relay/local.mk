# relay/: magenta-relay, MagentaUsers.outbox -> RabbitMQ.
sbin_PROGRAMS += relay/magenta-relay
relay_magenta_relay_SOURCES = relay/relay.c
relay_magenta_relay_LDADD = $(MAGENTA_LIBS) $(RABBITMQ_LIBS) $(CRYPTO_LIBS)
