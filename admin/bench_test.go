package admin_test

import (
	"net/http"
	"testing"
	"time"

	"whistle"
	"whistle/admin"
	"whistle/crypto"
	"whistle/internal/testenv"
)

// generous limits keep the rate limiter out of the measurement.
var generous = admin.LoginLimits{PerUserBurst: 1 << 20, PerUserEvery: time.Second, GlobalBurst: 1 << 20, GlobalEvery: time.Second, ConcurrentKDF: 2}

// BenchmarkLogin is one full login over HTTP: login page, form, limits,
// store read, Argon2id at the production cost (crypto.DefaultStaffKDF),
// session write and audit entry.
func BenchmarkLogin(b *testing.B) {
	s := newSite(b, testenv.Stores()[0].Open(b), func(d *admin.Deps) { d.KDF, d.Limits = crypto.DefaultStaffKDF, generous })
	user, _ := s.staffMember(whistle.RoleHandler)
	b.ResetTimer()
	for range b.N {
		if r := s.browser().login(user, goodPassword); r.status != http.StatusSeeOther {
			b.Fatalf("login: %d", r.status)
		}
	}
}

// BenchmarkStaffRequest is one GET through RequireRole: the session and the
// member read by _id.
func BenchmarkStaffRequest(b *testing.B) {
	s := newSite(b, testenv.Stores()[0].Open(b), nil)
	user, _ := s.staffMember(whistle.RoleHandler)
	br := s.browser()
	br.login(user, goodPassword)
	b.ResetTimer()
	for range b.N {
		if r := br.get("/probe"); r.status != http.StatusOK {
			b.Fatalf("probe: %d", r.status)
		}
	}
}
