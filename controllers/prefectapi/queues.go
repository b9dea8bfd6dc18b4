package prefectapi

import (
	"context"
	"net/http"
	"net/url"
)

// WorkQueue is a work pool's queue as the server answers it.
type WorkQueue struct {
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	Description      *string `json:"description"`
	IsPaused         bool    `json:"is_paused"`
	ConcurrencyLimit *int32  `json:"concurrency_limit"`
	Priority         int32   `json:"priority"`
	// Status is READY (polled lately), NOT_READY or PAUSED.
	Status string `json:"status"`
}

// WorkQueueWrite is what the operator sets of a queue; a nil priority is
// left as the server has it (a new queue comes last).
type WorkQueueWrite struct {
	Name             string  `json:"name,omitempty"`
	Description      *string `json:"description"`
	IsPaused         bool    `json:"is_paused"`
	ConcurrencyLimit *int32  `json:"concurrency_limit"`
	Priority         *int32  `json:"priority,omitempty"`
}

func queuesPath(pool string) string { return poolPath(pool) + "/queues/" }

func queuePath(pool, name string) string { return queuesPath(pool) + url.PathEscape(name) }

// ReadWorkQueue reads a pool's queue by name.
func (c *Client) ReadWorkQueue(ctx context.Context, pool, name string) (WorkQueue, error) {
	var q WorkQueue
	return q, c.do(ctx, http.MethodGet, queuePath(pool, name), nil, &q)
}

// CreateWorkQueue creates a queue in a pool; the server answers 404 when
// the pool does not exist.
func (c *Client) CreateWorkQueue(ctx context.Context, pool string, w WorkQueueWrite) (WorkQueue, error) {
	var q WorkQueue
	return q, c.do(ctx, http.MethodPost, queuesPath(pool), w, &q)
}

// UpdateWorkQueue changes a queue (its name is not sent: it cannot change).
func (c *Client) UpdateWorkQueue(ctx context.Context, pool, name string, w WorkQueueWrite) error {
	w.Name = ""
	return c.do(ctx, http.MethodPatch, queuePath(pool, name), w, nil)
}

// DeleteWorkQueue deletes a queue; one already gone (or its pool) is fine.
func (c *Client) DeleteWorkQueue(ctx context.Context, pool, name string) error {
	err := c.do(ctx, http.MethodDelete, queuePath(pool, name), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}
