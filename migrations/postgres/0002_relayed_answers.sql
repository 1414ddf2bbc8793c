-- Answers relayed across instances (webhook.site's listen mode on several
-- instances): which instances have a relaying forwarder connected for a
-- bin, and answers that a forwarder gave to one instance for a capture
-- waiting on another.
CREATE TABLE answerers (
    bin_id uuid NOT NULL,
    instance text NOT NULL,
    -- Refreshed while the forwarder stays; a crashed instance's rows lapse.
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (bin_id, instance)
);

CREATE TABLE relayed_answers (
    request_id uuid PRIMARY KEY,
    bin_id uuid NOT NULL,
    status integer NOT NULL,
    headers bytea NOT NULL,
    body bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
