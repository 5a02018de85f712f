package main

import (
	"context"
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"
)

var printedKey = regexp.MustCompile(`^wk_([0-9a-z]{16})_[0-9a-f]{64}\n$`)

func TestAPIKeyCommand(t *testing.T) {
	b := newCLIBackends(t)
	code, stdout, stderr := b.run(t, "", nil, "apikey", "create", "--name", "12345平台")
	m := printedKey.FindStringSubmatch(stdout)
	if code != 0 || m == nil || !strings.Contains(stderr, "only this once") {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stored, err := b.store.APIKey(context.Background(), m[1])
	sum := sha256.Sum256([]byte(strings.TrimSpace(stdout)))
	if err != nil || string(stored.Hash) != string(sum[:]) || stored.Name != "12345平台" {
		t.Fatalf("stored key %+v %v: want the SHA-256 of the printed key", stored, err)
	}

	steps := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stdout on success, stderr on failure
	}{
		{"ListShowsItActive", []string{"apikey", "list"}, 0, m[1]},
		{"SecondKeyForTheNameIsRefused", []string{"apikey", "create", "--name", "12345平台"}, 1, "请先吊销"},
		{"EmptyNameIsRefused", []string{"apikey", "create"}, 1, "name"},
		{"Revoke", []string{"apikey", "revoke", "--name", "12345平台"}, 0, "revoked"},
		{"ListShowsItRevoked", []string{"apikey", "list"}, 0, "revoked"},
		{"RevokeAgainFindsNothing", []string{"apikey", "revoke", "--name", "12345平台"}, 1, "不存在或已吊销"},
		{"UnknownSubcommand", []string{"apikey", "rotate"}, 1, "unknown apikey subcommand"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, stdout, stderr := b.run(t, "", nil, s.args...)
			out := stdout
			if s.wantCode != 0 {
				out = stderr
			}
			if code != s.wantCode || !strings.Contains(out, s.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, s.wantCode, s.want)
			}
		})
	}
}
