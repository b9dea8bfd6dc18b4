package schema

import (
	"strconv"
	"time"

	"github.com/google/uuid"
)

// MaxUIFlowIDs is the most flow ids the /ui/flows routes take at once
// (max_length in Prefect).
const MaxUIFlowIDs = 200

// UIFlowIDs is the body of POST /ui/flows/count-deployments and
// /ui/flows/next-runs.
type UIFlowIDs struct {
	FlowIDs *[]uuid.UUID `json:"flow_ids"`
}

// EmbeddedBody: flow_ids is a Body(embed=True) parameter in Prefect.
func (UIFlowIDs) EmbeddedBody() {}

// Validate checks that flow_ids is there and not too long.
func (b *UIFlowIDs) Validate() error {
	if b.FlowIDs == nil {
		return Invalid("flow_ids", "Field required")
	}
	if n := len(*b.FlowIDs); n > MaxUIFlowIDs {
		return Invalid("flow_ids", "List should have at most "+strconv.Itoa(MaxUIFlowIDs)+" items after validation, not "+strconv.Itoa(n))
	}
	return nil
}

// SimpleNextFlowRun is a flow's next scheduled run, as the flows page
// shows it.
type SimpleNextFlowRun struct {
	ID                     uuid.UUID `json:"id"`
	FlowID                 uuid.UUID `json:"flow_id"`
	Name                   string    `json:"name"`
	StateName              string    `json:"state_name"`
	StateType              StateType `json:"state_type"`
	NextScheduledStartTime time.Time `json:"next_scheduled_start_time"`
}
