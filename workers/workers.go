// Package workers runs Whistle's background work on asynq: routing stored
// reports (triage:report) and linking their duplicates (dedupe:link), statutory clocks and their escalation (sla:*,
// escalate:*), staff notifications (notify:*), crypto-shredding after the
// retention period (retention:shred), and the minute sweep that re-enqueues
// whatever the store says is due (reconcile:sweep).
//
// MongoDB holds the truth; Redis holds work in flight. Every handler is
// idempotent and every task id is derived from the state it acts on, so a
// retry, a duplicate from the sweep, or a worker killed mid-task changes
// nothing twice. README.md in this directory is the task catalogue.
package workers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"whistle/crypto"
	"whistle/metrics"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers/policy"
)

// Deps is what the workers need; the command wires it.
type Deps struct {
	Store  *mongodb.DB
	Queue  *queue.Client
	Redis  queue.Config
	Keys   *crypto.Keyset
	Router *triage.Router
	Logger *slog.Logger
	// Now is the clock (injected in tests); nil means time.Now.
	Now func() time.Time
	// Policy holds every deadline and retry number; nil loads the
	// compiled-in default (workers/policy).
	Policy *policy.Policy
	// Notify configures staff notifications.
	Notify NotifyConfig
	// Concurrency is the number of tasks run at once; 0 means 8.
	Concurrency int
}

// NotifyConfig says how staff notifications leave the system.
type NotifyConfig struct {
	// BaseURL is the public address of the staff console; notifications
	// link to BaseURL + "/staff/cases/<case id>".
	BaseURL string
	SMTP    SMTPConfig
	// HTTPClient posts webhooks; nil means a client with the policy's send
	// timeout.
	HTTPClient *http.Client
}

// SMTPConfig is the mail relay notifications are sent through. Addr empty
// means no mail: e-mail destinations are recorded as failed deliveries.
type SMTPConfig struct {
	Addr     string // host:port
	From     string
	Username string // with Password: AUTH PLAIN, only over TLS (STARTTLS)
	Password string
	// TLS overrides the STARTTLS settings (a private CA); nil verifies the
	// server's certificate for the host of Addr against the system roots.
	TLS *tls.Config
}

// Workers is the asynq server, scheduler and handlers of one process.
type Workers struct {
	store  *mongodb.DB
	queue  *queue.Client
	redis  queue.Config
	keys   *crypto.Keyset
	router *triage.Router
	log    *slog.Logger
	now    func() time.Time
	pol    *policy.Policy
	notify *notifier

	mux       *asynq.ServeMux
	srv       *asynq.Server
	sched     *asynq.Scheduler
	inspector *asynq.Inspector

	// hook, if set, is called at named points of a handler (fault tests).
	hook func(point, caseID string)
	// closers release what MountMonitor opened.
	closers []func() error

	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

const defaultConcurrency = 8

// New checks d and builds the workers; Start runs them.
func New(d Deps) (*Workers, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("workers: a store is required")
	case d.Queue == nil:
		return nil, errors.New("workers: a queue client is required")
	case d.Keys == nil:
		return nil, errors.New("workers: a keyset is required")
	case d.Router == nil:
		return nil, errors.New("workers: a triage router is required")
	}
	if err := d.Redis.Validate(); err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	w := &Workers{store: d.Store, queue: d.Queue, redis: d.Redis, keys: d.Keys, router: d.Router,
		log: d.Logger, now: d.Now, pol: d.Policy}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.pol == nil {
		p, err := policy.Default()
		if err != nil {
			return nil, err
		}
		w.pol = p
	}
	n, err := newNotifier(d.Notify, w.pol, w.log)
	if err != nil {
		return nil, err
	}
	w.notify = n
	if d.Concurrency <= 0 {
		d.Concurrency = defaultConcurrency
	}

	w.mux = asynq.NewServeMux()
	w.mux.Use(w.observe)
	w.mux.HandleFunc(queue.TypeTriage, w.handleTriage)
	w.mux.HandleFunc(queue.TypeDedupe, w.handleDedupe)
	w.mux.HandleFunc(queue.TypeReconcile, w.handleReconcile)
	w.mux.HandleFunc(queue.TypeSLACheck, w.handleSLACheck)
	w.mux.HandleFunc(queue.TypeSLASync, w.handleSLASync)
	w.mux.HandleFunc(queue.TypeEscalate, w.handleEscalate)
	w.mux.HandleFunc(queue.TypeNotify, w.handleNotify)
	w.mux.HandleFunc(queue.TypeRetention, w.handleRetention)

	logger := asynqLogger{w.log}
	conn := d.Redis.ConnOpt()
	w.srv = asynq.NewServer(conn, asynq.Config{
		Concurrency:    d.Concurrency,
		Queues:         queue.Priorities,
		RetryDelayFunc: w.retryDelay,
		ErrorHandler:   asynq.ErrorHandlerFunc(w.taskFailed),
		Logger:         logger,
		LogLevel:       asynq.WarnLevel,
		// In-flight tasks get this long to finish on Shutdown; the rest are
		// handed back to Redis and run again (handlers are idempotent).
		ShutdownTimeout: w.pol.Tasks.Shutdown.Duration(),
		// Retries and scheduled steps move to their queue within a second.
		DelayedTaskCheckInterval: time.Second,
	})
	w.sched = asynq.NewScheduler(conn, &asynq.SchedulerOpts{
		Location: w.pol.Location(),
		Logger:   logger,
		LogLevel: asynq.WarnLevel,
		EnqueueErrorHandler: func(t *asynq.Task, _ []asynq.Option, err error) {
			// Another worker process's scheduler enqueued this tick already.
			if !errors.Is(err, asynq.ErrDuplicateTask) {
				w.log.Warn("scheduler enqueue failed", "type", t.Type(), "err", err)
			}
		},
	})
	every := w.pol.Sweep.Interval.Duration()
	if _, err := w.sched.Register(fmt.Sprintf("*/%d * * * *", int(every/time.Minute)), queue.ReconcileTask(every)); err != nil {
		return nil, err
	}
	if _, err := w.sched.Register(fmt.Sprintf("0 %d * * *", w.pol.Retention.DailyAtHour.Value), queue.RetentionTask()); err != nil {
		return nil, err
	}
	w.inspector = asynq.NewInspector(conn)
	return w, nil
}

// Policy is the policy the workers run with.
func (w *Workers) Policy() *policy.Policy { return w.pol }

// Start provisions group keys, starts the asynq server and scheduler, and
// runs the start-up pass (rebuild derived lists, re-derive every open case's
// clocks, one sweep) in the background.
func (w *Workers) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	if err := w.EnsureKeys(ctx); err != nil {
		cancel()
		return err
	}
	if err := w.srv.Start(w.mux); err != nil {
		cancel()
		return fmt.Errorf("workers: start asynq server: %w", err)
	}
	if err := w.sched.Start(); err != nil {
		cancel()
		w.srv.Shutdown()
		return fmt.Errorf("workers: start scheduler: %w", err)
	}
	if err := metrics.RegisterQueueDepth(w.inspector); err != nil {
		// Only a second Workers in one process (tests) gets here.
		w.log.Warn("queue depth metrics not registered", "err", err)
	}
	for _, y := range []int{w.now().In(w.pol.Location()).Year(), w.now().In(w.pol.Location()).Year() + 1} {
		if st := w.pol.Calendar.Status(y); st != policy.Published {
			w.log.Warn("holiday calendar incomplete: working-day deadlines ignore this year's unpublished holidays and 调休",
				"year", y, "status", st)
		}
	}
	w.bgCancel = cancel
	w.bg.Add(1)
	go func() {
		defer w.bg.Done()
		if err := w.startupPass(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("start-up reconcile pass failed; the minute sweep carries on", "err", err)
		}
	}()
	return nil
}

// Shutdown stops taking tasks, lets in-flight ones finish (bounded by the
// policy's tasks.shutdown, at most 10 s) and stops the background pass.
func (w *Workers) Shutdown() {
	if w.bgCancel != nil {
		w.bgCancel()
	}
	w.sched.Shutdown()
	w.srv.Shutdown()
	w.bg.Wait()
	w.inspector.Close()
	for _, c := range w.closers {
		c()
	}
}

// startupPass rebuilds what is derived from the cases (department queues,
// clock lists, pending markers), re-derives every open case's clocks (a
// lifecycle change whose sla:sync task was lost), then sweeps once.
func (w *Workers) startupPass(ctx context.Context) error {
	if err := w.store.RebuildLists(ctx); err != nil {
		return fmt.Errorf("rebuild lists: %w", err)
	}
	if err := w.syncAllClocks(ctx); err != nil {
		return fmt.Errorf("sync clocks: %w", err)
	}
	return w.Reconcile(ctx)
}

// observe records enqueue-to-start latency and successful outcomes; failures
// are recorded by taskFailed, which also sees panics.
func (w *Workers) observe(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		if retried, _ := asynq.GetRetryCount(ctx); retried == 0 {
			if at, ok := queue.EnqueuedAt(t); ok {
				metrics.ObserveTaskStart(t.Type(), w.now().Sub(at))
			}
		}
		err := next.ProcessTask(ctx, t)
		if err == nil {
			metrics.ObserveTask(t.Type(), "ok")
		}
		return err
	})
}

// taskFailed logs and counts a failed run (error or panic). The error
// messages of this package never contain report content.
func (w *Workers) taskFailed(ctx context.Context, t *asynq.Task, err error) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	id, _ := asynq.GetTaskID(ctx)
	outcome := "retry"
	if retried >= maxRetry || errors.Is(err, asynq.SkipRetry) {
		outcome = "failed"
	}
	metrics.ObserveTask(t.Type(), outcome)
	w.log.Warn("task failed", "type", t.Type(), "id", id, "retried", retried, "max_retry", maxRetry, "outcome", outcome, "err", err)
}

// retryDelay backs off exponentially: notifications on the notify policy
// (slow: a mail server may be down for a while), everything else on the
// tasks policy (fast: the data is in the store, a retry only waits out a
// short failure).
func (w *Workers) retryDelay(n int, _ error, t *asynq.Task) time.Duration {
	if t.Type() == queue.TypeNotify {
		return backoff(n, w.pol.Notify.BackoffFirst.Duration(), w.pol.Notify.BackoffMax.Duration())
	}
	return backoff(n, w.pol.Tasks.RetryFirst.Duration(), w.pol.Tasks.RetryMax.Duration())
}

func backoff(n int, first, limit time.Duration) time.Duration {
	d := first
	for range n {
		if d >= limit {
			break
		}
		d *= 2
	}
	return min(d, limit)
}

// asynqLogger sends asynq's own logs to slog. Fatal does not exit: asynq
// does not call it, and a library must never end the process.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug("asynq", "msg", fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info("asynq", "msg", fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn("asynq", "msg", fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error("asynq", "msg", fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error("asynq", "msg", fmt.Sprint(args...)) }
