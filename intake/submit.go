package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"whistle"
	"whistle/crypto"
	"whistle/mongodb"
	"whistle/queue"
)

// Sealed field names. A field envelope opens only under the name it was
// sealed with, so every reader of a case (triage, consoles) must use these.
const (
	// FieldContent seals the JSON of the whistle.Report.
	FieldContent = "content"
	// keyVersion is the DEK generation of new cases (crypto.SealField).
	keyVersion = 1
)

// MessageField is the field name a case message is sealed under.
func MessageField(messageID string) string { return "message:" + messageID }

// AttachmentNameField is the field name an attachment's original file name
// is sealed under.
func AttachmentNameField(attachmentID string) string { return "attachment-name:" + attachmentID }

// Deps is what intake needs from the rest of the program.
type Deps struct {
	Store *mongodb.DB
	Queue *queue.Client
	Keys  *crypto.Keyset
	// Finance returns the finance group key that may open reporters'
	// identity vaults (with the custodian key). Nil, or an error, means no
	// finance key is set up yet: identity details are then refused with a
	// clear message rather than stored where nobody may read them.
	Finance func(ctx context.Context) (crypto.Recipient, error)
	// DepartmentName turns a department code into the name shown to the
	// reporter; nil shows the code.
	DepartmentName func(code string) string
	Logger         *slog.Logger
	Now            func() time.Time
	// Limits are the abuse limits of the HTTP handlers; zero fields take
	// DefaultLimits.
	Limits Limits
}

// Service is the channel-independent core of intake: the web pages, the JSON
// API, the hotline console and the work-order import all submit through it.
type Service struct {
	store      *mongodb.DB
	queue      *queue.Client
	keys       *crypto.Keyset
	finance    func(ctx context.Context) (crypto.Recipient, error)
	department func(string) string
	log        *slog.Logger
	now        func() time.Time
}

// NewService checks d and returns the service.
func NewService(d Deps) (*Service, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("intake: a store is required")
	case d.Queue == nil:
		return nil, errors.New("intake: a queue client is required")
	case d.Keys == nil:
		return nil, errors.New("intake: a keyset is required")
	}
	s := &Service{store: d.Store, queue: d.Queue, keys: d.Keys, finance: d.Finance,
		department: d.DepartmentName, log: d.Logger, now: d.Now}
	if s.department == nil {
		s.department = func(code string) string { return code }
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Submission is one report as a channel hands it over.
type Submission struct {
	Channel whistle.Channel
	Report  whistle.Report // Report.DangerNow marks the case urgent
	City    string
	County  string
	// Identity is optional name and contact for a real-name reward; it and
	// CallerPhone are sealed only in the identity vault (finance + custodian).
	Identity    string
	CallerPhone string
	// CallbackConsent records that a hotline caller agreed to be called back.
	CallbackConsent bool
	Attachments     []Evidence
	// ReceivedAt is when the report reached the government (a work order's
	// received_at); zero means now.
	ReceivedAt time.Time
	// CaseID pre-assigns the case id (a work-order import that records the
	// order number first); empty means a new random id.
	CaseID string
}

// Evidence is an attachment ready to seal: its type detected from the content
// and its metadata already removed (PrepareEvidence).
type Evidence struct {
	Name string // original file name; sealed, never shown to staff unsealed
	Type string // detected MIME type
	Body io.Reader
}

// Attachment limits.
const (
	MaxAttachments     = 5
	MaxAttachmentBytes = 20 << 20
)

// identityRecord is what the identity vault holds.
type identityRecord struct {
	Identity        string `json:"identity,omitempty"`
	CallerPhone     string `json:"caller_phone,omitempty"`
	CallbackConsent bool   `json:"callback_consent,omitempty"`
}

// normalise validates every field and returns the cleaned submission. Errors
// are *whistle.Error with the field named and a zh-CN message.
func (in Submission) normalise() (Submission, error) {
	out := in
	var err error
	switch in.Channel {
	case whistle.ChannelWeb, whistle.ChannelHotline, whistle.ChannelSafety, whistle.ChannelLetter,
		whistle.ChannelVisit, whistle.ChannelWorkOrder:
	default:
		return out, fieldError("channel", "未知的举报渠道。")
	}
	r := &out.Report
	if r.Text, err = cleanText("text", "问题描述", r.Text, MaxTextRunes, true); err != nil {
		return out, err
	}
	if r.Text == "" {
		return out, fieldError("text", "请描述您发现的问题。")
	}
	short := []struct {
		field, label string
		v            *string
		max          int
	}{
		{"address", "详细地址", &r.Address, MaxShortRunes},
		{"company", "单位或场所名称", &r.Company, MaxShortRunes},
		{"industry", "所属行业", &r.Industry, MaxShortRunes},
		{"started_at", "开始时间", &r.StartedAt, MaxShortRunes},
		{"order_no", "工单编号", &r.OrderNo, MaxOrderNoRunes},
		{"city", "所在市", &out.City, MaxShortRunes},
		{"county", "所在区县", &out.County, MaxShortRunes},
	}
	for _, f := range short {
		if *f.v, err = cleanText(f.field, f.label, *f.v, f.max, false); err != nil {
			return out, err
		}
	}
	if r.Relationship != "" {
		if _, ok := relationships[r.Relationship]; !ok {
			return out, fieldError("relationship", "请选择您与该单位的关系。")
		}
	}
	if err := checkPlace(out.City, out.County); err != nil {
		return out, err
	}
	if out.Identity, err = cleanText("contact", "实名信息", in.Identity, MaxIdentityRunes, true); err != nil {
		return out, err
	}
	if out.CallerPhone, err = checkPhone(in.CallerPhone); err != nil {
		return out, err
	}
	if len(in.Attachments) > MaxAttachments {
		return out, &whistle.Error{Code: whistle.ETOOLARGE, Field: "attachments",
			Message: fmt.Sprintf("最多上传%d个文件。", MaxAttachments)}
	}
	if in.CaseID != "" && (len(in.CaseID) > 64 || strings.ContainsAny(in.CaseID, "/.$")) {
		return out, fieldError("case_id", "案件编号无效。")
	}
	return out, nil
}

// Submit validates, seals and stores a report, then asks for triage. The
// receipt it returns may be shown: the case is durable when Submit returns
// nil. A failed enqueue is logged and left to the reconcile sweep; every other
// failure returns an error and leaves no case behind (attachment chunks
// already written are deleted, best effort; any left are unreadable since
// their key was never stored).
func (s *Service) Submit(ctx context.Context, in Submission) (crypto.Receipt, string, error) {
	in, err := in.normalise()
	if err != nil {
		return "", "", err
	}
	id := in.CaseID
	if id == "" {
		id = whistle.NewID()
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	received := in.ReceivedAt.UTC().Truncate(time.Millisecond)
	if in.ReceivedAt.IsZero() {
		received = now
	}

	dek := crypto.NewDataKey()
	defer dek.Wipe()
	c := &whistle.Case{
		ID:         id,
		Channel:    in.Channel,
		ReceivedAt: received,
		City:       in.City,
		County:     in.County,
		Urgent:     in.Report.DangerNow,
		Lifecycle:  *whistle.NewLifecycle(),
	}
	if c.Sealed.Content, err = sealJSON(dek, id, FieldContent, in.Report); err != nil {
		return "", "", err
	}
	if in.Identity != "" || in.CallerPhone != "" {
		if c.Identity, err = s.sealIdentity(ctx, id, identityRecord{in.Identity, in.CallerPhone, in.CallbackConsent}); err != nil {
			return "", "", err
		}
	}

	receipt := crypto.NewReceipt()
	rk, err := s.keys.CurrentSecrets().DeriveReceiptKey(receipt)
	if err != nil {
		return "", "", err
	}
	defer rk.Wipe()
	if c.Sealed.Keys, err = crypto.SealDataKeyFor(dek, id,
		s.keys.TriageRecipient(), s.keys.CustodianRecipient(), rk.Recipient()); err != nil {
		return "", "", err
	}

	if c.Attachments, err = s.storeEvidence(ctx, dek, id, now, in.Attachments); err != nil {
		return "", "", err
	}
	if err := s.store.CreateCase(ctx, c, rk.LookupToken()); err != nil {
		s.dropBlobs(id, c.Attachments)
		return "", "", err
	}
	if err := s.queue.EnqueueBestEffort(ctx, queue.TriageTask(id, c.Urgent)); err != nil {
		s.log.Warn("triage enqueue failed; the reconcile sweep will enqueue the case", "case", id, "err", err)
	}
	return receipt, id, nil
}

func sealJSON(dek crypto.DataKey, caseID, field string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return crypto.SealField(dek, keyVersion, caseID, field, b)
}

var errNoFinanceKey = &whistle.Error{Code: whistle.EUNAVAILABLE, Field: "contact",
	Message: "实名信息暂时无法安全登记（奖励审核密钥尚未配置）。您可以清空实名信息后匿名提交，日后凭回执码申领奖励。"}

func (s *Service) sealIdentity(ctx context.Context, caseID string, rec identityRecord) (*whistle.SealedRecord, error) {
	if s.finance == nil {
		return nil, errNoFinanceKey
	}
	finance, err := s.finance(ctx)
	if err != nil {
		return nil, &whistle.Error{Code: errNoFinanceKey.Code, Field: errNoFinanceKey.Field, Message: errNoFinanceKey.Message, Err: err}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	v, err := crypto.SealIdentity(caseID, b, finance, s.keys.CustodianRecipient())
	if err != nil {
		return nil, err
	}
	return &whistle.SealedRecord{Ciphertext: v.Envelope, Keys: v.Holders}, nil
}

// storeEvidence seals each attachment as a chunked stream into the blob
// store. On failure it removes what it wrote and returns the error.
func (s *Service) storeEvidence(ctx context.Context, dek crypto.DataKey, caseID string, now time.Time, files []Evidence) ([]whistle.Attachment, error) {
	var out []whistle.Attachment
	for _, f := range files {
		a, err := s.storeOne(ctx, dek, caseID, now, f)
		if a.Chunk > 0 || err == nil {
			out = append(out, a)
		}
		if err != nil {
			s.dropBlobs(caseID, out)
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) storeOne(ctx context.Context, dek crypto.DataKey, caseID string, now time.Time, f Evidence) (whistle.Attachment, error) {
	a := whistle.Attachment{ID: whistle.NewID(), Type: f.Type, At: now}
	if f.Type == "" || f.Body == nil {
		return a, errors.New("intake: evidence without a detected type or body")
	}
	name, err := cleanText("attachments", "文件名", f.Name, MaxShortRunes, false)
	if err != nil {
		name = "" // a strange file name is not worth refusing the evidence for
	}
	if name != "" {
		if a.Name, err = crypto.SealField(dek, keyVersion, caseID, AttachmentNameField(a.ID), []byte(name)); err != nil {
			return a, err
		}
	}
	blob, err := s.store.NewBlob(ctx, caseID, a.ID)
	if err != nil {
		return a, err
	}
	sealer, err := crypto.NewAttachmentWriter(blob, dek, keyVersion, caseID, a.ID)
	if err != nil {
		return a, err
	}
	a.Size, err = io.Copy(sealer, io.LimitReader(f.Body, MaxAttachmentBytes+1))
	if err == nil && a.Size > MaxAttachmentBytes {
		err = tooLarge("attachments")
	}
	if err == nil {
		err = sealer.Close()
	}
	if cerr := blob.Close(); err == nil {
		err = cerr
	}
	a.Chunk = blob.Chunks()
	return a, err
}

func tooLarge(field string) *whistle.Error {
	return &whistle.Error{Code: whistle.ETOOLARGE, Field: field,
		Message: fmt.Sprintf("单个文件不能超过%d MB。", MaxAttachmentBytes>>20)}
}

// dropBlobs deletes attachment chunks of a submission that did not complete.
// It uses its own context: the request's may be what failed.
func (s *Service) dropBlobs(caseID string, atts []whistle.Attachment) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, a := range atts {
		if err := s.store.DeleteBlob(ctx, caseID, a.ID, a.Chunk); err != nil {
			s.log.Warn("could not delete the chunks of a failed submission; they are unreadable without their key", "case", caseID, "err", err)
			return
		}
	}
}
