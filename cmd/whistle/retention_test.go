package main

import (
	"strings"
	"testing"
)

func TestRetentionDryRunListsNothingOnAFreshStore(t *testing.T) {
	b := newCLIBackends(t)
	code, stdout, stderr := b.run(t, "", nil, "retention", "--dry-run")
	if code != 0 || !strings.HasPrefix(stdout, "CASE") || !strings.Contains(stderr, "0 closed case(s)") || !strings.Contains(stderr, "dry run") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if code, _, stderr := b.run(t, "", nil, "retention", "--policy", "/nonexistent/policy.json"); code == 0 {
		t.Fatalf("a missing policy file was accepted: %s", stderr)
	}
}
