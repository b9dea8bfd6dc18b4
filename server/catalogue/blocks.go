package catalogue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// blockFile is blocks.json: the three steps of Prefect's block registration,
// each in the order Prefect registers it (see hack/block-catalogue.py).
type blockFile struct {
	PrefectVersion string `json:"prefect_version"`
	// Protected are the system blocks Prefect installs protected,
	// overriding what is stored.
	Protected []entry `json:"protected"`
	// Registry are the Block classes the server's process has loaded.
	Registry []entry `json:"registry"`
	// Collections are the integration blocks of Prefect's
	// collection_blocks_data.json.
	Collections []entry `json:"collections"`
}

type entry struct {
	BlockType   schema.BlockTypeCreate `json:"block_type"`
	BlockSchema struct {
		Fields       json.RawMessage `json:"fields"`
		Checksum     string          `json:"checksum"`
		Capabilities []string        `json:"capabilities"`
		Version      string          `json:"version"`
	} `json:"block_schema"`
}

// readBlocks reads and checks blocks.json; any flaw refuses the whole file,
// which comes whole from the generator.
func readBlocks(path string) (*blockFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f blockFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.PrefectVersion == "" || len(f.Protected) == 0 {
		return nil, fmt.Errorf("%s: not a block catalogue (no prefect_version or no protected block types)", path)
	}
	for _, step := range [][]entry{f.Protected, f.Registry, f.Collections} {
		for i := range step {
			e := &step[i]
			if err := e.BlockType.Validate(); err != nil {
				return nil, fmt.Errorf("%s: block type %q: %w", path, e.BlockType.Slug, err)
			}
			if !schema.IsJSONObject(e.BlockSchema.Fields) || e.BlockSchema.Version == "" {
				return nil, fmt.Errorf("%s: the schema of block type %q has no fields or no version", path, e.BlockType.Slug)
			}
		}
	}
	for i := range f.Protected {
		f.Protected[i].BlockType.IsProtected = true
	}
	return &f, nil
}

// Store is what registration writes through; store.Store has it.
type Store interface {
	RegisterBlockType(ctx context.Context, t schema.BlockTypeCreate) (schema.BlockType, string, error)
	CreateBlockSchema(ctx context.Context, s schema.BlockSchemaCreate) (schema.BlockSchema, bool, error)
}

// Change is a block type that registration created or updated, for its
// lifecycle event.
type Change struct {
	Action    string // "created" or "updated"
	BlockType schema.BlockType
}

// ErrNoBlocks says the block catalogue was not loaded.
var ErrNoBlocks = errors.New("the block catalogue is not installed on this server: " +
	"PREFECT_SERVER_CATALOGUE_DIRECTORY names no directory with a blocks.json (hack/catalogue-assets.sh writes one)")

// InstallProtected installs the protected system block types and their
// schemas, as POST /block_types/install_system_block_types does.
func (c *Catalogue) InstallProtected(ctx context.Context, st Store) ([]Change, error) {
	if c.blocks == nil {
		return nil, ErrNoBlocks
	}
	r := registration{st: st}
	for _, e := range c.blocks.Protected {
		if err := r.typeAndSchema(ctx, e); err != nil {
			return r.changes, err
		}
	}
	return r.changes, nil
}

// RegisterAll is Prefect's block registration at start: the protected
// types, then the registry's blocks one by one, then the collections' types
// all before their schemas, which nest each other's. As in Prefect, a
// failing registry block or collection schema is logged and skipped, while a
// failing protected type or collection type stops registration.
func (c *Catalogue) RegisterAll(ctx context.Context, st Store) ([]Change, error) {
	changes, err := c.InstallProtected(ctx, st)
	if err != nil {
		return changes, err
	}
	r := registration{st: st, changes: changes}
	for _, e := range c.blocks.Registry {
		if err := r.typeAndSchema(ctx, e); err != nil {
			if ctx.Err() != nil {
				return r.changes, err
			}
			c.log.Error("registering a block of the catalogue", "block_type", e.BlockType.Slug, "error", err)
		}
	}
	ids := make([]uuid.UUID, len(c.blocks.Collections))
	for i, e := range c.blocks.Collections {
		bt, err := r.blockType(ctx, e)
		if err != nil {
			return r.changes, fmt.Errorf("block type %q: %w", e.BlockType.Slug, err)
		}
		ids[i] = bt.ID
	}
	for i, e := range c.blocks.Collections {
		if err := r.schema(ctx, ids[i], e); err != nil {
			if ctx.Err() != nil {
				return r.changes, err
			}
			c.log.Error("registering a block schema of the catalogue", "block_type", e.BlockType.Slug, "error", err)
		}
	}
	c.log.Info("registered the block catalogue", "prefect_version", c.blocks.PrefectVersion,
		"block_types_changed", len(r.changes), "block_schemas_created", r.schemas)
	return r.changes, nil
}

// registration is one pass over (part of) the catalogue.
type registration struct {
	st      Store
	changes []Change
	schemas int // created
}

func (r *registration) typeAndSchema(ctx context.Context, e entry) error {
	bt, err := r.blockType(ctx, e)
	if err != nil {
		return fmt.Errorf("block type %q: %w", e.BlockType.Slug, err)
	}
	if err := r.schema(ctx, bt.ID, e); err != nil {
		return fmt.Errorf("the schema of block type %q: %w", e.BlockType.Slug, err)
	}
	return nil
}

func (r *registration) blockType(ctx context.Context, e entry) (schema.BlockType, error) {
	bt, change, err := r.st.RegisterBlockType(ctx, e.BlockType)
	if err == nil && change != "" {
		r.changes = append(r.changes, Change{Action: change, BlockType: bt})
	}
	return bt, err
}

// schemaAttempts bounds the tries of one schema: replicas registering the
// same schemas at once can each lose a race on a nested one once more.
const schemaAttempts = 3

// schema stores e's schema for its type, or finds it stored (same checksum
// and version), as Prefect's register_block_schema does.
func (r *registration) schema(ctx context.Context, typeID uuid.UUID, e entry) error {
	create := schema.BlockSchemaCreate{Fields: e.BlockSchema.Fields, BlockTypeID: typeID,
		Capabilities: slices.Clone(e.BlockSchema.Capabilities), Version: e.BlockSchema.Version}
	if err := create.Validate(); err != nil {
		return err
	}
	var err error
	for range schemaAttempts {
		var created bool
		_, created, err = r.st.CreateBlockSchema(ctx, create)
		var conflict *schema.ConflictError
		if !errors.As(err, &conflict) {
			if created {
				r.schemas++
			}
			return err
		}
	}
	return err
}
