package prefectapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
)

// WorkPool is a work pool as the server answers it.
type WorkPool struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Type             string          `json:"type"`
	Description      *string         `json:"description"`
	BaseJobTemplate  json.RawMessage `json:"base_job_template"`
	IsPaused         bool            `json:"is_paused"`
	ConcurrencyLimit *int32          `json:"concurrency_limit"`
}

// WorkPoolWrite is what the operator sets of a pool; a nil template is
// left as the server has it.
type WorkPoolWrite struct {
	Name             string          `json:"name,omitempty"`
	Type             string          `json:"type,omitempty"`
	Description      *string         `json:"description"`
	BaseJobTemplate  json.RawMessage `json:"base_job_template,omitempty"`
	IsPaused         bool            `json:"is_paused"`
	ConcurrencyLimit *int32          `json:"concurrency_limit"`
}

func poolPath(name string) string { return "/work_pools/" + url.PathEscape(name) }

// ReadWorkPool reads a pool by name.
func (c *Client) ReadWorkPool(ctx context.Context, name string) (WorkPool, error) {
	var p WorkPool
	return p, c.do(ctx, http.MethodGet, poolPath(name), nil, &p)
}

// CreateWorkPool creates a pool.
func (c *Client) CreateWorkPool(ctx context.Context, w WorkPoolWrite) (WorkPool, error) {
	var p WorkPool
	return p, c.do(ctx, http.MethodPost, "/work_pools/", w, &p)
}

// UpdateWorkPool changes a pool (name and type are not sent: they cannot change).
func (c *Client) UpdateWorkPool(ctx context.Context, name string, w WorkPoolWrite) error {
	w.Name, w.Type = "", ""
	return c.do(ctx, http.MethodPatch, poolPath(name), w, nil)
}

// DeleteWorkPool deletes a pool; one already gone is fine.
func (c *Client) DeleteWorkPool(ctx context.Context, name string) error {
	err := c.do(ctx, http.MethodDelete, poolPath(name), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// ErrNoDefaultTemplate says the server lists no default base job template
// for a work pool type.
var ErrNoDefaultTemplate = errors.New("the server lists no default base job template for this work pool type")

// DefaultBaseJobTemplate is the base job template the server lists for a
// work pool type in its collection views (what `prefect work-pool create
// --type` starts from), or ErrNoDefaultTemplate when it lists none or has
// no views.
func (c *Client) DefaultBaseJobTemplate(ctx context.Context, poolType string) (json.RawMessage, error) {
	// Collection name -> worker type -> that worker's metadata.
	var views map[string]map[string]struct {
		Type     string          `json:"type"`
		Template json.RawMessage `json:"default_base_job_configuration"`
	}
	err := c.do(ctx, http.MethodGet, "/collections/views/aggregate-worker-metadata", nil, &views)
	switch {
	case IsNotFound(err): // a server without collection views
		return nil, ErrNoDefaultTemplate
	case err != nil:
		return nil, err
	}
	for _, workers := range views {
		for key, w := range workers {
			if (w.Type == poolType || key == poolType) && len(w.Template) > 0 {
				return w.Template, nil
			}
		}
	}
	return nil, ErrNoDefaultTemplate
}
