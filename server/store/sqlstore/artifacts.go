package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

const artifactColumns = `artifact.id, artifact.created, artifact.updated, artifact.key, artifact.type,
	artifact.description, artifact.data, artifact.metadata_, artifact.flow_run_id, artifact.task_run_id`

func scanArtifact(row scanner) (schema.Artifact, error) {
	var a schema.Artifact
	err := row.Scan(&a.ID, ts(&a.Created), ts(&a.Updated), nullString{&a.Key}, nullString{&a.Type},
		nullString{&a.Description}, jsonCol{&a.Data}, jsonCol{&a.Metadata}, nullUUID{&a.FlowRunID}, nullUUID{&a.TaskRunID})
	orNull(&a.Data, &a.Metadata)
	return a, classify(err)
}

// CreateArtifact stores an artifact.
func (s *Store) CreateArtifact(ctx context.Context, in schema.ArtifactCreate) (schema.Artifact, error) {
	now := s.clock()
	a := schema.Artifact{ID: uuid.Must(uuid.NewV7()), Created: now, Updated: now, Key: in.Key, Type: in.Type,
		Description: in.Description, Data: in.Data, Metadata: in.Metadata, FlowRunID: in.FlowRunID, TaskRunID: in.TaskRunID}
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, `INSERT INTO artifact (id, created, updated, key, type, description, data, metadata_, flow_run_id, task_run_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, now, now, a.Key, a.Type, a.Description, a.Data, a.Metadata, a.FlowRunID, a.TaskRunID)
		return err
	})
	return a, err
}

// ReadArtifact returns one artifact.
func (s *Store) ReadArtifact(ctx context.Context, id uuid.UUID) (schema.Artifact, error) {
	var a schema.Artifact
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		a, err = scanArtifact(c.queryRow(ctx, `SELECT `+artifactColumns+` FROM artifact WHERE id = ?`, id))
		return err
	})
	return a, err
}

// latestOnly keeps the newest artifact of each key.
const latestOnly = `artifact.key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM artifact newer
	WHERE newer.key = artifact.key AND (newer.created > artifact.created OR (newer.created = artifact.created AND newer.id > artifact.id)))`

// ReadLatestArtifact returns the newest artifact with key.
func (s *Store) ReadLatestArtifact(ctx context.Context, key string) (schema.Artifact, error) {
	var a schema.Artifact
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		a, err = scanArtifact(c.queryRow(ctx, `SELECT `+artifactColumns+` FROM artifact WHERE key = ? ORDER BY created DESC, id DESC LIMIT 1`, key))
		return err
	})
	return a, err
}

// UpdateArtifact changes an artifact's data, description or metadata.
func (s *Store) UpdateArtifact(ctx context.Context, id uuid.UUID, u schema.ArtifactUpdate) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		a, err := scanArtifact(c.queryRow(ctx, `SELECT `+artifactColumns+` FROM artifact WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if len(u.Data) > 0 {
			a.Data = u.Data
		}
		if u.Description != nil {
			a.Description = u.Description
		}
		if len(u.Metadata) > 0 {
			a.Metadata = u.Metadata
		}
		_, err = c.exec(ctx, `UPDATE artifact SET data = ?, description = ?, metadata_ = ?, updated = ? WHERE id = ?`,
			a.Data, a.Description, a.Metadata, s.clock(), id)
		return err
	})
}

// DeleteArtifact deletes one artifact.
func (s *Store) DeleteArtifact(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(c.exec(ctx, `DELETE FROM artifact WHERE id = ?`, id))
	})
}

var artifactSorts = map[string]string{
	"":             "artifact.created DESC",
	"CREATED_DESC": "artifact.created DESC",
	"UPDATED_DESC": "artifact.updated DESC",
	"ID_DESC":      "artifact.id DESC",
	"KEY_DESC":     "artifact.key DESC",
	"KEY_ASC":      "artifact.key ASC",
}

func (s *Store) artifactWhere(q schema.ArtifactQuery, latest bool) *where {
	w := newWhere(s.d)
	if latest {
		w.add(latestOnly)
	}
	if f := q.Artifacts; f != nil {
		w.nested(f.Operator, func(in *where) {
			in.ids("artifact.id", f.ID)
			if f.Key != nil {
				in.text("artifact.key", &f.Key.TextFilter)
				if f.Key.Exists != nil {
					in.isNull("artifact.key", new(!*f.Key.Exists))
				}
			}
			in.ids("artifact.flow_run_id", f.FlowRunID)
			in.ids("artifact.task_run_id", f.TaskRunID)
			in.text("artifact.type", f.Type)
			if latest {
				in.ids("artifact.id", f.LatestID)
			}
		})
	}
	if q.FlowRuns != nil {
		fr := s.flowRunWhere(schema.Query{FlowRuns: q.FlowRuns})
		w.sub("artifact.flow_run_id IN (SELECT flow_run.id FROM flow_run WHERE "+fr.sql()+")", fr)
	}
	if q.TaskRuns != nil {
		tr := s.taskRunWhere(schema.Query{TaskRuns: q.TaskRuns})
		w.sub("artifact.task_run_id IN (SELECT task_run.id FROM task_run WHERE "+tr.sql()+")", tr)
	}
	return w
}

func (s *Store) filterArtifacts(ctx context.Context, q schema.ArtifactQuery, latest bool) ([]schema.Artifact, error) {
	order, err := sortClause(artifactSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := s.artifactWhere(q, latest)
	var out []schema.Artifact
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, scanArtifact, `SELECT `+artifactColumns+` FROM artifact WHERE `+w.sql()+` ORDER BY `+order+`, artifact.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// FilterArtifacts returns the artifacts matching q.
func (s *Store) FilterArtifacts(ctx context.Context, q schema.ArtifactQuery) ([]schema.Artifact, error) {
	return s.filterArtifacts(ctx, q, false)
}

// CountArtifacts counts the artifacts matching q.
func (s *Store) CountArtifacts(ctx context.Context, q schema.ArtifactQuery) (int, error) {
	w := s.artifactWhere(q, false)
	return s.count(ctx, `SELECT count(*) FROM artifact WHERE `+w.sql(), w.args)
}

// collectionSorts are Prefect's ArtifactCollectionSort, ID_DESC by default.
var collectionSorts = map[string]string{
	"":             "oldest.id DESC",
	"ID_DESC":      "oldest.id DESC",
	"CREATED_DESC": "oldest.created DESC",
	"UPDATED_DESC": "artifact.updated DESC",
	"KEY_DESC":     "artifact.key DESC",
	"KEY_ASC":      "artifact.key ASC",
}

// oldestOfKey joins each artifact to the oldest artifact of its key (aliased
// oldest), whose id and created time stand for the collection's: Prefect
// keeps a row per key, created with the key's first artifact.
const oldestOfKey = `JOIN artifact oldest ON oldest.key = artifact.key AND NOT EXISTS (SELECT 1 FROM artifact older
	WHERE older.key = oldest.key AND (older.created < oldest.created OR (older.created = oldest.created AND older.id < oldest.id)))`

func scanArtifactCollection(row scanner) (schema.ArtifactCollection, error) {
	var a schema.ArtifactCollection
	err := row.Scan(&a.ID, ts(&a.Created), ts(&a.Updated), &a.Key, &a.LatestID, nullString{&a.Type},
		nullString{&a.Description}, jsonCol{&a.Data}, jsonCol{&a.Metadata}, nullUUID{&a.FlowRunID}, nullUUID{&a.TaskRunID})
	orNull(&a.Data, &a.Metadata)
	return a, classify(err)
}

// FilterLatestArtifacts returns the latest artifact of each key matching q,
// as collections.
func (s *Store) FilterLatestArtifacts(ctx context.Context, q schema.ArtifactQuery) ([]schema.ArtifactCollection, error) {
	order, err := sortClause(collectionSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := s.artifactWhere(q, true)
	var out []schema.ArtifactCollection
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, scanArtifactCollection, `SELECT oldest.id, oldest.created, artifact.updated, artifact.key, artifact.id,
			artifact.type, artifact.description, artifact.data, artifact.metadata_, artifact.flow_run_id, artifact.task_run_id
			FROM artifact `+oldestOfKey+` WHERE `+w.sql()+` ORDER BY `+order+`, artifact.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// CountLatestArtifacts counts the keys whose latest artifact matches q.
func (s *Store) CountLatestArtifacts(ctx context.Context, q schema.ArtifactQuery) (int, error) {
	w := s.artifactWhere(q, true)
	return s.count(ctx, `SELECT count(*) FROM artifact WHERE `+w.sql(), w.args)
}

// orNull makes unset JSON fields the JSON null that Prefect answers.
func orNull(fields ...*json.RawMessage) {
	for _, f := range fields {
		if *f == nil {
			*f = json.RawMessage("null")
		}
	}
}
