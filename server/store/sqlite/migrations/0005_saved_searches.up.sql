-- The UI's saved searches: named filter sets, as Prefect's saved_search
-- table (the filters are the UI's own JSON, kept as sent).

CREATE TABLE saved_search (
    id      TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    name    TEXT NOT NULL UNIQUE,
    filters TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX ix_saved_search__updated ON saved_search (updated);
