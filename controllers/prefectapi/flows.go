package prefectapi

import (
	"context"
	"net/http"
)

// Flow is a flow as the server answers it.
type Flow struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CreateFlow makes the flow of that name, or answers the one that exists
// (POST /flows/ is idempotent by name, as Prefect's).
func (c *Client) CreateFlow(ctx context.Context, name string) (Flow, error) {
	var f Flow
	return f, c.do(ctx, http.MethodPost, "/flows/", map[string]string{"name": name}, &f)
}
