package triage

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// cliLine is the contract's output line, decoded strictly enough to notice a
// missing or mistyped field.
type cliLine struct {
	ID           *string  `json:"id"`
	Lead         string   `json:"lead"`
	Assist       []string `json:"assist"`
	Principle    string   `json:"principle"`
	Basis        []string `json:"basis"`
	Kind         string   `json:"kind"`
	Urgent       *bool    `json:"urgent"`
	Jurisdiction *struct {
		City   string `json:"city"`
		County string `json:"county"`
	} `json:"jurisdiction"`
	Confidence  *float64 `json:"confidence"`
	Explanation string   `json:"explanation"`
	Line        int      `json:"line"`
	Error       string   `json:"error"`
}

func runCLI(t *testing.T, input string) ([]cliLine, int) {
	t.Helper()
	var out bytes.Buffer
	failed, err := RunCLI(strings.NewReader(input), &out)
	if err != nil {
		t.Fatal(err)
	}
	var lines []cliLine
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		var c cliLine
		dec := json.NewDecoder(strings.NewReader(l))
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("output line is not JSON: %q: %v", l, err)
		}
		lines = append(lines, c)
	}
	return lines, failed
}

func TestCLIWritesOneLinePerInputInOrderAndReportsMalformedLines(t *testing.T) {
	input := strings.Join([]string{
		`{"id":"a1","channel":"web","city":"吴忠市","county":"利通区","text":"饭馆后厨液化气罐挨着灶台，胶管裂了，闻到气味"}`,
		`{"id":"a2","channel":"hotline","city":"","county":"","text":"来电人反映西吉县某村后山山体裂缝，下面住着人"}`,
		`not json`,
		`{"id":"a4","text":5}`,
		`{"id":"a5","city":"银川市"}`,
		`{"id":"a6","text":"兴庆区商场消防通道被堵，安全出口上锁","extra":{"n":[1,2,{"x":null}]},"city":null}`,
		`{"id":"a7","text":"x"} trailing`,
	}, "\n") + "\n"
	lines, failed := runCLI(t, input)
	if len(lines) != 7 {
		t.Fatalf("got %d output lines, want 7", len(lines))
	}
	if failed != 4 {
		t.Errorf("failed = %d, want 4 (lines 3, 4, 5, 7)", failed)
	}
	for i, want := range []string{"a1", "a2", "", "", "", "a6", ""} {
		l := lines[i]
		if want == "" {
			if l.Line != i+1 || l.Error == "" {
				t.Errorf("line %d: want an error line numbered %d, got %+v", i+1, i+1, l)
			}
			continue
		}
		if l.ID == nil || *l.ID != want || l.Lead == "" || l.Principle == "" || len(l.Basis) == 0 || l.Kind == "" ||
			l.Urgent == nil || l.Jurisdiction == nil || l.Confidence == nil || l.Explanation == "" || l.Assist == nil {
			t.Errorf("line %d: incomplete decision %+v", i+1, l)
		}
	}
	if lines[0].Lead != "自治区住房城乡建设厅" || lines[0].Jurisdiction.City != "吴忠市" || lines[0].Jurisdiction.County != "利通区" {
		t.Errorf("line 1: %+v", lines[0])
	}
	if lines[1].Jurisdiction.City != "固原市" || lines[1].Jurisdiction.County != "西吉县" {
		t.Errorf("line 2: jurisdiction not extracted from the text: %+v", lines[1].Jurisdiction)
	}
	if lines[5].Lead != "宁夏消防救援总队" {
		t.Errorf("line 6: lead %s", lines[5].Lead)
	}
}

func TestCLISkipsBlankLinesAndHandlesCRLFAndMissingFinalNewline(t *testing.T) {
	lines, failed := runCLI(t, "\r\n{\"id\":\"x\",\"text\":\"电梯困人\"}\r\n\n{\"id\":\"y\",\"text\":\"水库大坝渗水\"}")
	if failed != 0 || len(lines) != 2 || *lines[0].ID != "x" || *lines[1].ID != "y" {
		t.Fatalf("failed=%d lines=%+v", failed, lines)
	}
}

func TestCLIReportsOverlongLineAndContinues(t *testing.T) {
	long := `{"id":"big","text":"` + strings.Repeat("很", maxLine/3+10) + `"}`
	lines, failed := runCLI(t, long+"\n"+`{"id":"ok","text":"加油站许可证过期"}`+"\n")
	if failed != 1 || len(lines) != 2 || lines[0].Line != 1 || lines[1].ID == nil || *lines[1].ID != "ok" {
		t.Fatalf("failed=%d lines=%+v", failed, lines)
	}
}

func TestDecodeReportMatchesEncodingJSONOnValidObjects(t *testing.T) {
	for _, in := range []string{
		`{"id":"1","text":"a\"b\\c\/d\n\u4e2d\ud83d\ude00"}`,
		`{"text":"x","id":"2","text":"last wins"}`,
		`{ "id" : "3" , "channel":"web", "city":"银川市","county":"兴庆区","text":"t", "n": -1.5e3, "b": [true,false,null] }`,
		`{"id":"4","text":"lone \ud800 surrogate"}`,
	} {
		got, err := decodeReport([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var want Report
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: got %+v, encoding/json %+v", in, got, want)
		}
	}
}

func TestAppendStringRoundTripsThroughEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "引号\"和\\反斜杠", "ctrl\x00\x1f\t\r\n", "bad\xffutf8", "\u2028\u2029", "😀"} {
		var got string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if got != want {
			t.Errorf("%q round-tripped to %q", s, got)
		}
	}
}
