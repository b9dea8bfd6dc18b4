-- What evaluating automations keeps between events, as Prefect's
-- automation_bucket and composite_trigger_child_firing tables: each event
-- trigger's count per for_each key over its window, and the firings of a
-- composite trigger's children not yet used. They go with the automation.

CREATE TABLE automation_bucket (
    automation_id  UUID NOT NULL REFERENCES automation (id) ON DELETE CASCADE,
    trigger_id     UUID NOT NULL,
    bucketing_key  TEXT NOT NULL,
    start          TIMESTAMPTZ NOT NULL,
    "end"          TIMESTAMPTZ NOT NULL,
    count          INTEGER NOT NULL,
    last_event     JSONB,
    last_operation TEXT NOT NULL,
    updated        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (automation_id, trigger_id, bucketing_key)
);
CREATE INDEX ix_automation_bucket__end ON automation_bucket ("end");

CREATE TABLE composite_trigger_child_firing (
    automation_id     UUID NOT NULL REFERENCES automation (id) ON DELETE CASCADE,
    parent_trigger_id UUID NOT NULL,
    child_trigger_id  UUID NOT NULL,
    child_firing_id   UUID NOT NULL,
    child_fired_at    TIMESTAMPTZ NOT NULL,
    child_firing      JSONB NOT NULL,
    updated           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (automation_id, parent_trigger_id, child_trigger_id)
);
