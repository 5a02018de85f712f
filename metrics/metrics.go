// Package metrics holds Whistle's Prometheus instruments in one registry, so
// every package records into the same /metrics page and tests can read them.
// Labels never carry report content, case ids or anything about a reporter:
// only route patterns, task types, queue names and outcomes.
package metrics

import (
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is the registry /metrics serves.
var Registry = prometheus.NewRegistry()

var (
	httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "whistle_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern, method and status class.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method", "status"})

	taskOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "whistle_task_outcomes_total",
		Help: "Background task runs by task type and outcome (ok, retry, failed, skipped).",
	}, []string{"type", "outcome"})

	taskStartLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "whistle_task_start_latency_seconds",
		Help:    "Time from enqueue to the start of a task run, by task type.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"type"})
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		httpDuration, taskOutcomes, taskStartLatency)
}

// ObserveHTTP records one request. route is the matched pattern (e.g.
// "/api/v1/reports"), never the raw path.
func ObserveHTTP(route, method string, status int, d time.Duration) {
	class := "5xx"
	switch {
	case status < 300:
		class = "2xx"
	case status < 400:
		class = "3xx"
	case status < 500:
		class = "4xx"
	}
	httpDuration.WithLabelValues(route, method, class).Observe(d.Seconds())
}

// ObserveTask records the outcome of one task run.
func ObserveTask(taskType, outcome string) { taskOutcomes.WithLabelValues(taskType, outcome).Inc() }

// ObserveTaskStart records how long a task waited between enqueue and start.
func ObserveTaskStart(taskType string, waited time.Duration) {
	taskStartLatency.WithLabelValues(taskType).Observe(waited.Seconds())
}

// queueDepth reports asynq queue sizes at scrape time.
type queueDepth struct {
	inspector *asynq.Inspector
	desc      *prometheus.Desc
	up        *prometheus.Desc
}

// RegisterQueueDepth exports the depth of every asynq queue by state
// (pending, active, scheduled, retry, archived), read at scrape time.
func RegisterQueueDepth(inspector *asynq.Inspector) error {
	return Registry.Register(&queueDepth{
		inspector: inspector,
		desc: prometheus.NewDesc("whistle_queue_depth", "Tasks in each asynq queue by state.",
			[]string{"queue", "state"}, nil),
		up: prometheus.NewDesc("whistle_queue_up", "1 if the queue backend answered the scrape.", nil, nil),
	})
}

func (q *queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc; ch <- q.up }

func (q *queueDepth) Collect(ch chan<- prometheus.Metric) {
	queues, err := q.inspector.Queues()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(q.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(q.up, prometheus.GaugeValue, 1)
	for _, name := range queues {
		info, err := q.inspector.GetQueueInfo(name)
		if err != nil {
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived} {
			ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(n), name, state)
		}
	}
}
