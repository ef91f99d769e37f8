-- MagentaUsers: correlation (issue 20; docs/operations.md "Correlation and
-- trace").  The X-Request-Id of the HTTP request that wrote an outbox row
-- (or the id the service made for it): the relay carries it in the AMQP
-- message, the consumer logs and keeps it.  A label only, outside the
-- event's signature and seal; NULL for rows an operator's magentactl wrote.
-- The services only store ids of 1-64 of [A-Za-z0-9._-] (lib/http.c); the
-- bound here is the table's own guard.
ALTER TABLE outbox ADD COLUMN request_id text
    CHECK (char_length(request_id) BETWEEN 1 AND 128);

-- magentactl trace REQUEST_ID
CREATE INDEX outbox_request_id ON outbox (request_id) WHERE request_id IS NOT NULL;
-- magentactl trace USER
CREATE INDEX outbox_aggregate ON outbox (aggregate_id, aggregate_version);
