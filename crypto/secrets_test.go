package crypto

import (
	"bytes"
	"testing"
)

func TestReceiptKeyIsDeterministicPerReceiptAndSecret(t *testing.T) {
	s := testSecrets(t, 1)
	r := NewReceipt()
	k1, err := s.DeriveReceiptKey(r)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := s.DeriveReceiptKey(r)
	if !bytes.Equal(k1.LookupToken(), k2.LookupToken()) || k1.KeyPair() != k2.KeyPair() {
		t.Fatal("same receipt and secret gave different keys")
	}
	other, _ := s.DeriveReceiptKey(NewReceipt())
	otherSecret, _ := testSecrets(t, 2).DeriveReceiptKey(r)
	for name, k := range map[string]ReceiptKey{"other receipt": other, "other master secret": otherSecret} {
		if bytes.Equal(k.LookupToken(), k1.LookupToken()) || k.KeyPair() == k1.KeyPair() {
			t.Fatalf("%s gave the same lookup token or key pair", name)
		}
	}
	if kp := k1.KeyPair(); bytes.Equal(k1.LookupToken(), kp.Private[:]) {
		t.Fatal("lookup token equals the reporter private key")
	}
}

func TestWrongReceiptCannotOpenReporterCopy(t *testing.T) {
	s := testSecrets(t, 1)
	r := NewReceipt()
	k, _ := s.DeriveReceiptKey(r)
	dek := NewDataKey()
	copies, err := SealDataKeyFor(dek, "r-1", k.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	sealed := copies[HolderReporter(1)]
	right, _ := s.DeriveReceiptKey(r)
	if got, err := OpenDataKey(sealed, "r-1", right.KeyPair()); err != nil || got != dek {
		t.Fatalf("right receipt fails: %v", err)
	}
	wrong := []byte(r)
	wrong[19] = '0' + (wrong[19]-'0'+1)%10
	wk, _ := s.DeriveReceiptKey(Receipt(wrong))
	_, err = OpenDataKey(sealed, "r-1", wk.KeyPair())
	wantErrorIs(t, err, ErrAuthentication)
}

func TestDeriveReceiptKeyRejectsNonCanonical(t *testing.T) {
	s := testSecrets(t, 1)
	for _, r := range []Receipt{"", "1234 5678 9012 3456 7890", "1234567890123456789x"} {
		if _, err := s.DeriveReceiptKey(r); err == nil {
			t.Errorf("accepted %q", string(r))
		}
	}
}

func TestBlindTokensSeparatePurposesAndSecrets(t *testing.T) {
	s1, s2 := testSecrets(t, 1), testSecrets(t, 2)
	data := []byte("宁夏某某化工有限公司")
	a := s1.BlindToken("company-name", data)
	if !bytes.Equal(a, s1.Blinder("company-name")(data)) {
		t.Fatal("BlindToken and Blinder disagree")
	}
	for name, other := range map[string][]byte{
		"other purpose": s1.BlindToken("simhash-band", data),
		"other secret":  s2.BlindToken("company-name", data),
		"other data":    s1.BlindToken("company-name", []byte("x")),
	} {
		if bytes.Equal(a, other) {
			t.Fatalf("%s gave the same token", name)
		}
	}
	if len(a) != 32 {
		t.Fatalf("token length %d", len(a))
	}
}

func TestKDFParamsValidate(t *testing.T) {
	for _, tc := range []struct {
		p  KDFParams
		ok bool
	}{
		{DefaultStaffKDF, true},
		{DefaultReceiptKDF, true},
		{cheapKDF, true},
		{KDFParams{Time: 0, MemoryKiB: 64, Threads: 1}, false},
		{KDFParams{Time: 65, MemoryKiB: 64, Threads: 1}, false},
		{KDFParams{Time: 1, MemoryKiB: 64, Threads: 0}, false},
		{KDFParams{Time: 1, MemoryKiB: 15, Threads: 2}, false},
		{KDFParams{Time: 1, MemoryKiB: 4 << 20, Threads: 1}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", tc.p, err, tc.ok)
		}
	}
}

func TestNewServiceSecretsRejectsBadMaster(t *testing.T) {
	if _, err := newServiceSecrets(1, make([]byte, 31), DefaultReceiptKDF); err == nil {
		t.Fatal("31-byte master secret accepted")
	}
}
