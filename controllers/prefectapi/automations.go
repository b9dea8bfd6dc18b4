package prefectapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Automation is an automation as the server answers it: the trigger and
// the actions are kept as JSON, with the server's defaults filled in.
type Automation struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Enabled          bool              `json:"enabled"`
	Tags             []string          `json:"tags"`
	Trigger          json.RawMessage   `json:"trigger"`
	Actions          []json.RawMessage `json:"actions"`
	ActionsOnTrigger []json.RawMessage `json:"actions_on_trigger"`
	ActionsOnResolve []json.RawMessage `json:"actions_on_resolve"`
	Created          time.Time         `json:"created"`
	Updated          time.Time         `json:"updated"`
}

// AutomationWrite is what the operator sets of an automation: the body of
// the POST that creates it and of the PUT that replaces it. Every field is
// sent (the PUT changes only the keys it is sent), so one the spec leaves
// unset is cleared.
type AutomationWrite struct {
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Enabled          bool              `json:"enabled"`
	Tags             []string          `json:"tags"`
	Trigger          json.RawMessage   `json:"trigger"`
	Actions          []json.RawMessage `json:"actions"`
	ActionsOnTrigger []json.RawMessage `json:"actions_on_trigger"`
	ActionsOnResolve []json.RawMessage `json:"actions_on_resolve"`
}

// filled sends the lists left nil as empty ones: the server refuses a null.
func (w AutomationWrite) filled() AutomationWrite {
	for _, l := range []*[]json.RawMessage{&w.Actions, &w.ActionsOnTrigger, &w.ActionsOnResolve} {
		if *l == nil {
			*l = []json.RawMessage{}
		}
	}
	if w.Tags == nil {
		w.Tags = []string{}
	}
	return w
}

func automationPath(id string) string { return "/automations/" + url.PathEscape(id) }

// ReadAutomation reads an automation by id.
func (c *Client) ReadAutomation(ctx context.Context, id string) (Automation, error) {
	var a Automation
	return a, c.do(ctx, http.MethodGet, automationPath(id), nil, &a)
}

// AutomationsNamed lists the automations of that name (names are not
// unique on a server), oldest first.
func (c *Client) AutomationsNamed(ctx context.Context, name string) ([]Automation, error) {
	var out []Automation
	body := map[string]any{"automations": map[string]any{"name": map[string]any{"any_": []string{name}}}, "sort": "CREATED_DESC"}
	if err := c.do(ctx, http.MethodPost, "/automations/filter", body, &out); err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// CreateAutomation creates an automation.
func (c *Client) CreateAutomation(ctx context.Context, w AutomationWrite) (Automation, error) {
	var a Automation
	return a, c.do(ctx, http.MethodPost, "/automations/", w.filled(), &a)
}

// UpdateAutomation replaces an automation's fields (PUT, Prefect's full
// update). The server gives its trigger new ids, which starts its windows
// afresh: it is only for an automation that differs from the spec.
func (c *Client) UpdateAutomation(ctx context.Context, id string, w AutomationWrite) error {
	return c.do(ctx, http.MethodPut, automationPath(id), w.filled(), nil)
}

// DeleteAutomation deletes an automation; one already gone is fine.
func (c *Client) DeleteAutomation(ctx context.Context, id string) error {
	err := c.do(ctx, http.MethodDelete, automationPath(id), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}
