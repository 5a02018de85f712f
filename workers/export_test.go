package workers

import "github.com/hibiken/asynq"

// SetHook installs a function called at named points of the handlers
// (fault tests stop a worker process there).
func (w *Workers) SetHook(f func(point, caseID string)) { w.hook = f }

// HandleForTest registers an extra handler behind the same middleware,
// retry policy and error handler as the real ones (the panic test).
func (w *Workers) HandleForTest(taskType string, h asynq.HandlerFunc) { w.mux.HandleFunc(taskType, h) }

// Hook points, for tests.
const (
	HookTriageDecided = hookTriageDecided
	HookTriageRouted  = hookTriageRouted
	HookDedupeRead    = hookDedupeRead
)

// BlindPurpose and EncodeValues let a test recompute the fingerprint the
// triage task stores for dedupe:link and compare it with the linked one.
const BlindPurpose = blindPurpose

var EncodeValues = encodeValues
