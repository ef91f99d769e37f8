# sql/: migrations, installed under $(pkgdatadir)/sql/<database>/.
# A new migration is one more line here.
sqlusersdir = $(pkgdatadir)/sql/users
dist_sqlusers_DATA = \
	sql/users/001_users.sql
sqlauthdir = $(pkgdatadir)/sql/auth
dist_sqlauth_DATA = \
	sql/auth/001_auth_users.sql
