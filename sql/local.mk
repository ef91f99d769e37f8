# sql/: migrations, installed under $(pkgdatadir)/sql/<database>/.
# A new migration is one more line here.
sqlusersdir = $(pkgdatadir)/sql/users
dist_sqlusers_DATA = \
	sql/users/001_users.sql \
	sql/users/002_account_lifecycle.sql \
	sql/users/003_outbox_request_id.sql \
	sql/users/004_mail.sql
sqlauthdir = $(pkgdatadir)/sql/auth
dist_sqlauth_DATA = \
	sql/auth/001_auth_users.sql \
	sql/auth/002_processed_events.sql \
	sql/auth/003_apply_user_event.sql \
	sql/auth/010_sessions.sql \
	sql/auth/011_login_throttle.sql \
	sql/auth/012_auth_notify.sql \
	sql/auth/013_sessions_gc_index.sql \
	sql/auth/014_apply_user_event_iterative.sql \
	sql/auth/015_login_devices.sql \
	sql/auth/016_outcome_names.sql \
	sql/auth/017_account_lifecycle.sql \
	sql/auth/018_oauth_clients.sql \
	sql/auth/019_request_id.sql \
	sql/auth/020_mfa.sql \
	sql/auth/021_mfa_confirm_attempts.sql
