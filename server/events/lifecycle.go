package events

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// lifecycleEvent is the prefect.<kind>.<action> event Prefect emits when an
// object is created, updated or deleted (server/events/schemas/lifecycle.py).
// Received is left zero: Ingestor.Emit stamps it.
func lifecycleEvent(kind, action, resourceID, name string, payload any, occurred time.Time, related []schema.Resource) schema.Event {
	res := schema.Resource{"prefect.resource.id": resourceID}
	if name != "" {
		res["prefect.resource.name"] = name
	}
	if related == nil {
		related = []schema.Resource{}
	}
	p, _ := json.Marshal(payload)
	return schema.Event{
		ID:       uuid.Must(uuid.NewV7()),
		Occurred: occurred.UTC().Truncate(time.Microsecond),
		Event:    "prefect." + kind + "." + action,
		Resource: res,
		Related:  related,
		Payload:  p,
	}
}
