package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/schema"
)

// do carries out the action, adding to out what its events report.
func (a *Actor) do(ctx context.Context, ta automations.TriggeredAction, out *outcome) error {
	act := ta.Action
	switch act.Type {
	case "do-nothing":
		return nil
	case schema.ActionRunDeployment:
		return a.runDeployment(ctx, ta, out)
	case "pause-deployment", "resume-deployment":
		id, err := targetID(ta, "prefect.deployment", "deployment")
		if err != nil {
			return err
		}
		out.relate("prefect.resource.id", "prefect.deployment."+id.String(), "prefect.resource.role", "target")
		verb := strings.TrimSuffix(act.Type, "-deployment")
		_, err = a.command(ctx, ta, out, http.MethodPost, "/deployments/"+id.String()+"/"+verb+"_deployment", nil)
		return err
	case "cancel-flow-run", "suspend-flow-run", "change-flow-run-state":
		return a.changeFlowRunState(ctx, ta, out)
	case "delete-flow-run":
		id, err := flowRunID(ta)
		if err != nil {
			return err
		}
		out.relate("prefect.resource.id", "prefect.flow-run."+id.String(), "prefect.resource.role", "target")
		_, err = a.command(ctx, ta, out, http.MethodDelete, "/flow_runs/"+id.String(), nil)
		return err
	case "resume-flow-run":
		id, err := flowRunID(ta)
		if err != nil {
			return err
		}
		out.relate("prefect.resource.id", "prefect.flow-run."+id.String(), "prefect.resource.role", "target")
		status, body := a.call(ctx, ta, http.MethodPost, "/flow_runs/"+id.String()+"/resume", map[string]any{})
		if reason, ok := notAccepted(status, body); !ok {
			return fail("Failed to resume flow run: %s", reason)
		}
		return nil
	case "pause-work-queue", "resume-work-queue":
		id, err := targetID(ta, "prefect.work-queue", "work queue")
		if err != nil {
			return err
		}
		status, body := a.call(ctx, ta, http.MethodGet, "/work_queues/"+id.String(), nil)
		var q struct{ Name string }
		if status >= 300 || json.Unmarshal(body, &q) != nil {
			return fail("Work queue %s not found", id)
		}
		out.relate("prefect.resource.id", "prefect.work-queue."+id.String(), "prefect.resource.name", q.Name, "prefect.resource.role", "target")
		_, err = a.command(ctx, ta, out, http.MethodPatch, "/work_queues/"+id.String(),
			map[string]any{"is_paused": act.Type == "pause-work-queue"})
		return err
	case "pause-work-pool", "resume-work-pool":
		id, err := targetID(ta, "prefect.work-pool", "work pool")
		if err != nil {
			return err
		}
		status, body := a.call(ctx, ta, http.MethodPost, "/work_pools/filter", map[string]any{"work_pools": map[string]any{"id": map[string]any{"any_": []uuid.UUID{id}}}})
		var pools []struct{ Name string }
		if status >= 300 || json.Unmarshal(body, &pools) != nil || len(pools) == 0 {
			return fail("Work pool %s not found", id)
		}
		out.relate("prefect.resource.id", "prefect.work-pool."+id.String(), "prefect.resource.name", pools[0].Name, "prefect.resource.role", "target")
		_, err = a.command(ctx, ta, out, http.MethodPatch, "/work_pools/"+url.PathEscape(pools[0].Name),
			map[string]any{"is_paused": act.Type == "pause-work-pool"})
		return err
	case "pause-automation", "resume-automation":
		id, err := targetID(ta, "prefect.automation", "automation")
		if err != nil {
			return err
		}
		out.relate("prefect.resource.id", "prefect.automation."+id.String(), "prefect.resource.role", "target")
		_, err = a.command(ctx, ta, out, http.MethodPatch, "/automations/"+id.String(),
			map[string]any{"enabled": act.Type == "resume-automation"})
		return err
	case "call-webhook":
		return a.callWebhook(ctx, ta, out)
	case "send-notification":
		return a.sendNotification(ctx, ta, out)
	}
	return fail("Unknown action type %q", act.Type)
}

// targetID is the id a selected action names, or for an inferred one the
// first resource of kind among the triggering event's.
func targetID(ta automations.TriggeredAction, kind, what string) (uuid.UUID, error) {
	if ta.Action.Source != schema.SourceInferred && ta.Action.TargetID != nil {
		return *ta.Action.TargetID, nil
	}
	if ta.TriggeringEvent == nil {
		return uuid.Nil, fail("No event to infer the %s", what)
	}
	if id, ok := firstOfKind(*ta.TriggeringEvent, kind); ok {
		return id, nil
	}
	return uuid.Nil, fail("No %s could be inferred", what)
}

// firstOfKind is the id of the first of the event's resources (its own,
// then the related ones) whose id is kind.<uuid>.
func firstOfKind(e schema.Event, kind string) (uuid.UUID, bool) {
	for _, r := range append([]schema.Resource{e.Resource}, e.Related...) {
		if id, ok := idOfKind(r.ID(), kind); ok {
			return id, true
		}
	}
	return uuid.Nil, false
}

func idOfKind(resourceID, kind string) (uuid.UUID, bool) {
	i := strings.LastIndex(resourceID, ".")
	if i < 0 || resourceID[:i] != kind {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(resourceID[i+1:])
	return id, err == nil
}

// flowRunID is the run a flow-run action acts on: the one the trigger's
// for_each labels name, else the first in the triggering event.
func flowRunID(ta automations.TriggeredAction) (uuid.UUID, error) {
	if id, ok := idOfKind(ta.TriggeringLabels["prefect.resource.id"], "prefect.flow-run"); ok {
		return id, nil
	}
	if ta.TriggeringEvent != nil {
		if id, ok := firstOfKind(*ta.TriggeringEvent, "prefect.flow-run"); ok {
			return id, nil
		}
	}
	return uuid.Nil, fail("No flow run could be inferred")
}

// notAccepted reads an orchestration answer: ok when ACCEPT, else the reason.
func notAccepted(status int, body []byte) (string, bool) {
	var res struct {
		Status  string `json:"status"`
		Details struct {
			Reason *string `json:"reason"`
		} `json:"details"`
	}
	if status >= 300 || json.Unmarshal(body, &res) != nil {
		return fmt.Sprintf("status %d", status), false
	}
	if res.Status == string(schema.StatusAccept) {
		return "", true
	}
	if res.Details.Reason != nil {
		return *res.Details.Reason, false
	}
	return "None", false
}

// changeFlowRunState proposes the state the action stands for through
// set_state, the one door of run states.
func (a *Actor) changeFlowRunState(ctx context.Context, ta automations.TriggeredAction, out *outcome) error {
	id, err := flowRunID(ta)
	if err != nil {
		return err
	}
	out.relate("prefect.resource.id", "prefect.flow-run."+id.String(), "prefect.resource.role", "target")
	by := "Automation " + ta.Automation.ID.String()
	var state map[string]any
	force := false
	switch ta.Action.Type {
	case "cancel-flow-run":
		state = map[string]any{"type": schema.StateCancelling, "message": "Cancelled by " + by}
	case "suspend-flow-run":
		timeout := a.now().Add(time.Hour)
		state = map[string]any{"type": schema.StatePaused, "name": "Suspended", "message": "Suspended by " + by,
			"state_details": map[string]any{"pause_timeout": timeout, "pause_reschedule": true}}
	default:
		msg := "State changed by " + by
		if ta.Action.Message != nil && *ta.Action.Message != "" {
			msg = *ta.Action.Message
		}
		state = map[string]any{"type": ta.Action.State, "name": ta.Action.StateName, "message": msg}
		force = ta.Action.Force
	}
	body, err := a.command(ctx, ta, out, http.MethodPost, "/flow_runs/"+id.String()+"/set_state", map[string]any{"state": state, "force": force})
	if err != nil {
		return err
	}
	if reason, ok := notAccepted(http.StatusOK, body); !ok {
		return fail("Failed to set state: %s", reason)
	}
	return nil
}

// runDeployment creates a run of the deployment, Scheduled after the
// action's delay, with its parameters rendered; its idempotency key names
// the invocation, so a retried action makes one run.
func (a *Actor) runDeployment(ctx context.Context, ta automations.TriggeredAction, out *outcome) error {
	id, err := targetID(ta, "prefect.deployment", "deployment")
	if err != nil {
		return err
	}
	out.relate("prefect.resource.id", "prefect.deployment."+id.String(), "prefect.resource.role", "target")
	params, err := a.renderParameters(ctx, ta)
	if err != nil {
		return err
	}
	at := a.now().Add(time.Duration(ta.Action.ScheduleAfter * float64(time.Second)))
	key := fmt.Sprintf("automation %s, action %d, invocation %s", ta.Automation.ID, ta.ActionIndex, ta.ID)
	req := map[string]any{"state": map[string]any{"type": schema.StateScheduled, "name": "Scheduled",
		"state_details": map[string]any{"scheduled_time": at}}, "idempotency_key": key, "parameters": params}
	if len(ta.Action.JobVariables) > 0 && string(ta.Action.JobVariables) != "null" {
		req["job_variables"] = ta.Action.JobVariables
	}
	status, body := a.call(ctx, ta, http.MethodPost, "/deployments/"+id.String()+"/create_flow_run", req)
	out.details["status_code"] = status
	if status == http.StatusConflict {
		var b struct {
			Detail any `json:"detail"`
		}
		_ = json.Unmarshal(body, &b)
		out.details["validation_error"] = b.Detail
	}
	if status >= 300 {
		return fail("%s", reasonFrom(ta.Action.Type, status, body))
	}
	var run struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
	}
	_ = json.Unmarshal(body, &run)
	out.relate("prefect.resource.id", "prefect.flow-run."+run.ID.String(), "prefect.resource.role", "flow-run",
		"prefect.resource.name", run.Name)
	return nil
}
