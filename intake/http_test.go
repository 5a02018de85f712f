package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/httpd"
	"whistle/internal/testenv"
)

type testServer struct {
	*testEnv
	app *fiber.App
	h   *Handler
}

func newTestServer(t testing.TB, limits Limits) *testServer {
	t.Helper()
	env := newTestEnv(t)
	d := env.deps
	d.Limits = limits
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	app := httpd.New(httpd.Options{Logger: testenv.Quiet(), BodyLimit: MaxBodyBytes})
	h.Register(app)
	return &testServer{testEnv: env, app: app, h: h}
}

func (s *testServer) do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := s.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func jsonRequest(path string, v any) *http.Request {
	b, _ := json.Marshal(v)
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func formRequest(path string, v url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

type filePart struct {
	name string
	data []byte
}

func multipartRequest(t testing.TB, path string, fields map[string]string, files []filePart) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	for _, f := range files {
		fw, err := w.CreateFormFile(attachmentsField, f.name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.data)
	}
	w.Close()
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return req
}

func apiError(t testing.TB, body string) httpd.ErrorDetail {
	t.Helper()
	var e httpd.ErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an error body: %s", body)
	}
	return e.Error
}

var receiptDigits = regexp.MustCompile(`^\d{20}$`)

func TestAPISubmitFollowAndMessage(t *testing.T) {
	s := newTestServer(t, Limits{})
	resp, body := s.do(t, jsonRequest("/api/v1/reports", map[string]any{
		"channel": "web", "text": "矿井通风设备停运，仍在井下作业", "city": "石嘴山市", "county": "惠农区", "danger_now": true, "relationship": "employee",
	}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	var created struct{ Receipt, Status string }
	json.Unmarshal([]byte(body), &created)
	if !receiptDigits.MatchString(created.Receipt) || created.Status != "received" {
		t.Fatalf("created = %s", body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("receipt response may be cached")
	}
	grouped := created.Receipt[:4] + " " + created.Receipt[4:8] + " " + created.Receipt[8:12] + " " + created.Receipt[12:16] + " " + created.Receipt[16:]
	resp, body = s.do(t, jsonRequest("/api/v1/followup/messages", map[string]string{"receipt": grouped, "text": "<img src=x onerror=alert(1)>"}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("message: %d %s", resp.StatusCode, body)
	}
	resp, body = s.do(t, jsonRequest("/api/v1/followup", map[string]string{"receipt": created.Receipt}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("follow: %d %s", resp.StatusCode, body)
	}
	var f struct {
		Messages []map[string]any
	}
	json.Unmarshal([]byte(body), &f)
	var raw map[string]any
	json.Unmarshal([]byte(body), &raw)
	for _, k := range []string{"status", "status_label", "department", "events", "messages"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("follow-up lacks %q: %s", k, body)
		}
	}
	if raw["status"] != "received" || len(f.Messages) != 1 || f.Messages[0]["text"] != "<img src=x onerror=alert(1)>" {
		t.Fatalf("follow-up = %s", body)
	}
}

// TestAPIErrorCodes covers every error status the issue names.
func TestAPIErrorCodes(t *testing.T) {
	s := newTestServer(t, Limits{})
	cases := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"missing text", func() *http.Request { return jsonRequest("/api/v1/reports", map[string]any{"city": "吴忠市"}) }, 400, whistle.EINVALID, "text"},
		{"unknown county", func() *http.Request {
			return jsonRequest("/api/v1/reports", map[string]any{"text": "x", "city": "吴忠市", "county": "兴庆区"})
		}, 400, whistle.EINVALID, "county"},
		{"hotline channel on the public API", func() *http.Request {
			return jsonRequest("/api/v1/reports", map[string]any{"text": "x", "channel": "12345"})
		}, 400, whistle.EINVALID, "channel"},
		{"wrong field type", func() *http.Request {
			return jsonRequest("/api/v1/reports", map[string]any{"text": "x", "danger_now": "yes"})
		}, 400, whistle.EINVALID, "danger_now"},
		{"unknown field", func() *http.Request {
			return jsonRequest("/api/v1/reports", map[string]any{"text": "x", "ip": "1.2.3.4"})
		}, 400, whistle.EINVALID, ""},
		{"invalid UTF-8", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/reports", strings.NewReader("{\"text\":\"\xff\xfe\"}"))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, 400, whistle.EINVALID, ""},
		{"escaped control character", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/reports", strings.NewReader(`{"text":"a\u0000b"}`))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, 400, whistle.EINVALID, "text"},
		{"malformed receipt", func() *http.Request { return jsonRequest("/api/v1/followup", map[string]string{"receipt": "12ab"}) }, 400, whistle.EINVALID, "receipt"},
		{"wrong receipt", func() *http.Request {
			return jsonRequest("/api/v1/followup", map[string]string{"receipt": "1234 5678 9012 3456 7890"})
		}, 401, whistle.EUNAUTHORIZED, "receipt"},
		{"wrong receipt for a message", func() *http.Request {
			return jsonRequest("/api/v1/followup/messages", map[string]string{"receipt": "12345678901234567890", "text": "hi"})
		}, 401, whistle.EUNAUTHORIZED, "receipt"},
		{"JSON body too large", func() *http.Request {
			return jsonRequest("/api/v1/reports", map[string]any{"text": strings.Repeat("a", maxJSONBytes)})
		}, 413, whistle.ETOOLARGE, ""},
		{"too many files", func() *http.Request {
			files := make([]filePart, MaxAttachments+1)
			for i := range files {
				files[i] = filePart{fmt.Sprintf("%d.png", i), phonePNG(t)}
			}
			return multipartRequest(t, "/api/v1/reports", map[string]string{"text": "x"}, files)
		}, 413, whistle.ETOOLARGE, "attachments"},
		{"file over 20 MB", func() *http.Request {
			big := append(phonePNG(t), make([]byte, MaxAttachmentBytes)...)
			return multipartRequest(t, "/api/v1/reports", map[string]string{"text": "x"}, []filePart{{"big.png", big}})
		}, 413, whistle.ETOOLARGE, "attachments"},
		{"plain-text body", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/reports", strings.NewReader("text=x"))
			req.Header.Set("Content-Type", "text/plain")
			return req
		}, 415, whistle.EUNSUPPORTED, ""},
		{"executable named .jpg", func() *http.Request {
			return multipartRequest(t, "/api/v1/reports", map[string]string{"text": "x"}, []filePart{{"photo.jpg", []byte("MZ\x90\x00 this is a windows program")}})
		}, 415, whistle.EUNSUPPORTED, "attachments"},
		{"HEIC photo (metadata not removable)", func() *http.Request {
			heic := append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...)
			return multipartRequest(t, "/api/v1/reports", map[string]string{"text": "x"}, []filePart{{"IMG.HEIC", heic}})
		}, 415, whistle.EUNSUPPORTED, "attachments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.store.CountCases(context.Background())
			resp, body := s.do(t, tc.req())
			e := apiError(t, body)
			if resp.StatusCode != tc.wantStatus || e.Code != tc.wantCode || e.Field != tc.wantField || e.Message == "" {
				t.Fatalf("got %d %+v, want %d %s field %q", resp.StatusCode, e, tc.wantStatus, tc.wantCode, tc.wantField)
			}
			if after, _ := s.store.CountCases(context.Background()); after != before {
				t.Fatalf("a refused request stored a case (%d → %d)", before, after)
			}
		})
	}
}

func TestAPIRateLimits(t *testing.T) {
	t.Run("submissions per source", func(t *testing.T) {
		s := newTestServer(t, Limits{Submit: Rate{Burst: 2, Every: time.Hour}})
		for i := range 3 {
			resp, body := s.do(t, jsonRequest("/api/v1/reports", map[string]any{"text": "隐患"}))
			want := http.StatusCreated
			if i == 2 {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want {
				t.Fatalf("submission %d: %d %s", i+1, resp.StatusCode, body)
			}
			if i == 2 && apiError(t, body).Code != whistle.ERATELIMITED {
				t.Fatal(body)
			}
		}
	})
	t.Run("receipt guesses per source", func(t *testing.T) {
		s := newTestServer(t, Limits{Receipt: Rate{Burst: 3, Every: time.Hour}})
		for i := range 4 {
			resp, _ := s.do(t, jsonRequest("/api/v1/followup", map[string]string{"receipt": "12345678901234567890"}))
			want := http.StatusUnauthorized
			if i == 3 {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want {
				t.Fatalf("guess %d: %d, want %d", i+1, resp.StatusCode, want)
			}
		}
	})
	t.Run("wrong receipts globally, correct ones refunded", func(t *testing.T) {
		s := newTestServer(t, Limits{ReceiptFailures: Rate{Burst: 2, Every: time.Hour}})
		receipt, _, err := s.svc.Submit(context.Background(), validSubmission())
		if err != nil {
			t.Fatal(err)
		}
		for range 5 { // correct receipts do not spend the failure budget
			if resp, _ := s.do(t, jsonRequest("/api/v1/followup", map[string]string{"receipt": string(receipt)})); resp.StatusCode != 200 {
				t.Fatalf("correct receipt: %d", resp.StatusCode)
			}
		}
		for i := range 3 {
			resp, _ := s.do(t, jsonRequest("/api/v1/followup", map[string]string{"receipt": "12345678901234567890"}))
			want := http.StatusUnauthorized
			if i == 2 {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want {
				t.Fatalf("guess %d: %d, want %d", i+1, resp.StatusCode, want)
			}
		}
	})
}

func TestAPIStoreDownIs503AndShowsNoReceipt(t *testing.T) {
	s := newTestServer(t, Limits{})
	s.store.Close(context.Background())
	resp, body := s.do(t, jsonRequest("/api/v1/reports", map[string]any{"text": "配电室积水"}))
	if resp.StatusCode != http.StatusServiceUnavailable || apiError(t, body).Code != whistle.EUNAVAILABLE || strings.Contains(body, "receipt\"") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
