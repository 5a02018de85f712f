package crypto

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// Fuzz targets for every decoder of stored or outside input. Run each with
// e.g. `go test ./crypto -run '^$' -fuzz '^FuzzOpenField$' -fuzztime 60s`.
// Fixed keys let inputs the fuzzer finds open successfully on later runs.

var (
	fuzzDEK    = DataKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	fuzzHolder = keyPairFromPrivate([32]byte{9: 9, 31: 31})
)

// openedOrKnownError fails the fuzz run on any error that is not one of the
// package's two decoding sentinels: every rejection must be a clear one.
func openedOrKnownError(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuthentication) {
		t.Fatalf("unexpected error kind: %v", err)
	}
}

func FuzzOpenField(f *testing.F) {
	for _, p := range []string{"", "x", "宁东基地 消防通道堵塞"} {
		env, _ := SealField(fuzzDEK, 1, "r-1", "description", []byte(p))
		f.Add(env)
	}
	f.Add([]byte{fieldFormatV1})
	f.Fuzz(func(t *testing.T, env []byte) {
		plaintext, err := OpenField(fuzzDEK, "r-1", "description", env)
		openedOrKnownError(t, err)
		if err == nil {
			again, _ := SealField(fuzzDEK, 1, "r-1", "description", plaintext)
			if got, err := OpenField(fuzzDEK, "r-1", "description", again); err != nil || !bytes.Equal(got, plaintext) {
				t.Fatal("re-sealed plaintext does not round-trip")
			}
		}
	})
}

func FuzzAttachmentReader(f *testing.F) {
	for _, n := range []int{0, 5, testChunk, 3*testChunk + 1} {
		f.Add(sealAttachment(f, fuzzDEK, patterned(n), testChunk))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		r, err := NewAttachmentReader(bytes.NewReader(stream), fuzzDEK, "r-1", "a-1")
		openedOrKnownError(t, err)
		if err != nil {
			return
		}
		n, err := io.Copy(io.Discard, r)
		openedOrKnownError(t, err)
		if n > int64(len(stream)) {
			t.Fatalf("read %d plaintext bytes from a %d-byte stream", n, len(stream))
		}
	})
}

func FuzzOpenSealedKey(f *testing.F) {
	dekCopy, _ := SealDataKey(fuzzDEK, "r-1", fuzzHolder.Public)
	groupCopy, _ := SealKeyPair(GenerateKeyPair(), "r-1", fuzzHolder.Public)
	f.Add(dekCopy)
	f.Add(groupCopy)
	f.Fuzz(func(t *testing.T, sealed []byte) {
		_, err := OpenDataKey(sealed, "r-1", fuzzHolder)
		openedOrKnownError(t, err)
		kp, kerr := OpenKeyPair(sealed, "r-1", fuzzHolder)
		openedOrKnownError(t, kerr)
		if err == nil && kerr == nil {
			t.Fatal("one sealed copy opened both as a data key and as a key pair")
		}
		if kerr == nil {
			if again := keyPairFromPrivate(kp.Private); again != kp {
				t.Fatal("opened key pair is inconsistent")
			}
		}
	})
}

func FuzzStaffKey(f *testing.F) {
	sk, _, _ := NewStaffKey("pw", cheapKDF)
	good, _ := sk.MarshalBinary()
	f.Add(good, "pw")
	f.Add(good, "wrong")
	f.Fuzz(func(t *testing.T, encoded []byte, password string) {
		var k StaffKey
		err := k.UnmarshalBinary(encoded)
		openedOrKnownError(t, err)
		if err != nil {
			return
		}
		if again, _ := k.MarshalBinary(); !bytes.Equal(again, encoded) {
			t.Fatal("staff key does not re-encode to the same bytes")
		}
		// Unlock runs Argon2id with the decoded cost; keep fuzzing fast by
		// unlocking only cheap parameter sets (bounds are unit-tested).
		if k.Params.Time*k.Params.MemoryKiB > 1024 {
			return
		}
		if kp, err := k.Unlock(password); err == nil && kp.Public != k.Public {
			t.Fatal("unlocked a key pair that does not match the stored public key")
		}
	})
}

func FuzzParseKeyset(f *testing.F) {
	kf, _ := newKeysetFile(false)
	good, _ := json.Marshal(kf)
	f.Add(good)
	f.Add([]byte(`{"format":"whistle-keyset/1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := ParseKeyset(data)
		openedOrKnownError(t, err)
		if err == nil {
			info := ks.Info()
			if info.SecretsVersions[len(info.SecretsVersions)-1] != ks.CurrentSecrets().Version() {
				t.Fatal("current secrets are not the last version")
			}
		}
	})
}

func FuzzParseCustodianKey(f *testing.F) {
	good, _ := encodeCustodianKey(CustodianKey{Version: 1, KeyPair: fuzzHolder}, ck0Time)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := ParseCustodianKey(data)
		openedOrKnownError(t, err)
		if err == nil && keyPairFromPrivate(ck.Private) != ck.KeyPair {
			t.Fatal("parsed custodian key is inconsistent")
		}
	})
}

func FuzzParseReceipt(f *testing.F) {
	for _, s := range []string{"1234 5678 9012 3456 7890", "１２３４５６７８９０１２３４５６７８９０", "12-34", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReceipt(s)
		if err != nil {
			return
		}
		if !r.valid() {
			t.Fatalf("ParseReceipt(%q) returned non-canonical %q", s, string(r))
		}
		if again, err := ParseReceipt(r.Grouped()); err != nil || again != r {
			t.Fatalf("grouped form does not parse back: %v", err)
		}
	})
}
