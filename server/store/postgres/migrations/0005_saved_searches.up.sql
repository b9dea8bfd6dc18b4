-- The UI's saved searches: named filter sets, as Prefect's saved_search
-- table (the filters are the UI's own JSON, kept as sent).

CREATE TABLE saved_search (
    id      UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    name    TEXT NOT NULL UNIQUE,
    filters JSONB NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX ix_saved_search__updated ON saved_search (updated);
