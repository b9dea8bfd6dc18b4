-- event_resources loses its id, which no query reads: its primary key index
-- was one more B-tree insert for every resource of every event.

ALTER TABLE event_resources DROP COLUMN id;
