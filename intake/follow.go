package intake

import (
	"context"
	"fmt"
	"time"

	"whistle"
	"whistle/crypto"
)

// errWrongReceipt is the one answer for every receipt that does not open a
// case — unknown, mistyped, or belonging to a shredded case — so the answer
// never tells whether a case exists.
var errWrongReceipt = &whistle.Error{Code: whistle.EUNAUTHORIZED, Field: "receipt",
	Message: "回执码不正确，请核对后重新输入。"}

// FollowUp is what the reporter may see of their case.
type FollowUp struct {
	ReceivedAt  time.Time       `json:"received_at"`
	Status      whistle.State   `json:"status"`
	StatusLabel string          `json:"status_label"`
	Department  string          `json:"department"` // "" until routed
	Events      []TimelineEvent `json:"events"`
	Messages    []ThreadMessage `json:"messages"`
	Attachments int             `json:"attachments"`
}

// TimelineEvent is one step of the case as the reporter sees it.
type TimelineEvent struct {
	At     time.Time     `json:"at"`
	Status whistle.State `json:"status"`
	Label  string        `json:"label"`
	Reason string        `json:"reason,omitempty"`
}

// ThreadMessage is one decrypted message between the reporter and handlers.
type ThreadMessage struct {
	At           time.Time `json:"at"`
	FromReporter bool      `json:"from_reporter"`
	From         string    `json:"from"` // zh-CN label
	Text         string    `json:"text"`
}

// MaxCaseAttachments bounds the evidence one case can collect, so a case
// document (which lists its attachments) stays small.
const MaxCaseAttachments = 4 * MaxAttachments

// openCase finds the case a receipt leads to and opens its data key with the
// receipt-derived reporter key. Receipts are tried under every secrets
// version still held (normally one).
func (s *Service) openCase(ctx context.Context, r crypto.Receipt) (*whistle.Case, crypto.DataKey, error) {
	for _, sec := range s.keys.Secrets() {
		rk, err := sec.DeriveReceiptKey(r)
		if err != nil {
			return nil, crypto.DataKey{}, errWrongReceipt
		}
		c, err := s.store.CaseByReceipt(ctx, rk.LookupToken())
		if whistle.ErrorCode(err) == whistle.ENOTFOUND {
			rk.Wipe()
			continue
		}
		if err != nil {
			rk.Wipe()
			return nil, crypto.DataKey{}, err
		}
		sealed, ok := c.Sealed.Keys[crypto.HolderReporter(sec.Version())]
		kp := rk.KeyPair()
		rk.Wipe()
		if !ok {
			kp.Wipe()
			return nil, crypto.DataKey{}, errWrongReceipt
		}
		dek, err := crypto.OpenDataKey(sealed, c.ID, kp)
		kp.Wipe()
		if err != nil {
			return nil, crypto.DataKey{}, errWrongReceipt
		}
		return c, dek, nil
	}
	return nil, crypto.DataKey{}, errWrongReceipt
}

// Follow returns the reporter's view of the case the receipt opens.
func (s *Service) Follow(ctx context.Context, r crypto.Receipt) (*FollowUp, error) {
	c, dek, err := s.openCase(ctx, r)
	if err != nil {
		return nil, err
	}
	defer dek.Wipe()
	f := &FollowUp{
		ReceivedAt:  c.ReceivedAt,
		Status:      c.Lifecycle.State,
		StatusLabel: c.Lifecycle.State.ReporterLabel(),
		Attachments: len(c.Attachments),
		Events:      []TimelineEvent{{At: c.ReceivedAt, Status: whistle.StateReceived, Label: "已受理"}},
		Messages:    []ThreadMessage{},
	}
	if c.Lifecycle.Department != "" {
		f.Department = s.department(c.Lifecycle.Department)
	}
	for _, ev := range c.Lifecycle.ReporterEvents() {
		label := ev.To.ReporterLabel()
		if ev.Action == whistle.ActionExtendDeadline {
			label = "核查期限已延长"
		}
		f.Events = append(f.Events, TimelineEvent{At: ev.At, Status: ev.To, Label: label, Reason: ev.Reason})
	}
	for _, m := range c.Messages {
		tm := ThreadMessage{At: m.At, FromReporter: m.From == whistle.RoleReporter, From: m.From.Label()}
		if tm.FromReporter {
			tm.From = "我"
		}
		text, err := crypto.OpenField(dek, c.ID, MessageField(m.ID), m.Body)
		if err != nil {
			s.log.Error("a case message does not open with the case key", "case", c.ID, "message", m.ID, "err", err)
			tm.Text = "（此消息无法解密，请联系办理部门。）"
		} else {
			tm.Text = string(text)
		}
		f.Messages = append(f.Messages, tm)
	}
	return f, nil
}

// AddMessage appends a sealed message from the reporter to the case.
func (s *Service) AddMessage(ctx context.Context, r crypto.Receipt, text string) error {
	text, err := cleanText("text", "留言", text, MaxMessageRunes, true)
	if err != nil {
		return err
	}
	if text == "" {
		return fieldError("text", "请填写留言内容。")
	}
	c, dek, err := s.openCase(ctx, r)
	if err != nil {
		return err
	}
	defer dek.Wipe()
	m := whistle.Message{ID: whistle.NewID(), At: s.now().UTC().Truncate(time.Millisecond), From: whistle.RoleReporter}
	if m.Body, err = crypto.SealField(dek, keyVersion, c.ID, MessageField(m.ID), []byte(text)); err != nil {
		return err
	}
	_, err = s.store.UpdateCase(ctx, c.ID, func(c *whistle.Case) error {
		c.Messages = append(c.Messages, m)
		return nil
	})
	return err
}

// AddEvidence seals more evidence into the case. The files are stored first
// and listed on the case last, so a failure leaves the case as it was.
func (s *Service) AddEvidence(ctx context.Context, r crypto.Receipt, files []Evidence) error {
	switch {
	case len(files) == 0:
		return fieldError("attachments", "请选择要补充的文件。")
	case len(files) > MaxAttachments:
		return &whistle.Error{Code: whistle.ETOOLARGE, Field: "attachments", Message: fmt.Sprintf("每次最多上传%d个文件。", MaxAttachments)}
	}
	c, dek, err := s.openCase(ctx, r)
	if err != nil {
		return err
	}
	defer dek.Wipe()
	if len(c.Attachments)+len(files) > MaxCaseAttachments {
		return &whistle.Error{Code: whistle.ETOOLARGE, Field: "attachments",
			Message: fmt.Sprintf("每件举报最多保存%d个文件，已有%d个。", MaxCaseAttachments, len(c.Attachments))}
	}
	atts, err := s.storeEvidence(ctx, dek, c.ID, s.now().UTC().Truncate(time.Millisecond), files)
	if err != nil {
		return err
	}
	_, err = s.store.UpdateCase(ctx, c.ID, func(c *whistle.Case) error {
		if len(c.Attachments)+len(atts) > MaxCaseAttachments {
			return &whistle.Error{Code: whistle.ETOOLARGE, Field: "attachments", Message: fmt.Sprintf("每件举报最多保存%d个文件。", MaxCaseAttachments)}
		}
		c.Attachments = append(c.Attachments, atts...)
		return nil
	})
	if err != nil {
		s.dropBlobs(c.ID, atts)
	}
	return err
}
