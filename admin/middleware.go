package admin

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"whistle"
)

// CSRFField is the form field (and CSRFHeader the header) that carries the
// session's CSRF token on unsafe requests.
const (
	CSRFField  = "csrf"
	CSRFHeader = "X-CSRF-Token"
)

type (
	consoleKey struct{}
	staffKey   struct{}
)

var (
	errForbidden = &whistle.Error{Code: whistle.EFORBIDDEN, Message: "您的账号无权访问此页面。"}
	errCSRF      = &whistle.Error{Code: whistle.EFORBIDDEN, Message: "页面已过期或请求来源无效，请返回刷新页面后重试。"}
)

// RequireRole admits a request only from a signed-in member holding one of
// roles, and for unsafe methods (anything but GET, HEAD, OPTIONS) only with
// the session's CSRF token. Otherwise: a GET without a session is sent to the
// login page; any other request without one gets 401; a wrong role or a
// missing or wrong CSRF token gets 403. Pages get an HTML error page, paths
// under /api/ the JSON error body. After it, Current returns the member.
//
// Console.Register must have been called first (see there).
func RequireRole(roles ...whistle.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		cs, _ := c.Locals(consoleKey{}).(*Console)
		if cs == nil {
			// Fail closed: a wiring mistake must not open staff pages.
			return &whistle.Error{Code: whistle.EINTERNAL, Message: "服务器内部错误，请稍后再试。",
				Err: errNotRegistered}
		}
		s, err := cs.resolve(c)
		switch {
		case err == errNoSession && (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) && !isAPI(c):
			return c.Redirect(LoginPath+"?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
		case err != nil:
			return cs.fail(c, err)
		case !safeMethod(c.Method()) && !validCSRF(c, s.csrf):
			return cs.fail(c, errCSRF)
		case !slices.Contains(roles, s.Role):
			return cs.fail(c, errForbidden)
		}
		c.Locals(staffKey{}, s)
		return c.Next()
	}
}

var errNotRegistered = errors.New("admin: Console.Register was not called before a RequireRole route")

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

func isAPI(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/api/") }

func validCSRF(c *fiber.Ctx, want string) bool {
	got := c.Get(CSRFHeader)
	if got == "" {
		got = formToken(c)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// maxTokenParts bounds how many multipart parts are skipped looking for the
// token; forms put it first.
const maxTokenParts = 100

// formToken reads CSRFField from the body. Multipart bodies are scanned
// from memory with mime/multipart: Fiber's own multipart parsing would spill
// large file parts (a call recording, evidence) to temporary files, and
// plaintext uploads must never reach the disk.
func formToken(c *fiber.Ctx) string {
	mt, params, err := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	if err != nil {
		return ""
	}
	switch mt {
	case fiber.MIMEApplicationForm:
		return string(c.Request().PostArgs().Peek(CSRFField))
	case fiber.MIMEMultipartForm:
		mr := multipart.NewReader(bytes.NewReader(c.Body()), params["boundary"])
		for range maxTokenParts {
			p, err := mr.NextPart()
			if err != nil {
				return ""
			}
			if p.FormName() == CSRFField && p.FileName() == "" {
				b, _ := io.ReadAll(io.LimitReader(p, 256))
				return string(b)
			}
		}
	}
	return ""
}

// Current returns the member signed in for this request; ok is false outside
// RequireRole.
func Current(c *fiber.Ctx) (s *Staff, ok bool) {
	s, ok = c.Locals(staffKey{}).(*Staff)
	return s, ok
}

// CSRFToken returns the token that forms of this request's session must
// carry in CSRFField; "" outside RequireRole.
func CSRFToken(c *fiber.Ctx) string {
	if s, ok := Current(c); ok {
		return s.csrf
	}
	return ""
}

// fail answers with err: the JSON error body under /api/, an error page
// otherwise.
func (cs *Console) fail(c *fiber.Ctx, err error) error {
	if isAPI(c) {
		return err
	}
	return cs.errorPage(c, err)
}
