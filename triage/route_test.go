package triage

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// labelled is one labelled case of a JSON-lines evaluation file.
type labelled struct {
	Report
	Lead       string   `json:"lead"`
	LeadAccept []string `json:"lead_accept"`
	Kind       string   `json:"kind"`
}

func readLabelled(t *testing.T, path string) []labelled {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		t.Skipf("%s not present", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []labelled
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var c labelled
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		if len(c.LeadAccept) == 0 && c.Lead != "" {
			c.LeadAccept = []string{c.Lead}
		}
		out = append(out, c)
	}
	return out
}

func testRouter(t testing.TB) *Router {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// accuracy routes every case and reports the ones whose lead is not accepted.
func accuracy(t *testing.T, r *Router, cases []labelled) (ok int, misses []string) {
	for _, c := range cases {
		d := r.Route(c.Report)
		if contains(c.LeadAccept, d.Lead) {
			ok++
			continue
		}
		misses = append(misses, c.ID+": got "+d.Lead+" want "+strings.Join(c.LeadAccept, "|")+" — "+d.Explanation)
	}
	return ok, misses
}

// TestPublicSamplesRouteToAcceptedLead is the acceptance test: all 30
// public cases lead with a department the labellers accepted.
func TestPublicSamplesRouteToAcceptedLead(t *testing.T) {
	r := testRouter(t)
	cases := readLabelled(t, "../../shared/testdata/triage_public.jsonl")
	ok, misses := accuracy(t, r, cases)
	for _, m := range misses {
		t.Error(m)
	}
	t.Logf("public samples: %d/%d leads accepted", ok, len(cases))
}
