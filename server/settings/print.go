package settings

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

// Print writes every effective value as ENV=value, one per line in table
// order, with secrets shown as ******** when set (for the database URL only
// its password). The output is valid input for Load, secrets aside.
func Print(w io.Writer, s Settings) error {
	bw := bufio.NewWriter(w)
	for _, st := range table {
		fmt.Fprintf(bw, "%s=%s\n", st.Env, st.Redacted(s))
	}
	return bw.Flush()
}

// Redacted is Value with the secret part of a set secret hidden.
func (st Setting) Redacted(s Settings) string {
	v := st.Value(s)
	if !st.Secret || v == "" {
		return v
	}
	if st.redact != nil {
		return st.redact(v)
	}
	return redacted
}

// redactURL hides the password in the userinfo or a password query
// parameter, keeping the rest of the URL readable for debugging. A value that
// does not parse is hidden whole, since we cannot tell where the secret is.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	// A placeholder survives URL escaping, which would turn * into %2A.
	const placeholder = "REDACTEDPASSWORD"
	changed := false
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), placeholder)
		changed = true
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q.Set(k, placeholder)
			changed = true
		}
	}
	if !changed {
		return raw
	}
	u.RawQuery = q.Encode()
	return strings.ReplaceAll(u.String(), placeholder, redacted)
}

// MarkdownReference renders the table as Markdown, one section per group,
// for the generated settings reference in the docs.
func MarkdownReference() string {
	var b strings.Builder
	b.WriteString("<!-- Generated from server/settings; do not edit. -->\n\n")
	b.WriteString("# Server settings\n\n")
	b.WriteString("Set each one as an environment variable. Aliases are the legacy names Prefect still accepts; ")
	b.WriteString("the first variable listed wins. Durations are ISO 8601 (`PT15S`, `P7D`) or seconds (`5`, `2.5`); ")
	b.WriteString("sizes are bytes (`1048576`) or take a unit (`16MiB`, `500KB`); ")
	b.WriteString("booleans are `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off`. ")
	b.WriteString("Settings marked *(not in Prefect)* are this server's own.\n")
	group := "\x00"
	for _, st := range table {
		if g := st.Group(); g != group {
			group = g
			title := "General"
			if g != "" {
				title = "`" + g + "`"
			}
			fmt.Fprintf(&b, "\n## %s\n\n", title)
			b.WriteString("| Variable | Aliases | Default | Type | Description |\n")
			b.WriteString("|---|---|---|---|---|\n")
		}
		aliases := make([]string, len(st.Aliases))
		for i, a := range st.Aliases {
			aliases[i] = "`" + a + "`"
		}
		def := "unset"
		if st.Default != "" {
			def = "`" + st.Default + "`"
		}
		doc := st.Doc
		if st.Extension {
			doc += " *(not in Prefect)*"
		}
		switch {
		case st.Secret && st.redact != nil:
			doc += " Secret: its password is printed as `" + redacted + "`."
		case st.Secret:
			doc += " Secret: printed as `" + redacted + "`."
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n",
			st.Env, strings.Join(aliases, "<br>"), mdEscape(def), mdEscape(st.typeDoc()), mdEscape(doc))
	}
	return b.String()
}

// typeDoc is the kind with its bounds or choices, e.g. "int, 1 to 65535".
func (st Setting) typeDoc() string {
	t := string(st.Kind)
	switch {
	case len(st.Enum) > 0 && st.Kind == KindList:
		t = "list of " + strings.Join(st.Enum, ", ")
	case len(st.Enum) > 0:
		t = "one of " + strings.Join(st.Enum, ", ")
	case st.Min != nil && st.Max != nil && !st.ExclusiveMin:
		t += ", " + st.bound(*st.Min) + " to " + st.bound(*st.Max)
	case st.Min != nil && st.Max != nil:
		t += ", > " + st.bound(*st.Min) + ", ≤ " + st.bound(*st.Max)
	case st.Min != nil && st.ExclusiveMin:
		t += ", > " + st.bound(*st.Min)
	case st.Min != nil:
		t += ", ≥ " + st.bound(*st.Min)
	case st.Max != nil:
		t += ", ≤ " + st.bound(*st.Max)
	}
	return t
}

func mdEscape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// UnknownEnv returns the PREFECT_SERVER_* variables in environ (KEY=value
// pairs, as from os.Environ) that no row reads: typos, or Prefect settings
// this server does not implement. The server logs them, since silently
// ignoring PREFECT_SERVER_API_PROT=8080 costs users an afternoon.
func UnknownEnv(environ []string) []string {
	known := make(map[string]bool)
	for _, st := range table {
		for _, env := range st.Envs() {
			known[env] = true
		}
	}
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PREFECT_SERVER_") && !known[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return slices.Compact(unknown)
}

// Tree is every effective value nested by its name, the shape of Prefect's
// /api/admin/settings (its Settings model: PREFECT_SERVER_* under "server",
// PREFECT_HOME at the top), typed as JSON: booleans and numbers as such,
// unset values null, secrets redacted. Prefect's UIs read it by those paths.
func Tree(s Settings) map[string]any {
	tree := map[string]any{}
	for _, st := range table {
		node := tree
		path := st.path()
		for _, key := range path[:len(path)-1] {
			child, ok := node[key].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[key] = child
			}
			node = child
		}
		node[path[len(path)-1]] = st.jsonValue(s)
	}
	return tree
}

// path is where the setting sits in Prefect's Settings model.
func (st Setting) path() []string {
	path := strings.Split(st.Name, ".")
	if strings.HasPrefix(st.Env, "PREFECT_SERVER_") {
		path = append([]string{"server"}, path...)
	}
	return path
}

func (st Setting) jsonValue(s Settings) any {
	v := st.Redacted(s)
	if v == "" && st.Kind != KindString {
		return nil
	}
	switch st.Kind {
	case KindBool:
		return v == "true"
	case KindInt, KindFloat:
		return json.Number(v)
	}
	return v
}

// In reads the setting's value from a Tree (as decoded from JSON) as Print
// writes it, for callers that check a server's /api/admin/settings.
func (st Setting) In(tree map[string]any) (string, bool) {
	var node any = tree
	for _, key := range st.path() {
		m, ok := node.(map[string]any)
		if !ok {
			return "", false
		}
		if node, ok = m[key]; !ok {
			return "", false
		}
	}
	if node == nil {
		return "", true
	}
	return fmt.Sprint(node), true
}
