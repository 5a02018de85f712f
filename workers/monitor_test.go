package workers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/httpd"
	"whistle/internal/testenv"
	"whistle/mongodb"
	"whistle/workers"
)

func TestMonitorIsMountedBehindTheGuard(t *testing.T) {
	h := newHarness(t, testenv.Stores()[0], testenv.Redises()[0])
	w, err := workers.New(h.deps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	app := httpd.New(httpd.Options{Logger: testenv.Quiet()})
	w.MountMonitor(app, func(c *fiber.Ctx) error {
		if c.Get("X-Test-Role") != string(whistle.RoleAdmin) {
			return c.SendStatus(fiber.StatusForbidden)
		}
		return c.Next()
	})
	get := func(path, role string) (*http.Response, string) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if role != "" {
			req.Header.Set("X-Test-Role", role)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, role := range []string{"", string(whistle.RoleHandler)} {
		if resp, _ := get(workers.MonitorPath+"/", role); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("role %q got %d, want 403", role, resp.StatusCode)
		}
	}
	resp, page := get(workers.MonitorPath+"/", string(whistle.RoleAdmin))
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Asynq") {
		t.Fatalf("admin got %d", resp.StatusCode)
	}
	if strings.Count(csp, "'sha256-") != 2 || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "googleapis") {
		t.Fatalf("monitor CSP %q: want its two inline scripts by hash and no third-party origin", csp)
	}
	if resp, body := get(workers.MonitorPath+"/api/queues", string(whistle.RoleAdmin)); resp.StatusCode != http.StatusOK || !strings.Contains(body, "queues") {
		t.Fatalf("queue API: %d %s", resp.StatusCode, body)
	}
}

// TestSweepClearsMarkersOfCasesRoutedByHand: a case routed by the 安委办
// while its triage task was archived keeps no pending marker once the
// marker is older than the grace period.
func TestSweepClearsMarkersOfCasesRoutedByHand(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, testenv.Stores()[0], testenv.Redises()[0])
	clock := testenv.NewClock(time.Now())
	h.now = clock.Now
	w, err := workers.New(h.deps()) // not started: only the sweep runs
	if err != nil {
		t.Fatal(err)
	}
	id := h.submit(fireExitReport, "石嘴山市", false)
	if _, err := h.store.UpdateCase(ctx, id, func(c *whistle.Case) error {
		_, err := c.Lifecycle.Apply(whistle.Actor{ID: "c1", Role: whistle.RoleCoordinator},
			whistle.Command{Action: whistle.ActionRoute, Department: "宁夏消防救援总队", Reason: "人工分办"}, clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	clock.Set(clock.Now().Add(h.policy.Sweep.OrphanMarkerGrace.Duration() + time.Minute))
	if err := w.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := h.store.PendingCases(ctx, 100)
	if err != nil || slices.ContainsFunc(ps, func(p mongodb.Pending) bool { return p.CaseID == id }) {
		t.Fatalf("stale marker kept: %v %v", ps, err)
	}
}
