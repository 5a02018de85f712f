package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/admin"
	"whistle/crypto"
	"whistle/httpd"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

// cheapKDF keeps Argon2id fast in tests; production uses DefaultStaffKDF.
var cheapKDF = crypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

const goodPassword = "正确的密码-correct-horse"

// site is a console mounted on the real HTTP stack and a real store, with
// probe routes gated to handlers.
type site struct {
	t     testing.TB
	app   *fiber.App
	store *mongodb.DB
	clock *testenv.Clock
	deps  admin.Deps
}

func newSite(t testing.TB, store *mongodb.DB, tune func(*admin.Deps)) *site {
	t.Helper()
	clk := testenv.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	deps := admin.Deps{Store: store, Logger: testenv.Quiet(), Now: clk.Now, KDF: cheapKDF}
	if tune != nil {
		tune(&deps)
	}
	cs, err := admin.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	app := httpd.New(httpd.Options{Logger: testenv.Quiet(), BodyLimit: 1 << 20})
	cs.Register(app)
	probe := func(c *fiber.Ctx) error {
		s, ok := admin.Current(c)
		if !ok {
			return fmt.Errorf("no staff after RequireRole")
		}
		kp, ok := s.KeyPair()
		if !ok {
			return fmt.Errorf("session ended")
		}
		defer kp.Wipe()
		return c.SendString(s.Username + " " + string(s.Role) + " " + kp.Public.String())
	}
	app.Get("/probe", admin.RequireRole(whistle.RoleHandler), probe)
	app.Post("/probe", admin.RequireRole(whistle.RoleHandler), probe)
	app.Post("/api/v1/probe", admin.RequireRole(whistle.RoleHandler), probe)
	return &site{t: t, app: app, store: store, clock: clk, deps: deps}
}

// staffMember creates an account and returns its stored public key.
func (s *site) staffMember(role whistle.Role) (username string, public crypto.PublicKey) {
	s.t.Helper()
	username = "u-" + strings.ToLower(whistle.NewID())
	u := admin.NewUser{Username: username, Role: role, Department: "自治区应急管理厅", City: "银川市"}
	if err := admin.CreateUser(context.Background(), s.store, u, goodPassword, s.deps.KDF, s.clock.Now()); err != nil {
		s.t.Fatal(err)
	}
	rec, err := s.store.User(context.Background(), username)
	if err != nil {
		s.t.Fatal(err)
	}
	var key crypto.StaffKey
	if err := key.UnmarshalBinary(rec.StaffKey); err != nil {
		s.t.Fatal(err)
	}
	return username, key.Public
}

// browser keeps cookies like a browser would for one origin.
type browser struct {
	s       *site
	cookies map[string]*http.Cookie
}

func (s *site) browser() *browser { return &browser{s: s, cookies: map[string]*http.Cookie{}} }

type response struct {
	status int
	body   string
	header http.Header
	set    []*http.Cookie
}

func (b *browser) do(method, path string, form url.Values, header map[string]string) response {
	b.s.t.Helper()
	if form == nil {
		return b.send(method, path, "", nil, header)
	}
	return b.send(method, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), header)
}

// multipart builds a multipart/form-data body with the fields in order and
// then one file part.
func multipartBody(t *testing.T, fields [][2]string, fileField string, file []byte) (contentType string, body *bytes.Buffer) {
	body = &bytes.Buffer{}
	w := multipart.NewWriter(body)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile(fileField, "recording.wav")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), body
}

func (b *browser) send(method, path, contentType string, body io.Reader, header map[string]string) response {
	b.s.t.Helper()
	req := httptest.NewRequest(method, path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	res, err := b.s.app.Test(req, -1)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return response{status: res.StatusCode, body: string(raw), header: res.Header, set: res.Cookies()}
}

func (b *browser) get(path string) response { return b.do(http.MethodGet, path, nil, nil) }

func (b *browser) post(path string, form url.Values) response {
	return b.do(http.MethodPost, path, form, nil)
}

// login fills in the login form the way a person would.
func (b *browser) login(username, password string) response {
	b.s.t.Helper()
	b.get(admin.LoginPath)
	tok := b.cookies["whistle_login"]
	if tok == nil {
		b.s.t.Fatal("login page set no CSRF cookie")
	}
	return b.post(admin.LoginPath, url.Values{"csrf": {tok.Value}, "username": {username}, "password": {password}})
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token from the home page's logout form.
func (b *browser) csrf() string {
	b.s.t.Helper()
	r := b.get(admin.HomePath)
	m := csrfInput.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		b.s.t.Fatalf("home page: %d, no csrf token in %q", r.status, r.body)
	}
	return m[1]
}

func (b *browser) sessionCookie() string {
	if c := b.cookies["whistle_staff"]; c != nil {
		return c.Value
	}
	return ""
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// eachStore runs f on every storage backend.
func eachStore(t *testing.T, f func(t *testing.T, store *mongodb.DB)) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) { f(t, backend.Open(t)) })
	}
}
