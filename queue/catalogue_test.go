package queue

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestCatalogueTasksRoundTrip(t *testing.T) {
	due := time.Date(2026, 9, 20, 16, 0, 0, 0, time.UTC)
	esc := EscalateTask("c1", "sign_for", due, 2, time.Minute)
	p, err := DecodeClock(esc.Payload())
	if err != nil || p.CaseID != "c1" || p.Clock != "sign_for" || p.Due != due.Unix() || p.Step != 2 {
		t.Fatalf("escalate payload %+v, %v", p, err)
	}
	check := SLACheckTask("c1", "sign_for", due, 15*time.Minute)
	if p, err := DecodeClock(check.Payload()); err != nil || p.Step != 0 {
		t.Fatalf("check payload %+v, %v", p, err)
	}
	if d, err := DecodeDelivery(NotifyTask("d1", 8).Payload()); err != nil || d.DeliveryID != "d1" {
		t.Fatalf("delivery payload %+v, %v", d, err)
	}
	if _, err := DecodeSweep(RetentionTask().Payload()); err != nil {
		t.Fatal(err)
	}
	if d, err := DecodeDedupe(DedupeTask("c1").Payload()); err != nil || d.CaseID != "c1" || d.V != DedupePayloadVersion {
		t.Fatalf("dedupe payload %+v, %v", d, err)
	}
	at, ok := EnqueuedAt(check)
	if !ok || time.Since(at) > time.Hour || time.Since(at) < 0 {
		t.Fatalf("enqueue time %v %v", at, ok)
	}
	if _, ok := EnqueuedAt(ReconcileTask(time.Minute)); ok {
		t.Fatal("a scheduler task carries a stale enqueue time")
	}
}

func TestDecodersRefuseWhatTheyDoNotUnderstand(t *testing.T) {
	future, _ := json.Marshal(ClockPayload{V: PayloadVersion + 1, CaseID: "c", Clock: "k"})
	tests := []struct {
		name string
		err  error
	}{
		{"clock of a future version", func() error { _, err := DecodeClock(future); return err }()},
		{"clock without a case", func() error { _, err := DecodeClock([]byte(`{"v":1,"clock":"k"}`)); return err }()},
		{"negative step", func() error { _, err := DecodeClock([]byte(`{"v":1,"case_id":"c","clock":"k","step":-1}`)); return err }()},
		{"delivery without id", func() error { _, err := DecodeDelivery([]byte(`{"v":1}`)); return err }()},
		{"sweep not JSON", func() error { _, err := DecodeSweep([]byte(`v1`)); return err }()},
		{"dedupe carrying its fingerprint (version 1, before the store kept it)", func() error {
			_, err := DecodeDedupe([]byte(`{"v":1,"case_id":"c","values":["AQ=="],"bands":["AQ=="]}`))
			return err
		}()},
		{"dedupe of a future version", func() error { _, err := DecodeDedupe([]byte(`{"v":3,"case_id":"c"}`)); return err }()},
		{"dedupe without a case", func() error { _, err := DecodeDedupe([]byte(`{"v":2}`)); return err }()},
		{"dedupe not JSON", func() error { _, err := DecodeDedupe([]byte(`{"v":2,`)); return err }()},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, asynq.SkipRetry) {
			t.Errorf("%s: %v, want a SkipRetry error (archive, do not retry)", tt.name, tt.err)
		}
	}
}

func FuzzDecodePayloads(f *testing.F) {
	f.Add([]byte(`{"v":1,"case_id":"c","clock":"sign_for","due":1,"step":1}`))
	f.Add([]byte(`{"v":1,"delivery_id":"d"}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":2,"case_id":"c"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := DecodeClock(b); err == nil && (p.CaseID == "" || p.Clock == "" || p.V != PayloadVersion) {
			t.Fatalf("accepted %q as %+v", b, p)
		}
		if p, err := DecodeDelivery(b); err == nil && p.DeliveryID == "" {
			t.Fatalf("accepted %q as %+v", b, p)
		}
		if p, err := DecodeDedupe(b); err == nil && (p.CaseID == "" || p.V != DedupePayloadVersion) {
			t.Fatalf("accepted %q as %+v", b, p)
		}
		if _, err := DecodeSweep(b); err != nil && !strings.Contains(err.Error(), "not understood") {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
