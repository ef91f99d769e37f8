# ctl/: magentactl, the administration tool.
bin_PROGRAMS += ctl/magentactl
ctl_magentactl_SOURCES = ctl/magentactl.c ctl/magentactl.h ctl/migrate.c ctl/keygen.c ctl/eventkeys.c \
	ctl/status.c ctl/trace.c ctl/scrape.c ctl/scrape.h ctl/dlq.c ctl/resync.c ctl/user.c ctl/client.c ctl/key.c
ctl_magentactl_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS) $(RABBITMQ_LIBS)
