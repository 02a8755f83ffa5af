-- Poll state in its own table (issue 16).
--
-- Apple gives no "since" and no play times, so a check remembers what it saw for the next one to
-- diff against: the recently-played list as it stood, and when each library list was last read in
-- full. That memory used to ride in sync_log.details->'notes'->'state' and was read back by string
-- keys; it is not history but the current value of one (user, provider, endpoint), so it is one row,
-- replaced in the same transaction as the rows it describes. sync_log keeps every check.
CREATE TABLE poll_state (
    user_id     uuid      NOT NULL REFERENCES users(id),
    provider    provider  NOT NULL,
    endpoint    text      NOT NULL,
    state       jsonb     NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    sync_log_id bigint    NOT NULL REFERENCES sync_log(id),  -- the check that left this state
    updated_at  timestamp NOT NULL,
    PRIMARY KEY (user_id, provider, endpoint)
);

-- The state every endpoint last left, carried over: Apple's next poll still diffs against it and
-- the weekly full read keeps its date.
INSERT INTO poll_state (user_id, provider, endpoint, state, sync_log_id, updated_at)
SELECT DISTINCT ON (user_id, provider, endpoint)
       user_id, provider, endpoint, details->'notes'->'state', id, finished_at
FROM sync_log
WHERE status = 'success' AND jsonb_typeof(details->'notes'->'state') = 'object'
ORDER BY user_id, provider, endpoint, finished_at DESC, id DESC;

-- The app reads and inserts it by default (0005's default privileges) and replaces it on every poll.
GRANT UPDATE (state, sync_log_id, updated_at) ON poll_state TO blendify_app;
