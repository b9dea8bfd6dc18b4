package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTextQuery is Prefect's limit on an event text query.
const maxTextQuery = 200

// EventTextFilter is Prefect's free-text event search: terms separated by
// spaces, any of which may match; "-term" or "!term" must not match;
// "+term" must match; "quoted phrases" (with \" inside) are one term. Terms
// match case-insensitively as substrings of the event's name, resource,
// related resources and payload (as JSON text).
type EventTextFilter struct {
	Query string `json:"query"`
}

// KeysOf: the filter's keys are its fields (UnmarshalJSON only validates).
func (EventTextFilter) KeysOf() reflect.Type {
	type plain EventTextFilter
	return reflect.TypeFor[plain]()
}

func (t *EventTextFilter) UnmarshalJSON(data []byte) error {
	var raw struct {
		Query *string `json:"query"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw.Query == nil {
		return Invalid("text.query", "Field required")
	}
	if n := utf8.RuneCountInString(*raw.Query); n > maxTextQuery {
		return Invalid("text.query", fmt.Sprintf("String should have at most %d characters", maxTextQuery))
	}
	t.Query = *raw.Query
	return nil
}

// TextSearch is a parsed text query, its terms lower-cased.
type TextSearch struct {
	Include  []string // any must occur (when there are any)
	Exclude  []string // none may occur
	Required []string // all must occur
}

// Empty reports whether the query constrains nothing.
func (t TextSearch) Empty() bool {
	return len(t.Include)+len(t.Exclude)+len(t.Required) == 0
}

// Matches reports whether the lower-cased text meets the query.
func (t TextSearch) Matches(text string) bool {
	has := func(term string) bool { return strings.Contains(text, term) }
	if len(t.Include) > 0 && !anyOf(t.Include, has) {
		return false
	}
	if anyOf(t.Exclude, has) {
		return false
	}
	for _, term := range t.Required {
		if !has(term) {
			return false
		}
	}
	return true
}

func anyOf(terms []string, pred func(string) bool) bool {
	for _, t := range terms {
		if pred(t) {
			return true
		}
	}
	return false
}

// ParseTextSearch parses a query the way Prefect's text_search_parser does:
// a prefix followed by a space is ignored, an unclosed quote runs to the end.
func ParseTextSearch(query string) TextSearch {
	var out TextSearch
	rs := []rune(query)
	i := 0
	for i < len(rs) {
		if unicode.IsSpace(rs[i]) {
			i++
			continue
		}
		prefix := rune(0)
		if strings.ContainsRune("-!+", rs[i]) {
			if i+1 >= len(rs) || unicode.IsSpace(rs[i+1]) {
				i++
				continue
			}
			prefix = rs[i]
			i++
		}
		var term string
		if rs[i] == '"' {
			i++
			start := i
			for i < len(rs) && rs[i] != '"' {
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
				}
				i++
			}
			term = unescapePhrase(string(rs[start:min(i, len(rs))]))
			if i < len(rs) {
				i++ // the closing quote
			}
			if strings.TrimSpace(term) == "" {
				continue
			}
		} else {
			start := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) && rs[i] != '"' {
				i++
			}
			term = string(rs[start:i])
			if term == "" {
				continue
			}
		}
		term = strings.ToLower(term)
		switch prefix {
		case '-', '!':
			out.Exclude = append(out.Exclude, term)
		case '+':
			out.Required = append(out.Required, term)
		default:
			out.Include = append(out.Include, term)
		}
	}
	return out
}

// unescapePhrase turns \" into " and \\ into \; other backslashes stay.
func unescapePhrase(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// SearchableText is what a text query is matched against: the event name,
// resource, related resources and payload as JSON, lower-cased; the store
// builds the same text in SQL.
func SearchableText(e Event) string {
	resource, _ := json.Marshal(e.Resource)
	related := []byte("[]")
	if len(e.Related) > 0 {
		related, _ = json.Marshal(e.Related)
	}
	payload := e.Payload
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	return strings.ToLower(e.Event + " " + string(resource) + " " + string(related) + " " + string(payload))
}
