package sqlstore

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// "trigger" is quoted: it is a keyword of both dialects.
const automationColumns = `automation.id, automation.created, automation.updated, automation.name, automation.description,
	automation.enabled, automation.tags, automation."trigger", automation.actions, automation.actions_on_trigger,
	automation.actions_on_resolve`

func scanAutomation(row scanner) (schema.Automation, error) {
	var a schema.Automation
	err := row.Scan(&a.ID, ts(&a.Created), ts(&a.Updated), &a.Name, &a.Description, &a.Enabled, jsonInto{&a.Tags},
		jsonInto{&a.Trigger}, jsonInto{&a.Actions}, jsonInto{&a.ActionsOnTrigger}, jsonInto{&a.ActionsOnResolve})
	a.Tags, a.Actions = nonNil(a.Tags), nonNil(a.Actions)
	a.ActionsOnTrigger, a.ActionsOnResolve = nonNil(a.ActionsOnTrigger), nonNil(a.ActionsOnResolve)
	return a, classify(err)
}

// CreateAutomation stores the automation, related to the deployments its
// actions run and to its owner.
func (s *Store) CreateAutomation(ctx context.Context, in schema.AutomationCreate) (schema.Automation, error) {
	a := in.New(uuid.Must(uuid.NewV7()), s.clock())
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, `INSERT INTO automation (id, created, updated, name, description, enabled, tags, "trigger",
			actions, actions_on_trigger, actions_on_resolve) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Created, a.Updated, a.Name, a.Description, a.Enabled, mustJSON(a.Tags), mustJSON(a.Trigger),
			mustJSON(a.Actions), mustJSON(a.ActionsOnTrigger), mustJSON(a.ActionsOnResolve))
		if err != nil {
			return err
		}
		if err := s.relateDeployments(ctx, c, a); err != nil {
			return err
		}
		// An empty owner owns nothing, as in Prefect.
		if in.OwnerResource != nil && *in.OwnerResource != "" {
			return s.relateAutomation(ctx, c, a.ID, *in.OwnerResource, true)
		}
		return nil
	})
	return a, err
}

// ReadAutomation returns one automation.
func (s *Store) ReadAutomation(ctx context.Context, id uuid.UUID) (schema.Automation, error) {
	var a schema.Automation
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		a, err = scanAutomation(c.queryRow(ctx, `SELECT `+automationColumns+` FROM automation WHERE id = ?`, id))
		return err
	})
	return a, err
}

// UpdateAutomation applies the fields u sends and relates the automation
// anew to the deployments it runs.
func (s *Store) UpdateAutomation(ctx context.Context, id uuid.UUID, u schema.AutomationCore) (schema.Automation, error) {
	var a schema.Automation
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		var err error
		if a, err = s.lockedAutomation(ctx, c, id); err != nil {
			return err
		}
		u.ApplyTo(&a)
		a.Updated = s.clock()
		_, err = c.exec(ctx, `UPDATE automation SET updated = ?, name = ?, description = ?, enabled = ?, tags = ?,
			"trigger" = ?, actions = ?, actions_on_trigger = ?, actions_on_resolve = ? WHERE id = ?`,
			a.Updated, a.Name, a.Description, a.Enabled, mustJSON(a.Tags), mustJSON(a.Trigger), mustJSON(a.Actions),
			mustJSON(a.ActionsOnTrigger), mustJSON(a.ActionsOnResolve), id)
		if err != nil {
			return err
		}
		return s.relateDeployments(ctx, c, a)
	})
	return a, err
}

// PatchAutomation sets enabled, when p does, after Prefect's loop check of
// the result (which takes an absent enabled as true).
func (s *Store) PatchAutomation(ctx context.Context, id uuid.UUID, p schema.AutomationPartialUpdate) (schema.Automation, error) {
	var a schema.Automation
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		var err error
		if a, err = s.lockedAutomation(ctx, c, id); err != nil {
			return err
		}
		if err := schema.CheckRunDeploymentLoops(p.Enabled.Value == nil || *p.Enabled.Value, a.Trigger, a.Actions); err != nil {
			return err
		}
		if p.Enabled.Value != nil {
			a.Enabled = *p.Enabled.Value
		}
		a.Updated = s.clock()
		_, err = c.exec(ctx, `UPDATE automation SET enabled = ?, updated = ? WHERE id = ?`, a.Enabled, a.Updated, id)
		return err
	})
	return a, err
}

// DeleteAutomation deletes one automation; its related resources go with it.
func (s *Store) DeleteAutomation(ctx context.Context, id uuid.UUID) (schema.Automation, error) {
	var a schema.Automation
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		var err error
		if a, err = s.lockedAutomation(ctx, c, id); err != nil {
			return err
		}
		return mustDelete(c.exec(ctx, `DELETE FROM automation WHERE id = ?`, id))
	})
	return a, err
}

// lockedAutomation reads an automation for a write transaction, locking it.
func (s *Store) lockedAutomation(ctx context.Context, c conn, id uuid.UUID) (schema.Automation, error) {
	return scanAutomation(c.queryRow(ctx, `SELECT `+automationColumns+` FROM automation WHERE id = ?`+s.d.ForUpdate("automation"), id))
}

var automationSorts = map[string]string{
	"":             "automation.name ASC",
	"NAME_ASC":     "automation.name ASC",
	"NAME_DESC":    "automation.name DESC",
	"CREATED_DESC": "automation.created DESC",
	"UPDATED_DESC": "automation.updated DESC",
}

func (s *Store) automationWhere(f *schema.AutomationFilter) *where {
	w := newWhere(s.d)
	if f == nil {
		return w
	}
	w.nested(f.Operator, func(in *where) {
		if f.ID != nil && f.ID.Any != nil {
			in.inIDs("automation.id", f.ID.Any, false)
		}
		if f.Name != nil && f.Name.Any != nil {
			in.in("automation.name", f.Name.Any, false)
		}
		if f.Created != nil {
			in.times("automation.created", &schema.TimeFilter{Before: f.Created.Before})
		}
		in.tags("automation.tags", f.Tags)
	})
	return w
}

// FilterAutomations returns the automations matching q.
func (s *Store) FilterAutomations(ctx context.Context, q schema.AutomationQuery) ([]schema.Automation, error) {
	order, err := sortClause(automationSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := s.automationWhere(q.Automations)
	var out []schema.Automation
	err = s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = queryAll(ctx, c, scanAutomation, `SELECT `+automationColumns+` FROM automation WHERE `+w.sql()+
			` ORDER BY `+order+`, automation.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// CountAutomations counts the automations matching q's filter.
func (s *Store) CountAutomations(ctx context.Context, q schema.AutomationQuery) (int, error) {
	w := s.automationWhere(q.Automations)
	return s.count(ctx, `SELECT count(*) FROM automation WHERE `+w.sql(), w.args)
}

// ReadAutomationsRelatedTo returns the automations related to the resource.
func (s *Store) ReadAutomationsRelatedTo(ctx context.Context, resourceID string) ([]schema.Automation, error) {
	var out []schema.Automation
	if !storableText(resourceID) {
		return []schema.Automation{}, nil
	}
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = queryAll(ctx, c, scanAutomation, `SELECT `+automationColumns+` FROM automation
			JOIN automation_related_resource r ON r.automation_id = automation.id
			WHERE r.resource_id = ? ORDER BY automation.name, automation.id`, resourceID)
		return err
	})
	return nonNil(out), err
}

// DeleteAutomationsOwnedBy deletes what the resource owns, created at or
// before createdBefore.
func (s *Store) DeleteAutomationsOwnedBy(ctx context.Context, resourceID string, createdBefore time.Time) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	if !storableText(resourceID) {
		return []uuid.UUID{}, nil
	}
	err := s.tx(ctx, func(ctx context.Context, c conn) (err error) {
		ids, err = deleteOwnedAutomations(ctx, c, resourceID, &createdBefore)
		return err
	})
	return nonNil(ids), err
}

// deleteOwnedAutomations deletes the automations the resource owns (those
// created at or before createdBefore, when it is set) and returns their ids.
func deleteOwnedAutomations(ctx context.Context, c conn, resourceID string, createdBefore *time.Time) ([]uuid.UUID, error) {
	q, args := `SELECT automation.id FROM automation JOIN automation_related_resource r ON r.automation_id = automation.id
		WHERE r.resource_id = ? AND r.automation_owned_by_resource`, []any{resourceID}
	if createdBefore != nil {
		q, args = q+` AND automation.created <= ?`, append(args, *createdBefore)
	}
	ids, err := idsOf(ctx, c, q, args...)
	if err != nil || len(ids) == 0 {
		return ids, err
	}
	in := newWhere(c.d)
	in.inIDs("id", ids, false)
	_, err = c.exec(ctx, `DELETE FROM automation WHERE `+in.sql(), in.args...)
	return ids, err
}

// storableText says whether a resource id could have been stored: text
// PostgreSQL refuses (a NUL, bytes that are not UTF-8) names no resource.
func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// relateDeployments relates the automation to the deployments its actions
// run, as Prefect syncs them: the deployments it related before, unless it
// is owned by them, are dropped first.
func (s *Store) relateDeployments(ctx context.Context, c conn, a schema.Automation) error {
	const prefix = "prefect.deployment."
	_, err := c.exec(ctx, `DELETE FROM automation_related_resource WHERE automation_id = ?
		AND substr(resource_id, 1, length(?)) = ? AND NOT automation_owned_by_resource`, a.ID, prefix, prefix)
	if err != nil {
		return err
	}
	for _, id := range schema.DeploymentsRun(a.Actions) {
		if err := s.relateAutomation(ctx, c, a.ID, schema.DeploymentResource(id), false); err != nil {
			return err
		}
	}
	return nil
}

// relateAutomation records that the automation relates to the resource,
// and is owned by it when owned; a relation already there stays owned if it
// was, as Prefect's upsert ORs the two.
func (s *Store) relateAutomation(ctx context.Context, c conn, automationID uuid.UUID, resourceID string, owned bool) error {
	now := s.clock()
	_, err := c.exec(ctx, `INSERT INTO automation_related_resource (id, created, updated, automation_id, resource_id,
			automation_owned_by_resource) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (automation_id, resource_id) DO UPDATE SET updated = excluded.updated,
			automation_owned_by_resource = automation_related_resource.automation_owned_by_resource OR excluded.automation_owned_by_resource`,
		uuid.Must(uuid.NewV7()), now, now, automationID, resourceID, owned)
	return err
}
