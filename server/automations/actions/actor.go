// Package actions carries out what automations do when they fire, as
// Prefect 3.9.1's actions service does (server/events/actions.py): each
// action calls the server's own API, in process, as Prefect's calls its
// own over HTTP, so an action changes nothing a client could not (a flow
// run's state goes through set_state and so through the runs service), and
// reports itself with prefect.automation.action.triggered, then .executed
// or .failed.
package actions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/schema"
)

// Emitter takes the events the actions emit (events.Ingestor.Emit).
type Emitter interface {
	Emit(ctx context.Context, events ...schema.Event) error
}

// Actor carries out triggered actions.
type Actor struct {
	// API is the server's HTTP handler, called in process; BasePath is the
	// API's prefix (/api) and Auth the basic auth it requires, if any.
	API      http.Handler
	BasePath string
	Auth     string
	// Internal marks a request as the server's own (no CSRF token).
	Internal func(context.Context) context.Context
	Events   Emitter
	// HTTP delivers webhooks and notifications.
	HTTP *http.Client
	// UIURL is the web UI's address for the ui_url template filter; empty
	// leaves it out.
	UIURL string
	Now   func() time.Time
	Log   *slog.Logger
}

var _ automations.Actor = (*Actor)(nil)

// failed is an action that could not be carried out, and why.
type failed struct{ reason string }

func (f *failed) Error() string { return f.reason }

func fail(format string, args ...any) error { return &failed{fmt.Sprintf(format, args...)} }

// outcome is what an action adds to its events: details for the payload
// and resources it touched.
type outcome struct {
	details map[string]any
	related []schema.Resource
}

func (o *outcome) relate(labels ...string) {
	r := schema.Resource{}
	for i := 0; i+1 < len(labels); i += 2 {
		r[labels[i]] = labels[i+1]
	}
	o.related = append(o.related, r)
}

// Act carries out one action and emits its events. It never panics the
// service: an unexpected error is a failed action.
func (a *Actor) Act(ctx context.Context, ta automations.TriggeredAction) {
	out := &outcome{details: map[string]any{}}
	err := a.do(ctx, ta, out)
	if err != nil {
		a.log().Warn("automation action failed", "automation_id", ta.Automation.ID, "action", ta.Action.Type, "reason", err.Error())
	}
	a.report(ctx, ta, out, err)
}

func (a *Actor) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (a *Actor) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// report emits prefect.automation.action.triggered and then .executed, or
// .failed with the reason, as Prefect's Action.succeed and fail do.
func (a *Actor) report(ctx context.Context, ta automations.TriggeredAction, out *outcome, err error) {
	resource := schema.Resource{"prefect.resource.id": "prefect.automation." + ta.Automation.ID.String(),
		"prefect.resource.name": ta.Automation.Name, "prefect.trigger-type": ta.Automation.Trigger.Type}
	if ta.Automation.Trigger.Type == schema.TriggerEvent {
		resource["prefect.posture"] = ta.Automation.Trigger.Posture
	}
	related := append([]schema.Resource{}, out.related...)
	if ta.AutomationTriggeredEventID != nil {
		related = append(related, schema.Resource{"prefect.resource.id": "prefect.event." + ta.AutomationTriggeredEventID.String(),
			"prefect.resource.role": "automation-triggered-event"})
	}
	var follows *uuid.UUID
	if ev := ta.TriggeringEvent; ev != nil {
		related = append(related, schema.Resource{"prefect.resource.id": "prefect.event." + ev.ID.String(),
			"prefect.resource.role": "triggering-event"})
		// Only a close cause is followed, so ordering never waits long for it.
		if d := ta.Triggered.Sub(ev.Occurred); d < 5*time.Minute && d > -5*time.Minute {
			id := ev.ID
			follows = &id
		}
	}
	base := map[string]any{"action_index": ta.ActionIndex, "action_type": ta.Action.Type, "invocation": ta.ID.String()}
	triggered := schema.Event{ID: uuid.Must(uuid.NewV7()), Occurred: ta.Triggered, Event: "prefect.automation.action.triggered",
		Resource: resource, Related: related, Payload: mustJSON(base), Follows: follows}
	result := map[string]any{}
	for k, v := range base {
		result[k] = v
	}
	name := "prefect.automation.action.executed"
	if err != nil {
		name = "prefect.automation.action.failed"
		result["reason"] = err.Error()
	}
	for k, v := range out.details {
		result[k] = v
	}
	tid := triggered.ID
	done := schema.Event{ID: uuid.Must(uuid.NewV7()), Occurred: a.now(), Event: name, Resource: resource, Related: related,
		Payload: mustJSON(result), Follows: &tid}
	if a.Events != nil {
		if err := a.Events.Emit(ctx, triggered, done); err != nil {
			a.log().Error("emitting an automation action's events", "automation_id", ta.Automation.ID, "error", err)
		}
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// call sends one request to the server's API in process. The automation
// names itself in headers, as Prefect's actions do.
func (a *Actor) call(ctx context.Context, ta automations.TriggeredAction, method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(mustJSON(body))
	}
	if a.Internal != nil {
		ctx = a.Internal(ctx)
	}
	req := httptest.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.BasePath, "/")+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefect-Automation-ID", ta.Automation.ID.String())
	req.Header.Set("Prefect-Automation-Name", base64.StdEncoding.EncodeToString([]byte(ta.Automation.Name)))
	if a.Auth != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(a.Auth)))
	}
	rec := httptest.NewRecorder()
	a.API.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// reasonFrom words a refused call as Prefect's reason_from_response does.
func reasonFrom(action string, status int, body []byte) string {
	if status == http.StatusConflict || status == http.StatusUnprocessableEntity {
		var b struct {
			Detail any `json:"detail"`
		}
		_ = json.Unmarshal(body, &b)
		detail := ""
		if b.Detail != nil {
			detail = fmt.Sprint(b.Detail)
		}
		if status == http.StatusUnprocessableEntity || detail != "" {
			out := fmt.Sprintf("Validation error occurred for '%s'", action)
			if detail != "" {
				out += " - " + detail
			}
			return out
		}
		return fmt.Sprintf("Conflict (409) occurred for '%s' - '%s'", action, string(body))
	}
	return fmt.Sprintf("Unexpected status from '%s' action: %d", action, status)
}

// command calls the API and fails the action on a status of 300 or more,
// recording the status as Prefect does.
func (a *Actor) command(ctx context.Context, ta automations.TriggeredAction, out *outcome, method, path string, body any) ([]byte, error) {
	status, resp := a.call(ctx, ta, method, path, body)
	out.details["status_code"] = status
	if status >= 300 {
		return resp, fail("%s", reasonFrom(ta.Action.Type, status, resp))
	}
	return resp, nil
}
