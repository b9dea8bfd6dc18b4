-- Core tables: flows, runs and their states, logs, artifacts, events.
-- SQLite has no uuid, timestamp or jsonb types: ids are text, timestamps are
-- fixed-width UTC text (so they sort as text), JSON is text.

CREATE TABLE flow (
    id      TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    name    TEXT NOT NULL UNIQUE,
    tags    TEXT NOT NULL DEFAULT '[]',
    labels  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_flow__created ON flow (created);

CREATE TABLE flow_run (
    id                         TEXT PRIMARY KEY,
    created                    TEXT NOT NULL,
    updated                    TEXT NOT NULL,
    name                       TEXT NOT NULL,
    flow_id                    TEXT NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    state_id                   TEXT,
    deployment_id              TEXT,
    deployment_version         TEXT,
    work_queue_id              TEXT,
    work_queue_name            TEXT,
    work_pool_id               TEXT,
    work_pool_name             TEXT,
    flow_version               TEXT,
    parameters                 TEXT NOT NULL DEFAULT '{}',
    idempotency_key            TEXT,
    context                    TEXT NOT NULL DEFAULT '{}',
    empirical_policy           TEXT NOT NULL DEFAULT '{}',
    tags                       TEXT NOT NULL DEFAULT '[]',
    labels                     TEXT NOT NULL DEFAULT '{}',
    parent_task_run_id         TEXT,
    state_type                 TEXT,
    state_name                 TEXT,
    state_timestamp            TEXT,
    run_count                  INTEGER NOT NULL DEFAULT 0,
    expected_start_time        TEXT,
    next_scheduled_start_time  TEXT,
    start_time                 TEXT,
    end_time                   TEXT,
    total_run_time             REAL NOT NULL DEFAULT 0,
    auto_scheduled             INTEGER NOT NULL DEFAULT 0,
    infrastructure_document_id TEXT,
    infrastructure_pid         TEXT,
    created_by                 TEXT,
    job_variables              TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX uq_flow_run__flow_id_idempotency_key ON flow_run (flow_id, idempotency_key);
CREATE INDEX ix_flow_run__state_type ON flow_run (state_type);
CREATE INDEX ix_flow_run__state_name ON flow_run (state_name);
CREATE INDEX ix_flow_run__start_time ON flow_run (start_time);
CREATE INDEX ix_flow_run__end_time_desc ON flow_run (end_time DESC);
CREATE INDEX ix_flow_run__expected_start_time_desc ON flow_run (expected_start_time DESC);
CREATE INDEX ix_flow_run__next_scheduled_start_time_asc ON flow_run (next_scheduled_start_time);
CREATE INDEX ix_flow_run__parent_task_run_id ON flow_run (parent_task_run_id);
CREATE INDEX ix_flow_run__deployment_id ON flow_run (deployment_id);

CREATE TABLE flow_run_state (
    id            TEXT PRIMARY KEY,
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL,
    flow_run_id   TEXT NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    timestamp     TEXT NOT NULL,
    message       TEXT,
    state_details TEXT NOT NULL DEFAULT '{}',
    data          TEXT
);
CREATE UNIQUE INDEX uq_flow_run_state__flow_run_id_timestamp ON flow_run_state (flow_run_id, timestamp DESC);

-- task_run.flow_run_id has no foreign key: the recorder writes task runs from
-- events in batches, and one event naming a vanished flow run must not fail
-- the batch. Deleting a flow run deletes its task runs explicitly. The
-- (flow_run_id, task_key, dynamic_key) index is not unique because a retried
-- flow run's new attempt may reuse dynamic keys under new task-run ids; the
-- POST /task_runs/ upsert looks the key up inside its write transaction.
CREATE TABLE task_run (
    id                        TEXT PRIMARY KEY,
    created                   TEXT NOT NULL,
    updated                   TEXT NOT NULL,
    name                      TEXT NOT NULL,
    flow_run_id               TEXT,
    task_key                  TEXT NOT NULL,
    dynamic_key               TEXT NOT NULL,
    cache_key                 TEXT,
    cache_expiration          TEXT,
    task_version              TEXT,
    empirical_policy          TEXT NOT NULL DEFAULT '{}',
    tags                      TEXT NOT NULL DEFAULT '[]',
    labels                    TEXT NOT NULL DEFAULT '{}',
    state_id                  TEXT,
    task_inputs               TEXT NOT NULL DEFAULT '{}',
    state_type                TEXT,
    state_name                TEXT,
    state_timestamp           TEXT,
    run_count                 INTEGER NOT NULL DEFAULT 0,
    flow_run_run_count        INTEGER NOT NULL DEFAULT 0,
    expected_start_time       TEXT,
    next_scheduled_start_time TEXT,
    start_time                TEXT,
    end_time                  TEXT,
    total_run_time            REAL NOT NULL DEFAULT 0
);
CREATE INDEX ix_task_run__flow_run_id_task_key_dynamic_key ON task_run (flow_run_id, task_key, dynamic_key);
CREATE INDEX ix_task_run__state_type ON task_run (state_type);
CREATE INDEX ix_task_run__expected_start_time_desc ON task_run (expected_start_time DESC);

CREATE TABLE task_run_state (
    id            TEXT PRIMARY KEY,
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL,
    task_run_id   TEXT NOT NULL REFERENCES task_run (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    timestamp     TEXT NOT NULL,
    message       TEXT,
    state_details TEXT NOT NULL DEFAULT '{}',
    data          TEXT
);
CREATE UNIQUE INDEX uq_task_run_state__task_run_id_timestamp ON task_run_state (task_run_id, timestamp DESC);

CREATE TABLE task_run_state_cache (
    id                TEXT PRIMARY KEY,
    created           TEXT NOT NULL,
    updated           TEXT NOT NULL,
    cache_key         TEXT NOT NULL,
    cache_expiration  TEXT,
    task_run_state_id TEXT NOT NULL
);
CREATE INDEX ix_task_run_state_cache__cache_key_created ON task_run_state_cache (cache_key, created DESC);

CREATE TABLE log (
    id          TEXT PRIMARY KEY,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    name        TEXT NOT NULL,
    level       INTEGER NOT NULL,
    flow_run_id TEXT,
    task_run_id TEXT,
    worker_id   TEXT,
    message     TEXT NOT NULL,
    timestamp   TEXT NOT NULL
);
CREATE INDEX ix_log__flow_run_id_timestamp ON log (flow_run_id, timestamp);
CREATE INDEX ix_log__task_run_id_timestamp ON log (task_run_id, timestamp);
CREATE INDEX ix_log__timestamp ON log (timestamp);

CREATE TABLE artifact (
    id          TEXT PRIMARY KEY,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    key         TEXT,
    type        TEXT,
    description TEXT,
    data        TEXT,
    metadata_   TEXT,
    flow_run_id TEXT,
    task_run_id TEXT
);
CREATE INDEX ix_artifact__key_created_desc ON artifact (key, created DESC);
CREATE INDEX ix_artifact__flow_run_id ON artifact (flow_run_id);
CREATE INDEX ix_artifact__task_run_id ON artifact (task_run_id);

CREATE TABLE events (
    id                   TEXT PRIMARY KEY,
    occurred             TEXT NOT NULL,
    event                TEXT NOT NULL,
    resource_id          TEXT NOT NULL,
    resource             TEXT NOT NULL,
    related_resource_ids TEXT NOT NULL DEFAULT '[]',
    related              TEXT NOT NULL DEFAULT '[]',
    payload              TEXT NOT NULL DEFAULT '{}',
    received             TEXT NOT NULL,
    recorded             TEXT NOT NULL,
    follows              TEXT
);
CREATE INDEX ix_events__occurred_id ON events (occurred, id);
CREATE INDEX ix_events__event_occurred_id ON events (event, occurred, id);
CREATE INDEX ix_events__resource_id_occurred ON events (resource_id, occurred);

CREATE TABLE event_resources (
    id            TEXT PRIMARY KEY,
    occurred      TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_role TEXT NOT NULL,
    resource      TEXT NOT NULL,
    event_id      TEXT NOT NULL
);
CREATE INDEX ix_event_resources__resource_id_occurred ON event_resources (resource_id, occurred);
CREATE INDEX ix_event_resources__occurred ON event_resources (occurred);
CREATE INDEX ix_event_resources__event_id ON event_resources (event_id);

CREATE TABLE csrf_token (
    id         TEXT PRIMARY KEY,
    created    TEXT NOT NULL,
    updated    TEXT NOT NULL,
    token      TEXT NOT NULL,
    client     TEXT NOT NULL UNIQUE,
    expiration TEXT NOT NULL
);
