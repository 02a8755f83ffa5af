-- Spending the provider's request budget where data changes (issue 18).
--
-- poll_schedule: when each user's recently played is polled next, and the listening rate that
-- decided it (core/polling.py). One row per (user, provider, endpoint), replaced by each successful
-- poll in the transaction that stores its plays. The schedule asks for the rows due now through
-- the index, never for every user.
CREATE TABLE poll_schedule (
    user_id        uuid             NOT NULL REFERENCES users(id),
    provider       provider         NOT NULL,
    endpoint       text             NOT NULL,
    polled_at      timestamp        NOT NULL,
    next_poll_at   timestamp        NOT NULL,
    plays_per_hour double precision NOT NULL CHECK (plays_per_hour >= 0),
    last_play_at   timestamp,
    late_polls     integer          NOT NULL DEFAULT 0 CHECK (late_polls >= 0),
    first_polled_at timestamp       NOT NULL,  -- a new user's first day is polled at least hourly
    PRIMARY KEY (user_id, provider, endpoint)
);
CREATE INDEX idx_poll_schedule_due ON poll_schedule(provider, endpoint, next_poll_at);
GRANT UPDATE (polled_at, next_poll_at, plays_per_hour, last_play_at, late_polls) ON poll_schedule TO blendify_app;

-- provider_usage: requests spent per provider and budget window (a UTC day), added by each sync step
-- as it finishes an endpoint, so every run, tick and process reads the same count.
CREATE TABLE provider_usage (
    provider     provider  NOT NULL,
    window_start timestamp NOT NULL,
    requests     bigint    NOT NULL DEFAULT 0 CHECK (requests >= 0),
    PRIMARY KEY (provider, window_start)
);
GRANT UPDATE (requests) ON provider_usage TO blendify_app;

-- provider_pauses: a provider whose quota is spent (Spotify 429 QUOTA_EXCEEDED) is paused for
-- everyone until paused_until; steps, sensors and schedules all read it. `announced` lets the
-- first tick that sees a pause log it once.
CREATE TABLE provider_pauses (
    provider     provider  PRIMARY KEY,
    paused_at    timestamp NOT NULL,
    paused_until timestamp NOT NULL,
    reason       text      NOT NULL,
    announced    boolean   NOT NULL DEFAULT false
);
GRANT UPDATE (paused_at, paused_until, reason, announced) ON provider_pauses TO blendify_app;
