package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// requireLocked checks a 423 and returns its Retry-After in seconds.
func requireLocked(t *testing.T, r reply) float64 {
	t.Helper()
	requireStatus(t, http.StatusLocked, r)
	header := r.Header.Get("Retry-After")
	require.NotEmpty(t, header, "a 423 for a full limit says when to retry")
	wait, err := strconv.ParseFloat(header, 64)
	require.NoError(t, err, "Retry-After is float seconds, as the client parses it")
	require.GreaterOrEqual(t, wait, 0.0)
	return wait
}

// The global-limit calls of `prefect gcl`, concurrency() and tagged tasks.
func TestConcurrencyLimitsV2API(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)

		r := s.do(t, http.MethodPost, "/v2/concurrency_limits/", map[string]any{"name": "db", "limit": 1})
		requireStatus(t, http.StatusCreated, r)
		limit := r.Object(t)
		id := limit["id"].(string)
		require.Equal(t, true, limit["active"])
		require.Equal(t, float64(0), limit["active_slots"])
		requireStatus(t, http.StatusConflict, s.do(t, http.MethodPost, "/v2/concurrency_limits/", map[string]any{"name": "db", "limit": 3}))

		require.Equal(t, id, s.do(t, http.MethodGet, "/v2/concurrency_limits/db", nil).Object(t)["id"])
		require.Equal(t, "db", s.do(t, http.MethodGet, "/v2/concurrency_limits/"+id, nil).Object(t)["name"])
		requireDetail(t, http.StatusNotFound, "Concurrency Limit not found", s.do(t, http.MethodGet, "/v2/concurrency_limits/nope", nil))

		// A tagged task: slots under a lease, held by the task run.
		run := uuid.NewString()
		acquire := map[string]any{"names": []string{"db"}, "slots": 1, "mode": "concurrency", "lease_duration": 60,
			"holder": map[string]any{"type": "task_run", "id": run}}
		r = s.do(t, http.MethodPost, "/v2/concurrency_limits/increment-with-lease", acquire)
		requireStatus(t, http.StatusOK, r)
		lease := r.Object(t)
		leaseID := lease["lease_id"].(string)
		require.Equal(t, []any{map[string]any{"id": id, "name": "db", "limit": float64(1)}}, lease["limits"])
		require.Equal(t, float64(1), s.do(t, http.MethodGet, "/v2/concurrency_limits/db", nil).Object(t)["active_slots"])

		wait := requireLocked(t, s.do(t, http.MethodPost, "/v2/concurrency_limits/increment-with-lease", acquire))
		require.LessOrEqual(t, wait, 30.0, "capped by PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS")
		require.Equal(t, float64(1), s.do(t, http.MethodGet, "/v2/concurrency_limits/db", nil).Object(t)["denied_slots"])

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/v2/concurrency_limits/leases/"+leaseID+"/renew", map[string]any{"lease_duration": 60}))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/v2/concurrency_limits/decrement-with-lease", map[string]any{"lease_id": leaseID}))
		require.Equal(t, float64(0), s.do(t, http.MethodGet, "/v2/concurrency_limits/db", nil).Object(t)["active_slots"])
		requireDetail(t, http.StatusGone, "Lease not found - it may have expired or been revoked",
			s.do(t, http.MethodPost, "/v2/concurrency_limits/leases/"+leaseID+"/renew", map[string]any{"lease_duration": 60}))
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/v2/concurrency_limits/decrement-with-lease", map[string]any{"lease_id": leaseID}))

		// Tags without limits: "limits": [], so the client stops asking.
		r = s.do(t, http.MethodPost, "/v2/concurrency_limits/increment-with-lease",
			map[string]any{"names": []string{"tag:none"}, "slots": 1, "mode": "concurrency", "lease_duration": 60})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, []any{}, r.Object(t)["limits"])
		require.NotEmpty(t, r.Object(t)["lease_id"])

		// Slots without a lease (rate_limit() and older clients).
		plain := map[string]any{"names": []string{"db"}, "slots": 1}
		r = s.do(t, http.MethodPost, "/v2/concurrency_limits/increment", plain)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "db", r.List(t)[0].(map[string]any)["name"])
		requireLocked(t, s.do(t, http.MethodPost, "/v2/concurrency_limits/increment", plain))
		r = s.do(t, http.MethodPost, "/v2/concurrency_limits/decrement", map[string]any{"names": []string{"db"}, "slots": 1, "occupancy_seconds": 4})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/v2/concurrency_limits/increment", plain))

		// An inactive limit is ignored.
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/v2/concurrency_limits/db", map[string]any{"active": false}))
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/v2/concurrency_limits/increment", plain))
		requireDetail(t, http.StatusNotFound, "Concurrency Limit not found", s.do(t, http.MethodPatch, "/v2/concurrency_limits/nope", map[string]any{"limit": 2}))

		r = s.do(t, http.MethodPost, "/v2/concurrency_limits/filter", nil)
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, "/v2/concurrency_limits/"+id, nil))
		requireDetail(t, http.StatusNotFound, "Concurrency Limit not found", s.do(t, http.MethodDelete, "/v2/concurrency_limits/db", nil))
	})
}

func TestConcurrencyLimitsV2APIValidation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/v2/concurrency_limits/", map[string]any{"name": "small", "limit": 1}))

		create := func(body any) reply { return s.do(t, http.MethodPost, "/v2/concurrency_limits/", body) }
		requireValidationError(t, create(map[string]any{"limit": 1}), "body", "name")
		requireValidationError(t, create(map[string]any{"name": "x"}), "body", "limit")
		requireValidationError(t, create(map[string]any{"name": "a/b", "limit": 1}), "body", "name")
		requireValidationError(t, create(map[string]any{"name": "neg", "limit": -1}), "body", "limit")
		requireValidationError(t, create(map[string]any{"name": "neg", "limit": 1, "slot_decay_per_second": -1}), "body", "slot_decay_per_second")
		requireValidationError(t, s.do(t, http.MethodPatch, "/v2/concurrency_limits/small", map[string]any{"limit": -2}), "body", "limit")

		inc := func(body any) reply {
			return s.do(t, http.MethodPost, "/v2/concurrency_limits/increment-with-lease", body)
		}
		requireValidationError(t, inc(map[string]any{"slots": 1}), "body", "names")
		requireValidationError(t, inc(map[string]any{"names": []string{}, "slots": 1}), "body", "names")
		requireValidationError(t, inc(map[string]any{"names": []string{"small"}, "slots": 0}), "body", "slots")
		requireValidationError(t, inc(map[string]any{"names": []string{"small"}, "slots": 1, "mode": "sometimes"}), "body", "mode")
		requireValidationError(t, inc(map[string]any{"names": []string{"small"}, "slots": 1, "lease_duration": 5}), "body", "lease_duration")
		requireValidationError(t, inc(map[string]any{"names": []string{"small"}, "slots": 1, "holder": map[string]any{"type": "robot", "id": uuid.NewString()}}), "body", "holder", "type")
		requireDetail(t, http.StatusUnprocessableEntity, "Slots requested is greater than the limit",
			inc(map[string]any{"names": []string{"small"}, "slots": 2}))
		requireDetail(t, http.StatusUnprocessableEntity, "Only concurrency limits with slot decay can be used for rate limiting. The following limits do not have a decay configured: 'small'",
			s.do(t, http.MethodPost, "/v2/concurrency_limits/increment", map[string]any{"names": []string{"small"}, "slots": 1, "mode": "rate_limit"}))
		requireValidationError(t, s.do(t, http.MethodPost, "/v2/concurrency_limits/decrement-with-lease", map[string]any{}), "body", "lease_id")
		requireValidationError(t, s.do(t, http.MethodPost, "/v2/concurrency_limits/decrement-with-lease", map[string]any{"lease_id": "nope"}))
		requireValidationError(t, s.do(t, http.MethodPost, "/v2/concurrency_limits/leases/nope/renew", map[string]any{}), "path", "lease_id")
		requireValidationError(t, s.do(t, http.MethodPost, "/v2/concurrency_limits/leases/"+uuid.NewString()+"/renew", map[string]any{"lease_duration": 86401}), "body", "lease_duration")
		requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
			s.do(t, http.MethodPost, "/v2/concurrency_limits/filter", map[string]any{"limit": 500}))
		requireValidationError(t, inc(map[string]any{"names": []string{"a\x00b"}, "slots": 1}), "body", "names", "0")
		requireDetail(t, http.StatusNotFound, "Concurrency Limit not found", s.do(t, http.MethodGet, "/v2/concurrency_limits/a%00b", nil))

		// More names than either backend binds parameters: still one query.
		many := make([]string, 40_000)
		for i := range many {
			many[i] = "n" + strconv.Itoa(i)
		}
		many[len(many)-1] = "small"
		r := inc(map[string]any{"names": many, "slots": 1})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.Object(t)["limits"], 1)
	})
}

// A lease the holder stopped renewing expires: renewing it is 410, and the
// repossessor gives its slot back.
func TestConcurrencyLeaseExpiryAPI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(st *settings.Settings) { st.Services.Repossessor.LoopSeconds = 50 * time.Millisecond })
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/v2/concurrency_limits/", map[string]any{"name": "one", "limit": 1}))
		res, err := s.Store.AcquireConcurrencySlots(t.Context(), store.SlotAcquisition{Names: []string{"one"}, Slots: 1,
			Mode: schema.ModeConcurrency, Lease: &store.LeaseSpec{TTL: time.Millisecond}})
		require.NoError(t, err)
		require.True(t, res.Acquired)
		time.Sleep(10 * time.Millisecond)
		requireStatus(t, http.StatusGone, s.do(t, http.MethodPost, "/v2/concurrency_limits/leases/"+res.LeaseID.String()+"/renew", map[string]any{"lease_duration": 60}))
		eventually(t, "the repossessor to reclaim the slot", func() bool {
			return s.do(t, http.MethodGet, "/v2/concurrency_limits/one", nil).Object(t)["active_slots"] == float64(0)
		})
	})
}

// Retry-After never exceeds the configured cap, however many were denied.
func TestConcurrencyRetryAfterCap(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(st *settings.Settings) {
			st.Concurrency.MaximumConcurrencySlotWaitSeconds = 0.5
			st.Tasks.TagConcurrencySlotWaitSeconds = 0.25
		})
		for _, name := range []string{"cap", "tag:cap"} {
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/v2/concurrency_limits/", map[string]any{"name": name, "limit": 1, "active_slots": 1}))
		}
		for range 5 {
			require.LessOrEqual(t, requireLocked(t, s.do(t, http.MethodPost, "/v2/concurrency_limits/increment",
				map[string]any{"names": []string{"cap"}, "slots": 1})), 0.5)
			require.LessOrEqual(t, requireLocked(t, s.do(t, http.MethodPost, "/v2/concurrency_limits/increment",
				map[string]any{"names": []string{"tag:cap"}, "slots": 1})), 0.25, "tag limits are capped by the tag wait")
		}
	})
}

// The v1 tag routes of `prefect concurrency-limit` and prefect.concurrency.v1.
func TestConcurrencyLimitsV1API(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/v2/concurrency_limits/", map[string]any{"name": "global", "limit": 1}))

		r := s.do(t, http.MethodPost, "/concurrency_limits/", map[string]any{"tag": "etl", "concurrency_limit": 1})
		requireStatus(t, http.StatusCreated, r)
		limit := r.Object(t)
		id := limit["id"].(string)
		require.Equal(t, "etl", limit["tag"])
		require.Equal(t, float64(1), limit["concurrency_limit"])
		require.Equal(t, []any{}, limit["active_slots"])
		r = s.do(t, http.MethodPost, "/concurrency_limits/", map[string]any{"tag": "etl", "concurrency_limit": 2})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, id, r.Object(t)["id"], "an upsert by tag")
		require.Equal(t, float64(2), s.do(t, http.MethodGet, "/v2/concurrency_limits/tag:etl", nil).Object(t)["limit"], "a v1 limit is the v2 limit tag:<tag>")

		// A tagged task takes its slot through the v2 lease routes.
		task := uuid.NewString()
		r = s.do(t, http.MethodPost, "/v2/concurrency_limits/increment-with-lease", map[string]any{"names": []string{"tag:etl"}, "slots": 1,
			"mode": "concurrency", "lease_duration": 60, "holder": map[string]any{"type": "task_run", "id": task}})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.Object(t)["limits"], 1)
		r = s.do(t, http.MethodGet, "/concurrency_limits/tag/etl", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, []any{task}, r.Object(t)["active_slots"])
		require.Equal(t, "etl", s.do(t, http.MethodGet, "/concurrency_limits/"+id, nil).Object(t)["tag"])

		// The v1 slot routes: one slot per task run, 423 with the tag wait when full.
		other := uuid.NewString()
		r = s.do(t, http.MethodPost, "/concurrency_limits/increment", map[string]any{"names": []string{"etl", "untracked"}, "task_run_id": other})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, []any{map[string]any{"id": id, "name": "etl", "limit": float64(2)}}, r.JSON(t))
		r = s.do(t, http.MethodPost, "/concurrency_limits/increment", map[string]any{"names": []string{"etl"}, "task_run_id": uuid.NewString()})
		requireDetail(t, http.StatusLocked, "Concurrency limit for the etl tag has been reached", r)
		require.Equal(t, "10", r.Header.Get("Retry-After"), "PREFECT_SERVER_TASKS_TAG_CONCURRENCY_SLOT_WAIT_SECONDS")
		r = s.do(t, http.MethodGet, "/concurrency_limits/tag/etl", nil)
		require.ElementsMatch(t, []any{task, other}, r.Object(t)["active_slots"])
		r = s.do(t, http.MethodPost, "/concurrency_limits/decrement", map[string]any{"names": []string{"etl"}, "task_run_id": other, "occupancy_seconds": 1.5})
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "tag:etl", r.List(t)[0].(map[string]any)["name"])
		require.Equal(t, []any{task}, s.do(t, http.MethodGet, "/concurrency_limits/tag/etl", nil).Object(t)["active_slots"])

		// A limit of 0 tells the client to abort: 423 without Retry-After.
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/concurrency_limits/", map[string]any{"tag": "zero", "concurrency_limit": 0}))
		r = s.do(t, http.MethodPost, "/concurrency_limits/increment", map[string]any{"names": []string{"zero"}, "task_run_id": uuid.NewString()})
		requireDetail(t, http.StatusLocked, `The concurrency limit on tag "zero" is 0 and will deadlock if the task tries to run again.`, r)
		require.Empty(t, r.Header.Get("Retry-After"))

		// Only tag limits are listed.
		r = s.do(t, http.MethodPost, "/concurrency_limits/filter", map[string]any{"limit": 10, "offset": 0})
		requireStatus(t, http.StatusOK, r)
		tags := []any{}
		for _, l := range r.List(t) {
			tags = append(tags, l.(map[string]any)["tag"])
		}
		require.Equal(t, []any{"etl", "zero"}, tags)

		// Reset frees every slot, then hands one to each override.
		override := uuid.NewString()
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/concurrency_limits/tag/etl/reset", map[string]any{"slot_override": []string{override}}))
		require.Equal(t, []any{override}, s.do(t, http.MethodGet, "/concurrency_limits/tag/etl", nil).Object(t)["active_slots"])
		require.Equal(t, float64(1), s.do(t, http.MethodGet, "/v2/concurrency_limits/tag:etl", nil).Object(t)["active_slots"])
		requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/concurrency_limits/tag/etl/reset", nil))
		require.Equal(t, []any{}, s.do(t, http.MethodGet, "/concurrency_limits/tag/etl", nil).Object(t)["active_slots"])
		requireDetail(t, http.StatusNotFound, "Concurrency limit not found", s.do(t, http.MethodPost, "/concurrency_limits/tag/none/reset", nil))

		global := s.do(t, http.MethodGet, "/v2/concurrency_limits/global", nil).Object(t)["id"].(string)
		requireDetail(t, http.StatusNotFound, "Concurrency limit not found", s.do(t, http.MethodGet, "/concurrency_limits/"+global, nil))
		requireDetail(t, http.StatusNotFound, "Concurrency limit not found", s.do(t, http.MethodGet, "/concurrency_limits/tag/none", nil))
		requireValidationError(t, s.do(t, http.MethodPost, "/concurrency_limits/", map[string]any{"tag": "x"}), "body", "concurrency_limit")
		requireValidationError(t, s.do(t, http.MethodPost, "/concurrency_limits/increment", map[string]any{"names": []string{"etl"}}), "body", "task_run_id")

		requireStatus(t, http.StatusOK, s.do(t, http.MethodDelete, "/concurrency_limits/tag/etl", nil))
		requireDetail(t, http.StatusNotFound, "Concurrency limit not found", s.do(t, http.MethodDelete, "/concurrency_limits/tag/etl", nil))
		zero := s.do(t, http.MethodGet, "/concurrency_limits/tag/zero", nil).Object(t)["id"].(string)
		requireStatus(t, http.StatusOK, s.do(t, http.MethodDelete, "/concurrency_limits/"+zero, nil))
		requireDetail(t, http.StatusNotFound, "Concurrency limit not found", s.do(t, http.MethodDelete, "/concurrency_limits/"+zero, nil))
	})
}
