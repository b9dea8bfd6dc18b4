// Package orchestration decides state transitions: Prefect's ordered policy
// rules plus the bookkeeping transforms that keep a run's denormalised
// fields (run_count, start and end time, total run time ...) right.
//
// Everything here is a pure function of its inputs. The store loads a
// context inside its write transaction, calls FlowRun or TaskRun, and writes
// what the result says; nothing in this package touches a database.
//
// The rules run with the semantics of Prefect's nested rule context
// managers (see govern): a rule fires only for the transition it was
// written for, and one that another rule's rejection retypes or nullifies
// is "fizzled" and undoes its changes. Parts of Prefect's policies live
// elsewhere: deployment and tag concurrency (slots and leases need the
// database; their places in the rule lists are marked),
// EnsureFlowRunStateTimestampIsUnique (the store), and the flow-run event
// and UpdateSubflowParentTask (the HTTP layer, after commit).
package orchestration
