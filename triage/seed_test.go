package triage

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite data/articles.json from the seed")

const seedPath = "../../shared/seeds/000_f94b10ecbe3ac90a.txt"

var (
	articleHeading = regexp.MustCompile(`^第([一二三四五六七八九十百零]+)条\s*(.*)$`)
	itemMarker     = regexp.MustCompile(`^[（(]([一二三四五六七八九十]+)[)）]\s*(.*)$`)
)

// extractArticles parses the articles of one document of the seed between the
// line containing start and the article numbered last. The seed is a PDF
// conversion: items are marked (一) or （一）, and page breaks split
// paragraphs into several lines, which are joined back without a separator.
func extractArticles(t *testing.T, lines []string, doc, start string, keep func(int) bool, last int) []Article {
	t.Helper()
	var out []Article
	var cur *Article
	begun := false
	appendText := func(s string) {
		if cur == nil {
			return
		}
		if n := len(cur.Items); n > 0 {
			cur.Items[n-1].Text += s
		} else {
			cur.Heading += s
		}
	}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if !begun {
			begun = line == start
			continue
		}
		if line == "" {
			continue
		}
		if m := articleHeading.FindStringSubmatch(line); m != nil {
			n, ok := parseChineseNumeral(m[1])
			if !ok {
				t.Fatalf("bad article numeral in %q", line)
			}
			if cur != nil && keep(cur.Number) {
				out = append(out, *cur)
			}
			if n > last || (cur != nil && n < cur.Number) {
				cur = nil
				break
			}
			cur = &Article{Document: doc, Number: n, Heading: m[2]}
			if n == last { // the closing article (施行日期/解释) ends the document
				cur = nil
				break
			}
			continue
		}
		if strings.HasPrefix(line, "第") && strings.Contains(line, "章") && len([]rune(line)) < 20 {
			continue // chapter heading
		}
		if m := itemMarker.FindStringSubmatch(line); m != nil && cur != nil {
			n, ok := parseChineseNumeral(m[1])
			if !ok || n != len(cur.Items)+1 {
				t.Fatalf("第%d条: item %q out of sequence", cur.Number, m[1])
			}
			cur.Items = append(cur.Items, ArticleItem{Number: n, Text: m[2]})
			continue
		}
		if cur != nil && len(cur.Items) == 0 && strings.HasSuffix(cur.Heading, "：") {
			cur.Items = append(cur.Items, ArticleItem{Number: 0, Text: line})
			continue
		}
		appendText(line)
	}
	if cur != nil && keep(cur.Number) {
		out = append(out, *cur)
	}
	for i := range out {
		if len(out[i].Items) == 0 { // an article that is one sentence (Art. 70)
			out[i].Items = []ArticleItem{{Number: 0, Text: out[i].Heading}}
		}
	}
	return out
}

func readSeed(t *testing.T) ([]byte, []string) {
	t.Helper()
	b, err := os.ReadFile(seedPath)
	if os.IsNotExist(err) {
		t.Skipf("seed %s not present: comparison of data/articles.json with the seed skipped (the embedded copy is still validated by TestRegistry*)", seedPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return b, lines
}

func seedArticles(t *testing.T) articleSet {
	b, lines := readSeed(t)
	rules := extractArticles(t, lines, DocRules, "管行业必须管安全、管业务必须管安全、 管生产经营必须管安全实施细则（试行）", func(n int) bool { return n == 4 || n >= 10 && n <= 70 && n != 12 }, 73)
	acc := extractArticles(t, lines, DocAccountability, "安全生产责任追究办法(试行)", func(n int) bool { return n == 4 || n == 7 }, 13)
	sum := sha256.Sum256(b)
	return articleSet{Source: filepath.Base(seedPath), SHA256: hex.EncodeToString(sum[:]), Articles: append(rules, acc...)}
}

// TestEmbeddedArticlesMatchSeed proves data/articles.json is the seed's text,
// article by article and item by item (run with -update to regenerate it).
func TestEmbeddedArticlesMatchSeed(t *testing.T) {
	want := seedArticles(t)
	if len(want.Articles) != 61+2 {
		t.Fatalf("extracted %d articles from the seed, want 61 of the 实施细则 (4, 10, 11, 13–70) and 2 of the 责任追究办法", len(want.Articles))
	}
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("data/articles.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := decodeArticles(articlesJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !*update && !reflect.DeepEqual(*got, want) {
		for i := range want.Articles {
			if i >= len(got.Articles) || !reflect.DeepEqual(got.Articles[i], want.Articles[i]) {
				t.Fatalf("data/articles.json differs from the seed at %s第%d条 (run go test -run TestEmbeddedArticlesMatchSeed -update)", want.Articles[i].Document, want.Articles[i].Number)
			}
		}
		t.Fatalf("data/articles.json differs from the seed (source or checksum)")
	}
}
