// Package report aggregates the measured cells over rounds and writes the
// comparison as markdown (docs/benchmarks.md) and, optionally, raw JSON.
package report

import (
	"slices"
	"sort"
	"time"
)

// Cell is one (server, workload, clients) measurement in one round.
type Cell struct {
	Server   string // "ours/sqlite"
	Impl     string // "ours" or "python"
	Backend  string
	Workload string
	Unit     string
	Clients  int
	Round    int

	Ops, Requests, Errors int64
	Elapsed               time.Duration
	P50, P95, P99         time.Duration
	PeakRSS, SteadyRSS    int64
	CPUSecs               float64
	// Statements, Transactions and Writes (units of work in those
	// transactions) our server's store sent during the cell (its
	// /debug/sqlstore read before and after); Counted says they were read
	// (never for Python's server).
	Statements, Transactions, Writes int64
	Counted                          bool
	// Unstored is how many events our server's persister had queued, not
	// yet written, as the cell ended (its /debug/events; when Counted):
	// work the cell's CPU and statements leave out.
	Unstored     int64
	ErrorSamples []string `json:",omitempty"`
}

// Throughput is units per second.
func (c Cell) Throughput() float64 {
	if c.Elapsed <= 0 {
		return 0
	}
	return float64(c.Ops) / c.Elapsed.Seconds()
}

// ServerRun is one start of one server.
type ServerRun struct {
	Server, Impl, Backend string
	Round                 int
	Started               time.Duration // exec to healthy
	IdleRSS               int64         // after start and a settle, before load
	IdleProcs             int
	FinalHWM              int64 // summed VmHWM before stop
	DroppedWarnings       int   // server log lines saying an event was dropped
}

// Ceiling is a measured machine limit.
type Ceiling struct {
	Round     int
	Name      string
	Clients   int
	Unit      string
	PerSecond float64
	P99       time.Duration
	Errors    int64
	Note      string
}

// RealClient is the real prefect client's wall time against one server.
type RealClient struct {
	Server, Impl, Backend string
	Flows                 int
	Capped                bool    // stopped by the time cap before all flows ran
	Seconds               float64 // first flow start to last flow end
	Process               time.Duration
	CPUSecs               float64 // the server's
	PeakRSS               int64
	Err                   string `json:",omitempty"`
}

// Seed is how the read workload's data was made on one server.
type Seed struct {
	Server string
	Runs   int // created
	Failed int // still failing after retries, skipped
	Took   time.Duration
	Err    string `json:",omitempty"`
}

// Report is everything one run measured.
type Report struct {
	Date           time.Time
	Command        string
	Machine        Machine
	GoVersion      string
	PrefectVersion string
	Commit         string
	Settings       map[string]string
	Total          time.Duration

	Cells      []Cell
	Servers    []ServerRun
	Ceilings   []Ceiling
	RealClient []RealClient
	Seeds      []Seed
	Profile    string `json:",omitempty"`
	Notes      []string
}

// Machine is where it ran.
type Machine struct {
	Cores    int
	Model    string
	MemBytes int64
	Kernel   string
}

// Agg is a cell aggregated over rounds: medians of the per-round values,
// summed errors, the highest peak.
type Agg struct {
	Server, Impl, Backend, Workload, Unit string
	Clients, Rounds                       int
	Throughput                            float64
	P50, P95, P99                         time.Duration
	Errors, Ops                           int64
	PeakRSS, SteadyRSS                    int64
	CPUSecs                               float64 // median per round
	CPUPerOp                              float64 // total CPU / total ops, seconds
	// StatementsPerOp and TransactionsPerOp are totals over total ops, when
	// every round counted them (Counted).
	StatementsPerOp, TransactionsPerOp float64
	Counted                            bool
	Unstored                           int64 // the most of any round
	Samples                            []string
}

// Aggregate groups cells by (server, workload, clients) in first-seen order.
func Aggregate(cells []Cell) []Agg {
	type key struct {
		server, workload string
		clients          int
	}
	var order []key
	groups := map[key][]Cell{}
	for _, c := range cells {
		k := key{c.Server, c.Workload, c.Clients}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], c)
	}
	var out []Agg
	for _, k := range order {
		g := groups[k]
		a := Agg{Server: k.server, Impl: g[0].Impl, Backend: g[0].Backend, Workload: k.workload, Unit: g[0].Unit, Clients: k.clients, Rounds: len(g)}
		var tp, cpu []float64
		var p50, p95, p99 []time.Duration
		var steady []int64
		var cpuSum float64
		var stmts, txs int64
		a.Counted = true
		for _, c := range g {
			stmts, txs = stmts+c.Statements, txs+c.Transactions
			a.Counted = a.Counted && c.Counted
			tp = append(tp, c.Throughput())
			cpu = append(cpu, c.CPUSecs)
			cpuSum += c.CPUSecs
			p50, p95, p99 = append(p50, c.P50), append(p95, c.P95), append(p99, c.P99)
			steady = append(steady, c.SteadyRSS)
			a.Errors += c.Errors
			a.Ops += c.Ops
			a.PeakRSS = max(a.PeakRSS, c.PeakRSS)
			a.Unstored = max(a.Unstored, c.Unstored)
			for _, s := range c.ErrorSamples {
				if len(a.Samples) < 3 {
					a.Samples = append(a.Samples, s)
				}
			}
		}
		a.Throughput, a.CPUSecs = median(tp), median(cpu)
		a.P50, a.P95, a.P99 = median(p50), median(p95), median(p99)
		a.SteadyRSS = median(steady)
		if a.Ops > 0 {
			a.CPUPerOp = cpuSum / float64(a.Ops)
			a.StatementsPerOp, a.TransactionsPerOp = float64(stmts)/float64(a.Ops), float64(txs)/float64(a.Ops)
		}
		out = append(out, a)
	}
	return out
}

// Find returns the aggregate for (server, workload, clients).
func Find(aggs []Agg, server, workload string, clients int) (Agg, bool) {
	for _, a := range aggs {
		if a.Server == server && a.Workload == workload && a.Clients == clients {
			return a, true
		}
	}
	return Agg{}, false
}

type number interface {
	~int64 | ~float64
}

func median[T number](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
