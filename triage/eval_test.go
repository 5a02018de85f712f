package triage

import (
	"testing"
)

// TestEvalReport is the evaluation command: per precedent set it logs lead
// accuracy with the shipped precedents and with the set held out, kind
// agreement with the set held out and (with -v) every held-out miss with the words that decided it.
// It fails when a label names a lead the registry does not know, since such
// a case could never be routed right and would skew every number.
func TestEvalReport(t *testing.T) {
	r := testRouter(t)
	known := map[string]bool{}
	for _, d := range r.deps {
		if !d.Referral {
			known[d.Name] = true
		}
	}
	sets := precedentSets(t)
	for _, set := range sets {
		for _, c := range set.Reports {
			for _, l := range c.LeadAccept {
				if !known[l] {
					t.Errorf("%s %s: label %q is no department heading", set.Name, c.ID, l)
				}
			}
		}
		ok, _, _, _ := score(r, set.Reports)
		held, kinds, labelledKinds, misses := score(routerWithout(t, sets, set.Name), set.Reports)
		n := max(len(set.Reports), 1)
		t.Logf("%-25s leads %3d/%3d (%5.1f %%) shipped, %3d (%5.1f %%) held out; kinds held out %d/%d", set.Name, ok, n,
			100*float64(ok)/float64(n), held, 100*float64(held)/float64(n), kinds, labelledKinds)
		if testing.Verbose() {
			for _, m := range misses {
				t.Log("   ", m)
			}
		}
	}
}
