package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"whistle/embedded"
	"whistle/internal/testenv"
)

// TestStolenDatabaseRevealsNothing runs the service, submits reports whose
// text, address, company, contact and attachment carry unique markers, stops
// it, and then reads everything a thief of the data directory would have:
// every file byte under the data dir (except the development key set, which
// a real deployment keeps elsewhere) and every document of every collection.
// No marker, no receipt code and no phone number may appear.
func TestStolenDatabaseRevealsNothing(t *testing.T) {
	dataDir := t.TempDir()
	p := start(t, dataDir)
	const phone = "13987654321"
	secrets := []string{"MARK-TEXT-7f3a", "MARK-ADDR-91bc", "MARK-COMP-44de", "MARK-FILE-0e1f", phone}

	var receipts []string
	// JSON submission with identity details for a reward.
	status, out := p.post(t, "/api/v1/reports", map[string]any{
		"channel": "web", "city": "银川市", "county": "金凤区", "address": "MARK-ADDR-91bc 北京中路",
		"company": "MARK-COMP-44de 建设公司", "relationship": "employee", "contact": "张先生 " + phone,
		"text": "工地脚手架没有连墙件，风一大就晃，MARK-TEXT-7f3a 工人还在上面干活。",
	})
	if status != http.StatusCreated {
		t.Fatalf("submit with contact: %d %v", status, out)
	}
	receipts = append(receipts, out["receipt"].(string))

	// Multipart submission with an evidence file.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("text", "化工厂仓库里危化品混放，附上照片。MARK-TEXT-7f3a")
	mw.WriteField("city", "石嘴山市")
	mw.WriteField("county", "惠农区")
	fw, _ := mw.CreateFormFile("attachments", "evidence.pdf")
	io.WriteString(fw, "%PDF-1.4\n1 0 obj\n<< /Length 30 >>\nstream\nBT (MARK-FILE-0e1f evidence) ET\nendstream\nendobj\ntrailer\n<< >>\n%%EOF\n")
	mw.Close()
	resp, err := http.Post("http://"+p.addr+"/api/v1/reports", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	var mout map[string]any
	json.NewDecoder(resp.Body).Decode(&mout)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("multipart submit: %d %v", resp.StatusCode, mout)
	}
	receipts = append(receipts, mout["receipt"].(string))

	// Let triage run so routed state (sealed explanation, department copies) is on disk too.
	time.Sleep(3 * time.Second)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("stop: %v", err)
	}
	if logs := p.logs.String(); containsAny(logs, secrets) != "" {
		t.Fatalf("logs contain %q", containsAny(logs, secrets))
	}

	for _, r := range receipts {
		plain := strings.ReplaceAll(r, " ", "")
		secrets = append(secrets, plain, plain[:4]+" "+plain[4:8]+" "+plain[8:12]+" "+plain[12:16]+" "+plain[16:])
	}

	// 1. Every byte of every file under the data dir.
	keys := filepath.Join(dataDir, "keys")
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, keys) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if s := containsAny(string(b), secrets); s != "" {
			t.Errorf("%s contains %q", path, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// 2. Every document of every collection, as the driver decodes it.
	f, err := embedded.StartFerretDB(context.Background(), embedded.Backend{SQLiteDir: filepath.Join(dataDir, "db")}, testenv.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(f.URI))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	db := client.Database("whistle")
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	docs := 0
	for _, name := range names {
		cur, err := db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for cur.Next(ctx) {
			docs++
			js, _ := bson.MarshalExtJSON(cur.Current, false, false)
			if s := containsAny(string(js)+string(cur.Current), secrets); s != "" {
				t.Errorf("collection %s holds %q", name, s)
			}
		}
		cur.Close(ctx)
	}
	if docs == 0 {
		t.Fatal("no documents read: the scan proves nothing")
	}
	t.Logf("scanned %d collections, %d documents", len(names), docs)
}

func containsAny(s string, needles []string) string {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return n
		}
	}
	return ""
}
