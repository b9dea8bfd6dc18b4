-- Automations, as Prefect's automation table: the trigger and actions are
-- kept as the API checked and filled them. automation_related_resource
-- relates an automation to the resources its actions name or that own it
-- (a deployment deletes the automations it owns).

CREATE TABLE automation (
    id                 TEXT PRIMARY KEY,
    created            TEXT NOT NULL,
    updated            TEXT NOT NULL,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    enabled            INTEGER NOT NULL DEFAULT 1,
    tags               TEXT NOT NULL DEFAULT '[]',
    trigger            TEXT NOT NULL,
    actions            TEXT NOT NULL DEFAULT '[]',
    actions_on_trigger TEXT NOT NULL DEFAULT '[]',
    actions_on_resolve TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX ix_automation__name ON automation (name);
CREATE INDEX ix_automation__updated ON automation (updated);

CREATE TABLE automation_related_resource (
    id                           TEXT PRIMARY KEY,
    created                      TEXT NOT NULL,
    updated                      TEXT NOT NULL,
    automation_id                TEXT NOT NULL REFERENCES automation (id) ON DELETE CASCADE,
    resource_id                  TEXT NOT NULL,
    automation_owned_by_resource INTEGER NOT NULL DEFAULT 0,
    UNIQUE (automation_id, resource_id)
);
CREATE INDEX ix_automation_related_resource__resource_id ON automation_related_resource (resource_id);
