package queue

import (
	"encoding/json"
	"fmt"
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
	return asynq.NewTask(TypeTriage, casePayload(caseID),
		asynq.TaskID(TypeTriage+":"+caseID), asynq.Queue(q), asynq.MaxRetry(10), asynq.Timeout(time.Minute))
}
