-- Core tables: flows, runs and their states, logs, artifacts, events.
-- PostgreSQL types: uuid ids, timestamptz times, jsonb documents.

CREATE TABLE flow (
    id      UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name    TEXT NOT NULL UNIQUE,
    tags    JSONB NOT NULL DEFAULT '[]'::jsonb,
    labels  JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX ix_flow__created ON flow (created);

CREATE TABLE flow_run (
    id                         UUID PRIMARY KEY,
    created                    TIMESTAMPTZ NOT NULL,
    updated                    TIMESTAMPTZ NOT NULL,
    name                       TEXT NOT NULL,
    flow_id                    UUID NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    state_id                   UUID,
    deployment_id              UUID,
    deployment_version         TEXT,
    work_queue_id              UUID,
    work_queue_name            TEXT,
    work_pool_id               UUID,
    work_pool_name             TEXT,
    flow_version               TEXT,
    parameters                 JSONB NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key            TEXT,
    context                    JSONB NOT NULL DEFAULT '{}'::jsonb,
    empirical_policy           JSONB NOT NULL DEFAULT '{}'::jsonb,
    tags                       JSONB NOT NULL DEFAULT '[]'::jsonb,
    labels                     JSONB NOT NULL DEFAULT '{}'::jsonb,
    parent_task_run_id         UUID,
    state_type                 TEXT,
    state_name                 TEXT,
    state_timestamp            TIMESTAMPTZ,
    run_count                  INTEGER NOT NULL DEFAULT 0,
    expected_start_time        TIMESTAMPTZ,
    next_scheduled_start_time  TIMESTAMPTZ,
    start_time                 TIMESTAMPTZ,
    end_time                   TIMESTAMPTZ,
    total_run_time             DOUBLE PRECISION NOT NULL DEFAULT 0,
    auto_scheduled             BOOLEAN NOT NULL DEFAULT false,
    infrastructure_document_id UUID,
    infrastructure_pid         TEXT,
    created_by                 JSONB,
    job_variables              JSONB NOT NULL DEFAULT '{}'::jsonb
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
    id            UUID PRIMARY KEY,
    created       TIMESTAMPTZ NOT NULL,
    updated       TIMESTAMPTZ NOT NULL,
    flow_run_id   UUID NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    timestamp     TIMESTAMPTZ NOT NULL,
    message       TEXT,
    state_details JSONB NOT NULL DEFAULT '{}'::jsonb,
    data          JSONB
);
CREATE UNIQUE INDEX uq_flow_run_state__flow_run_id_timestamp ON flow_run_state (flow_run_id, timestamp DESC);

-- task_run.flow_run_id has no foreign key: the recorder writes task runs from
-- events in batches, and one event naming a vanished flow run must not fail
-- the batch. Deleting a flow run deletes its task runs explicitly. The
-- (flow_run_id, task_key, dynamic_key) index is not unique because a retried
-- flow run's new attempt may reuse dynamic keys under new task-run ids; the
-- POST /task_runs/ upsert looks the key up inside its write transaction.
CREATE TABLE task_run (
    id                        UUID PRIMARY KEY,
    created                   TIMESTAMPTZ NOT NULL,
    updated                   TIMESTAMPTZ NOT NULL,
    name                      TEXT NOT NULL,
    flow_run_id               UUID,
    task_key                  TEXT NOT NULL,
    dynamic_key               TEXT NOT NULL,
    cache_key                 TEXT,
    cache_expiration          TIMESTAMPTZ,
    task_version              TEXT,
    empirical_policy          JSONB NOT NULL DEFAULT '{}'::jsonb,
    tags                      JSONB NOT NULL DEFAULT '[]'::jsonb,
    labels                    JSONB NOT NULL DEFAULT '{}'::jsonb,
    state_id                  UUID,
    task_inputs               JSONB NOT NULL DEFAULT '{}'::jsonb,
    state_type                TEXT,
    state_name                TEXT,
    state_timestamp           TIMESTAMPTZ,
    run_count                 INTEGER NOT NULL DEFAULT 0,
    flow_run_run_count        INTEGER NOT NULL DEFAULT 0,
    expected_start_time       TIMESTAMPTZ,
    next_scheduled_start_time TIMESTAMPTZ,
    start_time                TIMESTAMPTZ,
    end_time                  TIMESTAMPTZ,
    total_run_time            DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX ix_task_run__flow_run_id_task_key_dynamic_key ON task_run (flow_run_id, task_key, dynamic_key);
CREATE INDEX ix_task_run__state_type ON task_run (state_type);
CREATE INDEX ix_task_run__expected_start_time_desc ON task_run (expected_start_time DESC);

CREATE TABLE task_run_state (
    id            UUID PRIMARY KEY,
    created       TIMESTAMPTZ NOT NULL,
    updated       TIMESTAMPTZ NOT NULL,
    task_run_id   UUID NOT NULL REFERENCES task_run (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    name          TEXT NOT NULL,
    timestamp     TIMESTAMPTZ NOT NULL,
    message       TEXT,
    state_details JSONB NOT NULL DEFAULT '{}'::jsonb,
    data          JSONB
);
CREATE UNIQUE INDEX uq_task_run_state__task_run_id_timestamp ON task_run_state (task_run_id, timestamp DESC);

CREATE TABLE task_run_state_cache (
    id                UUID PRIMARY KEY,
    created           TIMESTAMPTZ NOT NULL,
    updated           TIMESTAMPTZ NOT NULL,
    cache_key         TEXT NOT NULL,
    cache_expiration  TIMESTAMPTZ,
    task_run_state_id UUID NOT NULL
);
CREATE INDEX ix_task_run_state_cache__cache_key_created ON task_run_state_cache (cache_key, created DESC);

CREATE TABLE log (
    id          UUID PRIMARY KEY,
    created     TIMESTAMPTZ NOT NULL,
    updated     TIMESTAMPTZ NOT NULL,
    name        TEXT NOT NULL,
    level       INTEGER NOT NULL,
    flow_run_id UUID,
    task_run_id UUID,
    worker_id   UUID,
    message     TEXT NOT NULL,
    timestamp   TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_log__flow_run_id_timestamp ON log (flow_run_id, timestamp);
CREATE INDEX ix_log__task_run_id_timestamp ON log (task_run_id, timestamp);
CREATE INDEX ix_log__timestamp ON log (timestamp);

CREATE TABLE artifact (
    id          UUID PRIMARY KEY,
    created     TIMESTAMPTZ NOT NULL,
    updated     TIMESTAMPTZ NOT NULL,
    key         TEXT,
    type        TEXT,
    description TEXT,
    data        JSONB,
    metadata_   JSONB,
    flow_run_id UUID,
    task_run_id UUID
);
CREATE INDEX ix_artifact__key_created_desc ON artifact (key, created DESC);
CREATE INDEX ix_artifact__flow_run_id ON artifact (flow_run_id);
CREATE INDEX ix_artifact__task_run_id ON artifact (task_run_id);

CREATE TABLE events (
    id                   UUID PRIMARY KEY,
    occurred             TIMESTAMPTZ NOT NULL,
    event                TEXT NOT NULL,
    resource_id          TEXT NOT NULL,
    resource             JSONB NOT NULL,
    related_resource_ids JSONB NOT NULL DEFAULT '[]'::jsonb,
    related              JSONB NOT NULL DEFAULT '[]'::jsonb,
    payload              JSONB NOT NULL DEFAULT '{}'::jsonb,
    received             TIMESTAMPTZ NOT NULL,
    recorded             TIMESTAMPTZ NOT NULL,
    follows              UUID
);
CREATE INDEX ix_events__occurred_id ON events (occurred, id);
CREATE INDEX ix_events__event_occurred_id ON events (event, occurred, id);
CREATE INDEX ix_events__resource_id_occurred ON events (resource_id, occurred);

CREATE TABLE event_resources (
    id            UUID PRIMARY KEY,
    occurred      TIMESTAMPTZ NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_role TEXT NOT NULL,
    resource      JSONB NOT NULL,
    event_id      UUID NOT NULL
);
CREATE INDEX ix_event_resources__resource_id_occurred ON event_resources (resource_id, occurred);
CREATE INDEX ix_event_resources__occurred ON event_resources (occurred);
CREATE INDEX ix_event_resources__event_id ON event_resources (event_id);

CREATE TABLE csrf_token (
    id         UUID PRIMARY KEY,
    created    TIMESTAMPTZ NOT NULL,
    updated    TIMESTAMPTZ NOT NULL,
    token      TEXT NOT NULL,
    client     TEXT NOT NULL UNIQUE,
    expiration TIMESTAMPTZ NOT NULL
);
