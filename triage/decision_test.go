package triage

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// checkDecision asserts the invariants every decision must hold: a known
// lead, a principle and kind from the lists, a first citation that is an
// item of the lead department, and an explanation that names both.
func checkDecision(t testing.TB, r *Router, d Decision) {
	t.Helper()
	var lead *Department
	for _, dep := range r.deps {
		if dep.Name == d.Lead {
			lead = &dep
			break
		}
	}
	if lead == nil || lead.Referral {
		t.Fatalf("lead %q is not a department that can lead", d.Lead)
	}
	if !contains([]string{PrincipleCompetent, PrinciplePrimary, PrincipleNearest}, d.Principle) {
		t.Fatalf("principle %q", d.Principle)
	}
	if !contains([]string{KindMajorHazard, KindHazard, KindIllegal, KindConcealment}, d.Kind) {
		t.Fatalf("kind %q", d.Kind)
	}
	if len(d.Basis) == 0 {
		t.Fatal("no basis cited")
	}
	own := false
	for _, du := range lead.Duties {
		own = own || du.Citation == d.Basis[0]
	}
	if !own {
		t.Fatalf("first citation %s is not an item of %s", d.Basis[0], d.Lead)
	}
	for _, b := range d.Basis {
		if !r.citationExists(b) {
			t.Fatalf("citation %s does not exist in the seed's articles", b)
		}
	}
	if contains(d.Assist, d.Lead) || d.Confidence < 0 || d.Confidence > 1 || d.Explanation == "" || !utf8.ValidString(d.Explanation) {
		t.Fatalf("inconsistent decision %+v", d)
	}
	if d.Referral != contains(d.Assist, DisciplineCommission) {
		t.Fatalf("referral flag and assist list disagree: %+v", d)
	}
	if d.Urgent && d.Kind != KindMajorHazard {
		t.Fatalf("urgent but %s: %+v", d.Kind, d)
	}
	if !strings.Contains(d.Explanation, d.Principle) || !strings.Contains(d.Explanation, d.Lead) {
		t.Fatalf("the explanation names another principle or lead than the decision: %+v", d)
	}
}

// citationExists: some registry duty carries this citation.
func (r *Router) citationExists(c string) bool {
	for _, du := range r.duties {
		if du.Citation == c {
			return true
		}
	}
	return false
}

func TestEveryDecisionCitesAnItemOfItsLead(t *testing.T) {
	r := testRouter(t)
	var texts []string
	for _, set := range precedentSets(t) {
		for _, c := range set.Reports {
			texts = append(texts, c.Text)
		}
	}
	texts = append(texts, "", "今天天气很好", "有人在直播", "安全", strings.Repeat("着火了", 1000), "\xff\xfe", "储能电站换电柜氢能无人机")
	for _, text := range texts {
		checkDecision(t, r, r.Route(Report{Text: text}))
	}
}

func TestNothingCloseGoesToTheSafetyCommitteeOffice(t *testing.T) {
	r := testRouter(t)
	d := r.Route(Report{Text: "我觉得这个事情很不合理，希望领导重视一下。"})
	if d.Lead != SafetyCommitteeOffice || d.Principle != PrincipleNearest {
		t.Fatalf("got %s %s", d.Lead, d.Principle)
	}
}

func TestPrinciplesKindsAndFlags(t *testing.T) {
	r := testRouter(t)
	cases := []struct {
		name, text string
		lead       string
		principle  string
		kind       string // "" when the case is not about the kind (precedent decides it; an urgent case is a major hazard)
		urgent     bool
		referral   bool
	}{
		{"one department names the matter", "彭阳县XX村的人防工程被改成仓库，防护密闭门锈死了。", "自治区国动办(人防办)", PrincipleCompetent, "", false, false},
		{"fire exits in a mall: 消防 leads, 商务 assists", "兴庆区XX购物中心的安全出口被铁链锁死，消防通道堆满货物，灭火器过期，周末人很多。", "宁夏消防救援总队", PrinciplePrimary, "", false, false},
		{"battery-swap cabinets are a new business form", "小区门口装了一排换电柜，有个柜子里的电池鼓包冒烟了，离住户窗户很近。", "宁夏消防救援总队", PrincipleNearest, "", true, false},
		{"gas leak is urgent", "饭馆后厨液化气罐的胶管裂了，现在满屋子都是液化气味道，闻到一股气味，客人还在吃饭。", "自治区住房城乡建设厅", PrincipleCompetent, KindMajorHazard, true, false},
		{"officials tipped off the company", "应急局的一个科长每次检查前都提前打电话通知化工厂，厂里给他送钱，联锁一直屏蔽着。", "自治区应急管理厅", PrincipleCompetent, "", false, true},
		{"a concealed death goes to the sector's department, the accident investigator assists", "XX建筑工地上个月有工人从脚手架上摔死了，老板和家属私了，对外说是病死的，没有上报。", "自治区住房城乡建设厅", PrinciplePrimary, KindConcealment, false, false},
		{"a concealed death in no clear sector goes to the accident investigator", "上个月有人干活时摔死了，老板和家属私了，对外说是病死的，没有上报。", "自治区应急管理厅", PrincipleCompetent, KindConcealment, false, false},
		{"a concealed coal-mine death stays with the mine inspectorate", "XX煤矿井下冒顶砸死了一个矿工，矿上把人拉走私了，对外说是在家里出的事。", "国家矿山安监局宁夏局", PrinciplePrimary, KindConcealment, false, false},
		{"hazards of two supervisors in a kindergarten: the venue's supervisor leads", "XX幼儿园开在居民楼二楼，只有一个楼梯，楼梯口堆着被褥，厨房的液化气罐就放在楼梯底下。", "自治区教育厅", PrinciplePrimary, "", false, false},
		{"hazards of two supervisors in a restaurant: 商务 only guides, a hazard's supervisor leads", "XX饭店后厨的液化气罐放在过道里，安全出口被铁链锁死，吃饭的人很多。", "自治区住房城乡建设厅|宁夏消防救援总队", PrinciplePrimary, "", false, false},
		{"falling rock in a working quarry is mine safety, not a geological hazard", "XX采石场的山坡挖成了陡墙，上面的石头一直往下掉，下面还在挖。", "自治区应急管理厅", PrincipleCompetent, KindMajorHazard, true, false},
		{"unlicensed mining is an illegal act", "有人在山上无证开采石头，没有采矿许可证，晚上偷偷拉走。", "自治区自然资源厅", PrincipleCompetent, KindIllegal, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := r.Route(Report{Text: c.text})
			checkDecision(t, r, d)
			if !contains(strings.Split(c.lead, "|"), d.Lead) || d.Principle != c.principle || c.kind != "" && d.Kind != c.kind || d.Urgent != c.urgent || d.Referral != c.referral {
				t.Errorf("got lead=%s principle=%s kind=%s urgent=%v referral=%v\n%s", d.Lead, d.Principle, d.Kind, d.Urgent, d.Referral, d.Explanation)
			}
		})
	}
}

func TestRouteIsSafeForConcurrentUseAndDeterministic(t *testing.T) {
	r := testRouter(t)
	cases := precedentSet(t, "own_reports.jsonl")
	want := make([]string, len(cases))
	for i, c := range cases {
		b, _ := json.Marshal(r.Route(c.Report))
		want[i] = string(b)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < len(cases); k++ {
				i := (k + g*17) % len(cases)
				b, _ := json.Marshal(r.Route(cases[i].Report))
				if string(b) != want[i] {
					errs <- cases[i].ID
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for id := range errs {
		t.Errorf("%s: concurrent decision differs from the sequential one", id)
	}
}

func FuzzRoute(f *testing.F) {
	r, err := New()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "来电人反映兴庆区XX商场电梯困人", "\xff\xfe\xfd", "宁东宁东宁东", "贺兰山贺兰县", "电动车电动车动车", strings.Repeat("挨着", 50) + "小学"} {
		f.Add(s, "银川市", "")
	}
	f.Fuzz(func(t *testing.T, text, city, county string) {
		checkDecision(t, r, r.Route(Report{Text: text, City: city, County: county}))
	})
}

func FuzzDecodeReport(f *testing.F) {
	for _, s := range []string{`{"id":"1","text":"x"}`, `{"text":"\ud83d\ude00","a":[1,{"b":null}]}`, `{`, `[]`, `{"text":"\u00"}`, `{"text":"a"} x`, `{"id":1,"text":"a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rep, err := decodeReport(line)
		if err != nil {
			return
		}
		if !utf8.ValidString(rep.Text) || !utf8.ValidString(rep.ID) {
			t.Fatalf("decoded invalid UTF-8 from %q", line)
		}
		var back Report
		if err := json.Unmarshal(appendString(nil, rep.Text), &back.Text); err != nil || back.Text != rep.Text {
			t.Fatalf("text %q does not survive re-encoding", rep.Text)
		}
	})
}
