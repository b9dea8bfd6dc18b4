-- The queue of background task runs (deferred, Scheduled) waiting for the
-- task workers subscribed to their task key. Prefect keeps it in memory;
-- here it survives a restart and replicas share it. A row is claimed while
-- its run is sent to one worker (claim, renewed at claimed_at while the
-- server waits for the worker's ack) and deleted on the ack; a claim that
-- is released, or no longer renewed, puts the run back in the queue. It
-- goes with the run.

CREATE TABLE task_run_queue (
    task_run_id TEXT PRIMARY KEY REFERENCES task_run (id) ON DELETE CASCADE,
    task_key    TEXT NOT NULL,
    retry       INTEGER NOT NULL,
    enqueued    TEXT NOT NULL,
    claim       TEXT,
    claimed_at  TEXT
);
CREATE INDEX ix_task_run_queue__task_key_order ON task_run_queue (task_key, retry DESC, enqueued);
CREATE INDEX ix_task_run_queue__claimed_at ON task_run_queue (claimed_at);
