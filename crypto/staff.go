package crypto

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"whistle"
)

// StaffKey is a staff member's personal X25519 key pair as stored: the public
// half in clear (group keys are sealed to it), the private half sealed under
// a key derived from the member's password with Argon2id. Everything in it
// is safe to store; store the MarshalBinary form (one self-describing blob).
//
// Login = Unlock, which gives the key pair for the session's memory only
// (never to disk, never into a cookie). A forgotten password cannot be
// recovered — by design nobody else can unlock the key — so the member gets a
// new StaffKey and a colleague re-seals the group keys to it (SealKeyPair);
// no report content is touched.
type StaffKey struct {
	Public        PublicKey
	Salt          [16]byte
	Params        KDFParams
	SealedPrivate []byte // nonce (24) | XChaCha20-Poly1305(private key)
}

const (
	staffFormatV1     = 1
	staffSealedSize   = chacha20poly1305.NonceSizeX + 32 + chacha20poly1305.Overhead
	staffEncodedSize  = 1 + 4 + 4 + 1 + 16 + 32 + staffSealedSize
	staffDomain       = "whistle/staff-key/v1\x00"
	maxPasswordLength = 4096
)

// NewStaffKey creates a member's key pair and seals its private half under
// the password. The returned KeyPair is for immediate use (the admin flow
// that creates the member may go on to seal group keys); wipe it after.
func NewStaffKey(password string, p KDFParams) (StaffKey, KeyPair, error) {
	kp := GenerateKeyPair()
	sk, err := sealStaffKey(kp, password, p)
	if err != nil {
		kp.Wipe()
		return StaffKey{}, KeyPair{}, err
	}
	return sk, kp, nil
}

func sealStaffKey(kp KeyPair, password string, p KDFParams) (StaffKey, error) {
	if err := checkPassword(password); err != nil {
		return StaffKey{}, err
	}
	sk := StaffKey{Public: kp.Public, Params: p}
	rand.Read(sk.Salt[:])
	aead, err := sk.passwordAEAD(password)
	if err != nil {
		return StaffKey{}, err
	}
	sk.SealedPrivate = make([]byte, chacha20poly1305.NonceSizeX, staffSealedSize)
	rand.Read(sk.SealedPrivate)
	sk.SealedPrivate = aead.Seal(sk.SealedPrivate, sk.SealedPrivate, kp.Private[:], sk.aad())
	return sk, nil
}

func checkPassword(password string) error {
	switch {
	case password == "":
		return whistle.FieldError("password", "密码不能为空。")
	case len(password) > maxPasswordLength:
		return whistle.FieldError("password", "密码过长。")
	}
	return nil
}

func (k StaffKey) passwordAEAD(password string) (cipher.AEAD, error) {
	kek, err := k.Params.key([]byte(password), k.Salt[:])
	if err != nil {
		return nil, err
	}
	defer clear(kek[:])
	return chacha20poly1305.NewX(kek[:])
}

// aad binds the sealed private key to the public key, salt and parameters it
// is stored with, so none of them can be swapped or downgraded unnoticed.
func (k StaffKey) aad() []byte {
	aad := append([]byte(staffDomain), k.Public[:]...)
	aad = append(aad, k.Salt[:]...)
	aad = binary.BigEndian.AppendUint32(aad, k.Params.Time)
	aad = binary.BigEndian.AppendUint32(aad, k.Params.MemoryKiB)
	return append(aad, k.Params.Threads)
}

// Unlock derives the password key and opens the private half. A wrong
// password is an EUNAUTHORIZED *whistle.Error (wrapping ErrAuthentication)
// whose zh-CN message does not say whether the account exists.
func (k StaffKey) Unlock(password string) (KeyPair, error) {
	if err := checkPassword(password); err != nil {
		return KeyPair{}, err
	}
	if len(k.SealedPrivate) != staffSealedSize {
		return KeyPair{}, fmt.Errorf("%w: sealed staff key has %d bytes", ErrMalformed, len(k.SealedPrivate))
	}
	aead, err := k.passwordAEAD(password)
	if err != nil {
		return KeyPair{}, err
	}
	nonce := k.SealedPrivate[:chacha20poly1305.NonceSizeX]
	priv, err := aead.Open(nil, nonce, k.SealedPrivate[chacha20poly1305.NonceSizeX:], k.aad())
	if err != nil {
		return KeyPair{}, &whistle.Error{Code: whistle.EUNAUTHORIZED, Message: "用户名或密码错误。", Err: ErrAuthentication}
	}
	kp := keyPairFromPrivate([32]byte(priv))
	clear(priv)
	if kp.Public != k.Public {
		kp.Wipe()
		return KeyPair{}, fmt.Errorf("%w: staff private key does not match its public key", ErrAuthentication)
	}
	return kp, nil
}

// ChangePassword re-seals the same key pair under a new password (and the
// given parameters, so costs can be raised at the same time). Nothing sealed
// to the member's public key changes.
func (k StaffKey) ChangePassword(oldPassword, newPassword string, p KDFParams) (StaffKey, error) {
	kp, err := k.Unlock(oldPassword)
	if err != nil {
		return StaffKey{}, err
	}
	defer kp.Wipe()
	return sealStaffKey(kp, newPassword, p)
}

// MarshalBinary encodes the staff key as one versioned blob of fixed size:
//
//	format (1) = 1 | time (4) | memory KiB (4) | threads (1) | salt (16) | public (32) | sealed private (72)
func (k StaffKey) MarshalBinary() ([]byte, error) {
	if len(k.SealedPrivate) != staffSealedSize {
		return nil, fmt.Errorf("crypto: staff key is not sealed")
	}
	b := make([]byte, 0, staffEncodedSize)
	b = append(b, staffFormatV1)
	b = binary.BigEndian.AppendUint32(b, k.Params.Time)
	b = binary.BigEndian.AppendUint32(b, k.Params.MemoryKiB)
	b = append(b, k.Params.Threads)
	b = append(b, k.Salt[:]...)
	b = append(b, k.Public[:]...)
	return append(b, k.SealedPrivate...), nil
}

// UnmarshalBinary decodes MarshalBinary's form and checks the parameters are
// within bounds, so a tampered record cannot make Unlock exhaust memory.
func (k *StaffKey) UnmarshalBinary(b []byte) error {
	if len(b) != staffEncodedSize {
		return fmt.Errorf("%w: staff key has %d bytes, want %d", ErrMalformed, len(b), staffEncodedSize)
	}
	if b[0] != staffFormatV1 {
		return fmt.Errorf("%w: staff key format %d", ErrMalformed, b[0])
	}
	p := KDFParams{Time: binary.BigEndian.Uint32(b[1:5]), MemoryKiB: binary.BigEndian.Uint32(b[5:9]), Threads: b[9]}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	*k = StaffKey{Params: p, SealedPrivate: append([]byte(nil), b[58:]...)}
	copy(k.Salt[:], b[10:26])
	copy(k.Public[:], b[26:58])
	return nil
}
