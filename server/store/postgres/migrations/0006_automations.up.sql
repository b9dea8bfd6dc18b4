-- Automations, as Prefect's automation table: the trigger and actions are
-- kept as the API checked and filled them. automation_related_resource
-- relates an automation to the resources its actions name or that own it
-- (a deployment deletes the automations it owns).

CREATE TABLE automation (
    id                 UUID PRIMARY KEY,
    created            TIMESTAMPTZ NOT NULL,
    updated            TIMESTAMPTZ NOT NULL,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    enabled            BOOLEAN NOT NULL DEFAULT true,
    tags               JSONB NOT NULL DEFAULT '[]'::jsonb,
    trigger            JSONB NOT NULL,
    actions            JSONB NOT NULL DEFAULT '[]'::jsonb,
    actions_on_trigger JSONB NOT NULL DEFAULT '[]'::jsonb,
    actions_on_resolve JSONB NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX ix_automation__name ON automation (name);
CREATE INDEX ix_automation__updated ON automation (updated);

CREATE TABLE automation_related_resource (
    id                           UUID PRIMARY KEY,
    created                      TIMESTAMPTZ NOT NULL,
    updated                      TIMESTAMPTZ NOT NULL,
    automation_id                UUID NOT NULL REFERENCES automation (id) ON DELETE CASCADE,
    resource_id                  TEXT NOT NULL,
    automation_owned_by_resource BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (automation_id, resource_id)
);
CREATE INDEX ix_automation_related_resource__resource_id ON automation_related_resource (resource_id);
