-- bench/pipeline.sh: one registration-like transaction for pgbench: a user,
-- its UserCreated outbox row and the NOTIFY, as fcgi/register.c writes them
-- (with a fixed hash: the pipeline never sees one being made), plus a
-- bench_commits row whose xmin dates the commit (track_commit_timestamp).
-- No colon may appear outside a cast: pgbench would take it for a variable.
WITH g AS (
	SELECT gen_random_uuid() AS id, gen_random_uuid() AS eid,
	       to_json(clock_timestamp()) #>> '{}' AS ts),
u AS (INSERT INTO users (id, username, email, password_hash, security_stamp)
	SELECT id, 'b' || replace(id::text, '-', ''), replace(id::text, '-', '') || '@example.com',
	       '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8wH0zl2wC9H5u2kP3rS6lq6H0k6QhW0pVf2m8XfE4ZQ', md5(eid::text) FROM g RETURNING id),
o AS (INSERT INTO outbox (event_id, aggregate_id, aggregate_version, event_type, routing_key, payload)
	SELECT eid, id, 1, 'UserCreated', 'user.created', jsonb_build_object(
		'eventId', eid, 'eventType', 'UserCreated', 'schemaVersion', 1, 'occurredAt', ts,
		'userId', id, 'version', 1, 'data', jsonb_build_object(
			'username', 'b' || replace(id::text, '-', ''),
			'email', replace(id::text, '-', '') || '@example.com', 'passwordHash', '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8wH0zl2wC9H5u2kP3rS6lq6H0k6QhW0pVf2m8XfE4ZQ',
			'securityStamp', md5(eid::text), 'emailConfirmed', false, 'lockoutEnabled', true,
			'lockoutEnd', NULL, 'createdAt', ts, 'updatedAt', ts))
	FROM g RETURNING event_id),
c AS (INSERT INTO bench_commits (event_id) SELECT event_id FROM o RETURNING event_id)
SELECT pg_notify('magenta_outbox', event_id::text) FROM c;
