# fcgi/: the FastCGI programs.
sbin_PROGRAMS += fcgi/magenta-registration
fcgi_magenta_registration_SOURCES = fcgi/registration.c fcgi/registration.h fcgi/register.c \
	fcgi/users_me.c fcgi/users_password.c fcgi/users_admin.c fcgi/users_caller.c \
	fcgi/users_rules.c fcgi/users_confirm.c fcgi/users_reset.c fcgi/mail_queue.c
fcgi_magenta_registration_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)

sbin_PROGRAMS += fcgi/magenta-auth
fcgi_magenta_auth_SOURCES = fcgi/auth.c fcgi/auth.h fcgi/auth_login.c fcgi/auth_session.c fcgi/auth_cookie.c \
	fcgi/auth_me.c fcgi/auth_mfa.c fcgi/auth_wellknown.c fcgi/auth_cache.c fcgi/auth_keys.c fcgi/oauth.c fcgi/oauth.h \
	fcgi/oauth_token.c fcgi/oauth_revoke.c fcgi/oauth_introspect.c fcgi/oauth_userinfo.c
fcgi_magenta_auth_LDADD = $(MAGENTA_LIBS) $(CRYPTO_LIBS)
