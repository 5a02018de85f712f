package workers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"whistle"
	"whistle/httpd"
	"whistle/intake"
	"whistle/internal/testenv"
)

// TestReportThroughTheAPIIsRoutedWithinTenSeconds is the acceptance test of
// issue 6 on the embedded default (FerretDB on SQLite, miniredis): a report
// submitted with POST /api/v1/reports shows status "routed" with a
// department in POST /api/v1/followup within 10 s. The 10 s bound is the
// acceptance criterion itself, not a performance assertion.
func TestReportThroughTheAPIIsRoutedWithinTenSeconds(t *testing.T) {
	h := newHarness(t, testenv.Stores()[0], testenv.Redises()[0])
	h.start(h.deps())
	// The test polls follow-up faster than a person would; the receipt
	// rate limit (tested in intake) is widened so polling is not refused.
	limits := intake.DefaultLimits
	limits.Receipt = intake.Rate{Burst: 1000, Every: time.Millisecond}
	ih, err := intake.New(intake.Deps{Store: h.store, Queue: h.queue, Keys: h.keys, Logger: testenv.Quiet(), Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	app := httpd.New(httpd.Options{Logger: testenv.Quiet()})
	ih.Register(app)
	post := func(path, body string) (int, []byte) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}

	start := time.Now()
	report, _ := json.Marshal(map[string]any{"text": fireExitReport, "city": "石嘴山市", "county": "大武口区"})
	status, body := post("/api/v1/reports", string(report))
	if status != http.StatusCreated {
		t.Fatalf("submit: %d %s", status, body)
	}
	var receipt struct{ Receipt string }
	if err := json.Unmarshal(body, &receipt); err != nil || receipt.Receipt == "" {
		t.Fatalf("no receipt in %s", body)
	}
	var follow struct {
		Status     whistle.State `json:"status"`
		Department string        `json:"department"`
	}
	waitLong(t, 10*time.Second, "status routed with a department", func() bool {
		status, body := post("/api/v1/followup", `{"receipt":"`+receipt.Receipt+`"}`)
		if status != http.StatusOK {
			t.Fatalf("follow-up: %d %s", status, body)
		}
		if err := json.Unmarshal(body, &follow); err != nil {
			t.Fatal(err)
		}
		return follow.Status == whistle.StateRouted && follow.Department != ""
	})
	t.Logf("routed to %s %.2fs after submission", follow.Department, time.Since(start).Seconds())
}
