package workers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/metrics"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers/policy"
	"whistle/workers/sla"
)

// Staff notifications say that a case needs someone and link to it — never
// anything of the report: no content, no company, no place, no kind. They
// leave by SMTP or by an HTTPS webhook (DingTalk and WeCom group robots, or
// generic JSON). Each destination is one delivery record (the outbox) and
// one notify:deliver task with its own retries; a delivery that fails every
// attempt, or has nowhere to go, is recorded as failed and listed for the
// staff console (mongodb.FailedDeliveries) and counted in
// whistle_task_outcomes_total{type="notify:deliver"}.

// Webhook formats.
const (
	FormatDingTalk = "dingtalk"
	FormatWeCom    = "wecom"
	FormatJSON     = "json"
)

// what kinds of event a notification reports.
type what int

const (
	whatRouted what = iota
	whatOverdue
	whatLapsed
)

// event is one thing to tell one or more groups about.
type event struct {
	id       string // stable: the same event always has the same id
	caseID   string
	what     what
	urgent   bool
	referral bool
	clock    string // overdue / lapsed: which clock
}

type notifier struct {
	cfg     NotifyConfig
	client  *http.Client
	timeout time.Duration
	max     int
	log     *slog.Logger
}

func newNotifier(cfg NotifyConfig, p *policy.Policy, log *slog.Logger) (*notifier, error) {
	n := &notifier{cfg: cfg, client: cfg.HTTPClient, timeout: p.Notify.SendTimeout.Duration(),
		max: p.Notify.MaxAttempts.Value, log: log}
	if n.client == nil {
		n.client = &http.Client{Timeout: n.timeout}
	}
	if cfg.SMTP.Addr != "" {
		if _, _, err := net.SplitHostPort(cfg.SMTP.Addr); err != nil {
			return nil, fmt.Errorf("workers: SMTP address %q: %w", cfg.SMTP.Addr, err)
		}
		if err := checkEmail(cfg.SMTP.From); err != nil {
			return nil, fmt.Errorf("workers: SMTP sender: %w", err)
		}
	}
	return n, nil
}

// CheckNotifySettings validates settings before they are stored (the staff
// console calls it): e-mail addresses must be plain addresses, webhooks
// absolute https URLs without credentials in them, formats known.
func CheckNotifySettings(s mongodb.NotifySettings) error {
	if s.Target == "" {
		return whistle.FieldError("target", "缺少通知对象。")
	}
	for _, a := range s.Email {
		if err := checkEmail(a); err != nil {
			return whistle.FieldError("email", fmt.Sprintf("邮箱地址 %q 无效。", a))
		}
	}
	for _, h := range s.Webhooks {
		if err := checkWebhookURL(h.URL); err != nil {
			return whistle.FieldError("webhook", "Webhook 地址必须是完整的 https 地址。")
		}
		switch h.Format {
		case FormatDingTalk, FormatWeCom, FormatJSON:
		default:
			return whistle.FieldError("webhook", "Webhook 格式只能是 dingtalk、wecom 或 json。")
		}
	}
	return nil
}

func checkEmail(a string) error {
	addr, err := mail.ParseAddress(a)
	if err != nil || addr.Name != "" || addr.Address != a || strings.ContainsAny(a, "\r\n") {
		return fmt.Errorf("%q is not a plain e-mail address", a)
	}
	return nil
}

func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("not an absolute https URL without credentials")
	}
	return nil
}

// send makes sure every destination of target has a delivery record for ev
// and a task to send it. Records are created once (their id derives from
// the event, target and destination), so calling send again — a retried
// handler, a re-run after a crash — sends nothing twice. A target without
// settings gets one failed record saying so.
func (n *notifier) send(ctx context.Context, w *Workers, ev event, target sla.Target) error {
	s, err := w.store.NotifySettingsOf(ctx, target.Key())
	if whistle.ErrorCode(err) == whistle.ENOTFOUND {
		s, err = &mongodb.NotifySettings{Target: target.Key()}, nil
	}
	if err != nil {
		return err
	}
	subject, text := n.message(ev, target)
	base := mongodb.Delivery{Event: ev.id, CaseID: ev.caseID, Target: target.Key(), Subject: subject, Text: text,
		Status: mongodb.DeliveryPending, CreatedAt: w.now()}
	var deliveries []mongodb.Delivery
	for _, a := range s.Email {
		dl := base
		dl.Channel, dl.Dest = "email", a
		deliveries = append(deliveries, dl)
	}
	for _, h := range s.Webhooks {
		dl := base
		dl.Channel, dl.Dest, dl.Format, dl.Secret = "webhook", h.URL, h.Format, h.Secret
		deliveries = append(deliveries, dl)
	}
	if len(deliveries) == 0 {
		dl := base
		dl.Status, dl.LastError = mongodb.DeliveryFailed, "未配置通知方式（邮箱或 Webhook）"
		created, err := w.store.CreateDelivery(ctx, withID(dl))
		if created {
			metrics.ObserveTask(queue.TypeNotify, "no_destination")
			w.log.Warn("notification has nowhere to go", "target", target.Key(), "event", ev.id)
		}
		return err
	}
	for _, dl := range deliveries {
		dl = withID(dl)
		if _, err := w.store.CreateDelivery(ctx, dl); err != nil {
			return err
		}
		// Best effort: a delivery whose task is lost is pending in the store
		// and the sweep enqueues it again.
		if err := w.queue.EnqueueBestEffort(ctx, queue.NotifyTask(dl.ID, n.max)); err != nil {
			w.log.Warn("notify enqueue failed; the sweep will retry", "delivery", dl.ID, "err", err)
		}
	}
	return nil
}

// withID derives the delivery id from what makes it unique.
func withID(dl mongodb.Delivery) mongodb.Delivery {
	sum := sha256.Sum256([]byte(dl.Event + "\x00" + dl.Target + "\x00" + dl.Channel + "\x00" + dl.Dest))
	dl.ID = hex.EncodeToString(sum[:16])
	return dl
}

var clockLabels = map[string]string{
	sla.SignFor: "签收", sla.Handling: "核查处理", sla.Rectification: "整改", sla.Feedback: "答复举报人", sla.RewardClaim: "举报奖励领取",
}

// message is the subject and text for one group: what kind of attention is
// needed and the link, nothing else.
func (n *notifier) message(ev event, t sla.Target) (subject, text string) {
	link := strings.TrimRight(n.cfg.BaseURL, "/") + "/staff/cases/" + ev.caseID
	label := clockLabels[ev.clock]
	switch {
	case ev.what == whatRouted && ev.referral && t == sla.Target{Kind: sla.Department, Name: triage.DisciplineCommission}:
		subject, text = "【吹哨】问题线索抄送", "有一件举报涉及公职人员的问题线索，已按规定抄送贵单位，请登录查看。"
	case ev.what == whatRouted && t.Kind == sla.Coordination:
		subject, text = "【吹哨】案件分办提示", "本辖区有一件紧急或建议提级督办的案件已分办，请登录关注。"
	case ev.what == whatRouted:
		subject, text = "【吹哨】新案件待签收", "有一件举报案件已分办到贵单位，请在签收期限内登录查看并签收。"
	case ev.what == whatOverdue && t.Kind == sla.Supervisor:
		subject, text = "【吹哨】案件逾期提醒", "贵单位有一件案件的"+label+"期限已届满，请督促承办人员办理。"
	case ev.what == whatOverdue:
		subject, text = "【吹哨】案件逾期督办", "有一件案件的"+label+"期限已届满，承办部门仍未办理，请督办。"
	default: // whatLapsed
		subject, text = "【吹哨】领奖期限届满", "有一件案件的"+label+"期限已届满，请登录查看并按规定处理。"
	}
	if ev.urgent {
		subject = "【紧急】" + subject
	}
	return subject, text + "\n" + link
}

// handleNotify sends one delivery. Its record says whether it was sent
// already (a duplicate task then does nothing) and keeps every attempt's
// error; the last allowed attempt marks it failed.
func (w *Workers) handleNotify(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeDelivery(t.Payload())
	if err != nil {
		return err
	}
	dl, err := w.store.DeliveryByID(ctx, p.DeliveryID)
	if whistle.ErrorCode(err) == whistle.ENOTFOUND {
		return fmt.Errorf("%w: delivery %s not found", asynq.SkipRetry, p.DeliveryID)
	}
	if err != nil {
		return err
	}
	if dl.Status != mongodb.DeliveryPending {
		return nil
	}
	sendErr := w.notify.deliver(ctx, dl)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	msg := ""
	if sendErr != nil {
		msg = sendErr.Error()
	}
	if err := w.store.SettleDelivery(ctx, dl.ID, msg, retried >= maxRetry, w.now()); err != nil {
		return errors.Join(sendErr, err)
	}
	return sendErr
}

// deliver sends one delivery. Errors never carry the webhook URL (it holds
// the robot's access token) and are safe to store and show.
func (n *notifier) deliver(ctx context.Context, dl *mongodb.Delivery) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	switch dl.Channel {
	case "email":
		return n.sendMail(ctx, dl.Dest, dl.Subject, dl.Text)
	case "webhook":
		return n.postWebhook(ctx, dl)
	}
	return fmt.Errorf("%w: unknown channel %q", asynq.SkipRetry, dl.Channel)
}

func (n *notifier) sendMail(ctx context.Context, to, subject, text string) error {
	cfg := n.cfg.SMTP
	if cfg.Addr == "" {
		return errors.New("未配置 SMTP 服务器")
	}
	if err := checkEmail(to); err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	secure := false
	if ok, _ := c.Extension("STARTTLS"); ok {
		tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if cfg.TLS != nil {
			tc = cfg.TLS.Clone()
		}
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
		secure = true
	}
	if cfg.Username != "" {
		if !secure {
			return errors.New("smtp: the server offers no STARTTLS; refusing to send the password in clear")
		}
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(cfg.From); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if _, err := wc.Write(mailMessage(cfg.From, to, subject, text, time.Now())); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return c.Quit()
}

// mailMessage is a plain-text UTF-8 message, base64 body, encoded subject.
func mailMessage(from, to, subject, text string, at time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n", from, to,
		mime.BEncoding.Encode("UTF-8", subject), at.Format(time.RFC1123Z))
	b.WriteString("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	body := base64.StdEncoding.EncodeToString([]byte(text))
	for len(body) > 76 {
		b.WriteString(body[:76] + "\r\n")
		body = body[76:]
	}
	b.WriteString(body + "\r\n")
	return b.Bytes()
}

// robotReply is the answer of DingTalk and WeCom robots: HTTP 200 with a
// non-zero errcode when the message was refused.
type robotReply struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (n *notifier) postWebhook(ctx context.Context, dl *mongodb.Delivery) error {
	if err := checkWebhookURL(dl.Dest); err != nil {
		return fmt.Errorf("%w: webhook: %v", asynq.SkipRetry, err)
	}
	target := dl.Dest
	var body any
	switch dl.Format {
	case FormatDingTalk, FormatWeCom:
		body = map[string]any{"msgtype": "text", "text": map[string]string{"content": dl.Subject + "\n" + dl.Text}}
		if dl.Format == FormatDingTalk && dl.Secret != "" {
			target = signDingTalk(target, dl.Secret, time.Now())
		}
	case FormatJSON:
		body = map[string]string{"subject": dl.Subject, "text": dl.Text, "case_id": dl.CaseID}
	default:
		return fmt.Errorf("%w: unknown webhook format %q", asynq.SkipRetry, dl.Format)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: webhook request could not be built", asynq.SkipRetry)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := n.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the url.Error would print the URL and its access token
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
	}
	if dl.Format != FormatJSON {
		var r robotReply
		if err := json.Unmarshal(reply, &r); err != nil {
			return errors.New("webhook: robot reply is not JSON")
		}
		if r.ErrCode != 0 {
			return fmt.Errorf("webhook: robot refused the message: errcode %d %.200s", r.ErrCode, r.ErrMsg)
		}
	}
	return nil
}

// signDingTalk adds DingTalk's signature for robots with 加签: timestamp in
// milliseconds and base64(HMAC-SHA256(secret, timestamp + "\n" + secret)).
func signDingTalk(raw, secret string, at time.Time) string {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "\n" + secret))
	sign := base64.StdEncoding.EncodeToString(m.Sum(nil))
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + "timestamp=" + ts + "&sign=" + url.QueryEscape(sign)
}
