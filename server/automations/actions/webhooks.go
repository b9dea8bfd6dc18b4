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
	"regexp"
	"strconv"
	"strings"
	"time"

	"prefectgo.dev/prefectgo/server/automations"
	"prefectgo.dev/prefectgo/server/templates"
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

// readBlock reads the action's block, with its secrets.
func (a *Actor) readBlock(ctx context.Context, ta automations.TriggeredAction, what string) (block, error) {
	id := ta.Action.BlockDocumentID.String()
	status, body := a.call(ctx, ta, http.MethodGet, "/block_documents/"+id+"?include_secrets=true", nil)
	if status >= 300 {
		return block{}, fail("%s", reasonFrom(ta.Action.Type, status, body))
	}
	var b block
	if err := json.Unmarshal(body, &b); err != nil {
		return block{}, fail("The %s block was invalid: %v", what, err)
	}
	return b, nil
}

// relateBlock names the block and its type among the action's resources,
// once it is known to be the kind the action needs, as Prefect does.
func relateBlock(ta automations.TriggeredAction, out *outcome, b block) {
	out.relate("prefect.resource.id", "prefect.block-document."+ta.Action.BlockDocumentID.String(), "prefect.resource.role", "block",
		"prefect.resource.name", b.Name)
	out.relate("prefect.resource.id", "prefect.block-type."+b.BlockType.Slug, "prefect.resource.role", "block-type")
}

// allowsPrivate is the block's allow_private_urls, true when unset as in
// Prefect's Webhook and notification blocks.
func allowsPrivate(b block) bool {
	p, set := b.Data["allow_private_urls"].(bool)
	return p || !set
}

// secret reads a block field that may be a plain or a secret string.
func str(v any) string {
	s, _ := v.(string)
	return s
}

// callWebhook renders the payload and calls the Webhook block's URL with it.
func (a *Actor) callWebhook(ctx context.Context, ta automations.TriggeredAction, out *outcome) error {
	b, err := a.readBlock(ctx, ta, "webhook")
	if err != nil {
		return err
	}
	if b.BlockType.Slug != "webhook" {
		return fail("The referenced block was not a webhook block")
	}
	relateBlock(ta, out, b)
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
	private := allowsPrivate(b)
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
	b, err := a.readBlock(ctx, ta, "notification")
	if err != nil {
		return err
	}
	if b.BlockType.Slug == "custom-webhook" {
		if err := checkCustomWebhook(b); err != nil {
			return err
		}
	}
	notify := false
	for _, c := range b.BlockSchema.Capabilities {
		notify = notify || c == "notify"
	}
	if !notify {
		return fail("The referenced block was not a notification block")
	}
	relateBlock(ta, out, b)
	texts, err := a.render(ctx, ta, out, ta.Action.Subject, ta.Action.Body)
	if err != nil {
		return err
	}
	subject, body := texts[0], texts[1]
	var res response
	switch b.BlockType.Slug {
	case "slack-webhook":
		notifyType, _ := b.Data["notify_type"].(string)
		msg, ok := slackMessage(subject, body, notifyType, a.now())
		if !ok {
			out.details["notification_log"] = "[WARNING]: No message body or attachment was specified."
			return fail("Notification failed")
		}
		res, err = a.send(ctx, http.MethodPost, str(b.Data["url"]), map[string]string{"User-Agent": slackAppID,
			"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}, msg, allowsPrivate(b))
		if err == nil && (res.status != http.StatusOK || res.body != "ok") {
			out.details["notification_log"] = slackFailure(res.status)
			return fail("Notification failed")
		}
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

// customWebhook sends the request a CustomWebhookNotificationBlock makes:
// {{subject}}, {{body}}, {{name}} and the block's secrets filled into its
// URL, query, form or JSON data, headers and cookies as Prefect's
// apply_values fills them. A block whose fields name anything else, or that
// has both form and JSON data, is refused as Prefect refuses to load it.
func (a *Actor) customWebhook(ctx context.Context, b block, subject, body string) (response, error) {
	values := customValues(b)
	values["subject"], values["body"] = subject, body
	fill := func(v any) any { return applyValues(v, values) }
	target := str(fill(b.Data["url"]))
	if params, ok := fill(b.Data["params"]).(map[string]any); ok {
		// The block's params replace the URL's query, as httpx does.
		u, err := url.Parse(target)
		if err != nil {
			return response{}, err
		}
		q := url.Values{}
		for k, v := range params {
			q.Set(k, pyStr(v))
		}
		u.RawQuery = q.Encode()
		target = u.String()
	}
	headers := map[string]string{"User-Agent": slackAppID, "Accept": "*/*"}
	if h, ok := fill(b.Data["headers"]).(map[string]any); ok {
		for k, v := range h {
			headers[k] = pyStr(v)
		}
	}
	if c, ok := fill(b.Data["cookies"]).(map[string]any); ok && len(c) > 0 {
		var cookies []string
		for k, v := range c {
			cookies = append(cookies, (&http.Cookie{Name: k, Value: pyStr(v)}).String())
		}
		headers["Cookie"] = strings.Join(cookies, "; ")
	}
	var payload []byte
	switch form := fill(b.Data["form_data"]).(type) {
	case string:
		payload = []byte(form)
	case map[string]any:
		vals := url.Values{}
		for k, v := range form {
			vals.Set(k, pyStr(v))
		}
		payload = []byte(vals.Encode())
		headers["Content-Type"] = "application/x-www-form-urlencoded"
	}
	if js := fill(b.Data["json_data"]); js != nil {
		// httpx writes JSON compactly, without escaping HTML or non-ASCII.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(js); err != nil {
			return response{}, err
		}
		payload = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		headers["Content-Type"] = "application/json"
	}
	method := str(b.Data["method"])
	if method == "" {
		method = http.MethodPost
	}
	return a.send(ctx, method, target, headers, payload, allowsPrivate(b))
}

// customValues are what a custom webhook's placeholders may name: its
// secrets, subject, body and name.
func customValues(b block) map[string]any {
	values := map[string]any{}
	if s, ok := b.Data["secrets"].(map[string]any); ok {
		for k, v := range s {
			values[k] = v
		}
	}
	values["subject"], values["body"], values["name"] = "", "", str(b.Data["name"])
	return values
}

// checkCustomWebhook refuses the block as Prefect refuses to load it: with
// both form and JSON data, or a placeholder naming none of its values.
func checkCustomWebhook(b block) error {
	if b.Data["form_data"] != nil && b.Data["json_data"] != nil {
		return fail("The notification block was invalid: 1 validation error for CustomWebhookNotificationBlock\n" +
			"  Value error, both `Form Data` and `JSON Data` provided")
	}
	values := customValues(b)
	for _, field := range []string{"url", "params", "form_data", "json_data", "headers", "cookies"} {
		for _, m := range placeholders(b.Data[field]) {
			if _, ok := values[m[1]]; !ok {
				p := fmt.Sprintf("Placeholder(full_match=%s, name=%s, type=<PlaceholderType.%s: '%s'>)",
					templates.StrRepr(m[0]), templates.StrRepr(m[1]), strings.ToUpper(placeholderType(m[1])), placeholderType(m[1]))
				return fail("The notification block was invalid: KeyError(%s)", templates.StrRepr(field+"/"+p))
			}
		}
	}
	return nil
}

// placeholderType is Prefect's PlaceholderType of a placeholder's name.
func placeholderType(name string) string {
	switch {
	case strings.HasPrefix(name, "prefect.blocks."):
		return "block_document"
	case strings.HasPrefix(name, "prefect.variables."):
		return "variable"
	case strings.HasPrefix(name, "$"):
		return "env_var"
	}
	return "standard"
}

// placeholder is Prefect's placeholder syntax: {{ name }}.
var placeholder = regexp.MustCompile(`(\{\{\s*([\w.\-\[\]$]+)\s*\}\})`)

// placeholders lists the placeholders in a value's strings: each its text
// and its name.
func placeholders(v any) [][2]string {
	var out [][2]string
	switch x := v.(type) {
	case string:
		for _, m := range placeholder.FindAllStringSubmatch(x, -1) {
			out = append(out, [2]string{m[1], m[2]})
		}
	case map[string]any:
		for _, e := range x {
			out = append(out, placeholders(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, placeholders(e)...)
		}
	}
	return out
}

// notSet is apply_values' NotSet: a placeholder without a value, whose
// key or item is dropped.
type notSet struct{}

// applyValues is Prefect's apply_values: a string that is one placeholder
// becomes its value (whatever its type); placeholders within text are
// replaced by their values' text ("" for one without a value).
func applyValues(v any, values map[string]any) any {
	switch x := v.(type) {
	case string:
		ms := placeholder.FindAllStringSubmatch(x, -1)
		if len(ms) == 0 {
			return x
		}
		if len(ms) == 1 && ms[0][1] == x && isStandard(ms[0][2]) {
			if value, ok := values[ms[0][2]]; ok {
				return value
			}
			return notSet{}
		}
		return placeholder.ReplaceAllStringFunc(x, func(m string) string {
			name := placeholder.FindStringSubmatch(m)[2]
			if !isStandard(name) {
				if strings.HasPrefix(name, "$") {
					return "" // an environment variable: never the server's
				}
				return m
			}
			if value, ok := values[name]; ok {
				return pyStr(value)
			}
			return ""
		})
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if r := applyValues(e, values); r != (notSet{}) {
				out[k] = r
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			if r := applyValues(e, values); r != (notSet{}) {
				out = append(out, r)
			}
		}
		return out
	}
	return v
}

// isStandard says a placeholder names a value (not a block, a variable or
// an environment variable).
func isStandard(name string) bool {
	return !strings.HasPrefix(name, "prefect.blocks.") && !strings.HasPrefix(name, "prefect.variables.") &&
		!strings.HasPrefix(name, "$")
}

// pyStr is Python's str() of a JSON value.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		if x == float64(int64(x)) && x < 1e16 && x > -1e16 {
			return strconv.FormatInt(int64(x), 10) // JSON read 1 as 1.0; Python keeps it 1
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
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
