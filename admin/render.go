package admin

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/httpd"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/staff.css
var stylesheet []byte

// pages are the templates of this package, each parsed with the layout.
var pages = func() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := n[len("templates/") : len(n)-len(".html")]
		if base == "layout" {
			continue
		}
		out[base] = template.Must(template.New("layout.html").Funcs(template.FuncMap{
			"roleLabel": func(r whistle.Role) string { return r.Label() },
		}).ParseFS(templateFS, "templates/layout.html", n))
	}
	return out
}()

// page is what every template gets: the title, the member (nil on the login
// page), the session's CSRF token for forms, and the page's own data.
type page struct {
	Title string
	Staff *Staff
	CSRF  string
	Data  any
}

// render writes a page. Staff pages are never cached: they show cases and
// receipts, and a shared browser must not show them again from history.
func (cs *Console) render(c *fiber.Ctx, status int, name, title string, data any) error {
	p := page{Title: title, Data: data}
	if s, ok := Current(c); ok {
		p.Staff, p.CSRF = s, s.csrf
	}
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, p); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

type errorData struct {
	Message   string
	LoginLink bool
}

// errorPage renders err as a page with its status; internal causes are
// logged by the caller's chain, never shown.
func (cs *Console) errorPage(c *fiber.Ctx, err error) error {
	we := httpd.AsError(err)
	if we.Code == whistle.EINTERNAL || we.Code == whistle.EUNAVAILABLE {
		cs.log.Error("staff request failed", "route", c.Route().Path, "code", we.Code, "err", we.Err)
	}
	return cs.render(c, httpd.Status(we.Code), "error", "出错了", errorData{
		Message:   whistle.ErrorMessage(we),
		LoginLink: we.Code == whistle.EUNAUTHORIZED,
	})
}

func serveStylesheet(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	c.Type("css", "utf-8")
	return c.Send(stylesheet)
}
