package orchestration

import (
	"time"

	"prefectgo.dev/prefectgo/server/schema"
)

// typeSet is a set of state types; bit 0 stands for "no state", so a rule
// can govern a run's first transition.
type typeSet uint16

const (
	inNone typeSet = 1 << iota
	inScheduled
	inPending
	inRunning
	inCompleted
	inFailed
	inCancelled
	inCrashed
	inPaused
	inCancelling

	// inTerminal is Prefect's TERMINAL_STATES.
	inTerminal = inCompleted | inFailed | inCancelled | inCrashed
	// inAll is Prefect's ALL_ORCHESTRATION_STATES: every type plus None.
	inAll = inNone | inScheduled | inPending | inRunning | inTerminal | inPaused | inCancelling
)

// noState is the type of a missing state (Prefect's None).
const noState schema.StateType = ""

func bitOf(t schema.StateType) typeSet {
	switch t {
	case noState:
		return inNone
	case schema.StateScheduled:
		return inScheduled
	case schema.StatePending:
		return inPending
	case schema.StateRunning:
		return inRunning
	case schema.StateCompleted:
		return inCompleted
	case schema.StateFailed:
		return inFailed
	case schema.StateCancelled:
		return inCancelled
	case schema.StateCrashed:
		return inCrashed
	case schema.StatePaused:
		return inPaused
	case schema.StateCancelling:
		return inCancelling
	}
	return 0
}

func (s typeSet) has(t schema.StateType) bool { return s&bitOf(t) != 0 }

func typeOf(s *schema.State) schema.StateType {
	if s == nil {
		return noState
	}
	return s.Type
}

// transition is what the rules of one set_state call share: the states and
// the verdict so far. A nil proposed state means nothing will be written.
type transition struct {
	initial  *schema.State
	proposed *schema.State
	status   schema.OrchestrationStatus
	details  schema.OrchestrationDetails
	now      time.Time
}

func newTransition(initial *schema.State, proposed schema.State, now time.Time) *transition {
	if now.IsZero() {
		now = time.Now()
	}
	t := &transition{
		proposed: &proposed,
		status:   schema.StatusAccept,
		details:  schema.OrchestrationDetails{Type: "accept_details"},
		now:      now.UTC(),
	}
	if initial != nil {
		in := *initial
		t.initial = &in
	}
	return t
}

func (t *transition) result() Result {
	r := Result{Status: t.status, Details: t.details}
	if t.proposed != nil {
		w := *t.proposed
		r.Write = &w
	}
	return r
}

// rule is one of Prefect's orchestration rules. It fires only for
// transitions whose initial type is in from and proposed type is in to.
// Hooks left nil do nothing. A policy builds its rules afresh for every
// transition, so closures may carry what before must hand to after or
// cleanup (Prefect keeps that on the rule instance).
type rule[C any] struct {
	name    string // Prefect's rule class
	from    typeSet
	to      typeSet
	before  func(c C, r *ruleCall)
	after   func(c C, r *ruleCall)
	cleanup func(c C, r *ruleCall)
}

// ruleCall is one rule's view of the transition, as Prefect's rule
// instances keep it: the transition it was entered with, updated when the
// rule itself rejects, delays or aborts, so that only another rule's change
// makes it fizzle.
type ruleCall struct {
	t        *transition
	from, to schema.StateType
	invalid  bool
}

// reject replaces the proposed state with s, or with nothing (the run keeps
// its current state) when s is nil.
func (r *ruleCall) reject(s *schema.State, reason string) {
	r.t.proposed = s
	r.to = typeOf(s)
	r.t.status = schema.StatusReject
	r.t.details = schema.OrchestrationDetails{Type: "reject_details", Reason: &reason}
}

// wait tells the client to propose the same state again after seconds.
func (r *ruleCall) wait(seconds int, reason string) {
	r.t.proposed, r.to = nil, noState
	r.t.status = schema.StatusWait
	r.t.details = schema.OrchestrationDetails{Type: "wait_details", DelaySeconds: &seconds, Reason: &reason}
}

// abort tells the client to give up on this transition.
func (r *ruleCall) abort(reason string) {
	r.t.proposed, r.to = nil, noState
	r.t.status = schema.StatusAbort
	r.t.details = schema.OrchestrationDetails{Type: "abort_details", Reason: &reason}
}

// rename changes only the proposed state's name, so no rule fizzles.
func (r *ruleCall) rename(name string) {
	if r.t.proposed != nil {
		r.t.proposed.Name = name
	}
}

// changed reports whether the transition now differs from the one this rule
// was entered with.
func (r *ruleCall) changed() bool {
	return typeOf(r.t.initial) != r.from || typeOf(r.t.proposed) != r.to
}

// govern runs rules the way Prefect nests them as context managers: every
// applicable rule's before hook in priority order, then inner (the global
// transforms and the write), then, innermost first, after for the rules
// still governing the same transition, or cleanup for those another rule's
// rejection has fizzled.
func govern[C any](t *transition, c C, rules []rule[C], inner func()) {
	from, to := typeOf(t.initial), typeOf(t.proposed)
	calls := make([]ruleCall, len(rules))
	for i, rl := range rules {
		call := &calls[i]
		*call = ruleCall{t: t, from: from, to: to}
		// A rule entered after another changed the transition does nothing.
		call.invalid = !rl.from.has(from) || !rl.to.has(to) || call.changed()
		if !call.invalid && rl.before != nil {
			rl.before(c, call)
		}
	}
	inner()
	for i := len(rules) - 1; i >= 0; i-- {
		rl, call := rules[i], &calls[i]
		// A rule that nullified or retyped the transition itself is valid
		// on exit only if its TO set holds the new type.
		if call.invalid || !rl.to.has(call.to) {
			continue
		}
		if call.changed() {
			if rl.cleanup != nil {
				rl.cleanup(c, call)
			}
		} else if rl.after != nil {
			rl.after(c, call)
		}
	}
}
