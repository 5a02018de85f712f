package intake

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"whistle"
	"whistle/crypto"
)

// findChromium returns the Debian chromium binary (or another Chromium
// build on PATH).
func findChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("headless Chromium not found: install Debian's chromium (apt-get install -y chromium)")
}

// artifactsDir is $WHISTLE_ARTIFACTS, or a new directory under the system
// temporary directory that outlives the test so the screenshots can be
// looked at.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("WHISTLE_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "whistle-e2e-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEndToEndInChromiumWithoutJavaScript is the acceptance test: in
// a real headless Chromium at a 390×844 phone viewport, with JavaScript
// disabled, a reporter files a report with a photo, reads the receipt from
// #receipt, follows up with it and sends a message. Screenshots of the form
// and the receipt page are saved as artifacts.
func TestEndToEndInChromiumWithoutJavaScript(t *testing.T) {
	chromium, err := findChromium()
	if err != nil {
		if os.Getenv("WHISTLE_E2E") == "1" {
			t.Fatalf("WHISTLE_E2E=1 but %v", err)
		}
		t.Skipf("%v (set WHISTLE_E2E=1 to make this a failure)", err)
	}
	s := newTestServer(t, Limits{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.app.Listener(ln)
	t.Cleanup(func() { s.app.Shutdown() })
	base := "http://" + ln.Addr().String()

	artifacts := artifactsDir(t)
	t.Logf("screenshots in %s", artifacts)
	photo := filepath.Join(t.TempDir(), "现场照片.jpg")
	if err := os.WriteFile(photo, phoneJPEG(t), 0o600); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(390, 844),
		chromedp.Flag("blink-settings", "scriptEnabled=false"), chromedp.Flag("lang", "zh-CN"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first Do starts the browser; later steps get their own deadline.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}),
	); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 60*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	step("open the report form", chromedp.Navigate(base+"/report"), chromedp.WaitReady(chromedp.CSS("#text")))
	screenshot("report-form-390x844.png")
	step("fill in the report",
		chromedp.SendKeys(chromedp.CSS("#text"), "厂区东侧仓库堆放大量油漆桶，消防通道被堵死，<b>夜间</b>有人吸烟。"),
		chromedp.Click(chromedp.CSS(`input[name="danger_now"][value="yes"]`)),
		chromedp.Focus(chromedp.CSS("#city")), chromedp.KeyEvent(kb.ArrowDown),
		chromedp.Focus(chromedp.CSS("#county")), chromedp.KeyEvent(kb.ArrowDown),
		chromedp.SendKeys(chromedp.CSS("#company"), "某某涂料有限公司"),
		chromedp.Click(chromedp.CSS(`input[name="relationship"][value="employee"]`)),
		chromedp.SetUploadFiles(chromedp.CSS("#attachments"), []string{photo}),
		chromedp.Click(chromedp.CSS(`form[action="/report"] button[type="submit"]`)),
		chromedp.WaitReady(chromedp.CSS("#receipt")),
	)
	screenshot("receipt-390x844.png")
	receiptHTML := outerHTML(t, ctx, "#receipt")
	shown := regexp.MustCompile(`\d{4} \d{4} \d{4} \d{4} \d{4}`).FindString(receiptHTML)
	if shown == "" {
		t.Fatalf("no grouped receipt in %s", receiptHTML)
	}
	receipt, err := crypto.ParseReceipt(shown)
	if err != nil {
		t.Fatal(err)
	}

	step("follow up with the receipt",
		chromedp.Navigate(base+"/follow-up"),
		chromedp.SendKeys(chromedp.CSS("#receipt"), shown),
		chromedp.Click(chromedp.CSS(`form[action="/follow-up"] button[type="submit"]`)),
		chromedp.WaitReady(chromedp.CSS("#status")),
	)
	page := outerHTML(t, ctx, "main")
	if !strings.Contains(page, "已受理") {
		t.Fatalf("follow-up page lacks the status: %s", page)
	}
	step("send a message",
		chromedp.SendKeys(chromedp.CSS("#message"), "补充：仓库钥匙在门卫处。<script>alert(1)</script>"),
		chromedp.Click(chromedp.CSS(`form[action="/follow-up/messages"] button[type="submit"]`)),
		chromedp.WaitReady(chromedp.CSS(".notice")),
	)
	screenshot("follow-up-390x844.png")
	page = outerHTML(t, ctx, "main")
	if !strings.Contains(page, "留言已发送") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("message not shown, or not escaped: %s", page)
	}

	// What the browser did reached the store: the photo and the message.
	c, dek, err := s.svc.openCase(context.Background(), receipt)
	if err != nil {
		t.Fatal(err)
	}
	dek.Wipe()
	if c.City != "银川市" || c.County != "兴庆区" || !c.Urgent || len(c.Attachments) != 1 || c.Attachments[0].Type != TypeJPEG ||
		len(c.Messages) != 1 || c.Messages[0].From != whistle.RoleReporter {
		t.Fatalf("stored case: city=%s county=%s urgent=%v attachments=%+v messages=%d", c.City, c.County, c.Urgent, c.Attachments, len(c.Messages))
	}
}

// outerHTML reads an element's markup through the DOM domain, which works
// with page scripting disabled.
func outerHTML(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(selector)))
	if err != nil || len(nodes) == 0 {
		t.Fatalf("find %s: %v", selector, err)
	}
	var html string
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		res, err := cdp.Call(ctx, target, dom.GetOuterHTML, dom.GetOuterHTMLParams{NodeID: nodes[0].NodeID})
		if err == nil {
			html = res.OuterHTML
		}
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	return html
}
