package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// bodyRoutes is every route of routes.go that reads a request body, with a
// concrete path and a valid body to seed FuzzRequestBodies. Paths and bodies
// name the fixtures (see fuzzFixtures) as @name@; the fuzzer substitutes
// their ids, so a mutated body still reaches past the "not found" checks.
// TestFuzzRoutesCoverRouteTable keeps this list in step with routes.go.
var bodyRoutes = []struct{ pattern, path, seed string }{
	{"POST /flows", "/flows", `{"name":"fuzz-flow-2","tags":["a"],"labels":{"k":"v"}}`},
	{"POST /flows/filter", "/flows/filter", `{"flows":{"name":{"any_":["fuzz-flow"]},"tags":{"all_":["a"]}},"sort":"NAME_ASC","limit":5,"offset":0}`},
	{"POST /flows/count", "/flows/count", `{"flows":{"name":{"like_":"fuzz"}}}`},
	{"POST /flows/paginate", "/flows/paginate", `{"flows":{"name":{"like_":"fuzz"}},"sort":"NAME_DESC","limit":5,"page":2}`},
	{"PATCH /flows/{id}", "/flows/@flow@", `{"tags":["x","y"],"labels":{"team":"a"}}`},

	{"POST /flow_runs", "/flow_runs", `{"flow_id":"@flow@","name":"run-2","parameters":{"x":1},"tags":["t"],"labels":{"k":"v"},"state":{"type":"SCHEDULED","state_details":{"scheduled_time":"2030-01-01T00:00:00Z"}},"empirical_policy":{"retries":1,"retry_delay":2}}`},
	{"POST /flow_runs/filter", "/flow_runs/filter", `{"flow_runs":{"state":{"type":{"any_":["RUNNING","SCHEDULED"]}},"start_time":{"before_":"2030-01-01T00:00:00Z"}},"flows":{"name":{"any_":["fuzz-flow"]}},"sort":"START_TIME_DESC","limit":5}`},
	{"POST /flow_runs/count", "/flow_runs/count", `{"flow_runs":{"tags":{"all_":["t"]}},"deployments":{"id":{"any_":["@deployment@"]}}}`},
	{"POST /flow_runs/paginate", "/flow_runs/paginate", `{"flow_runs":{"tags":{"all_":["t"]}},"flows":{"id":{"any_":["@flow@"]}},"sort":"START_TIME_DESC","limit":5,"page":1}`},
	{"PATCH /flow_runs/{id}", "/flow_runs/@flow_run@", `{"name":"renamed","job_variables":{"image":"x"},"labels":{"a":"b"}}`},
	{"PATCH /flow_runs/{id}/labels", "/flow_runs/@flow_run@/labels", `{"env":"prod","n":3,"ok":true}`},
	{"POST /flow_runs/{id}/set_state", "/flow_runs/@flow_run@/set_state", `{"state":{"type":"PENDING","name":"Pending","message":"m"},"force":false}`},
	{"POST /flow_runs/{id}/resume", "/flow_runs/@flow_run@/resume", `{"run_input":{"name":"x","n":{"__prefect_kind":"json","value":"3"}}}`},
	{"POST /flow_runs/{id}/input", "/flow_runs/@flow_run@/input", `{"key":"fuzz-key","value":"{\"a\": 1}","sender":"fuzz"}`},
	{"POST /flow_runs/{id}/input/filter", "/flow_runs/@flow_run@/input/filter", `{"prefix":"fuzz","limit":5,"exclude_keys":["fuzz-other"]}`},
	{"POST /flow_runs/bulk_set_state", "/flow_runs/bulk_set_state", `{"flow_runs":{"tags":{"all_":["t"]}},"state":{"type":"CANCELLING","name":"Cancelling"},"force":false,"limit":3}`},
	{"POST /flow_runs/bulk_delete", "/flow_runs/bulk_delete", `{"flow_runs":{"name":{"any_":["no-such-run"]}},"limit":2}`},
	{"POST /flows/bulk_delete", "/flows/bulk_delete", `{"flows":{"name":{"any_":["no-such-flow"]}},"limit":1}`},
	{"POST /deployments/bulk_delete", "/deployments/bulk_delete", `{"deployments":{"name":{"any_":["no-such-deployment"]}}}`},
	{"POST /flow_runs/lateness", "/flow_runs/lateness", `{"flow_runs":{"tags":{"all_":["t"]}},"work_pool_queues":{"name":{"any_":["default"]}}}`},
	{"POST /flow_runs/history", "/flow_runs/history", `{"history_start":"2020-01-01T00:00:00Z","history_end":"2030-01-01T00:00:00Z","history_interval_seconds":86400,"flows":{"id":{"any_":["@flow@"]}},"work_queues":{"name":{"any_":["default"]}}}`},
	{"POST /task_runs/history", "/task_runs/history", `{"history_start":"2020-01-01T00:00:00Z","history_end":"2020-01-02T00:00:00Z","history_interval_seconds":3600,"task_runs":{"tags":{"all_":["t"]}}}`},
	{"POST /ui/flow_runs/history", "/ui/flow_runs/history", `{"flows":{"id":{"any_":["@flow@"]}},"sort":"EXPECTED_START_TIME_DESC","limit":50,"offset":1}`},
	{"POST /ui/flow_runs/count-task-runs", "/ui/flow_runs/count-task-runs", `{"flow_run_ids":["@flow_run@","@flow_run@"]}`},

	{"POST /task_runs", "/task_runs", `{"flow_run_id":"@flow_run@","task_key":"k","dynamic_key":"1","name":"task-2","tags":["t"],"state":{"type":"PENDING"},"task_inputs":{"x":[{"input_type":"parameter","name":"x"}]}}`},
	{"POST /task_runs/filter", "/task_runs/filter", `{"task_runs":{"name":{"like_":"task"},"state":{"type":{"any_":["PENDING"]}}},"flow_runs":{"id":{"any_":["@flow_run@"]}},"sort":"EXPECTED_START_TIME_DESC","limit":5}`},
	{"POST /task_runs/count", "/task_runs/count", `{"task_runs":{"tags":{"all_":["t"]}}}`},
	{"POST /task_runs/paginate", "/task_runs/paginate", `{"task_runs":{"tags":{"all_":["t"]}},"flow_runs":{"id":{"any_":["@flow_run@"]}},"sort":"NAME_ASC","limit":5,"page":3}`},
	{"PATCH /task_runs/{id}", "/task_runs/@task_run@", `{"name":"renamed-task"}`},
	{"POST /task_runs/{id}/set_state", "/task_runs/@task_run@/set_state", `{"state":{"type":"RUNNING"},"force":false}`},
	{"POST /task_workers/filter", "/task_workers/filter", `{"task_worker_filter":{"task_keys":["fuzz-key"]}}`},
	{"POST /ui/task_runs/dashboard/counts", "/ui/task_runs/dashboard/counts", `{"task_runs":{"start_time":{"after_":"2026-01-01T00:00:00Z","before_":"2026-01-02T00:00:00Z"}},"work_queues":{"name":{"any_":["default"]}}}`},
	{"POST /ui/task_runs/count", "/ui/task_runs/count", `{"task_runs":{"tags":{"all_":["t"]}},"deployments":{"id":{"any_":["@deployment@"]}}}`},

	{"POST /logs", "/logs", `[{"name":"prefect.flow_runs","level":20,"message":"hello","timestamp":"2026-01-01T00:00:00Z","flow_run_id":"@flow_run@","task_run_id":"@task_run@"}]`},
	{"POST /logs/filter", "/logs/filter", `{"logs":{"level":{"ge_":10,"le_":50},"flow_run_id":{"any_":["@flow_run@"]},"timestamp":{"after_":"2020-01-01T00:00:00Z"}},"sort":"TIMESTAMP_ASC","limit":5}`},

	{"POST /artifacts", "/artifacts", `{"key":"fuzz-key","type":"markdown","data":"# hi","description":"d","flow_run_id":"@flow_run@","task_run_id":"@task_run@"}`},
	{"POST /artifacts/filter", "/artifacts/filter", `{"artifacts":{"key":{"any_":["fuzz-key"]},"type":{"any_":["markdown"]}},"sort":"CREATED_DESC","limit":5}`},
	{"POST /artifacts/count", "/artifacts/count", `{"artifacts":{"key":{"like_":"fuzz"}}}`},
	{"POST /artifacts/latest/filter", "/artifacts/latest/filter", `{"artifacts":{"key":{"any_":["fuzz-key"]}},"limit":5}`},
	{"POST /artifacts/latest/count", "/artifacts/latest/count", `{"artifacts":{"flow_run_id":{"any_":["@flow_run@"]}}}`},
	{"PATCH /artifacts/{id}", "/artifacts/@artifact@", `{"data":{"a":1},"description":"changed"}`},

	{"POST /work_pools", "/work_pools", `{"name":"fuzz-pool-2","type":"process","description":"d","base_job_template":{"job_configuration":{"command":"{{ command }}"},"variables":{"properties":{"command":{"type":"string"}}}},"concurrency_limit":3}`},
	{"POST /work_pools/filter", "/work_pools/filter", `{"work_pools":{"name":{"any_":["fuzz-pool"]},"type":{"any_":["process"]}},"limit":5}`},
	{"POST /work_pools/count", "/work_pools/count", `{"work_pools":{"id":{"any_":["@deployment@"]}}}`},
	{"PATCH /work_pools/{name}", "/work_pools/fuzz-pool", `{"description":"changed","concurrency_limit":5,"is_paused":false}`},
	{"POST /work_pools/{name}/get_scheduled_flow_runs", "/work_pools/fuzz-pool/get_scheduled_flow_runs", `{"work_queue_names":["default","fuzz-queue"],"scheduled_before":"2030-01-01T00:00:00Z","scheduled_after":"2020-01-01T00:00:00Z","limit":10}`},
	{"POST /work_pools/{pool}/queues", "/work_pools/fuzz-pool/queues", `{"name":"fuzz-queue-2","description":"d","priority":2,"concurrency_limit":1}`},
	{"POST /work_pools/{pool}/queues/filter", "/work_pools/fuzz-pool/queues/filter", `{"work_queues":{"name":{"any_":["fuzz-queue"]}},"limit":5}`},
	{"PATCH /work_pools/{pool}/queues/{name}", "/work_pools/fuzz-pool/queues/fuzz-queue", `{"description":"changed","is_paused":false,"concurrency_limit":4,"priority":3}`},
	{"POST /work_pools/{pool}/workers/heartbeat", "/work_pools/fuzz-pool/workers/heartbeat", `{"name":"worker-1","heartbeat_interval_seconds":30}`},
	{"POST /work_pools/{pool}/workers/filter", "/work_pools/fuzz-pool/workers/filter", `{"workers":{"last_heartbeat_time":{"after_":"2020-01-01T00:00:00Z"}},"limit":5}`},
	{"POST /work_queues", "/work_queues", `{"name":"fuzz-legacy-2","description":"d","concurrency_limit":2}`},
	{"POST /work_queues/filter", "/work_queues/filter", `{"work_queues":{"name":{"startswith_":["fuzz"]}},"limit":5}`},
	{"PATCH /work_queues/{id}", "/work_queues/@legacy_queue@", `{"description":"changed","concurrency_limit":3,"is_paused":false}`},
	{"POST /work_pools/{name}/concurrency_status", "/work_pools/fuzz-pool/concurrency_status", `{"page":1,"limit":5,"flow_run_limit":3}`},
	{"POST /work_queues/{id}/concurrency_status", "/work_queues/@legacy_queue@/concurrency_status", `{"page":2,"limit":1}`},
	{"POST /work_queues/{id}/get_runs", "/work_queues/@legacy_queue@/get_runs", `{"scheduled_before":"2030-01-01T00:00:00Z","limit":5}`},

	{"POST /deployments", "/deployments", `{"flow_id":"@flow@","name":"fuzz-deployment-2","version":"1","parameters":{"x":1},"tags":["t"],"work_pool_name":"fuzz-pool","work_queue_name":"fuzz-queue","entrypoint":"flows.py:f","job_variables":{},"parameter_openapi_schema":{"title":"Parameters","type":"object","properties":{"x":{"title":"x","position":0,"type":"integer"}},"required":["x"]},"schedules":[{"schedule":{"interval":3600,"anchor_date":"2026-01-01T00:00:00Z","timezone":"UTC"},"active":true},{"schedule":{"cron":"0 9 * * 1-5","timezone":"Europe/Paris"},"active":false},{"schedule":{"rrule":"FREQ=DAILY;COUNT=3","timezone":"UTC"}}],"concurrency_limit":2,"enforce_parameter_schema":true}`},
	{"POST /deployments/filter", "/deployments/filter", `{"deployments":{"name":{"any_":["fuzz-deployment"]},"tags":{"all_":["t"]}},"flows":{"name":{"any_":["fuzz-flow"]}},"work_pools":{"name":{"any_":["fuzz-pool"]}},"sort":"NAME_ASC","limit":5}`},
	{"POST /deployments/count", "/deployments/count", `{"deployments":{"paused":{"eq_":false}}}`},
	{"POST /deployments/paginate", "/deployments/paginate", `{"page":1,"limit":10,"deployments":{"name":{"like_":"fuzz"}}}`},
	{"POST /deployments/get_scheduled_flow_runs", "/deployments/get_scheduled_flow_runs", `{"deployment_ids":["@deployment@"],"scheduled_before":"2030-01-01T00:00:00Z","limit":5}`},
	{"PATCH /deployments/{id}", "/deployments/@deployment@", `{"description":"changed","paused":false,"parameters":{"x":2},"tags":["t","u"]}`},
	{"POST /deployments/{id}/pause_deployment", "/deployments/@deployment@/pause_deployment", `{}`},
	{"POST /deployments/{id}/resume_deployment", "/deployments/@deployment@/resume_deployment", `{}`},
	{"POST /deployments/{id}/create_flow_run", "/deployments/@deployment@/create_flow_run", `{"parameters":{"x":3},"state":{"type":"SCHEDULED"},"tags":["manual"],"job_variables":{"a":1}}`},
	{"POST /deployments/{id}/create_flow_run/bulk", "/deployments/@deployment@/create_flow_run/bulk", `[{"parameters":{"x":3},"tags":["bulk"]},{"parameters":{"x":"bad"}},{"work_queue_name":"fuzz-bulk"}]`},
	{"POST /deployments/{id}/schedule", "/deployments/@deployment@/schedule", `{"start_time":"2026-01-01T00:00:00Z","end_time":"2026-01-02T00:00:00Z","min_time":3600,"min_runs":2,"max_runs":5}`},
	{"POST /deployments/{id}/schedules", "/deployments/@deployment@/schedules", `[{"schedule":{"cron":"*/5 * * * *","timezone":"UTC","day_or":true},"active":true,"max_scheduled_runs":3}]`},
	{"PATCH /deployments/{id}/schedules/{schedule_id}", "/deployments/@deployment@/schedules/@schedule@", `{"active":false,"schedule":{"interval":120}}`},

	{"POST /variables", "/variables", `{"name":"fuzz_var_2","value":{"a":[1,2]},"tags":["t"]}`},
	{"POST /variables/filter", "/variables/filter", `{"variables":{"name":{"like_":"fuzz"}},"sort":"NAME_ASC","limit":5}`},
	{"POST /variables/count", "/variables/count", `{"variables":{"tags":{"all_":["t"]}}}`},
	{"PATCH /variables/name/{name}", "/variables/name/fuzz_var", `{"value":"changed"}`},
	{"PATCH /variables/{id}", "/variables/@variable@", `{"value":[1,"two",null],"tags":["u"]}`},

	{"PUT /admin/storage", "/admin/storage", `{"default_result_storage_block_id":"@block_doc@"}`},
	{"PUT /saved_searches", "/saved_searches", `{"name":"fuzz-search","filters":[{"object":"flow_run","property":"state","type":"string","operation":"equals","value":["Failed"]}]}`},
	{"POST /saved_searches/filter", "/saved_searches/filter", `{"limit":5,"offset":0}`},

	{"POST /ui/flows/count-deployments", "/ui/flows/count-deployments", `{"flow_ids":["@flow@"]}`},
	{"POST /ui/flows/next-runs", "/ui/flows/next-runs", `{"flow_ids":["@flow@"]}`},
	{"POST /ui/schemas/validate", "/ui/schemas/validate", `{"schema":{"type":"object","properties":{"n":{"type":"integer","minimum":1},"l":{"type":"array","items":{"$ref":"#/definitions/S"}}},"required":["n"],"definitions":{"S":{"type":"string","pattern":"^a"}}},"values":{"n":0,"l":["b",{"__prefect_kind":"json","value":"[1]"}]}}`},

	{"POST /automations", "/automations", `{"name":"fuzz-automation-2","tags":["t"],"trigger":{"type":"compound","require":1,"within":60,"triggers":[{"type":"event","posture":"Proactive","expect":["x.*"],"match":{"prefect.resource.id":"a.*"},"for_each":["prefect.resource.id"],"threshold":2,"within":30}]},"actions":[{"type":"run-deployment","deployment_id":"@deployment@","parameters":{"x":1}}],"owner_resource":"prefect.deployment.@deployment@"}`},
	{"POST /templates/validate", "/templates/validate", `"Run {{ flow_run.name }} {% if event %}{{ event.payload | tojson }}{% endif %}"`},
	{"POST /automations/templates/validate", "/automations/templates/validate", `"{{ unclosed"`},
	{"POST /automations/filter", "/automations/filter", `{"sort":"UPDATED_DESC","limit":5,"offset":1,"automations":{"operator":"or_","name":{"any_":["fuzz-automation"]},"tags":{"any_":["t"]},"created":{"before_":"2030-01-01T00:00:00Z"}}}`},
	{"POST /automations/count", "/automations/count", `{"automations":{"id":{"any_":["@automation@"]}}}`},
	{"PUT /automations/{id}", "/automations/@automation@", `{"name":"fuzz-automation","trigger":{"type":"sequence","within":null,"triggers":[{"type":"event","posture":"Reactive"}]},"actions":[{"type":"pause-work-pool","source":"inferred"}]}`},
	{"PATCH /automations/{id}", "/automations/@automation@", `{"enabled":false}`},

	{"POST /v2/concurrency_limits", "/v2/concurrency_limits", `{"name":"fuzz-limit-2","limit":2,"slot_decay_per_second":0.5}`},
	{"POST /v2/concurrency_limits/filter", "/v2/concurrency_limits/filter", `{"offset":0,"limit":10}`},
	{"POST /v2/concurrency_limits/increment", "/v2/concurrency_limits/increment", `{"names":["fuzz-limit"],"slots":1,"mode":"concurrency"}`},
	{"POST /v2/concurrency_limits/increment-with-lease", "/v2/concurrency_limits/increment-with-lease", `{"names":["fuzz-limit"],"slots":1,"mode":"concurrency","lease_duration":60,"holder":{"type":"task_run","id":"@task_run@"}}`},
	{"POST /v2/concurrency_limits/decrement", "/v2/concurrency_limits/decrement", `{"names":["fuzz-limit"],"slots":1,"occupancy_seconds":1.5}`},
	{"POST /v2/concurrency_limits/leases/{lease_id}/renew", "/v2/concurrency_limits/leases/@lease@/renew", `{"lease_duration":60}`},
	{"POST /v2/concurrency_limits/decrement-with-lease", "/v2/concurrency_limits/decrement-with-lease", `{"lease_id":"@lease@"}`},
	{"PATCH /v2/concurrency_limits/{id_or_name}", "/v2/concurrency_limits/fuzz-limit", `{"limit":5,"active":true}`},
	{"POST /concurrency_limits", "/concurrency_limits", `{"tag":"fuzz-tag-2","concurrency_limit":3}`},
	{"POST /concurrency_limits/filter", "/concurrency_limits/filter", `{"offset":0,"limit":10}`},
	{"POST /concurrency_limits/increment", "/concurrency_limits/increment", `{"names":["fuzz-tag"],"task_run_id":"@task_run@"}`},
	{"POST /concurrency_limits/decrement", "/concurrency_limits/decrement", `{"names":["fuzz-tag"],"task_run_id":"@task_run@"}`},
	{"POST /concurrency_limits/tag/{tag}/reset", "/concurrency_limits/tag/fuzz-tag/reset", `{"slot_override":["@task_run@"]}`},

	{"POST /block_types", "/block_types", `{"name":"Fuzz Two","slug":"fuzz-two","logo_url":"https://example.com/x.png","description":"d","code_example":"x"}`},
	{"POST /block_types/filter", "/block_types/filter", `{"block_types":{"name":{"like_":"fuzz"},"slug":{"any_":["fuzz-block"]}},"limit":5}`},
	{"POST /block_types/install_system_block_types", "/block_types/install_system_block_types", ``},
	{"PATCH /block_types/{id}", "/block_types/@block_type@", `{"description":"changed","documentation_url":null}`},
	{"POST /block_schemas", "/block_schemas", `{"block_type_id":"@block_type@","capabilities":["read"],"version":"2","fields":{"title":"Fuzz","type":"object","properties":{"value":{"title":"Value","type":"string","format":"password","writeOnly":true},"n":{"title":"N","type":"integer"}},"required":["value"],"secret_fields":["value"],"block_type_slug":"fuzz-block","block_schema_references":{}}}`},
	{"POST /block_schemas/filter", "/block_schemas/filter", `{"block_schemas":{"block_type_id":{"any_":["@block_type@"]},"block_capabilities":{"all_":[]}},"limit":5}`},
	{"POST /block_documents", "/block_documents", `{"name":"fuzz-doc-2","block_type_id":"@block_type@","block_schema_id":"@block_schema@","data":{"value":"s3cret","n":1}}`},
	{"POST /block_documents/filter", "/block_documents/filter", `{"block_documents":{"is_anonymous":{"eq_":false}},"block_types":{"slug":{"any_":["fuzz-block"]}},"include_secrets":true,"limit":5}`},
	{"POST /block_documents/count", "/block_documents/count", `{"block_documents":{"name":{"any_":["fuzz-doc"]}}}`},
	{"PATCH /block_documents/{id}", "/block_documents/@block_doc@", `{"data":{"value":"other"},"merge_existing_data":true}`},

	{"POST /events", "/events", `[{"id":"6a8e1c73-7f55-4ff0-a2b9-5a3e63d7c2a1","occurred":"2026-01-01T00:00:00.123456Z","event":"fuzz.happened","resource":{"prefect.resource.id":"fuzz.thing.1","prefect.resource.name":"one"},"related":[{"prefect.resource.id":"prefect.flow-run.@flow_run@","prefect.resource.role":"flow-run"}],"payload":{"k":"v"}}]`},
	{"POST /events/filter", "/events/filter", `{"filter":{"occurred":{"since":"2020-01-01T00:00:00Z","until":"2030-01-01T00:00:00Z"},"event":{"prefix":["fuzz."]},"resource":{"labels":{"prefect.resource.name":["one","tw*","!x"]}},"any_resource":{"id_prefix":["fuzz."]},"text":{"query":"fuzz -nothing \"a b\""},"order":"ASC"},"limit":10}`},
	{"POST /events/count-by/{countable}", "/events/count-by/event", `{"filter":{"event":{"prefix":["fuzz."]}}}`},
	{"POST /events/count-by/{countable}", "/events/count-by/resource", `{"filter":{}}`},
	{"POST /events/count-by/{countable}", "/events/count-by/day", `{"filter":{"occurred":{"since":"2025-12-01T00:00:00Z","until":"2026-02-01T00:00:00Z"}},"time_unit":"day","time_interval":1}`},
	{"POST /events/count-by/{countable}", "/events/count-by/time", `{"filter":{"occurred":{"since":"2025-12-31T00:00:00Z","until":"2026-01-02T00:00:00Z"}},"time_unit":"hour","time_interval":2}`},
}

// FuzzRequestBodies sends fuzzed bodies to every route that reads one, on
// the whole server over a real SQLite store: no body may cause a panic, a
// 5xx or an error in the log. The route argument is a pattern of bodyRoutes
// (as the seeds give it) or anything else, which picks a route by its hash,
// so bodies meant for one route are also tried on the others.
func FuzzRequestBodies(f *testing.F) {
	h, fixtures, errs := newFuzzServer(f)
	for _, r := range bodyRoutes {
		f.Add(r.pattern, []byte(r.seed))
	}
	f.Fuzz(func(t *testing.T, route string, body []byte) {
		r := pickRoute(route)
		method, _, _ := strings.Cut(r.pattern, " ")
		path := "/api" + fixtures.Replace(r.path)
		body = []byte(fixtures.Replace(string(body)))
		status, res := serve(h, method, path, body)
		t.Logf("%s %s: %d %.300s", method, path, status, res)
		// 501 is no failure: the install route's answer on a server without the block
		// catalogue, as this one is.
		if status >= 500 && status != http.StatusNotImplemented {
			t.Fatalf("%s %s answered %d: %s\nbody: %.2000q\nlog: %s", method, path, status, res, body, errs.take())
		}
		if logged := errs.take(); logged != "" {
			t.Fatalf("%s %s (%d) logged an error: %s\nbody: %.2000q", method, path, status, logged, body)
		}
		if status >= 300 || isQuery(r.pattern) {
			return
		}
		// What was accepted must also read back: a value stored but not
		// readable would fail every later request that meets the row.
		for _, rb := range readBacks {
			rbPath := "/api" + fixtures.Replace(rb.path)
			if st, res := serve(h, rb.method, rbPath, []byte(rb.body)); st >= 500 {
				t.Fatalf("after %s %s (%d), %s %s answered %d: %s\nbody: %.2000q\nlog: %s",
					method, path, status, rb.method, rbPath, st, res, body, errs.take())
			}
		}
		if logged := errs.take(); logged != "" {
			t.Fatalf("after %s %s (%d), reading back logged an error: %s\nbody: %.2000q", method, path, status, logged, body)
		}
	})
}

// readBacks read the fixtures and the newest rows of each kind; the fuzzer
// runs them after every accepted write.
var readBacks = []struct{ method, path, body string }{
	{"GET", "/flows/@flow@", ""},
	{"GET", "/flow_runs/@flow_run@", ""},
	{"GET", "/task_runs/@task_run@", ""},
	{"GET", "/deployments/@deployment@", ""},
	{"GET", "/deployments/@deployment@/schedules", ""},
	{"GET", "/work_pools/fuzz-pool", ""},
	{"GET", "/work_queues/@legacy_queue@", ""},
	{"GET", "/block_documents/@block_doc@", ""},
	{"GET", "/artifacts/@artifact@", ""},
	{"GET", "/variables/@variable@", ""},
	{"GET", "/automations/@automation@", ""},
	{"GET", "/automations/related-to/prefect.deployment.@deployment@", ""},
	{"POST", "/automations/filter", `{"sort":"CREATED_DESC","limit":5}`},
	{"POST", "/flows/filter", `{"sort":"CREATED_DESC","limit":5}`},
	{"POST", "/flow_runs/filter", `{"sort":"ID_DESC","limit":5}`},
	{"POST", "/task_runs/filter", `{"sort":"ID_DESC","limit":5}`},
	{"POST", "/logs/filter", `{"sort":"TIMESTAMP_DESC","limit":5}`},
	{"POST", "/deployments/filter", `{"sort":"CREATED_DESC","limit":5}`},
	{"POST", "/artifacts/filter", `{"sort":"ID_DESC","limit":5}`},
	{"POST", "/variables/filter", `{"sort":"CREATED_DESC","limit":5}`},
	{"POST", "/work_pools/filter", `{}`},
	{"POST", "/work_pools/fuzz-pool/queues/filter", `{}`},
	{"POST", "/work_queues/filter", `{}`},
	{"POST", "/work_pools/fuzz-pool/workers/filter", `{}`},
	{"POST", "/block_types/filter", `{}`},
	{"POST", "/block_schemas/filter", `{}`},
	{"POST", "/block_documents/filter", `{"limit":5}`},
	{"POST", "/v2/concurrency_limits/filter", `{}`},
	{"POST", "/concurrency_limits/filter", `{}`},
}

// isQuery reports whether a route only reads.
func isQuery(pattern string) bool {
	for _, s := range []string{"/filter", "/count", "/paginate"} {
		if strings.Contains(pattern, s) {
			return true
		}
	}
	return false
}

// TestFuzzRoutesCoverRouteTable fails when routes.go gains (or loses) a
// route that reads a body and bodyRoutes does not follow.
func TestFuzzRoutesCoverRouteTable(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("routes.go")
	require.NoError(t, err)
	var table, fuzzed []string
	for _, m := range regexp.MustCompile(`route\("((?:POST|PATCH|PUT) [^"]+)"`).FindAllSubmatch(src, -1) {
		table = append(table, string(m[1]))
	}
	for _, r := range bodyRoutes {
		fuzzed = append(fuzzed, r.pattern)
	}
	require.NotEmpty(t, table)
	slices.Sort(table)
	require.Equal(t, table, slices.Compact(slices.Sorted(slices.Values(fuzzed))))
}

func pickRoute(route string) (r struct{ pattern, path, seed string }) {
	for _, r := range bodyRoutes {
		if r.pattern == route || r.path == route {
			return r
		}
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(route))
	return bodyRoutes[h.Sum32()%uint32(len(bodyRoutes))]
}

// newFuzzServer assembles the server as the serve command does, over SQLite
// in a temporary directory, and creates one of each object the routes name.
func newFuzzServer(f *testing.F) (http.Handler, *strings.Replacer, *errorLog) {
	st := storetest.NewSQLite(f)
	s := quietSettings()
	errs := &errorLog{}
	app := server.New(s, st, slog.New(slog.NewTextHandler(errs, &slog.HandlerOptions{Level: slog.LevelError})))
	require.NoError(f, app.Start(context.Background()))
	f.Cleanup(app.Stop)
	h := app.Handler

	create := func(method, path, body, key string) string {
		f.Helper()
		status, res := serve(h, method, "/api"+path, []byte(body))
		require.Less(f, status, 300, "%s %s: %s", method, path, res)
		if key == "" {
			return ""
		}
		var obj map[string]any
		require.NoError(f, json.Unmarshal(res, &obj), "%s", res)
		id, ok := obj[key].(string)
		require.True(f, ok, "%s %s: no %q in %s", method, path, key, res)
		return id
	}
	ids := map[string]string{}
	ids["flow"] = create("POST", "/flows", `{"name":"fuzz-flow"}`, "id")
	create("POST", "/work_pools", `{"name":"fuzz-pool","type":"process"}`, "")
	create("POST", "/work_pools/fuzz-pool/queues", `{"name":"fuzz-queue"}`, "")
	status, res := serve(h, "POST", "/api/deployments", []byte(`{"flow_id":"`+ids["flow"]+`","name":"fuzz-deployment","work_pool_name":"fuzz-pool",
		"parameter_openapi_schema":{"type":"object","properties":{"x":{"type":"integer"}}},
		"schedules":[{"schedule":{"interval":3600,"anchor_date":"2026-01-01T00:00:00Z"},"active":true}]}`))
	require.Equal(f, http.StatusCreated, status, "%s", res)
	var dep struct {
		ID        string `json:"id"`
		Schedules []struct {
			ID string `json:"id"`
		} `json:"schedules"`
	}
	require.NoError(f, json.Unmarshal(res, &dep))
	require.Len(f, dep.Schedules, 1)
	ids["deployment"], ids["schedule"] = dep.ID, dep.Schedules[0].ID
	ids["flow_run"] = create("POST", "/flow_runs", `{"flow_id":"`+ids["flow"]+`","deployment_id":"`+dep.ID+`","state":{"type":"PENDING"}}`, "id")
	ids["task_run"] = create("POST", "/task_runs", `{"flow_run_id":"`+ids["flow_run"]+`","task_key":"k","dynamic_key":"0","state":{"type":"PENDING"}}`, "id")
	ids["legacy_queue"] = create("POST", "/work_queues", `{"name":"fuzz-legacy"}`, "id")
	ids["variable"] = create("POST", "/variables", `{"name":"fuzz_var","value":1}`, "id")
	ids["automation"] = create("POST", "/automations", `{"name":"fuzz-automation","trigger":{"type":"event","posture":"Reactive"},"actions":[{"type":"do-nothing"}]}`, "id")
	create("POST", "/v2/concurrency_limits", `{"name":"fuzz-limit","limit":1000000}`, "")
	ids["lease"] = create("POST", "/v2/concurrency_limits/increment-with-lease", `{"names":["fuzz-limit"],"slots":1,"mode":"concurrency","lease_duration":86400}`, "lease_id")
	create("POST", "/concurrency_limits", `{"tag":"fuzz-tag","concurrency_limit":1000000}`, "")
	ids["block_type"] = create("POST", "/block_types", `{"name":"Fuzz Block","slug":"fuzz-block"}`, "id")
	ids["block_schema"] = create("POST", "/block_schemas", `{"block_type_id":"`+ids["block_type"]+`","capabilities":[],"fields":{"title":"Fuzz","type":"object","properties":{"value":{"title":"Value","type":"string","format":"password","writeOnly":true}},"secret_fields":["value"],"block_schema_references":{}}}`, "id")
	ids["block_doc"] = create("POST", "/block_documents", `{"name":"fuzz-doc","block_type_id":"`+ids["block_type"]+`","block_schema_id":"`+ids["block_schema"]+`","data":{"value":"s"}}`, "id")
	ids["artifact"] = create("POST", "/artifacts", `{"key":"fuzz-key","type":"markdown","data":"x","flow_run_id":"`+ids["flow_run"]+`"}`, "id")
	require.Empty(f, errs.take())

	var pairs []string
	for name, id := range ids {
		pairs = append(pairs, "@"+name+"@", id)
	}
	return h, strings.NewReplacer(pairs...), errs
}

// serve sends one request straight to the handler, as the HTTP server would,
// cancelling its context when the handler returns (which rolls back what a
// panicking handler left open).
func serve(h http.Handler, method, path string, body []byte) (int, []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// errorLog collects what the server logs at ERROR: a failed request, or a
// background writer (the event persister) that could not store an input.
type errorLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *errorLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *errorLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
}
