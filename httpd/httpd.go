// Package httpd builds the Fiber application every HTTP-facing package mounts
// on: security headers, structured errors, route metrics, and the operator
// endpoints /healthz, /readyz and /metrics.
//
// Reporter safety shapes it: the access log records route pattern, status
// and latency only — never the client address, user agent, query or body —
// and no proxy header is trusted for anything.
package httpd

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"whistle"
	"whistle/metrics"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Options configure the application.
type Options struct {
	Logger *slog.Logger
	// Checks are run by /readyz; the map key names the dependency in the
	// 503 body ("store", "queue").
	Checks map[string]Check
	// BodyLimit caps any request body in bytes before it is parsed.
	BodyLimit int
	// TrustedProxies lists the reverse proxies (IPs or CIDRs) whose
	// ProxyHeader is believed for the client address. The address only ever
	// feeds in-memory rate limits; without trusted proxies every client
	// behind one proxy would share one limit.
	TrustedProxies []string
	ProxyHeader    string
}

// ContentSecurityPolicy forbids every third-party and inline resource: pages
// are server-rendered and styled from /static, and work without JavaScript.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// New returns the application with operator routes mounted.
func New(o Options) *fiber.App {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	app := fiber.New(fiber.Config{
		AppName:                 "whistle",
		DisableStartupMessage:   true,
		BodyLimit:               o.BodyLimit,
		ReadTimeout:             60 * time.Second,
		WriteTimeout:            60 * time.Second,
		IdleTimeout:             120 * time.Second,
		ErrorHandler:            errorHandler(o.Logger),
		EnableTrustedProxyCheck: len(o.TrustedProxies) > 0,
		TrustedProxies:          o.TrustedProxies,
		ProxyHeader:             proxyHeader(o),
	})
	app.Use(recoverer(o.Logger), observe(o.Logger), securityHeaders)
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", readyz(o.Checks))
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})))
	return app
}

func proxyHeader(o Options) string {
	if len(o.TrustedProxies) == 0 {
		return "" // the socket address, whatever headers say
	}
	return o.ProxyHeader
}

func securityHeaders(c *fiber.Ctx) error {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if c.Protocol() == "https" {
		h.Set("Strict-Transport-Security", "max-age=63072000")
	}
	return c.Next()
}

// observe records latency by route pattern and logs the request without any
// client detail.
func observe(logger *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let the error handler write the response now so the status is known.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				c.Status(fiber.StatusInternalServerError)
			}
		}
		status := c.Response().StatusCode()
		route := c.Route().Path
		if status == fiber.StatusNotFound && route == "/" && c.Path() != "/" {
			route = "unmatched" // keep label cardinality bounded
		}
		elapsed := time.Since(start)
		metrics.ObserveHTTP(route, c.Method(), status, elapsed)
		if route != "/healthz" && route != "/readyz" && route != "/metrics" {
			logger.Info("http", "method", c.Method(), "route", route, "status", status, "ms", elapsed.Milliseconds())
		}
		return nil
	}
}

func recoverer(logger *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("panic in handler", "route", c.Route().Path, "panic", r)
				err = &whistle.Error{Code: whistle.EINTERNAL, Message: "服务器内部错误，请稍后再试。"}
			}
		}()
		return c.Next()
	}
}

// Status maps an error code to its HTTP status.
func Status(code string) int {
	switch code {
	case whistle.EINVALID:
		return http.StatusBadRequest
	case whistle.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case whistle.EFORBIDDEN:
		return http.StatusForbidden
	case whistle.ENOTFOUND:
		return http.StatusNotFound
	case whistle.ECONFLICT, whistle.EILLEGAL:
		return http.StatusConflict
	case whistle.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case whistle.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case whistle.ERATELIMITED:
		return http.StatusTooManyRequests
	case whistle.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON shape of every API error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error inside ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"` // zh-CN
	Field   string `json:"field,omitempty"`
}

// AsError converts any error (including Fiber's own, e.g. body too large)
// into a domain error with a zh-CN message.
func AsError(err error) *whistle.Error {
	var we *whistle.Error
	if errors.As(err, &we) {
		return we
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			return &whistle.Error{Code: whistle.ETOOLARGE, Message: "提交的内容过大。", Err: err}
		case fiber.StatusNotFound:
			return &whistle.Error{Code: whistle.ENOTFOUND, Message: "页面不存在。", Err: err}
		case fiber.StatusMethodNotAllowed:
			return &whistle.Error{Code: whistle.EINVALID, Message: "不支持该请求方法。", Err: err}
		case fiber.StatusBadRequest:
			return &whistle.Error{Code: whistle.EINVALID, Message: "请求格式不正确。", Err: err}
		}
	}
	return &whistle.Error{Code: whistle.EINTERNAL, Message: "服务器内部错误，请稍后再试。", Err: err}
}

// WriteError writes err as the structured JSON error body.
func WriteError(c *fiber.Ctx, err error) error {
	we := AsError(err)
	return c.Status(Status(we.Code)).JSON(ErrorBody{Error: ErrorDetail{Code: we.Code, Message: whistle.ErrorMessage(we), Field: we.Field}})
}

func errorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		we := AsError(err)
		if we.Code == whistle.EINTERNAL || we.Code == whistle.EUNAVAILABLE {
			// The cause may name a server, never report content: handlers
			// wrap only store/queue errors.
			logger.Error("request failed", "route", c.Route().Path, "code", we.Code, "err", we.Err)
		}
		return WriteError(c, we)
	}
}

func readyz(checks map[string]Check) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
		defer cancel()
		var (
			mu   sync.Mutex
			down []string
			wg   sync.WaitGroup
		)
		for name, check := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if check(ctx) != nil {
					mu.Lock()
					down = append(down, name)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(down) > 0 {
			sort.Strings(down)
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "down": down})
		}
		return c.JSON(fiber.Map{"status": "ok"})
	}
}
