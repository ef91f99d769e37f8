# fcgi/: the FastCGI programs.
sbin_PROGRAMS += fcgi/magenta-registration
fcgi_magenta_registration_SOURCES = fcgi/registration.c fcgi/registration.h fcgi/register.c
fcgi_magenta_registration_LDADD = $(MAGENTA_LIBS)
