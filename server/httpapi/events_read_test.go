package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

func res(id string, labels ...string) map[string]string {
	r := map[string]string{"prefect.resource.id": id}
	for i := 0; i+1 < len(labels); i += 2 {
		r[labels[i]] = labels[i+1]
	}
	return r
}

// postEvents posts events and waits until they are all stored.
func (s *testServer) postEvents(t *testing.T, evs ...map[string]any) {
	t.Helper()
	requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/events", evs))
	s.sendMarker(t)
}

type page struct {
	Events   []schema.Event `json:"events"`
	Total    int            `json:"total"`
	NextPage *string        `json:"next_page"`
}

func decodePage(t *testing.T, r reply) page {
	t.Helper()
	requireStatus(t, http.StatusOK, r)
	var p page
	require.NoError(t, json.Unmarshal(r.Body, &p))
	return p
}

func TestEventsFilterSemantics(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		now := time.Now().UTC()
		at := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339Nano) }
		a := newEvent("sem.flow-run.Completed")
		a["occurred"] = at(3 * time.Minute)
		a["resource"] = res("prefect.flow-run.a", "prefect.resource.name", "alpha")
		a["related"] = []any{res("prefect.flow.f1", "prefect.resource.role", "flow", "prefect.resource.name", "myflow"),
			res("prefect.tag.x", "prefect.resource.role", "tag")}
		b := newEvent("sem.flow-run.Failed")
		b["occurred"] = at(2 * time.Minute)
		b["resource"] = res("prefect.flow-run.b", "prefect.resource.name", "beta")
		b["related"] = []any{res("prefect.flow.f2", "prefect.resource.role", "flow", "prefect.resource.name", "other")}
		c := newEvent("sem.task-run.Completed")
		c["occurred"] = at(time.Minute)
		c["resource"] = res("prefect.task-run.c", "prefect.resource.name", "Alpha%_")
		c["related"] = []any{res("prefect.flow-run.a", "prefect.resource.role", "flow-run")}
		d := newEvent("sem.custom")
		d["occurred"] = at(0)
		d["resource"] = res("my.thing", "color", "red")
		d["payload"] = map[string]any{"note": "Disk at 91%"}
		s.postEvents(t, a, b, c, d)
		names := map[string]string{a["id"].(string): "A", b["id"].(string): "B", c["id"].(string): "C", d["id"].(string): "D"}

		cases := []struct {
			name   string
			filter string
			want   string
		}{
			{"everything", `{}`, "ABCD"},
			{"prefix", `{"event":{"prefix":["sem.flow-run."]}}`, "AB"},
			{"exclude prefix", `{"event":{"exclude_prefix":["sem.flow-run."]}}`, "CD"},
			{"name", `{"event":{"name":["sem.custom"]}}`, "D"},
			{"exclude name", `{"event":{"exclude_name":["sem.custom","sem.flow-run.Failed"]}}`, "AC"},
			{"resource id", `{"resource":{"id":["prefect.flow-run.a"]}}`, "A"},
			{"resource id prefix", `{"resource":{"id_prefix":["prefect.task-run."]}}`, "C"},
			{"label wildcard is case-sensitive", `{"resource":{"labels":{"prefect.resource.name":"al*"}}}`, "A"},
			{"label negation needs the label", `{"resource":{"labels":{"prefect.resource.name":"!alpha"}}}`, "BC"},
			{"label any of", `{"resource":{"labels":{"color":["red","blue"]}}}`, "D"},
			{"label on id", `{"resource":{"labels":{"prefect.resource.id":"prefect.flow-run.*"}}}`, "AB"},
			{"label empty list", `{"resource":{"labels":{"color":[]}}}`, ""},
			{"related role", `{"related":{"role":["flow"]}}`, "AB"},
			{"related id", `{"related":{"id":["prefect.flow-run.a"]}}`, "C"},
			{"related in role", `{"related":{"resources_in_roles":[["prefect.flow.f1","flow"]]}}`, "A"},
			{"related label", `{"related":{"labels":{"prefect.resource.name":"myflow"}}}`, "A"},
			{"related role label", `{"related":{"labels":{"prefect.resource.role":"tag"}}}`, "A"},
			{"related list", `{"related":[{"role":["flow"]},{"labels":{"prefect.resource.name":"!myflow"}}]}`, "B"},
			{"related never the primary", `{"related":{"id":["prefect.flow-run.b"]}}`, ""},
			{"any resource id", `{"any_resource":{"id":["prefect.flow-run.a"]}}`, "AC"},
			{"any resource prefix", `{"any_resource":{"id_prefix":["prefect.flow."]}}`, "AB"},
			{"any resource negated id", `{"any_resource":{"labels":{"prefect.resource.id":"!prefect.*"}}}`, "D"},
			{"id", `{"id":{"id":["` + b["id"].(string) + `"]}}`, "B"},
			{"occurred", `{"occurred":{"since":"` + at(150*time.Second) + `","until":"` + at(30*time.Second) + `"}}`, "BC"},
			{"null text", `{"event":{"prefix":["sem.custom"]},"text":null}`, "D"},
			{"text any term", `{"text":{"query":"red beta"}}`, "BD"},
			{"text excluded term", `{"text":{"query":"sem -flow-run"}}`, "D"},
			{"text required terms, any case", `{"text":{"query":"+ALPHA +task"}}`, "C"},
			{"text phrase with LIKE characters", `{"text":{"query":"\"alpha%_\""}}`, "C"},
			{"text phrase in the payload", `{"text":{"query":"\"disk at 91\""}}`, "D"},
			{"text blank", `{"text":{"query":"  "}}`, "ABCD"},
			{"text lone prefix ignored", `{"text":{"query":"- custom"}}`, "D"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var f map[string]any
				require.NoError(t, json.Unmarshal([]byte(tc.filter), &f))
				p := decodePage(t, s.do(t, http.MethodPost, "/events/filter", map[string]any{"filter": f, "limit": 50}))
				got := ""
				for _, e := range p.Events {
					got += names[e.ID.String()]
				}
				// Newest first by default.
				want := []rune(tc.want)
				slices.Reverse(want)
				require.Equal(t, string(want), got, "SQL")

				// The in-memory test agrees with SQL on every stored event.
				var sf schema.EventFilter
				require.NoError(t, json.Unmarshal([]byte(tc.filter), &sf))
				sf.Resolve(time.Now())
				all := decodePage(t, s.do(t, http.MethodPost, "/events/filter", map[string]any{"filter": map[string]any{"order": "ASC"}}))
				mem := ""
				for _, e := range all.Events {
					if sf.Includes(e) {
						mem += names[e.ID.String()]
					}
				}
				require.Equal(t, tc.want, mem, "in memory")
			})
		}
	})
}

func TestEventsFilterPaging(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		var evs []map[string]any
		for i := range 7 {
			e := newEvent("page.event")
			e["occurred"] = time.Now().UTC().Add(time.Duration(i-10) * time.Second).Format(time.RFC3339Nano)
			evs = append(evs, e)
		}
		s.postEvents(t, evs...)
		filter := map[string]any{"event": map[string]any{"name": []string{"page.event"}}, "order": "ASC"}
		p := decodePage(t, s.do(t, http.MethodPost, "/events/filter", map[string]any{"filter": filter, "limit": 3}))
		require.Equal(t, 7, p.Total)
		var got []string
		for {
			for _, e := range p.Events {
				got = append(got, e.ID.String())
			}
			if p.NextPage == nil {
				break
			}
			require.True(t, strings.HasPrefix(*p.NextPage, s.URL+"/events/filter/next?page-token="), *p.NextPage)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, *p.NextPage, nil)
			require.NoError(t, err)
			p = decodePage(t, s.send(t, req))
			require.Equal(t, 7, p.Total)
		}
		var want []string
		for _, e := range evs {
			want = append(want, e["id"].(string))
		}
		require.Equal(t, want, got, "every event once, oldest first")

		requireStatus(t, http.StatusForbidden, s.do(t, http.MethodGet, "/events/filter/next?page-token=not-base64!", nil))
		requireValidationError(t, s.do(t, http.MethodPost, "/events/filter", map[string]any{"limit": 51}), "body", "limit")
		long := map[string]any{"filter": map[string]any{"text": map[string]any{"query": strings.Repeat("x", 201)}}}
		body := requireValidationError(t, s.do(t, http.MethodPost, "/events/filter", long))
		require.Contains(t, string(mustJSON(t, body)), "at most 200 characters")
		// No filter at all: Prefect's defaults, newest first.
		p = decodePage(t, s.do(t, http.MethodPost, "/events/filter", nil))
		require.GreaterOrEqual(t, p.Total, 7)
	})
}

type eventCount struct {
	Value     string    `json:"value"`
	Label     string    `json:"label"`
	Count     int       `json:"count"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
}

func TestEventsCountBy(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		mk := func(name, resource, label string) map[string]any {
			e := newEvent(name)
			e["resource"] = res(resource, "prefect.resource.name", label)
			return e
		}
		s.postEvents(t, mk("cnt.a", "r.1", "one"), mk("cnt.a", "r.1", "one"), mk("cnt.a", "r.2", "two"),
			mk("cnt.b", "r.2", "two"), mk("cnt.b", "r.3", "three"))
		count := func(by string, body map[string]any) []eventCount {
			t.Helper()
			r := s.do(t, http.MethodPost, "/events/count-by/"+by, body)
			requireStatus(t, http.StatusOK, r)
			var out []eventCount
			require.NoError(t, json.Unmarshal(r.Body, &out))
			return out
		}
		filter := map[string]any{"event": map[string]any{"prefix": []string{"cnt."}}}
		byEvent := count("event", map[string]any{"filter": filter})
		require.Len(t, byEvent, 2)
		require.Equal(t, []string{"cnt.a", "cnt.b"}, []string{byEvent[0].Value, byEvent[1].Value})
		require.Equal(t, []int{3, 2}, []int{byEvent[0].Count, byEvent[1].Count})
		require.Equal(t, "cnt.a", byEvent[0].Label)
		require.False(t, byEvent[0].StartTime.After(byEvent[0].EndTime))

		byResource := count("resource", map[string]any{"filter": filter})
		require.Len(t, byResource, 3)
		require.Equal(t, []string{"r.1", "r.2", "r.3"}, []string{byResource[0].Value, byResource[1].Value, byResource[2].Value},
			"count desc, then label asc (one < two)")
		require.Equal(t, "two", byResource[1].Label)

		today := time.Now().UTC().Truncate(24 * time.Hour)
		dayFilter := map[string]any{"event": filter["event"], "occurred": map[string]any{
			"since": today.AddDate(0, 0, -2).Format(time.RFC3339), "until": time.Now().UTC().Add(time.Minute).Format(time.RFC3339Nano)}}
		byDay := count("day", map[string]any{"filter": dayFilter})
		require.Len(t, byDay, 3)
		require.Equal(t, []string{"0", "1", "2"}, []string{byDay[0].Value, byDay[1].Value, byDay[2].Value})
		require.Equal(t, []int{0, 0, 5}, []int{byDay[0].Count, byDay[1].Count, byDay[2].Count})
		require.True(t, byDay[2].StartTime.Equal(today), "%v", byDay[2].StartTime)
		require.Equal(t, today.Format("2006-01-02T15:04:05")+"+00:00", byDay[2].Label)
		require.True(t, byDay[2].EndTime.Equal(today.Add(24*time.Hour-time.Microsecond)))

		byHour := count("time", map[string]any{"filter": dayFilter, "time_unit": "hour", "time_interval": 6})
		total := 0
		for _, c := range byHour {
			total += c.Count
		}
		require.Equal(t, 5, total)
		require.Equal(t, byHour[1].StartTime.Sub(byHour[0].StartTime), 6*time.Hour)

		// Too many buckets: 180 days of seconds.
		r := s.do(t, http.MethodPost, "/events/count-by/time", map[string]any{"filter": map[string]any{}, "time_unit": "second"})
		requireStatus(t, http.StatusUnprocessableEntity, r)
		require.Contains(t, string(r.Body), "too many")
		requireStatus(t, http.StatusUnprocessableEntity, s.do(t, http.MethodPost, "/events/count-by/flavour", map[string]any{"filter": filter}))
	})
}

// dialEventsOut opens /api/events/out and sends the filter message.
func dialEventsOut(t *testing.T, s *testServer, filter any, backfill bool) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/events/out",
		&websocket.DialOptions{Subprotocols: []string{"prefect"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(-1)
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":null}`)))
	_, msg, err := c.Read(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"auth_success"}`, string(msg))
	data, err := json.Marshal(map[string]any{"type": "filter", "filter": filter, "backfill": backfill})
	require.NoError(t, err)
	require.NoError(t, c.Write(ctx, websocket.MessageText, data))
	return c
}

func readOutEvent(t *testing.T, c *websocket.Conn) schema.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, data, err := c.Read(ctx)
	require.NoError(t, err)
	var msg struct {
		Type  string       `json:"type"`
		Event schema.Event `json:"event"`
	}
	require.NoError(t, json.Unmarshal(data, &msg))
	require.Equal(t, "event", msg.Type)
	return msg.Event
}

func TestEventsOutBackfillThenLive(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		old := newEvent("ws.old")
		old["occurred"] = time.Now().UTC().Add(-time.Hour).Format(time.RFC3339Nano) // past the 15 min backfill
		one := newEvent("ws.one")
		s.postEvents(t, old, one, newEvent("other.before"))
		filter := map[string]any{
			"event":    map[string]any{"prefix": []string{"ws."}},
			"occurred": map[string]any{"since": time.Now().UTC().Add(-2 * time.Hour), "until": time.Now().UTC().AddDate(1, 0, 0)},
		}
		c := dialEventsOut(t, s, filter, true)
		require.Equal(t, one["id"], readOutEvent(t, c).ID.String(), "backfill, clamped to 15 minutes")

		two, other, three := newEvent("ws.two"), newEvent("other.x"), newEvent("ws.three")
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/events", []any{two, other, three}))
		got := readOutEvent(t, c)
		require.Equal(t, two["id"], got.ID.String())
		require.False(t, got.Received.IsZero())
		require.Equal(t, three["id"], readOutEvent(t, c).ID.String(), "the filter is applied to live events")

		// Without backfill only live events come.
		c2 := dialEventsOut(t, s, filter, false)
		// The subscription starts once the filter is read; publish until one arrives.
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		got2 := make(chan schema.Event, 1)
		go func() {
			_, data, err := c2.Read(ctx)
			if err == nil {
				var msg struct {
					Event schema.Event `json:"event"`
				}
				_ = json.Unmarshal(data, &msg)
				got2 <- msg.Event
			}
		}()
		var posted []string
		var first schema.Event
	wait:
		for {
			e := newEvent("ws.live")
			posted = append(posted, e["id"].(string))
			requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/events", []any{e}))
			select {
			case first = <-got2:
				break wait
			case <-ctx.Done():
				t.Fatal("no live event on the socket without backfill")
			case <-time.After(100 * time.Millisecond):
			}
		}
		require.Contains(t, posted, first.ID.String())
		require.Equal(t, posted[0], readOutEvent(t, c).ID.String())
	})
}

func TestEventsOutSlowSubscriberDoesNotStall(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		slow := dialEventsOut(t, s, map[string]any{"occurred": map[string]any{"until": time.Now().AddDate(1, 0, 0)}}, false)
		time.Sleep(100 * time.Millisecond) // let the server subscribe
		blob := strings.Repeat("x", 16<<10)
		start := time.Now()
		for range 30 {
			batch := make([]any, 100)
			for i := range batch {
				e := newEvent("slow.event")
				e["payload"] = map[string]any{"blob": blob}
				batch[i] = e
			}
			requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/events", batch))
		}
		s.sendMarker(t)
		require.Less(t, time.Since(start), waitTimeout, "publishing went on while a subscriber read nothing")

		// The slow subscriber is cut off after what it was sent: with 1013,
		// or, when its full TCP window left no room for the close frame
		// before the write deadline, by the connection ending.
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		for {
			_, _, err := slow.Read(ctx)
			if err != nil {
				require.NoError(t, ctx.Err(), "the slow subscriber was never cut off")
				if code := websocket.CloseStatus(err); code != -1 {
					require.Equal(t, websocket.StatusTryAgainLater, code, "%v", err)
				}
				break
			}
		}
	})
}

func TestEventsOutDisabled(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open, func(s *settings.Settings) { s.Events.StreamOutEnabled = false })
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		_, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/events/out",
			&websocket.DialOptions{Subprotocols: []string{"prefect"}})
		require.Error(t, err)
		require.Equal(t, http.StatusNotFound, res.StatusCode)
	})
}

func TestEventsOutBadFilter(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		c := dialEventsOut(t, s, map[string]any{"id": map[string]any{"id": []string{"not-a-uuid"}}}, true)
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		_, _, err := c.Read(ctx)
		require.Equal(t, websocket.StatusProtocolError, websocket.CloseStatus(err), "%v", err)
	})
}
