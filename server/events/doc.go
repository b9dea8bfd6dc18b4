// Package events is the server's event pipeline: validation of client events
// (Prefect's limits and messages), the ingest path shared by the WebSocket
// /api/events/in and POST /api/events, an in-process broker, and the two
// services that consume it: the persister (events into the database) and the
// task-run recorder (task runs from the events clients emit for them). It also
// builds the prefect.flow-run.* events the server emits on state changes, and
// serves the other WebSocket, the workers' channel (worker_channel.go), which
// shares the sockets' bounds.
//
// Data flows one way: ingest (validate, stamp received, drop resends) ->
// Broker.Publish -> each Subscription -> Persister, Recorder, stream-out.
package events
