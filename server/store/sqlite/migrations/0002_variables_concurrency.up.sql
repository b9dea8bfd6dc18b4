-- Variables, global (v2) concurrency limits, and the leases that hold their
-- slots. The v1 tag limits are the v2 limits named "tag:<tag>", as in
-- Prefect 3, so they need no table of their own. Leases live here, not in
-- memory, so that every replica sharing the database sees the same slots.

CREATE TABLE variable (
    id      TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    name    TEXT NOT NULL UNIQUE,
    value   TEXT NOT NULL DEFAULT 'null',
    tags    TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX ix_variable__updated ON variable (updated);

CREATE TABLE concurrency_limit_v2 (
    id                         TEXT PRIMARY KEY,
    created                    TEXT NOT NULL,
    updated                    TEXT NOT NULL,
    active                     INTEGER NOT NULL DEFAULT 1,
    name                       TEXT NOT NULL UNIQUE,
    "limit"                    INTEGER NOT NULL,
    active_slots               INTEGER NOT NULL DEFAULT 0,
    denied_slots               INTEGER NOT NULL DEFAULT 0,
    slot_decay_per_second      REAL NOT NULL DEFAULT 0,
    avg_slot_occupancy_seconds REAL NOT NULL DEFAULT 2,
    -- The instants up to which decay has been applied to active_slots and
    -- denied_slots: decay carries over between writes instead of being
    -- rounded away by each one.
    active_slots_as_of         TEXT NOT NULL,
    denied_slots_as_of         TEXT NOT NULL
);
CREATE INDEX ix_concurrency_limit_v2__updated ON concurrency_limit_v2 (updated);

-- A lease holds slots of one or more limits until it is released or, after
-- expiration, reclaimed by the repossessor.
CREATE TABLE concurrency_lease (
    id          TEXT PRIMARY KEY,
    created     TEXT NOT NULL,
    expiration  TEXT NOT NULL,
    slots       INTEGER NOT NULL,
    holder_type TEXT,
    holder_id   TEXT
);
CREATE INDEX ix_concurrency_lease__expiration ON concurrency_lease (expiration);
CREATE INDEX ix_concurrency_lease__holder_id ON concurrency_lease (holder_id);

-- The limits whose slots a lease holds (Prefect's lease resource_ids).
CREATE TABLE concurrency_lease_limit (
    lease_id TEXT NOT NULL REFERENCES concurrency_lease (id) ON DELETE CASCADE,
    limit_id TEXT NOT NULL REFERENCES concurrency_limit_v2 (id) ON DELETE CASCADE,
    PRIMARY KEY (lease_id, limit_id)
);
CREATE INDEX ix_concurrency_lease_limit__limit_id ON concurrency_lease_limit (limit_id);
