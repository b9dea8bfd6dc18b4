package templates

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Limits of Prefect's user templates (server/utilities/user_templates.py).
const (
	maxLoopCount       = 10
	maxNestedLoopDepth = 2
)

// SyntaxError is why a template is refused: the line it is on (0 when the
// whole template is at fault) and the message, worded as Jinja words its
// common syntax errors and Prefect its loop limits.
type SyntaxError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (e *SyntaxError) Error() string { return e.Message }

// Validate is Prefect's validate_user_template: src parses as a template,
// has at most 10 for loops and nests them at most 2 deep.
func Validate(src string) *SyntaxError {
	if _, err := parse(src); err != nil {
		return jinjaSyntaxError(err)
	}
	count, depth := loops(src)
	if count > maxLoopCount {
		return &SyntaxError{Message: fmt.Sprintf("Contains %d for loops. Templates can contain no more than %d for loops.",
			count, maxLoopCount)}
	}
	if depth > maxNestedLoopDepth {
		return &SyntaxError{Message: fmt.Sprintf("Contains nested for loops at a depth of %d. Templates can nest for "+
			"loops no more than %d loops deep.", depth, maxNestedLoopDepth)}
	}
	return nil
}

// loops counts the for tags of a template that parses, and how deep they
// nest.
func loops(src string) (count, depth int) {
	open := 0
	afterBlockBegin := false
	for st := tokens.LexAll(src, templateConfig); !st.End(); st.Next() {
		t := st.Current()
		if afterBlockBegin && t.Type == tokens.Name {
			switch t.Val {
			case "for":
				count++
				open++
				depth = max(depth, open)
			case "endfor":
				open--
			}
		}
		afterBlockBegin = t.Type == tokens.BlockBegin
	}
	return count, depth
}

// blockEnds are the tags Jinja looks for to close each block, in its order.
var blockEnds = map[string][]string{
	"if": {"elif", "else", "endif"}, "for": {"endfor", "else"}, "macro": {"endmacro"}, "call": {"endcall"},
	"filter": {"endfilter"}, "set": {"endset"}, "with": {"endwith"}, "block": {"endblock"},
	"autoescape": {"endautoescape"},
}

var (
	unexpectedEOFTags  = regexp.MustCompile(`^Unexpected EOF, expected tag (.*)\.$`)
	unknownTag         = regexp.MustCompile(`^ControlStructure '(.*)' not found`)
	unexpectedDelim    = regexp.MustCompile(`^Unexpected delimiter "(.*)"$`)
	expressionExpected = "expected either a number, string, keyword or identifier."
)

// tokenNames are Jinja's descriptions of the tokens its messages name.
var tokenNames = map[string]string{"}}": "end of print statement", "%}": "end of statement block", "": "end of template"}

func describe(raw string) string {
	if name, ok := tokenNames[raw]; ok {
		return name
	}
	return raw
}

// jinjaSyntaxError words a parse error as Jinja words the same mistake,
// for the common ones; others keep the parser's words.
func jinjaSyntaxError(err error) *SyntaxError {
	var se *parser.SyntaxError
	if !errors.As(err, &se) {
		return &SyntaxError{Line: 1, Message: err.Error()}
	}
	line := max(se.Line, 1)
	msg := se.Message
	switch {
	case se.Raw == "unclosed comment":
		return &SyntaxError{Line: line, Message: "Missing end of comment tag"}
	case se.Raw == "Unable to find raw closing controlStructure":
		return &SyntaxError{Line: line, Message: "Missing end of raw directive"}
	case unexpectedDelim.MatchString(se.Raw):
		return &SyntaxError{Line: line, Message: "unexpected '" + unexpectedDelim.FindStringSubmatch(se.Raw)[1] + "'"}
	case msg == "'}}' expected here" && se.Raw == "":
		return &SyntaxError{Line: line, Message: "unexpected end of template, expected 'end of print statement'."}
	case msg == "'}}' expected here":
		return &SyntaxError{Line: line, Message: "expected token 'end of print statement', got '" + se.Raw + "'"}
	case unknownTag.MatchString(msg):
		return &SyntaxError{Line: line, Message: "Encountered unknown tag '" + unknownTag.FindStringSubmatch(msg)[1] + "'."}
	case msg == expressionExpected && (se.Raw == "}}" || se.Raw == "%}"):
		return &SyntaxError{Line: line, Message: "Expected an expression, got '" + describe(se.Raw) + "'"}
	case msg == expressionExpected && se.Raw == "":
		// A tag's arguments missing altogether: {% if %}.
		return &SyntaxError{Line: line, Message: "Expected an expression, got 'end of statement block'"}
	case msg == expressionExpected:
		return &SyntaxError{Line: line, Message: "unexpected '" + describe(se.Raw) + "'"}
	case unexpectedEOFTags.MatchString(msg):
		return &SyntaxError{Line: line, Message: unexpectedEnd(unexpectedEOFTags.FindStringSubmatch(msg)[1])}
	}
	return &SyntaxError{Line: line, Message: msg}
}

// unexpectedEnd is Jinja's message for a block left open: the tags it
// looks for and the block to close.
func unexpectedEnd(expected string) string {
	tags := strings.Split(expected, " or ")
	for block, ends := range blockEnds {
		if slices.Contains(tags, "end"+block) {
			quoted := make([]string, len(ends))
			for i, e := range ends {
				quoted[i] = "'" + e + "'"
			}
			return "Unexpected end of template. Jinja was looking for the following tags: " + strings.Join(quoted, " or ") +
				". The innermost block that needs to be closed is '" + block + "'."
		}
	}
	return "Unexpected end of template."
}

// Names lists which of names the templates read as variables: Prefect's
// matching_types_in_templates, which decides what to load for them (a
// name after a dot is an attribute, not a variable).
func Names(templates []string, names []string) []string {
	var found []string
	for _, src := range templates {
		prevDot := false
		inExpr := false
		for st := tokens.LexAll(src, templateConfig); !st.End(); st.Next() {
			t := st.Current()
			switch t.Type {
			case tokens.VariableBegin, tokens.BlockBegin:
				inExpr = true
			case tokens.VariableEnd, tokens.BlockEnd:
				inExpr = false
			case tokens.Name:
				if inExpr && !prevDot && slices.Contains(names, t.Val) && !slices.Contains(found, t.Val) {
					found = append(found, t.Val)
				}
			}
			prevDot = t.Type == tokens.Dot
		}
	}
	return found
}
