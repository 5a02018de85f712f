package crypto

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/curve25519"
)

func TestGenerateKeyPairPublicMatchesPrivate(t *testing.T) {
	kp := GenerateKeyPair()
	pub, err := curve25519.X25519(kp.Private[:], curve25519.Basepoint)
	if err != nil || !bytes.Equal(pub, kp.Public[:]) {
		t.Fatalf("public half does not match private half: %v", err)
	}
	if GenerateKeyPair() == kp {
		t.Fatal("two generated key pairs are equal")
	}
}

func TestKeyPairStringHidesPrivate(t *testing.T) {
	kp := GenerateKeyPair()
	s := fmt.Sprintf("%v %s %+v", kp, kp, kp)
	if strings.Contains(s, fmt.Sprint(kp.Private[0:4])) || strings.Contains(s, fmt.Sprintf("%x", kp.Private[:])) {
		t.Fatalf("formatted key pair shows private bytes: %s", s)
	}
}

func TestDataKeySealRoundTrip(t *testing.T) {
	holder := GenerateKeyPair()
	dek := NewDataKey()
	sealed, err := SealDataKey(dek, "r-1", holder.Public)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenDataKey(sealed, "r-1", holder)
	if err != nil || got != dek {
		t.Fatalf("round trip: %v", err)
	}
}

func TestOpenDataKeyFails(t *testing.T) {
	holder := GenerateKeyPair()
	dek := NewDataKey()
	sealed, _ := SealDataKey(dek, "r-1", holder.Public)
	groupSealed, _ := SealKeyPair(GenerateKeyPair(), "r-1", holder.Public)
	for _, tc := range []struct {
		name   string
		sealed []byte
		report string
		holder KeyPair
	}{
		{"other holder", sealed, "r-1", GenerateKeyPair()},
		{"moved to other report", sealed, "r-2", holder},
		{"a sealed group key is not a data key", groupSealed, "r-1", holder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenDataKey(tc.sealed, tc.report, tc.holder)
			wantErrorIs(t, err, ErrAuthentication)
		})
	}
	flipEachBit(t, sealed, func(b []byte) error {
		_, err := OpenDataKey(b, "r-1", holder)
		return err
	})
	for _, n := range []int{0, 1, sealedOverhead - 1} {
		_, err := OpenDataKey(sealed[:n], "r-1", holder)
		wantErrorIs(t, err, ErrMalformed)
	}
}

func TestSealRefusesLowOrderPublicKeys(t *testing.T) {
	for i, p := range lowOrderPoints {
		for _, highBit := range []byte{0, 0x80} {
			bad := PublicKey(p)
			bad[31] |= highBit
			if _, err := SealDataKey(NewDataKey(), "r", bad); err == nil {
				t.Errorf("sealed to low-order point %d (high bit %#x)", i, highBit)
			}
		}
	}
	// The order-8 points really are low order: X25519 with them yields zero.
	scalar := GenerateKeyPair()
	for _, p := range lowOrderPoints[2:4] {
		if _, err := curve25519.X25519(scalar.Private[:], p[:]); err == nil {
			t.Fatalf("point %x is not low order", p)
		}
	}
}

func TestSealDataKeyForSealsEveryRecipient(t *testing.T) {
	a, b := GenerateKeyPair(), GenerateKeyPair()
	dek := NewDataKey()
	copies, err := SealDataKeyFor(dek, "r-1",
		Recipient{HolderTriage(1), a.Public},
		Recipient{HolderCustodian(1), b.Public})
	if err != nil {
		t.Fatal(err)
	}
	for holder, kp := range map[string]KeyPair{HolderTriage(1): a, HolderCustodian(1): b} {
		if got, err := OpenDataKey(copies[holder], "r-1", kp); err != nil || got != dek {
			t.Fatalf("%s: %v", holder, err)
		}
	}
	if _, err := SealDataKeyFor(dek, "r-1", Recipient{"x", a.Public}, Recipient{"x", b.Public}); err == nil {
		t.Fatal("duplicate holder names accepted")
	}
	if _, err := SealDataKeyFor(dek, "r-1", Recipient{Holder: "zero key"}); err == nil {
		t.Fatal("recipient with zero public key accepted")
	}
}

func TestResealDataKeyMovesAccess(t *testing.T) {
	from, to := GenerateKeyPair(), GenerateKeyPair()
	dek := NewDataKey()
	sealed, _ := SealDataKey(dek, "r-1", from.Public)
	resealed, err := ResealDataKey(sealed, "r-1", from, to.Public)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenDataKey(resealed, "r-1", to); err != nil || got != dek {
		t.Fatalf("new holder cannot open: %v", err)
	}
	if _, err := OpenDataKey(resealed, "r-1", from); err == nil {
		t.Fatal("old holder opens the re-sealed copy")
	}
}

func TestKeyPairSealRoundTripAndGroupBinding(t *testing.T) {
	member := GenerateKeyPair()
	group := GenerateKeyPair()
	sealed, err := SealKeyPair(group, HolderDepartment("fire", 1), member.Public)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenKeyPair(sealed, HolderDepartment("fire", 1), member)
	if err != nil || got != group {
		t.Fatalf("round trip: %v", err)
	}
	_, err = OpenKeyPair(sealed, HolderDepartment("housing", 1), member)
	wantErrorIs(t, err, ErrAuthentication)
}

func TestHolderNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{HolderTriage(1), "triage:v1"},
		{HolderDepartment("640000-fire", 2), "department:640000-fire:v2"},
		{HolderDepartment("a.b$c:d%e", 1), "department:a%2Eb%24c%3Ad%25e:v1"},
		{HolderDepartment("", 1), "department:%:v1"},
		{HolderCoordination("宁东", 3), "coordination:宁东:v3"},
		{HolderReporter(1), "reporter:v1"},
		{HolderCustodian(4), "custodian:v4"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	// Escaping keeps distinct ids distinct.
	if HolderDepartment("a:v1", 1) == HolderDepartment("a", 1) {
		t.Fatal("holder names collide")
	}
}

func TestPublicKeyFingerprintFormat(t *testing.T) {
	fp := GenerateKeyPair().Public.Fingerprint()
	if len(fp) != 19 || strings.Count(fp, " ") != 3 {
		t.Fatalf("fingerprint %q is not four groups of four hex digits", fp)
	}
}
