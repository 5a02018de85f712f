package intake

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/crypto"
	"whistle/mongodb"
)

// The 12345 work-order import: POST /api/v1/hotline/workorders with an API
// key, body
//
//	{"order_no":"…","received_at":"RFC3339","content":"…","city":"…","county":"…",
//	 "address":"…","caller_phone":"…","callback_consent":false}
//
// → 201 {"case_ref","receipt"}; the same order_no again → 200 {"case_ref"}
// and nothing is created. Idempotency rests on a reservation document whose
// _id is the order number, inserted before anything else (mongodb.WorkOrder):
// concurrent duplicates lose that insert and wait for the winner; a
// reservation left by a crash is taken over after a lease, keeping its case
// id, so a retry finds the case the crashed attempt may have stored instead
// of creating a second one.

// WorkOrderPath is where the 12345 platform pushes work orders.
const WorkOrderPath = "/api/v1/hotline/workorders"

// Audit action of an imported work order.
const AuditWorkOrderImport = "workorder_import"

// Work-order timing defaults.
const (
	// DefaultWorkOrderWait is how long a duplicate request waits for the
	// first import of the same order to finish before answering 409.
	DefaultWorkOrderWait = 10 * time.Second
	// DefaultWorkOrderLease is how long an unfinished reservation belongs to
	// the import that made it; after that another import may take it over.
	// It is far above the time one import takes.
	DefaultWorkOrderLease = 2 * time.Minute
	workOrderPoll         = 50 * time.Millisecond
	// maxReceivedAtSkew tolerates the platform's clock running ahead.
	maxReceivedAtSkew = 5 * time.Minute
)

// workOrderJSON is the request body.
type workOrderJSON struct {
	OrderNo         string `json:"order_no"`
	ReceivedAt      string `json:"received_at"`
	Content         string `json:"content"`
	City            string `json:"city"`
	County          string `json:"county"`
	Address         string `json:"address"`
	CallerPhone     string `json:"caller_phone"`
	CallbackConsent bool   `json:"callback_consent"`
}

// workOrder is a decoded, validated work order.
type workOrder struct {
	OrderNo    string
	Submission Submission // normalised; Submit will accept it
	// PhoneDiscarded: a caller number came without callback consent and was
	// dropped unread.
	PhoneDiscarded bool
}

// earliestReceivedAt rejects dates no 12345 order can carry.
var earliestReceivedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeWorkOrder parses and validates a work-order body completely, so that
// nothing is reserved for an order that would then fail validation. Errors
// are EINVALID *whistle.Error naming the JSON field.
func decodeWorkOrder(body []byte, now time.Time) (workOrder, error) {
	var in workOrderJSON
	if err := decodeJSON(body, &in); err != nil {
		return workOrder{}, err
	}
	no, err := checkOrderNo(in.OrderNo)
	if err != nil {
		return workOrder{}, err
	}
	if strings.TrimSpace(in.ReceivedAt) == "" {
		return workOrder{}, fieldError("received_at", "请提供工单接收时间（RFC 3339 格式）。")
	}
	received, err := time.Parse(time.RFC3339, strings.TrimSpace(in.ReceivedAt))
	switch {
	case err != nil:
		return workOrder{}, fieldError("received_at", "接收时间应为 RFC 3339 格式，例如 2026-03-02T09:30:00+08:00。")
	case received.Before(earliestReceivedAt):
		return workOrder{}, fieldError("received_at", "接收时间无效。")
	case received.After(now.Add(maxReceivedAtSkew)):
		return workOrder{}, fieldError("received_at", "接收时间晚于当前时间。")
	}
	o := workOrder{OrderNo: no}
	phone := in.CallerPhone
	switch {
	case in.CallbackConsent && strings.TrimSpace(phone) == "":
		return workOrder{}, fieldError("caller_phone", "已同意回访，请提供来电号码。")
	case !in.CallbackConsent && phone != "":
		// Without consent the number must not be kept anywhere, not even
		// sealed: drop it and say so in the response.
		phone, o.PhoneDiscarded = "", true
	}
	sub := Submission{
		Channel:         whistle.ChannelWorkOrder,
		Report:          whistle.Report{Text: in.Content, Address: in.Address, OrderNo: no},
		City:            in.City,
		County:          in.County,
		CallerPhone:     phone,
		CallbackConsent: in.CallbackConsent,
		ReceivedAt:      received,
	}
	if o.Submission, err = sub.normalise(); err != nil {
		return workOrder{}, renameField(err, "text", "content")
	}
	return o, nil
}

// checkOrderNo accepts 1–64 ASCII letters, digits, '-' and '_': what 12345
// order numbers use, and safe as a document id.
func checkOrderNo(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fieldError("order_no", "请提供工单编号。")
	}
	if len(s) > MaxOrderNoRunes {
		return "", fieldError("order_no", "工单编号过长。")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return "", fieldError("order_no", "工单编号只能包含字母、数字、短横线和下划线。")
		}
	}
	return s, nil
}

// renameField reports a validation error under the API's own field name.
func renameField(err error, from, to string) error {
	var we *whistle.Error
	if errors.As(err, &we) && we.Field == from {
		cp := *we
		cp.Field = to
		return &cp
	}
	return err
}

// importResult is what an import produced.
type importResult struct {
	CaseID  string
	Receipt crypto.Receipt // empty for a duplicate: receipts are never stored
	Created bool
}

var errOrderInFlight = &whistle.Error{Code: whistle.ECONFLICT, Message: "该工单正在处理中，请稍后重试。"}

// importOrder stores the order's case exactly once per order number.
func (h *Hotline) importOrder(ctx context.Context, o workOrder, source string) (importResult, error) {
	store := h.svc.store
	w, reserved, err := store.ReserveWorkOrder(ctx, mongodb.WorkOrder{
		OrderNo: o.OrderNo, CaseID: whistle.NewID(), Source: source, ReservedAt: h.svc.now(),
	})
	if err != nil {
		return importResult{}, err
	}
	if !reserved {
		if w, err = h.awaitOrder(ctx, w); err != nil {
			return importResult{}, err
		}
		if w.Done {
			return importResult{CaseID: w.CaseID}, nil
		}
		// Taken over from an import that stopped: it may have stored the
		// case before it stopped.
		if done, err := h.finishIfStored(ctx, w); err != nil || done {
			return importResult{CaseID: w.CaseID}, err
		}
	}
	sub := o.Submission
	sub.CaseID = w.CaseID
	receipt, id, err := h.svc.Submit(ctx, sub)
	if err != nil {
		return h.afterFailedSubmit(w, err)
	}
	if err := store.CompleteWorkOrder(ctx, o.OrderNo); err != nil {
		// The case is durable; a later duplicate finds it via the lease.
		h.svc.log.Warn("work order stored but not marked done", "case", id, "err", err)
	}
	return importResult{CaseID: id, Receipt: receipt, Created: true}, nil
}

// awaitOrder waits for another import of the same order: it returns the
// reservation once done, or once this import has taken it over because its
// lease ran out; ECONFLICT if neither happens within the wait.
func (h *Hotline) awaitOrder(ctx context.Context, w *mongodb.WorkOrder) (*mongodb.WorkOrder, error) {
	timeout := time.NewTimer(h.opts.WorkOrderWait)
	defer timeout.Stop()
	poll := time.NewTicker(workOrderPoll)
	defer poll.Stop()
	for {
		if w.Done {
			return w, nil
		}
		if now := h.svc.now(); now.Sub(w.ReservedAt) >= h.opts.WorkOrderLease {
			ok, err := h.svc.store.TakeOverWorkOrder(ctx, w.OrderNo, w.ReservedAt, now)
			if err != nil || ok {
				return w, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			return nil, errOrderInFlight
		case <-poll.C:
		}
		var err error
		if w, err = h.svc.store.WorkOrder(ctx, w.OrderNo); err != nil {
			if whistle.ErrorCode(err) == whistle.ENOTFOUND {
				return nil, errOrderInFlight // the other import failed and released it; the retry will reserve anew
			}
			return nil, err
		}
	}
}

// finishIfStored marks the reservation done if its case exists.
func (h *Hotline) finishIfStored(ctx context.Context, w *mongodb.WorkOrder) (bool, error) {
	_, err := h.svc.store.Case(ctx, w.CaseID)
	switch whistle.ErrorCode(err) {
	case whistle.ENOTFOUND:
		return false, nil
	case "":
		return true, h.svc.store.CompleteWorkOrder(ctx, w.OrderNo)
	}
	return false, err
}

// afterFailedSubmit releases the reservation so the platform's retry starts
// afresh — unless the case exists after all (another import that took over
// and stored it), in which case the order is done. It uses its own context:
// the request's may be what failed.
func (h *Hotline) afterFailedSubmit(w *mongodb.WorkOrder, submitErr error) (importResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if done, err := h.finishIfStored(ctx, w); err == nil && done {
		return importResult{CaseID: w.CaseID}, nil
	}
	if err := h.svc.store.ReleaseWorkOrder(ctx, w.OrderNo, w.CaseID); err != nil {
		h.svc.log.Warn("work order reservation not released; it is taken over after its lease", "err", err)
	}
	return importResult{}, submitErr
}

// workOrderResponse is the JSON answer.
type workOrderResponse struct {
	CaseRef string `json:"case_ref"`
	Receipt string `json:"receipt,omitempty"`
	// Duplicate: the order was imported before; nothing was created.
	Duplicate bool `json:"duplicate,omitempty"`
	// CallerPhoneDiscarded: the caller number came without callback consent
	// and was not stored.
	CallerPhoneDiscarded bool `json:"caller_phone_discarded,omitempty"`
}

var errNotJSON = &whistle.Error{Code: whistle.EUNSUPPORTED, Message: "请以 application/json 格式提交工单。"}

// importWorkOrder is the HTTP handler. Order of checks: key (401), media
// type (415), size (413), body (400), then the import.
func (h *Hotline) importWorkOrder(c *fiber.Ctx) error {
	ctx := c.UserContext()
	key, err := authenticateAPIKey(ctx, h.svc.store, c.Get(fiber.HeaderAuthorization))
	if err != nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="whistle"`)
		return err
	}
	if mediaType(c) != fiber.MIMEApplicationJSON {
		return errNotJSON
	}
	if err := checkBody(c, maxJSONBytes); err != nil {
		return err
	}
	o, err := decodeWorkOrder(c.Body(), h.svc.now())
	if err != nil {
		return err
	}
	res, err := h.importOrder(ctx, o, key.Name)
	if err != nil {
		return err
	}
	noStore(c)
	if !res.Created {
		return c.Status(fiber.StatusOK).JSON(workOrderResponse{CaseRef: res.CaseID, Duplicate: true})
	}
	h.audit(ctx, mongodb.AuditEntry{Actor: "apikey:" + key.Name, Role: whistle.RoleSystem, Action: AuditWorkOrderImport, CaseID: res.CaseID})
	return c.Status(fiber.StatusCreated).JSON(workOrderResponse{
		CaseRef: res.CaseID, Receipt: string(res.Receipt), CallerPhoneDiscarded: o.PhoneDiscarded,
	})
}
