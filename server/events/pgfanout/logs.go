package pgfanout

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Logs go to the other replicas' /logs/out subscribers the way events go to
// theirs: each batch published on the Hub (one POST /logs) as one JSON array,
// cut into "v1|origin|message|index|count|chunk" notifications on their own
// channel, prefect_logs, reassembled by the listeners and handed to
// Hub.Deliver. Unlike events, nothing waits for them: live logs are a view of
// what is stored, so when the queue to notify is full (PostgreSQL slower than
// the logs coming in) a batch is dropped for the other replicas' subscribers,
// with a warning, instead of holding up POST /logs.

// LogChannel carries the logs.
const LogChannel = "prefect_logs"

const (
	// logQueueBatches and logQueueBytes bound the log batches waiting to be
	// notified.
	logQueueBatches = 1024
	logQueueBytes   = 64 << 20
)

// logNotes are the notifications of one batch of logs.
type logNotes struct {
	payloads []string
	bytes    int64
}

// logRelay is the Fanout's queue of log batches to notify.
type logRelay struct {
	queue  chan logNotes
	queued atomic.Int64 // bytes in queue
}

// relayLogs queues a batch for the other replicas while the fan-out runs.
func (f *Fanout) relayLogs(_ context.Context, logs []schema.Log) {
	f.mu.Lock()
	running := f.running
	f.mu.Unlock()
	if !running {
		return
	}
	body, err := json.Marshal(logs)
	if err != nil { // stored logs always encode
		f.log.Error("encoding logs for other replicas failed", "error", err)
		return
	}
	n := logNotes{payloads: encode(f.origin, uuid.NewString(), body), bytes: int64(len(body))}
	// One batch over the bound still goes when nothing else waits.
	if total := f.logs.queued.Add(n.bytes); total > n.bytes && total > logQueueBytes {
		f.logs.queued.Add(-n.bytes)
		f.log.Warn("too many logs waiting to be notified; other replicas' live-log subscribers miss a batch", "logs", len(logs))
		return
	}
	select {
	case f.logs.queue <- n:
	default:
		f.logs.queued.Add(-n.bytes)
		f.log.Warn("too many logs waiting to be notified; other replicas' live-log subscribers miss a batch", "logs", len(logs))
	}
}

// sendLogs notifies queued log batches, in publish order.
func (f *Fanout) sendLogs(ctx context.Context, stopped <-chan struct{}) {
	drain(ctx, stopped, f.logs.queue, 16, func(ctx context.Context, batch []logNotes) {
		var payloads []string
		for _, n := range batch {
			payloads = append(payloads, n.payloads...)
			f.logs.queued.Add(-n.bytes)
		}
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f.cfg.Notifier.Notify(nctx, LogChannel, payloads...)
		cancel()
		if err != nil {
			f.log.Error("notifying other replicas of logs failed; their live-log subscribers miss them", "batches", len(batch), "error", err)
		}
	})
}

// receiveLogs hands another replica's batch of logs, once whole, to the Hub.
func (f *Fanout) receiveLogs(p part, asm *assembler) {
	body, ok := asm.add(p, time.Now())
	if !ok {
		return
	}
	var logs []schema.Log
	if err := json.Unmarshal(body, &logs); err != nil {
		f.log.Warn("ignoring undecodable logs from another replica", "error", err)
		return
	}
	f.cfg.Logs.Deliver(logs...)
}
