-- Taste matching in buckets (issue 18): one computation is prepared once (identity clusters and
-- every user's taste vector) and its neighbours are appended bucket by bucket, each bucket a
-- separate Dagster run. Readers see only complete computations.

-- NULL: a computation appended whole in one transaction (every run before this migration).
-- Otherwise the number of buckets the computation is split into; it is complete when every bucket
-- has its taste_match_buckets row.
ALTER TABLE taste_match_runs ADD COLUMN buckets integer CHECK (buckets > 0);

-- One row per bucket of a bucketed computation, appended in the transaction that appends the
-- bucket's user_taste_matches rows: the bucket is either all there or not there.
CREATE TABLE taste_match_buckets (
    run_id bigint NOT NULL REFERENCES taste_match_runs(id),
    bucket integer NOT NULL CHECK (bucket >= 0),
    users integer NOT NULL,
    candidate_pairs bigint NOT NULL,
    rows integer NOT NULL,
    seconds jsonb NOT NULL,
    finished_at timestamp NOT NULL,
    dagster_run_id text,
    PRIMARY KEY (run_id, bucket)
);
CREATE TRIGGER taste_match_buckets_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON taste_match_buckets
    FOR EACH STATEMENT EXECUTE FUNCTION blendify_reject_mutation();

-- Working data of a computation, not history: each user's taste vector (item ids and shares as
-- packed arrays, in the order the single-process computation sums them), and the identity
-- clusters that per-track keys cannot give (clusters of several provider tracks, and tracks whose
-- copies disagree on the ISRC). Rows of all but the newest computations are deleted when a new
-- one is prepared, so the table holds at most two computations.
CREATE TABLE taste_vectors (
    run_id bigint NOT NULL REFERENCES taste_match_runs(id),
    user_id uuid NOT NULL,
    bucket integer NOT NULL,
    kinds smallint NOT NULL,
    items bytea NOT NULL,
    weights bytea NOT NULL,
    PRIMARY KEY (run_id, user_id)
);
CREATE INDEX idx_taste_vectors_bucket ON taste_vectors(run_id, bucket, user_id);

CREATE TABLE taste_track_clusters (
    run_id bigint NOT NULL REFERENCES taste_match_runs(id),
    provider text NOT NULL,
    track_id text NOT NULL,
    cluster_id text NOT NULL,
    method text NOT NULL,
    confidence double precision NOT NULL,
    PRIMARY KEY (run_id, provider, track_id)
);

-- The app prepares computations, so it may clear the working data of older ones.
GRANT DELETE ON taste_vectors, taste_track_clusters TO blendify_app;

-- Current = the newest complete computation.
DROP VIEW latest_user_taste_matches;
DROP VIEW latest_taste_match_run;

CREATE VIEW complete_taste_match_runs AS
SELECT r.* FROM taste_match_runs r
WHERE r.buckets IS NULL
   OR r.buckets = (SELECT count(*) FROM taste_match_buckets b WHERE b.run_id = r.id);

CREATE VIEW latest_taste_match_run AS
SELECT * FROM complete_taste_match_runs ORDER BY computed_at DESC LIMIT 1;

CREATE VIEW latest_user_taste_matches AS
SELECT m.* FROM user_taste_matches m
WHERE m.computed_at = (SELECT computed_at FROM latest_taste_match_run);

GRANT SELECT ON complete_taste_match_runs, latest_taste_match_run, latest_user_taste_matches TO blendify_app;
