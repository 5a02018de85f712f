package crypto

import (
	"bytes"
	"testing"
)

func TestIdentityVaultOpensOnlyForFinanceAndCustodian(t *testing.T) {
	finance, custodian, department := GenerateKeyPair(), GenerateKeyPair(), GenerateKeyPair()
	identity := []byte("张三 13912345678")
	financeHolder := HolderDepartment("finance-640000", 1)
	v, err := SealIdentity("r-1", identity,
		Recipient{financeHolder, finance.Public},
		Recipient{HolderCustodian(1), custodian.Public})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(v.Envelope, []byte("13912345678")) {
		t.Fatal("vault envelope contains the phone number")
	}
	for _, tc := range []struct {
		name   string
		holder string
		kp     KeyPair
		report string
		ok     bool
	}{
		{"finance", financeHolder, finance, "r-1", true},
		{"custodian", HolderCustodian(1), custodian, "r-1", true},
		{"department key on the finance copy", financeHolder, department, "r-1", false},
		{"department has no copy", HolderDepartment("fire", 1), department, "r-1", false},
		{"vault moved to another report", financeHolder, finance, "r-2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OpenIdentity(v, tc.report, tc.holder, tc.kp)
			if tc.ok != (err == nil) || (tc.ok && !bytes.Equal(got, identity)) {
				t.Fatalf("OpenIdentity: %v (want ok=%v)", err, tc.ok)
			}
		})
	}
}

func TestRecoverDataKeyNeedsTheMatchingCustodianVersion(t *testing.T) {
	ck := CustodianKey{Version: 2, KeyPair: GenerateKeyPair()}
	dek := NewDataKey()
	copies, _ := SealDataKeyFor(dek, "r-1", Recipient{HolderCustodian(2), ck.Public})
	if got, err := RecoverDataKey(copies, "r-1", ck); err != nil || got != dek {
		t.Fatalf("recovery failed: %v", err)
	}
	old := CustodianKey{Version: 1, KeyPair: GenerateKeyPair()}
	if _, err := RecoverDataKey(copies, "r-1", old); err == nil {
		t.Fatal("recovered with a custodian version that has no copy")
	}
	impostor := CustodianKey{Version: 2, KeyPair: GenerateKeyPair()}
	_, err := RecoverDataKey(copies, "r-1", impostor)
	wantErrorIs(t, err, ErrAuthentication)
}
