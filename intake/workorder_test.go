package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/crypto"
	"whistle/httpd"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

// orderSite is the work-order import on real backends, with a clock the
// test moves (leases) and an API key.
type orderSite struct {
	env   *testEnv
	clock *testenv.Clock
	svc   *Service
	app   *fiber.App
	key   string
}

func newOrderSite(t testing.TB, o HotlineOptions) *orderSite {
	t.Helper()
	env := newTestEnv(t)
	clk := testenv.NewClock(time.Now())
	deps := env.deps
	deps.Now = clk.Now
	svc, err := NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	s := &orderSite{env: env, clock: clk, svc: svc}
	s.app = s.newApp(t, o)
	if s.key, err = CreateAPIKey(context.Background(), env.store, "12345平台", clk.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

// newApp mounts another Hotline on the same service and store, as a second
// process would.
func (s *orderSite) newApp(t testing.TB, o HotlineOptions) *fiber.App {
	t.Helper()
	h, err := NewHotline(s.svc, o)
	if err != nil {
		t.Fatal(err)
	}
	app := httpd.New(httpd.Options{Logger: testenv.Quiet(), BodyLimit: MaxBodyBytes})
	h.Register(app)
	return app
}

type apiResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (s *orderSite) post(t testing.TB, app *fiber.App, auth, contentType string, body []byte) apiResponse {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, WorkOrderPath, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := app.Test(req, -1)
	if err != nil {
		t.Error(err)
		return apiResponse{}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := apiResponse{status: res.StatusCode, header: res.Header, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

func (s *orderSite) push(t testing.TB, app *fiber.App, order map[string]any) apiResponse {
	t.Helper()
	b, _ := json.Marshal(order)
	return s.post(t, app, "Bearer "+s.key, "application/json", b)
}

func newOrder() map[string]any {
	return map[string]any{
		"order_no":    "NX2026" + strings.ToUpper(whistle.NewID()),
		"received_at": time.Now().Add(-time.Hour).Format(time.RFC3339),
		"content":     "来电反映：某化工厂储罐区可燃气体报警器长期关闭，夜间有异味。",
		"city":        "银川市",
		"county":      "灵武市",
		"address":     "宁东镇某路",
	}
}

func errField(r apiResponse) (code, field string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

var plainReceipt = regexp.MustCompile(`^\d{20}$`)

func TestWorkOrderImportRefusals(t *testing.T) {
	s := newOrderSite(t, HotlineOptions{})
	ctx := context.Background()
	revoked, err := CreateAPIKey(ctx, s.env.store, "旧平台", s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := RevokeAPIKey(ctx, s.env.store, "旧平台", s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	good := func(edit func(map[string]any)) []byte {
		o := newOrder()
		edit(o)
		b, _ := json.Marshal(o)
		return b
	}
	wrongSecret := s.key[:len(s.key)-1] + "0"
	if strings.HasSuffix(s.key, "0") {
		wrongSecret = s.key[:len(s.key)-1] + "1"
	}
	tests := []struct {
		name        string
		auth, ctype string
		body        []byte
		wantStatus  int
		wantField   string
	}{
		{"NoKey", "", "application/json", good(func(map[string]any) {}), 401, ""},
		{"NotBearer", "Basic " + s.key, "application/json", good(func(map[string]any) {}), 401, ""},
		{"WrongSecret", "Bearer " + wrongSecret, "application/json", good(func(map[string]any) {}), 401, ""},
		{"UnknownKeyID", "Bearer wk_0000000000000000_" + strings.Repeat("ab", 32), "application/json", good(func(map[string]any) {}), 401, ""},
		{"RevokedKey", "Bearer " + revoked, "application/json", good(func(map[string]any) {}), 401, ""},
		{"NotJSON", "Bearer " + s.key, "text/plain", good(func(map[string]any) {}), 415, ""},
		{"FormBody", "Bearer " + s.key, "application/x-www-form-urlencoded", []byte("order_no=1"), 415, ""},
		{"TooLarge", "Bearer " + s.key, "application/json", bytes.Repeat([]byte(" "), maxJSONBytes+1), 413, ""},
		{"BrokenJSON", "Bearer " + s.key, "application/json", []byte(`{"order_no":`), 400, ""},
		{"InvalidUTF8", "Bearer " + s.key, "application/json", []byte("{\"order_no\":\"A1\",\"content\":\"\xff\"}"), 400, ""},
		{"UnknownField", "Bearer " + s.key, "application/json", good(func(o map[string]any) { o["priority"] = 1 }), 400, ""},
		{"WrongType", "Bearer " + s.key, "application/json", good(func(o map[string]any) { o["callback_consent"] = "yes" }), 400, "callback_consent"},
		{"MissingOrderNo", "Bearer " + s.key, "application/json", good(func(o map[string]any) { delete(o, "order_no") }), 400, "order_no"},
		{"OrderNoWithSlash", "Bearer " + s.key, "application/json", good(func(o map[string]any) { o["order_no"] = "NX/1" }), 400, "order_no"},
		{"MissingReceivedAt", "Bearer " + s.key, "application/json", good(func(o map[string]any) { delete(o, "received_at") }), 400, "received_at"},
		{"ReceivedAtNotRFC3339", "Bearer " + s.key, "application/json", good(func(o map[string]any) { o["received_at"] = "2026-03-02 09:00" }), 400, "received_at"},
		{"ReceivedAtInTheFuture", "Bearer " + s.key, "application/json", good(func(o map[string]any) {
			o["received_at"] = time.Now().Add(time.Hour).Format(time.RFC3339)
		}), 400, "received_at"},
		{"MissingContent", "Bearer " + s.key, "application/json", good(func(o map[string]any) { delete(o, "content") }), 400, "content"},
		{"ControlCharInContent", "Bearer " + s.key, "application/json", good(func(o map[string]any) { o["content"] = "a\u202eb" }), 400, "content"},
		{"UnknownCity", "Bearer " + s.key, "application/json", good(func(o map[string]any) { o["city"] = "北京市" }), 400, "city"},
		{"ConsentWithoutPhone", "Bearer " + s.key, "application/json", good(func(o map[string]any) { o["callback_consent"] = true }), 400, "caller_phone"},
		{"BadPhone", "Bearer " + s.key, "application/json", good(func(o map[string]any) {
			o["callback_consent"], o["caller_phone"] = true, "call me"
		}), 400, "caller_phone"},
	}
	before, _ := s.env.store.CountCases(ctx)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(t, s.app, tc.auth, tc.ctype, tc.body)
			code, field := errField(r)
			if r.status != tc.wantStatus || code == "" || field != tc.wantField {
				t.Fatalf("status %d code %q field %q (%s); want %d field %q", r.status, code, field, r.raw, tc.wantStatus, tc.wantField)
			}
			if msg, _ := r.body["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatal("no zh-CN message")
			}
			if tc.wantStatus == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if after, _ := s.env.store.CountCases(ctx); after != before {
		t.Fatalf("refused requests stored %d cases", after-before)
	}
}

func TestWorkOrderImport(t *testing.T) {
	s := newOrderSite(t, HotlineOptions{})
	ctx := context.Background()

	t.Run("CreatesACaseTheReceiptOpens", func(t *testing.T) {
		o := newOrder()
		o["callback_consent"], o["caller_phone"] = true, "139 1234 5678"
		r := s.push(t, s.app, o)
		ref, _ := r.body["case_ref"].(string)
		receipt, _ := r.body["receipt"].(string)
		if r.status != http.StatusCreated || ref == "" || !plainReceipt.MatchString(receipt) || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		c, err := s.env.store.Case(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		received, _ := time.Parse(time.RFC3339, o["received_at"].(string))
		if c.Channel != whistle.ChannelWorkOrder || !c.ReceivedAt.Equal(received) || c.City != "银川市" || c.Identity == nil {
			t.Fatalf("stored case %+v", c)
		}
		f, err := s.svc.Follow(ctx, crypto.Receipt(receipt))
		if err != nil || f.Status != whistle.StateReceived {
			t.Fatalf("the receipt does not open the case: %+v %v", f, err)
		}
		dek, err := s.env.keys.OpenTriageCopy(ref, c.Sealed.Keys)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := crypto.OpenField(dek, ref, FieldContent, c.Sealed.Content)
		var rep whistle.Report
		if err != nil || json.Unmarshal(plain, &rep) != nil || rep.OrderNo != o["order_no"] || rep.Text != o["content"] {
			t.Fatalf("sealed report %+v %v", rep, err)
		}
		phone, err := crypto.OpenIdentity(crypto.Vault{Envelope: c.Identity.Ciphertext, Holders: c.Identity.Keys}, ref,
			crypto.HolderDepartment("finance", 1), s.env.finance)
		if err != nil || !strings.Contains(string(phone), "139 1234 5678") || !strings.Contains(string(phone), `"callback_consent":true`) {
			t.Fatalf("identity vault %q %v", phone, err)
		}
		trail, err := s.env.store.AuditTrail(ctx, ref)
		if err != nil || len(trail) != 1 || trail[0].Action != AuditWorkOrderImport || trail[0].Actor != "apikey:12345平台" {
			t.Fatalf("audit %+v %v", trail, err)
		}
	})
	t.Run("PhoneWithoutConsentIsDroppedNotStored", func(t *testing.T) {
		o := newOrder()
		o["caller_phone"] = "13912345678"
		r := s.push(t, s.app, o)
		if r.status != http.StatusCreated || r.body["caller_phone_discarded"] != true {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		c, err := s.env.store.Case(ctx, r.body["case_ref"].(string))
		if err != nil || c.Identity != nil {
			t.Fatalf("a number without consent reached the vault: %+v %v", c.Identity, err)
		}
	})
	t.Run("SameOrderAgainCreatesNothing", func(t *testing.T) {
		o := newOrder()
		first := s.push(t, s.app, o)
		before, _ := s.env.store.CountCases(ctx)
		o["content"] = "第二次推送，内容不同也不另建案件。"
		for range 3 {
			again := s.push(t, s.app, o)
			if again.status != http.StatusOK || again.body["case_ref"] != first.body["case_ref"] || again.body["receipt"] != nil || again.body["duplicate"] != true {
				t.Fatalf("repeat: %d %s; first %s", again.status, again.raw, first.raw)
			}
		}
		if after, _ := s.env.store.CountCases(ctx); after != before {
			t.Fatalf("repeats stored %d cases", after-before)
		}
	})
}

// TestWorkOrderConcurrentDuplicates pushes one order many times at once,
// into one process and into two, and expects one case and one 201.
func TestWorkOrderConcurrentDuplicates(t *testing.T) {
	s := newOrderSite(t, HotlineOptions{})
	second := s.newApp(t, HotlineOptions{})
	tests := []struct {
		name string
		apps []*fiber.App
	}{
		{"OneProcess", []*fiber.App{s.app}},
		{"TwoProcessesSharingTheStore", []*fiber.App{s.app, second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			before, _ := s.env.store.CountCases(ctx)
			o := newOrder()
			const n = 8
			results := make([]apiResponse, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = s.push(t, tc.apps[i%len(tc.apps)], o)
				}()
			}
			close(start)
			wg.Wait()
			created, repeated := 0, 0
			ref := results[0].body["case_ref"]
			for _, r := range results {
				switch r.status {
				case http.StatusCreated:
					created++
				case http.StatusOK:
					repeated++
				default:
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				if r.body["case_ref"] != ref {
					t.Fatalf("case refs differ: %v vs %v", r.body["case_ref"], ref)
				}
			}
			if created != 1 || repeated != n-1 {
				t.Fatalf("%d created, %d repeats; want 1 and %d", created, repeated, n-1)
			}
			if after, _ := s.env.store.CountCases(ctx); after != before+1 {
				t.Fatalf("%d cases stored, want 1", after-before)
			}
		})
	}
}

func TestWorkOrderReservationRecovery(t *testing.T) {
	s := newOrderSite(t, HotlineOptions{WorkOrderWait: 300 * time.Millisecond, WorkOrderLease: time.Minute})
	ctx := context.Background()
	reserveAs := func(t *testing.T, o map[string]any, caseID string) {
		t.Helper()
		if _, ok, err := s.env.store.ReserveWorkOrder(ctx, mongodb.WorkOrder{OrderNo: o["order_no"].(string), CaseID: caseID, ReservedAt: s.clock.Now()}); err != nil || !ok {
			t.Fatalf("reserve: %v %v", ok, err)
		}
	}

	t.Run("AnImportInFlightIsWaitedForThenConflicts", func(t *testing.T) {
		o := newOrder()
		reserveAs(t, o, whistle.NewID())
		r := s.push(t, s.app, o)
		if code, _ := errField(r); r.status != http.StatusConflict || code != whistle.ECONFLICT {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("ACrashedImportWithoutCaseIsTakenOverWithItsCaseID", func(t *testing.T) {
		o := newOrder()
		caseID := whistle.NewID()
		reserveAs(t, o, caseID)
		s.clock.Advance(time.Minute)
		r := s.push(t, s.app, o)
		if r.status != http.StatusCreated || r.body["case_ref"] != caseID {
			t.Fatalf("%d %s; want 201 for case %s", r.status, r.raw, caseID)
		}
		if w, err := s.env.store.WorkOrder(ctx, o["order_no"].(string)); err != nil || !w.Done {
			t.Fatalf("reservation after take-over: %+v %v", w, err)
		}
	})
	t.Run("ACrashedImportThatStoredItsCaseIsFinishedNotRepeated", func(t *testing.T) {
		o := newOrder()
		caseID := whistle.NewID()
		reserveAs(t, o, caseID)
		// The crashed import got as far as storing the case.
		if _, _, err := s.svc.Submit(ctx, Submission{Channel: whistle.ChannelWorkOrder, CaseID: caseID,
			Report: whistle.Report{Text: "已写入的工单", OrderNo: o["order_no"].(string)}}); err != nil {
			t.Fatal(err)
		}
		before, _ := s.env.store.CountCases(ctx)
		s.clock.Advance(time.Minute)
		r := s.push(t, s.app, o)
		if r.status != http.StatusOK || r.body["case_ref"] != caseID {
			t.Fatalf("%d %s; want 200 for case %s", r.status, r.raw, caseID)
		}
		if after, _ := s.env.store.CountCases(ctx); after != before {
			t.Fatal("a second case was stored")
		}
	})
}

func TestAPIKeys(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	now := time.Now()
	key, err := CreateAPIKey(ctx, env.store, " 12345平台 ", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != apiKeyLength || !strings.HasPrefix(key, apiKeyPrefix) {
		t.Fatalf("key %q is not wk_<id>_<secret>", key)
	}
	keys, err := env.store.APIKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Name != "12345平台" || bytes.Contains(keys[0].Hash, []byte(key)) || string(keys[0].Hash) == key {
		t.Fatalf("stored %+v %v", keys, err)
	}
	tests := []struct {
		name   string
		header string
		ok     bool
	}{
		{"BearerKey", "Bearer " + key, true},
		{"SchemeIsCaseInsensitive", "bearer " + key, true},
		{"Empty", "", false},
		{"KeyWithoutScheme", key, false},
		{"Truncated", "Bearer " + key[:len(key)-2], false},
		{"OtherKeyIDSameSecret", "Bearer wk_" + strings.Repeat("a", 16) + key[len(apiKeyPrefix)+16:], false},
		{"Garbage", "Bearer " + strings.Repeat("x", apiKeyLength), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := authenticateAPIKey(ctx, env.store, tc.header)
			if tc.ok != (err == nil) || (err != nil && whistle.ErrorCode(err) != whistle.EUNAUTHORIZED) {
				t.Fatalf("ok=%v err=%v", tc.ok, err)
			}
			if tc.ok && rec.Name != "12345平台" {
				t.Fatalf("record %+v", rec)
			}
		})
	}
	if _, err := CreateAPIKey(ctx, env.store, "12345平台", now); whistle.ErrorCode(err) != whistle.ECONFLICT {
		t.Fatalf("second active key for a name: %v", err)
	}
	for _, bad := range []string{"", "   ", "a\nb", strings.Repeat("名", 65)} {
		var we *whistle.Error
		if _, err := CreateAPIKey(ctx, env.store, bad, now); !errors.As(err, &we) || we.Field != "name" {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if err := RevokeAPIKey(ctx, env.store, "12345平台", now); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticateAPIKey(ctx, env.store, "Bearer "+key); whistle.ErrorCode(err) != whistle.EUNAUTHORIZED {
		t.Fatalf("revoked key still works: %v", err)
	}
	if err := RevokeAPIKey(ctx, env.store, "12345平台", now); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("revoking twice: %v", err)
	}
	trail, err := env.store.AuditByActor(ctx, "cli")
	if err != nil || len(trail) != 2 || trail[0].Subject != "apikey:12345平台" {
		t.Fatalf("audit %+v %v", trail, err)
	}
}

// FuzzDecodeWorkOrder: no body makes the decoder panic; every refusal is a
// validation error; every accepted order is one Submit will accept as is,
// and keeps no caller number without consent.
func FuzzDecodeWorkOrder(f *testing.F) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, seed := range []string{
		`{"order_no":"NX1","received_at":"2026-03-02T08:00:00+08:00","content":"储罐泄漏","city":"银川市","county":"灵武市","address":"x","caller_phone":"13912345678","callback_consent":true}`,
		`{"order_no":"NX2","received_at":"2026-03-02T08:00:00Z","content":"c","caller_phone":"139"}`,
		`{"order_no":"","content":""}`,
		`{"order_no":"A","received_at":"2026-13-02T08:00:00Z","content":"x"}`,
		`{"order_no":"A","received_at":"2026-03-02T08:00:00Z","content":"<script>alert(1)</script>"}`,
		`[]`, `null`, `{"order_no":1}`, "{\"content\":\"\xff\"}", `{"order_no":"A"} {}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := decodeWorkOrder(body, now)
		if err != nil {
			var we *whistle.Error
			if !errors.As(err, &we) || we.Code != whistle.EINVALID || we.Message == "" {
				t.Fatalf("refusal is not a validation error: %v", err)
			}
			return
		}
		if _, err := checkOrderNo(o.OrderNo); err != nil || o.Submission.Report.OrderNo != o.OrderNo {
			t.Fatalf("accepted order number %q: %v", o.OrderNo, err)
		}
		again, err := o.Submission.normalise()
		if err != nil {
			t.Fatalf("an accepted order fails Submit's validation: %v", err)
		}
		if fmt.Sprint(again) != fmt.Sprint(o.Submission) {
			t.Fatal("normalising an accepted order changes it")
		}
		if !o.Submission.CallbackConsent && o.Submission.CallerPhone != "" {
			t.Fatal("a caller number without consent was kept")
		}
		if o.Submission.Channel != whistle.ChannelWorkOrder || o.Submission.ReceivedAt.After(now.Add(maxReceivedAtSkew)) {
			t.Fatalf("accepted %+v", o.Submission)
		}
	})
}
