-- Variables, global (v2) concurrency limits, and the leases that hold their
-- slots. The v1 tag limits are the v2 limits named "tag:<tag>", as in
-- Prefect 3, so they need no table of their own. Leases live here, not in
-- memory, so that every replica sharing the database sees the same slots.

CREATE TABLE variable (
    id      UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name    TEXT NOT NULL UNIQUE,
    value   JSONB NOT NULL DEFAULT 'null'::jsonb,
    tags    JSONB NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX ix_variable__updated ON variable (updated);

CREATE TABLE concurrency_limit_v2 (
    id                         UUID PRIMARY KEY,
    created                    TIMESTAMPTZ NOT NULL,
    updated                    TIMESTAMPTZ NOT NULL,
    active                     BOOLEAN NOT NULL DEFAULT true,
    name                       TEXT NOT NULL UNIQUE,
    "limit"                    BIGINT NOT NULL,
    active_slots               BIGINT NOT NULL DEFAULT 0,
    denied_slots               BIGINT NOT NULL DEFAULT 0,
    slot_decay_per_second      DOUBLE PRECISION NOT NULL DEFAULT 0,
    avg_slot_occupancy_seconds DOUBLE PRECISION NOT NULL DEFAULT 2,
    -- The instants up to which decay has been applied to active_slots and
    -- denied_slots: decay carries over between writes instead of being
    -- rounded away by each one.
    active_slots_as_of         TIMESTAMPTZ NOT NULL,
    denied_slots_as_of         TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_concurrency_limit_v2__updated ON concurrency_limit_v2 (updated);

-- A lease holds slots of one or more limits until it is released or, after
-- expiration, reclaimed by the repossessor.
CREATE TABLE concurrency_lease (
    id          UUID PRIMARY KEY,
    created     TIMESTAMPTZ NOT NULL,
    expiration  TIMESTAMPTZ NOT NULL,
    slots       BIGINT NOT NULL,
    holder_type TEXT,
    holder_id   UUID
);
CREATE INDEX ix_concurrency_lease__expiration ON concurrency_lease (expiration);
CREATE INDEX ix_concurrency_lease__holder_id ON concurrency_lease (holder_id);

-- The limits whose slots a lease holds (Prefect's lease resource_ids).
CREATE TABLE concurrency_lease_limit (
    lease_id UUID NOT NULL REFERENCES concurrency_lease (id) ON DELETE CASCADE,
    limit_id UUID NOT NULL REFERENCES concurrency_limit_v2 (id) ON DELETE CASCADE,
    PRIMARY KEY (lease_id, limit_id)
);
CREATE INDEX ix_concurrency_lease_limit__limit_id ON concurrency_lease_limit (limit_id);
