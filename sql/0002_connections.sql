-- Connections: one per (user, provider), a status the pipeline can act on, and a change sequence
-- that lets the connection sensor read only what changed since its cursor.

CREATE TYPE connection_status AS ENUM ('active', 'needs_reauth', 'revoked');

ALTER TABLE provider_connections
    ADD COLUMN status connection_status NOT NULL DEFAULT 'active',
    ADD COLUMN status_reason text,
    ADD COLUMN status_changed_at timestamp NOT NULL DEFAULT now(),
    ADD COLUMN authorized_at timestamp NOT NULL DEFAULT now(),
    ADD COLUMN change_seq bigint;

ALTER TABLE provider_connections
    ADD CONSTRAINT provider_connections_user_provider_key UNIQUE (user_id, provider);

CREATE SEQUENCE provider_connections_change_seq;

-- A new row, a re-authorisation (authorized_at moves) or a return to 'active' takes a fresh
-- sequence number; token refreshes do not, so they never look like a new connection.
CREATE FUNCTION provider_connections_track_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT'
       OR NEW.authorized_at IS DISTINCT FROM OLD.authorized_at
       OR (NEW.status = 'active' AND OLD.status <> 'active') THEN
        NEW.change_seq := nextval('provider_connections_change_seq');
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_changed_at := now();
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER provider_connections_track_change
    BEFORE INSERT OR UPDATE ON provider_connections
    FOR EACH ROW EXECUTE FUNCTION provider_connections_track_change();

CREATE UNIQUE INDEX idx_provider_connections_change_seq ON provider_connections(change_seq);
CREATE INDEX idx_provider_connections_provider_status ON provider_connections(provider, status);
