//go:build browser

package browser

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
)

// quietFor is how long a page's network must stay idle before it counts as settled.
const quietFor = 750 * time.Millisecond

// call is one request a page made, as the browser saw it.
type call struct {
	page     string // ui/page
	method   string
	url      string
	status   int64  // 0 while unanswered, or when the request failed
	failure  string // the browser's error, for a request that failed
	canceled bool   // the page gave up on it (navigation, an aborted fetch): not the server's doing
	socket   bool
	basic    bool // sent with an Authorization header (the UIs' login)
}

// message is a console error, an uncaught exception or a browser log error.
type message struct {
	kind string // console.error, exception, log
	text string
	url  string // where it came from, when the browser says
}

// recorder keeps what one tab does: its requests and its console errors. Its handle runs in
// chromedp's event loop, so it only appends under the lock.
type recorder struct {
	page   string
	origin string

	mu       sync.Mutex
	calls    []*call
	byID     map[network.RequestID]*call
	inflight map[network.RequestID]bool
	lastSeen time.Time
	messages []message
}

func newRecorder(page, origin string) *recorder {
	return &recorder{page: page, origin: origin, byID: map[network.RequestID]*call{},
		inflight: map[network.RequestID]bool{}, lastSeen: time.Now()}
}

func (r *recorder) handle(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if !strings.HasPrefix(e.Request.URL, "http") { // data: URLs
			return
		}
		// A redirect reuses the id: the hop that answered 3xx is a call of its own.
		if prev := r.byID[e.RequestID]; prev != nil && e.RedirectResponse != nil {
			prev.status = e.RedirectResponse.Status
		}
		_, basic := e.Request.Headers["Authorization"]
		c := &call{page: r.page, method: e.Request.Method, url: e.Request.URL, basic: basic}
		r.calls = append(r.calls, c)
		r.byID[e.RequestID] = c
		r.inflight[e.RequestID] = true
		r.lastSeen = time.Now()
	case *network.EventResponseReceived:
		if c := r.byID[e.RequestID]; c != nil {
			c.status = e.Response.Status
		}
	case *network.EventLoadingFinished:
		r.done(e.RequestID)
	case *network.EventLoadingFailed:
		if c := r.byID[e.RequestID]; c != nil {
			c.failure, c.canceled = e.ErrorText, e.Canceled
		}
		r.done(e.RequestID)
	case *network.EventWebSocketCreated:
		c := &call{page: r.page, method: "GET", url: e.URL, socket: true}
		r.calls = append(r.calls, c)
		r.byID[e.RequestID] = c
	case *network.EventWebSocketHandshakeResponseReceived:
		if c := r.byID[e.RequestID]; c != nil {
			c.status = e.Response.Status
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			r.messages = append(r.messages, message{kind: "console." + string(e.Type), text: argsText(e.Args), url: stackURL(e.StackTrace)})
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			desc, _, _ := strings.Cut(d.Exception.Description, "\n    at ")
			text += " " + desc
		}
		u := d.URL
		if u == "" {
			u = stackURL(d.StackTrace)
		}
		r.messages = append(r.messages, message{kind: "exception", text: text, url: u})
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			u := e.Entry.URL
			if u == "" {
				u = stackURL(e.Entry.StackTrace)
			}
			r.messages = append(r.messages, message{kind: "log." + string(e.Entry.Source), text: e.Entry.Text, url: u})
		}
	}
}

func (r *recorder) done(id network.RequestID) {
	delete(r.inflight, id)
	r.lastSeen = time.Now()
}

// waitQuiet returns once no request has been in flight for quietFor, counted from since at the
// earliest (a form may send its check of a typed name a moment after the typing), or with the
// requests still open when ctx ends.
func (r *recorder) waitQuiet(ctx context.Context, since time.Time) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r.mu.Lock()
		open := len(r.inflight)
		quiet := time.Since(maxTime(r.lastSeen, since))
		var urls []string
		for id := range r.inflight {
			urls = append(urls, r.byID[id].method+" "+r.byID[id].url)
		}
		r.mu.Unlock()
		if open == 0 && quiet >= quietFor {
			return nil
		}
		select {
		case <-ctx.Done():
			slices.Sort(urls)
			return fmt.Errorf("the network never went quiet; still in flight: %s", strings.Join(urls, ", "))
		case <-tick.C:
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// snapshot copies what was recorded so far.
func (r *recorder) snapshot() ([]call, []message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := make([]call, len(r.calls))
	for i, c := range r.calls {
		calls[i] = *c
	}
	return calls, slices.Clone(r.messages)
}

// answered says whether the tab has had an answer to METHOD /api<path>.
func (r *recorder) answered(method, path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		if c.method == method && c.status != 0 && apiPath(r.origin, c.url) == path {
			return true
		}
	}
	return false
}

// mark is a point in what a tab recorded: how many calls and messages came before it.
type mark struct{ calls, messages int }

func (r *recorder) mark() mark {
	r.mu.Lock()
	defer r.mu.Unlock()
	return mark{len(r.calls), len(r.messages)}
}

// sameOrigin says whether u is on the server's origin (the UIs and the API share it).
func sameOrigin(origin, u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	return p.Scheme+"://"+p.Host == origin || (p.Scheme == "ws" && "http://"+p.Host == origin)
}

// apiPath is the path of u under /api on the server's origin, or "" for anything else.
func apiPath(origin, u string) string {
	if !sameOrigin(origin, u) {
		return ""
	}
	p, _ := url.Parse(u)
	if rest, ok := strings.CutPrefix(p.Path, "/api/"); ok {
		return "/" + rest
	}
	return ""
}

func host(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Host
}

// knownMisses are files both UIs ask the server for that Prefect's own server does not have
// either (it answers 404): index.html's /favicon.ico, the v1 UI's state favicon before the
// state is known (/ico/undefined.svg) and the v2 UI's state favicons, which it asks for at the
// root rather than under /v2. They are the UIs' doing, so they are not failures.
var knownMisses = regexp.MustCompile(`^/(favicon\.ico|ico/undefined\.svg|(cancelled|completed|crashed|failed|pending|running|scheduled|paused|late)\.svg)$`)

func knownMiss(u string) bool {
	p, err := url.Parse(u)
	return err == nil && knownMisses.MatchString(p.Path)
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			parts = append(parts, strings.Trim(string(a.Value), `"`))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

func stackURL(st *runtime.StackTrace) string {
	if st == nil || len(st.CallFrames) == 0 {
		return ""
	}
	return st.CallFrames[0].URL
}
