// Package admin is staff authentication for Whistle's consoles: staff
// accounts, login and logout, sessions, CSRF tokens and role gating. The full
// staff console (queues, case lifecycle, rewards) builds on it.
//
// Passwords. A member's password is verified by unlocking their staff key
// (crypto.StaffKey: an X25519 private key sealed with XChaCha20-Poly1305
// under an Argon2id key derived from the password, DefaultStaffKDF). That
// sealed key is the Argon2id password verifier: a second, separate password
// hash would double the memory-hard work of every login (a denial-of-service
// lever on a two-core box) and give an attacker with the database nothing
// they do not already have. Unknown and disabled accounts unlock a dummy key
// of the same cost, so timing does not tell them apart.
//
// Sessions. The cookie holds 32 random bytes; the store holds only their
// SHA-256 (mongodb.Session), so a database reader cannot ride a session. The
// unlocked staff key exists only in this process's memory, keyed by that
// hash — never on disk, never in the cookie. A session therefore works only
// on the process that created it: after a restart, or on another replica
// (run `serve` replicas with sticky sessions), the member logs in again.
// Sessions end on logout, after an idle timeout and after an absolute
// timeout, and at once when the member is disabled.
//
// CSRF. Every unsafe request under RequireRole must carry the synchronizer
// token of its session (form field CSRFField or header X-CSRF-Token),
// derived from the session id with HMAC, so it is tied to the session and
// needs no storage. The login form, which has no session yet, uses a
// double-submit cookie. Cookies are HttpOnly and SameSite=Strict, and Secure
// under TLS.
//
// Login attempts are rate limited per username and globally, in memory, and
// at most a few Argon2id derivations run at once.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/crypto"
	"whistle/mongodb"
)

// Deps are what the console needs from the process.
type Deps struct {
	Store  *mongodb.DB
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
	// TLS forces the Secure cookie flag when TLS terminates in front of the
	// process (WHISTLE_TLS); a direct TLS connection sets it anyway.
	TLS bool
	// KDF is the Argon2id cost of the dummy key that unknown usernames are
	// checked against; it should match what accounts are created with.
	// Default crypto.DefaultStaffKDF.
	KDF crypto.KDFParams
	// Sessions and Limits default to DefaultSessionPolicy and DefaultLoginLimits.
	Sessions SessionPolicy
	Limits   LoginLimits
}

// SessionPolicy bounds how long a staff session lives.
type SessionPolicy struct {
	Idle     time.Duration // ends after this long without a request
	Absolute time.Duration // ends this long after login, whatever the activity
}

// DefaultSessionPolicy: 30 minutes idle, one working day at most.
var DefaultSessionPolicy = SessionPolicy{Idle: 30 * time.Minute, Absolute: 12 * time.Hour}

// LoginLimits bound login attempts. A bucket holds Burst attempts and
// regains one every Every; an attempt that succeeds is given back.
type LoginLimits struct {
	PerUserBurst int
	PerUserEvery time.Duration
	GlobalBurst  int
	GlobalEvery  time.Duration
	// ConcurrentKDF caps simultaneous Argon2id derivations (each takes
	// KDF.MemoryKiB of memory).
	ConcurrentKDF int
}

// DefaultLoginLimits: 5 attempts per username, then one every 2 minutes;
// 10 attempts across all usernames, then two a second; two derivations at once.
var DefaultLoginLimits = LoginLimits{
	PerUserBurst: 5, PerUserEvery: 2 * time.Minute,
	GlobalBurst: 10, GlobalEvery: 500 * time.Millisecond,
	ConcurrentKDF: 2,
}

// Console is the staff authentication service mounted on the HTTP app.
type Console struct {
	store    *mongodb.DB
	log      *slog.Logger
	now      func() time.Time
	tls      bool
	policy   SessionPolicy
	dummyKey crypto.StaffKey
	userRate *limiter
	allRate  *limiter
	kdfSlots chan struct{}
	sessions *liveSessions

	sweepMu   sync.Mutex
	lastSweep time.Time
}

// New checks the dependencies and prepares the console.
func New(d Deps) (*Console, error) {
	if d.Store == nil {
		return nil, errors.New("admin: Deps.Store is required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.KDF == (crypto.KDFParams{}) {
		d.KDF = crypto.DefaultStaffKDF
	}
	if d.Sessions == (SessionPolicy{}) {
		d.Sessions = DefaultSessionPolicy
	}
	if d.Limits == (LoginLimits{}) {
		d.Limits = DefaultLoginLimits
	}
	switch l, p := d.Limits, d.Sessions; {
	case p.Idle <= 0 || p.Absolute < p.Idle:
		return nil, errors.New("admin: session timeouts must be positive, absolute ≥ idle")
	case l.PerUserBurst < 1 || l.GlobalBurst < 1 || l.PerUserEvery <= 0 || l.GlobalEvery <= 0 || l.ConcurrentKDF < 1:
		return nil, errors.New("admin: login limits must be positive")
	}
	// The dummy key's password is random and thrown away: nothing unlocks it.
	dummy, kp, err := crypto.NewStaffKey(randomToken(), d.KDF)
	if err != nil {
		return nil, err
	}
	kp.Wipe()
	return &Console{
		store:    d.Store,
		log:      d.Logger,
		now:      d.Now,
		tls:      d.TLS,
		policy:   d.Sessions,
		dummyKey: dummy,
		userRate: newLimiter(d.Limits.PerUserBurst, d.Limits.PerUserEvery),
		allRate:  newLimiter(d.Limits.GlobalBurst, d.Limits.GlobalEvery),
		kdfSlots: make(chan struct{}, d.Limits.ConcurrentKDF),
		sessions: newLiveSessions(),
	}, nil
}

// Staff console routes.
const (
	LoginPath  = "/staff/login"
	LogoutPath = "/staff/logout"
	HomePath   = "/staff"
	StaticPath = "/staff/static"
)

// Register mounts the login, logout and home pages and the middleware that
// makes RequireRole work. Call it before mounting any route that uses
// RequireRole: Fiber runs handlers in registration order, and RequireRole
// refuses every request (500) if this middleware has not run.
func (cs *Console) Register(app *fiber.App) {
	app.Use(func(c *fiber.Ctx) error {
		c.Locals(consoleKey{}, cs)
		return c.Next()
	})
	app.Get(StaticPath+"/staff.css", serveStylesheet)
	app.Get(LoginPath, cs.loginPage)
	app.Post(LoginPath, cs.login)
	app.Post(LogoutPath, RequireRole(StaffRoles...), cs.logout)
	app.Get(HomePath, RequireRole(StaffRoles...), cs.home)
}

// StaffRoles are the roles a staff account may have: every role but the
// reporter (known only by a receipt) and the triage worker.
var StaffRoles = []whistle.Role{
	whistle.RoleHotlineAgent, whistle.RoleHandler, whistle.RoleDeptLead, whistle.RoleCoordinator,
	whistle.RoleFinance, whistle.RoleAuditor, whistle.RoleAdmin,
}

// audit appends an entry to the audit trail with the console's clock.
func (cs *Console) audit(ctx context.Context, actor string, role whistle.Role, action string) error {
	return cs.store.Audit(ctx, mongodb.AuditEntry{At: cs.now(), Actor: actor, Role: role, Action: action})
}

// Audit actions written by this package.
const (
	AuditLogin       = "login"
	AuditLogout      = "logout"
	AuditUserCreate  = "user_create"
	AuditUserDisable = "user_disable"
)
