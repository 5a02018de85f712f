package crypto

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func initTestKeyset(t *testing.T) (dir, custodianFile string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "keys")
	custodianFile = filepath.Join(root, "offline", "custodian-v1.key")
	if err := os.Mkdir(filepath.Dir(custodianFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := InitKeyset(dir, custodianFile); err != nil {
		t.Fatal(err)
	}
	return dir, custodianFile
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInitKeysetWritesPrivateFilesAndKeepsCustodianPrivateOut(t *testing.T) {
	dir, custodianFile := initTestKeyset(t)
	for path, want := range map[string]os.FileMode{
		dir:                                0o700,
		filepath.Join(dir, KeysetFileName): 0o600,
		custodianFile:                      0o600,
	} {
		if got := fileMode(t, path); got != want {
			t.Errorf("%s has mode %v, want %v", path, got, want)
		}
	}
	ck, err := LoadCustodianKey(custodianFile)
	if err != nil {
		t.Fatal(err)
	}
	keyset, _ := os.ReadFile(filepath.Join(dir, KeysetFileName))
	var f keysetFile
	if err := json.Unmarshal(keyset, &f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Custodian[0].Public, ck.Public[:]) {
		t.Fatal("keyset does not hold the custodian public key")
	}
	encodedPrivate, _ := json.Marshal(ck.Private[:])
	if bytes.Contains(keyset, bytes.Trim(encodedPrivate, `"`)) {
		t.Fatal("keyset file contains the custodian private key")
	}
	ks, err := LoadKeyset(dir)
	if err != nil {
		t.Fatal(err)
	}
	info := ks.Info()
	if ks.Dev() || info.CustodianFingerprint != ck.Public.Fingerprint() || ks.CustodianRecipient().Holder != HolderCustodian(1) {
		t.Fatalf("unexpected keyset info %+v", info)
	}
	if _, err := VerifyKeyset(dir, custodianFile); err != nil {
		t.Fatal(err)
	}
}

func TestInitKeysetRefuses(t *testing.T) {
	dir, custodianFile := initTestKeyset(t)
	root := t.TempDir()
	worldWritable := filepath.Join(root, "shared")
	if err := os.Mkdir(worldWritable, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(worldWritable, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir, out string }{
		{"existing keyset", dir, filepath.Join(root, "new.key")},
		{"custodian key inside the keyset dir", filepath.Join(root, "k2"), filepath.Join(root, "k2", "c.key")},
		{"no custodian file", filepath.Join(root, "k3"), ""},
		{"overwriting a custodian file", filepath.Join(root, "k4"), custodianFile},
		{"world-writable keyset dir", worldWritable, filepath.Join(root, "k5.key")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := InitKeyset(tc.dir, tc.out); err == nil {
				t.Fatal("InitKeyset succeeded")
			}
		})
	}
	// The refused init did not leave a keyset behind.
	if _, err := os.Stat(filepath.Join(root, "k4", KeysetFileName)); !os.IsNotExist(err) {
		t.Fatalf("refused init left a keyset: %v", err)
	}
}

func TestLoadKeysetRefusesLoosePermissions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dirMode  os.FileMode
		fileMode os.FileMode
		ok       bool
	}{
		{"private", 0o700, 0o600, true},
		{"read-only file", 0o700, 0o400, true},
		{"listable dir", 0o755, 0o600, true},
		{"sticky world-writable dir (tmpfs secret mount)", os.ModeSticky | 0o777, 0o600, true},
		{"group-readable file", 0o700, 0o640, false},
		{"world-readable file", 0o700, 0o604, false},
		{"group-writable dir", 0o770, 0o600, false},
		{"world-writable dir", 0o777, 0o600, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := initTestKeyset(t)
			if err := os.Chmod(filepath.Join(dir, KeysetFileName), tc.fileMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyset(dir)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				wantErrorIs(t, err, ErrInsecurePermissions)
			}
		})
	}
}

func TestRotateKeysetKeepsOldDataReadable(t *testing.T) {
	dir, custodianFile := initTestKeyset(t)
	before, _ := LoadKeyset(dir)
	dek := NewDataKey()
	receipt := NewReceipt()
	oldReceiptKey, _ := before.CurrentSecrets().DeriveReceiptKey(receipt)
	copies, err := SealDataKeyFor(dek, "r-1", before.TriageRecipient(), before.CustodianRecipient(), oldReceiptKey.Recipient())
	if err != nil {
		t.Fatal(err)
	}

	newCustodianFile := filepath.Join(filepath.Dir(custodianFile), "custodian-v2.key")
	info, err := RotateKeyset(dir, RotateOptions{Triage: true, Secrets: true, CustodianOut: newCustodianFile})
	if err != nil {
		t.Fatal(err)
	}
	if info.CustodianFile != newCustodianFile || len(info.SecretsVersions) != 2 || len(info.TriageVersions) != 2 || len(info.CustodianVersions) != 2 {
		t.Fatalf("unexpected info after rotation: %+v", info)
	}
	after, err := LoadKeyset(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after.TriageRecipient().Holder != HolderTriage(2) || after.CustodianRecipient().Holder != HolderCustodian(2) || after.CurrentSecrets().Version() != 2 {
		t.Fatal("rotation did not make the new versions current")
	}

	// The old triage copy still opens, and re-wrapping moves it to v2.
	if got, err := after.OpenTriageCopy("r-1", copies); err != nil || got != dek {
		t.Fatalf("old triage copy unreadable after rotation: %v", err)
	}
	if n, err := after.RewrapTriage("r-1", copies); err != nil || n != 1 {
		t.Fatalf("RewrapTriage = %d, %v", n, err)
	}
	if _, stale := copies[HolderTriage(1)]; stale {
		t.Fatal("stale triage copy left behind")
	}
	v2, _ := after.TriageKey(2)
	if got, err := OpenDataKey(copies[HolderTriage(2)], "r-1", v2); err != nil || got != dek {
		t.Fatalf("re-wrapped copy does not open with triage v2: %v", err)
	}

	// Old receipts: the old secrets version gives the same lookup token and
	// opens the reporter copy; the new version gives different ones.
	oldSecrets, err := after.SecretsVersion(1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := oldSecrets.DeriveReceiptKey(receipt)
	if !bytes.Equal(again.LookupToken(), oldReceiptKey.LookupToken()) {
		t.Fatal("old secrets version no longer reproduces the lookup token")
	}
	if _, err := OpenDataKey(copies[HolderReporter(1)], "r-1", again.KeyPair()); err != nil {
		t.Fatal(err)
	}
	fresh, _ := after.Secrets()[0].DeriveReceiptKey(receipt)
	if fresh.SecretsVersion() != 2 || bytes.Equal(fresh.LookupToken(), oldReceiptKey.LookupToken()) {
		t.Fatal("new secrets version reuses the old lookup token")
	}

	// The old offline custodian key still recovers old copies; both offline
	// files verify against the keyset; a stranger's key does not.
	oldCustodian, _ := LoadCustodianKey(custodianFile)
	if got, err := RecoverDataKey(copies, "r-1", oldCustodian); err != nil || got != dek {
		t.Fatalf("old custodian key cannot recover: %v", err)
	}
	for _, f := range []string{custodianFile, newCustodianFile} {
		if _, err := VerifyKeyset(dir, f); err != nil {
			t.Fatalf("verify with %s: %v", f, err)
		}
	}
	_, strangerFile := initTestKeyset(t)
	if _, err := VerifyKeyset(dir, strangerFile); err == nil {
		t.Fatal("a custodian key of another keyset verified")
	}
}

func TestRotateKeysetRefuses(t *testing.T) {
	dir, _ := initTestKeyset(t)
	for _, tc := range []struct {
		name string
		opt  RotateOptions
	}{
		{"nothing to rotate", RotateOptions{}},
		{"receipt KDF without new secrets", RotateOptions{Triage: true, ReceiptKDF: cheapKDF}},
		{"invalid receipt KDF", RotateOptions{Secrets: true, ReceiptKDF: KDFParams{Time: 1}}},
		{"custodian key inside the keyset dir", RotateOptions{CustodianOut: filepath.Join(dir, "c.key")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := RotateKeyset(dir, tc.opt); err == nil {
				t.Fatal("RotateKeyset succeeded")
			}
		})
	}
	t.Run("while locked", func(t *testing.T) {
		lock := filepath.Join(dir, keysetLockName)
		if err := os.WriteFile(lock, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(lock)
		if _, err := RotateKeyset(dir, RotateOptions{Triage: true}); err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("rotation while locked: %v", err)
		}
	})
	ks, _ := LoadKeyset(dir)
	if got := ks.Info(); len(got.SecretsVersions) != 1 || len(got.TriageVersions) != 1 || len(got.CustodianVersions) != 1 {
		t.Fatalf("refused rotations changed the keyset: %+v", got)
	}
}

func TestEnsureDevKeysetCreatesOnceAndSaysSo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys")
	ks, created, err := EnsureDevKeyset(dir)
	if err != nil || !created || !ks.Dev() {
		t.Fatalf("first run: created=%v dev=%v err=%v", created, ks != nil && ks.Dev(), err)
	}
	if !strings.Contains(ks.Info().String(), "开发用密钥集") {
		t.Fatalf("info does not warn about the dev keyset: %s", ks.Info())
	}
	again, created, err := EnsureDevKeyset(dir)
	if err != nil || created {
		t.Fatalf("second run: created=%v err=%v", created, err)
	}
	if again.TriageRecipient() != ks.TriageRecipient() {
		t.Fatal("second run replaced the keyset")
	}
	if _, err := VerifyKeyset(dir, filepath.Join(dir, DevCustodianFileName)); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKeysetFromEnv(t *testing.T) {
	dir, _ := initTestKeyset(t)
	content, _ := os.ReadFile(filepath.Join(dir, KeysetFileName))
	want, _ := LoadKeyset(dir)
	for _, tc := range []struct {
		name, keyset, keysDir, defaultDir string
		ok                                bool
	}{
		{"content variable", string(content), "", "", true},
		{"directory variable", "", dir, "", true},
		{"default directory", "", "", dir, true},
		{"nothing configured", "", "", "", false},
		{"bad content wins over a good directory", "{}", dir, dir, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvKeyset, tc.keyset)
			t.Setenv(EnvKeysDir, tc.keysDir)
			ks, err := LoadKeysetFromEnv(tc.defaultDir)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && ks.TriageRecipient() != want.TriageRecipient() {
				t.Fatal("loaded a different keyset")
			}
		})
	}
}

func TestParseKeysetRejects(t *testing.T) {
	f, _ := newKeysetFile(false)
	good, _ := json.Marshal(f)
	if _, err := ParseKeyset(good); err != nil {
		t.Fatal(err)
	}
	mutated := func(mutate func(*keysetFile)) []byte {
		var c keysetFile
		json.Unmarshal(good, &c)
		mutate(&c)
		b, _ := json.Marshal(c)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not JSON", []byte("master=abc")},
		{"unknown field", bytes.Replace(good, []byte(`"format"`), []byte(`"formats"`), 1)},
		{"trailing data", append(append([]byte(nil), good...), good...)},
		{"wrong format", mutated(func(c *keysetFile) { c.Format = "whistle-keyset/2" })},
		{"no secrets", mutated(func(c *keysetFile) { c.Secrets = nil })},
		{"short master", mutated(func(c *keysetFile) { c.Secrets[0].Master = c.Secrets[0].Master[:31] })},
		{"bad receipt KDF", mutated(func(c *keysetFile) { c.Secrets[0].ReceiptKDF.Time = 0 })},
		{"version zero", mutated(func(c *keysetFile) { c.Triage[0].Version = 0 })},
		{"repeated version", mutated(func(c *keysetFile) { c.Triage = append(c.Triage, c.Triage[0]) })},
		{"triage public does not match private", mutated(func(c *keysetFile) { c.Triage[0].Public = make([]byte, 32) })},
		{"zero custodian key", mutated(func(c *keysetFile) { c.Custodian[0].Public = make([]byte, 32) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeyset(tc.data)
			wantErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseCustodianKeyRejects(t *testing.T) {
	ck := CustodianKey{Version: 1, KeyPair: GenerateKeyPair()}
	good, _ := encodeCustodianKey(ck, ck0Time)
	if got, err := ParseCustodianKey(good); err != nil || got != ck {
		t.Fatalf("round trip: %v", err)
	}
	other := GenerateKeyPair()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"wrong format", bytes.Replace(good, []byte(custodianFormat), []byte("whistle-keyset/1"), 1)},
		{"public does not match", bytes.Replace(good, []byte(jsonBase64(ck.Public[:])), []byte(jsonBase64(other.Public[:])), 1)},
		{"unknown field", bytes.Replace(good, []byte(`"note"`), []byte(`"notes"`), 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCustodianKey(tc.data)
			wantErrorIs(t, err, ErrMalformed)
		})
	}
}

var ck0Time = mustTime("2025-01-02T03:04:05Z")

func jsonBase64(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}
