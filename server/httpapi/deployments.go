package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schedules"
	"prefectgo.dev/prefectgo/server/schema"
)

func isNotFound(err error) bool { return errors.Is(err, schema.ErrNotFound) }

func isConflict(err error) bool {
	var c *schema.ConflictError
	return errors.As(err, &c)
}

// deploymentNotFound is Prefect's 404 for the deployment routes; some
// routes end it with a period.
func deploymentNotFound(err error, period bool) error {
	var named *schema.NotFoundError
	if !isNotFound(err) || errors.As(err, &named) {
		return err
	}
	if period {
		return detail(http.StatusNotFound, "Deployment not found.")
	}
	return detail(http.StatusNotFound, "Deployment not found")
}

// checkMaxScheduledRuns applies PREFECT_SERVER_DEPLOYMENT_SCHEDULE_MAX_SCHEDULED_RUNS
// to the schedules' max_scheduled_runs; loc says where schedule i sits in the body.
func (a *API) checkMaxScheduledRuns(loc func(i int) []string, runs ...*int) error {
	limit := a.settings.Deployments.MaxScheduledRuns
	for i, n := range runs {
		if n != nil && *n > limit {
			return invalid(append(append([]string{"body"}, loc(i)...), "max_scheduled_runs"),
				"Value error, `max_scheduled_runs` must be less than or equal to "+strconv.Itoa(limit)+".", "value_error", nil)
		}
	}
	return nil
}

// checkSchedules has the schedules package check what the schema could
// only shape-check: cron and rrule syntax, zones. The schedules are the
// bodies' (already normalized); loc says where schedule i sits.
func checkSchedules(loc func(i int) []string, scheds ...*schema.Schedule) error {
	for i, sc := range scheds {
		if sc == nil {
			continue
		}
		if err := schedules.Check(*sc, strings.Join(append(loc(i), "schedule"), ".")); err != nil {
			return err
		}
	}
	return nil
}

// Where schedules sit in the bodies that carry them.
func inSchedules(i int) []string { return []string{"schedules", strconv.Itoa(i)} }
func inList(i int) []string      { return []string{strconv.Itoa(i)} }
func atTop(int) []string         { return nil }

// checkBlockDocuments answers 409, as Prefect does, when a deployment names
// storage or infrastructure blocks that do not exist.
func (a *API) checkBlockDocuments(r *http.Request, storage, infra *uuid.UUID) error {
	for _, b := range []struct {
		id   *uuid.UUID
		what string
	}{{infra, "infrastructure block"}, {storage, "storage block"}} {
		if b.id == nil {
			continue
		}
		if _, err := a.store.ReadBlockDocument(r.Context(), *b.id, false); err != nil {
			if !isNotFound(err) {
				return err
			}
			return detail(http.StatusConflict, "Error creating deployment. Could not find "+b.what+" with id: "+b.id.String()+
				". This usually occurs when applying a deployment specification that was built against a different Prefect database / workspace.")
		}
	}
	return nil
}

// createDeployment upserts by (flow, name): 201 for a new deployment, 200
// for an update.
func (a *API) createDeployment(r *http.Request, req *schema.DeploymentCreate) (response, error) {
	runs := make([]*int, len(req.Schedules))
	scheds := make([]*schema.Schedule, len(req.Schedules))
	for i := range req.Schedules {
		runs[i], scheds[i] = req.Schedules[i].MaxScheduledRuns, &req.Schedules[i].Schedule
	}
	if err := checkSchedules(inSchedules, scheds...); err != nil {
		return response{}, err
	}
	if err := a.checkMaxScheduledRuns(inSchedules, runs...); err != nil {
		return response{}, err
	}
	if err := a.checkBlockDocuments(r, req.StorageDocumentID, req.InfrastructureDocumentID); err != nil {
		return response{}, err
	}
	// Prefect's system labels: the flow's labels, then the flow's id, then
	// the labels sent.
	var flowLabels json.RawMessage
	if f, err := a.store.ReadFlow(r.Context(), req.FlowID); err == nil {
		flowLabels = f.Labels
	}
	req.Labels = schema.MergeObjects(flowLabels, schema.LabelsOf("prefect.flow.id", req.FlowID.String()), req.Labels)
	req.Set("labels")
	d, isNew, err := a.store.UpsertDeployment(r.Context(), *req)
	if err != nil {
		return response{}, err
	}
	return createdOr(isNew, d), nil
}

func (a *API) readDeployment(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	d, err := a.store.ReadDeployment(r.Context(), id)
	return ok(d), deploymentNotFound(err, false)
}

func (a *API) readDeploymentByName(r *http.Request, _ *none) (response, error) {
	d, err := a.store.ReadDeploymentByName(r.Context(), r.PathValue("flow_name"), r.PathValue("deployment_name"))
	return ok(d), deploymentNotFound(err, false)
}

func (a *API) filterDeployments(r *http.Request, q *schema.DeploymentQuery) (response, error) {
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	ds, err := a.store.FilterDeployments(r.Context(), *q)
	return ok(ds), err
}

func (a *API) countDeployments(r *http.Request, q *schema.DeploymentQuery) (response, error) {
	n, err := a.store.CountDeployments(r.Context(), *q)
	return ok(n), err
}

func (a *API) paginateDeployments(r *http.Request, q *schema.DeploymentQuery) (response, error) {
	return paginate(a, &q.Page, q.PageNumber,
		func() ([]schema.Deployment, error) { return a.store.FilterDeployments(r.Context(), *q) },
		func() (int, error) { return a.store.CountDeployments(r.Context(), *q) })
}

// updateDeployment applies a PATCH, after Prefect's checks of schedule slugs
// and of the parameters against the schema when it is enforced.
func (a *API) updateDeployment(r *http.Request, u *schema.DeploymentUpdate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	ctx := r.Context()
	cur, err := a.store.ReadDeployment(ctx, id)
	if err != nil {
		return response{}, deploymentNotFound(err, true)
	}
	if u.Has("schedules") {
		if err := checkScheduleSlugs(cur, u.Schedules); err != nil {
			return response{}, err
		}
		runs := make([]*int, len(u.Schedules))
		scheds := make([]*schema.Schedule, len(u.Schedules))
		for i := range u.Schedules {
			runs[i], scheds[i] = u.Schedules[i].MaxScheduledRuns, u.Schedules[i].Schedule
		}
		if err := checkSchedules(inSchedules, scheds...); err != nil {
			return response{}, err
		}
		if err := a.checkMaxScheduledRuns(inSchedules, runs...); err != nil {
			return response{}, err
		}
	}
	params := cur.Parameters
	if u.Has("parameters") && u.Parameters != nil && string(u.Parameters) != "null" {
		hydrated, err := a.hydrateParameters(ctx, u.Parameters)
		if err != nil {
			return response{}, hydrationFailed(err, "deployment")
		}
		u.Parameters, params = hydrated, hydrated
	}
	enforce := cur.EnforceParameterSchema
	if u.EnforceParameterSchema != nil {
		enforce = *u.EnforceParameterSchema
	}
	if enforce {
		paramSchema := cur.ParameterOpenAPISchema
		if !isEmptyJSON(u.ParameterOpenAPISchema) {
			paramSchema = u.ParameterOpenAPISchema
		}
		if !schema.IsJSONObject(paramSchema) || isNullJSON(paramSchema) {
			return response{}, detail(http.StatusConflict, "Error updating deployment: Cannot update parameters because parameter schema "+
				"enforcement is enabled and the deployment does not have a valid parameter schema.")
		}
		if err := schema.ValidateParameters(params, paramSchema, true, true); err != nil {
			return response{}, detail(http.StatusConflict, "Error updating deployment: "+err.Error())
		}
	}
	if err := a.checkBlockDocuments(r, u.StorageDocumentID, u.InfrastructureDocumentID); err != nil {
		return response{}, err
	}
	return noContent(), deploymentNotFound(a.store.UpdateDeployment(ctx, id, *u), true)
}

// checkScheduleSlugs refuses the schedule PATCHes Prefect refuses: when the
// deployment's schedules all have slugs, so must the sent ones, renames
// must not collide, and a schedule matching none must say what it is.
func checkScheduleSlugs(cur schema.Deployment, sent []schema.DeploymentScheduleUpdate) error {
	existingSlugged := len(cur.Schedules) > 0
	current := map[string]bool{}
	for _, sc := range cur.Schedules {
		if sc.Slug == nil {
			existingSlugged = false
		} else {
			current[*sc.Slug] = true
		}
	}
	if !existingSlugged {
		return nil
	}
	if !schema.SchedulesBySlug(cur.Schedules, sent) {
		return detail(http.StatusUnprocessableEntity, "Please provide a slug for each schedule in your request to ensure schedules are updated correctly.")
	}
	replaced := map[string]bool{}
	for _, sc := range sent {
		if sc.Replaces != nil && *sc.Replaces != "" {
			if replaced[*sc.Replaces] {
				return detail(http.StatusUnprocessableEntity, "Multiple schedules have 'replaces' targeting the same slug: "+*sc.Replaces)
			}
			replaced[*sc.Replaces] = true
		}
	}
	for _, sc := range sent {
		if sc.Replaces != nil && *sc.Replaces != "" && current[*sc.Slug] && !replaced[*sc.Slug] {
			return detail(http.StatusUnprocessableEntity, "Cannot rename schedule from '"+*sc.Replaces+"' to '"+*sc.Slug+
				"': a schedule with slug '"+*sc.Slug+"' already exists.")
		}
	}
	for _, sc := range sent {
		target := *sc.Slug
		if sc.Replaces != nil && *sc.Replaces != "" {
			target = *sc.Replaces
		}
		if !current[target] && sc.Schedule == nil {
			return detail(http.StatusUnprocessableEntity, "Unable to create new deployment schedules without a schedule configuration.")
		}
	}
	return nil
}

func isNullJSON(raw json.RawMessage) bool { return string(raw) == "null" }

func isEmptyJSON(raw json.RawMessage) bool {
	s := string(raw)
	return s == "" || s == "null" || s == "{}"
}

func (a *API) deleteDeployment(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	return noContent(), deploymentNotFound(a.store.DeleteDeployment(r.Context(), id), false)
}

func (a *API) pauseDeployment(r *http.Request, _ *none) (response, error) {
	return a.setDeploymentPaused(r, true)
}

func (a *API) resumeDeployment(r *http.Request, _ *none) (response, error) {
	return a.setDeploymentPaused(r, false)
}

// setDeploymentPaused answers 200 with null, as Prefect's routes without a
// response model do.
func (a *API) setDeploymentPaused(r *http.Request, paused bool) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	if err := a.store.SetDeploymentPaused(r.Context(), id, paused); err != nil {
		return response{}, deploymentNotFound(err, false)
	}
	return ok(jsonNull), nil
}

// getScheduledFlowRunsForDeployments answers a runner's poll: the
// deployments' SCHEDULED runs due before scheduled_before, soonest first.
// The deployments become READY.
func (a *API) getScheduledFlowRunsForDeployments(r *http.Request, req *schema.DeploymentScheduledRunsRequest) (response, error) {
	q := schema.Query{
		Deployments: &schema.DeploymentFilter{ID: &schema.IDFilter{Any: req.DeploymentIDs}},
		FlowRuns: &schema.FlowRunFilter{
			NextScheduledStartTime: &schema.TimeFilter{Before: req.ScheduledBefore},
			State:                  &schema.StateFilter{Type: &schema.StateTypeFilter{Any: []schema.StateType{schema.StateScheduled}}},
		},
		Sort: "NEXT_SCHEDULED_START_TIME_ASC",
		Page: schema.Page{Limit: req.Limit},
	}
	if err := a.checkPage(&q.Page); err != nil {
		return response{}, err
	}
	runs, err := a.store.FilterFlowRuns(r.Context(), q)
	if err != nil {
		return response{}, err
	}
	if err := a.store.MarkDeploymentsReady(r.Context(), req.DeploymentIDs); err != nil {
		a.log.Warn("recording a deployment poll", "error", err)
	}
	return ok(runs), nil
}

// --- Schedules ---

func (a *API) readDeploymentSchedules(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	scheds, err := a.store.ReadDeploymentSchedules(r.Context(), id)
	return ok(scheds), deploymentNotFound(err, true)
}

func (a *API) createDeploymentSchedules(r *http.Request, req *schema.ScheduleCreates) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	runs := make([]*int, len(*req))
	scheds := make([]*schema.Schedule, len(*req))
	for i := range *req {
		runs[i], scheds[i] = (*req)[i].MaxScheduledRuns, &(*req)[i].Schedule
	}
	if err := checkSchedules(inList, scheds...); err != nil {
		return response{}, err
	}
	if err := a.checkMaxScheduledRuns(inList, runs...); err != nil {
		return response{}, err
	}
	made, err := a.store.CreateDeploymentSchedules(r.Context(), id, *req)
	if err != nil {
		return response{}, deploymentNotFound(err, true)
	}
	return created(made), nil
}

func (a *API) updateDeploymentSchedule(r *http.Request, u *schema.DeploymentScheduleUpdate) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	schedID, err := pathID(r, "schedule_id")
	if err != nil {
		return response{}, err
	}
	if err := checkSchedules(atTop, u.Schedule); err != nil {
		return response{}, err
	}
	if err := a.checkMaxScheduledRuns(atTop, u.MaxScheduledRuns); err != nil {
		return response{}, err
	}
	return noContent(), a.store.UpdateDeploymentSchedule(r.Context(), id, schedID, *u)
}

func (a *API) deleteDeploymentSchedule(r *http.Request, _ *none) (response, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return response{}, err
	}
	schedID, err := pathID(r, "schedule_id")
	if err != nil {
		return response{}, err
	}
	return noContent(), a.store.DeleteDeploymentSchedule(r.Context(), id, schedID)
}
