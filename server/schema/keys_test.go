package schema

import (
	"encoding/json"
	"slices"
	"testing"
)

type keysInner struct {
	A int `json:"a"`
}

type keysOpen struct {
	B int `json:"b"`
}

func (keysOpen) IgnoresUnknownKeys() {}

type keysBody struct {
	Page
	Inner  *keysInner           `json:"inner"`
	List   []keysInner          `json:"list"`
	ByName map[string]keysInner `json:"by_name"`
	Free   map[string]any       `json:"free"`
	Raw    json.RawMessage      `json:"raw"`
	Open   keysOpen             `json:"open"`
	Opt    Optional[keysInner]  `json:"opt"`
	Many   OneOrMany[keysInner] `json:"many"`
	Self   *keysBody            `json:"self"`
	At     []DateTime           `json:"at"`
	_      *keysInner           `ignored:"later"`
	Skip   string               `json:"-"`
}

func TestUnknownKey(t *testing.T) {
	cases := []struct {
		body string
		want []string
	}{
		{`{}`, nil},
		{`{"limit": 1, "inner": {"a": 1}, "list": [{"a": 1}, {"a": 2}]}`, nil},
		{`{"zzz": {"b": 1}, "inner": {"a": 1}}`, nil}, // embedded: the top level is open
		{`{"inner": {"a": 1, "b": 2}}`, []string{"inner", "b"}},
		{`{"list": [{"a": 1}, {"x": 2}]}`, []string{"list", "1", "x"}},
		{`{"by_name": {"any": {"a": 1}, "other": {"y": 1}}}`, []string{"by_name", "other", "y"}},
		{`{"free": {"x": {"y": [1, {"z": "}"}]}}, "raw": {"q": [{"w": null}]}, "inner": {"c": 1}}`, []string{"inner", "c"}},
		{`{"open": {"b": 1, "future": {"x": 1}}}`, nil},
		{`{"opt": {"a": 1}}`, nil},
		{`{"opt": {"zz": 1}}`, []string{"opt", "zz"}},
		{`{"many": {"a": 1}}`, nil},
		{`{"many": {"q": 1}}`, []string{"many", "q"}},
		{`{"many": [{"a": 1}, {"q": 1}]}`, []string{"many", "1", "q"}},
		{`{"self": {"self": {"inner": {"d": 1}}}}`, []string{"self", "self", "inner", "d"}},
		{`{"later": {"a": 1}}`, nil},
		{`{"later": {"e": 1}}`, []string{"later", "e"}},
		{`{"Skip": "x"}`, nil},
		{`{"inner": {"\u0061": 1, "\"q\\\"": 2}}`, []string{"inner", `"q\"`}},
		{`{"inner": {"A": 1}}`, []string{"inner", "A"}}, // case-sensitive, unlike encoding/json
		{`{"free": "a \" { [ string", "inner": {"f": 1}}`, []string{"inner", "f"}},
		{` { "inner" : { "a" : 1 } , "list" : [ ] } `, nil},
	}
	for _, tc := range cases {
		if !json.Valid([]byte(tc.body)) {
			t.Fatalf("invalid test body %s", tc.body)
		}
		if got := UnknownKey(new(keysBody), []byte(tc.body)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestDecodeErrorPath(t *testing.T) {
	cases := []struct {
		body string
		want []string
	}{
		{`{"limit": "x"}`, []string{"limit"}},
		{`{"inner": "x"}`, []string{"inner"}},
		{`{"inner": {"a": "x"}}`, []string{"inner", "a"}},
		{`{"list": [{"a": 1}, {"a": true}]}`, []string{"list", "1", "a"}},
		{`{"by_name": {"k": {"a": []}}}`, []string{"by_name", "k", "a"}},
		{`{"opt": {"a": "x"}}`, []string{"opt", "a"}},
		{`{"many": {"a": "x"}}`, []string{"many", "a"}},
		{`{"many": [{"a": 1}, {"a": "x"}]}`, []string{"many", "1", "a"}},
		{`{"self": {"self": {"inner": {"a": {}}}}}`, []string{"self", "self", "inner", "a"}},
		{`{"free": {"x": 1}, "zzz": 1, "inner": {"a": 1.5}}`, []string{"inner", "a"}},
		{`{"at": ["2024-01-01T00:00:00Z", "soon"]}`, []string{"at", "1"}},
		{` { "inner" : { "a" : 1 } , "list" : [ { "a" : 1 } , { "a" : "" } ] } `, []string{"list", "1", "a"}},
		{`[1]`, []string{}}, // the top level is the wrong kind
	}
	for _, tc := range cases {
		if err := json.Unmarshal([]byte(tc.body), new(keysBody)); err == nil {
			t.Fatalf("test body %s decodes", tc.body)
		}
		if got := DecodeErrorPath(new(keysBody), []byte(tc.body)); !slices.Equal(got, tc.want) || got == nil {
			t.Errorf("%s: got %q, want %q", tc.body, got, tc.want)
		}
	}
}

// BenchmarkUnknownKey measures the check on a flow-run create body as the
// Prefect client sends it, the hottest write.
func BenchmarkUnknownKey(b *testing.B) {
	body := []byte(`{"flow_id":"0194d7a7-6f7e-7c4d-8d6a-2a3d3f5b6c7d","name":"olive-wombat","parameters":{"x":1,"y":[1,2,3],"nested":{"a":"b"}},"context":{},"parent_task_run_id":null,"tags":["a","b"],"labels":{},"idempotency_key":null,"empirical_policy":{"max_retries":0,"retry_delay_seconds":0.0,"retries":0,"retry_delay":0,"pause_keys":[],"resuming":false,"retry_type":null},"state":{"type":"PENDING","name":"Pending","message":null,"state_details":{"flow_run_id":null,"task_run_id":null,"child_flow_run_id":null,"scheduled_time":null,"cache_key":null,"cache_expiration":null,"deferred":false,"untrackable_result":false,"pause_timeout":null,"pause_reschedule":false,"pause_key":null,"run_input_keyset":null,"refresh_cache":null,"retriable":null,"transition_id":null,"task_parameters_id":null,"traceparent":null},"data":null},"work_pool_name":null,"work_queue_name":null,"job_variables":null}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if loc := UnknownKey(new(FlowRunCreate), body); loc != nil {
			b.Fatal(loc)
		}
	}
}
