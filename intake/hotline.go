package intake

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/admin"
	"whistle/crypto"
	"whistle/httpd"
	"whistle/mongodb"
)

// The hotline agent console: a 12345/12350 agent types a caller's report
// while on the phone and reads the receipt code back. It is a staff page
// (admin.RequireRole, role hotline_agent, CSRF-checked) built for speed:
// the report text has focus on arrival, fields follow the order of a call,
// every field has an access key, and after a submission the link to the
// next call has focus and keeps the channel.
//
// Consent rules, enforced here and not only in the page:
//   - a caller number is taken only with callback consent; it is then sealed
//     in the identity vault (finance + custodian), never stored in clear;
//   - a call recording is taken only with recorded consent to recording; its
//     metadata and file name are removed before sealing.

// HotlinePath is the console; it is admin.HotlinePath, where agents land
// after login.
const HotlinePath = admin.HotlinePath

// AuditHotlineSubmit is the audit action of a report typed by an agent.
const AuditHotlineSubmit = "hotline_submit"

// maxHotlineBody bounds a console submission: one recording and the fields.
const maxHotlineBody = MaxAttachmentBytes + maxFieldsBytes + 64<<10

//go:embed web/hotline_layout.html web/hotline_form.html web/hotline_receipt.html
var hotlineFS embed.FS

// hotlineFuncs: add1 numbers the channel access keys from 1.
var hotlineFuncs = template.FuncMap{"add1": func(i int) int { return i + 1 }}

// HotlineOptions tune the work-order import; zero fields take the defaults.
type HotlineOptions struct {
	WorkOrderWait  time.Duration // default DefaultWorkOrderWait
	WorkOrderLease time.Duration // default DefaultWorkOrderLease
}

// Hotline serves the agent console and the 12345 work-order import, both
// through the one submission path, Service.Submit.
type Hotline struct {
	svc   *Service
	opts  HotlineOptions
	pages map[string]*template.Template
}

// NewHotline builds the hotline channel on svc (Handler.Service()).
func NewHotline(svc *Service, o HotlineOptions) (*Hotline, error) {
	if svc == nil {
		return nil, errors.New("intake: the hotline needs the submission service")
	}
	if o.WorkOrderWait <= 0 {
		o.WorkOrderWait = DefaultWorkOrderWait
	}
	if o.WorkOrderLease <= 0 {
		o.WorkOrderLease = DefaultWorkOrderLease
	}
	h := &Hotline{svc: svc, opts: o, pages: map[string]*template.Template{}}
	for _, name := range []string{"hotline_form", "hotline_receipt"} {
		t, err := template.New(name).Funcs(pageFuncs).Funcs(hotlineFuncs).ParseFS(hotlineFS, "web/hotline_layout.html", "web/"+name+".html")
		if err != nil {
			return nil, err
		}
		h.pages[name] = t
	}
	return h, nil
}

// Register mounts the console and the import. The admin console must be
// registered first (see admin.Console.Register).
func (h *Hotline) Register(app *fiber.App) {
	agent := admin.RequireRole(whistle.RoleHotlineAgent)
	app.Get(HotlinePath, agent, h.form)
	// The size check runs first: RequireRole reads the CSRF token from the
	// body, and nothing should read a body over the limit.
	app.Post(HotlinePath, h.limitBody, agent, h.submit)
	app.Post(WorkOrderPath, h.importWorkOrder)
}

func (h *Hotline) limitBody(c *fiber.Ctx) error {
	if err := checkBody(c, maxHotlineBody); err != nil {
		return err
	}
	return c.Next()
}

// audit records an action; a failure is logged, not returned: the case it
// concerns is already durable and its receipt must still reach the caller.
func (h *Hotline) audit(ctx context.Context, e mongodb.AuditEntry) {
	e.At = h.svc.now()
	if err := h.svc.store.Audit(ctx, e); err != nil {
		h.svc.log.Error("audit entry not written", "action", e.Action, "case", e.CaseID, "err", err)
	}
}

// hotlineChannels are the channels an agent records, in the page's order.
var hotlineChannels = []option{
	{string(whistle.ChannelHotline), "12345 政务服务便民热线"},
	{string(whistle.ChannelSafety), "12350 安全生产举报热线"},
	{string(whistle.ChannelLetter), "来信"},
	{string(whistle.ChannelVisit), "来访"},
}

func channelLabel(code string) string {
	for _, o := range hotlineChannels {
		if o.Value == code {
			return o.Label
		}
	}
	return ""
}

// hotlineFields are the form's text fields, re-displayed after an error.
var hotlineFields = []string{"channel", "text", "city", "county", "address", "company", "danger_now",
	"callback_consent", "caller_phone", "recording_consent"}

// hotlineView is the console form.
type hotlineView struct {
	Agent    *admin.Staff
	CSRF     string
	Values   map[string]string
	Errors   map[string]string
	Summary  string
	Cities   []City
	Channels []option
	// Focus names the field that gets focus: the report text, or after a
	// refusal the field the message is about.
	Focus string
}

// focusable are the fields the form can put focus on.
var focusable = map[string]bool{"channel": true, "text": true, "city": true, "county": true, "address": true,
	"company": true, "caller_phone": true, attachmentsField: true}

func (v hotlineView) For(field string) fieldRef { return fieldRef{Errors: v.Errors, Field: field} }

func (h *Hotline) newView(c *fiber.Ctx, f form) hotlineView {
	agent, _ := admin.Current(c)
	v := hotlineView{Agent: agent, CSRF: admin.CSRFToken(c), Values: map[string]string{}, Errors: map[string]string{},
		Cities: Cities, Channels: hotlineChannels, Focus: "text"}
	for _, name := range hotlineFields {
		v.Values[name] = f.get(name)
	}
	if channelLabel(v.Values["channel"]) == "" {
		v.Values["channel"] = string(whistle.ChannelHotline)
	}
	return v
}

func (h *Hotline) render(c *fiber.Ctx, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return err
	}
	noStore(c)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

func (h *Hotline) form(c *fiber.Ctx) error {
	// ?channel= keeps the agent's line from one call to the next.
	return h.render(c, fiber.StatusOK, "hotline_form", h.newView(c, form{values: map[string][]string{"channel": {c.Query("channel")}}}))
}

// Consent messages, shown next to the field.
const (
	msgPhoneWithoutConsent     = "来电人未同意回访，不能登记来电号码：号码已清除，未保存。如来电人同意回访，请勾选「同意回访」后重新填写。"
	msgConsentWithoutPhone     = "已勾选「同意回访」，请填写回访电话。"
	msgRecordingWithoutConsent = "来电人未同意录音，录音文件已丢弃，未保存。如来电人同意，请勾选「同意录音」后重新选择文件。"
	msgPhoneVaultUnavailable   = "回访电话暂时无法安全登记（密钥尚未配置）。请清空电话号码后提交，并在工单系统中另行记录回访需求。"
)

// hotlineSubmission applies the consent rules to a parsed form and returns
// the submission (recording not yet prepared).
func hotlineSubmission(f form) (Submission, error) {
	channel := f.get("channel")
	if channelLabel(channel) == "" {
		return Submission{}, fieldError("channel", "请选择受理渠道。")
	}
	callback := isYes(f.get("callback_consent"))
	phone := strings.TrimSpace(f.get("caller_phone"))
	switch {
	case phone != "" && !callback:
		return Submission{}, fieldError("caller_phone", msgPhoneWithoutConsent)
	case phone == "" && callback:
		return Submission{}, fieldError("caller_phone", msgConsentWithoutPhone)
	case len(f.files) > 0 && !isYes(f.get("recording_consent")):
		return Submission{}, fieldError(attachmentsField, msgRecordingWithoutConsent)
	}
	return Submission{
		Channel: whistle.Channel(channel),
		Report: whistle.Report{
			Text:      f.get("text"),
			Address:   f.get("address"),
			Company:   f.get("company"),
			DangerNow: isYes(f.get("danger_now")),
		},
		City:            f.get("city"),
		County:          f.get("county"),
		CallerPhone:     phone,
		CallbackConsent: callback,
	}, nil
}

// hotlineReceiptView is the result page.
type hotlineReceiptView struct {
	Agent     *admin.Staff
	CSRF      string
	Receipt   string // grouped 4-4-4-4-4
	CaseID    string
	Channel   string // code, for the next call's form
	Label     string
	Urgent    bool
	Callback  bool
	Recording bool
}

// submit takes the console form. The receipt page is the response itself,
// never a redirect: the receipt must not appear in a URL or in history.
func (h *Hotline) submit(c *fiber.Ctx) error {
	f, err := parseForm(string(c.Request().Header.ContentType()), c.Body(), 1)
	var in Submission
	if err == nil {
		in, err = hotlineSubmission(f)
	}
	if err == nil && len(f.files) == 1 {
		var rec Evidence
		if rec, err = prepareRecording(f.files[0].data); err == nil {
			in.Attachments = []Evidence{rec}
		}
	}
	var caseID string
	var receipt crypto.Receipt
	if err == nil {
		receipt, caseID, err = h.svc.Submit(c.UserContext(), in)
	}
	if err != nil {
		return h.refuse(c, f, err)
	}
	agent, _ := admin.Current(c)
	h.audit(c.UserContext(), mongodb.AuditEntry{Actor: agent.Username, Role: agent.Role, Action: AuditHotlineSubmit, CaseID: caseID})
	return h.render(c, fiber.StatusOK, "hotline_receipt", hotlineReceiptView{
		Agent: agent, CSRF: admin.CSRFToken(c), Receipt: receipt.Grouped(), CaseID: caseID,
		Channel: string(in.Channel), Label: channelLabel(string(in.Channel)), Urgent: in.Report.DangerNow,
		Callback: in.CallerPhone != "", Recording: len(in.Attachments) == 1,
	})
}

// refuse shows the form again with what the agent typed and the message
// next to its field. A caller number refused for lack of consent is not
// echoed back.
func (h *Hotline) refuse(c *fiber.Ctx, f form, err error) error {
	we := httpd.AsError(err)
	if we.Code == whistle.EINTERNAL || we.Code == whistle.EUNAVAILABLE {
		h.svc.log.Error("hotline submission failed", "code", we.Code, "err", we.Err)
	}
	msg := whistle.ErrorMessage(we)
	field := we.Field
	if field == "contact" { // the identity vault holds the callback number
		field, msg = "caller_phone", msgPhoneVaultUnavailable
	}
	v := h.newView(c, f)
	v.Summary = "尚未提交：" + msg
	if field != "" {
		v.Errors[field] = msg
	}
	if focusable[field] {
		v.Focus = field
	}
	if field == "caller_phone" && we.Message == msgPhoneWithoutConsent {
		v.Values["caller_phone"] = ""
	}
	return h.render(c, httpd.Status(we.Code), "hotline_form", v)
}
