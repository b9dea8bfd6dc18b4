package schema

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Automation is a trigger and the actions to take when it fires. This server
// stores automations and answers for them as Prefect does; it does not
// evaluate their triggers or run their actions.
type Automation struct {
	Name             string    `json:"name"`
	Description      string    `json:"description"`
	Enabled          bool      `json:"enabled"`
	Tags             []string  `json:"tags"`
	Trigger          Trigger   `json:"trigger"`
	Actions          []Action  `json:"actions"`
	ActionsOnTrigger []Action  `json:"actions_on_trigger"`
	ActionsOnResolve []Action  `json:"actions_on_resolve"`
	ID               uuid.UUID `json:"id"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
}

// AutomationCore is the body of PUT /automations/{id}, and with an owner
// that of POST /automations/. A PUT changes only the keys it sends (Prefect
// updates with exclude_unset); name, trigger and actions are required.
type AutomationCore struct {
	Name             Optional[string]   `json:"name"`
	Description      Optional[string]   `json:"description"`
	Enabled          Optional[bool]     `json:"enabled"`
	Tags             Optional[[]string] `json:"tags"`
	Trigger          Trigger            `json:"trigger"`
	Actions          Optional[[]Action] `json:"actions"`
	ActionsOnTrigger Optional[[]Action] `json:"actions_on_trigger"`
	ActionsOnResolve Optional[[]Action] `json:"actions_on_resolve"`
}

// AutomationCreate is the body of POST /automations/: an automation and,
// optionally, the resource that owns it (a deployment whose triggers made
// it, "prefect.deployment.<id>").
type AutomationCreate struct {
	AutomationCore
	OwnerResource *string `json:"owner_resource"`
}

// Validate checks the fields in Prefect's order and then its loop check,
// and gives every trigger a new id, as Prefect does.
func (c *AutomationCore) Validate() error {
	switch {
	case !c.Name.Set:
		return Invalid("name", "Field required")
	case c.Name.Value == nil:
		return Invalid("name", "Input should be a valid string")
	case c.Description.Set && c.Description.Value == nil:
		return Invalid("description", "Input should be a valid string")
	case c.Enabled.Set && c.Enabled.Value == nil:
		return Invalid("enabled", "Input should be a valid boolean")
	case c.Tags.Set && c.Tags.Value == nil:
		return Invalid("tags", "Input should be a valid list")
	}
	if err := c.Trigger.Check("trigger"); err != nil {
		return err
	}
	if !c.Actions.Set {
		return Invalid("actions", "Field required")
	}
	for _, l := range c.actionLists() {
		if err := checkActions(l.key, l.list); err != nil {
			return err
		}
	}
	if err := c.noNUL(); err != nil {
		return err
	}
	// Prefect validates the loop against the enabled the body gives, true
	// when it gives none, whatever the stored automation says.
	if err := CheckRunDeploymentLoops(c.Enabled.Value == nil || *c.Enabled.Value, c.Trigger, c.ActionList()); err != nil {
		return err
	}
	c.Trigger.ResetIDs()
	return nil
}

// Validate checks the automation and its owner.
func (c *AutomationCreate) Validate() error {
	if err := c.AutomationCore.Validate(); err != nil {
		return err
	}
	return noNUL(map[string]*string{"owner_resource": c.OwnerResource})
}

func checkActions(key string, list Optional[[]Action]) error {
	if list.Set && list.Value == nil {
		return Invalid(key, "Input should be a valid list")
	}
	if list.Value == nil {
		return nil
	}
	for i, a := range *list.Value {
		if err := a.Check(key + "." + strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

// noNUL rejects text the databases cannot store, anywhere in the body.
func (c *AutomationCore) noNUL() error {
	if err := noNUL(map[string]*string{"name": c.Name.Value, "description": c.Description.Value}); err != nil {
		return err
	}
	if c.Tags.Value != nil {
		if err := validateTagsText("tags", *c.Tags.Value); err != nil {
			return err
		}
	}
	if b, err := json.Marshal(c.Trigger); err == nil && hasNUL(b) {
		return Invalid("trigger", "Input should not contain NUL characters")
	}
	for _, l := range c.actionLists() {
		if b, err := json.Marshal(l.list.Value); err == nil && hasNUL(b) {
			return Invalid(l.key, "Input should not contain NUL characters")
		}
	}
	return nil
}

// actionLists are the three lists of actions by key, in Prefect's order.
func (c *AutomationCore) actionLists() []struct {
	key  string
	list Optional[[]Action]
} {
	return []struct {
		key  string
		list Optional[[]Action]
	}{{"actions", c.Actions}, {"actions_on_trigger", c.ActionsOnTrigger}, {"actions_on_resolve", c.ActionsOnResolve}}
}

// ActionList is the actions sent (none before Validate).
func (c AutomationCore) ActionList() []Action { return listOr(c.Actions) }

// ActionsOnTriggerList and ActionsOnResolveList are those lists, empty when
// not sent.
func (c AutomationCore) ActionsOnTriggerList() []Action { return listOr(c.ActionsOnTrigger) }
func (c AutomationCore) ActionsOnResolveList() []Action { return listOr(c.ActionsOnResolve) }

func listOr(o Optional[[]Action]) []Action {
	if o.Value == nil {
		return []Action{}
	}
	return *o.Value
}

// New is the automation the body creates, with Prefect's defaults for what
// it leaves out.
func (c AutomationCore) New(id uuid.UUID, now time.Time) Automation {
	a := Automation{Name: *c.Name.Value, Enabled: true, Tags: []string{}, Trigger: c.Trigger,
		Actions: c.ActionList(), ActionsOnTrigger: c.ActionsOnTriggerList(), ActionsOnResolve: c.ActionsOnResolveList(),
		ID: id, Created: now, Updated: now}
	c.ApplyTo(&a)
	return a
}

// ApplyTo sets the fields the body sends on a.
func (c AutomationCore) ApplyTo(a *Automation) {
	a.Name, a.Trigger = *c.Name.Value, c.Trigger
	if c.Description.Value != nil {
		a.Description = *c.Description.Value
	}
	if c.Enabled.Value != nil {
		a.Enabled = *c.Enabled.Value
	}
	if c.Tags.Value != nil {
		a.Tags = slices.Clone(*c.Tags.Value)
	}
	if c.Actions.Value != nil {
		a.Actions = *c.Actions.Value
	}
	if c.ActionsOnTrigger.Value != nil {
		a.ActionsOnTrigger = *c.ActionsOnTrigger.Value
	}
	if c.ActionsOnResolve.Value != nil {
		a.ActionsOnResolve = *c.ActionsOnResolve.Value
	}
}

// DeploymentsRun returns the deployments the actions run by id, each once:
// the resources Prefect relates an automation to (its actions on trigger
// and on resolve are not counted, as in Prefect).
func DeploymentsRun(actions []Action) []uuid.UUID {
	var out []uuid.UUID
	for _, a := range actions {
		if id, ok := a.RunsDeployment(); ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// DeploymentResource is the resource id of a deployment.
func DeploymentResource(id uuid.UUID) string { return "prefect.deployment." + id.String() }

// loopEvents are the flow-run events every run a deployment makes goes
// through.
var loopEvents = []string{"prefect.flow-run.Scheduled", "prefect.flow-run.Pending", "prefect.flow-run.Running", "prefect.flow-run.*"}

// CheckRunDeploymentLoops is Prefect's prevent_run_deployment_loops: an
// enabled automation whose reactive event trigger expects the states every
// flow run goes through, and that runs a deployment it infers from the run,
// or one it selects while matching every flow run, would run deployments
// without end.
func CheckRunDeploymentLoops(enabled bool, t Trigger, actions []Action) error {
	if !enabled || t.Type != TriggerEvent || t.Posture != PostureReactive {
		return nil
	}
	flowRuns := false
	for _, e := range t.Expect {
		flowRuns = flowRuns || strings.HasPrefix(e, "prefect.flow-run.")
	}
	if !flowRuns || !slices.ContainsFunc(t.Expect, func(e string) bool { return slices.Contains(loopEvents, e) }) {
		return nil
	}
	for _, a := range actions {
		if a.Type != ActionRunDeployment {
			continue
		}
		if a.Source == SourceInferred {
			return Invalid("", "Value error, Running an inferred deployment from a flow run state change event "+
				"will lead to an infinite loop of flow runs.  Please choose a specific deployment and add additional "+
				"filtering labels to the match or match_related for this automation's trigger.")
		}
		if everyResourceOfKind(t.Match, "prefect.flow-run") && slices.ContainsFunc(specList(t.MatchRelated),
			func(spec json.RawMessage) bool { return everyResourceOfKind(spec, "prefect.flow-run") }) {
			return Invalid("", "Value error, Running a selected deployment from a flow run state change event "+
				"may lead to an infinite loop of flow runs.  Please include additional filtering labels on either "+
				"match or match_related to narrow down which flow runs will trigger this automation to exclude "+
				"flow runs from the deployment you've selected.")
		}
	}
	return nil
}

// everyResourceOfKind is Prefect's matches_every_resource_of_kind: a
// specification that is empty, or only names resource ids "<kind>.*".
func everyResourceOfKind(spec json.RawMessage, kind string) bool {
	labels, _ := jsonObject(spec)
	if len(labels) == 0 {
		return true
	}
	raw, ok := labels["prefect.resource.id"]
	if len(labels) != 1 || !ok {
		return false
	}
	var ids []string
	var one string
	if json.Unmarshal(raw, &one) == nil {
		ids = []string{one}
	} else {
		_ = json.Unmarshal(raw, &ids)
	}
	return slices.Contains(ids, kind+".*")
}

// specList is match_related as a list of specifications.
func specList(raw json.RawMessage) []json.RawMessage {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil && list != nil {
		return list
	}
	return []json.RawMessage{raw}
}

// AutomationPartialUpdate is the body of PATCH /automations/{id}: whether
// the automation is enabled. Sent without it, it changes only the
// automation's updated time, and checks loops as if enabled, as Prefect's
// does.
type AutomationPartialUpdate struct {
	Enabled Optional[bool] `json:"enabled"`
}

// Validate refuses a null.
func (p *AutomationPartialUpdate) Validate() error {
	if p.Enabled.Set && p.Enabled.Value == nil {
		return Invalid("enabled", "Input should be a valid boolean")
	}
	return nil
}

// AutomationFilter selects automations: Prefect's four criteria.
type AutomationFilter struct {
	Operator Operator                 `json:"operator"`
	ID       *AutomationFilterID      `json:"id"`
	Name     *AutomationFilterName    `json:"name"`
	Created  *AutomationFilterCreated `json:"created"`
	Tags     *TagsFilter              `json:"tags"`
}

// AutomationFilterID matches automations by id.
type AutomationFilterID struct {
	Any []uuid.UUID `json:"any_"`
}

// AutomationFilterName matches automations by exact name.
type AutomationFilterName struct {
	Any []string `json:"any_"`
}

// AutomationFilterCreated matches automations created at or before a time.
type AutomationFilterCreated struct {
	Before *DateTime `json:"before_"`
}

// AutomationQuery is the body of POST /automations/filter and
// /automations/count (which reads only the filter).
type AutomationQuery struct {
	Automations *AutomationFilter `json:"automations"`
	Sort        string            `json:"sort"`
	Page
}
