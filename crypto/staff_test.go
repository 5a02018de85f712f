package crypto

import (
	"encoding/binary"
	"testing"

	"whistle"
)

func TestStaffKeyUnlockRoundTrip(t *testing.T) {
	sk, kp, err := NewStaffKey("正确的密码 horse", cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sk.Unlock("正确的密码 horse")
	if err != nil || got != kp || sk.Public != kp.Public {
		t.Fatalf("unlock gave a different key pair: %v", err)
	}
}

func TestStaffKeyUnlockErrors(t *testing.T) {
	sk, _, _ := NewStaffKey("pw-1", cheapKDF)
	other, _, _ := NewStaffKey("pw-1", cheapKDF)
	swappedPublic := sk
	swappedPublic.Public = other.Public
	raisedCost := sk
	raisedCost.Params.MemoryKiB *= 2
	for _, tc := range []struct {
		name     string
		key      StaffKey
		password string
		wantCode string
	}{
		{"wrong password", sk, "pw-2", whistle.EUNAUTHORIZED},
		{"empty password", sk, "", whistle.EINVALID},
		{"public key swapped in", swappedPublic, "pw-1", whistle.EUNAUTHORIZED},
		{"parameters changed", raisedCost, "pw-1", whistle.EUNAUTHORIZED},
		{"not sealed", StaffKey{Params: cheapKDF}, "pw-1", whistle.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.key.Unlock(tc.password)
			if code := whistle.ErrorCode(err); code != tc.wantCode {
				t.Fatalf("error %v has code %q, want %q", err, code, tc.wantCode)
			}
		})
	}
}

func TestChangePasswordKeepsKeyPairAndAccess(t *testing.T) {
	sk, kp, _ := NewStaffKey("old", cheapKDF)
	dek := NewDataKey()
	sealedBefore, _ := SealDataKey(dek, "r-1", kp.Public)

	changed, err := sk.ChangePassword("old", "new", cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Public != sk.Public {
		t.Fatal("password change replaced the key pair")
	}
	if _, err := changed.Unlock("old"); whistle.ErrorCode(err) != whistle.EUNAUTHORIZED {
		t.Fatalf("old password still unlocks: %v", err)
	}
	unlocked, err := changed.Unlock("new")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenDataKey(sealedBefore, "r-1", unlocked); err != nil || got != dek {
		t.Fatalf("copy sealed before the change no longer opens: %v", err)
	}
	if _, err := sk.ChangePassword("wrong", "new", cheapKDF); whistle.ErrorCode(err) != whistle.EUNAUTHORIZED {
		t.Fatalf("change with wrong old password: %v", err)
	}
}

func TestStaffKeyBinaryRoundTrip(t *testing.T) {
	sk, kp, _ := NewStaffKey("pw", cheapKDF)
	b, err := sk.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var decoded StaffKey
	if err := decoded.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got, err := decoded.Unlock("pw"); err != nil || got != kp {
		t.Fatalf("decoded key does not unlock: %v", err)
	}
}

func TestStaffKeyEncodingTamperingFails(t *testing.T) {
	sk, _, _ := NewStaffKey("pw", cheapKDF)
	b, _ := sk.MarshalBinary()
	flipEachBit(t, b, func(corrupt []byte) error {
		var k StaffKey
		if err := k.UnmarshalBinary(corrupt); err != nil {
			return err
		}
		// A flipped memory bit can ask for up to 1 GiB, which is within
		// bounds; the change is caught by the AAD (TestStaffKeyUnlockErrors),
		// so spare the test run the allocation.
		if k.Params.MemoryKiB > 4096 {
			return errTampered
		}
		_, err := k.Unlock("pw")
		return err
	})
}

var errTampered = whistle.Errorf(whistle.EINTERNAL, "tampered")

func TestStaffKeyUnmarshalRejects(t *testing.T) {
	sk, _, _ := NewStaffKey("pw", cheapKDF)
	good, _ := sk.MarshalBinary()
	with := func(mutate func([]byte)) []byte {
		b := append([]byte(nil), good...)
		mutate(b)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte short", good[:len(good)-1]},
		{"unknown format", with(func(b []byte) { b[0] = 2 })},
		{"zero time", with(func(b []byte) { binary.BigEndian.PutUint32(b[1:5], 0) })},
		{"memory over bound", with(func(b []byte) { binary.BigEndian.PutUint32(b[5:9], 1<<30) })},
		{"zero threads", with(func(b []byte) { b[9] = 0 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k StaffKey
			wantErrorIs(t, k.UnmarshalBinary(tc.b), ErrMalformed)
		})
	}
}
