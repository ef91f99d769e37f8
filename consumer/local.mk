# consumer/: magenta-consumer, RabbitMQ -> MagentaAuthentication.
sbin_PROGRAMS += consumer/magenta-consumer
consumer_magenta_consumer_SOURCES = consumer/consumer.c
consumer_magenta_consumer_LDADD = $(MAGENTA_LIBS) $(RABBITMQ_LIBS) $(CRYPTO_LIBS)
