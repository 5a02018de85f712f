package triage

import (
	"path/filepath"
	"sort"
	"testing"
)

// labelledSets are every labelled JSON-lines file: the public samples, the
// hand-written own_reports*.jsonl and the held-out eval_independent*.jsonl.
func labelledSets(t *testing.T) []string {
	t.Helper()
	sets := []string{"testdata/public.jsonl"}
	for _, pattern := range []string{"testdata/own_reports*.jsonl", "testdata/eval_independent*.jsonl"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(m)
		sets = append(sets, m...)
	}
	return sets
}

// TestEvalReport is the evaluation command: per labelled set it logs lead
// accuracy, kind agreement and (with -v) every miss with the words that
// decided it. It fails when a label names a lead the registry does not know,
// since such a case could never be routed right and would skew every number.
func TestEvalReport(t *testing.T) {
	r := testRouter(t)
	known := map[string]bool{}
	for _, d := range r.deps {
		if !d.Referral {
			known[d.Name] = true
		}
	}
	for _, path := range labelledSets(t) {
		cases, err := readLabelledFile(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		for _, c := range cases {
			for _, l := range c.LeadAccept {
				if !known[l] {
					t.Errorf("%s %s: label %q is no department heading", path, c.ID, l)
				}
			}
		}
		ok, kinds, labelledKinds, misses := score(r, cases)
		t.Logf("%-45s leads %3d/%3d (%.1f %%)  kinds %d/%d", filepath.Base(path), ok, len(cases),
			100*float64(ok)/float64(max(len(cases), 1)), kinds, labelledKinds)
		if testing.Verbose() {
			for _, m := range misses {
				t.Log("   ", m)
			}
		}
	}
}
