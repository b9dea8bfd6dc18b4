// Package taskworkers is the server's side of Prefect's task workers
// (`prefect task serve`, prefect.task_worker.serve), which run background
// task runs (task.delay(), task.apply_async()):
//
//   - the WebSocket /task_runs/subscriptions/scheduled (Prefect's
//     scheduled_task_subscription), on which a worker subscribes to task
//     keys and is sent their queued runs one at a time, each acked before
//     the next;
//   - the wake-ups that deliver a queued run promptly: in process when the
//     runs service queues one here (Hub.Wake), and by a poll every
//     PollInterval for runs queued by another replica or released;
//   - the record of the workers subscribed to this replica, which
//     /task_workers/filter answers (Prefect's InMemoryTaskWorkerTracker).
//
// The queue itself is the store's (store.TaskRunQueue), not memory as in
// Prefect: a restart loses no queued run, and replicas on one PostgreSQL
// database share it, each run claimed by one of them at a time. A claim
// lives while its socket waits for the ack: it is renewed every ClaimTTL/3,
// released when the send fails, the worker goes away or does not ack, and
// released by any replica once ClaimTTL passes without renewal (its server
// died).
package taskworkers
