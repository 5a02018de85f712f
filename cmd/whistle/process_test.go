package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary builds the whistle command once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "whistle-bin")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "whistle")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return path, nil
})

// process is a running whistle with the embedded default.
type process struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
	done chan error
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs `whistle` with no configuration but a data dir and address,
// and waits (at most 20 s, the acceptance bound) for /readyz to answer 200.
func start(t *testing.T, dataDir string) *process {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{addr: freeAddr(t), logs: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin)
	// Every test client is 127.0.0.1: lift the per-source limits.
	p.cmd.Env = append(os.Environ(), "WHISTLE_DATA_DIR="+dataDir, "WHISTLE_ADDR="+p.addr,
		"WHISTLE_SUBMIT_LIMIT=100000/1s", "WHISTLE_RECEIPT_LIMIT=100000/1s")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("whistle exited before ready: %v\n%s", err, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 20s\n%s", p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) post(t *testing.T, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post("http://"+p.addr+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestSIGTERMExitsCleanlyAndRestartKeepsData: the embedded default starts with
// no configuration, answers /readyz, exits 0 on SIGTERM within 15 s, and
// after a restart a report stored before is still there.
func TestSIGTERMExitsCleanlyAndRestartKeepsData(t *testing.T) {
	dataDir := t.TempDir()
	p := start(t, dataDir)
	status, out := p.post(t, "/api/v1/reports", map[string]any{
		"channel": "web", "text": "XX建筑工地塔吊的限位器坏了好几天，还在继续吊钢筋，工人都很担心。标记TERM-RESTART",
		"city": "银川市", "county": "兴庆区",
	})
	receipt, _ := out["receipt"].(string)
	if status != http.StatusCreated || receipt == "" {
		t.Fatalf("submit: %d %v", status, out)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v (want status 0)\n%s", err, p.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM\n%s", p.logs)
	}
	if strings.Contains(p.logs.String(), "TERM-RESTART") {
		t.Fatal("report content appeared in the logs")
	}

	p2 := start(t, dataDir)
	status, out = p2.post(t, "/api/v1/followup", map[string]any{"receipt": receipt})
	if status != http.StatusOK || out["status"] == nil {
		t.Fatalf("follow-up after restart: %d %v", status, out)
	}
	p2.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p2.done; err != nil {
		t.Fatalf("second exit: %v", err)
	}
}

// TestKill9DuringSubmissionsLosesNoReceipt: SIGKILL while 100 submissions
// are in flight. Every receipt a client received must open its report after
// a restart, and every stored report must still get routed (the reconcile
// sweep finds what the dead process never enqueued).
func TestKill9DuringSubmissionsLosesNoReceipt(t *testing.T) {
	dataDir := t.TempDir()
	p := start(t, dataDir)
	const n = 100
	var (
		mu       sync.Mutex
		receipts []string
		wg       sync.WaitGroup
		enough   = make(chan struct{})
		once     sync.Once
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"channel": "web", "city": "吴忠市", "county": "利通区",
				"text": fmt.Sprintf("第%d号举报：XX化工厂储罐区可燃气体报警器长期屏蔽，夜班没人巡检，随时可能出事。", i)})
			resp, err := client.Post("http://"+p.addr+"/api/v1/reports", "application/json", bytes.NewReader(body))
			if err != nil {
				return // the process died under this request: the client got no receipt
			}
			defer resp.Body.Close()
			var out struct{ Receipt string }
			if resp.StatusCode == http.StatusCreated && json.NewDecoder(resp.Body).Decode(&out) == nil && out.Receipt != "" {
				mu.Lock()
				receipts = append(receipts, out.Receipt)
				if len(receipts) == n/4 { // kill with most submissions still in flight
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatalf("fewer than %d submissions succeeded\n%s", n/4, p.logs)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	wg.Wait()
	t.Logf("%d of %d clients received a receipt before SIGKILL", len(receipts), n)

	p2 := start(t, dataDir)
	deadline := time.Now().Add(60 * time.Second)
	for _, r := range receipts {
		for {
			status, out := p2.post(t, "/api/v1/followup", map[string]any{"receipt": r})
			if status != http.StatusOK {
				t.Fatalf("receipt %s does not open its report after restart: %d %v\n%s", r, status, out, p2.logs)
			}
			if out["status"] == "routed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("receipt %s still %v 60s after restart: triage never ran", r, out["status"])
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
