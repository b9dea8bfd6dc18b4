package sqlstore

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// DeploymentColumns reads a deployment from DeploymentFrom, with the name of
// its queue and pool joined in (scanDeployment reads them).
const deploymentColumns = `deployment.id, deployment.created, deployment.updated, deployment.name, deployment.version,
	deployment.version_info, deployment.description, deployment.flow_id, deployment.paused, deployment.status,
	deployment.last_polled, COALESCE(dwq.name, deployment.work_queue_name), deployment.work_queue_id,
	deployment.job_variables, deployment.path, deployment.entrypoint, deployment.pull_steps, deployment.parameters,
	deployment.parameter_openapi_schema, deployment.enforce_parameter_schema, deployment.tags, deployment.labels,
	deployment.concurrency_limit, deployment.concurrency_limit_id, deployment.concurrency_options,
	deployment.created_by, deployment.updated_by, deployment.storage_document_id, deployment.infrastructure_document_id,
	dwp.name, dwp.id`

const deploymentFrom = ` FROM deployment LEFT JOIN work_queue dwq ON dwq.id = deployment.work_queue_id
	LEFT JOIN work_pool dwp ON dwp.id = dwq.work_pool_id`

// awaitingConcurrencySlot is the name of the Scheduled state of a run
// waiting for its deployment's concurrency slot; such runs are never
// deleted as stale scheduled runs.
const awaitingConcurrencySlot = "AwaitingConcurrencySlot"

func scanDeployment(row scanner) (schema.Deployment, error) {
	var d schema.Deployment
	err := row.Scan(&d.ID, ts(&d.Created), ts(&d.Updated), &d.Name, nullString{&d.Version},
		jsonCol{&d.VersionInfo}, nullString{&d.Description}, &d.FlowID, &d.Paused, &d.Status,
		nullTime{&d.LastPolled}, nullString{&d.WorkQueueName}, nullUUID{&d.WorkQueueID},
		jsonCol{&d.JobVariables}, nullString{&d.Path}, nullString{&d.Entrypoint}, jsonCol{&d.PullSteps}, jsonCol{&d.Parameters},
		jsonCol{&d.ParameterOpenAPISchema}, &d.EnforceParameterSchema, jsonInto{&d.Tags}, jsonCol{&d.Labels},
		nullInt{&d.ConcurrencyLimit}, nullUUID{&d.ConcurrencyLimitID}, jsonInto{&d.ConcurrencyOptions},
		jsonInto{&d.CreatedBy}, jsonInto{&d.UpdatedBy}, nullUUID{&d.StorageDocumentID}, nullUUID{&d.InfrastructureDocumentID},
		nullString{&d.WorkPoolName}, nullUUID{&d.WorkPoolID})
	if err != nil {
		return d, classify(err)
	}
	d.Tags = nonNil(d.Tags)
	d.Schedules = []schema.DeploymentSchedule{}
	if len(d.JobVariables) == 0 {
		d.JobVariables = json.RawMessage(`{}`)
	}
	if len(d.Parameters) == 0 {
		d.Parameters = json.RawMessage(`{}`)
	}
	if len(d.Labels) == 0 {
		d.Labels = json.RawMessage(`{}`)
	}
	return d, nil
}

// deploymentsIn runs a deployment SELECT and loads the schedules of what it found.
func (s *Store) deploymentsIn(ctx context.Context, c conn, query string, args ...any) ([]schema.Deployment, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []schema.Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, d)
	}
	rows.Close()
	if err := classify(rows.Err()); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return []schema.Deployment{}, nil
	}
	ids := make([]any, len(out))
	byID := make(map[uuid.UUID]int, len(out))
	for i, d := range out {
		ids[i] = d.ID
		byID[d.ID] = i
	}
	srows, err := c.query(ctx, `SELECT `+scheduleColumns+` FROM deployment_schedule WHERE deployment_id IN (`+
		placeholders(len(ids))+`) ORDER BY deployment_schedule.updated DESC, deployment_schedule.id`, ids...)
	if err != nil {
		return nil, err
	}
	defer srows.Close()
	for srows.Next() {
		sc, err := scanSchedule(srows)
		if err != nil {
			return nil, err
		}
		if i, ok := byID[*sc.DeploymentID]; ok {
			out[i].Schedules = append(out[i].Schedules, sc)
		}
	}
	return out, classify(srows.Err())
}

func (s *Store) deploymentIn(ctx context.Context, c conn, cond string, args ...any) (schema.Deployment, error) {
	ds, err := s.deploymentsIn(ctx, c, `SELECT `+deploymentColumns+deploymentFrom+` WHERE `+cond, args...)
	if err != nil {
		return schema.Deployment{}, err
	}
	if len(ds) == 0 {
		return schema.Deployment{}, schema.ErrNotFound
	}
	return ds[0], nil
}

// ReadDeployment returns one deployment with its schedules.
func (s *Store) ReadDeployment(ctx context.Context, id uuid.UUID) (schema.Deployment, error) {
	var d schema.Deployment
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		d, err = s.deploymentIn(ctx, c, `deployment.id = ?`, id)
		return err
	})
	return d, err
}

// ReadDeploymentByName returns the deployment of the named flow.
func (s *Store) ReadDeploymentByName(ctx context.Context, flowName, name string) (schema.Deployment, error) {
	var d schema.Deployment
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		d, err = s.deploymentIn(ctx, c, `deployment.name = ? AND deployment.flow_id IN (SELECT flow.id FROM flow WHERE flow.name = ?)`, name, flowName)
		return err
	})
	return d, err
}

// resolveQueue turns a deployment's pool and queue names into its queue:
// the named queue of the pool (created if missing), the pool's default
// queue, or, with a queue name alone, that queue of the default agent pool
// (Prefect's ensure_work_queue_exists). ok is false when neither is named.
func (s *Store) resolveQueue(ctx context.Context, c conn, pool, queue *string) (q schema.WorkQueue, ok bool, err error) {
	hasPool := pool != nil && *pool != ""
	hasQueue := queue != nil && *queue != ""
	switch {
	case hasPool:
		p, err := s.poolByName(ctx, c, *pool)
		if err != nil {
			return q, false, err
		}
		if hasQueue {
			q, err = s.ensureQueue(ctx, c, p, *queue)
			return q, err == nil, err
		}
		if p.DefaultQueueID == nil {
			return q, false, nil
		}
		q, err = s.workQueueIn(ctx, c, `work_queue.id = ?`, *p.DefaultQueueID)
		return q, err == nil, err
	case hasQueue:
		p, err := s.poolByName(ctx, c, schema.DefaultAgentPoolName)
		if errors.Is(err, schema.ErrNotFound) {
			p, err = s.insertWorkPool(ctx, c, schema.WorkPoolCreate{Name: schema.DefaultAgentPoolName, Type: schema.AgentPoolType,
				StorageConfiguration: &schema.WorkPoolStorageConfiguration{}})
		}
		if err != nil {
			return q, false, err
		}
		q, err = s.ensureQueue(ctx, c, p, *queue)
		return q, err == nil, err
	}
	return q, false, nil
}

// UpsertDeployment creates a deployment or updates the fields d sets.
func (s *Store) UpsertDeployment(ctx context.Context, d schema.DeploymentCreate) (schema.Deployment, bool, error) {
	var out schema.Deployment
	created := false
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		now := s.clock()
		var poolName, queueName *string
		if d.Has("work_pool_name") {
			poolName = d.WorkPoolName
		}
		if d.Has("work_queue_name") {
			queueName = d.WorkQueueName
		}
		q, resolved, err := s.resolveQueue(ctx, c, poolName, queueName)
		if err != nil {
			return err
		}
		var queueID *uuid.UUID
		workQueueName := d.WorkQueueName
		if resolved {
			queueID, workQueueName = &q.ID, &q.Name
		}
		var options any
		if d.ConcurrencyOptions != nil {
			options = mustJSON(d.ConcurrencyOptions)
		}
		id := uuid.Must(uuid.NewV7())
		res, err := c.exec(ctx, `INSERT INTO deployment (id, created, updated, name, version, version_info, description,
			flow_id, paused, status, work_queue_name, work_queue_id, job_variables, path, entrypoint, pull_steps, parameters,
			parameter_openapi_schema, enforce_parameter_schema, tags, labels, concurrency_limit, concurrency_options,
			created_by, updated_by, storage_document_id, infrastructure_document_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (flow_id, name) DO NOTHING`,
			id, now, now, d.Name, d.Version, d.VersionInfo, d.Description,
			d.FlowID, d.Paused, schema.DeploymentNotReady, workQueueName, queueID, d.JobVariables, d.Path, d.Entrypoint, d.PullSteps, d.Parameters,
			d.ParameterOpenAPISchema, d.EnforceParameterSchema, mustJSON(nonNil(d.Tags)), d.Labels, d.ConcurrencyLimit, options,
			createdByJSON(d.CreatedBy), createdByJSON(d.CreatedBy), d.StorageDocumentID, d.InfrastructureDocumentID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			created = true
		} else {
			if err := c.queryRow(ctx, `SELECT id FROM deployment WHERE flow_id = ? AND name = ?`+s.d.ForUpdate("deployment"),
				d.FlowID, d.Name).Scan(&id); err != nil {
				return classify(err)
			}
			var up update
			setIf := func(key, col string, v any) {
				if d.Has(key) {
					up.set(col, v)
				}
			}
			setIf("version", "version", d.Version)
			setIf("version_info", "version_info", d.VersionInfo)
			setIf("description", "description", d.Description)
			setIf("paused", "paused", d.Paused)
			setIf("path", "path", d.Path)
			setIf("entrypoint", "entrypoint", d.Entrypoint)
			setIf("pull_steps", "pull_steps", d.PullSteps)
			setIf("parameters", "parameters", d.Parameters)
			setIf("parameter_openapi_schema", "parameter_openapi_schema", d.ParameterOpenAPISchema)
			setIf("enforce_parameter_schema", "enforce_parameter_schema", d.EnforceParameterSchema)
			setIf("tags", "tags", mustJSON(nonNil(d.Tags)))
			setIf("labels", "labels", d.Labels)
			setIf("concurrency_limit", "concurrency_limit", d.ConcurrencyLimit)
			setIf("concurrency_options", "concurrency_options", options)
			setIf("storage_document_id", "storage_document_id", d.StorageDocumentID)
			setIf("infrastructure_document_id", "infrastructure_document_id", d.InfrastructureDocumentID)
			// Prefect keeps the job variables when the upsert sends none.
			if d.Has("job_variables") && !isEmptyObject(d.JobVariables) {
				up.set("job_variables", d.JobVariables)
			}
			if resolved {
				up.set("work_queue_id", queueID)
				up.set("work_queue_name", workQueueName)
			} else {
				setIf("work_queue_name", "work_queue_name", d.WorkQueueName)
			}
			if d.CreatedBy != nil {
				up.set("updated_by", createdByJSON(d.CreatedBy))
			}
			up.set("updated", now)
			if _, err := up.exec(ctx, c, "deployment", "id = ?", id); err != nil {
				return err
			}
			if err := s.deleteScheduledRuns(ctx, c, id, runSelection{autoOnly: true, futureOnly: true}); err != nil {
				return err
			}
			if _, err := c.exec(ctx, `DELETE FROM deployment_schedule WHERE deployment_id = ?`, id); err != nil {
				return err
			}
		}
		if _, err := s.insertSchedules(ctx, c, id, d.Schedules); err != nil {
			return err
		}
		if err := s.syncDeploymentLimit(ctx, c, id); err != nil {
			return err
		}
		out, err = s.deploymentIn(ctx, c, `deployment.id = ?`, id)
		return err
	})
	return out, created, err
}

var deploymentSorts = map[string]string{
	"":             "deployment.name ASC",
	"NAME_ASC":     "deployment.name ASC",
	"NAME_DESC":    "deployment.name DESC",
	"CREATED_DESC": "deployment.created DESC",
	"UPDATED_DESC": "deployment.updated DESC",
}

// deploymentFilter adds the criteria of f on the deployment table.
func (s *Store) deploymentFilter(w *where, f *schema.DeploymentFilter) {
	if f == nil {
		return
	}
	w.nested(f.Operator, func(in *where) {
		in.ids("deployment.id", f.ID)
		in.text("deployment.name", f.Name)
		if f.FlowOrDeploymentName != nil && f.FlowOrDeploymentName.Like != nil && *f.FlowOrDeploymentName.Like != "" {
			v := *f.FlowOrDeploymentName.Like
			byDeployment, a := in.like("deployment.name", v)
			byFlow, b := in.like("flow.name", v)
			in.add("("+byDeployment+" OR deployment.flow_id IN (SELECT flow.id FROM flow WHERE "+byFlow+"))", a, b)
		}
		if f.Paused != nil && f.Paused.Eq != nil {
			in.add("deployment.paused = ?", *f.Paused.Eq)
		}
		in.tags("deployment.tags", f.Tags)
		in.text("deployment.work_queue_name", f.WorkQueueName)
	})
}

// workQueuesMatching renders the ids of the queues matching the queue and
// pool filters, nil when neither is given.
func (s *Store) workQueuesMatching(queues *schema.WorkQueueFilter, pools *schema.WorkPoolFilter) *where {
	if queues == nil && pools == nil {
		return nil
	}
	w := newWhere(s.d)
	if queues != nil {
		w.nested(queues.Operator, func(in *where) {
			in.ids("work_queue.id", queues.ID)
			in.text("work_queue.name", queues.Name)
		})
	}
	s.workPoolWhere(w, pools)
	return w
}

const queuesOfPools = `SELECT work_queue.id FROM work_queue JOIN work_pool ON work_pool.id = work_queue.work_pool_id WHERE `

func (s *Store) deploymentWhere(q schema.DeploymentQuery) *where {
	w := newWhere(s.d)
	s.deploymentFilter(w, q.Deployments)
	if q.Flows != nil {
		fw := newWhere(s.d)
		s.flowFilter(fw, "flow", q.Flows)
		w.sub("deployment.flow_id IN (SELECT flow.id FROM flow WHERE "+fw.sql()+")", fw)
	}
	if q.FlowRuns != nil || q.TaskRuns != nil {
		rw := newWhere(s.d)
		s.flowRunFilter(rw, "flow_run", q.FlowRuns)
		s.taskRunsOfFlowRun(rw, q.TaskRuns)
		w.sub("EXISTS (SELECT 1 FROM flow_run WHERE flow_run.deployment_id = deployment.id AND "+rw.sql()+")", rw)
	}
	if qw := s.workQueuesMatching(q.WorkPoolQueues, q.WorkPools); qw != nil {
		w.sub("deployment.work_queue_id IN ("+queuesOfPools+qw.sql()+")", qw)
	}
	return w
}

// FilterDeployments returns the deployments matching q.
func (s *Store) FilterDeployments(ctx context.Context, q schema.DeploymentQuery) ([]schema.Deployment, error) {
	order, err := sortClause(deploymentSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := s.deploymentWhere(q)
	var out []schema.Deployment
	err = s.read(ctx, func(ctx context.Context, c conn) (err error) {
		out, err = s.deploymentsIn(ctx, c, `SELECT `+deploymentColumns+deploymentFrom+` WHERE `+w.sql()+
			` ORDER BY `+order+`, deployment.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// CountDeployments counts the deployments matching q.
func (s *Store) CountDeployments(ctx context.Context, q schema.DeploymentQuery) (int, error) {
	w := s.deploymentWhere(q)
	return s.count(ctx, `SELECT count(*) FROM deployment WHERE `+w.sql(), w.args)
}

// flowRunRelatedFilters restricts flow runs (aliased flow_run) by their
// deployment, work pool and queue.
func (s *Store) flowRunRelatedFilters(w *where, q schema.Query) {
	if q.Deployments != nil {
		dw := newWhere(s.d)
		s.deploymentFilter(dw, q.Deployments)
		w.sub("flow_run.deployment_id IN (SELECT deployment.id FROM deployment WHERE "+dw.sql()+")", dw)
	}
	if qw := s.workQueuesMatching(q.WorkPoolQueues, q.WorkPools); qw != nil {
		w.sub("flow_run.work_queue_id IN ("+queuesOfPools+qw.sql()+")", qw)
	}
}

// UpdateDeployment applies the fields u sets.
func (s *Store) UpdateDeployment(ctx context.Context, id uuid.UUID, u schema.DeploymentUpdate) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		cur, err := s.deploymentIn(ctx, c, `deployment.id = ?`+s.d.ForUpdate("deployment"), id)
		if err != nil {
			return err
		}
		now := s.clock()
		var up update
		setIf := func(key, col string, v any) {
			if u.Has(key) {
				up.set(col, v)
			}
		}
		setIf("version", "version", u.Version)
		setIf("version_info", "version_info", nullJSON(u.VersionInfo))
		setIf("description", "description", u.Description)
		setIf("paused", "paused", u.Paused)
		setIf("path", "path", u.Path)
		setIf("entrypoint", "entrypoint", u.Entrypoint)
		setIf("pull_steps", "pull_steps", nullJSON(u.PullSteps))
		if u.Has("parameters") && u.Parameters != nil && string(u.Parameters) != "null" {
			up.set("parameters", u.Parameters)
		}
		if u.Has("parameter_openapi_schema") {
			up.set("parameter_openapi_schema", nullJSON(u.ParameterOpenAPISchema))
		}
		if u.Has("enforce_parameter_schema") && u.EnforceParameterSchema != nil {
			up.set("enforce_parameter_schema", *u.EnforceParameterSchema)
		}
		setIf("tags", "tags", mustJSON(nonNil(u.Tags)))
		if u.Has("labels") && !isEmptyObject(u.Labels) {
			up.set("labels", u.Labels)
		}
		setIf("concurrency_limit", "concurrency_limit", u.ConcurrencyLimit)
		if u.Has("concurrency_options") {
			var options any
			if u.ConcurrencyOptions != nil {
				options = mustJSON(u.ConcurrencyOptions)
			}
			up.set("concurrency_options", options)
		}
		setIf("storage_document_id", "storage_document_id", u.StorageDocumentID)
		setIf("infrastructure_document_id", "infrastructure_document_id", u.InfrastructureDocumentID)
		// An empty object clears them, as in Prefect; null leaves them.
		if u.Has("job_variables") && len(u.JobVariables) > 0 && string(u.JobVariables) != "null" {
			up.set("job_variables", u.JobVariables)
		}
		setIf("work_queue_name", "work_queue_name", u.WorkQueueName)
		switch {
		case u.WorkPoolName != nil && *u.WorkPoolName != "":
			var queue *string
			if u.Has("work_queue_name") {
				queue = u.WorkQueueName
			}
			q, ok, err := s.resolveQueue(ctx, c, u.WorkPoolName, queue)
			if err != nil {
				return err
			}
			if ok {
				up.set("work_queue_id", q.ID)
				if !u.Has("work_queue_name") {
					up.set("work_queue_name", q.Name)
				}
			}
		case u.Has("work_pool_name"):
			// An explicit null pool takes the deployment off pools (serve).
			up.set("work_queue_id", nil)
		case u.WorkQueueName != nil && *u.WorkQueueName != "":
			q, ok, err := s.resolveQueue(ctx, c, nil, u.WorkQueueName)
			if err != nil {
				return err
			}
			if ok {
				up.set("work_queue_id", q.ID)
			}
		}
		up.set("updated", now)
		if _, err := up.exec(ctx, c, "deployment", "id = ?", id); err != nil {
			return err
		}
		if u.Has("concurrency_limit") {
			if err := s.syncDeploymentLimit(ctx, c, id); err != nil {
				return err
			}
		}
		if err := s.deleteScheduledRuns(ctx, c, id, runSelection{autoOnly: true, futureOnly: true}); err != nil {
			return err
		}
		if !u.Has("schedules") || u.Schedules == nil {
			return nil
		}
		return s.applyScheduleUpdates(ctx, c, cur, u.Schedules)
	})
}

// DeleteDeployment deletes a deployment and its SCHEDULED runs.
func (s *Store) DeleteDeployment(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := s.deleteScheduledRuns(ctx, c, id, runSelection{}); err != nil {
			return err
		}
		if err := deleteDeploymentLimit(ctx, c, id); err != nil {
			return err
		}
		// The automations a deployment owns (its triggers) go with it. Prefect
		// 3.9.1 leaves them behind, owned by a deployment that is no more,
		// until the next deploy of that id replaces them (never, ids being new).
		if _, err := deleteOwnedAutomations(ctx, c, schema.DeploymentResource(id), nil); err != nil {
			return err
		}
		return mustDelete(c.exec(ctx, `DELETE FROM deployment WHERE id = ?`, id))
	})
}

// SetDeploymentPaused pauses or resumes a deployment.
func (s *Store) SetDeploymentPaused(ctx context.Context, id uuid.UUID, paused bool) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		if err := mustDelete(c.exec(ctx, `UPDATE deployment SET paused = ?, updated = ? WHERE id = ?`, paused, s.clock(), id)); err != nil {
			return err
		}
		if !paused {
			return nil
		}
		return s.deleteScheduledRuns(ctx, c, id, runSelection{autoOnly: true})
	})
}

// MarkDeploymentsReady records a poll of the deployments.
func (s *Store) MarkDeploymentsReady(ctx context.Context, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, `UPDATE deployment SET status = ?, last_polled = ? WHERE id IN (`+placeholders(len(ids))+`)`,
			append([]any{schema.DeploymentReady, s.clock()}, anyArgs(ids)...)...)
		return err
	})
}
