// Package logstream streams logs live to WebSocket /logs/out subscribers, as
// Prefect's server/logs/stream.py does (`prefect flow-run watch` and other
// users of prefect.logging.clients.get_logs_subscriber):
//
//   - POST /logs hands the logs it stored to Hub.Publish, which gives each to
//     the subscribers whose filter it matches and relays the batch to the
//     other replicas (a PostgreSQL fan-out installs the relay; their logs
//     come back through Hub.Deliver);
//   - each subscriber has a bounded queue (events.Outbox) counted in bytes:
//     delivery never waits, and a subscriber that falls BufferBytes behind
//     is closed with 1013 (Prefect drops the logs it has no room for);
//   - there is no backfill: Prefect's stream_logs_out sends only the logs
//     written after the subscription, and so does this one.
//
// As in Prefect, both PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED (POST
// /logs publishes) and PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED (subscribers
// are fed) must be on for logs to flow, and both are off by default; the
// socket is served either way, and gets nothing while they are off.
package logstream
