package intake

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/crypto"
)

// Handler serves the reporter pages and the JSON API.
type Handler struct {
	svc      *Service
	log      *slog.Logger
	sources  *sourceHasher
	submits  *limiter // per source
	receipts *limiter // per source
	failures *limiter // wrong receipts, all sources
	sessions *limiter // per follow-up session or receipt
	cookies  *sessionCodec
	pages    *pages
	// uploads bounds how many evidence uploads are prepared at once: each
	// holds up to MaxBodyBytes of plaintext in memory.
	uploads chan struct{}
}

// maxConcurrentUploads × MaxBodyBytes (plus copies) is the worst-case
// memory of evidence in flight.
const maxConcurrentUploads = 4

// New builds the handler (and its Service) from d.
func New(d Deps) (*Handler, error) {
	svc, err := NewService(d)
	if err != nil {
		return nil, err
	}
	limits := d.Limits.withDefaults()
	cookies, err := newSessionCodec(d.Keys, svc.now)
	if err != nil {
		return nil, err
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	return &Handler{
		svc:      svc,
		log:      svc.log,
		sources:  newSourceHasher(),
		submits:  newLimiter(limits.Submit, svc.now),
		receipts: newLimiter(limits.Receipt, svc.now),
		failures: newLimiter(limits.ReceiptFailures, svc.now),
		sessions: newLimiter(limits.Session, svc.now),
		cookies:  cookies,
		pages:    p,
		uploads:  make(chan struct{}, maxConcurrentUploads),
	}, nil
}

// Service is the submission core, for the hotline console and work-order
// import.
func (h *Handler) Service() *Service { return h.svc }

// Register mounts the reporter pages, their stylesheet and the JSON API.
func (h *Handler) Register(app *fiber.App) {
	app.Get("/static/intake.css", h.stylesheet)
	app.Get("/", h.home)
	app.Get("/report", h.reportForm)
	app.Post("/report", h.submitForm)
	app.Get("/follow-up", h.followPage)
	app.Post("/follow-up", h.followLogin)
	app.Post("/follow-up/messages", h.followMessage)
	app.Post("/follow-up/evidence", h.followEvidence)
	app.Post("/follow-up/logout", h.followLogout)

	app.Post("/api/v1/reports", h.apiSubmit)
	app.Post("/api/v1/followup", h.apiFollow)
	app.Post("/api/v1/followup/messages", h.apiMessage)
	app.Post("/api/v1/followup/evidence", h.apiEvidence)
}

var (
	errRateLimited = &whistle.Error{Code: whistle.ERATELIMITED, Message: "操作过于频繁，请稍后再试。"}
	errBusy        = &whistle.Error{Code: whistle.EUNAVAILABLE, Message: "系统繁忙，请稍后再试。您的举报尚未提交。"}
	errTooLarge    = &whistle.Error{Code: whistle.ETOOLARGE, Message: "提交的内容过大：最多5个文件，每个不超过20 MB。"}
)

// source is the rate-limit key of the client: never the address itself.
func (h *Handler) source(c *fiber.Ctx) string { return h.sources.key(c.IP()) }

func (h *Handler) allowSubmit(c *fiber.Ctx) error {
	if !h.submits.allow(h.source(c)) {
		return errRateLimited
	}
	return nil
}

// checkBody refuses a body over limit before anything parses it.
func checkBody(c *fiber.Ctx, limit int) error {
	if len(c.Body()) > limit || c.Request().Header.ContentLength() > limit {
		if limit == MaxBodyBytes {
			return errTooLarge
		}
		return &whistle.Error{Code: whistle.ETOOLARGE, Message: "提交的内容过长。"}
	}
	return nil
}

// openByReceipt runs fn with a parsed receipt under the receipt limits:
// every attempt counts against the source, and every wrong receipt against
// the global failure budget, which when spent stops all receipt checks for a
// moment (guessing across many addresses gains nothing).
func (h *Handler) openByReceipt(c *fiber.Ctx, raw string, fn func(crypto.Receipt) error) error {
	if !h.receipts.allow(h.source(c)) {
		return errRateLimited
	}
	r, err := crypto.ParseReceipt(raw)
	if err != nil {
		return err
	}
	if !h.failures.allow("probe") {
		return errRateLimited
	}
	err = fn(r)
	if whistle.ErrorCode(err) != whistle.EUNAUTHORIZED {
		h.failures.refund("probe")
	}
	return err
}

// withUploadSlot prepares evidence only when a slot is free, waiting a
// little; a server flooded with uploads answers 503 instead of running out
// of memory.
func (h *Handler) withUploadSlot(ctx context.Context, fn func() error) error {
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case h.uploads <- struct{}{}:
		defer func() { <-h.uploads }()
		return fn()
	case <-t.C:
		return errBusy
	case <-ctx.Done():
		return errBusy
	}
}

func noStore(c *fiber.Ctx) {
	c.Set(fiber.HeaderCacheControl, "no-store")
}
