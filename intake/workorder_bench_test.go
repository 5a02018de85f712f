package intake

import (
	"net/http"
	"testing"
)

// BenchmarkWorkOrderImport pushes new orders one after another over HTTP:
// key check, validation, reservation, sealing, case write, triage enqueue,
// completion and audit.
func BenchmarkWorkOrderImport(b *testing.B) {
	s := newOrderSite(b, HotlineOptions{})
	b.ResetTimer()
	for range b.N {
		if r := s.push(b, s.app, newOrder()); r.status != http.StatusCreated {
			b.Fatalf("%d %s", r.status, r.raw)
		}
	}
}

// BenchmarkWorkOrderRepeat pushes an order already imported: key check,
// validation and one reservation insert that finds the order done.
func BenchmarkWorkOrderRepeat(b *testing.B) {
	s := newOrderSite(b, HotlineOptions{})
	o := newOrder()
	s.push(b, s.app, o)
	b.ResetTimer()
	for range b.N {
		if r := s.push(b, s.app, o); r.status != http.StatusOK {
			b.Fatalf("%d %s", r.status, r.raw)
		}
	}
}
