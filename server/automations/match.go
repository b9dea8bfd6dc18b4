package automations

import (
	"encoding/json"
	"regexp"
	"strings"

	"prefectgo.dev/prefectgo/server/schema"
)

// glob is one label or event pattern: Python's fnmatchcase (*, ?, [seq],
// [!seq]), negated by a leading "!" as Prefect's events.matches does.
type glob struct {
	re      *regexp.Regexp
	negated bool
}

func compileGlob(pattern string) glob {
	g := glob{}
	if strings.HasPrefix(pattern, "!") {
		g.negated, pattern = true, pattern[1:]
	}
	g.re = regexp.MustCompile(`\A(?s:` + translateGlob(pattern) + `)\z`)
	return g
}

// matches is Prefect's matches(expected, value): a missing value matches no
// pattern, negated or not.
func (g glob) matches(value string, present bool) bool {
	if !present {
		return false
	}
	return g.re.MatchString(value) != g.negated
}

// translateGlob is fnmatch.translate: * and ? are wildcards, [...] a set
// ([! negates it), and everything else literal. A [ without its ] is
// literal, as in Python.
func translateGlob(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		switch c {
		case '*':
			b.WriteString(".*")
			i++
			continue
		case '?':
			b.WriteString(".")
			i++
			continue
		case '[':
			j := i + 1
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j < len(p) {
				set := p[i+1 : j]
				neg := strings.HasPrefix(set, "!")
				if neg {
					set = set[1:]
				}
				set = strings.ReplaceAll(set, `\`, `\\`)
				set = strings.ReplaceAll(set, `[`, `\[`)
				if neg {
					b.WriteString("[^" + set + "]")
				} else {
					b.WriteString("[" + set + "]")
				}
				i = j + 1
				continue
			}
		}
		b.WriteString(regexp.QuoteMeta(string(c)))
		i++
	}
	return b.String()
}

// spec is a compiled resource specification: each label's patterns, any of
// which may match.
type spec map[string][]glob

// compileSpec reads a resource specification as the schema checked it: a
// label to a value or a list of values.
func compileSpec(raw json.RawMessage) spec {
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(raw, &obj)
	out := spec{}
	for label, v := range obj {
		var one string
		var many []string
		if json.Unmarshal(v, &one) == nil {
			many = []string{one}
		} else {
			_ = json.Unmarshal(v, &many)
		}
		gs := make([]glob, len(many))
		for i, p := range many {
			gs[i] = compileGlob(p)
		}
		out[label] = gs
	}
	return out
}

// compileSpecs reads match_related: one specification or a list of them.
func compileSpecs(raw json.RawMessage) []spec {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil && list != nil {
		out := make([]spec, len(list))
		for i, item := range list {
			out[i] = compileSpec(item)
		}
		return out
	}
	return []spec{compileSpec(raw)}
}

// matches says whether every label of the spec matches one of its patterns.
func (s spec) matches(r schema.Resource) bool {
	for label, patterns := range s {
		value, present := r[label]
		ok := false
		for _, g := range patterns {
			if g.matches(value, present) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// includes says whether the spec matches one of the candidates; an empty
// spec matches every resource, even none.
func (s spec) includes(candidates []schema.Resource) bool {
	if len(s) == 0 {
		return true
	}
	for _, c := range candidates {
		if s.matches(c) {
			return true
		}
	}
	return false
}

// eventPrefilter is Prefect's EventTrigger.event_pattern: the expected and
// after events, escaped with each * as .+, matched from the start of the
// event name only (re.match); any event when nothing is expected.
func eventPrefilter(expect, after []string) *regexp.Regexp {
	if len(expect) == 0 {
		return regexp.MustCompile(`\A.+`)
	}
	var alts []string
	for _, e := range append(append([]string{}, expect...), after...) {
		alts = append(alts, strings.ReplaceAll(regexp.QuoteMeta(e), `\*`, `.+`))
	}
	return regexp.MustCompile(`\A(?:` + strings.Join(alts, "|") + `)`)
}

// findResourceLabel is Prefect's Event.find_resource_label: the label of the
// event's resource, or with "related:<role>:<label>" of its first related
// resource in that role.
func findResourceLabel(e schema.Event, label string) (string, bool) {
	if i := strings.LastIndex(label, ":"); i >= 0 {
		directive, related := label[:i], label[i+1:]
		kind, role, _ := strings.Cut(directive, ":")
		if kind == "related" {
			for _, r := range e.Related {
				if r.Role() == role {
					v, ok := r[related]
					return v, ok
				}
			}
		}
	}
	v, ok := e.Resource[label]
	return v, ok
}
