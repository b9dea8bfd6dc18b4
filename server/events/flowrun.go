package events

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// truncateStateMessagesAt bounds state messages in events, as Prefect does:
// some users carry large errors or results in them.
const truncateStateMessagesAt = 100_000

// tightTiming is how close two state changes must be for the event of the
// second to name the first in follows (Prefect's _timing_is_tight).
const tightTiming = 5 * time.Minute

// FlowRunRelated is what a flow-run event says about the objects around the
// run that the run itself does not carry. The caller reads them once (Prefect
// caches them per run for a few minutes).
type FlowRunRelated struct {
	// FlowName and FlowTags describe run.FlowID.
	FlowName string
	FlowTags []string
	// DeploymentName and DeploymentTags describe run.DeploymentID, if set.
	DeploymentName string
	DeploymentTags []string
	// WorkPoolType is the type of run.WorkPoolID's pool, if set.
	WorkPoolType string
	// ParentTaskRun is the subflow's parent task run, if any.
	ParentTaskRun *RelatedTaskRun
}

// RelatedTaskRun names a flow run's parent task run.
type RelatedTaskRun struct {
	ID   uuid.UUID
	Name string
	Tags []string
}

// FlowRunStateChanged builds the prefect.flow-run.<State name> event the
// server emits after an accepted flow-run transition (Prefect's
// flow_run_state_change_event). run is the run after the transition; initial
// is the state it left, nil for its first. The event's id is the validated
// state's id (uuid v7 here), which orders state-change events, and follows
// names the initial state when the two are within five minutes. Received is
// left zero: Ingestor.Emit stamps it.
func FlowRunStateChanged(run schema.FlowRun, initial *schema.State, validated schema.State, rel FlowRunRelated) schema.Event {
	id := validated.ID
	if id == uuid.Nil {
		id = uuid.Must(uuid.NewV7())
	}
	occurred := validated.Timestamp.UTC().Truncate(time.Microsecond)
	ev := schema.Event{
		ID:       id,
		Occurred: occurred,
		Event:    "prefect.flow-run." + validated.Name,
		Resource: schema.Resource{
			"prefect.resource.id":     flowRunPrefix + run.ID.String(),
			"prefect.resource.name":   run.Name,
			"prefect.run-count":       strconv.Itoa(run.RunCount),
			"prefect.state-message":   truncatedTo(truncateStateMessagesAt, deref(validated.Message)),
			"prefect.state-name":      validated.Name,
			"prefect.state-timestamp": pythonISOFormat(validated.Timestamp),
			"prefect.state-type":      string(validated.Type),
		},
		Related: flowRunRelatedResources(run, rel),
	}
	if initial != nil && initial.ID != uuid.Nil {
		if d := occurred.Sub(initial.Timestamp); -tightTiming < d && d < tightTiming {
			follows := initial.ID
			ev.Follows = &follows
		}
	}

	var from *schema.StateType
	if initial != nil {
		from = &initial.Type
	}
	payload := struct {
		Intended struct {
			From *schema.StateType `json:"from"`
			To   schema.StateType  `json:"to"`
		} `json:"intended"`
		InitialState   *statePayload `json:"initial_state"`
		ValidatedState *statePayload `json:"validated_state"`
	}{InitialState: newStatePayload(initial), ValidatedState: newStatePayload(&validated)}
	payload.Intended.From, payload.Intended.To = from, validated.Type
	ev.Payload, _ = json.Marshal(payload) // plain strings: cannot fail
	return ev
}

// statePayload is the essential string parts of a state (Prefect's state_payload).
type statePayload struct {
	Type            schema.StateType `json:"type"`
	Name            string           `json:"name,omitempty"`
	Message         string           `json:"message,omitempty"`
	PauseReschedule string           `json:"pause_reschedule,omitempty"`
}

func newStatePayload(s *schema.State) *statePayload {
	if s == nil {
		return nil
	}
	p := &statePayload{Type: s.Type, Name: s.Name, Message: truncatedTo(truncateStateMessagesAt, deref(s.Message))}
	if s.Type == schema.StatePaused {
		p.PauseReschedule = strconv.FormatBool(s.StateDetails.PauseReschedule)
	}
	return p
}

// flowRunRelatedResources lists, in Prefect's order: flow, deployment, work
// queue, work pool, parent task run, then one tag resource per tag of any of
// them (sorted), then the creator.
func flowRunRelatedResources(run schema.FlowRun, rel FlowRunRelated) []schema.Resource {
	related := []schema.Resource{}
	tags := slices.Clone(run.Tags)
	add := func(kind string, id uuid.UUID, name string, extra ...string) {
		r := schema.Resource{
			"prefect.resource.id":   "prefect." + kind + "." + id.String(),
			"prefect.resource.role": kind,
			"prefect.resource.name": name,
		}
		for i := 0; i+1 < len(extra); i += 2 {
			r[extra[i]] = extra[i+1]
		}
		related = append(related, r)
	}

	add("flow", run.FlowID, rel.FlowName)
	tags = append(tags, rel.FlowTags...)
	if run.DeploymentID != nil {
		add("deployment", *run.DeploymentID, rel.DeploymentName)
		tags = append(tags, rel.DeploymentTags...)
	}
	if run.WorkQueueID != nil {
		add("work-queue", *run.WorkQueueID, deref(run.WorkQueueName))
		// Prefect reaches the pool through the queue.
		if run.WorkPoolID != nil {
			add("work-pool", *run.WorkPoolID, deref(run.WorkPoolName), "prefect.work-pool.type", rel.WorkPoolType)
		}
	}
	if t := rel.ParentTaskRun; t != nil {
		add("task-run", t.ID, t.Name)
		tags = append(tags, t.Tags...)
	}

	slices.Sort(tags)
	for _, tag := range slices.Compact(tags) {
		related = append(related, schema.Resource{
			"prefect.resource.id":   "prefect.tag." + tag,
			"prefect.resource.role": "tag",
		})
	}

	if cb := run.CreatedBy; cb != nil && cb.ID != nil && cb.Type != nil {
		var kind string
		switch *cb.Type {
		case "DEPLOYMENT":
			kind = "deployment"
		case "AUTOMATION":
			kind = "automation"
		}
		if kind != "" {
			r := schema.Resource{
				"prefect.resource.id":   "prefect." + kind + "." + cb.ID.String(),
				"prefect.resource.role": "creator",
			}
			if cb.DisplayValue != nil && *cb.DisplayValue != "" {
				r["prefect.resource.name"] = *cb.DisplayValue
			}
			related = append(related, r)
		}
	}
	return related
}

// truncatedTo keeps the start and end of a long text with a note of what was
// left out between them (Prefect's truncated_to), counting characters.
func truncatedTo(length int, s string) string {
	r := []rune(s)
	if len(r) <= length {
		return s
	}
	half := length / 2
	omitted := len(r) - 2*half
	out := string(r[:half]) + "..." + strconv.Itoa(omitted) + " additional characters..." + string(r[len(r)-half:])
	if len([]rune(out)) < len(r) {
		return out
	}
	return s
}

// pythonISOFormat renders t as Python's datetime.isoformat() does for a UTC
// time, the form Prefect puts in prefect.state-timestamp.
func pythonISOFormat(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
