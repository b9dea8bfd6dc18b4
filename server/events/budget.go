package events

import "sync/atomic"

// Budget caps the bytes that WebSocket messages hold in memory across all
// sockets at once, so that N clients each sending (or half-sending) a large
// message cannot make the server hold N times the largest message. A socket
// that cannot get the bytes it needs is closed with 1013 (try again later);
// its client reconnects and resends what it had not had confirmed.
//
// The counters are there for tests and for the operator's logs.
type Budget struct {
	limit   int64
	inUse   atomic.Int64
	peak    atomic.Int64
	refused atomic.Int64
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// BudgetStats is a snapshot of a Budget's counters.
type BudgetStats struct {
	// Limit is the budget; InUse what is held now; Peak the most ever held.
	Limit, InUse, Peak int64
	// Refused counts the requests that did not fit.
	Refused int64
}

// Stats reports the counters.
func (b *Budget) Stats() BudgetStats {
	return BudgetStats{Limit: b.limit, InUse: b.inUse.Load(), Peak: b.peak.Load(), Refused: b.refused.Load()}
}

// take reserves n bytes and reports whether they fitted.
func (b *Budget) take(n int64) bool {
	for {
		cur := b.inUse.Load()
		if cur+n > b.limit {
			b.refused.Add(1)
			return false
		}
		if b.inUse.CompareAndSwap(cur, cur+n) {
			for p := b.peak.Load(); cur+n > p && !b.peak.CompareAndSwap(p, cur+n); p = b.peak.Load() {
			}
			return true
		}
	}
}

// give returns n bytes taken earlier.
func (b *Budget) give(n int64) { b.inUse.Add(-n) }
