package admin

import (
	"context"
	"crypto/subtle"
	"strings"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/crypto"
	"whistle/mongodb"
)

const (
	// loginCookie carries the login form's double-submit CSRF token, so a
	// third-party page cannot sign a browser into an attacker's account.
	loginCookie = "whistle_login"
	// junkUsernameKey is the one rate-limit bucket shared by inputs that
	// cannot be usernames, so junk cannot grow the limiter's map.
	junkUsernameKey = "\x00junk"
	maxNextLength   = 512
)

var (
	errBadLogin    = &whistle.Error{Code: whistle.EUNAUTHORIZED, Message: "用户名或密码错误。"}
	errRateLimited = &whistle.Error{Code: whistle.ERATELIMITED, Message: "登录尝试过于频繁，请稍后再试。"}
)

type loginData struct {
	Username  string
	Next      string
	LoginCSRF string
	Error     string
}

func (cs *Console) loginPage(c *fiber.Ctx) error {
	token := c.Cookies(loginCookie)
	if !wellFormedToken(token) {
		token = randomToken()
		cs.setCookie(c, loginCookie, token)
	}
	return cs.render(c, fiber.StatusOK, "login", "工作人员登录", loginData{Next: safeNext(c.Query("next")), LoginCSRF: token})
}

func (cs *Console) login(c *fiber.Ctx) error {
	token := c.Cookies(loginCookie)
	if !wellFormedToken(token) || subtle.ConstantTimeCompare([]byte(token), []byte(c.FormValue(CSRFField))) != 1 {
		return cs.errorPage(c, errCSRF)
	}
	data := loginData{Next: safeNext(c.FormValue("next")), LoginCSRF: token}
	username, usable := NormalizeUsername(c.FormValue("username"))
	data.Username = username
	limitKey := username
	if !usable {
		limitKey, data.Username = junkUsernameKey, ""
	}
	now := cs.now()
	if !cs.allRate.take("", now) || !cs.userRate.take(limitKey, now) {
		data.Error = errRateLimited.Message
		return cs.render(c, fiber.StatusTooManyRequests, "login", "工作人员登录", data)
	}
	u, kp, err := cs.authenticate(c.UserContext(), username, usable, c.FormValue("password"))
	if err == errBadLogin {
		data.Error = errBadLogin.Message
		return cs.render(c, fiber.StatusUnauthorized, "login", "工作人员登录", data)
	}
	if err != nil {
		return cs.errorPage(c, err)
	}
	cs.userRate.giveBack(limitKey, now)
	// The login is recorded before it takes effect: no session without its
	// audit entry.
	if err := cs.audit(c.UserContext(), u.Username, u.Role, AuditLogin); err != nil {
		kp.Wipe()
		return cs.errorPage(c, err)
	}
	// A session this browser already had ends: one login, one session id.
	if old := c.Cookies(sessionCookie); wellFormedToken(old) {
		if err := cs.endSession(c.UserContext(), sessionHash(old)); err != nil {
			kp.Wipe()
			return cs.errorPage(c, err)
		}
	}
	if err := cs.startSession(c, u, kp); err != nil {
		return cs.errorPage(c, err)
	}
	cs.clearCookie(c, loginCookie)
	next := data.Next
	if next == "" {
		next = homeFor(u.Role)
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}

// authenticate checks a username and password and unlocks the member's
// staff key. Unknown, unusable and disabled accounts are checked against a
// dummy key of the same cost and all fail with the same errBadLogin, so
// neither the answer nor its timing says which it was. Other errors mean
// the store failed.
func (cs *Console) authenticate(ctx context.Context, username string, usable bool, password string) (*mongodb.User, crypto.KeyPair, error) {
	var u *mongodb.User
	if usable {
		var err error
		u, err = cs.store.User(ctx, username)
		if err != nil && whistle.ErrorCode(err) != whistle.ENOTFOUND {
			return nil, crypto.KeyPair{}, err
		}
	}
	key, real := cs.dummyKey, false
	if u != nil {
		var stored crypto.StaffKey
		if err := stored.UnmarshalBinary(u.StaffKey); err != nil {
			cs.log.Error("staff key record unreadable", "user", u.Username, "err", err)
		} else {
			key, real = stored, true
		}
	}
	select {
	case cs.kdfSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, crypto.KeyPair{}, ctx.Err()
	}
	kp, err := key.Unlock(password)
	<-cs.kdfSlots
	if err != nil || !real || u.Disabled {
		kp.Wipe()
		return nil, crypto.KeyPair{}, errBadLogin
	}
	return u, kp, nil
}

func (cs *Console) logout(c *fiber.Ctx) error {
	s, _ := Current(c)
	if err := cs.endSession(c.UserContext(), sessionHash(c.Cookies(sessionCookie))); err != nil {
		return cs.errorPage(c, err)
	}
	cs.clearCookie(c, sessionCookie)
	if err := cs.audit(c.UserContext(), s.Username, s.Role, AuditLogout); err != nil {
		return cs.errorPage(c, err)
	}
	return c.Redirect(LoginPath, fiber.StatusSeeOther)
}

type homeData struct {
	Links []homeLink
}

type homeLink struct{ Path, Label string }

// roleLinks are the areas each role can open from the home page.
var roleLinks = map[whistle.Role][]homeLink{
	whistle.RoleHotlineAgent: {{HotlinePath, "热线受理"}},
}

// HotlinePath is the hotline agent console (package intake); hotline agents
// land there after login.
const HotlinePath = "/hotline"

func homeFor(r whistle.Role) string {
	if r == whistle.RoleHotlineAgent {
		return HotlinePath
	}
	return HomePath
}

func (cs *Console) home(c *fiber.Ctx) error {
	s, _ := Current(c)
	return cs.render(c, fiber.StatusOK, "home", "工作台", homeData{Links: roleLinks[s.Role]})
}

// safeNext keeps a post-login redirect on this site: a local absolute path,
// not "//host" or "/\host" (which browsers treat as another host).
func safeNext(next string) string {
	if len(next) > maxNextLength || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsFunc(next, unicode.IsControl) || next == LogoutPath {
		return ""
	}
	return next
}
