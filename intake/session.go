package intake

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"whistle/crypto"
)

// Follow-up sessions are stateless: after the reporter enters the receipt, the
// cookie carries the receipt itself, sealed (XChaCha20-Poly1305) under a key
// derived from the service master secret, with an expiry and a CSRF token.
// Nothing is stored server-side, so no session table links a browser to a
// case, any `serve` replica can read the cookie, and a cookie copied off the
// device stops working after sessionTTL. Rotating the master secret ends all
// sessions, which for 20-minute sessions is the right trade.
const (
	sessionCookie = "whistle_followup"
	sessionPath   = "/follow-up"
	sessionTTL    = 20 * time.Minute
)

type session struct {
	Receipt crypto.Receipt `json:"r"`
	Expires int64          `json:"e"` // unix seconds
	CSRF    string         `json:"c"`
	ID      string         `json:"i"` // random; keys the per-session rate limit
}

type sessionCodec struct {
	aead cipher.AEAD
	now  func() time.Time
}

func newSessionCodec(keys *crypto.Keyset, now func() time.Time) (*sessionCodec, error) {
	key := keys.CurrentSecrets().BlindToken("intake/followup-session-key", nil)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	return &sessionCodec{aead: aead, now: now}, nil
}

func randomToken() string {
	var b [18]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// issue returns a new session for the receipt and its cookie value.
func (c *sessionCodec) issue(r crypto.Receipt) (session, string, error) {
	s := session{Receipt: r, Expires: c.now().Add(sessionTTL).Unix(), CSRF: randomToken(), ID: randomToken()}
	plain, err := json.Marshal(s)
	if err != nil {
		return s, "", err
	}
	defer clear(plain)
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+c.aead.Overhead())
	rand.Read(nonce)
	sealed := c.aead.Seal(nonce, nonce, plain, []byte(sessionCookie))
	return s, base64.RawURLEncoding.EncodeToString(sealed), nil
}

var errNoSession = errors.New("no valid follow-up session")

// open returns the session in a cookie value if it is authentic and unexpired.
func (c *sessionCodec) open(value string) (session, error) {
	var s session
	if value == "" || len(value) > 1024 {
		return s, errNoSession
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < chacha20poly1305.NonceSizeX+c.aead.Overhead() {
		return s, errNoSession
	}
	plain, err := c.aead.Open(nil, sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:], []byte(sessionCookie))
	if err != nil {
		return s, errNoSession
	}
	defer clear(plain)
	if json.Unmarshal(plain, &s) != nil || c.now().Unix() >= s.Expires {
		return session{}, errNoSession
	}
	return s, nil
}

// checkCSRF compares a submitted token with the session's in constant time.
func (s session) checkCSRF(token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(token)) == 1
}
