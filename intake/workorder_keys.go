package intake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"whistle"
	"whistle/mongodb"
)

// API keys authenticate machines (the 12345 platform) on the work-order
// import. A key reads
//
//	wk_<key id>_<secret>
//
// where the key id (16 base32 characters) is the stored document's id, so
// authentication is one _id read, and the secret is 32 random bytes in hex.
// Only SHA-256 of the whole key is stored: the key is random, so a slow hash
// would add nothing, and a database reader cannot use what is stored.
const (
	apiKeyPrefix     = "wk_"
	apiKeySecretSize = 32
	maxAPIKeyName    = 64
	// apiKeyLength is the exact length of a well-formed key.
	apiKeyLength = len(apiKeyPrefix) + 16 + 1 + 2*apiKeySecretSize
)

// Audit actions of API-key management.
const (
	AuditAPIKeyCreate = "apikey_create"
	AuditAPIKeyRevoke = "apikey_revoke"
)

// CreateAPIKey makes a key for name and returns it. The key is shown once:
// only its hash is stored. A name with an active key is ECONFLICT.
func CreateAPIKey(ctx context.Context, store *mongodb.DB, name string, now time.Time) (string, error) {
	name, err := checkAPIKeyName(name)
	if err != nil {
		return "", err
	}
	keyID := whistle.NewID()
	secret := make([]byte, apiKeySecretSize)
	rand.Read(secret) // never fails since Go 1.24
	key := apiKeyPrefix + keyID + "_" + hex.EncodeToString(secret)
	sum := sha256.Sum256([]byte(key))
	if err := store.CreateAPIKey(ctx, mongodb.APIKey{KeyID: keyID, Name: name, Hash: sum[:], CreatedAt: now.UTC()}); err != nil {
		return "", err
	}
	if err := store.Audit(ctx, mongodb.AuditEntry{At: now, Actor: "cli", Role: whistle.RoleAdmin, Action: AuditAPIKeyCreate, Subject: "apikey:" + name}); err != nil {
		return "", err
	}
	return key, nil
}

// RevokeAPIKey revokes the active key of name; it stops working at once.
func RevokeAPIKey(ctx context.Context, store *mongodb.DB, name string, now time.Time) error {
	name, err := checkAPIKeyName(name)
	if err != nil {
		return err
	}
	if err := store.RevokeAPIKey(ctx, name, now); err != nil {
		return err
	}
	return store.Audit(ctx, mongodb.AuditEntry{At: now, Actor: "cli", Role: whistle.RoleAdmin, Action: AuditAPIKeyRevoke, Subject: "apikey:" + name})
}

func checkAPIKeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", whistle.FieldError("name", "请指定 API 密钥名称。")
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return "", whistle.FieldError("name", "名称包含无效字符。")
	case utf8.RuneCountInString(name) > maxAPIKeyName:
		return "", whistle.FieldError("name", "名称过长。")
	}
	return name, nil
}

var errBadAPIKey = &whistle.Error{Code: whistle.EUNAUTHORIZED, Message: "缺少有效的 API 密钥。"}

// dummyAPIKeyHash is compared against when a key id is unknown, so an
// unknown id and a wrong secret take the same path.
var dummyAPIKeyHash = sha256.Sum256([]byte("whistle/unknown-api-key"))

// authenticateAPIKey checks an Authorization header ("Bearer <key>") and
// returns the key's record. Every failure — no header, a malformed, unknown,
// wrong or revoked key — is the same EUNAUTHORIZED.
func authenticateAPIKey(ctx context.Context, store *mongodb.DB, header string) (*mongodb.APIKey, error) {
	scheme, key, ok := strings.Cut(strings.TrimSpace(header), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(key) != apiKeyLength || !strings.HasPrefix(key, apiKeyPrefix) {
		return nil, errBadAPIKey
	}
	keyID, _, ok := strings.Cut(key[len(apiKeyPrefix):], "_")
	if !ok || len(keyID) != 16 {
		return nil, errBadAPIKey
	}
	rec, err := store.APIKey(ctx, keyID)
	if err != nil && whistle.ErrorCode(err) != whistle.ENOTFOUND {
		return nil, err
	}
	want := dummyAPIKeyHash[:]
	if rec != nil {
		want = rec.Hash
	}
	got := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare(got[:], want) != 1 || rec == nil || rec.RevokedAt != nil {
		return nil, errBadAPIKey
	}
	return rec, nil
}
