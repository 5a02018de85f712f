package admin_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/admin"
	"whistle/httpd"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

func TestLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, store *mongodb.DB) {
		s := newSite(t, store, nil)
		handler, handlerKey := s.staffMember(whistle.RoleHandler)
		disabled, _ := s.staffMember(whistle.RoleHandler)
		if err := admin.DisableUser(context.Background(), store, disabled, s.clock.Now()); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, username, password string
			wantStatus               int
		}{
			{"RightPasswordSignsIn", handler, goodPassword, http.StatusSeeOther},
			{"UsernameIsCaseAndSpaceInsensitive", "  " + strings.ToUpper(handler) + " ", goodPassword, http.StatusSeeOther},
			{"WrongPasswordIsRefused", handler, goodPassword + "x", http.StatusUnauthorized},
			{"EmptyPasswordIsRefused", handler, "", http.StatusUnauthorized},
			{"UnknownUserIsRefusedTheSameWay", "nobody-here", goodPassword, http.StatusUnauthorized},
			{"JunkUsernameIsRefusedTheSameWay", "<script>", goodPassword, http.StatusUnauthorized},
			{"DisabledUserIsRefusedEvenWithRightPassword", disabled, goodPassword, http.StatusUnauthorized},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := s.browser()
				r := b.login(tc.username, tc.password)
				if r.status != tc.wantStatus {
					t.Fatalf("status %d, want %d; body %q", r.status, tc.wantStatus, r.body)
				}
				if tc.wantStatus != http.StatusSeeOther {
					if !strings.Contains(r.body, "用户名或密码错误。") {
						t.Fatalf("refusal does not give the one generic message: %q", r.body)
					}
					if b.sessionCookie() != "" {
						t.Fatal("a refused login set a session cookie")
					}
					return
				}
				if loc := r.header.Get("Location"); loc != admin.HomePath {
					t.Fatalf("redirected to %q, want %q", loc, admin.HomePath)
				}
				probe := b.get("/probe")
				want := handler + " handler " + handlerKey.String()
				if probe.status != http.StatusOK || probe.body != want {
					t.Fatalf("after login /probe = %d %q, want the member with their unlocked key %q", probe.status, probe.body, want)
				}
			})
		}
	})
}

func TestLoginFormNeedsItsCSRFCookie(t *testing.T) {
	s := newSite(t, testenv.Stores()[0].Open(t), nil)
	user, _ := s.staffMember(whistle.RoleHandler)
	tests := []struct {
		name   string
		cookie string // "" = no login cookie
		field  string
	}{
		{"NoCookieNoField", "", ""},
		{"FieldWithoutCookie", "", strings.Repeat("A", 43)},
		{"CookieAndFieldDiffer", strings.Repeat("A", 43), strings.Repeat("B", 43)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := s.browser()
			var hdr map[string]string
			if tc.cookie != "" {
				hdr = map[string]string{"Cookie": "whistle_login=" + tc.cookie}
			}
			r := b.do(http.MethodPost, admin.LoginPath, url.Values{"csrf": {tc.field}, "username": {user}, "password": {goodPassword}}, hdr)
			if r.status != http.StatusForbidden || b.sessionCookie() != "" {
				t.Fatalf("status %d, session %q; want 403 and no session", r.status, b.sessionCookie())
			}
		})
	}
}

func TestSessionCookieAndRecord(t *testing.T) {
	tests := []struct {
		name       string
		tls        bool
		wantSecure bool
	}{
		{"PlainHTTP", false, false},
		{"BehindTLSProxy", true, true},
	}
	store := testenv.Stores()[0].Open(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, store, func(d *admin.Deps) { d.TLS = tc.tls })
			user, _ := s.staffMember(whistle.RoleHandler)
			b := s.browser()
			r := b.login(user, goodPassword)
			var cookie *http.Cookie
			for _, c := range r.set {
				if c.Name == "whistle_staff" {
					cookie = c
				}
			}
			if cookie == nil {
				t.Fatal("no session cookie")
			}
			if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure != tc.wantSecure || cookie.Path != "/" {
				t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Secure=%v, Path=/", cookie, tc.wantSecure)
			}
			if !cookie.Expires.IsZero() || cookie.MaxAge != 0 {
				t.Fatalf("cookie outlives the browser session: %+v", cookie)
			}
			ctx := context.Background()
			if _, err := store.Session(ctx, cookie.Value); whistle.ErrorCode(err) != whistle.ENOTFOUND {
				t.Fatalf("the session id itself is a stored key: %v", err)
			}
			rec, err := store.Session(ctx, sha256Hex(cookie.Value))
			if err != nil || rec.Username != user {
				t.Fatalf("stored session by hash: %+v %v", rec, err)
			}
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	policy := admin.SessionPolicy{Idle: 30 * time.Minute, Absolute: 2 * time.Hour}
	store := testenv.Stores()[0].Open(t)
	tests := []struct {
		name  string
		steps []time.Duration // clock advances, each followed by a request
		alive []bool          // whether that request still has the session
	}{
		{"ActivityWithinIdleKeepsItAlive", []time.Duration{29 * time.Minute, 29 * time.Minute, 29 * time.Minute}, []bool{true, true, true}},
		{"IdleTimeoutEndsIt", []time.Duration{10 * time.Minute, 30 * time.Minute}, []bool{true, false}},
		{"AbsoluteTimeoutEndsItDespiteActivity", []time.Duration{
			25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 25 * time.Minute, 19 * time.Minute, time.Minute,
		}, []bool{true, true, true, true, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, store, func(d *admin.Deps) { d.Sessions = policy })
			user, _ := s.staffMember(whistle.RoleHandler)
			b := s.browser()
			if r := b.login(user, goodPassword); r.status != http.StatusSeeOther {
				t.Fatalf("login: %d", r.status)
			}
			for i, step := range tc.steps {
				s.clock.Advance(step)
				r := b.get("/probe")
				if alive := r.status == http.StatusOK; alive != tc.alive[i] {
					t.Fatalf("step %d (+%v): status %d, want alive=%v", i, step, r.status, tc.alive[i])
				}
				if !tc.alive[i] && !strings.HasPrefix(r.header.Get("Location"), admin.LoginPath+"?next=%2Fprobe") {
					t.Fatalf("expired session not sent to login: %d %q", r.status, r.header.Get("Location"))
				}
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	eachStore(t, func(t *testing.T, store *mongodb.DB) {
		s := newSite(t, store, nil)
		user, _ := s.staffMember(whistle.RoleHandler)
		b, other := s.browser(), s.browser()
		b.login(user, goodPassword)
		other.login(user, goodPassword)
		token, otherToken := b.csrf(), other.csrf()
		if token == otherToken {
			t.Fatal("two sessions share a CSRF token")
		}
		tests := []struct {
			name   string
			form   url.Values
			header map[string]string
			want   int
		}{
			{"MissingTokenIsRefused", url.Values{"x": {"1"}}, nil, http.StatusForbidden},
			{"WrongTokenIsRefused", url.Values{"csrf": {alterLast(token)}}, nil, http.StatusForbidden},
			{"AnotherSessionsTokenIsRefused", url.Values{"csrf": {otherToken}}, nil, http.StatusForbidden},
			{"FormTokenIsAccepted", url.Values{"csrf": {token}}, nil, http.StatusOK},
			{"HeaderTokenIsAccepted", url.Values{"x": {"1"}}, map[string]string{admin.CSRFHeader: token}, http.StatusOK},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := b.do(http.MethodPost, "/probe", tc.form, tc.header)
				if r.status != tc.want {
					t.Fatalf("status %d, want %d (%q)", r.status, tc.want, r.body)
				}
			})
		}
		multipartCases := []struct {
			name   string
			fields [][2]string
			want   int
		}{
			{"MultipartTokenBeforeTheFileIsAccepted", [][2]string{{"csrf", token}, {"text", "x"}}, http.StatusOK},
			{"MultipartWithoutTokenIsRefused", [][2]string{{"text", "x"}}, http.StatusForbidden},
			{"MultipartWrongTokenIsRefused", [][2]string{{"csrf", otherToken}}, http.StatusForbidden},
		}
		for _, tc := range multipartCases {
			t.Run(tc.name, func(t *testing.T) {
				ct, body := multipartBody(t, tc.fields, "attachments", bytes.Repeat([]byte{0x52}, 512<<10))
				if r := b.send(http.MethodPost, "/probe", ct, body, nil); r.status != tc.want {
					t.Fatalf("status %d, want %d", r.status, tc.want)
				}
			})
		}
		t.Run("LogoutNeedsTheTokenToo", func(t *testing.T) {
			if r := b.post(admin.LogoutPath, url.Values{}); r.status != http.StatusForbidden {
				t.Fatalf("logout without token: %d", r.status)
			}
			if r := b.get("/probe"); r.status != http.StatusOK {
				t.Fatalf("the refused logout ended the session: %d", r.status)
			}
		})
	})
}

func TestRoleGating(t *testing.T) {
	s := newSite(t, testenv.Stores()[0].Open(t), nil)
	tests := []struct {
		role whistle.Role
		want int
	}{
		{whistle.RoleHandler, http.StatusOK},
		{whistle.RoleHotlineAgent, http.StatusForbidden},
		{whistle.RoleCoordinator, http.StatusForbidden},
		{whistle.RoleAdmin, http.StatusForbidden},
		{whistle.RoleAuditor, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(string(tc.role), func(t *testing.T) {
			user, _ := s.staffMember(tc.role)
			b := s.browser()
			if r := b.login(user, goodPassword); r.status != http.StatusSeeOther {
				t.Fatalf("login: %d", r.status)
			}
			if r := b.get("/probe"); r.status != tc.want {
				t.Fatalf("GET /probe as %s: %d, want %d", tc.role, r.status, tc.want)
			}
			tok := b.csrf()
			if r := b.post("/probe", url.Values{"csrf": {tok}}); r.status != tc.want {
				t.Fatalf("POST /probe as %s: %d, want %d", tc.role, r.status, tc.want)
			}
		})
	}
	t.Run("AnonymousGetGoesToLogin", func(t *testing.T) {
		r := s.browser().get("/probe?x=1")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != admin.LoginPath+"?next="+url.QueryEscape("/probe?x=1") {
			t.Fatalf("%d %q", r.status, r.header.Get("Location"))
		}
	})
	t.Run("AnonymousPostIsUnauthorized", func(t *testing.T) {
		if r := s.browser().post("/probe", url.Values{}); r.status != http.StatusUnauthorized {
			t.Fatalf("%d", r.status)
		}
	})
	t.Run("AnonymousAPICallGetsJSONError", func(t *testing.T) {
		r := s.browser().post("/api/v1/probe", url.Values{})
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"code":"unauthorized"`) {
			t.Fatalf("%d %q", r.status, r.body)
		}
	})
	t.Run("ForgedCookieGoesToLogin", func(t *testing.T) {
		b := s.browser()
		r := b.do(http.MethodGet, "/probe", nil, map[string]string{"Cookie": "whistle_staff=" + strings.Repeat("A", 43)})
		if r.status != http.StatusSeeOther {
			t.Fatalf("%d", r.status)
		}
	})
}

func TestSessionEnds(t *testing.T) {
	store := testenv.Stores()[0].Open(t)
	s := newSite(t, store, nil)
	ctx := context.Background()

	t.Run("LogoutEndsItAndTheOldCookieIsDead", func(t *testing.T) {
		user, _ := s.staffMember(whistle.RoleHandler)
		b := s.browser()
		b.login(user, goodPassword)
		stolen := b.sessionCookie()
		s.clock.Advance(time.Minute)
		if r := b.post(admin.LogoutPath, url.Values{"csrf": {b.csrf()}}); r.status != http.StatusSeeOther || r.header.Get("Location") != admin.LoginPath {
			t.Fatalf("logout: %d %q", r.status, r.header.Get("Location"))
		}
		if b.sessionCookie() != "" {
			t.Fatal("logout left the cookie")
		}
		replay := s.browser().do(http.MethodGet, "/probe", nil, map[string]string{"Cookie": "whistle_staff=" + stolen})
		if replay.status != http.StatusSeeOther {
			t.Fatalf("replayed cookie after logout: %d", replay.status)
		}
		trail, err := store.AuditByActor(ctx, user)
		if err != nil || len(trail) != 2 || trail[0].Action != admin.AuditLogin || trail[1].Action != admin.AuditLogout {
			t.Fatalf("audit trail %+v %v, want login then logout", trail, err)
		}
	})
	t.Run("SigningInAgainEndsThePreviousSession", func(t *testing.T) {
		user, _ := s.staffMember(whistle.RoleHandler)
		b := s.browser()
		b.login(user, goodPassword)
		first := b.sessionCookie()
		b.login(user, goodPassword)
		if b.sessionCookie() == first {
			t.Fatal("the session id was not renewed")
		}
		if _, err := store.Session(ctx, sha256Hex(first)); whistle.ErrorCode(err) != whistle.ENOTFOUND {
			t.Fatalf("the previous session is still stored: %v", err)
		}
		if r := b.get("/probe"); r.status != http.StatusOK {
			t.Fatalf("the new session does not work: %d", r.status)
		}
	})
	t.Run("DisablingEndsALiveSession", func(t *testing.T) {
		user, _ := s.staffMember(whistle.RoleHandler)
		b := s.browser()
		b.login(user, goodPassword)
		if r := b.get("/probe"); r.status != http.StatusOK {
			t.Fatalf("before disable: %d", r.status)
		}
		if err := admin.DisableUser(ctx, store, user, s.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if r := b.get("/probe"); r.status != http.StatusSeeOther {
			t.Fatalf("after disable: %d", r.status)
		}
	})
	t.Run("ARestartedProcessHasNoKeySoTheMemberSignsInAgain", func(t *testing.T) {
		user, _ := s.staffMember(whistle.RoleHandler)
		b := s.browser()
		b.login(user, goodPassword)
		restarted := newSite(t, store, nil)
		r := restarted.browser().do(http.MethodGet, "/probe", nil, map[string]string{"Cookie": "whistle_staff=" + b.sessionCookie()})
		if r.status != http.StatusSeeOther {
			t.Fatalf("a session without its in-memory key was accepted: %d", r.status)
		}
	})
}

func TestLoginRateLimit(t *testing.T) {
	limits := admin.LoginLimits{PerUserBurst: 3, PerUserEvery: time.Minute, GlobalBurst: 8, GlobalEvery: time.Second, ConcurrentKDF: 2}
	store := testenv.Stores()[0].Open(t)
	tune := func(d *admin.Deps) { d.Limits = limits }

	t.Run("PerUsernameLimitBlocksEvenTheRightPasswordUntilRefill", func(t *testing.T) {
		s := newSite(t, store, tune)
		user, _ := s.staffMember(whistle.RoleHandler)
		bystander, _ := s.staffMember(whistle.RoleHandler)
		b := s.browser()
		for i := range limits.PerUserBurst {
			if r := b.login(user, "wrong password"); r.status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i, r.status)
			}
		}
		r := b.login(user, goodPassword)
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "过于频繁") {
			t.Fatalf("over the limit: %d %q", r.status, r.body)
		}
		if r := s.browser().login(bystander, goodPassword); r.status != http.StatusSeeOther {
			t.Fatalf("another username was limited too: %d", r.status)
		}
		s.clock.Advance(limits.PerUserEvery)
		if r := b.login(user, goodPassword); r.status != http.StatusSeeOther {
			t.Fatalf("after refill: %d", r.status)
		}
	})
	t.Run("SuccessfulLoginsDoNotUseUpTheLimit", func(t *testing.T) {
		s := newSite(t, store, tune)
		user, _ := s.staffMember(whistle.RoleHandler)
		for i := range limits.PerUserBurst + 2 {
			if r := s.browser().login(user, goodPassword); r.status != http.StatusSeeOther {
				t.Fatalf("login %d: %d", i, r.status)
			}
			s.clock.Advance(limits.GlobalEvery)
		}
	})
	t.Run("GlobalLimitCapsAttemptsAcrossUsernames", func(t *testing.T) {
		s := newSite(t, store, tune)
		user, _ := s.staffMember(whistle.RoleHandler)
		for i := range limits.GlobalBurst {
			if r := s.browser().login("guess-"+string(rune('a'+i)), "x"); r.status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i, r.status)
			}
		}
		if r := s.browser().login(user, goodPassword); r.status != http.StatusTooManyRequests {
			t.Fatalf("over the global limit: %d", r.status)
		}
		s.clock.Advance(limits.GlobalEvery)
		if r := s.browser().login(user, goodPassword); r.status != http.StatusSeeOther {
			t.Fatalf("after one global refill: %d", r.status)
		}
	})
}

func TestLoginRedirect(t *testing.T) {
	s := newSite(t, testenv.Stores()[0].Open(t), nil)
	agent, _ := s.staffMember(whistle.RoleHotlineAgent)
	handler, _ := s.staffMember(whistle.RoleHandler)
	tests := []struct {
		name, user, next, want string
	}{
		{"HotlineAgentLandsOnHotline", agent, "", admin.HotlinePath},
		{"OthersLandOnHome", handler, "", admin.HomePath},
		{"LocalNextIsFollowed", handler, "/probe?x=1", "/probe?x=1"},
		{"ProtocolRelativeNextIsIgnored", handler, "//evil.example/", admin.HomePath},
		{"BackslashNextIsIgnored", handler, "/\\evil.example/", admin.HomePath},
		{"AbsoluteURLNextIsIgnored", handler, "https://evil.example/", admin.HomePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := s.browser()
			b.get(admin.LoginPath)
			r := b.post(admin.LoginPath, url.Values{"csrf": {b.cookies["whistle_login"].Value}, "username": {tc.user},
				"password": {goodPassword}, "next": {tc.next}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != tc.want {
				t.Fatalf("%d → %q, want %q", r.status, r.header.Get("Location"), tc.want)
			}
		})
	}
}

func TestRequireRoleFailsClosedWithoutRegister(t *testing.T) {
	app := httpd.New(httpd.Options{Logger: testenv.Quiet()})
	app.Get("/x", admin.RequireRole(whistle.RoleHandler), func(c *fiber.Ctx) error { return c.SendString("open") })
	res, err := app.Test(httptest.NewRequest(http.MethodGet, "/x", nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", res.StatusCode)
	}
}

func TestLoginPageIsStrictCSPClean(t *testing.T) {
	s := newSite(t, testenv.Stores()[0].Open(t), nil)
	r := s.browser().get(admin.LoginPath)
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" || !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("%d %v", r.status, r.header)
	}
	for _, banned := range []string{"<script", "style=", "<style", "javascript:", "http://", "https://"} {
		if strings.Contains(r.body, banned) {
			t.Errorf("login page contains %q", banned)
		}
	}
	if !strings.Contains(r.body, `lang="zh-CN"`) || !strings.Contains(r.body, "autofocus") {
		t.Error("login page is not zh-CN or lacks autofocus")
	}
}

// alterLast changes the last character of a token, always to a different one.
func alterLast(tok string) string {
	if strings.HasSuffix(tok, "A") {
		return tok[:len(tok)-1] + "B"
	}
	return tok[:len(tok)-1] + "A"
}
