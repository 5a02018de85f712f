package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/crypto"
	"whistle/mongodb"
)

const (
	sessionCookie = "whistle_staff"
	tokenBytes    = 32
	// dbTouchEvery throttles last-seen writes: the stored record is only
	// for sweeping, the idle timeout is enforced from memory.
	dbTouchEvery = time.Minute
	// sweepEvery is how often expired sessions are cleared from memory
	// (wiping their keys) and from the store.
	sweepEvery = 5 * time.Minute
)

var tokenEncoding = base64.RawURLEncoding

// randomToken returns 32 random bytes, URL-safe base64 encoded.
func randomToken() string {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails since Go 1.24
	return tokenEncoding.EncodeToString(b)
}

// wellFormedToken reports whether s could be a randomToken, so junk never
// reaches the store.
func wellFormedToken(s string) bool {
	if len(s) != tokenEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := tokenEncoding.DecodeString(s)
	return err == nil
}

// sessionHash is what the store keeps instead of the session id.
func sessionHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// csrfFor derives the session's CSRF token. Only someone holding the session
// id (the HttpOnly cookie) can compute it, and it changes with every login.
func csrfFor(sessionID string) string {
	m := hmac.New(sha256.New, []byte(sessionID))
	m.Write([]byte("whistle/staff-csrf/v1"))
	return tokenEncoding.EncodeToString(m.Sum(nil))
}

// liveSession is what only this process knows about a session: above all,
// the member's unlocked key.
type liveSession struct {
	username string
	created  time.Time

	mu        sync.Mutex
	lastSeen  time.Time
	dbTouched time.Time
	key       crypto.KeyPair
	ended     bool
}

func (s *liveSession) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	s.key.Wipe()
}

// expired reports whether the session has outlived the policy at now.
func (s *liveSession) expired(p SessionPolicy, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended || now.Sub(s.lastSeen) >= p.Idle || now.Sub(s.created) >= p.Absolute
}

// liveSessions maps session hashes to live sessions.
type liveSessions struct {
	mu sync.Mutex
	m  map[string]*liveSession
}

func newLiveSessions() *liveSessions { return &liveSessions{m: map[string]*liveSession{}} }

func (l *liveSessions) get(hash string) *liveSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[hash]
}

func (l *liveSessions) put(hash string, s *liveSession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[hash] = s
}

// remove forgets a session and wipes its key.
func (l *liveSessions) remove(hash string) {
	l.mu.Lock()
	s := l.m[hash]
	delete(l.m, hash)
	l.mu.Unlock()
	if s != nil {
		s.end()
	}
}

// removeExpired wipes and forgets every expired session.
func (l *liveSessions) removeExpired(p SessionPolicy, now time.Time) {
	l.mu.Lock()
	var gone []*liveSession
	for h, s := range l.m {
		if s.expired(p, now) {
			gone = append(gone, s)
			delete(l.m, h)
		}
	}
	l.mu.Unlock()
	for _, s := range gone {
		s.end()
	}
}

// Staff is the signed-in member of the current request.
type Staff struct {
	Username   string
	Role       whistle.Role
	Department string
	City       string
	County     string

	csrf    string
	session *liveSession
}

// Actor is the member as the lifecycle and the audit trail name them.
func (s *Staff) Actor() whistle.Actor {
	return whistle.Actor{ID: s.Username, Role: s.Role, Department: s.Department}
}

// KeyPair returns a copy of the member's unlocked staff key; the caller
// wipes it when done. ok is false if the session ended meanwhile.
func (s *Staff) KeyPair() (kp crypto.KeyPair, ok bool) {
	s.session.mu.Lock()
	defer s.session.mu.Unlock()
	if s.session.ended {
		return crypto.KeyPair{}, false
	}
	return s.session.key, true
}

// startSession stores a new session for u holding kp (which the session now
// owns) and sets the cookie.
func (cs *Console) startSession(c *fiber.Ctx, u *mongodb.User, kp crypto.KeyPair) error {
	id := randomToken()
	hash := sessionHash(id)
	now := cs.now()
	if err := cs.store.CreateSession(c.UserContext(), &mongodb.Session{ID: hash, Username: u.Username, CreatedAt: now, LastSeen: now}); err != nil {
		kp.Wipe()
		return err
	}
	cs.sessions.put(hash, &liveSession{username: u.Username, created: now, lastSeen: now, dbTouched: now, key: kp})
	cs.setCookie(c, sessionCookie, id)
	return nil
}

// setCookie sets a session-lifetime cookie (gone when the browser closes).
func (cs *Console) setCookie(c *fiber.Ctx, name, value string) {
	c.Cookie(&fiber.Cookie{
		Name: name, Value: value, Path: "/",
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: cs.tls || c.Context().IsTLS(),
	})
}

func (cs *Console) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(1, 0),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: cs.tls || c.Context().IsTLS(),
	})
}

// errNoSession is the internal reason a request has no usable session; the
// caller turns it into a redirect or a 401 page.
var errNoSession = &whistle.Error{Code: whistle.EUNAUTHORIZED, Message: "请先登录。"}

// resolve finds the request's session and its member. A session must be
// live in this process (it holds the key), within both timeouts, still in
// the store (not ended elsewhere) and belong to an enabled member.
func (cs *Console) resolve(c *fiber.Ctx) (*Staff, error) {
	id := c.Cookies(sessionCookie)
	if !wellFormedToken(id) {
		return nil, errNoSession
	}
	hash := sessionHash(id)
	live := cs.sessions.get(hash)
	now := cs.now()
	cs.sweep(c.UserContext(), now)
	if live == nil {
		return nil, errNoSession
	}
	if live.expired(cs.policy, now) {
		cs.endSession(c.UserContext(), hash)
		return nil, errNoSession
	}
	ctx := c.UserContext()
	if _, err := cs.store.Session(ctx, hash); err != nil {
		if whistle.ErrorCode(err) == whistle.ENOTFOUND {
			cs.sessions.remove(hash) // ended by a logout or disable elsewhere
			return nil, errNoSession
		}
		return nil, err
	}
	u, err := cs.store.User(ctx, live.username)
	if err != nil && whistle.ErrorCode(err) != whistle.ENOTFOUND {
		return nil, err
	}
	if u == nil || u.Disabled {
		cs.endSession(ctx, hash)
		return nil, errNoSession
	}
	live.mu.Lock()
	live.lastSeen = now
	touch := now.Sub(live.dbTouched) >= dbTouchEvery
	if touch {
		live.dbTouched = now
	}
	live.mu.Unlock()
	if touch {
		if err := cs.store.TouchSession(ctx, hash, now); err != nil {
			return nil, err
		}
	}
	return &Staff{
		Username: u.Username, Role: u.Role, Department: u.Department, City: u.City, County: u.County,
		csrf: csrfFor(id), session: live,
	}, nil
}

// endSession forgets a session here and in the store.
func (cs *Console) endSession(ctx context.Context, hash string) error {
	cs.sessions.remove(hash)
	return cs.store.DeleteSession(ctx, hash)
}

// sweep clears expired sessions from memory (wiping their keys) and from the
// store, at most every sweepEvery. A store failure only delays the cleanup:
// expired sessions are refused when presented anyway.
func (cs *Console) sweep(ctx context.Context, now time.Time) {
	cs.sweepMu.Lock()
	if now.Sub(cs.lastSweep) < sweepEvery {
		cs.sweepMu.Unlock()
		return
	}
	cs.lastSweep = now
	cs.sweepMu.Unlock()
	cs.sessions.removeExpired(cs.policy, now)
	// The stored last-seen time lags by up to dbTouchEvery; the margin keeps
	// the sweep from deleting a session that memory still counts as active.
	idleBefore := now.Add(-cs.policy.Idle - dbTouchEvery)
	if _, err := cs.store.DeleteExpiredSessions(ctx, idleBefore, now.Add(-cs.policy.Absolute)); err != nil {
		cs.log.Warn("staff session sweep", "err", err)
	}
}
