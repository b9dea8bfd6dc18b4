-- Inputs of flow runs, as Prefect's flow_run_input table: keyed values a
-- paused run waits for (its run_input_keyset names the keys), or any
-- message sent to a run. They go with the run.

CREATE TABLE flow_run_input (
    id          TEXT PRIMARY KEY,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    flow_run_id TEXT NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    sender      TEXT,
    UNIQUE (flow_run_id, key)
);
