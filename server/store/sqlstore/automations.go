package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

const automationColumns = `automation.id, automation.created, automation.updated, automation.name, automation.description,
	automation.enabled, automation.tags, automation.trigger, automation.actions, automation.actions_on_trigger, automation.actions_on_resolve`

func scanAutomation(row scanner) (schema.Automation, error) {
	var a schema.Automation
	err := row.Scan(&a.ID, ts(&a.Created), ts(&a.Updated), &a.Name, &a.Description, &a.Enabled,
		jsonInto{&a.Tags}, jsonCol{&a.Trigger}, jsonInto{&a.Actions}, jsonInto{&a.ActionsOnTrigger}, jsonInto{&a.ActionsOnResolve})
	a.Tags = nonNil(a.Tags)
	a.Actions, a.ActionsOnTrigger, a.ActionsOnResolve = nonNil(a.Actions), nonNil(a.ActionsOnTrigger), nonNil(a.ActionsOnResolve)
	return a, classify(err)
}

func readAutomation(ctx context.Context, c conn, id uuid.UUID) (schema.Automation, error) {
	return scanAutomation(c.queryRow(ctx, `SELECT `+automationColumns+` FROM automation WHERE id = ?`, id))
}

// CreateAutomation stores a with its related resources in one transaction.
func (s *Store) CreateAutomation(ctx context.Context, a schema.Automation, owner string) (schema.Automation, error) {
	a.ID = uuid.Must(uuid.NewV7())
	var out schema.Automation
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		now := s.clock()
		_, err := c.exec(ctx, `INSERT INTO automation (id, created, updated, name, description, enabled, tags, trigger,
			actions, actions_on_trigger, actions_on_resolve) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, now, now, a.Name, a.Description, a.Enabled, mustJSON(nonNil(a.Tags)), a.Trigger,
			mustJSON(nonNil(a.Actions)), mustJSON(nonNil(a.ActionsOnTrigger)), mustJSON(nonNil(a.ActionsOnResolve)))
		if err != nil {
			return classify(err)
		}
		if err := s.relateDeployments(ctx, c, a); err != nil {
			return err
		}
		if owner != "" {
			if err := s.relateAutomation(ctx, c, a.ID, owner, true); err != nil {
				return err
			}
		}
		out, err = readAutomation(ctx, c, a.ID)
		return err
	})
	return out, err
}

// relateDeployments relates the automation to the deployments its actions
// run, in place of those it was related to without owning them.
func (s *Store) relateDeployments(ctx context.Context, c conn, a schema.Automation) error {
	if _, err := c.exec(ctx, `DELETE FROM automation_related_resource WHERE automation_id = ?
		AND resource_id LIKE 'prefect.deployment.%' AND automation_owned_by_resource = ?`, a.ID, false); err != nil {
		return classify(err)
	}
	for _, id := range a.DeploymentIDs() {
		if err := s.relateAutomation(ctx, c, a.ID, "prefect.deployment."+id, false); err != nil {
			return err
		}
	}
	return nil
}

// relateAutomation adds a related resource; ownership, once given, stays.
func (s *Store) relateAutomation(ctx context.Context, c conn, id uuid.UUID, resourceID string, owned bool) error {
	now := s.clock()
	_, err := c.exec(ctx, `INSERT INTO automation_related_resource (id, created, updated, automation_id, resource_id,
		automation_owned_by_resource) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (automation_id, resource_id) DO UPDATE SET updated = excluded.updated,
		automation_owned_by_resource = (automation_related_resource.automation_owned_by_resource OR excluded.automation_owned_by_resource)`,
		uuid.Must(uuid.NewV7()), now, now, id, resourceID, owned)
	return classify(err)
}

// ReadAutomation returns one automation.
func (s *Store) ReadAutomation(ctx context.Context, id uuid.UUID) (schema.Automation, error) {
	var out schema.Automation
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = readAutomation(ctx, c, id)
		return err
	})
	return out, err
}

// ReplaceAutomation writes a over the automation id, keeping its created time.
func (s *Store) ReplaceAutomation(ctx context.Context, id uuid.UUID, a schema.Automation) (schema.Automation, error) {
	a.ID = id
	var out schema.Automation
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		err := mustDelete(c.exec(ctx, `UPDATE automation SET updated = ?, name = ?, description = ?, enabled = ?, tags = ?,
			trigger = ?, actions = ?, actions_on_trigger = ?, actions_on_resolve = ? WHERE id = ?`,
			s.clock(), a.Name, a.Description, a.Enabled, mustJSON(nonNil(a.Tags)), a.Trigger,
			mustJSON(nonNil(a.Actions)), mustJSON(nonNil(a.ActionsOnTrigger)), mustJSON(nonNil(a.ActionsOnResolve)), id))
		if err != nil {
			return err
		}
		if err := s.relateDeployments(ctx, c, a); err != nil {
			return err
		}
		out, err = readAutomation(ctx, c, id)
		return err
	})
	return out, err
}

// SetAutomationEnabled turns an automation on or off.
func (s *Store) SetAutomationEnabled(ctx context.Context, id uuid.UUID, enabled bool) (schema.Automation, error) {
	var out schema.Automation
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := mustDelete(c.exec(ctx, `UPDATE automation SET enabled = ?, updated = ? WHERE id = ?`, enabled, s.clock(), id)); err != nil {
			return err
		}
		var err error
		out, err = readAutomation(ctx, c, id)
		return err
	})
	return out, err
}

// DeleteAutomation deletes one automation (its relations go with it).
func (s *Store) DeleteAutomation(ctx context.Context, id uuid.UUID) (schema.Automation, error) {
	var out schema.Automation
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		var err error
		if out, err = readAutomation(ctx, c, id); err != nil {
			return err
		}
		return mustDelete(c.exec(ctx, `DELETE FROM automation WHERE id = ?`, id))
	})
	return out, err
}

var automationSorts = map[string]string{
	"CREATED_DESC": "automation.created DESC",
	"UPDATED_DESC": "automation.updated DESC",
	"NAME_ASC":     "automation.name ASC",
	"NAME_DESC":    "automation.name DESC",
}

func (s *Store) automationWhere(f *schema.AutomationFilter) *where {
	w := newWhere(s.d)
	if f == nil {
		return w
	}
	w.nested(f.Operator, func(in *where) {
		in.ids("automation.id", f.ID)
		if f.Name != nil && f.Name.Any != nil {
			in.in("automation.name", f.Name.Any, false)
		}
		if f.Created != nil && f.Created.Before != nil {
			in.add("automation.created <= ?", *f.Created.Before)
		}
		in.tags("automation.tags", f.Tags)
	})
	return w
}

// FilterAutomations returns a page of automations in the asked order.
func (s *Store) FilterAutomations(ctx context.Context, q schema.AutomationQuery) ([]schema.Automation, error) {
	w := s.automationWhere(q.Automations)
	order, ok := automationSorts[q.Sort]
	if !ok {
		order = automationSorts["NAME_ASC"]
	}
	var out []schema.Automation
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = queryAll(ctx, c, scanAutomation, `SELECT `+automationColumns+` FROM automation WHERE `+w.sql()+
			` ORDER BY `+order+`, automation.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// CountAutomations counts the automations f matches.
func (s *Store) CountAutomations(ctx context.Context, f *schema.AutomationFilter) (int, error) {
	w := s.automationWhere(f)
	var n int
	err := s.read(ctx, func(ctx context.Context, c conn) error {
		return classify(c.queryRow(ctx, `SELECT count(*) FROM automation WHERE `+w.sql(), w.args...).Scan(&n))
	})
	return n, err
}

// relatedTo selects the automations related to the resource bound to its
// first parameter; owned adds a second, the ownership wanted.
func relatedTo(owned bool) string {
	sub := `SELECT automation_id FROM automation_related_resource WHERE resource_id = ?`
	if owned {
		sub += ` AND automation_owned_by_resource = ?`
	}
	return `automation.id IN (` + sub + `)`
}

// AutomationsRelatedTo lists the automations related to resourceID.
func (s *Store) AutomationsRelatedTo(ctx context.Context, resourceID string) ([]schema.Automation, error) {
	var out []schema.Automation
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = queryAll(ctx, c, scanAutomation, `SELECT `+automationColumns+` FROM automation WHERE `+relatedTo(false)+`
			ORDER BY automation.created, automation.id`, resourceID)
		return err
	})
	return nonNil(out), err
}

// DeleteAutomationsOwnedBy deletes what resourceID owns, created before
// before, and returns it.
func (s *Store) DeleteAutomationsOwnedBy(ctx context.Context, resourceID string, before time.Time) ([]schema.Automation, error) {
	var out []schema.Automation
	err := s.tx(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = deleteOwnedAutomations(ctx, c, resourceID, before)
		return err
	})
	return nonNil(out), err
}

func deleteOwnedAutomations(ctx context.Context, c conn, resourceID string, before time.Time) ([]schema.Automation, error) {
	where := relatedTo(true) + ` AND automation.created <= ?`
	owned, err := queryAll(ctx, c, scanAutomation, `SELECT `+automationColumns+` FROM automation WHERE `+where, resourceID, true, before)
	if err != nil {
		return nil, err
	}
	_, err = c.exec(ctx, `DELETE FROM automation WHERE `+where, resourceID, true, before)
	return owned, classify(err)
}
