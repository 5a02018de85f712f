package triage

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Roles of a duty item, read from the verb the article uses: 监管 the
// department supervises and enforces; 管理 it manages the industry (管行业必须管
// 安全); 指导 it guides and urges; 配合 it supports another department's work.
const (
	RoleSupervise = "监管"
	RoleManage    = "管理"
	RoleGuide     = "指导"
	RoleSupport   = "配合"
)

// Names of the two departments that are not in Articles 13–69.
const (
	SafetyCommitteeOffice = "自治区安委办"  // Art. 10(四), 11: decides gaps and disputes
	DisciplineCommission  = "自治区纪委监委" // 责任追究办法 Art. 7: referral of officials
)

// roleWeight discounts duties that only guide or support: when a supervising
// and a supporting duty name the same matter, the supervisor leads.
var roleWeight = map[string]float64{RoleSupervise: 1, RoleManage: 1, RoleGuide: 0.9, RoleSupport: 0.6}

// Department is one department of the registry with its duty items, in
// article order. Referral marks 自治区纪委监委, which never leads a hazard.
type Department struct {
	Name     string
	Document string // DocRules or DocAccountability
	Article  int    // the article that lists its duties
	Host     string // for 自治区安委办: the department that hosts it
	Referral bool
	Duties   []Duty
}

// Duty is one numbered item of a department's article.
type Duty struct {
	Document string
	Article  int
	Item     int // 0: an article without numbered items
	Role     string
	Citation string // 第三十五条(七); for the 责任追究办法 prefixed with its title
	Text     string // verbatim from the seed
}

// registryFile is data/registry.json.
type registryFile struct {
	Version     string `json:"version"`
	Source      string `json:"source"`
	Syntax      string `json:"syntax"`
	Departments []struct {
		Name     string `json:"name"`
		Document string `json:"document"`
		Article  int    `json:"article"`
		Host     string `json:"host"`
		Referral bool   `json:"referral"`
		Duties   []struct {
			Article int      `json:"article"`
			N       int      `json:"n"`
			Role    string   `json:"role"`
			Rules   []string `json:"rules"`
		} `json:"duties"`
	} `json:"departments"`
	Signals      map[string][]string `json:"signals"`
	MajorDomains struct {
		Why         string   `json:"why"`
		Departments []string `json:"departments"`
	} `json:"major_domains"`
	Concealment struct {
		Why     string `json:"why"`
		Lead    string `json:"lead"`
		Article int    `json:"article"`
		Item    int    `json:"item"`
	} `json:"concealment"`
}

// ruleSpec is one parsed rule string: "terms=weight @context !exclusion".
type ruleSpec struct {
	terms, context, exclude []string
	weight                  float64
}

var ruleSyntax = regexp.MustCompile(`^([^=@!\s]+)(?:=([0-9]+(?:\.[0-9]+)?))?(?:\s+@([^=@!\s]+))?(?:\s+!([^=@!\s]+))?$`)

func parseRule(s string) (ruleSpec, error) {
	m := ruleSyntax.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return ruleSpec{}, fmt.Errorf("规则格式错误: %q", s)
	}
	r := ruleSpec{weight: 2, terms: splitTerms(m[1]), context: splitTerms(m[3]), exclude: splitTerms(m[4])}
	if m[2] != "" {
		w, err := strconv.ParseFloat(m[2], 64)
		if err != nil || w <= 0 || w > 10 {
			return ruleSpec{}, fmt.Errorf("规则权重错误: %q", s)
		}
		r.weight = w
	}
	for _, list := range [][]string{r.terms, r.context, r.exclude} {
		for _, t := range list {
			if normalizeTerm(t) == "" {
				return ruleSpec{}, fmt.Errorf("规则含空词: %q", s)
			}
		}
	}
	return r, nil
}

func splitTerms(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "/")
}

// signal categories of data/registry.json.
const (
	sigConcealment = "concealment"
	sigMajor       = "major"
	sigIllegal     = "illegal"
	sigUrgent      = "urgent"
	sigReferral    = "referral"
	sigEscalate    = "escalate"
)

// Scored signal categories, in the order of Router.signal scores.
var signalCategories = []string{sigConcealment, sigMajor, sigIllegal, sigUrgent, sigReferral, sigEscalate}

// Term lists of data/registry.json that mark words rather than score them:
// 新业态 names; phrases that shadow the shorter keywords inside them (电动车
// contains 动车); and the words that make a nearby place a mere landmark
// ("挨着小学", "学校旁边") rather than the subject of the report; the kinds
// of venue whose department assists when a hazard with its own supervisor is
// reported there, and those hazards (fire exits in a mall: 消防 leads, 商务
// assists). The order matches the term flags termNewForm … termHazard.
const (
	listNewForm        = "newform"
	listShadow         = "shadow"
	listLandmarkBefore = "landmark_before"
	listLandmarkAfter  = "landmark_after"
	listVenue          = "venue"
	listHazard         = "hazard"
)

var termLists = []string{listNewForm, listShadow, listLandmarkBefore, listLandmarkAfter, listVenue, listHazard}

// loadRegistry decodes and validates the registry against the article texts:
// every department of Articles 13–69 is present under its heading name, with
// every item of its article exactly once, a known role and well-formed rules.
func loadRegistry(regJSON []byte, arts *articleSet) (*registryFile, []Department, error) {
	var f registryFile
	dec := json.NewDecoder(strings.NewReader(string(regJSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("registry.json: %w", err)
	}
	if f.Version == "" {
		return nil, nil, fmt.Errorf("registry.json: 缺少版本号")
	}
	idx, err := arts.index()
	if err != nil {
		return nil, nil, err
	}
	headings := make(map[int]string) // 实施细则 article → department heading name
	for _, a := range arts.Articles {
		if a.Document == DocRules && a.Number >= 13 && a.Number <= 69 {
			headings[a.Number] = departmentName(a.Heading)
		}
	}
	seen := make(map[string]bool)
	covered := make(map[int]bool)
	var deps []Department
	for _, fd := range f.Departments {
		doc := fd.Document
		if doc == "" {
			doc = DocRules
		}
		if seen[fd.Name] {
			return nil, nil, fmt.Errorf("部门重复: %s", fd.Name)
		}
		seen[fd.Name] = true
		if doc == DocRules && fd.Article >= 13 && fd.Article <= 69 {
			if headings[fd.Article] != fd.Name {
				return nil, nil, fmt.Errorf("第%d条的部门名称应为 %q，登记为 %q", fd.Article, headings[fd.Article], fd.Name)
			}
			covered[fd.Article] = true
		}
		d := Department{Name: fd.Name, Document: doc, Article: fd.Article, Host: fd.Host, Referral: fd.Referral}
		items := make(map[articleKey]bool)
		for _, fdu := range fd.Duties {
			art := fdu.Article
			if art == 0 {
				art = fd.Article
			}
			k := articleKey{doc, art, fdu.N}
			text, ok := idx[k]
			if !ok {
				return nil, nil, fmt.Errorf("%s: %s%s 在条文中不存在", fd.Name, doc, Citation(art, fdu.N))
			}
			if items[k] {
				return nil, nil, fmt.Errorf("%s: %s 重复登记", fd.Name, Citation(art, fdu.N))
			}
			items[k] = true
			if _, ok := roleWeight[fdu.Role]; !ok {
				return nil, nil, fmt.Errorf("%s %s: 未知职责类型 %q", fd.Name, Citation(art, fdu.N), fdu.Role)
			}
			for _, rs := range fdu.Rules {
				if _, err := parseRule(rs); err != nil {
					return nil, nil, fmt.Errorf("%s %s: %w", fd.Name, Citation(art, fdu.N), err)
				}
			}
			cite := Citation(art, fdu.N)
			if doc == DocAccountability {
				cite = "《安全生产责任追究办法（试行）》" + cite
			}
			d.Duties = append(d.Duties, Duty{Document: doc, Article: art, Item: fdu.N, Role: fdu.Role, Citation: cite, Text: text})
		}
		// Every item of the department's own article must be registered.
		for k := range idx {
			if k.doc == doc && k.article == fd.Article && k.item >= 0 && !items[k] {
				return nil, nil, fmt.Errorf("%s: %s 未登记", fd.Name, Citation(k.article, k.item))
			}
		}
		if len(d.Duties) == 0 {
			return nil, nil, fmt.Errorf("%s: 无职责条款", fd.Name)
		}
		deps = append(deps, d)
	}
	for n := 13; n <= 69; n++ {
		if !covered[n] {
			return nil, nil, fmt.Errorf("第%d条（%s）的部门未登记", n, headings[n])
		}
	}
	for _, name := range []string{SafetyCommitteeOffice, DisciplineCommission} {
		if !seen[name] {
			return nil, nil, fmt.Errorf("缺少部门 %s", name)
		}
	}
	c := f.Concealment
	if !seen[c.Lead] || c.Why == "" {
		return nil, nil, fmt.Errorf("concealment: 牵头部门 %q 未登记或缺少理由", c.Lead)
	}
	for _, d := range deps {
		if d.Name != c.Lead {
			continue
		}
		found := false
		for _, du := range d.Duties {
			found = found || du.Document == DocRules && du.Article == c.Article && du.Item == c.Item
		}
		if !found {
			return nil, nil, fmt.Errorf("concealment: %s 不是 %s 的职责条款", Citation(c.Article, c.Item), c.Lead)
		}
	}
	if f.MajorDomains.Why == "" || len(f.MajorDomains.Departments) == 0 {
		return nil, nil, fmt.Errorf("major_domains: 缺少部门或理由")
	}
	for _, k := range f.MajorDomains.Departments {
		if !seen[k] {
			return nil, nil, fmt.Errorf("major_domains: 部门 %q 未登记", k)
		}
	}
	for cat, rules := range f.Signals {
		if !contains(signalCategories, cat) && !contains(termLists, cat) {
			return nil, nil, fmt.Errorf("未知信号类别 %q", cat)
		}
		for _, rs := range rules {
			if _, err := parseRule(rs); err != nil {
				return nil, nil, fmt.Errorf("信号 %s: %w", cat, err)
			}
		}
	}
	for _, cat := range append(append([]string(nil), signalCategories...), termLists...) {
		if len(f.Signals[cat]) == 0 {
			return nil, nil, fmt.Errorf("缺少信号类别 %q", cat)
		}
	}
	return &f, deps, nil
}

// departmentName turns an article heading ("自治区住房城乡建设厅职责：") into the
// department's name.
func departmentName(heading string) string {
	h := strings.TrimRight(heading, "：:")
	return strings.TrimSuffix(h, "职责")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
