package httpapi

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// interactivePageSize is Prefect's INTERACTIVE_PAGE_SIZE: the most events
// one /events/filter page returns.
const interactivePageSize = 50

type readEventsRequest struct {
	Filter *schema.EventFilter `json:"filter"`
	Limit  *int                `json:"limit"`
}

// EmbeddedBody marks readEventsRequest as FastAPI's body of several parameters.
func (readEventsRequest) EmbeddedBody() {}

// eventPage is Prefect's EventPage.
type eventPage struct {
	Events   []schema.Event `json:"events"`
	Total    int            `json:"total"`
	NextPage *string        `json:"next_page"`
}

// pageToken is what the next-page link carries, as Prefect's to_page_token.
type pageToken struct {
	Filter   schema.EventFilter `json:"filter"`
	Count    int                `json:"count"`
	PageSize int                `json:"page_size"`
	Offset   int                `json:"offset"`
}

// readEvents is POST /events/filter: the first page of matching events.
func (a *API) readEvents(r *http.Request, req *readEventsRequest) (response, error) {
	limit := interactivePageSize
	if req.Limit != nil {
		limit = *req.Limit
		if limit < 0 || limit > interactivePageSize {
			return response{}, invalid([]string{"body", "limit"},
				fmt.Sprintf("Input should be less than or equal to %d", interactivePageSize), "less_than_equal", nil)
		}
	}
	f := schema.EventFilter{}
	if req.Filter != nil {
		f = *req.Filter
	}
	f.Resolve(a.clock())
	total, err := a.store.CountEvents(r.Context(), store.EventFilter{Match: &f})
	if err != nil {
		return response{}, err
	}
	evs, err := a.store.QueryEvents(r.Context(), f, 0, limit)
	if err != nil {
		return response{}, err
	}
	return ok(eventPage{Events: evs, Total: total, NextPage: a.nextPageLink(r, f, total, limit, 0)}), nil
}

// readEventsPage is GET /events/filter/next?page-token=...
func (a *API) readEventsPage(r *http.Request, _ *none) (response, error) {
	raw := strings.ReplaceAll(r.URL.Query().Get("page-token"), " ", "+")
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(data) == 0 {
		return response{}, detail(http.StatusForbidden, "Forbidden")
	}
	var tok pageToken
	if json.Unmarshal(data, &tok) != nil || tok.PageSize <= 0 || tok.Offset < 0 {
		return response{}, detail(http.StatusForbidden, "Forbidden")
	}
	tok.Filter.Resolve(a.clock())
	evs, err := a.store.QueryEvents(r.Context(), tok.Filter, tok.Offset, tok.PageSize)
	if err != nil {
		return response{}, err
	}
	return ok(eventPage{Events: evs, Total: tok.Count,
		NextPage: a.nextPageLink(r, tok.Filter, tok.Count, tok.PageSize, tok.Offset)}), nil
}

func (a *API) nextPageLink(r *http.Request, f schema.EventFilter, count, pageSize, offset int) *string {
	if offset+pageSize >= count || pageSize == 0 {
		return nil
	}
	data, _ := json.Marshal(pageToken{Filter: f, Count: count, PageSize: pageSize, Offset: offset + pageSize})
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	link := scheme + "://" + r.Host + strings.TrimSuffix(a.settings.API.BasePath, "/") +
		"/events/filter/next?page-token=" + url.QueryEscape(base64.StdEncoding.EncodeToString(data))
	return &link
}

type countEventsRequest struct {
	Filter       *schema.EventFilter `json:"filter"`
	TimeUnit     *string             `json:"time_unit"`
	TimeInterval *float64            `json:"time_interval"`
}

// EmbeddedBody marks countEventsRequest as FastAPI's body of several parameters.
func (countEventsRequest) EmbeddedBody() {}

// eventCount is Prefect's EventCount.
type eventCount struct {
	Value     string    `json:"value"`
	Label     string    `json:"label"`
	Count     int       `json:"count"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`

	latest time.Time // of the event whose label is kept
}

// pivot is Prefect's PIVOT_DATETIME: time buckets are counted from it.
var pivot = time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)

const maxCountBuckets = 1000

var timeUnits = map[string]time.Duration{
	"week": 7 * 24 * time.Hour, "day": 24 * time.Hour, "hour": time.Hour, "minute": time.Minute, "second": time.Second,
}

// countEvents is POST /events/count-by/{countable}: day, time, event or
// resource, as Prefect's counting.py.
func (a *API) countEvents(r *http.Request, req *countEventsRequest) (response, error) {
	countable := r.PathValue("countable")
	switch countable {
	case "day", "time", "event", "resource":
	default:
		return response{}, invalid([]string{"path", "countable"},
			"Input should be 'day', 'time', 'event' or 'resource'", "enum", nil)
	}
	if req.Filter == nil {
		return response{}, invalid([]string{"body", "filter"}, "Field required", "missing", nil)
	}
	unitName := "day"
	if req.TimeUnit != nil {
		unitName = *req.TimeUnit
	}
	unit, known := timeUnits[unitName]
	if !known {
		return response{}, invalid([]string{"body", "time_unit"},
			"Input should be 'week', 'day', 'hour', 'minute' or 'second'", "enum", nil)
	}
	interval := 1.0
	if req.TimeInterval != nil {
		interval = *req.TimeInterval
		if interval < 0.01 {
			return response{}, invalid([]string{"body", "time_interval"}, "Input should be greater than or equal to 0.01", "greater_than_equal", nil)
		}
	}
	if countable == "day" {
		unitName, unit, interval = "day", 24*time.Hour, 1
	}
	now := a.clock()
	f := *req.Filter
	f.Resolve(now)
	since, until := f.Occurred.Since.Time, f.Occurred.Until.Time
	b, err := newBuckets(since, until, now, unitName, unit, interval)
	if err != nil {
		return response{}, err
	}
	timeBased := countable == "day" || countable == "time"
	groups := map[string]*eventCount{}
	err = a.store.ScanEventCounts(r.Context(), f, func(row store.EventCountRow) {
		var value, label string
		switch countable {
		case "event":
			value, label = row.Event, row.Event
		case "resource":
			value = row.ResourceID
			label = cmp.Or(row.Resource["prefect.resource.name"], row.Resource["prefect.name"], row.ResourceID)
		default:
			value = strconv.FormatInt(b.index(row.Occurred), 10)
		}
		g := groups[value]
		if g == nil {
			g = &eventCount{Value: value, Label: label, StartTime: row.Occurred, EndTime: row.Occurred, latest: row.Occurred}
			groups[value] = g
		}
		g.Count++
		if row.Occurred.Before(g.StartTime) {
			g.StartTime = row.Occurred
		}
		if row.Occurred.After(g.EndTime) {
			g.EndTime = row.Occurred
		}
		if !row.Occurred.Before(g.latest) {
			g.latest, g.Label = row.Occurred, label
		}
	})
	if err != nil {
		return response{}, err
	}
	if timeBased {
		return ok(b.counts(groups)), nil
	}
	out := make([]eventCount, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(x, y eventCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Label, y.Label), cmp.Compare(x.Value, y.Value))
	})
	return ok(out), nil
}

// buckets are the time spans of a count by day or time: Prefect's
// get_interval_spans. Times are counted in microseconds from the pivot, in
// int64, which holds ±292,000 years: neither the span length nor an index
// times it can overflow, as time.Duration (±292 years) would.
type buckets struct {
	delta       int64 // span length
	first, last int64 // indexes of the spans holding since and the end
}

func micros(t time.Time) int64      { return t.UnixMicro() - pivot.UnixMicro() }
func fromMicros(us int64) time.Time { return time.UnixMicro(pivot.UnixMicro() + us).UTC() }

// newBuckets checks a count's spans as Prefect's validate_buckets does (at
// most maxCountBuckets of them) and also that each span starts and ends
// within the datetimes a response can carry (years 1 to 9999), where Prefect
// fails with a 500. The spans run from the one holding since to the one
// holding until, or the end of the current unit when until is later.
func newBuckets(since, until, now time.Time, unitName string, unit time.Duration, interval float64) (buckets, error) {
	tooLong := detail(http.StatusUnprocessableEntity, fmt.Sprintf(
		"The given interval would create buckets outside the years 1 to 9999. Please reduce the interval (%g %ss) or move the time range.", interval, unitName))
	span := unit.Seconds() * 1e6 * interval
	if span > float64(micros(schema.MaxDateTime)-micros(schema.MinDateTime)) {
		return buckets{}, tooLong
	}
	b := buckets{delta: max(int64(math.Round(span)), 1)}
	if n := math.Ceil(float64(micros(until)-micros(since)) / float64(b.delta)); n > maxCountBuckets {
		return buckets{}, detail(http.StatusUnprocessableEntity, fmt.Sprintf(
			"The given interval would create %d buckets, which is too many. Please increase the interval or reduce the time range to produce %d buckets or fewer.",
			int(n), maxCountBuckets))
	}
	end := until
	if end.After(now) {
		end = endOf(now, unitName)
	}
	b.first, b.last = b.index(since), floorDiv(micros(end)-1, b.delta)
	if b.first <= b.last && (b.first*b.delta < micros(schema.MinDateTime) || (b.last+1)*b.delta-1 > micros(schema.MaxDateTime)) {
		return buckets{}, tooLong
	}
	return b, nil
}

// index is the number of the span holding t, counted from the pivot.
func (b buckets) index(t time.Time) int64 { return floorDiv(micros(t), b.delta) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// counts is Prefect's process_time_based_counts: every span, empty ones with
// count 0, values numbered from 0.
func (b buckets) counts(groups map[string]*eventCount) []eventCount {
	out := []eventCount{}
	for i := b.first; i <= b.last; i++ {
		start, next := fromMicros(i*b.delta), fromMicros((i+1)*b.delta)
		c := eventCount{Value: strconv.FormatInt(i-b.first, 10), Label: start.Format("2006-01-02T15:04:05-07:00"),
			StartTime: start, EndTime: next.Add(-time.Microsecond)}
		if g := groups[strconv.FormatInt(i, 10)]; g != nil {
			c.Count = g.Count
		}
		out = append(out, c)
	}
	return out
}

// endOf is pendulum's end_of(unit): the last microsecond of t's unit.
func endOf(t time.Time, unit string) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	var start time.Time
	var length time.Duration
	switch unit {
	case "week": // pendulum weeks start on Monday
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		length = 7 * 24 * time.Hour
	case "day":
		start, length = time.Date(y, m, d, 0, 0, 0, 0, time.UTC), 24*time.Hour
	case "hour":
		start, length = t.Truncate(time.Hour), time.Hour
	case "minute":
		start, length = t.Truncate(time.Minute), time.Minute
	default:
		start, length = t.Truncate(time.Second), time.Second
	}
	return start.Add(length - time.Microsecond)
}
