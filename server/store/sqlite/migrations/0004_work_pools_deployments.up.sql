-- Work pools, their queues and workers; deployments and their schedules.
-- Column names follow Prefect's ORM, except that a deployment's job
-- variables live in job_variables (Prefect's infra_overrides column).
-- SQLite types as in 0001: text ids, fixed-width UTC text times, JSON text.

CREATE TABLE work_pool (
    id                          TEXT PRIMARY KEY,
    created                     TEXT NOT NULL,
    updated                     TEXT NOT NULL,
    name                        TEXT NOT NULL,
    description                 TEXT,
    type                        TEXT NOT NULL,
    base_job_template           TEXT NOT NULL DEFAULT '{}',
    is_paused                   INTEGER NOT NULL DEFAULT 0,
    -- The pool's default queue; no foreign key, as the two rows point at
    -- each other (deleting a pool deletes its queues, default included).
    default_queue_id            TEXT,
    concurrency_limit           INTEGER,
    status                      TEXT NOT NULL DEFAULT 'NOT_READY',
    last_transitioned_status_at TEXT,
    last_status_event_id        TEXT,
    storage_configuration       TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX uq_work_pool__name ON work_pool (name);
CREATE INDEX ix_work_pool__type ON work_pool (type);

CREATE TABLE work_queue (
    id                TEXT PRIMARY KEY,
    created           TEXT NOT NULL,
    updated           TEXT NOT NULL,
    name              TEXT NOT NULL,
    filter            TEXT,
    description       TEXT NOT NULL DEFAULT '',
    is_paused         INTEGER NOT NULL DEFAULT 0,
    concurrency_limit INTEGER,
    priority          INTEGER NOT NULL,
    last_polled       TEXT,
    status            TEXT NOT NULL DEFAULT 'NOT_READY',
    work_pool_id      TEXT NOT NULL REFERENCES work_pool (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX uq_work_queue__work_pool_id_name ON work_queue (work_pool_id, name);
CREATE INDEX ix_work_queue__work_pool_id_priority ON work_queue (work_pool_id, priority);

CREATE TABLE worker (
    id                         TEXT PRIMARY KEY,
    created                    TEXT NOT NULL,
    updated                    TEXT NOT NULL,
    work_pool_id               TEXT NOT NULL REFERENCES work_pool (id) ON DELETE CASCADE,
    name                       TEXT NOT NULL,
    last_heartbeat_time        TEXT NOT NULL,
    heartbeat_interval_seconds INTEGER,
    status                     TEXT NOT NULL DEFAULT 'OFFLINE'
);
CREATE UNIQUE INDEX uq_worker__work_pool_id_name ON worker (work_pool_id, name);
CREATE INDEX ix_worker__work_pool_id_last_heartbeat_time ON worker (work_pool_id, last_heartbeat_time);

CREATE TABLE deployment (
    id                         TEXT PRIMARY KEY,
    created                    TEXT NOT NULL,
    updated                    TEXT NOT NULL,
    name                       TEXT NOT NULL,
    version                    TEXT,
    version_info               TEXT,
    description                TEXT,
    flow_id                    TEXT NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    paused                     INTEGER NOT NULL DEFAULT 0,
    status                     TEXT NOT NULL DEFAULT 'NOT_READY',
    last_polled                TEXT,
    work_queue_name            TEXT,
    work_queue_id              TEXT REFERENCES work_queue (id) ON DELETE SET NULL,
    job_variables              TEXT NOT NULL DEFAULT '{}',
    path                       TEXT,
    entrypoint                 TEXT,
    pull_steps                 TEXT,
    parameters                 TEXT NOT NULL DEFAULT '{}',
    parameter_openapi_schema   TEXT,
    enforce_parameter_schema   INTEGER NOT NULL DEFAULT 0,
    tags                       TEXT NOT NULL DEFAULT '[]',
    labels                     TEXT NOT NULL DEFAULT '{}',
    -- The limit as the API sets it; concurrency_limit_id names the global
    -- (v2) limit "deployment:<id>" that enforces it, without a foreign key
    -- so this table does not depend on the concurrency tables.
    concurrency_limit          INTEGER,
    concurrency_limit_id       TEXT,
    concurrency_options        TEXT,
    created_by                 TEXT,
    updated_by                 TEXT,
    storage_document_id        TEXT,
    infrastructure_document_id TEXT
);
CREATE UNIQUE INDEX uq_deployment__flow_id_name ON deployment (flow_id, name);
CREATE INDEX ix_deployment__created ON deployment (created);
CREATE INDEX ix_deployment__work_queue_id ON deployment (work_queue_id);
CREATE INDEX ix_deployment__work_queue_name ON deployment (work_queue_name);
CREATE INDEX ix_deployment__paused ON deployment (paused);

-- schedule is one of {interval (seconds), anchor_date, timezone},
-- {cron, timezone, day_or} or {rrule, timezone}.
CREATE TABLE deployment_schedule (
    id                 TEXT PRIMARY KEY,
    created            TEXT NOT NULL,
    updated            TEXT NOT NULL,
    deployment_id      TEXT NOT NULL REFERENCES deployment (id) ON DELETE CASCADE,
    schedule           TEXT NOT NULL,
    active             INTEGER NOT NULL DEFAULT 1,
    max_scheduled_runs INTEGER,
    parameters         TEXT NOT NULL DEFAULT '{}',
    slug               TEXT
);
CREATE INDEX ix_deployment_schedule__deployment_id ON deployment_schedule (deployment_id);
CREATE UNIQUE INDEX ix_deployment_schedule__deployment_id__slug ON deployment_schedule (deployment_id, slug);
CREATE INDEX ix_deployment_schedule__slug ON deployment_schedule (slug);

-- Runs waiting in a queue (worker polling), and a deployment's future
-- auto-scheduled runs (the scheduler, and deleting them on a schedule change).
CREATE INDEX ix_flow_run__work_queue_id_state_type ON flow_run (work_queue_id, state_type);
CREATE INDEX ix_flow_run__scheduler_deployment_id_auto_scheduled_next_scheduled_start_time
    ON flow_run (deployment_id, auto_scheduled, next_scheduled_start_time)
    WHERE state_type = 'SCHEDULED';
