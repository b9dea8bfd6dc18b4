// Package catalogue holds what the server takes from the pinned prefect
// package besides its UIs, read once at start from the directory
// PREFECT_SERVER_CATALOGUE_DIRECTORY names (hack/catalogue-assets.sh makes
// one; nothing of it is in this repository):
//
//   - views/*.json: the collection views Prefect bundles
//     (prefect/server/api/collections_data/views), which
//     GET /collections/views/{view} serves: the worker types, with their
//     default base job templates, that the UIs and the CLI offer.
//   - blocks.json: the block types and schemas Prefect's server registers at
//     start (prefect/server/models/block_registration.py), written by
//     hack/block-catalogue.py from prefect's own block classes, so their
//     checksums are the ones clients compute.
//
// Without the directory the server still runs: the views answer 404 and
// block types are registered only by the clients that save blocks.
package catalogue

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"prefectgo.dev/prefectgo/server/schema"
)

// knownViews are the views Prefect's collections route knows
// (collections.py KNOWN_VIEWS); any other name is not in its registry.
var knownViews = []string{"aggregate-block-metadata", "aggregate-flow-metadata", "aggregate-worker-metadata", "demo-flows"}

// Catalogue is the loaded directory; the zero value has nothing in it.
type Catalogue struct {
	views  map[string]json.RawMessage
	blocks *blockFile // nil: no block catalogue
	log    *slog.Logger
}

// Load reads the catalogue in dir and logs, once, what is missing and why.
// It never fails: what cannot be read is left out.
func Load(dir string, log *slog.Logger) *Catalogue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Catalogue{views: map[string]json.RawMessage{}, log: log}
	if dir == "" {
		log.Warn("no block catalogue and no collection views: PREFECT_SERVER_CATALOGUE_DIRECTORY is unset; " +
			"hack/catalogue-assets.sh prints a directory with those of the pinned prefect (make run-server uses it). " +
			"Block types are registered only by the clients that save blocks, and /collections/views answers 404")
		return c
	}
	blocks, err := readBlocks(filepath.Join(dir, "blocks.json"))
	if err != nil {
		log.Warn("no block catalogue: block types are registered only by the clients that save blocks; "+
			"hack/catalogue-assets.sh writes a complete catalogue directory", "error", err)
	} else {
		c.blocks = blocks
	}
	for _, name := range knownViews {
		body, err := readView(filepath.Join(dir, "views", name+".json"))
		switch {
		case errors.Is(err, os.ErrNotExist): // Prefect bundles some views, not all
		case err != nil:
			log.Warn("collection view left out", "view", name, "error", err)
		default:
			c.views[name] = body
		}
	}
	args := []any{"directory", dir, "views", len(c.views)}
	if c.blocks != nil {
		args = append(args, "prefect_version", c.blocks.PrefectVersion, "block_types", len(c.blocks.Protected)+len(c.blocks.Registry)+len(c.blocks.Collections))
	}
	log.Info("loaded the catalogue", args...)
	return c
}

// readView reads one view: a JSON object, as Prefect's route returns.
func readView(path string) (json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !schema.IsJSONObject(data) {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return json.RawMessage(data), nil
}

// ErrUnknownView is a view Prefect's registry does not have.
var ErrUnknownView = errors.New("unknown view")

// ErrMissingView is a view Prefect knows that this catalogue lacks: Prefect
// fetches views from the collection registry on GitHub and bundles only
// some; this server serves the bundled ones and fetches nothing.
var ErrMissingView = errors.New("view not in the catalogue")

// View returns the body of a collection view.
func (c *Catalogue) View(name string) (json.RawMessage, error) {
	if body, ok := c.views[name]; ok {
		return body, nil
	}
	for _, v := range knownViews {
		if v == name {
			return nil, ErrMissingView
		}
	}
	return nil, ErrUnknownView
}

// HasBlocks says whether the block catalogue was loaded.
func (c *Catalogue) HasBlocks() bool { return c.blocks != nil }
