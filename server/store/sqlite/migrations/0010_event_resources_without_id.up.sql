-- event_resources loses its id, which no query reads: a TEXT primary key is
-- an index of its own, one more B-tree insert for every resource of every
-- event. SQLite cannot drop a primary key column, so the table is rebuilt.

CREATE TABLE event_resources_new (
    occurred      TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_role TEXT NOT NULL,
    resource      TEXT NOT NULL,
    event_id      TEXT NOT NULL
);
INSERT INTO event_resources_new (occurred, resource_id, resource_role, resource, event_id)
    SELECT occurred, resource_id, resource_role, resource, event_id FROM event_resources;
DROP TABLE event_resources;
ALTER TABLE event_resources_new RENAME TO event_resources;
CREATE INDEX ix_event_resources__resource_id_occurred ON event_resources (resource_id, occurred);
CREATE INDEX ix_event_resources__occurred ON event_resources (occurred);
CREATE INDEX ix_event_resources__event_id ON event_resources (event_id);
