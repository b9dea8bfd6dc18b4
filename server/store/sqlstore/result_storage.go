package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// resultStorageRow is the configuration row of the server's default result
// storage, as Prefect keys it.
const resultStorageRow = "server-default-result-storage"

// DefaultResultStorage reads the block document clients store results in
// by default, nil when none is set.
func (s *Store) DefaultResultStorage(ctx context.Context) (*uuid.UUID, error) {
	var id *uuid.UUID
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		id, err = readResultStorage(ctx, c)
		return err
	})
	return id, err
}

func readResultStorage(ctx context.Context, c conn) (*uuid.UUID, error) {
	var raw json.RawMessage
	err := classify(c.queryRow(ctx, `SELECT value FROM configuration WHERE key = ?`, resultStorageRow).Scan(jsonCol{&raw}))
	if errors.Is(err, schema.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var v schema.ResultStorage
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return v.BlockDocumentID, nil
}

// SetDefaultResultStorage makes a block document the default result
// storage: ErrNotFound without the document, a BadRequestError when its
// schema cannot write paths.
func (s *Store) SetDefaultResultStorage(ctx context.Context, blockDocumentID uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		var caps []string
		err := classify(c.queryRow(ctx, `SELECT block_schema.capabilities FROM block_document
			JOIN block_schema ON block_schema.id = block_document.block_schema_id WHERE block_document.id = ?`, blockDocumentID).
			Scan(jsonInto{&caps}))
		if err != nil {
			return err
		}
		if !slices.Contains(caps, "write-path") {
			return &schema.BadRequestError{Msg: "Block document " + blockDocumentID.String() + " cannot be used for result storage."}
		}
		now := s.clock()
		_, err = c.exec(ctx, `INSERT INTO configuration (id, created, updated, key, value) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
			uuid.Must(uuid.NewV7()), now, now, resultStorageRow, mustJSON(schema.ResultStorage{BlockDocumentID: &blockDocumentID}))
		return classify(err)
	})
}

// ClearDefaultResultStorage unsets the default result storage.
func (s *Store) ClearDefaultResultStorage(ctx context.Context) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, `DELETE FROM configuration WHERE key = ?`, resultStorageRow)
		return classify(err)
	})
}

// clearResultStorageOf unsets the default result storage when it is the
// block document being deleted.
func clearResultStorageOf(ctx context.Context, c conn, blockDocumentID uuid.UUID) error {
	id, err := readResultStorage(ctx, c)
	if err != nil || id == nil || *id != blockDocumentID {
		return err
	}
	_, err = c.exec(ctx, `DELETE FROM configuration WHERE key = ?`, resultStorageRow)
	return classify(err)
}
