package crypto

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These tests walk the flows of issue 3 end to end with the package's own
// API, the way intake, workers and admin are meant to use it.

// department is a group key whose private half is sealed to each member.
type department struct {
	holder  string
	key     KeyPair
	members map[string][]byte // member name -> sealed group key
}

func newDepartment(t *testing.T, id string, members map[string]KeyPair) department {
	t.Helper()
	d := department{holder: HolderDepartment(id, 1), key: GenerateKeyPair(), members: map[string][]byte{}}
	for name, m := range members {
		sealed, err := SealKeyPair(d.key, d.holder, m.Public)
		if err != nil {
			t.Fatal(err)
		}
		d.members[name] = sealed
	}
	return d
}

// memberReads plays a staff login: unlock the member's copy of the group key,
// open the report's copy for that group, open a field.
func memberReads(d department, member string, memberKey KeyPair, r *storedReport) ([]byte, error) {
	groupKey, err := OpenKeyPair(d.members[member], d.holder, memberKey)
	if err != nil {
		return nil, err
	}
	dek, err := OpenDataKey(r.Holders[d.holder], r.ID, groupKey)
	if err != nil {
		return nil, err
	}
	return OpenField(dek, r.ID, "description", r.Description)
}

// storedReport is what a report document holds at rest.
type storedReport struct {
	ID          string
	LookupToken []byte
	Description []byte
	Attachment  []byte
	Holders     map[string][]byte
	Identity    Vault
}

const (
	marker = "MARKER-宁东-7f3a9c"
	phone  = "13912345678"
)

func submit(t *testing.T, ks *Keyset, finance Recipient, coordination Recipient) (*storedReport, Receipt) {
	t.Helper()
	r := &storedReport{ID: "r-1"}
	receipt := NewReceipt()
	rk, err := ks.CurrentSecrets().DeriveReceiptKey(receipt)
	if err != nil {
		t.Fatal(err)
	}
	r.LookupToken = rk.LookupToken()
	dek := NewDataKey()
	if r.Description, err = SealField(dek, 1, r.ID, "description", []byte("举报内容 "+marker)); err != nil {
		t.Fatal(err)
	}
	var att bytes.Buffer
	w, _ := NewAttachmentWriter(&att, dek, 1, r.ID, "a-1")
	io.WriteString(w, strings.Repeat("照片 "+marker+" ", 10000))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r.Attachment = att.Bytes()
	if r.Holders, err = SealDataKeyFor(dek, r.ID, ks.TriageRecipient(), coordination, rk.Recipient(), ks.CustodianRecipient()); err != nil {
		t.Fatal(err)
	}
	if r.Identity, err = SealIdentity(r.ID, []byte("张三 "+phone), finance, ks.CustodianRecipient()); err != nil {
		t.Fatal(err)
	}
	return r, receipt
}

func TestReportLifecycleRoutingReroutingAndRecovery(t *testing.T) {
	root := t.TempDir()
	keysDir, custodianFile := filepath.Join(root, "keys"), filepath.Join(root, "custodian.key")
	if _, err := InitKeyset(keysDir, custodianFile); err != nil {
		t.Fatal(err)
	}
	ks, err := LoadKeyset(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob, carol := GenerateKeyPair(), GenerateKeyPair(), GenerateKeyPair()
	fire := newDepartment(t, "fire", map[string]KeyPair{"alice": alice, "bob": bob})
	housing := newDepartment(t, "housing", map[string]KeyPair{"carol": carol})
	coordKey, coordHolder := GenerateKeyPair(), HolderCoordination("银川市", 1)
	finance := GenerateKeyPair()
	financeHolder := HolderDepartment("finance", 1)

	r, receipt := submit(t, ks, Recipient{financeHolder, finance.Public}, Recipient{coordHolder, coordKey.Public})

	// Triage: the service reads the report with its triage key, routes it to
	// fire, then deletes its own copy.
	dek, err := ks.OpenTriageCopy(r.ID, r.Holders)
	if err != nil {
		t.Fatal(err)
	}
	if r.Holders[fire.holder], err = SealDataKey(dek, r.ID, fire.key.Public); err != nil {
		t.Fatal(err)
	}
	for _, name := range TriageHolders(r.Holders) {
		delete(r.Holders, name)
	}
	if _, err := ks.OpenTriageCopy(r.ID, r.Holders); err == nil {
		t.Fatal("the service alone can still read a routed report")
	}
	for name, sealed := range r.Holders {
		for _, v := range ks.Info().TriageVersions {
			tk, _ := ks.TriageKey(v)
			if _, err := OpenDataKey(sealed, r.ID, tk); err == nil {
				t.Fatalf("triage key opens the %s copy", name)
			}
		}
	}
	if got, err := memberReads(fire, "alice", alice, r); err != nil || !bytes.Contains(got, []byte(marker)) {
		t.Fatalf("fire member cannot read the routed report: %v", err)
	}

	// Removing bob from fire: his sealed copy of the group key is deleted.
	delete(fire.members, "bob")
	for member := range fire.members {
		if _, err := OpenKeyPair(fire.members[member], fire.holder, bob); err == nil {
			t.Fatalf("removed member opens %s's copy of the group key", member)
		}
	}
	if _, err := memberReads(fire, "bob", bob, r); err == nil {
		t.Fatal("removed member still reads the report")
	}

	// Re-routing by 安委办: coordination opens its copy, re-seals to housing,
	// and fire's copy is deleted. Housing reads; fire's key opens nothing.
	if r.Holders[housing.holder], err = ResealDataKey(r.Holders[coordHolder], r.ID, coordKey, housing.key.Public); err != nil {
		t.Fatal(err)
	}
	delete(r.Holders, fire.holder)
	if got, err := memberReads(housing, "carol", carol, r); err != nil || !bytes.Contains(got, []byte(marker)) {
		t.Fatalf("new department cannot read after re-routing: %v", err)
	}
	for name, sealed := range r.Holders {
		if _, err := OpenDataKey(sealed, r.ID, fire.key); err == nil {
			t.Fatalf("old department's key opens the %s copy after re-routing", name)
		}
	}

	// The reporter follows up with the receipt as read over the phone.
	typed, err := ParseReceipt(strings.ReplaceAll(receipt.Grouped(), " ", "-"))
	if err != nil {
		t.Fatal(err)
	}
	var reporterDEK DataKey
	for _, s := range ks.Secrets() {
		rk, _ := s.DeriveReceiptKey(typed)
		if bytes.Equal(rk.LookupToken(), r.LookupToken) {
			reporterDEK, err = OpenDataKey(r.Holders[HolderReporter(s.Version())], r.ID, rk.KeyPair())
		}
	}
	if err != nil || reporterDEK != dek {
		t.Fatalf("reporter cannot open the report with the receipt: %v", err)
	}

	// Custodian recovery with the offline key file only, on "another machine":
	// no keyset, no staff keys.
	offline, err := LoadCustodianKey(custodianFile)
	if err != nil {
		t.Fatal(err)
	}
	recovered, err := RecoverDataKey(r.Holders, r.ID, offline)
	if err != nil || recovered != dek {
		t.Fatalf("custodian recovery failed: %v", err)
	}
	if id, err := OpenIdentity(r.Identity, r.ID, HolderCustodian(offline.Version), offline.KeyPair); err != nil || !bytes.Contains(id, []byte(phone)) {
		t.Fatalf("custodian cannot open the identity vault: %v", err)
	}
	att, err := NewAttachmentReader(bytes.NewReader(r.Attachment), recovered, r.ID, "a-1")
	if err != nil {
		t.Fatal(err)
	}
	if body, err := io.ReadAll(att); err != nil || !bytes.Contains(body, []byte(marker)) {
		t.Fatalf("recovered key does not open the attachment: %v", err)
	}
	// Only finance and the custodian hold the identity: housing cannot.
	if _, err := OpenIdentity(r.Identity, r.ID, financeHolder, housing.key); err == nil {
		t.Fatal("a department opens the identity vault")
	}

	// Crypto-shredding: with every sealed copy deleted, not even the
	// custodian can recover the key.
	clear(r.Holders)
	if _, err := RecoverDataKey(r.Holders, r.ID, offline); err == nil {
		t.Fatal("recovery works after shredding")
	}
}

// TestStolenDatabaseShowsNoPlaintext serialises everything a report document
// stores, plus staff keys, and checks that no marker, receipt or phone number
// appears — the crypto-level half of the stolen-database test.
func TestStolenDatabaseShowsNoPlaintext(t *testing.T) {
	ks, _ := GenerateKeyset()
	finance, coord := GenerateKeyPair(), GenerateKeyPair()
	r, receipt := submit(t, ks, Recipient{HolderDepartment("finance", 1), finance.Public}, Recipient{HolderCoordination("银川市", 1), coord.Public})
	staff, _, _ := NewStaffKey("staff password "+marker, cheapKDF)
	staffBlob, _ := staff.MarshalBinary()

	var dump bytes.Buffer
	for _, b := range [][]byte{r.LookupToken, r.Description, r.Attachment, r.Identity.Envelope, staffBlob} {
		dump.Write(b)
	}
	for name, sealed := range r.Holders {
		dump.WriteString(name)
		dump.Write(sealed)
	}
	for name, sealed := range r.Identity.Holders {
		dump.WriteString(name)
		dump.Write(sealed)
	}
	for _, secret := range []string{marker, "MARKER", phone, string(receipt), receipt.Grouped(), receipt.Grouped()[:9]} {
		if bytes.Contains(dump.Bytes(), []byte(secret)) {
			t.Fatalf("stored bytes contain %q", secret)
		}
	}
	// Nor does the keyset directory hold anything report-related (it holds
	// only keys); checked by listing what InitKeyset writes.
	dir := filepath.Join(t.TempDir(), "keys")
	if _, err := InitKeyset(dir, filepath.Join(t.TempDir(), "c.key")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != KeysetFileName {
		t.Fatalf("keyset directory holds %v, want only %s", entries, KeysetFileName)
	}
}
