// Package prefectapi is the operator's client of a Prefect server's REST
// API: the few routes the work-plane controllers call, with Prefect's error
// bodies turned into errors that say whether to retry.
package prefectapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls one server's API. BaseURL ends in /api; Auth, when set, is
// "user:password" for basic auth.
type Client struct {
	BaseURL string
	Auth    string
	HTTP    *http.Client
}

// New returns a client with a bounded request time.
func New(baseURL, auth string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Auth: auth,
		HTTP: &http.Client{Timeout: 30 * time.Second, Transport: transport}}
}

// transport opens a connection for each request. A connection made to a
// new Service before its routing is in place goes wherever the node's
// default route leads (on a sandboxed node, a proxy that answers 404 to
// everything), and a kept-alive one would carry every later call there:
// the operator calls each server a few times a minute, so new connections
// cost nothing that matters.
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableKeepAlives = true
	return t
}()

// Error is an answer of the server that is not a success.
type Error struct {
	Status int
	Detail string
}

func (e *Error) Error() string {
	return fmt.Sprintf("the Prefect API answered %d: %s", e.Status, e.Detail)
}

// IsNotFound says err is the server's 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsUnauthorized says the server refused the credentials.
func IsUnauthorized(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// IsInvalid says the server refused what was sent (4xx other than 401, 403
// and 404): retrying it unchanged will not help.
func IsInvalid(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status >= 400 && e.Status < 500 && !IsNotFound(err) && !IsUnauthorized(err)
}

// do sends one request and decodes a success into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Auth != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.Auth)))
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		return &Error{Status: res.StatusCode, Detail: detailOf(raw)}
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// detailOf is the message of a Prefect error body, or the body itself.
func detailOf(raw []byte) string {
	var body struct {
		Detail           any    `json:"detail"`
		ExceptionMessage string `json:"exception_message"`
		ExceptionDetail  any    `json:"exception_detail"`
	}
	if json.Unmarshal(raw, &body) == nil {
		switch {
		case body.Detail != nil:
			return fmt.Sprint(body.Detail)
		case body.ExceptionDetail != nil:
			d, _ := json.Marshal(body.ExceptionDetail)
			return body.ExceptionMessage + " " + string(d)
		case body.ExceptionMessage != "":
			return body.ExceptionMessage
		}
	}
	if len(raw) > 500 {
		raw = raw[:500]
	}
	return strings.TrimSpace(string(raw))
}
