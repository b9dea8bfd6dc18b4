// Package automations evaluates automation triggers as Prefect 3.9.1's
// server/events/triggers.py does: which events an event trigger covers, the
// buckets that count them per for_each key over a window, when a reactive or
// proactive trigger fires, and when a compound or sequence trigger's children
// add up. The evaluation is pure: a bucket in, the next bucket and any firing
// out; the store keeps the buckets and the services package runs it on the
// event stream.
//
// A firing becomes one TriggeredAction per action of the automation, which
// an Actor carries out (package automations/actions).
package automations
