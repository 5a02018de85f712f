package intake

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/crypto"
	"whistle/httpd"
)

//go:embed web/*.html web/static/intake.css
var webFS embed.FS

// pages are the reporter page templates, each parsed with the layout.
type pages struct {
	byName map[string]*template.Template
	css    []byte
}

// chinaTime is UTC+8 all year (China has no daylight saving time), so no
// time-zone database is needed.
var chinaTime = time.FixedZone("CST", 8*3600)

var pageFuncs = template.FuncMap{
	"date": func(t time.Time) string { return t.In(chinaTime).Format("2006年1月2日 15:04") },
}

func loadPages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"index", "report", "receipt", "followup_login", "followup", "error"} {
		t, err := template.New(name).Funcs(pageFuncs).ParseFS(webFS, "web/layout.html", "web/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.byName[name] = t
	}
	css, err := webFS.ReadFile("web/static/intake.css")
	if err != nil {
		return nil, err
	}
	p.css = css
	return p, nil
}

// render writes a page. Templates are executed into a buffer first so that a
// template error becomes a clean 500 instead of half a page.
func (h *Handler) render(c *fiber.Ctx, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := h.pages.byName[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return err
	}
	noStore(c)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

type errorView struct{ Title, Message, Back string }

// renderError shows err as a page with its status.
func (h *Handler) renderError(c *fiber.Ctx, err error, back string) error {
	we := httpd.AsError(err)
	if we.Code == whistle.EINTERNAL || we.Code == whistle.EUNAVAILABLE {
		h.log.Error("reporter page failed", "route", c.Route().Path, "code", we.Code, "err", we.Err)
	}
	title := "出错了"
	if we.Code == whistle.ERATELIMITED {
		title = "操作过于频繁"
	}
	return h.render(c, httpd.Status(we.Code), "error", errorView{Title: title, Message: whistle.ErrorMessage(we), Back: back})
}

func (h *Handler) stylesheet(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(h.pages.css)
}

func (h *Handler) home(c *fiber.Ctx) error { return h.render(c, fiber.StatusOK, "index", nil) }

// reportView is the report form with what the reporter typed and the
// errors next to their fields.
type reportView struct {
	Values        map[string]string
	Errors        map[string]string
	Summary       string
	Cities        []City
	Relationships []option
}

type option struct{ Value, Label string }

// fieldRef lets the field-error template see one field's error.
type fieldRef struct {
	Errors map[string]string
	Field  string
}

func (v reportView) For(field string) fieldRef { return fieldRef{Errors: v.Errors, Field: field} }

// reportFields are the text fields the form re-displays after an error.
var reportFields = []string{"text", "city", "county", "address", "company", "industry", "started_at", "danger_now", "relationship", "contact"}

func newReportView(f form) reportView {
	v := reportView{Values: map[string]string{}, Errors: map[string]string{}, Cities: Cities}
	for _, code := range []string{"employee", "family", "other"} {
		v.Relationships = append(v.Relationships, option{code, relationships[code]})
	}
	if f.values != nil {
		for _, name := range reportFields {
			v.Values[name] = f.get(name)
		}
	}
	return v
}

func (h *Handler) reportForm(c *fiber.Ctx) error {
	return h.render(c, fiber.StatusOK, "report", newReportView(form{}))
}

type receiptView struct {
	Receipt string
	Urgent  bool
}

// submitForm takes the web form. On any error the form comes back with the
// reporter's text kept and the message next to the field; on success the
// receipt page is the response itself (never a redirect: the receipt must
// not appear in a URL or history).
func (h *Handler) submitForm(c *fiber.Ctx) error {
	if err := checkSameSite(c); err != nil {
		return h.renderError(c, err, "/report")
	}
	var f form
	var in Submission
	err := h.allowSubmit(c)
	if err == nil {
		err = checkBody(c, MaxBodyBytes)
	}
	if err == nil {
		err = h.withUploadSlot(c.UserContext(), func() (err error) {
			if f, err = parseForm(string(c.Request().Header.ContentType()), c.Body(), MaxAttachments); err != nil {
				return err
			}
			in = reportFromForm(f)
			in.Attachments, err = prepareUploads(f.files)
			return err
		})
	}
	var receipt crypto.Receipt
	if err == nil {
		receipt, _, err = h.svc.Submit(c.UserContext(), in)
	}
	if err != nil {
		v := newReportView(f)
		we := httpd.AsError(err)
		if we.Code == whistle.EINTERNAL || we.Code == whistle.EUNAVAILABLE {
			h.log.Error("report submission failed", "code", we.Code, "err", we.Err)
		}
		v.Summary = "举报尚未提交：" + whistle.ErrorMessage(we)
		if we.Field != "" {
			v.Errors[we.Field] = whistle.ErrorMessage(we)
		}
		return h.render(c, httpd.Status(we.Code), "report", v)
	}
	return h.render(c, fiber.StatusOK, "receipt", receiptView{Receipt: receipt.Grouped(), Urgent: in.Report.DangerNow})
}

// checkSameSite refuses form posts that a browser marks as coming from
// another site (Sec-Fetch-Site), on top of SameSite cookies and CSRF tokens.
func checkSameSite(c *fiber.Ctx) error {
	switch c.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return &whistle.Error{Code: whistle.EFORBIDDEN, Message: "请从本站页面提交。"}
}

type followLoginView struct{ Receipt, Error string }

type followView struct {
	Follow        *FollowUp
	CSRF          string
	Notice        string
	Message       string
	MessageError  string
	EvidenceError string
}

// currentSession returns the follow-up session of the request, if any.
func (h *Handler) currentSession(c *fiber.Ctx) (session, bool) {
	s, err := h.cookies.open(c.Cookies(sessionCookie))
	return s, err == nil
}

func (h *Handler) setSessionCookie(c *fiber.Ctx, value string, maxAge int) {
	cookie := &fiber.Cookie{
		Name: sessionCookie, Value: value, Path: sessionPath, MaxAge: maxAge,
		HTTPOnly: true, Secure: c.Protocol() == "https", SameSite: fiber.CookieSameSiteStrictMode,
	}
	if maxAge == 0 {
		cookie.Expires = time.Unix(1, 0) // in the past: the browser deletes it
	}
	c.Cookie(cookie)
}

func (h *Handler) clearSession(c *fiber.Ctx) { h.setSessionCookie(c, "", 0) }

var notices = map[string]string{
	"message":  "留言已发送。",
	"evidence": "材料已上传。",
}

func (h *Handler) followPage(c *fiber.Ctx) error {
	s, ok := h.currentSession(c)
	if !ok {
		return h.render(c, fiber.StatusOK, "followup_login", followLoginView{})
	}
	return h.showCase(c, s, followView{Notice: notices[c.Query("done")]}, fiber.StatusOK)
}

// showCase renders the case page for a session; a receipt that stopped
// working (case shredded) ends the session.
func (h *Handler) showCase(c *fiber.Ctx, s session, v followView, status int) error {
	f, err := h.svc.Follow(c.UserContext(), s.Receipt)
	if whistle.ErrorCode(err) == whistle.EUNAUTHORIZED {
		h.clearSession(c)
		return h.render(c, fiber.StatusUnauthorized, "followup_login", followLoginView{Error: whistle.ErrorMessage(err)})
	}
	if err != nil {
		return h.renderError(c, err, "/follow-up")
	}
	v.Follow, v.CSRF = f, s.CSRF
	return h.render(c, status, "followup", v)
}

func (h *Handler) followLogin(c *fiber.Ctx) error {
	if err := checkSameSite(c); err != nil {
		return h.renderError(c, err, "/follow-up")
	}
	var raw string
	err := checkBody(c, maxJSONBytes)
	if err == nil {
		var f form
		if f, err = parseForm(string(c.Request().Header.ContentType()), c.Body(), 0); err == nil {
			raw = f.get("receipt")
			err = h.openByReceipt(c, raw, func(r crypto.Receipt) error {
				if _, err := h.svc.Follow(c.UserContext(), r); err != nil {
					return err
				}
				_, cookie, err := h.cookies.issue(r)
				if err == nil {
					h.setSessionCookie(c, cookie, int(sessionTTL.Seconds()))
				}
				return err
			})
		}
	}
	if err != nil {
		we := httpd.AsError(err)
		if we.Code == whistle.EINTERNAL || we.Code == whistle.EUNAVAILABLE {
			return h.renderError(c, err, "/follow-up")
		}
		// A wrong code is not shown back: it may be someone else's.
		if we.Code == whistle.EUNAUTHORIZED {
			raw = ""
		}
		return h.render(c, httpd.Status(we.Code), "followup_login", followLoginView{Receipt: raw, Error: whistle.ErrorMessage(we)})
	}
	return c.Redirect("/follow-up", fiber.StatusSeeOther)
}

var errCSRF = &whistle.Error{Code: whistle.EFORBIDDEN, Message: "页面已过期，请刷新后重试。"}

// sessionForm checks the session, the body, the same-site header, the CSRF
// token and the per-session limit of a follow-up form post.
func (h *Handler) sessionForm(c *fiber.Ctx, maxFiles, limit int) (session, form, error) {
	s, ok := h.currentSession(c)
	if !ok {
		return s, form{}, errNoSession
	}
	if err := checkSameSite(c); err != nil {
		return s, form{}, err
	}
	if err := checkBody(c, limit); err != nil {
		return s, form{}, err
	}
	f, err := parseForm(string(c.Request().Header.ContentType()), c.Body(), maxFiles)
	if err != nil {
		return s, form{}, err
	}
	if !s.checkCSRF(f.get("csrf")) {
		return s, form{}, errCSRF
	}
	if !h.sessions.allow(s.ID) {
		return s, form{}, errRateLimited
	}
	return s, f, nil
}

func (h *Handler) followMessage(c *fiber.Ctx) error {
	s, f, err := h.sessionForm(c, 0, maxJSONBytes)
	if err == nil {
		err = h.svc.AddMessage(c.UserContext(), s.Receipt, f.get("text"))
	}
	switch {
	case err == nil:
		return c.Redirect("/follow-up?done=message", fiber.StatusSeeOther)
	case errors.Is(err, errNoSession):
		return c.Redirect("/follow-up", fiber.StatusSeeOther)
	case whistle.ErrorCode(err) == whistle.EFORBIDDEN:
		return h.renderError(c, err, "/follow-up")
	}
	we := httpd.AsError(err)
	return h.showCase(c, s, followView{Message: f.get("text"), MessageError: whistle.ErrorMessage(we)}, httpd.Status(we.Code))
}

func (h *Handler) followEvidence(c *fiber.Ctx) error {
	var s session
	err := h.withUploadSlot(c.UserContext(), func() error {
		var f form
		var err error
		if s, f, err = h.sessionForm(c, MaxAttachments, MaxBodyBytes); err != nil {
			return err
		}
		files, err := prepareUploads(f.files)
		if err != nil {
			return err
		}
		return h.svc.AddEvidence(c.UserContext(), s.Receipt, files)
	})
	switch {
	case err == nil:
		return c.Redirect("/follow-up?done=evidence", fiber.StatusSeeOther)
	case errors.Is(err, errNoSession):
		return c.Redirect("/follow-up", fiber.StatusSeeOther)
	case whistle.ErrorCode(err) == whistle.EFORBIDDEN:
		return h.renderError(c, err, "/follow-up")
	}
	we := httpd.AsError(err)
	return h.showCase(c, s, followView{EvidenceError: whistle.ErrorMessage(we)}, httpd.Status(we.Code))
}

func (h *Handler) followLogout(c *fiber.Ctx) error {
	_, _, err := h.sessionForm(c, 0, maxJSONBytes)
	if err != nil && !errors.Is(err, errNoSession) && whistle.ErrorCode(err) != whistle.ERATELIMITED {
		return h.renderError(c, err, "/follow-up")
	}
	h.clearSession(c)
	return c.Redirect("/follow-up", fiber.StatusSeeOther)
}
