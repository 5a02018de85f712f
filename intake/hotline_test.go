package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/bson"

	"whistle"
	"whistle/admin"
	"whistle/crypto"
	"whistle/httpd"
	"whistle/internal/testenv"
)

const agentPassword = "agent-password-123"

// consoleSite is the hotline console behind the real staff login.
type consoleSite struct {
	env *testEnv
	app *fiber.App
}

func newConsoleSite(t *testing.T) *consoleSite {
	t.Helper()
	env := newTestEnv(t)
	app := httpd.New(httpd.Options{Logger: testenv.Quiet(), BodyLimit: MaxBodyBytes})
	cs, err := admin.New(admin.Deps{Store: env.store, Logger: testenv.Quiet(), KDF: crypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	cs.Register(app)
	h, err := NewHotline(env.svc, HotlineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(app)
	return &consoleSite{env: env, app: app}
}

// staffClient is a signed-in browser: its session cookie and CSRF token.
type staffClient struct {
	site    *consoleSite
	cookies string
	csrf    string
}

func (s *consoleSite) do(t *testing.T, method, path, contentType string, body io.Reader, cookies string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if cookies != "" {
		req.Header.Set("Cookie", cookies)
	}
	res, err := s.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, string(raw)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn creates a member with role and logs in through the login form.
func (s *consoleSite) signIn(t *testing.T, role whistle.Role) *staffClient {
	t.Helper()
	ctx := context.Background()
	name := "agent-" + strings.ToLower(whistle.NewID())
	if err := admin.CreateUser(ctx, s.env.store, admin.NewUser{Username: name, Role: role, Department: "自治区应急管理厅"},
		agentPassword, crypto.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, s.env.deps.Now()); err != nil {
		t.Fatal(err)
	}
	res, _ := s.do(t, http.MethodGet, admin.LoginPath, "", nil, "")
	var login string
	for _, c := range res.Cookies() {
		if c.Name == "whistle_login" {
			login = c.Value
		}
	}
	form := url.Values{"csrf": {login}, "username": {name}, "password": {agentPassword}}
	res, _ = s.do(t, http.MethodPost, admin.LoginPath, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "whistle_login="+login)
	c := &staffClient{site: s}
	for _, ck := range res.Cookies() {
		if ck.Name == "whistle_staff" {
			c.cookies = "whistle_staff=" + ck.Value
		}
	}
	if res.StatusCode != http.StatusSeeOther || c.cookies == "" {
		t.Fatalf("login as %s: %d", role, res.StatusCode)
	}
	if role == whistle.RoleHotlineAgent {
		if loc := res.Header.Get("Location"); loc != HotlinePath {
			t.Fatalf("agent landed on %q", loc)
		}
		_, page := s.do(t, http.MethodGet, HotlinePath, "", nil, c.cookies)
		m := csrfInput.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no csrf token on the console: %s", page)
		}
		c.csrf = m[1]
	}
	return c
}

// callForm is one console submission.
type callForm struct {
	fields    map[string]string
	recording []byte
	noCSRF    bool
}

func (c *staffClient) submit(t *testing.T, f callForm) (int, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if !f.noCSRF {
		w.WriteField("csrf", c.csrf)
	}
	for k, v := range f.fields {
		w.WriteField(k, v)
	}
	if f.recording != nil {
		fw, _ := w.CreateFormFile(attachmentsField, callerNumber+"_20260302.wav")
		fw.Write(f.recording)
	}
	w.Close()
	res, page := c.site.do(t, http.MethodPost, HotlinePath, w.FormDataContentType(), &body, c.cookies)
	return res.StatusCode, page
}

var (
	receiptOnPage = regexp.MustCompile(`id="receipt"[^>]*>(\d{4} \d{4} \d{4} \d{4} \d{4})<`)
	caseOnPage    = regexp.MustCompile(`<dt>案件编号</dt><dd>([0-9a-z]+)</dd>`)
	focusedTags   = regexp.MustCompile(`<[^<>]*\bautofocus\b[^<>]*>`)
)

func TestHotlineConsoleAccess(t *testing.T) {
	s := newConsoleSite(t)
	handler := s.signIn(t, whistle.RoleHandler)
	agent := s.signIn(t, whistle.RoleHotlineAgent)
	tests := []struct {
		name    string
		cookies string
		want    int
	}{
		{"AnonymousIsSentToLogin", "", http.StatusSeeOther},
		{"HandlerIsForbidden", handler.cookies, http.StatusForbidden},
		{"AgentIsServed", agent.cookies, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := s.do(t, http.MethodGet, HotlinePath, "", nil, tc.cookies)
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
	t.Run("FormIsKeyboardFirstAndCSPClean", func(t *testing.T) {
		res, page := s.do(t, http.MethodGet, HotlinePath+"?channel=12350", "", nil, agent.cookies)
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Error("console page may be cached")
		}
		for _, want := range []string{`lang="zh-CN"`, `id="text" name="text"`, "autofocus", `accesskey="s"`, `accesskey="1"`,
			`accesskey="4"`, `value="12350" accesskey="2" checked`, `enctype="multipart/form-data"`, `href="/staff/static/staff.css"`} {
			if !strings.Contains(page, want) {
				t.Errorf("console lacks %s", want)
			}
		}
		for _, banned := range []string{"<script", "style=", "<style", "tabindex=\"1", "http://", "https://"} {
			if strings.Contains(page, banned) {
				t.Errorf("console contains %q", banned)
			}
		}
		if strings.Count(page, "autofocus") != 1 || strings.Index(page, "autofocus") < strings.Index(page, `id="text"`) {
			t.Error("the report text must be the one autofocused field")
		}
	})
}

func TestHotlineConsoleSubmissions(t *testing.T) {
	s := newConsoleSite(t)
	agent := s.signIn(t, whistle.RoleHotlineAgent)
	ctx := context.Background()
	report := "来电人反映：某商场消防通道被货物堵塞，安全出口上锁。"

	tests := []struct {
		name       string
		form       callForm
		wantStatus int
		wantField  string // the field the error is shown at
		wantText   string // on the page
		banned     string // must not be on the page
		check      func(t *testing.T, c *whistle.Case)
	}{
		{
			name: "CallbackConsentSealsThePhone",
			form: callForm{fields: map[string]string{"channel": "12350", "text": report, "city": "银川市", "county": "金凤区",
				"company": "某商场", "danger_now": "yes", "callback_consent": "yes", "caller_phone": callerNumber}},
			wantStatus: http.StatusOK, wantText: "已加密登记回访电话",
			check: func(t *testing.T, c *whistle.Case) {
				if c.Channel != whistle.ChannelSafety || !c.Urgent || c.City != "银川市" || c.Identity == nil {
					t.Fatalf("stored %+v", c)
				}
				raw, _ := bson.Marshal(c)
				if bytes.Contains(raw, []byte(callerNumber)) {
					t.Fatal("the caller number is stored in clear")
				}
				id, err := crypto.OpenIdentity(crypto.Vault{Envelope: c.Identity.Ciphertext, Holders: c.Identity.Keys}, c.ID,
					crypto.HolderDepartment("finance", 1), s.env.finance)
				var rec identityRecord
				if err != nil || json.Unmarshal(id, &rec) != nil || rec.CallerPhone != callerNumber || !rec.CallbackConsent {
					t.Fatalf("vault %q %v", id, err)
				}
			},
		},
		{
			name:       "PhoneWithoutConsentIsRefusedAndNotEchoed",
			form:       callForm{fields: map[string]string{"channel": "12345", "text": report, "caller_phone": callerNumber}},
			wantStatus: http.StatusBadRequest, wantField: "caller_phone", wantText: "来电人未同意回访", banned: callerNumber,
		},
		{
			name:       "ConsentWithoutPhoneIsRefused",
			form:       callForm{fields: map[string]string{"channel": "12345", "text": report, "callback_consent": "yes"}},
			wantStatus: http.StatusBadRequest, wantField: "caller_phone", wantText: "请填写回访电话",
		},
		{
			name:       "RecordingWithoutConsentIsRefused",
			form:       callForm{fields: map[string]string{"channel": "12345", "text": report}, recording: taggedWAV()},
			wantStatus: http.StatusBadRequest, wantField: "attachments", wantText: "来电人未同意录音",
		},
		{
			name:       "RecordingWithConsentIsStrippedAndSealed",
			form:       callForm{fields: map[string]string{"channel": "letter", "text": report, "recording_consent": "yes"}, recording: taggedWAV()},
			wantStatus: http.StatusOK, wantText: "已清除元数据并加密保存",
			check: func(t *testing.T, c *whistle.Case) {
				if c.Channel != whistle.ChannelLetter || len(c.Attachments) != 1 || c.Attachments[0].Type != TypeWAV || c.Identity != nil {
					t.Fatalf("stored %+v", c)
				}
				dek, err := s.env.keys.OpenTriageCopy(c.ID, c.Sealed.Keys)
				if err != nil {
					t.Fatal(err)
				}
				a := c.Attachments[0]
				r, err := crypto.NewAttachmentReader(s.env.store.OpenBlob(ctx, c.ID, a.ID, a.Chunk), dek, c.ID, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				want := wavFile(riffChunk("fmt ", pcmFormat), riffChunk("data", samples(801)))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("recording read back: %d bytes, %v; want the stripped WAV", len(got), err)
				}
				name, err := crypto.OpenField(dek, c.ID, AttachmentNameField(a.ID), a.Name)
				if err != nil || string(name) != "通话录音.wav" {
					t.Fatalf("sealed name %q %v", name, err)
				}
			},
		},
		{
			name:       "UnsupportedRecordingIsRefused",
			form:       callForm{fields: map[string]string{"channel": "12345", "text": report, "recording_consent": "yes"}, recording: []byte("not audio")},
			wantStatus: http.StatusUnsupportedMediaType, wantField: "attachments", wantText: "WAV、MP3 或 AMR",
		},
		{
			name:       "UnknownChannelIsRefused",
			form:       callForm{fields: map[string]string{"channel": "web", "text": report}},
			wantStatus: http.StatusBadRequest, wantField: "channel", wantText: "请选择受理渠道",
		},
		{
			name:       "EmptyReportIsRefused",
			form:       callForm{fields: map[string]string{"channel": "visit", "text": "  "}},
			wantStatus: http.StatusBadRequest, wantField: "text",
		},
		{
			name:       "ScriptInTheReportIsEscapedWhenTheFormComesBack",
			form:       callForm{fields: map[string]string{"channel": "visit", "text": "<script>alert(1)</script>", "county": "原州区", "city": "银川市"}},
			wantStatus: http.StatusBadRequest, wantField: "county", banned: "<script>",
		},
		{
			name:       "MissingCSRFIsForbidden",
			form:       callForm{fields: map[string]string{"channel": "12345", "text": report}, noCSRF: true},
			wantStatus: http.StatusForbidden,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.env.store.CountCases(ctx)
			status, page := agent.submit(t, tc.form)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, page)
			}
			if tc.wantText != "" && !strings.Contains(page, tc.wantText) {
				t.Fatalf("page lacks %q", tc.wantText)
			}
			if tc.banned != "" && strings.Contains(page, tc.banned) {
				t.Fatalf("page shows %q", tc.banned)
			}
			if tc.wantField != "" && !strings.Contains(page, `id="`+tc.wantField+`-error"`) {
				t.Fatalf("no error shown at field %s", tc.wantField)
			}
			if tc.wantField != "" {
				focused := focusedTags.FindAllString(page, -1)
				if len(focused) != 1 || !strings.Contains(focused[0], `name="`+tc.wantField+`"`) {
					t.Fatalf("focus is on %q, want the field in error (%s)", focused, tc.wantField)
				}
			}
			after, _ := s.env.store.CountCases(ctx)
			if status != http.StatusOK {
				if after != before {
					t.Fatal("a refused submission stored a case")
				}
				return
			}
			m, cm := receiptOnPage.FindStringSubmatch(page), caseOnPage.FindStringSubmatch(page)
			if m == nil || cm == nil || after != before+1 {
				t.Fatalf("no grouped receipt or case id on the result page: %s", page)
			}
			if !strings.Contains(page, `href="/hotline?channel=`+tc.form.fields["channel"]+`" autofocus`) {
				t.Error("the next-call link does not keep the channel or lacks focus")
			}
			receipt, err := crypto.ParseReceipt(m[1])
			if err != nil {
				t.Fatal(err)
			}
			f, err := s.env.svc.Follow(ctx, receipt)
			if err != nil || f.Status != whistle.StateReceived {
				t.Fatalf("the read-back receipt does not open the case: %v", err)
			}
			c, err := s.env.store.Case(ctx, cm[1])
			if err != nil {
				t.Fatal(err)
			}
			trail, err := s.env.store.AuditTrail(ctx, c.ID)
			if err != nil || len(trail) != 1 || trail[0].Action != AuditHotlineSubmit || trail[0].Role != whistle.RoleHotlineAgent {
				t.Fatalf("audit %+v %v", trail, err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}
