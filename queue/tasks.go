package queue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types. The catalogue, with the handler of each, is documented in
// workers/README.md. Payloads carry a version so that a worker can refuse a
// payload it does not understand instead of misreading it during a rolling
// upgrade.
const (
	TypeTriage    = "triage:report"   // route a stored report
	TypeReconcile = "reconcile:sweep" // re-enqueue what the store says is due
)

// PayloadVersion is the version written into every payload.
const PayloadVersion = 1

// CasePayload names the case a task acts on.
type CasePayload struct {
	V      int    `json:"v"`
	CaseID string `json:"case_id"`
}

// DecodeCase parses a CasePayload and checks its version.
func DecodeCase(b []byte) (CasePayload, error) {
	var p CasePayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: bad payload: %v", asynq.SkipRetry, err)
	}
	if p.V != PayloadVersion || p.CaseID == "" {
		return p, fmt.Errorf("%w: payload version %d / case %q not understood", asynq.SkipRetry, p.V, p.CaseID)
	}
	return p, nil
}

func casePayload(caseID string) []byte {
	b, _ := json.Marshal(CasePayload{V: PayloadVersion, CaseID: caseID})
	return b
}

// TriageTask routes one case. Its id is derived from the case, so however
// often intake and the sweep enqueue it, one task at most is held.
func TriageTask(caseID string, urgent bool) *asynq.Task {
	q := Default
	if urgent {
		q = Critical
	}
	return newTask(TypeTriage, casePayload(caseID),
		asynq.TaskID(TypeTriage+":"+caseID), asynq.Queue(q), asynq.MaxRetry(10), asynq.Timeout(time.Minute))
}

// The rest of the catalogue: statutory clocks, escalation, notifications,
// retention, duplicate linking. workers/README.md says what each handler
// does and why its id makes duplicates collapse.
const (
	TypeSLACheck  = "sla:check"       // look at one due clock of a case; enqueue its escalation steps
	TypeSLASync   = "sla:sync"        // re-derive a case's clocks after a lifecycle change (staff console)
	TypeEscalate  = "escalate:step"   // take one escalation step of an overdue clock
	TypeNotify    = "notify:deliver"  // send one staff notification to one destination
	TypeRetention = "retention:shred" // crypto-shred closed cases past the retention period
	TypeDedupe    = "dedupe:link"     // link a report's fingerprint into the duplicate bands; record its duplicates
)

// headerEnqueuedAt carries the enqueue time (Unix milliseconds) so that the
// worker can measure enqueue-to-start latency without touching payloads.
const headerEnqueuedAt = "enqueued_at"

func newTask(typ string, payload []byte, opts ...asynq.Option) *asynq.Task {
	h := map[string]string{headerEnqueuedAt: strconv.FormatInt(time.Now().UnixMilli(), 10)}
	return asynq.NewTaskWithHeaders(typ, payload, h, opts...)
}

// EnqueuedAt is when t was built for enqueueing; false for tasks built elsewhere.
func EnqueuedAt(t *asynq.Task) (time.Time, bool) {
	ms, err := strconv.ParseInt(t.Headers()[headerEnqueuedAt], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// ClockPayload names one clock of a case; Due (Unix seconds) pins the clock
// instance, so a task for a clock that has since restarted is recognised.
type ClockPayload struct {
	V      int    `json:"v"`
	CaseID string `json:"case_id"`
	Clock  string `json:"clock"`
	Due    int64  `json:"due"`
	Step   int    `json:"step,omitempty"` // escalate:step only: the step to take (from 1)
}

// DecodeClock parses a ClockPayload and checks its version.
func DecodeClock(b []byte) (ClockPayload, error) {
	var p ClockPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: bad payload: %v", asynq.SkipRetry, err)
	}
	if p.V != PayloadVersion || p.CaseID == "" || p.Clock == "" || p.Step < 0 {
		return p, fmt.Errorf("%w: clock payload version %d / case %q / clock %q / step %d not understood",
			asynq.SkipRetry, p.V, p.CaseID, p.Clock, p.Step)
	}
	return p, nil
}

func clockPayload(caseID, clock string, due time.Time, step int) []byte {
	b, _ := json.Marshal(ClockPayload{V: PayloadVersion, CaseID: caseID, Clock: clock, Due: due.Unix(), Step: step})
	return b
}

// SLACheckTask looks at a due clock. The sweep enqueues it for every due
// clock each minute; the id collapses repeats, and Retention keeps the id
// taken for a while after the check so a clock whose steps are all taken is
// looked at once per recheck period, not once a minute.
func SLACheckTask(caseID, clock string, due time.Time, recheck time.Duration) *asynq.Task {
	return newTask(TypeSLACheck, clockPayload(caseID, clock, due, 0),
		asynq.TaskID(fmt.Sprintf("%s:%s:%s:%d", TypeSLACheck, caseID, clock, due.Unix())),
		asynq.Queue(Default), asynq.MaxRetry(5), asynq.Timeout(time.Minute), asynq.Retention(recheck))
}

// SLASyncTask re-derives a case's clocks; staff consoles enqueue it (best
// effort) after a lifecycle change, and the start-up pass covers misses.
func SLASyncTask(caseID string) *asynq.Task {
	return newTask(TypeSLASync, casePayload(caseID),
		asynq.TaskID(TypeSLASync+":"+caseID), asynq.Queue(Default), asynq.MaxRetry(5), asynq.Timeout(time.Minute))
}

// EscalateTask takes escalation step `step` of a clock instance after
// delay (zero: now). One id per step: a step is taken once however often it
// is enqueued, and Retention keeps that true after it completed.
func EscalateTask(caseID, clock string, due time.Time, step int, delay time.Duration) *asynq.Task {
	return newTask(TypeEscalate, clockPayload(caseID, clock, due, step),
		asynq.TaskID(fmt.Sprintf("%s:%s:%s:%d:%d", TypeEscalate, caseID, clock, due.Unix(), step)),
		asynq.Queue(Critical), asynq.MaxRetry(10), asynq.Timeout(time.Minute), asynq.ProcessIn(max(delay, 0)),
		asynq.Retention(24*time.Hour))
}

// DeliveryPayload names one notification delivery record.
type DeliveryPayload struct {
	V          int    `json:"v"`
	DeliveryID string `json:"delivery_id"`
}

// DecodeDelivery parses a DeliveryPayload and checks its version.
func DecodeDelivery(b []byte) (DeliveryPayload, error) {
	var p DeliveryPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: bad payload: %v", asynq.SkipRetry, err)
	}
	if p.V != PayloadVersion || p.DeliveryID == "" {
		return p, fmt.Errorf("%w: delivery payload version %d / id %q not understood", asynq.SkipRetry, p.V, p.DeliveryID)
	}
	return p, nil
}

// NotifyTask sends one delivery. maxAttempts comes from the policy; the
// retry delay is the worker's backoff for this type.
func NotifyTask(deliveryID string, maxAttempts int) *asynq.Task {
	b, _ := json.Marshal(DeliveryPayload{V: PayloadVersion, DeliveryID: deliveryID})
	return newTask(TypeNotify, b, asynq.TaskID(TypeNotify+":"+deliveryID), asynq.Queue(Default),
		asynq.MaxRetry(maxAttempts-1), asynq.Timeout(time.Minute))
}

// DedupePayloadVersion is the version of dedupe:link payloads, apart from
// PayloadVersion because their shape changed: version 1 carried the
// fingerprint itself, version 2 names the case only, whose fingerprint waits
// in the store (mongodb.PendingFingerprint). Each kind of worker refuses
// (archives) the other's payload instead of misreading it.
const DedupePayloadVersion = 2

// DecodeDedupe parses a dedupe:link payload and checks its version.
func DecodeDedupe(b []byte) (CasePayload, error) {
	var p CasePayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: bad payload: %v", asynq.SkipRetry, err)
	}
	if p.V != DedupePayloadVersion || p.CaseID == "" {
		return p, fmt.Errorf("%w: dedupe payload version %d / case %q not understood", asynq.SkipRetry, p.V, p.CaseID)
	}
	return p, nil
}

// DedupeTask links a case's pending fingerprint into the duplicate bands.
// The triage task enqueues it once the fingerprint is stored, and the sweep
// again while the fingerprint still waits; the case-derived id collapses
// them. Linking can wait, so it retries through a longer outage (about an
// hour on the tasks policy) than routing: an archived task holds its id,
// and with it the sweep's re-enqueues, until it is deleted from the archive.
func DedupeTask(caseID string) *asynq.Task {
	b, _ := json.Marshal(CasePayload{V: DedupePayloadVersion, CaseID: caseID})
	return newTask(TypeDedupe, b, asynq.TaskID(TypeDedupe+":"+caseID), asynq.Queue(Low),
		asynq.MaxRetry(20), asynq.Timeout(time.Minute))
}

// SweepPayload is the payload of the periodic tasks (reconcile, retention).
type SweepPayload struct {
	V int `json:"v"`
}

// DecodeSweep parses a SweepPayload and checks its version.
func DecodeSweep(b []byte) (SweepPayload, error) {
	var p SweepPayload
	if err := json.Unmarshal(b, &p); err != nil || p.V != PayloadVersion {
		return p, fmt.Errorf("%w: sweep payload not understood", asynq.SkipRetry)
	}
	return p, nil
}

func sweepPayload() []byte {
	b, _ := json.Marshal(SweepPayload{V: PayloadVersion})
	return b
}

// ReconcileTask is the minute sweep, registered with the scheduler. Unique
// collapses the ticks of several worker processes' schedulers. The scheduler
// re-enqueues one Task value, so it carries no enqueue time.
func ReconcileTask(every time.Duration) *asynq.Task {
	return asynq.NewTask(TypeReconcile, sweepPayload(), asynq.Queue(Low), asynq.MaxRetry(0),
		asynq.Timeout(5*time.Minute), asynq.Unique(every-time.Second))
}

// RetentionTask is the daily retention run, registered with the scheduler.
func RetentionTask() *asynq.Task {
	return asynq.NewTask(TypeRetention, sweepPayload(), asynq.Queue(Low), asynq.MaxRetry(3),
		asynq.Timeout(time.Hour), asynq.Unique(time.Hour))
}
