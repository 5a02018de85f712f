package intake

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }

func TestPagesAreSelfContainedAndLabelled(t *testing.T) {
	s := newTestServer(t, Limits{})
	external := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
	inline := regexp.MustCompile(`(?i)<script|style="|<style|\son[a-z]+=`)
	for _, path := range []string{"/", "/report", "/follow-up"} {
		t.Run(path, func(t *testing.T) {
			resp, body := s.do(t, get(path))
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, `name="viewport"`) {
				t.Error("not a zh-CN mobile page")
			}
			if external.MatchString(body) || inline.MatchString(body) {
				t.Error("third-party resource or inline script/style (the CSP forbids both)")
			}
			if resp.Header.Get("Content-Security-Policy") == "" {
				t.Error("no CSP")
			}
			// Every control has a label pointing at it.
			for _, m := range regexp.MustCompile(`<(?:input|textarea|select)[^>]*\bid="([^"]+)"`).FindAllStringSubmatch(body, -1) {
				if !strings.Contains(body, `for="`+m[1]+`"`) {
					t.Errorf("control #%s has no label", m[1])
				}
			}
		})
	}
	_, home := s.do(t, get("/"))
	for _, want := range []string{"12345", "12350", "匿名", "回执码"} {
		if !strings.Contains(home, want) {
			t.Errorf("home page does not mention %s", want)
		}
	}
	_, form := s.do(t, get("/report"))
	if strings.Count(form, "<option value=\"") != 1+len(Cities)+1+22 {
		t.Errorf("city/county options: %d, want %d cities, 22 counties and two 不清楚", strings.Count(form, "<option value=\""), len(Cities))
	}
	resp, css := s.do(t, get("/static/intake.css"))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(css, ".receipt") {
		t.Fatalf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestReportFormKeepsInputAndShowsErrorAtTheField(t *testing.T) {
	s := newTestServer(t, Limits{})
	resp, body := s.do(t, formRequest("/report", url.Values{
		"text": {"<script>alert('x')</script>楼道堆放液化气罐"}, "city": {"固原市"}, "county": {"兴庆区"}, "company": {"某某饭店"},
	}))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(body, `<p class="error" id="county-error">所选区县不属于固原市。</p>`) {
		t.Error("the county error is not next to the county field")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;楼道堆放液化气罐</textarea>") {
		t.Error("the description was not kept (escaped)")
	}
	if !strings.Contains(body, `value="某某饭店"`) || !strings.Contains(body, `<option value="固原市" selected>`) {
		t.Error("other fields were not kept")
	}
	if n, _ := s.store.CountCases(context.Background()); n != 0 {
		t.Fatal("an invalid report was stored")
	}
}

func TestReportFormSubmitsAndShowsReceipt(t *testing.T) {
	s := newTestServer(t, Limits{})
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"urlencoded", formRequest("/report", url.Values{"text": {"工地塔吊司机无证上岗"}, "city": {"中卫市"}, "county": {"海原县"}, "danger_now": {"no"}})},
		{"multipart with a photo", multipartRequest(t, "/report", map[string]string{"text": "工地塔吊司机无证上岗", "danger_now": "yes"}, []filePart{{"p.png", phonePNG(t)}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, tc.req)
			m := regexp.MustCompile(`<p id="receipt" class="receipt">(\d{4} \d{4} \d{4} \d{4} \d{4})</p>`).FindStringSubmatch(body)
			if resp.StatusCode != 200 || m == nil {
				t.Fatalf("%d, no receipt in page", resp.StatusCode)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Error("receipt page may be cached")
			}
			resp, _ = s.do(t, jsonRequest("/api/v1/followup", map[string]string{"receipt": m[1]}))
			if resp.StatusCode != 200 {
				t.Fatalf("the receipt shown does not open the case: %d", resp.StatusCode)
			}
		})
	}
}

func TestReportFormFileErrors(t *testing.T) {
	s := newTestServer(t, Limits{})
	resp, body := s.do(t, multipartRequest(t, "/report", map[string]string{"text": "x"}, []filePart{{"a.jpg", []byte("<html>not a photo</html>")}}))
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(body, `id="attachments-error"`) {
		t.Fatalf("%d; attachment error not at the field", resp.StatusCode)
	}
	files := make([]filePart, MaxAttachments+1)
	for i := range files {
		files[i] = filePart{"p.png", phonePNG(t)}
	}
	resp, body = s.do(t, multipartRequest(t, "/report", map[string]string{"text": "锅炉房漏气"}, files))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `id="attachments-error"`) || !strings.Contains(body, "锅炉房漏气</textarea>") {
		t.Fatalf("%d; too many files must keep the text and mark the file field", resp.StatusCode)
	}
}

// followUpSession logs in with a receipt and returns the session cookie.
func followUpSession(t *testing.T, s *testServer, receipt string) *http.Cookie {
	t.Helper()
	resp, _ := s.do(t, formRequest("/follow-up", url.Values{"receipt": {receipt}}))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func withCookie(req *http.Request, c *http.Cookie) *http.Request {
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	return req
}

func TestFollowUpSession(t *testing.T) {
	s := newTestServer(t, Limits{})
	receipt, _, err := s.svc.Submit(context.Background(), validSubmission())
	if err != nil {
		t.Fatal(err)
	}
	cookie := followUpSession(t, s, receipt.Grouped())
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != sessionPath || cookie.MaxAge <= 0 || cookie.MaxAge > int(sessionTTL.Seconds()) {
		t.Fatalf("cookie attributes: %+v", cookie)
	}
	if strings.Contains(cookie.Value, string(receipt)) {
		t.Fatal("the receipt is readable in the cookie")
	}
	resp, page := s.do(t, withCookie(get("/follow-up"), cookie))
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if resp.StatusCode != 200 || csrf == nil || !strings.Contains(page, `id="status">已受理`) {
		t.Fatalf("case page: %d", resp.StatusCode)
	}

	t.Run("message without CSRF token is refused", func(t *testing.T) {
		resp, _ := s.do(t, withCookie(formRequest("/follow-up/messages", url.Values{"text": {"hi"}}), cookie))
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("cross-site post is refused", func(t *testing.T) {
		req := withCookie(formRequest("/follow-up/messages", url.Values{"text": {"hi"}, "csrf": {csrf[1]}}), cookie)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if resp, _ := s.do(t, req); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("empty message comes back with the error at the field", func(t *testing.T) {
		resp, body := s.do(t, withCookie(formRequest("/follow-up/messages", url.Values{"text": {" "}, "csrf": {csrf[1]}}), cookie))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="message-error"`) {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("message is sent and shown escaped", func(t *testing.T) {
		resp, _ := s.do(t, withCookie(formRequest("/follow-up/messages", url.Values{"text": {"<script>x</script>"}, "csrf": {csrf[1]}}), cookie))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%d", resp.StatusCode)
		}
		_, body := s.do(t, withCookie(get("/follow-up?done=message"), cookie))
		if !strings.Contains(body, "&lt;script&gt;x&lt;/script&gt;") || strings.Contains(body, "<script>x") || !strings.Contains(body, "留言已发送") {
			t.Fatal("message not shown escaped")
		}
	})
	t.Run("evidence is added", func(t *testing.T) {
		req := withCookie(multipartRequest(t, "/follow-up/evidence", map[string]string{"csrf": csrf[1]}, []filePart{{"x.jpg", phoneJPEG(t)}}), cookie)
		if resp, _ := s.do(t, req); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%d", resp.StatusCode)
		}
		_, body := s.do(t, withCookie(get("/follow-up"), cookie))
		if !strings.Contains(body, "<dd>1 个文件</dd>") {
			t.Fatal("attachment count not updated")
		}
	})
	t.Run("tampered or expired cookie shows the login form", func(t *testing.T) {
		bad := &http.Cookie{Name: sessionCookie, Value: cookie.Value[:len(cookie.Value)-2] + "AA"}
		if _, body := s.do(t, withCookie(get("/follow-up"), bad)); !strings.Contains(body, `action="/follow-up" novalidate`) {
			t.Fatal("tampered cookie accepted")
		}
		late := *s.h.cookies
		late.now = func() time.Time { return time.Now().Add(sessionTTL + time.Second) }
		if _, err := late.open(cookie.Value); err == nil {
			t.Fatal("expired session accepted")
		}
	})
	t.Run("logout clears the cookie", func(t *testing.T) {
		resp, _ := s.do(t, withCookie(formRequest("/follow-up/logout", url.Values{"csrf": {csrf[1]}}), cookie))
		cleared := false
		for _, c := range resp.Cookies() {
			cleared = cleared || (c.Name == sessionCookie && c.Value == "" && c.Expires.Before(time.Now()))
		}
		if resp.StatusCode != http.StatusSeeOther || !cleared {
			t.Fatalf("%d, cleared=%v", resp.StatusCode, cleared)
		}
	})
}

func TestFollowUpLoginWithWrongReceipt(t *testing.T) {
	s := newTestServer(t, Limits{})
	resp, body := s.do(t, formRequest("/follow-up", url.Values{"receipt": {"1111 2222 3333 4444 5555"}}))
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "回执码不正确") || strings.Contains(body, "1111 2222") {
		t.Fatalf("%d; the wrong code must not be echoed back", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			t.Fatal("a session was issued for a wrong receipt")
		}
	}
	if resp, _ := s.do(t, formRequest("/follow-up", url.Values{"receipt": {"12"}})); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed receipt: %d", resp.StatusCode)
	}
}
