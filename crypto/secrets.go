package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDFParams are Argon2id cost parameters. They are stored next to what they
// protect (staff keys, keyset secrets versions), so defaults can change
// without breaking old data.
type KDFParams struct {
	Time      uint32 `json:"time"`       // passes over memory
	MemoryKiB uint32 `json:"memory_kib"` // memory in KiB
	Threads   uint8  `json:"threads"`    // lanes; part of the result, not only of speed
}

var (
	// DefaultStaffKDF protects staff private keys under their passwords
	// (issue 3: ≥ 64 MiB, t=3). A login costs ~0.1–0.2 s of one core.
	DefaultStaffKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
	// DefaultReceiptKDF stretches receipt codes. It runs once per submission
	// and once per reporter login, so it must stay cheap (~0.3 ms); the
	// 66-bit receipt plus the server pepper carry the security, see README.md.
	DefaultReceiptKDF = KDFParams{Time: 1, MemoryKiB: 512, Threads: 1}
)

// Bounds on stored parameters, so a tampered document cannot make a login
// allocate gigabytes or spin for minutes.
const (
	maxKDFTime      = 64
	maxKDFMemoryKiB = 2 << 20 // 2 GiB
	maxKDFThreads   = 64
)

// Validate checks that the parameters are usable and within bounds.
func (p KDFParams) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("crypto: Argon2id time %d outside 1..%d", p.Time, maxKDFTime)
	case p.Threads < 1 || p.Threads > maxKDFThreads:
		return fmt.Errorf("crypto: Argon2id threads %d outside 1..%d", p.Threads, maxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Errorf("crypto: Argon2id memory %d KiB outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryKiB)
	}
	return nil
}

func (p KDFParams) key(password, salt []byte) ([32]byte, error) {
	var k [32]byte
	if err := p.Validate(); err != nil {
		return k, err
	}
	out := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	copy(k[:], out)
	clear(out)
	return k, nil
}

// MasterSecretSize is the size of the service master secret.
const MasterSecretSize = 32

// ServiceSecrets are the per-purpose keys derived (HKDF-SHA256) from one
// version of the service master secret. The master secret lives in the
// keyset (files or env), never in the database; without it, nothing the
// database holds about receipts or blind tokens can be checked offline.
type ServiceSecrets struct {
	version    uint32
	receiptKDF KDFParams
	pepper     [32]byte // keys the receipt before Argon2id
	blindRoot  [32]byte // HKDF root for per-purpose blind-token keys
}

func newServiceSecrets(version uint32, master []byte, receiptKDF KDFParams) (*ServiceSecrets, error) {
	if len(master) != MasterSecretSize {
		return nil, fmt.Errorf("crypto: master secret must be %d bytes, got %d", MasterSecretSize, len(master))
	}
	if err := receiptKDF.Validate(); err != nil {
		return nil, err
	}
	s := &ServiceSecrets{version: version, receiptKDF: receiptKDF}
	if err := deriveInto(s.pepper[:], master, "whistle/v1/receipt-pepper"); err != nil {
		return nil, err
	}
	if err := deriveInto(s.blindRoot[:], master, "whistle/v1/blind-root"); err != nil {
		return nil, err
	}
	return s, nil
}

func deriveInto(dst, secret []byte, info string) error {
	k, err := hkdf.Key(sha256.New, secret, nil, info, len(dst))
	if err != nil {
		return err
	}
	copy(dst, k)
	clear(k)
	return nil
}

// Version is the master-secret version these keys derive from.
func (s *ServiceSecrets) Version() uint32 { return s.version }

// ReceiptKDF is the Argon2id cost used for receipts under this version.
func (s *ServiceSecrets) ReceiptKDF() KDFParams { return s.receiptKDF }

// Wipe zeroes the derived keys (best effort).
func (s *ServiceSecrets) Wipe() {
	clear(s.pepper[:])
	clear(s.blindRoot[:])
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// Blinder returns the keyed blind-token function for one purpose
// ("company-name", "simhash-band", …): HMAC-SHA256 under a key derived for
// that purpose only, so tokens of different purposes never match and none
// can be recomputed without the master secret. Tokens differ between
// secrets versions: compare tokens made under the same version.
func (s *ServiceSecrets) Blinder(purpose string) func(data []byte) []byte {
	key := make([]byte, 32)
	// HKDF-Expand over a 32-byte PRK with a 32-byte output cannot fail.
	if err := deriveInto(key, s.blindRoot[:], "whistle/v1/blind/"+purpose); err != nil {
		panic(err)
	}
	return func(data []byte) []byte { return hmacSHA256(key, data) }
}

// BlindToken is Blinder(purpose)(data), for one-off use.
func (s *ServiceSecrets) BlindToken(purpose string, data []byte) []byte {
	return s.Blinder(purpose)(data)
}

// receiptSalt is a fixed Argon2id salt: receipts must be found by their
// lookup token before anything per-report is known, so there is nowhere to
// keep a per-report salt. The pepper (keyed by the master secret) plays the
// salt's role against precomputation.
var receiptSalt = []byte("whistle/receipt-argon2id/v1")

// ReceiptKey is the memory-hard stretch of one receipt under one secrets
// version: K = Argon2id(HMAC-SHA256(pepper, receipt), salt, ReceiptKDF).
// Both the database lookup token and the reporter's X25519 key derive from
// K, so every offline guess — even by someone holding the database and the
// server secrets — pays one Argon2id.
type ReceiptKey struct {
	secretsVersion uint32
	k              [32]byte
}

// DeriveReceiptKey stretches a receipt (one Argon2id, DefaultReceiptKDF ≈ 0.3 ms).
// At login, derive under every secrets version (Keyset.Secrets) and look up
// all the tokens at once; normally there is only one version.
func (s *ServiceSecrets) DeriveReceiptKey(r Receipt) (ReceiptKey, error) {
	if !r.valid() {
		return ReceiptKey{}, errors.New("crypto: receipt is not in canonical form (use ParseReceipt)")
	}
	peppered := hmacSHA256(s.pepper[:], []byte(r))
	defer clear(peppered)
	k, err := s.receiptKDF.key(peppered, receiptSalt)
	return ReceiptKey{secretsVersion: s.version, k: k}, err
}

// SecretsVersion is the secrets version the key was derived under; store it
// with the report (it is also in HolderReporter).
func (k ReceiptKey) SecretsVersion() uint32 { return k.secretsVersion }

// LookupToken is the only receipt-derived value stored in clear: the
// report's index key for reporter logins.
func (k ReceiptKey) LookupToken() []byte {
	return hmacSHA256(k.k[:], []byte("whistle/v1/receipt-lookup"))
}

// KeyPair is the reporter's X25519 key pair; the report's DEK is sealed to
// its public half under HolderReporter(SecretsVersion()).
func (k ReceiptKey) KeyPair() KeyPair {
	var priv [32]byte
	copy(priv[:], hmacSHA256(k.k[:], []byte("whistle/v1/reporter-x25519")))
	return keyPairFromPrivate(priv)
}

// Recipient is the reporter as a holder for SealDataKeyFor.
func (k ReceiptKey) Recipient() Recipient {
	return Recipient{Holder: HolderReporter(k.secretsVersion), Key: k.KeyPair().Public}
}

// Wipe zeroes the stretched key (best effort).
func (k *ReceiptKey) Wipe() { clear(k.k[:]) }
