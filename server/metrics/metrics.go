// Package metrics is the server's Prometheus metrics, served at
// /api/metrics when PREFECT_SERVER_METRICS_ENABLED is on. Every name has
// the prefect_ prefix and its unit; docs/metrics.md lists them. A nil
// *Metrics takes every observation and does nothing, so callers never ask
// whether metrics are on.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the server's collectors in a registry of its own.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	runTransitions *prometheus.CounterVec
	servicePasses  *prometheus.HistogramVec
	serviceFailed  *prometheus.CounterVec
	serviceLastOK  *prometheus.GaugeVec
	eventsReceived prometheus.Counter
	schedulerRuns  prometheus.Counter
}

// New makes the collectors, with the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.httpRequests = m.counterVec("prefect_http_requests_total",
		"HTTP requests answered, by method, route pattern and status.", "method", "route", "status")
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "prefect_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by method and route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"method", "route"})
	m.reg.MustRegister(m.httpDuration)
	m.runTransitions = m.counterVec("prefect_run_state_transitions_total",
		"State changes accepted by the orchestration rules, by run kind (flow, task) and the state type entered.", "kind", "state_type")
	m.servicePasses = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "prefect_service_pass_duration_seconds",
		Help: "Duration of one pass of a background service's loop.", Buckets: prometheus.DefBuckets}, []string{"service"})
	m.reg.MustRegister(m.servicePasses)
	m.serviceFailed = m.counterVec("prefect_service_pass_failures_total",
		"Passes of a background service that ended in an error.", "service")
	m.serviceLastOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "prefect_service_last_success_timestamp_seconds",
		Help: "When a background service's last pass succeeded (Unix time)."}, []string{"service"})
	m.reg.MustRegister(m.serviceLastOK)
	m.eventsReceived = prometheus.NewCounter(prometheus.CounterOpts{Name: "prefect_events_received_total",
		Help: "Events accepted from clients and emitted by the server."})
	m.schedulerRuns = prometheus.NewCounter(prometheus.CounterOpts{Name: "prefect_scheduler_runs_created_total",
		Help: "Flow runs created by the scheduler from deployment schedules."})
	m.reg.MustRegister(m.eventsReceived, m.schedulerRuns)
	return m
}

func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(c)
	return c
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Request records one answered HTTP request; route is the pattern it
// matched (not the path: no ids in labels).
func (m *Metrics) Request(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// Transition records a state change a run entered.
func (m *Metrics) Transition(kind, stateType string) {
	if m == nil {
		return
	}
	m.runTransitions.WithLabelValues(kind, stateType).Inc()
}

// Pass records one pass of a background service.
func (m *Metrics) Pass(service string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.servicePasses.WithLabelValues(service).Observe(d.Seconds())
	if err != nil {
		m.serviceFailed.WithLabelValues(service).Inc()
		return
	}
	m.serviceLastOK.WithLabelValues(service).SetToCurrentTime()
}

// EventsReceived counts events taken into the pipeline.
func (m *Metrics) EventsReceived(n int) {
	if m == nil {
		return
	}
	m.eventsReceived.Add(float64(n))
}

// ScheduledRuns counts runs the scheduler made.
func (m *Metrics) ScheduledRuns(n int) {
	if m == nil {
		return
	}
	m.schedulerRuns.Add(float64(n))
}

// Gauge registers a value read at each scrape.
func (m *Metrics) Gauge(name, help string, value func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value))
}

// Counter registers a running total read at each scrape.
func (m *Metrics) Counter(name, help string, value func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, value))
}

// Collector registers a collector of its own (labelled values read from
// the store at each scrape).
func (m *Metrics) Collector(c prometheus.Collector) {
	if m == nil {
		return
	}
	m.reg.MustRegister(c)
}

// DB registers the connection pools' statistics, by pool (writer, reader).
func (m *Metrics) DB(pools map[string]func() sql.DBStats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&dbCollector{pools: pools})
}

var (
	dbInUse   = prometheus.NewDesc("prefect_db_connections_in_use", "Database connections in use.", []string{"pool"}, nil)
	dbIdle    = prometheus.NewDesc("prefect_db_connections_idle", "Idle database connections.", []string{"pool"}, nil)
	dbWaits   = prometheus.NewDesc("prefect_db_connection_waits_total", "Waits for a free database connection.", []string{"pool"}, nil)
	dbWaitSec = prometheus.NewDesc("prefect_db_connection_wait_seconds_total", "Time spent waiting for a free database connection.", []string{"pool"}, nil)
)

type dbCollector struct {
	pools map[string]func() sql.DBStats
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dbInUse
	ch <- dbIdle
	ch <- dbWaits
	ch <- dbWaitSec
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	for pool, stats := range c.pools {
		s := stats()
		ch <- prometheus.MustNewConstMetric(dbInUse, prometheus.GaugeValue, float64(s.InUse), pool)
		ch <- prometheus.MustNewConstMetric(dbIdle, prometheus.GaugeValue, float64(s.Idle), pool)
		ch <- prometheus.MustNewConstMetric(dbWaits, prometheus.CounterValue, float64(s.WaitCount), pool)
		ch <- prometheus.MustNewConstMetric(dbWaitSec, prometheus.CounterValue, s.WaitDuration.Seconds(), pool)
	}
}

// QueueDepth is one work queue's scheduled runs: how many, and the
// earliest scheduled start among them.
type QueueDepth struct {
	Pool, Queue string
	Scheduled   int
	Earliest    *time.Time
}

var (
	queueScheduled = prometheus.NewDesc("prefect_work_queue_scheduled_runs",
		"Flow runs in a SCHEDULED state waiting in a work queue.", []string{"work_pool", "work_queue"}, nil)
	queueEarliest = prometheus.NewDesc("prefect_work_queue_earliest_scheduled_run_timestamp_seconds",
		"The earliest scheduled start of a work queue's waiting runs (Unix time; lag is time() minus it).", []string{"work_pool", "work_queue"}, nil)
	lateRuns = prometheus.NewDesc("prefect_flow_runs_late", "Flow runs in the Late state.", nil, nil)
)

// Queues registers the work queues' depths and the late runs, read from the
// store at each scrape (within the scrape's own time).
func (m *Metrics) Queues(depths func(context.Context) ([]QueueDepth, error), late func(context.Context) (int, error)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&queueCollector{depths: depths, late: late})
}

type queueCollector struct {
	depths func(context.Context) ([]QueueDepth, error)
	late   func(context.Context) (int, error)
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueScheduled
	ch <- queueEarliest
	ch <- lateRuns
}

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 5 * time.Second

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if ds, err := c.depths(ctx); err == nil {
		for _, d := range ds {
			ch <- prometheus.MustNewConstMetric(queueScheduled, prometheus.GaugeValue, float64(d.Scheduled), d.Pool, d.Queue)
			if d.Earliest != nil {
				ch <- prometheus.MustNewConstMetric(queueEarliest, prometheus.GaugeValue, float64(d.Earliest.UnixMilli())/1000, d.Pool, d.Queue)
			}
		}
	} else {
		ch <- prometheus.NewInvalidMetric(queueScheduled, err)
	}
	if n, err := c.late(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(lateRuns, prometheus.GaugeValue, float64(n))
	} else {
		ch <- prometheus.NewInvalidMetric(lateRuns, err)
	}
}
