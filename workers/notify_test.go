package workers_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers"
	"whistle/workers/policy"
)

// mailbox is a real SMTP server (STARTTLS, AUTH PLAIN) that keeps what it
// receives.
type mailbox struct {
	mu       sync.Mutex
	messages []*mail.Message
	bodies   []string
	logins   []string
	addr     string
}

type smtpSession struct{ box *mailbox }

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "notifier" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.box.mu.Lock()
		s.box.logins = append(s.box.logins, user)
		s.box.mu.Unlock()
		return nil
	}), nil
}
func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Reset()                               {}
func (s *smtpSession) Logout() error                        { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	raw, _ := io.ReadAll(m.Body)
	body, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	s.box.messages = append(s.box.messages, m)
	s.box.bodies = append(s.box.bodies, string(body))
	return nil
}

func startMailbox(t *testing.T, cert tls.Certificate) *mailbox {
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{box}, nil }))
	srv.Domain = "127.0.0.1"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box
}

func (b *mailbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.messages)
}

// robot is an HTTPS webhook receiver in the style of a DingTalk/WeCom
// group robot.
type robot struct {
	mu     sync.Mutex
	bodies map[string][]string // path → request bodies
	status int
	secret string // DingTalk 加签 secret checked on /dingtalk
	bad    []string
}

func (r *robot) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.URL.Path == "/dingtalk" {
		ts, sign := req.URL.Query().Get("timestamp"), req.URL.Query().Get("sign")
		m := hmac.New(sha256.New, []byte(r.secret))
		m.Write([]byte(ts + "\n" + r.secret))
		if sign != base64.StdEncoding.EncodeToString(m.Sum(nil)) {
			r.bad = append(r.bad, "dingtalk signature")
		}
	}
	r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], string(body))
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
}

func (r *robot) received(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies[path]...)
}

func startRobot(t *testing.T, status int) (*robot, *httptest.Server) {
	r := &robot{bodies: map[string][]string{}, status: status, secret: "SECabc"}
	srv := httptest.NewTLSServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func TestNotifications(t *testing.T) {
	for _, redis := range testenv.Redises() {
		t.Run(redis.Name, func(t *testing.T) {
			t.Run("MailAndWebhooksCarryOnlyALink", func(t *testing.T) { testNotifyChannels(t, redis) })
			t.Run("FailingWebhookIsRetriedThenRecordedFailed", func(t *testing.T) { testNotifyFailure(t, redis) })
		})
	}
}

func testNotifyChannels(t *testing.T, redis testenv.Redis) {
	h := newHarness(t, testenv.Stores()[0], redis)
	rob, web := startRobot(t, 0)
	roots := x509.NewCertPool()
	roots.AddCert(web.Certificate())
	box := startMailbox(t, web.TLS.Certificates[0])

	lead := h.router.Route(triage.Report{Text: craneReport, City: "银川市"}).Lead
	if err := h.store.SetNotifySettings(context.Background(), mongodb.NotifySettings{
		Target: "department:" + lead, Email: []string{"duty@example.gov.cn"},
		Webhooks: []mongodb.Webhook{
			{URL: web.URL + "/dingtalk?access_token=tok", Format: workers.FormatDingTalk, Secret: "SECabc"},
			{URL: web.URL + "/wecom?key=k", Format: workers.FormatWeCom},
			{URL: web.URL + "/json", Format: workers.FormatJSON},
		}}); err != nil {
		t.Fatal(err)
	}
	d := h.deps()
	d.Notify.HTTPClient = web.Client()
	d.Notify.SMTP = workers.SMTPConfig{Addr: box.addr, From: "whistle@example.gov.cn", Username: "notifier", Password: "s3cret",
		TLS: &tls.Config{ServerName: "127.0.0.1", RootCAs: roots}}
	h.start(d)

	id := h.submit(craneReport, "银川市", true)
	h.routed(id)
	waitFor(t, "mail and three webhooks", func() bool {
		return box.count() == 1 && len(rob.received("/dingtalk")) == 1 && len(rob.received("/wecom")) == 1 && len(rob.received("/json")) == 1
	})
	link := "https://whistle.example.gov.cn/staff/cases/" + id
	subject, _ := new(mime.WordDecoder).DecodeHeader(box.messages[0].Header.Get("Subject"))
	texts := []string{subject + box.bodies[0], rob.received("/dingtalk")[0], rob.received("/wecom")[0], rob.received("/json")[0]}
	for i, text := range texts {
		if !strings.Contains(text, link) && !strings.Contains(text, strings.ReplaceAll(link, "/", `\/`)) {
			t.Errorf("notification %d has no link to the case: %s", i, text)
		}
		// Nothing of the report may leave in a notification.
		for _, fragment := range []string{"塔吊", "钢筋", "金凤", "操作证", "工地"} {
			if strings.Contains(text, fragment) {
				t.Errorf("notification %d contains report content %q: %s", i, fragment, text)
			}
		}
	}
	if !strings.Contains(subject, "紧急") {
		t.Errorf("urgent case not marked in the subject %q", subject)
	}
	if len(box.logins) != 1 || len(rob.bad) != 0 {
		t.Fatalf("SMTP logins %v (want one, over STARTTLS), robot problems %v", box.logins, rob.bad)
	}
	waitFor(t, "deliveries settled", func() bool {
		ids, err := h.store.PendingDeliveries(context.Background(), time.Now(), 2)
		return err == nil && len(ids) == 0
	})
}

func testNotifyFailure(t *testing.T, redis testenv.Redis) {
	h := newHarness(t, testenv.Stores()[0], redis)
	_, web := startRobot(t, http.StatusInternalServerError)
	p := *h.policy
	p.Notify.MaxAttempts = policy.Quantity{Value: 2, Unit: policy.Count, Source: "test"}
	p.Notify.BackoffFirst = policy.Quantity{Value: 1, Unit: policy.Seconds, Source: "test"}
	h.policy = &p
	lead := h.router.Route(triage.Report{Text: fireExitReport, City: "石嘴山市"}).Lead
	hook := web.URL + "/robot?access_token=TOPSECRET"
	if err := h.store.SetNotifySettings(context.Background(), mongodb.NotifySettings{
		Target: "department:" + lead, Webhooks: []mongodb.Webhook{{URL: hook, Format: workers.FormatWeCom}}}); err != nil {
		t.Fatal(err)
	}
	d := h.deps()
	d.Notify.HTTPClient = web.Client()
	h.start(d)
	id := h.submit(fireExitReport, "石嘴山市", false)
	h.routed(id)

	var failed []mongodb.Delivery
	// The failed list is written before the record's status (a crash in
	// between must not hide a failure), so wait for both.
	waitFor(t, "delivery given up", func() bool {
		var err error
		failed, err = h.store.FailedDeliveries(context.Background(), time.Now(), 1)
		return err == nil && len(failed) == 1 && failed[0].Status == mongodb.DeliveryFailed
	})
	dl := failed[0]
	if dl.Attempts != 2 || dl.LastError != "webhook: HTTP 500" || dl.CaseID != id {
		t.Fatalf("failed delivery %+v: want 2 attempts and the HTTP status", dl)
	}
	ins := asynq.NewInspector(h.redis.ConnOpt())
	defer ins.Close()
	// asynq archives the task only after the handler has returned, which is
	// after the delivery record says failed.
	var archived []*asynq.TaskInfo
	waitFor(t, "notify task archived", func() bool {
		var err error
		archived, err = ins.ListArchivedTasks(queue.Default)
		return err == nil && len(archived) > 0
	})
	if len(archived) != 1 || archived[0].Type != queue.TypeNotify {
		t.Fatalf("archived %v: want the notify task, visible to operators", archived)
	}
	if strings.Contains(archived[0].LastErr, "TOPSECRET") || strings.Contains(dl.LastError, "TOPSECRET") {
		t.Fatal("the webhook's access token leaked into an error")
	}
}

func TestCheckNotifySettings(t *testing.T) {
	tests := []struct {
		name string
		s    mongodb.NotifySettings
		ok   bool
	}{
		{"mail and a robot", mongodb.NotifySettings{Target: "department:x", Email: []string{"a@b.cn"},
			Webhooks: []mongodb.Webhook{{URL: "https://oapi.dingtalk.com/robot/send?access_token=x", Format: "dingtalk"}}}, true},
		{"no target", mongodb.NotifySettings{Email: []string{"a@b.cn"}}, false},
		{"display name in address", mongodb.NotifySettings{Target: "t", Email: []string{"张三 <a@b.cn>"}}, false},
		{"header injection", mongodb.NotifySettings{Target: "t", Email: []string{"a@b.cn\r\nBcc: c@d.cn"}}, false},
		{"plain http webhook", mongodb.NotifySettings{Target: "t", Webhooks: []mongodb.Webhook{{URL: "http://x.cn/h", Format: "json"}}}, false},
		{"credentials in webhook", mongodb.NotifySettings{Target: "t", Webhooks: []mongodb.Webhook{{URL: "https://u:p@x.cn/h", Format: "json"}}}, false},
		{"unknown format", mongodb.NotifySettings{Target: "t", Webhooks: []mongodb.Webhook{{URL: "https://x.cn/h", Format: "slack"}}}, false},
	}
	for _, tt := range tests {
		err := workers.CheckNotifySettings(tt.s)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err=%v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && whistle.ErrorCode(err) != whistle.EINVALID {
			t.Errorf("%s: code %s, want invalid", tt.name, whistle.ErrorCode(err))
		}
	}
}

func FuzzCheckNotifySettings(f *testing.F) {
	f.Add("a@b.cn", "https://oapi.dingtalk.com/robot/send?access_token=x", "dingtalk")
	f.Add("a@b.cn\r\nBcc: x@y.z", "http://x", "json")
	f.Fuzz(func(t *testing.T, email, hook, format string) {
		s := mongodb.NotifySettings{Target: "t", Email: []string{email}, Webhooks: []mongodb.Webhook{{URL: hook, Format: format}}}
		if workers.CheckNotifySettings(s) != nil {
			return
		}
		if strings.ContainsAny(email, "\r\n") || !strings.HasPrefix(hook, "https://") {
			t.Fatalf("accepted email %q webhook %q", email, hook)
		}
	})
}
