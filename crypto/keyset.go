package crypto

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"whistle/internal/strictjson"
)

// Where the keyset comes from. Secrets never come from the database.
const (
	// EnvKeyset holds the whole keyset file content (JSON), for deployments
	// whose secret manager injects environment variables. It wins over files.
	EnvKeyset = "WHISTLE_KEYSET"
	// EnvKeysDir names the keyset directory (holding KeysetFileName).
	EnvKeysDir = "WHISTLE_KEYS_DIR"
	// KeysetFileName is the keyset file inside the keyset directory.
	KeysetFileName = "keyset.json"
	// DevCustodianFileName is where a development keyset keeps its custodian
	// private key — inside the keyset directory, which is exactly what a
	// production keyset must never do.
	DevCustodianFileName = "custodian-dev.key"

	keysetFormat    = "whistle-keyset/1"
	custodianFormat = "whistle-custodian-key/1"
	keysetLockName  = "keyset.lock"
	maxKeyFileSize  = 1 << 20
)

// ErrInsecurePermissions: a secret file is readable (or its directory
// writable) by group or others. The server must refuse to start.
var ErrInsecurePermissions = errors.New("crypto: insecure permissions on secret file")

// keysetFile is the on-disk (and WHISTLE_KEYSET) form. Every list holds all
// versions still needed to read old data, oldest first; the last is current.
type keysetFile struct {
	Format    string           `json:"format"`
	Dev       bool             `json:"dev,omitempty"`
	Secrets   []secretEntry    `json:"secrets"`
	Triage    []keyPairEntry   `json:"triage"`
	Custodian []publicKeyEntry `json:"custodian"`
}

type secretEntry struct {
	Version    uint32    `json:"version"`
	Created    time.Time `json:"created"`
	Master     []byte    `json:"master"`
	ReceiptKDF KDFParams `json:"receipt_kdf"`
}

type keyPairEntry struct {
	Version uint32    `json:"version"`
	Created time.Time `json:"created"`
	Public  []byte    `json:"public"`
	Private []byte    `json:"private"`
}

type publicKeyEntry struct {
	Version uint32    `json:"version"`
	Created time.Time `json:"created"`
	Public  []byte    `json:"public"`
}

// custodianFile is the offline custodian private key file.
type custodianFile struct {
	Format      string    `json:"format"`
	Note        string    `json:"note"`
	Version     uint32    `json:"version"`
	Created     time.Time `json:"created"`
	Fingerprint string    `json:"fingerprint"`
	Public      []byte    `json:"public"`
	Private     []byte    `json:"private"`
}

const custodianNote = "安委办保管人离线私钥。请离线保存（加密U盘或纸质备份，存放于保险柜），切勿留在服务器上；" +
	"丢失则无法进行托管恢复，泄露则所有举报内容可被解密。"

// CustodianKey is the offline custodian (escrow) key pair of 安委办. Its
// private half exists only in the file InitKeyset / RotateKeyset write for
// offline storage; the server keeps the public half.
type CustodianKey struct {
	Version uint32
	KeyPair
}

// Keyset is everything the service itself holds: versions of the master
// secret (ServiceSecrets), of the triage key pair, and of the custodian public
// key. The latest version of each is used for new data; older versions stay
// so that old ciphertexts remain readable after rotation.
type Keyset struct {
	source    string
	dev       bool
	secrets   []*ServiceSecrets // oldest first
	triage    []versionedKeyPair
	custodian []versionedPublicKey
}

type versionedKeyPair struct {
	version uint32
	kp      KeyPair
}

type versionedPublicKey struct {
	version uint32
	key     PublicKey
}

// Dev reports whether this is a development keyset (EnsureDevKeyset); a
// production deployment should refuse to run with one.
func (k *Keyset) Dev() bool { return k.dev }

// CurrentSecrets are the service secrets for new data.
func (k *Keyset) CurrentSecrets() *ServiceSecrets { return k.secrets[len(k.secrets)-1] }

// Secrets lists every secrets version, newest first: a reporter login derives
// the receipt key under each and looks up all the tokens at once.
func (k *Keyset) Secrets() []*ServiceSecrets {
	out := slices.Clone(k.secrets)
	slices.Reverse(out)
	return out
}

// SecretsVersion returns the secrets of one version.
func (k *Keyset) SecretsVersion(version uint32) (*ServiceSecrets, error) {
	for _, s := range k.secrets {
		if s.version == version {
			return s, nil
		}
	}
	return nil, fmt.Errorf("crypto: keyset has no secrets version %d", version)
}

// TriageRecipient is the current triage key as a holder for new reports.
func (k *Keyset) TriageRecipient() Recipient {
	cur := k.triage[len(k.triage)-1]
	return Recipient{Holder: HolderTriage(cur.version), Key: cur.kp.Public}
}

// TriageKey returns the triage key pair of one version.
func (k *Keyset) TriageKey(version uint32) (KeyPair, error) {
	for _, t := range k.triage {
		if t.version == version {
			return t.kp, nil
		}
	}
	return KeyPair{}, fmt.Errorf("crypto: keyset has no triage key version %d", version)
}

// CustodianRecipient is the current custodian public key as a holder.
func (k *Keyset) CustodianRecipient() Recipient {
	cur := k.custodian[len(k.custodian)-1]
	return Recipient{Holder: HolderCustodian(cur.version), Key: cur.key}
}

// TriageHolders returns the names of the triage copies in a report's holder
// map (any version). Delete exactly these once routing is done: from then on
// the service alone cannot read the report.
func TriageHolders(copies map[string][]byte) []string {
	var names []string
	for name := range copies {
		if strings.HasPrefix(name, "triage:") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// OpenTriageCopy opens the report's DEK with whichever triage key version it
// was sealed to. Only unrouted reports have a triage copy.
func (k *Keyset) OpenTriageCopy(reportID string, copies map[string][]byte) (DataKey, error) {
	for i := len(k.triage) - 1; i >= 0; i-- {
		if sealed, ok := copies[HolderTriage(k.triage[i].version)]; ok {
			return OpenDataKey(sealed, reportID, k.triage[i].kp)
		}
	}
	return DataKey{}, fmt.Errorf("crypto: report %s has no triage copy this keyset can open (routed already?)", reportID)
}

// RewrapTriage is the re-wrap job's step for one report after a triage key
// rotation: triage copies under old versions are re-sealed to the current
// triage key (content untouched) and the old copies removed from the map.
// It returns how many copies changed; store the map if it is not zero.
func (k *Keyset) RewrapTriage(reportID string, copies map[string][]byte) (int, error) {
	current := k.TriageRecipient()
	changed := 0
	for _, old := range k.triage[:len(k.triage)-1] {
		name := HolderTriage(old.version)
		sealed, ok := copies[name]
		if !ok {
			continue
		}
		resealed, err := ResealDataKey(sealed, reportID, old.kp, current.Key)
		if err != nil {
			return changed, fmt.Errorf("crypto: re-wrapping %s: %w", name, err)
		}
		delete(copies, name)
		copies[current.Holder] = resealed
		changed++
	}
	return changed, nil
}

// Wipe zeroes the secrets and private keys held in memory (best effort).
func (k *Keyset) Wipe() {
	for _, s := range k.secrets {
		s.Wipe()
	}
	for i := range k.triage {
		k.triage[i].kp.Wipe()
	}
}

// KeysetInfo describes a keyset without any secret, for `whistle keys` output
// and startup logs.
type KeysetInfo struct {
	Source               string   // directory, or "$WHISTLE_KEYSET"
	Dev                  bool     // development keyset: never use in production
	SecretsVersions      []uint32 // oldest first; the last is current
	TriageVersions       []uint32
	CustodianVersions    []uint32
	CustodianFingerprint string // of the current custodian public key; compare with the offline file
	CustodianFile        string // set when this call wrote a custodian private key
}

// String is a one-paragraph zh-CN summary for operators.
func (i KeysetInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "密钥集 %s：服务主密钥版本 %v，分诊密钥版本 %v，保管人公钥版本 %v（当前指纹 %s）。",
		i.Source, i.SecretsVersions, i.TriageVersions, i.CustodianVersions, i.CustodianFingerprint)
	if i.Dev {
		b.WriteString("警告：这是开发用密钥集，保管人私钥与服务器密钥放在一起，不得用于生产环境。")
	}
	if i.CustodianFile != "" {
		fmt.Fprintf(&b, "保管人私钥已写入 %s：请立即将其转移到离线介质并从本机删除。", i.CustodianFile)
	}
	return b.String()
}

// Info describes the keyset.
func (k *Keyset) Info() KeysetInfo {
	info := KeysetInfo{Source: k.source, Dev: k.dev}
	for _, s := range k.secrets {
		info.SecretsVersions = append(info.SecretsVersions, s.version)
	}
	for _, t := range k.triage {
		info.TriageVersions = append(info.TriageVersions, t.version)
	}
	for _, c := range k.custodian {
		info.CustodianVersions = append(info.CustodianVersions, c.version)
	}
	info.CustodianFingerprint = k.CustodianRecipient().Key.Fingerprint()
	return info
}

// GenerateKeyset returns a fresh in-memory keyset (version 1 of everything,
// DefaultReceiptKDF) and its custodian key. InitKeyset and EnsureDevKeyset
// use it; other packages' tests can too, without touching disk.
func GenerateKeyset() (*Keyset, CustodianKey) {
	f, ck := newKeysetFile(false)
	k, err := buildKeyset(f, "generated")
	if err != nil { // a freshly generated file is always valid
		panic(err)
	}
	return k, ck
}

func newKeysetFile(dev bool) (keysetFile, CustodianKey) {
	now := time.Now().UTC().Truncate(time.Second)
	f := keysetFile{Format: keysetFormat, Dev: dev}
	f.Secrets = []secretEntry{newSecretEntry(1, now, DefaultReceiptKDF)}
	f.Triage = []keyPairEntry{newKeyPairEntry(1, now)}
	ck := CustodianKey{Version: 1, KeyPair: GenerateKeyPair()}
	f.Custodian = []publicKeyEntry{{Version: 1, Created: now, Public: ck.Public[:]}}
	return f, ck
}

func newSecretEntry(version uint32, now time.Time, p KDFParams) secretEntry {
	master := make([]byte, MasterSecretSize)
	rand.Read(master)
	return secretEntry{Version: version, Created: now, Master: master, ReceiptKDF: p}
}

func newKeyPairEntry(version uint32, now time.Time) keyPairEntry {
	kp := GenerateKeyPair()
	return keyPairEntry{Version: version, Created: now, Public: kp.Public[:], Private: kp.Private[:]}
}

// ParseKeyset decodes and validates keyset file content (the form of
// KeysetFileName and of $WHISTLE_KEYSET).
func ParseKeyset(data []byte) (*Keyset, error) {
	f, err := decodeKeysetFile(data)
	if err != nil {
		return nil, err
	}
	return buildKeyset(f, "$"+EnvKeyset)
}

func decodeKeysetFile(data []byte) (keysetFile, error) {
	var f keysetFile
	if err := strictjson.Decode(data, &f, maxKeyFileSize); err != nil {
		return f, fmt.Errorf("%w: keyset: %v", ErrMalformed, err)
	}
	if f.Format != keysetFormat {
		return f, fmt.Errorf("%w: keyset format %q, want %q", ErrMalformed, f.Format, keysetFormat)
	}
	return f, nil
}

func buildKeyset(f keysetFile, source string) (*Keyset, error) {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: keyset: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	k := &Keyset{source: source, dev: f.Dev}
	if len(f.Secrets) == 0 || len(f.Triage) == 0 || len(f.Custodian) == 0 {
		return nil, malformed("needs at least one secrets, triage and custodian version")
	}
	var versions []uint32
	for _, e := range f.Secrets {
		s, err := newServiceSecrets(e.Version, e.Master, e.ReceiptKDF)
		if err != nil {
			return nil, malformed("secrets v%d: %v", e.Version, err)
		}
		k.secrets = append(k.secrets, s)
		versions = append(versions, e.Version)
	}
	if err := checkVersions(versions); err != nil {
		return nil, malformed("secrets: %v", err)
	}
	versions = versions[:0]
	for _, e := range f.Triage {
		if len(e.Public) != 32 || len(e.Private) != 32 {
			return nil, malformed("triage v%d: keys must be 32 bytes", e.Version)
		}
		kp := keyPairFromPrivate([32]byte(e.Private))
		if kp.Public != PublicKey(e.Public) {
			return nil, malformed("triage v%d: public key does not match private key", e.Version)
		}
		k.triage = append(k.triage, versionedKeyPair{e.Version, kp})
		versions = append(versions, e.Version)
	}
	if err := checkVersions(versions); err != nil {
		return nil, malformed("triage: %v", err)
	}
	versions = versions[:0]
	for _, e := range f.Custodian {
		if len(e.Public) != 32 {
			return nil, malformed("custodian v%d: public key must be 32 bytes", e.Version)
		}
		if err := checkPublic(PublicKey(e.Public)); err != nil {
			return nil, malformed("custodian v%d: %v", e.Version, err)
		}
		k.custodian = append(k.custodian, versionedPublicKey{e.Version, PublicKey(e.Public)})
		versions = append(versions, e.Version)
	}
	if err := checkVersions(versions); err != nil {
		return nil, malformed("custodian: %v", err)
	}
	return k, nil
}

// checkVersions requires positive, strictly increasing versions (the last
// one is current; gaps are allowed once old versions are retired).
func checkVersions(vs []uint32) error {
	for i, v := range vs {
		if v == 0 || (i > 0 && v <= vs[i-1]) {
			return fmt.Errorf("versions %v must be positive and strictly increasing", vs)
		}
	}
	return nil
}

// ParseCustodianKey decodes an offline custodian key file.
func ParseCustodianKey(data []byte) (CustodianKey, error) {
	var f custodianFile
	if err := strictjson.Decode(data, &f, maxKeyFileSize); err != nil {
		return CustodianKey{}, fmt.Errorf("%w: custodian key: %v", ErrMalformed, err)
	}
	switch {
	case f.Format != custodianFormat:
		return CustodianKey{}, fmt.Errorf("%w: custodian key format %q, want %q", ErrMalformed, f.Format, custodianFormat)
	case f.Version == 0 || len(f.Private) != 32 || len(f.Public) != 32:
		return CustodianKey{}, fmt.Errorf("%w: custodian key needs a version and 32-byte keys", ErrMalformed)
	}
	ck := CustodianKey{Version: f.Version, KeyPair: keyPairFromPrivate([32]byte(f.Private))}
	if ck.Public != PublicKey(f.Public) {
		ck.Wipe()
		return CustodianKey{}, fmt.Errorf("%w: custodian public key does not match its private key", ErrMalformed)
	}
	return ck, nil
}

// LoadCustodianKey reads an offline custodian key file (on the custodian's
// machine; file permissions are not enforced there, since removable media
// often cannot express them).
func LoadCustodianKey(path string) (CustodianKey, error) {
	data, err := readLimited(path)
	if err != nil {
		return CustodianKey{}, err
	}
	defer clear(data)
	return ParseCustodianKey(data)
}

func encodeCustodianKey(ck CustodianKey, now time.Time) ([]byte, error) {
	return json.MarshalIndent(custodianFile{
		Format: custodianFormat, Note: custodianNote, Version: ck.Version, Created: now,
		Fingerprint: ck.Public.Fingerprint(), Public: ck.Public[:], Private: ck.Private[:],
	}, "", "  ")
}

// LoadKeyset reads the keyset from dir, refusing it if the file is readable
// by group or others, or the directory is writable by them (without the
// sticky bit), with an error wrapping ErrInsecurePermissions.
func LoadKeyset(dir string) (*Keyset, error) {
	path := filepath.Join(dir, KeysetFileName)
	if err := checkSecretPermissions(dir, path); err != nil {
		return nil, err
	}
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	f, err := decodeKeysetFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return buildKeyset(f, dir)
}

// LoadKeysetFromEnv loads the keyset from $WHISTLE_KEYSET if set, else from
// the directory $WHISTLE_KEYS_DIR, else from defaultDir. An empty defaultDir
// with neither variable set is an error (production must say where keys are).
func LoadKeysetFromEnv(defaultDir string) (*Keyset, error) {
	if content := os.Getenv(EnvKeyset); content != "" {
		return ParseKeyset([]byte(content))
	}
	dir := os.Getenv(EnvKeysDir)
	if dir == "" {
		dir = defaultDir
	}
	if dir == "" {
		return nil, fmt.Errorf("crypto: no keyset: set %s or %s (run `whistle keys init` first)", EnvKeysDir, EnvKeyset)
	}
	return LoadKeyset(dir)
}

func checkSecretPermissions(dir, path string) error {
	if err := checkDirPermissions(dir); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %v; chmod 600 it", ErrInsecurePermissions, path, fi.Mode().Perm())
	}
	return nil
}

// checkDirPermissions refuses a keyset directory that others could write to:
// they could replace the keyset with one whose keys they know.
func checkDirPermissions(dir string) error {
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !di.IsDir() {
		return fmt.Errorf("crypto: keyset path %s is not a directory", dir)
	}
	if di.Mode().Perm()&0o022 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("%w: directory %s has mode %v (others could replace the keyset); chmod 700 it", ErrInsecurePermissions, dir, di.Mode().Perm())
	}
	return nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, path, maxKeyFileSize)
	}
	return data, nil
}

// InitKeyset creates a production keyset in dir (created 0700 if missing):
// master secret, triage key pair and custodian key pair, all version 1. The
// custodian PRIVATE key goes to custodianOut only (0600, never overwritten),
// which must be outside dir: move it to offline media and delete it from the
// server. Refuses to overwrite an existing keyset (use RotateKeyset).
func InitKeyset(dir, custodianOut string) (KeysetInfo, error) {
	if err := checkOutsideDir(dir, custodianOut); err != nil {
		return KeysetInfo{}, err
	}
	f, ck := newKeysetFile(false)
	defer ck.Wipe()
	return createKeyset(dir, f, ck, custodianOut)
}

// EnsureDevKeyset is the embedded default's first run: if dir holds no
// keyset it creates a development keyset (custodian private key inside dir as
// DevCustodianFileName) and returns created=true — the caller must then say
// loudly that this is a development key set. If a keyset exists it is loaded
// (with the permission checks of LoadKeyset).
func EnsureDevKeyset(dir string) (ks *Keyset, created bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, KeysetFileName)); err == nil {
		ks, err := LoadKeyset(dir)
		return ks, false, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	f, ck := newKeysetFile(true)
	defer ck.Wipe()
	if _, err := createKeyset(dir, f, ck, filepath.Join(dir, DevCustodianFileName)); err != nil {
		return nil, false, err
	}
	ks, err = LoadKeyset(dir)
	return ks, err == nil, err
}

func createKeyset(dir string, f keysetFile, ck CustodianKey, custodianOut string) (KeysetInfo, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return KeysetInfo{}, err
	}
	if err := checkDirPermissions(dir); err != nil {
		return KeysetInfo{}, err
	}
	unlock, err := lockKeyset(dir)
	if err != nil {
		return KeysetInfo{}, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, KeysetFileName)); err == nil {
		return KeysetInfo{}, fmt.Errorf("crypto: %s already has a keyset; use `whistle keys rotate`", dir)
	}
	return commitKeyset(dir, f, ck, custodianOut)
}

// commitKeyset writes the custodian private key (if any) first and the keyset
// last, so a failure never leaves a keyset whose custodian key was lost.
func commitKeyset(dir string, f keysetFile, ck CustodianKey, custodianOut string) (KeysetInfo, error) {
	k, err := buildKeyset(f, dir)
	if err != nil {
		return KeysetInfo{}, err
	}
	defer k.Wipe()
	info := k.Info()
	if custodianOut != "" {
		data, err := encodeCustodianKey(ck, time.Now().UTC().Truncate(time.Second))
		if err != nil {
			return KeysetInfo{}, err
		}
		err = writeExclusive(custodianOut, data)
		clear(data)
		if err != nil {
			return KeysetInfo{}, err
		}
		info.CustodianFile = custodianOut
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = writeAtomic(dir, KeysetFileName, data)
		clear(data)
	}
	if err != nil && custodianOut != "" {
		os.Remove(custodianOut) // never used: the keyset does not know it
	}
	return info, err
}

func checkOutsideDir(dir, file string) error {
	if file == "" {
		return errors.New("crypto: a file for the offline custodian private key is required")
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	absFile, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(absDir, absFile); err == nil && !strings.HasPrefix(rel, "..") {
		return fmt.Errorf("crypto: the custodian private key (%s) must be written outside the keyset directory %s", file, dir)
	}
	return nil
}

// RotateOptions says what RotateKeyset renews. Old versions are kept, so
// everything sealed before stays readable; the re-wrap job then moves
// triage copies to the new triage key (Keyset.RewrapTriage).
type RotateOptions struct {
	// Triage adds a triage key pair version (routine, e.g. yearly).
	Triage bool
	// Secrets adds a master-secret version. New receipts, lookup tokens and
	// blind tokens use it; old receipts keep working through the old version,
	// which must be kept as long as reports made under it exist (their
	// reporter copies cannot be re-wrapped without the receipt). Do this on
	// suspected compromise of the secret, or to raise ReceiptKDF.
	Secrets bool
	// ReceiptKDF for the new secrets version; zero keeps the current one.
	ReceiptKDF KDFParams
	// CustodianOut, if set, adds a custodian key pair version whose private
	// half is written there (outside the keyset directory), like InitKeyset.
	CustodianOut string
}

// RotateKeyset adds new key versions to the keyset in dir, atomically.
func RotateKeyset(dir string, opt RotateOptions) (KeysetInfo, error) {
	if !opt.Triage && !opt.Secrets && opt.CustodianOut == "" {
		return KeysetInfo{}, errors.New("crypto: nothing to rotate: choose triage, secrets and/or a custodian output file")
	}
	if opt.ReceiptKDF != (KDFParams{}) && !opt.Secrets {
		return KeysetInfo{}, errors.New("crypto: receipt KDF parameters change only with a new secrets version")
	}
	if opt.CustodianOut != "" {
		if err := checkOutsideDir(dir, opt.CustodianOut); err != nil {
			return KeysetInfo{}, err
		}
	}
	unlock, err := lockKeyset(dir)
	if err != nil {
		return KeysetInfo{}, err
	}
	defer unlock()
	path := filepath.Join(dir, KeysetFileName)
	if err := checkSecretPermissions(dir, path); err != nil {
		return KeysetInfo{}, err
	}
	data, err := readLimited(path)
	if err != nil {
		return KeysetInfo{}, err
	}
	f, err := decodeKeysetFile(data)
	clear(data)
	if err != nil {
		return KeysetInfo{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	if opt.Secrets {
		last := f.Secrets[len(f.Secrets)-1]
		p := opt.ReceiptKDF
		if p == (KDFParams{}) {
			p = last.ReceiptKDF
		}
		f.Secrets = append(f.Secrets, newSecretEntry(last.Version+1, now, p))
	}
	if opt.Triage {
		f.Triage = append(f.Triage, newKeyPairEntry(f.Triage[len(f.Triage)-1].Version+1, now))
	}
	var ck CustodianKey
	if opt.CustodianOut != "" {
		ck = CustodianKey{Version: f.Custodian[len(f.Custodian)-1].Version + 1, KeyPair: GenerateKeyPair()}
		defer ck.Wipe()
		f.Custodian = append(f.Custodian, publicKeyEntry{Version: ck.Version, Created: now, Public: ck.Public[:]})
	}
	return commitKeyset(dir, f, ck, opt.CustodianOut)
}

// VerifyKeyset loads the keyset in dir (permissions, format, consistency) and
// exercises every key: each triage version seals and opens a DEK, each
// custodian public key accepts a sealed copy, each secrets version derives a
// receipt key. If custodianFile is not empty it must hold the private half of
// one of the keyset's custodian versions (check the offline copy is good).
func VerifyKeyset(dir, custodianFile string) (KeysetInfo, error) {
	k, err := LoadKeyset(dir)
	if err != nil {
		return KeysetInfo{}, err
	}
	defer k.Wipe()
	dek := NewDataKey()
	for _, t := range k.triage {
		sealed, err := SealDataKey(dek, "verify", t.kp.Public)
		if err == nil {
			_, err = OpenDataKey(sealed, "verify", t.kp)
		}
		if err != nil {
			return KeysetInfo{}, fmt.Errorf("crypto: triage key v%d: %w", t.version, err)
		}
	}
	for _, c := range k.custodian {
		if _, err := SealDataKey(dek, "verify", c.key); err != nil {
			return KeysetInfo{}, fmt.Errorf("crypto: custodian key v%d: %w", c.version, err)
		}
	}
	for _, s := range k.secrets {
		if _, err := s.DeriveReceiptKey(NewReceipt()); err != nil {
			return KeysetInfo{}, fmt.Errorf("crypto: secrets v%d: %w", s.version, err)
		}
	}
	if custodianFile != "" {
		ck, err := LoadCustodianKey(custodianFile)
		if err != nil {
			return KeysetInfo{}, err
		}
		defer ck.Wipe()
		if !slices.Contains(k.custodian, versionedPublicKey{ck.Version, ck.Public}) {
			return KeysetInfo{}, fmt.Errorf("crypto: %s is not the private half of any custodian key in this keyset", custodianFile)
		}
	}
	return k.Info(), nil
}

// lockKeyset serialises init and rotate on one directory with an exclusive
// lock file. A crash leaves the file behind; the error says what to remove.
func lockKeyset(dir string) (func(), error) {
	path := filepath.Join(dir, keysetLockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("crypto: keyset %s is locked by another `whistle keys` run (if none is running, remove %s)", dir, path)
		}
		return nil, err
	}
	f.Close()
	return func() { os.Remove(path) }, nil
}

// writeExclusive creates path with mode 0600 and never replaces a file.
func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// writeAtomic replaces dir/name with data (mode 0600) via a temporary file
// and rename, so a crash leaves either the old or the new keyset.
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err = tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
