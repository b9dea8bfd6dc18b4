package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"prefectgo.dev/prefectgo/server/automations"
)

// block is a block document as the API answers it, secrets included.
type block struct {
	Name      string         `json:"name"`
	Data      map[string]any `json:"data"`
	BlockType struct {
		Slug string `json:"slug"`
	} `json:"block_type"`
	BlockSchema struct {
		Capabilities []string `json:"capabilities"`
	} `json:"block_schema"`
}

// readBlock reads the action's block and relates it and its type.
func (a *Actor) readBlock(ctx context.Context, ta automations.TriggeredAction, out *outcome, what string) (block, error) {
	id := ta.Action.BlockDocumentID.String()
	status, body := a.call(ctx, ta, http.MethodGet, "/block_documents/"+id+"?include_secrets=true", nil)
	if status >= 300 {
		return block{}, fail("%s", reasonFrom(ta.Action.Type, status, body))
	}
	var b block
	if err := json.Unmarshal(body, &b); err != nil {
		return block{}, fail("The %s block was invalid: %v", what, err)
	}
	out.relate("prefect.resource.id", "prefect.block-document."+id, "prefect.resource.role", "block", "prefect.resource.name", b.Name)
	out.relate("prefect.resource.id", "prefect.block-type."+b.BlockType.Slug, "prefect.resource.role", "block-type")
	return b, nil
}

// secret reads a block field that may be a plain or a secret string.
func str(v any) string {
	s, _ := v.(string)
	return s
}

// callWebhook renders the payload and calls the Webhook block's URL with it.
func (a *Actor) callWebhook(ctx context.Context, ta automations.TriggeredAction, out *outcome) error {
	b, err := a.readBlock(ctx, ta, out, "webhook")
	if err != nil {
		return err
	}
	if b.BlockType.Slug != "webhook" {
		return fail("The referenced block was not a webhook block")
	}
	payload, err := a.render(ctx, ta, out, ta.Action.Payload)
	if err != nil {
		return err
	}
	method := str(b.Data["method"])
	if method == "" {
		method = http.MethodPost
	}
	headers := map[string]string{}
	if h, ok := b.Data["headers"].(map[string]any); ok {
		for k, v := range h {
			headers[k] = fmt.Sprint(v)
		}
	}
	private, _ := b.Data["allow_private_urls"].(bool)
	res, err := a.send(ctx, method, str(b.Data["url"]), headers, []byte(payload[0]), private)
	if err != nil {
		return fail("Webhook call failed: %v", err)
	}
	out.details["status_code"] = res.status
	out.details["response_body"] = truncated(res.body, 1000)
	out.details["response_headers"] = res.headers
	return nil
}

// sendNotification renders the subject and body and sends them through
// the notification block: Slack webhooks and custom webhooks are sent
// here; other kinds are refused with the reason.
func (a *Actor) sendNotification(ctx context.Context, ta automations.TriggeredAction, out *outcome) error {
	b, err := a.readBlock(ctx, ta, out, "notification")
	if err != nil {
		return err
	}
	notify := false
	for _, c := range b.BlockSchema.Capabilities {
		notify = notify || c == "notify"
	}
	if !notify {
		return fail("The referenced block was not a notification block")
	}
	texts, err := a.render(ctx, ta, out, ta.Action.Subject, ta.Action.Body)
	if err != nil {
		return err
	}
	subject, body := texts[0], texts[1]
	var res response
	switch b.BlockType.Slug {
	case "slack-webhook":
		msg := body
		if subject != "" {
			msg = subject + "\n" + body
		}
		res, err = a.send(ctx, http.MethodPost, str(b.Data["url"]), map[string]string{"Content-Type": "application/json"},
			mustJSON(map[string]any{"text": msg}), false)
	case "custom-webhook":
		res, err = a.customWebhook(ctx, b, subject, body)
	default:
		return fail("Notification failed: this server cannot send through %q blocks (Slack and custom webhooks only)", b.BlockType.Slug)
	}
	if err == nil && res.status >= 300 {
		err = fmt.Errorf("the webhook answered %d: %s", res.status, truncated(res.body, 200))
	}
	if err != nil {
		out.details["notification_log"] = err.Error()
		return fail("Notification failed")
	}
	return nil
}

// customWebhook fills {{subject}}, {{body}}, {{name}} and the block's
// secrets into every string of the request, as Prefect's
// CustomWebhookNotificationBlock does.
func (a *Actor) customWebhook(ctx context.Context, b block, subject, body string) (response, error) {
	values := map[string]string{"subject": subject, "body": body, "name": b.Name}
	if s, ok := b.Data["secrets"].(map[string]any); ok {
		for k, v := range s {
			values[k] = fmt.Sprint(v)
		}
	}
	fill := func(v any) any { return applyValues(v, values) }
	target := str(fill(b.Data["url"]))
	if params, ok := fill(b.Data["params"]).(map[string]any); ok && len(params) > 0 {
		u, err := url.Parse(target)
		if err != nil {
			return response{}, err
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, fmt.Sprint(v))
		}
		u.RawQuery = q.Encode()
		target = u.String()
	}
	headers := map[string]string{}
	if h, ok := fill(b.Data["headers"]).(map[string]any); ok {
		for k, v := range h {
			headers[k] = fmt.Sprint(v)
		}
	}
	var payload []byte
	switch form := fill(b.Data["form_data"]).(type) {
	case string:
		payload = []byte(form)
	case map[string]any:
		vals := url.Values{}
		for k, v := range form {
			vals.Set(k, fmt.Sprint(v))
		}
		payload = []byte(vals.Encode())
		headers["Content-Type"] = "application/x-www-form-urlencoded"
	}
	if js := fill(b.Data["json_data"]); js != nil {
		payload = mustJSON(js)
		headers["Content-Type"] = "application/json"
	}
	method := str(b.Data["method"])
	if method == "" {
		method = http.MethodPost
	}
	private := true // the block's default
	if p, ok := b.Data["allow_private_urls"].(bool); ok {
		private = p
	}
	return a.send(ctx, method, target, headers, payload, private)
}

// applyValues replaces {{key}} in every string of v.
func applyValues(v any, values map[string]string) any {
	switch x := v.(type) {
	case string:
		for k, val := range values {
			x = strings.ReplaceAll(x, "{{"+k+"}}", val)
		}
		return x
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = applyValues(e, values)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = applyValues(e, values)
		}
		return out
	}
	return v
}

// response is what a webhook answered.
type response struct {
	status  int
	body    string
	headers map[string]string
}

// sendAttempts is how many times a delivery is tried when the network
// fails or the far end answers 5xx or 429.
const sendAttempts = 3

// send makes the request, retried with backoff. A URL that resolves to a
// private, loopback or link-local address is refused unless allowed: a
// webhook must not become a way to reach inside the server's network.
func (a *Actor) send(ctx context.Context, method, target string, headers map[string]string, body []byte, allowPrivate bool) (response, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return response{}, fmt.Errorf("not an http(s) URL: %q", redactURL(target))
	}
	if !allowPrivate {
		if err := publicHost(ctx, u.Hostname()); err != nil {
			return response{}, err
		}
	}
	client := a.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	var last error
	for attempt := range sendAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return response{}, ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return response{}, err
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			last = err
			var ue *url.Error
			if errors.As(err, &ue) { // its URL may carry a token: name the host only
				last = fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
			}
			continue
		}
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		out := response{status: res.StatusCode, body: string(raw), headers: map[string]string{}}
		for k := range res.Header {
			if !sensitiveHeader(k) {
				out.headers[k] = res.Header.Get(k)
			}
		}
		if res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests {
			last = fmt.Errorf("the webhook answered %d", res.StatusCode)
			if attempt < sendAttempts-1 {
				continue
			}
		}
		return out, nil
	}
	return response{}, last
}

// publicHost refuses a host that is, or resolves to, an address inside a
// private network.
func publicHost(ctx context.Context, host string) error {
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		ip := a.IP
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
			return fmt.Errorf("%s resolves to a private address; set allow_private_urls on the block to call it", host)
		}
	}
	return nil
}

func sensitiveHeader(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "auth") || strings.Contains(k, "cookie") || strings.Contains(k, "token") ||
		strings.Contains(k, "secret") || strings.Contains(k, "key")
}

// redactURL keeps a URL's scheme and host only: the rest may hold a token.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host + "/..."
	}
	return "<url>"
}

func truncated(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
