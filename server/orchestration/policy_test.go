package orchestration

import (
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
)

func TestTypeSet(t *testing.T) {
	require.True(t, inAll.has(noState))
	for _, typ := range schema.StateTypes {
		require.True(t, inAll.has(typ), typ)
		require.Equal(t, typ.Terminal(), inTerminal.has(typ), typ)
	}
	require.False(t, inTerminal.has(noState))
	require.False(t, inAll.has("BOGUS"))
	require.False(t, (inAll &^ inCancelled).has(schema.StateCancelled))
	require.True(t, (inAll &^ inCancelled).has(noState))
}

// recorder is a test context that logs which hooks fired.
type recorder struct{ log []string }

func hooks(name string, from, to typeSet, before func(r *ruleCall)) rule[*recorder] {
	return rule[*recorder]{
		name: name, from: from, to: to,
		before: func(c *recorder, r *ruleCall) {
			c.log = append(c.log, name+".before")
			if before != nil {
				before(r)
			}
		},
		after:   func(c *recorder, _ *ruleCall) { c.log = append(c.log, name+".after") },
		cleanup: func(c *recorder, _ *ruleCall) { c.log = append(c.log, name+".cleanup") },
	}
}

// TestGovern checks the nesting semantics of Prefect's rule context
// managers that the policies rely on.
func TestGovern(t *testing.T) {
	running := func() *schema.State { return was(schema.StateRunning) }
	cases := []struct {
		name   string
		rules  func() []rule[*recorder]
		log    []string
		status schema.OrchestrationStatus
		write  schema.StateType
	}{
		{
			name: "applicable rules nest; inapplicable ones never fire",
			rules: func() []rule[*recorder] {
				return []rule[*recorder]{
					hooks("a", inAll, inAll, nil),
					hooks("b", inPending, inAll, nil),
					hooks("c", inAll, inFailed, nil),
				}
			},
			log:    []string{"a.before", "c.before", "inner", "c.after", "a.after"},
			status: schema.StatusAccept, write: schema.StateFailed,
		},
		{
			name: "a retyping rejection fizzles earlier rules and voids later ones",
			rules: func() []rule[*recorder] {
				return []rule[*recorder]{
					hooks("early", inAll, inAll, nil),
					hooks("rejecter", inRunning, inFailed, func(r *ruleCall) {
						r.reject(newState(schema.StateScheduled, "AwaitingRetry", t0), "Retrying")
					}),
					hooks("late", inAll, inAll, nil),
				}
			},
			// The rejecter's own TO set lacks SCHEDULED, so it is invalid on
			// exit and neither after nor cleanup fires for it.
			log:    []string{"early.before", "rejecter.before", "inner", "early.cleanup"},
			status: schema.StatusReject, write: schema.StateScheduled,
		},
		{
			name: "a rule whose TO set holds its own rejection's type still runs after",
			rules: func() []rule[*recorder] {
				return []rule[*recorder]{
					hooks("rejecter", inRunning, inAll, func(r *ruleCall) { r.reject(nil, "no") }),
				}
			},
			log:    []string{"rejecter.before", "after-inner", "rejecter.after"},
			status: schema.StatusReject,
		},
		{
			name: "an abort nullifies; the global transforms are skipped",
			rules: func() []rule[*recorder] {
				return []rule[*recorder]{
					hooks("early", inAll, inFailed, nil),
					hooks("aborter", inAll, inFailed, func(r *ruleCall) { r.abort("stop") }),
				}
			},
			log:    []string{"early.before", "aborter.before", "after-inner", "early.cleanup"},
			status: schema.StatusAbort,
		},
		{
			name: "a same-type rejection and a rename fizzle nothing",
			rules: func() []rule[*recorder] {
				return []rule[*recorder]{
					hooks("early", inAll, inFailed, nil),
					hooks("renamer", inAll, inFailed, func(r *ruleCall) { r.rename("Renamed") }),
					hooks("same", inAll, inFailed, func(r *ruleCall) { r.reject(r.t.proposed, "same type") }),
					hooks("late", inAll, inFailed, nil),
				}
			},
			log: []string{"early.before", "renamer.before", "same.before", "late.before", "inner",
				"late.after", "same.after", "renamer.after", "early.after"},
			status: schema.StatusReject, write: schema.StateFailed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransition(running(), mk(schema.StateFailed), t0)
			c := &recorder{}
			govern(tr, c, tc.rules(), func() {
				if tr.proposed != nil {
					c.log = append(c.log, "inner")
				} else {
					c.log = append(c.log, "after-inner")
				}
			})
			// "after-inner" marks the inner step for a nullified transition.
			want := tc.log
			require.Equal(t, want, c.log)
			res := tr.result()
			require.Equal(t, tc.status, res.Status)
			if tc.write == "" {
				require.Nil(t, res.Write)
			} else {
				require.Equal(t, tc.write, res.Write.Type)
			}
		})
	}
}

func TestVerdictDetails(t *testing.T) {
	tr := newTransition(nil, mk(schema.StateRunning), t0)
	r := &ruleCall{t: tr}
	r.wait(7, "later")
	require.Equal(t, schema.OrchestrationDetails{Type: "wait_details", DelaySeconds: ptr(7), Reason: ptr("later")}, tr.details)
	r.abort("stop")
	require.Equal(t, schema.OrchestrationDetails{Type: "abort_details", Reason: ptr("stop")}, tr.details)
	r.reject(nil, "no")
	require.Equal(t, schema.OrchestrationDetails{Type: "reject_details", Reason: ptr("no")}, tr.details)
}
