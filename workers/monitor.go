package workers

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/hibiken/asynqmon"
)

// MonitorPath is where the asynq monitor (asynqmon) is mounted.
const MonitorPath = "/admin/queues"

// MountMonitor mounts asynqmon under MonitorPath behind guard, which must
// admit only staff with the admin role (admin.RequireRole(whistle.RoleAdmin)
// after the staff session middleware). A nil guard mounts a monitor that
// refuses everyone: the queue monitor can delete and re-run tasks.
//
// asynqmon's page has two inline scripts and links Google Fonts. The site's
// CSP forbids both; for this path the CSP allows exactly those two scripts
// by hash (and the UI library's inline styles) and still no third-party
// origin, so the fonts fall back to local ones.
func (w *Workers) MountMonitor(app *fiber.App, guard fiber.Handler) {
	if guard == nil {
		w.log.Error("queue monitor mounted without a guard: every request is refused")
		guard = func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusForbidden) }
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: MonitorPath, RedisConnOpt: w.redis.ConnOpt()})
	w.closers = append(w.closers, mon.Close)
	csp := monitorCSP(mon)
	serve := adaptor.HTTPHandler(mon)
	app.Use(MonitorPath, guard, func(c *fiber.Ctx) error {
		err := serve(c)
		c.Set("Content-Security-Policy", csp)
		c.Set("Cache-Control", "no-store")
		return err
	})
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// monitorCSP renders asynqmon's index page once and allows its inline
// scripts by their SHA-256 hashes.
func monitorCSP(h http.Handler) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, MonitorPath+"/", nil))
	var hashes []string
	for _, m := range inlineScript.FindAllStringSubmatch(rec.Body.String(), -1) {
		sum := sha256.Sum256([]byte(m[1]))
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return "default-src 'none'; script-src 'self' " + strings.Join(hashes, " ") +
		"; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
		"manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}
