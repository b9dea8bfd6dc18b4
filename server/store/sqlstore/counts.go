package sqlstore

import "sync/atomic"

// Counts are what the store has sent to its database since the process
// started, summed over every Store in it: a measuring aid for benchmarks
// (make bench-compare divides them by the lifecycles a cell completed). The
// server exposes them only on its opt-in debug listener
// (PREFECTGO_PPROF_ADDR, /debug/sqlstore); counting is one atomic add per
// statement, too little to be worth a switch.
type Counts struct {
	// Statements is every query and exec sent through the store's
	// connections (conn, Ping, Notify). BEGIN and COMMIT are not in it;
	// the dedicated PostgreSQL connections (the event listener, the leader
	// lock) and migrations are not either.
	Statements int64 `json:"statements"`
	// Transactions is every write transaction begun (committed or not).
	Transactions int64 `json:"transactions"`
	// Writes is every unit of work handed to a write transaction; on
	// SQLite, group commit joins several in one, so Writes over
	// Transactions is the mean group.
	Writes int64 `json:"writes"`
}

var counts struct{ statements, transactions, writes atomic.Int64 }

// ReadCounts returns the counts so far.
func ReadCounts() Counts {
	return Counts{Statements: counts.statements.Load(), Transactions: counts.transactions.Load(), Writes: counts.writes.Load()}
}
