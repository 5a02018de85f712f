package crypto

import (
	"errors"
	"testing"
	"time"
)

// cheapKDF keeps Argon2id-based tests fast; production uses the defaults.
var cheapKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// flipEachBit calls open on every single-bit corruption of data and fails the
// test if any of them opens.
func flipEachBit(t *testing.T, data []byte, open func([]byte) error) {
	t.Helper()
	for i := range len(data) * 8 {
		corrupt := append([]byte(nil), data...)
		corrupt[i/8] ^= 1 << (i % 8)
		if err := open(corrupt); err == nil {
			t.Fatalf("flipping bit %d of byte %d still opened", i%8, i/8)
		}
	}
}

func wantErrorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want one wrapping %v", err, target)
	}
}

func testSecrets(t testing.TB, master byte) *ServiceSecrets {
	t.Helper()
	m := make([]byte, MasterSecretSize)
	for i := range m {
		m[i] = master
	}
	s, err := newServiceSecrets(1, m, cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
