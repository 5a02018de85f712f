package crypto

import (
	"bytes"
	"testing"
)

func TestFieldRoundTrip(t *testing.T) {
	dek := NewDataKey()
	for _, tc := range []struct {
		name      string
		plaintext []byte
	}{
		{"empty", nil},
		{"short Chinese text", []byte("宁东基地某化工厂消防通道被堵")},
		{"one MiB", bytes.Repeat([]byte{0xAB}, 1<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := SealField(dek, 1, "r-1", "description", tc.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			got, err := OpenField(dek, "r-1", "description", env)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("round trip changed the plaintext")
			}
		})
	}
}

func TestFieldEnvelopeHidesPlaintextAndRepeats(t *testing.T) {
	dek := NewDataKey()
	marker := []byte("MARKER-4711-unique")
	a, _ := SealField(dek, 1, "r-1", "f", marker)
	b, _ := SealField(dek, 1, "r-1", "f", marker)
	if bytes.Contains(a, marker) {
		t.Fatal("envelope contains the plaintext")
	}
	if bytes.Equal(a, b) {
		t.Fatal("sealing the same plaintext twice gave the same envelope (nonce reuse)")
	}
}

func TestFieldOpenFailsWhenMovedOrWrongKey(t *testing.T) {
	dek := NewDataKey()
	env, err := SealField(dek, 3, "r-1", "description", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, report, field string
		dek                 DataKey
	}{
		{"other report", "r-2", "description", dek},
		{"other field", "r-1", "location", dek},
		{"other key", "r-1", "description", NewDataKey()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenField(tc.dek, tc.report, tc.field, env)
			wantErrorIs(t, err, ErrAuthentication)
		})
	}
}

func TestFieldOpenFailsOnAnyFlippedBit(t *testing.T) {
	dek := NewDataKey()
	env, _ := SealField(dek, 1, "r-1", "f", []byte("short but real"))
	flipEachBit(t, env, func(b []byte) error {
		_, err := OpenField(dek, "r-1", "f", b)
		return err
	})
}

func TestFieldOpenRejectsMalformedEnvelopes(t *testing.T) {
	dek := NewDataKey()
	env, _ := SealField(dek, 1, "r-1", "f", []byte("x"))
	badFormat := append([]byte(nil), env...)
	badFormat[0] = 9
	for _, tc := range []struct {
		name string
		env  []byte
	}{
		{"empty", nil},
		{"header only", env[:fieldHeaderSize]},
		{"tag cut", env[:fieldEnvelopeMin-1]},
		{"unknown format", badFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenField(dek, "r-1", "f", tc.env)
			wantErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestEnvelopeKeyVersionReadsTheSealedVersion(t *testing.T) {
	env, _ := SealField(NewDataKey(), 42, "r-1", "f", []byte("x"))
	if v, err := EnvelopeKeyVersion(env); err != nil || v != 42 {
		t.Fatalf("got version %d, %v; want 42", v, err)
	}
}

func TestSealFieldRejectsEmptyBinding(t *testing.T) {
	for _, tc := range []struct{ report, field string }{{"", "f"}, {"r", ""}} {
		if _, err := SealField(NewDataKey(), 1, tc.report, tc.field, nil); err == nil {
			t.Fatalf("sealing with report %q field %q succeeded", tc.report, tc.field)
		}
	}
}

func TestDataKeyStringIsRedacted(t *testing.T) {
	var k DataKey
	k[0] = 0x7A
	if s := k.String(); s != "DataKey(redacted)" {
		t.Fatalf("String() = %q", s)
	}
	k.Wipe()
	if k != (DataKey{}) {
		t.Fatal("Wipe left key bytes")
	}
}
