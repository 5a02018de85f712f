package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/crypto"
	"whistle/queue"
)

func validSubmission() Submission {
	return Submission{
		Channel: whistle.ChannelWeb,
		Report: whistle.Report{Text: "某化工厂消防通道被堵，夜间违规动火作业。", Address: "宁东镇某路1号", Company: "某化工有限公司",
			Relationship: "employee", DangerNow: true},
		City: "银川市", County: "灵武市",
	}
}

func TestSubmitRejectsInvalidInputNamingTheField(t *testing.T) {
	env := newTestEnv(t)
	cases := []struct {
		name      string
		change    func(*Submission)
		wantCode  string
		wantField string
	}{
		{"empty text", func(s *Submission) { s.Report.Text = "  \n " }, whistle.EINVALID, "text"},
		{"text too long", func(s *Submission) { s.Report.Text = strings.Repeat("危", MaxTextRunes+1) }, whistle.EINVALID, "text"},
		{"invalid UTF-8", func(s *Submission) { s.Report.Text = "abc\xff" }, whistle.EINVALID, "text"},
		{"control character", func(s *Submission) { s.Report.Company = "某公司\x07" }, whistle.EINVALID, "company"},
		{"bidi override", func(s *Submission) { s.Report.Address = "路\u202e1号" }, whistle.EINVALID, "address"},
		{"newline in a one-line field", func(s *Submission) { s.Report.Address = "路\n1号" }, whistle.EINVALID, "address"},
		{"unknown city", func(s *Submission) { s.City = "西安市" }, whistle.EINVALID, "city"},
		{"county of another city", func(s *Submission) { s.County = "原州区" }, whistle.EINVALID, "county"},
		{"county without city", func(s *Submission) { s.City = "" }, whistle.EINVALID, "city"},
		{"unknown relationship", func(s *Submission) { s.Report.Relationship = "boss" }, whistle.EINVALID, "relationship"},
		{"unknown channel", func(s *Submission) { s.Channel = "fax" }, whistle.EINVALID, "channel"},
		{"phone with letters", func(s *Submission) { s.CallerPhone = "call me" }, whistle.EINVALID, "caller_phone"},
		{"too many files", func(s *Submission) { s.Attachments = make([]Evidence, MaxAttachments+1) }, whistle.ETOOLARGE, "attachments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := validSubmission()
			tc.change(&in)
			_, _, err := env.svc.Submit(context.Background(), in)
			var we *whistle.Error
			if !asError(err, &we) || we.Code != tc.wantCode || we.Field != tc.wantField || we.Message == "" {
				t.Fatalf("err = %v, want %s on field %q with a message", err, tc.wantCode, tc.wantField)
			}
		})
	}
}

func asError(err error, target **whistle.Error) bool {
	we, ok := err.(*whistle.Error)
	if ok {
		*target = we
	}
	return ok
}

func TestSubmitStoresSealedCaseThatOnlyHoldersOpen(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	in := validSubmission()
	in.Report.Text = `<script>alert("x")</script> 配电房漏水`
	in.Identity = "张三 13800000000"
	receipt, id, err := env.svc.Submit(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.store.Case(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Lifecycle.State != whistle.StateReceived || !c.Urgent || c.City != "银川市" || c.County != "灵武市" || c.Channel != whistle.ChannelWeb {
		t.Fatalf("stored case in clear: %+v", c)
	}
	if bytes.Contains(c.Sealed.Content, []byte("配电房")) || bytes.Contains(c.Identity.Ciphertext, []byte("张三")) {
		t.Fatal("plaintext stored")
	}
	for _, h := range []string{env.keys.TriageRecipient().Holder, env.keys.CustodianRecipient().Holder, crypto.HolderReporter(env.keys.CurrentSecrets().Version())} {
		if _, ok := c.Sealed.Keys[h]; !ok {
			t.Fatalf("no DEK copy for %s; have %v", h, keysOf(c.Sealed.Keys))
		}
	}
	if len(c.Sealed.Keys) != 3 {
		t.Fatalf("DEK sealed to %v, want exactly triage, custodian and reporter", keysOf(c.Sealed.Keys))
	}

	dek, err := env.keys.OpenTriageCopy(id, c.Sealed.Keys)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := crypto.OpenField(dek, id, FieldContent, c.Sealed.Content)
	if err != nil {
		t.Fatal(err)
	}
	var got whistle.Report
	if err := json.Unmarshal(plain, &got); err != nil || got.Text != in.Report.Text || got.Company != in.Report.Company {
		t.Fatalf("content = %+v (%v)", got, err)
	}

	// The identity vault opens for finance only, not with the case key.
	vault := crypto.Vault{Envelope: c.Identity.Ciphertext, Holders: c.Identity.Keys}
	idPlain, err := crypto.OpenIdentity(vault, id, crypto.HolderDepartment("finance", 1), env.finance)
	if err != nil || !strings.Contains(string(idPlain), "张三") {
		t.Fatalf("identity for finance: %q %v", idPlain, err)
	}
	if _, err := crypto.OpenField(dek, id, "identity", c.Identity.Ciphertext); err == nil {
		t.Fatal("the case key opens the identity vault")
	}

	// The receipt opens the case; triage was enqueued on the critical queue.
	f, err := env.svc.Follow(ctx, receipt)
	if err != nil || f.Status != whistle.StateReceived || f.StatusLabel != "已受理" {
		t.Fatalf("follow: %+v %v", f, err)
	}
	info, err := asynq.NewInspector(asynq.RedisClientOpt{Addr: env.redisURL}).GetTaskInfo(queue.Critical, queue.TypeTriage+":"+id)
	if err != nil || info.Type != queue.TypeTriage {
		t.Fatalf("triage task: %+v %v", info, err)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSubmitWithoutFinanceKeyRefusesIdentityButNotAnonymousReports(t *testing.T) {
	env := newTestEnv(t)
	d := env.deps
	d.Finance = nil
	svc, err := NewService(d)
	if err != nil {
		t.Fatal(err)
	}
	in := validSubmission()
	in.Identity = "李四"
	if _, _, err := svc.Submit(context.Background(), in); whistle.ErrorCode(err) != whistle.EUNAVAILABLE {
		t.Fatalf("identity without finance key: %v", err)
	}
	in.Identity = ""
	if _, _, err := svc.Submit(context.Background(), in); err != nil {
		t.Fatalf("anonymous report: %v", err)
	}
}

func TestSubmitSucceedsWhenRedisIsDownAndLeavesCasePending(t *testing.T) {
	env := newTestEnv(t)
	d := env.deps
	d.Queue = queue.NewClient(queue.Config{Addr: "127.0.0.1:1"}) // nothing listens there
	defer d.Queue.Close()
	svc, _ := NewService(d)
	ctx := context.Background()
	receipt, id, err := svc.Submit(ctx, validSubmission())
	if err != nil {
		t.Fatalf("a failed enqueue must not fail the submission: %v", err)
	}
	pending, err := env.store.PendingCases(ctx, 100)
	if err != nil || len(pending) != 1 || pending[0].CaseID != id || !pending[0].Urgent {
		t.Fatalf("pending = %+v %v", pending, err)
	}
	if _, err := svc.Follow(ctx, receipt); err != nil {
		t.Fatal(err)
	}
}

func TestFollowUpWithWrongReceiptIsUnauthorizedWhateverTheReason(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	receipt, _, err := env.svc.Submit(ctx, validSubmission())
	if err != nil {
		t.Fatal(err)
	}
	shredded, sid, err := env.svc.Submit(ctx, validSubmission())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.UpdateCase(ctx, sid, func(c *whistle.Case) error { c.Sealed.Keys = map[string][]byte{}; return nil }); err != nil {
		t.Fatal(err)
	}
	near := []byte(string(receipt))
	near[19] = '0' + (near[19]-'0'+1)%10
	cases := []struct {
		name    string
		receipt crypto.Receipt
	}{
		{"never issued", crypto.NewReceipt()},
		{"one digit off", crypto.Receipt(near)},
		{"case shredded", shredded},
	}
	var messages []string
	for _, tc := range cases {
		_, err := env.svc.Follow(ctx, tc.receipt)
		if whistle.ErrorCode(err) != whistle.EUNAUTHORIZED {
			t.Fatalf("%s: %v", tc.name, err)
		}
		messages = append(messages, whistle.ErrorMessage(err))
		if err := env.svc.AddMessage(ctx, tc.receipt, "你好"); whistle.ErrorCode(err) != whistle.EUNAUTHORIZED {
			t.Fatalf("%s: message: %v", tc.name, err)
		}
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Fatalf("answers differ (%q vs %q): they tell whether a case exists", m, messages[0])
		}
	}
}

func TestMessagesAndEvidenceReachTheCaseSealed(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	receipt, id, err := env.svc.Submit(ctx, validSubmission())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.svc.AddMessage(ctx, receipt, "补充：<b>每晚</b>十点动火"); err != nil {
		t.Fatal(err)
	}
	// A handler answers, as the staff console will: sealed with the case key.
	c, _ := env.store.Case(ctx, id)
	dek, _ := env.keys.OpenTriageCopy(id, c.Sealed.Keys)
	reply := whistle.Message{ID: whistle.NewID(), At: time.Now().UTC(), From: whistle.RoleHandler, By: "u1"}
	reply.Body, _ = crypto.SealField(dek, 1, id, MessageField(reply.ID), []byte("已收到，将尽快核查。"))
	if _, err := env.store.UpdateCase(ctx, id, func(c *whistle.Case) error {
		c.Messages = append(c.Messages, reply)
		_, err := c.Lifecycle.Apply(whistle.Actor{ID: "triage", Role: whistle.RoleSystem}, whistle.Command{Action: whistle.ActionRoute, Department: "yjglt", Reason: "第十三条"}, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ev, err := PrepareEvidence("现场.jpg", phoneJPEG(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.svc.AddEvidence(ctx, receipt, []Evidence{ev}); err != nil {
		t.Fatal(err)
	}
	f, err := env.svc.Follow(ctx, receipt)
	if err != nil {
		t.Fatal(err)
	}
	if f.Department != "应急管理厅" || f.Status != whistle.StateRouted || f.StatusLabel != "已转交主管部门" || len(f.Events) != 2 || f.Attachments != 1 {
		t.Fatalf("follow-up = %+v", f)
	}
	if len(f.Messages) != 2 || !f.Messages[0].FromReporter || f.Messages[0].Text != "补充：<b>每晚</b>十点动火" ||
		f.Messages[1].FromReporter || f.Messages[1].Text != "已收到，将尽快核查。" {
		t.Fatalf("messages = %+v", f.Messages)
	}
	stored, _ := env.store.Case(ctx, id)
	for _, m := range stored.Messages {
		if bytes.Contains(m.Body, []byte("动火")) {
			t.Fatal("message stored in clear")
		}
	}
}

// TestPhotoReadBackByDepartmentHasNoGPS is the acceptance check: the
// department, opening the case with its own key after routing, reads the
// photo back and finds no EXIF GPS tag, while the image still decodes.
func TestPhotoReadBackByDepartmentHasNoGPS(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	photo := phoneJPEG(t)
	if !hasEXIFGPS(photo) {
		t.Fatal("fixture has no GPS tag: the test would prove nothing")
	}
	ev, err := PrepareEvidence("IMG_0001.jpg", photo)
	if err != nil {
		t.Fatal(err)
	}
	in := validSubmission()
	in.Attachments = []Evidence{ev}
	_, id, err := env.svc.Submit(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// Routing re-seals the DEK from the triage copy to the department key.
	department := crypto.GenerateKeyPair()
	c, _ := env.store.Case(ctx, id)
	triageKey, _ := env.keys.TriageKey(1)
	deptCopy, err := crypto.ResealDataKey(c.Sealed.Keys[env.keys.TriageRecipient().Holder], id, triageKey, department.Public)
	if err != nil {
		t.Fatal(err)
	}
	dek, err := crypto.OpenDataKey(deptCopy, id, department)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Attachments[0]
	if a.Type != TypeJPEG || a.Chunk < 1 {
		t.Fatalf("attachment = %+v", a)
	}
	r, err := crypto.NewAttachmentReader(env.store.OpenBlob(ctx, id, a.ID, a.Chunk), dek, id, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != a.Size {
		t.Fatalf("read %d bytes, recorded size %d", len(got), a.Size)
	}
	if hasEXIFGPS(got) || bytes.Contains(got, []byte("Exif\x00\x00")) || bytes.Contains(got, []byte("Zhang San")) || bytes.Contains(got, []byte("xmpmeta")) {
		t.Fatal("metadata survived the round trip")
	}
	if _, err := jpeg.Decode(bytes.NewReader(got)); err != nil {
		t.Fatalf("stripped photo no longer decodes: %v", err)
	}
	name, err := crypto.OpenField(dek, id, AttachmentNameField(a.ID), a.Name)
	if err != nil || string(name) != "IMG_0001.jpg" {
		t.Fatalf("name = %q %v", name, err)
	}
}
