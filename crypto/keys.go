package crypto

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// PublicKey is an X25519 public key: a department, coordination office,
// staff member, reporter (receipt-derived), triage service or custodian key.
type PublicKey [32]byte

// String is the lowercase hex encoding; public keys are not secret.
func (p PublicKey) String() string { return hex.EncodeToString(p[:]) }

// Fingerprint is a short, human-comparable digest of the key ("ab12 cd34 …"),
// for printing next to an offline custodian key.
func (p PublicKey) Fingerprint() string {
	sum := sha256.Sum256(p[:])
	h := hex.EncodeToString(sum[:8])
	return h[0:4] + " " + h[4:8] + " " + h[8:12] + " " + h[12:16]
}

// KeyPair is an X25519 key pair. Keep it in memory only while needed and
// call Wipe when done.
type KeyPair struct {
	Public  PublicKey
	Private [32]byte
}

// String never prints the private half, so a KeyPair that reaches a log by
// mistake leaks nothing.
func (kp KeyPair) String() string { return "KeyPair{Public:" + kp.Public.String() + "}" }

// Wipe zeroes the private half. Go may have copied it elsewhere (stack,
// registers, GC moves); this is hygiene, not a guarantee.
func (kp *KeyPair) Wipe() { clear(kp.Private[:]) }

// GenerateKeyPair returns a fresh random X25519 key pair.
func GenerateKeyPair() KeyPair {
	var priv [32]byte
	rand.Read(priv[:]) // never fails since Go 1.24
	return keyPairFromPrivate(priv)
}

// keyPairFromPrivate computes the public half of an X25519 private scalar.
func keyPairFromPrivate(priv [32]byte) KeyPair {
	kp := KeyPair{Private: priv}
	curve25519.ScalarBaseMult((*[32]byte)(&kp.Public), &kp.Private)
	return kp
}

// lowOrderPoints are the X25519 public keys (top bit cleared) whose shared
// secret is the same for every private key: 0, 1, the two points of order 8,
// p-1, p and p+1 (p = 2^255-19). Sealing to one of them would let anyone open
// the box, so we refuse; the zero key also catches an uninitialised Recipient.
var lowOrderPoints = func() [][32]byte {
	hexes := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	points := make([][32]byte, len(hexes))
	for i, h := range hexes {
		hex.Decode(points[i][:], []byte(h))
	}
	return points
}()

// checkPublic rejects public keys that would make a sealed box readable by
// anyone.
func checkPublic(p PublicKey) error {
	masked := p
	masked[31] &= 0x7f
	for _, bad := range lowOrderPoints {
		if subtle.ConstantTimeCompare(masked[:], bad[:]) == 1 {
			return fmt.Errorf("crypto: refusing to seal to a zero or low-order public key")
		}
	}
	return nil
}

// Recipient is a holder of a sealed copy: the holder name under which the
// copy is stored (see the Holder* functions) and the public key it is sealed
// to.
type Recipient struct {
	Holder string
	Key    PublicKey
}

// Holder names are the keys of the map of sealed DEK copies stored in a
// report document. The version is the holder key's version, so a copy says
// which key opens it and re-wrapping after rotation can find stale copies.
// Identifiers are escaped so that a name never contains '.', '$' or ':'
// inside a part (MongoDB field-name rules) and two ids never collide.

// HolderTriage names the copy for the triage service key of this version.
// That copy is deleted as soon as routing is done.
func HolderTriage(version uint32) string { return holderName("triage", version) }

// HolderDepartment names the copy for a department's group key.
func HolderDepartment(departmentID string, version uint32) string {
	return holderName("department", version, departmentID)
}

// HolderCoordination names the copy for the 安委办 coordination key of a
// jurisdiction (city, county, 宁东).
func HolderCoordination(jurisdiction string, version uint32) string {
	return holderName("coordination", version, jurisdiction)
}

// HolderFinance names the copy for a finance office's group key, the only
// staff key that may open a reporter's identity vault (with the custodian).
func HolderFinance(office string, version uint32) string {
	return holderName("finance", version, office)
}

// HolderReporter names the copy for the receipt-derived reporter key; the
// version is the service-secrets version the receipt key was derived under.
func HolderReporter(secretsVersion uint32) string {
	return holderName("reporter", secretsVersion)
}

// HolderCustodian names the copy for the offline custodian key.
func HolderCustodian(version uint32) string { return holderName("custodian", version) }

func holderName(kind string, version uint32, ids ...string) string {
	var b strings.Builder
	b.WriteString(kind)
	for _, id := range ids {
		b.WriteByte(':')
		b.WriteString(escapeHolderPart(id))
	}
	b.WriteString(":v")
	b.WriteString(strconv.FormatUint(uint64(version), 10))
	return b.String()
}

// escapeHolderPart percent-encodes the bytes that are special in MongoDB
// field names or in our own syntax; everything else, including Chinese
// names, passes through unchanged.
func escapeHolderPart(id string) string {
	if id == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(".$:%", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Sealed secrets are X25519 sealed boxes (nacl/box.SealAnonymous) of
//
//	kind (1 byte) || secret (32 bytes) || context
//
// prefixed by a format byte. The kind keeps a sealed data key from being
// opened as a private key and vice versa; the context (report id for a DEK,
// group holder name for a group key) keeps a copy from being moved to another
// report or group, which a sealed box alone (no associated data) would allow.
const (
	sealedFormatV1   = 1
	sealedKindDEK    = 1
	sealedKindKey    = 2
	maxSealedContext = 1024
	sealedOverhead   = 1 + box.AnonymousOverhead + 1 + 32
)

func sealSecret(kind byte, secret *[32]byte, context string, to PublicKey) ([]byte, error) {
	if err := checkPublic(to); err != nil {
		return nil, err
	}
	if context == "" || len(context) > maxSealedContext {
		return nil, fmt.Errorf("crypto: sealing context must be 1..%d bytes", maxSealedContext)
	}
	msg := make([]byte, 0, 1+32+len(context))
	msg = append(msg, kind)
	msg = append(msg, secret[:]...)
	msg = append(msg, context...)
	defer clear(msg)
	out := make([]byte, 1, sealedOverhead+len(context))
	out[0] = sealedFormatV1
	return box.SealAnonymous(out, msg, (*[32]byte)(&to), rand.Reader)
}

func openSecret(kind byte, sealed []byte, context string, holder KeyPair) ([32]byte, error) {
	var secret [32]byte
	if len(sealed) < sealedOverhead || len(sealed) > sealedOverhead+maxSealedContext {
		return secret, fmt.Errorf("%w: sealed key has length %d", ErrMalformed, len(sealed))
	}
	if sealed[0] != sealedFormatV1 {
		return secret, fmt.Errorf("%w: sealed key format %d", ErrMalformed, sealed[0])
	}
	msg, ok := box.OpenAnonymous(nil, sealed[1:], (*[32]byte)(&holder.Public), &holder.Private)
	if !ok {
		return secret, fmt.Errorf("%w: sealed key does not open with this key pair", ErrAuthentication)
	}
	defer clear(msg)
	if msg[0] != kind || !bytes.Equal(msg[33:], []byte(context)) {
		return secret, fmt.Errorf("%w: sealed key belongs to another report, group or purpose", ErrAuthentication)
	}
	copy(secret[:], msg[1:33])
	return secret, nil
}

// SealDataKey seals a report's DEK to one holder. The report id is sealed
// with it, so OpenDataKey refuses a copy moved to another report.
func SealDataKey(dek DataKey, reportID string, to PublicKey) ([]byte, error) {
	return sealSecret(sealedKindDEK, (*[32]byte)(&dek), reportID, to)
}

// SealDataKeyFor seals the DEK to every recipient and returns the map of
// sealed copies keyed by holder name, ready to store in the report document.
func SealDataKeyFor(dek DataKey, reportID string, recipients ...Recipient) (map[string][]byte, error) {
	copies := make(map[string][]byte, len(recipients))
	for _, r := range recipients {
		if _, dup := copies[r.Holder]; dup || r.Holder == "" {
			return nil, fmt.Errorf("crypto: holder name %q is empty or repeated", r.Holder)
		}
		sealed, err := SealDataKey(dek, reportID, r.Key)
		if err != nil {
			return nil, fmt.Errorf("crypto: sealing for %s: %w", r.Holder, err)
		}
		copies[r.Holder] = sealed
	}
	return copies, nil
}

// OpenDataKey opens a sealed DEK copy with the holder's key pair.
func OpenDataKey(sealed []byte, reportID string, holder KeyPair) (DataKey, error) {
	k, err := openSecret(sealedKindDEK, sealed, reportID, holder)
	return DataKey(k), err
}

// ResealDataKey opens a copy with one holder's key and seals the DEK to
// another public key, without ever re-encrypting content: re-routing to a new
// department, re-wrapping after key rotation, custodian recovery.
func ResealDataKey(sealed []byte, reportID string, holder KeyPair, to PublicKey) ([]byte, error) {
	dek, err := OpenDataKey(sealed, reportID, holder)
	if err != nil {
		return nil, err
	}
	defer dek.Wipe()
	return SealDataKey(dek, reportID, to)
}

// SealKeyPair seals a group private key (department, coordination office,
// finance) to one member's public key. group is the group's holder name
// (e.g. HolderDepartment(id, v)); it is sealed with the key so a member's
// copy cannot be relabelled as another group's key. Adding a member = one
// SealKeyPair; removing a member = deleting their copy (and, if they may have
// kept the key, rotating the group key — see the package README).
func SealKeyPair(kp KeyPair, group string, to PublicKey) ([]byte, error) {
	return sealSecret(sealedKindKey, &kp.Private, group, to)
}

// OpenKeyPair opens a member's sealed copy of a group key.
func OpenKeyPair(sealed []byte, group string, member KeyPair) (KeyPair, error) {
	priv, err := openSecret(sealedKindKey, sealed, group, member)
	if err != nil {
		return KeyPair{}, err
	}
	return keyPairFromPrivate(priv), nil
}
