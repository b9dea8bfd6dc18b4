-- Work pools, their queues and workers; deployments and their schedules.
-- Column names follow Prefect's ORM, except that a deployment's job
-- variables live in job_variables (Prefect's infra_overrides column).
-- PostgreSQL types as in 0001: uuid ids, timestamptz times, jsonb documents.

CREATE TABLE work_pool (
    id                          UUID PRIMARY KEY,
    created                     TIMESTAMPTZ NOT NULL,
    updated                     TIMESTAMPTZ NOT NULL,
    name                        TEXT NOT NULL,
    description                 TEXT,
    type                        TEXT NOT NULL,
    base_job_template           JSONB NOT NULL DEFAULT '{}'::jsonb,
    is_paused                   BOOLEAN NOT NULL DEFAULT false,
    -- The pool's default queue; no foreign key, as the two rows point at
    -- each other (deleting a pool deletes its queues, default included).
    default_queue_id            UUID,
    concurrency_limit           INTEGER,
    status                      TEXT NOT NULL DEFAULT 'NOT_READY',
    last_transitioned_status_at TIMESTAMPTZ,
    last_status_event_id        UUID,
    storage_configuration       JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE UNIQUE INDEX uq_work_pool__name ON work_pool (name);
CREATE INDEX ix_work_pool__type ON work_pool (type);

CREATE TABLE work_queue (
    id                UUID PRIMARY KEY,
    created           TIMESTAMPTZ NOT NULL,
    updated           TIMESTAMPTZ NOT NULL,
    name              TEXT NOT NULL,
    filter            JSONB,
    description       TEXT NOT NULL DEFAULT '',
    is_paused         BOOLEAN NOT NULL DEFAULT false,
    concurrency_limit INTEGER,
    priority          INTEGER NOT NULL,
    last_polled       TIMESTAMPTZ,
    status            TEXT NOT NULL DEFAULT 'NOT_READY',
    work_pool_id      UUID NOT NULL REFERENCES work_pool (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX uq_work_queue__work_pool_id_name ON work_queue (work_pool_id, name);
CREATE INDEX ix_work_queue__work_pool_id_priority ON work_queue (work_pool_id, priority);

CREATE TABLE worker (
    id                         UUID PRIMARY KEY,
    created                    TIMESTAMPTZ NOT NULL,
    updated                    TIMESTAMPTZ NOT NULL,
    work_pool_id               UUID NOT NULL REFERENCES work_pool (id) ON DELETE CASCADE,
    name                       TEXT NOT NULL,
    last_heartbeat_time        TIMESTAMPTZ NOT NULL,
    heartbeat_interval_seconds INTEGER,
    status                     TEXT NOT NULL DEFAULT 'OFFLINE'
);
CREATE UNIQUE INDEX uq_worker__work_pool_id_name ON worker (work_pool_id, name);
CREATE INDEX ix_worker__work_pool_id_last_heartbeat_time ON worker (work_pool_id, last_heartbeat_time);

CREATE TABLE deployment (
    id                         UUID PRIMARY KEY,
    created                    TIMESTAMPTZ NOT NULL,
    updated                    TIMESTAMPTZ NOT NULL,
    name                       TEXT NOT NULL,
    version                    TEXT,
    version_info               JSONB,
    description                TEXT,
    flow_id                    UUID NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    paused                     BOOLEAN NOT NULL DEFAULT false,
    status                     TEXT NOT NULL DEFAULT 'NOT_READY',
    last_polled                TIMESTAMPTZ,
    work_queue_name            TEXT,
    work_queue_id              UUID REFERENCES work_queue (id) ON DELETE SET NULL,
    job_variables              JSONB NOT NULL DEFAULT '{}'::jsonb,
    path                       TEXT,
    entrypoint                 TEXT,
    pull_steps                 JSONB,
    parameters                 JSONB NOT NULL DEFAULT '{}'::jsonb,
    parameter_openapi_schema   JSONB,
    enforce_parameter_schema   BOOLEAN NOT NULL DEFAULT false,
    tags                       JSONB NOT NULL DEFAULT '[]'::jsonb,
    labels                     JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- The limit as the API sets it; concurrency_limit_id names the global
    -- (v2) limit "deployment:<id>" that enforces it, without a foreign key
    -- so this table does not depend on the concurrency tables.
    concurrency_limit          INTEGER,
    concurrency_limit_id       UUID,
    concurrency_options        JSONB,
    created_by                 JSONB,
    updated_by                 JSONB,
    storage_document_id        UUID,
    infrastructure_document_id UUID
);
CREATE UNIQUE INDEX uq_deployment__flow_id_name ON deployment (flow_id, name);
CREATE INDEX ix_deployment__created ON deployment (created);
CREATE INDEX ix_deployment__work_queue_id ON deployment (work_queue_id);
CREATE INDEX ix_deployment__work_queue_name ON deployment (work_queue_name);
CREATE INDEX ix_deployment__paused ON deployment (paused);

-- schedule is one of {interval (seconds), anchor_date, timezone},
-- {cron, timezone, day_or} or {rrule, timezone}.
CREATE TABLE deployment_schedule (
    id                 UUID PRIMARY KEY,
    created            TIMESTAMPTZ NOT NULL,
    updated            TIMESTAMPTZ NOT NULL,
    deployment_id      UUID NOT NULL REFERENCES deployment (id) ON DELETE CASCADE,
    schedule           JSONB NOT NULL,
    active             BOOLEAN NOT NULL DEFAULT true,
    max_scheduled_runs INTEGER,
    parameters         JSONB NOT NULL DEFAULT '{}'::jsonb,
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
