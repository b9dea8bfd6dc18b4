package events

import (
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// AutomationChanged is the event of an automation created, updated or
// deleted (action), carrying the automation, as Prefect 3.9 emits it.
func AutomationChanged(action string, a schema.Automation, occurred time.Time) schema.Event {
	return lifecycleEvent("automation", action, "prefect.automation."+a.ID.String(), a.Name, a, occurred, nil)
}
