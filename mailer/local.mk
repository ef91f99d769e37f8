# mailer/: magenta-mailer, MagentaUsers.mail_outbox -> SMTP (libcurl).
sbin_PROGRAMS += mailer/magenta-mailer
mailer_magenta_mailer_SOURCES = mailer/mailer.c
mailer_magenta_mailer_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS)
mailer_magenta_mailer_LDADD = $(MAGENTA_LIBS) $(CURL_LIBS)

# The mail templates (mail_template_dir): plain text, a Subject: line first.
mailtemplatedir = $(sysconfdir)/magenta/mail
dist_mailtemplate_DATA = data/mail/confirm-email.txt data/mail/password-reset.txt
