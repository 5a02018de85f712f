package triage

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Principles of 实施细则 Art. 2 that decide a lead.
const (
	PrincipleCompetent = "谁主管谁牵头"
	PrinciplePrimary   = "谁为主谁牵头"
	PrincipleNearest   = "谁靠近谁牵头"
)

// Kinds of report; they drive reward rules and priority (RULES.md).
const (
	KindMajorHazard = "重大事故隐患"
	KindHazard      = "一般隐患"
	KindIllegal     = "违法行为"
	KindConcealment = "瞒报谎报事故"
)

// Report is one report as the worker or the CLI hands it over.
type Report struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	City    string `json:"city"`
	County  string `json:"county"`
	Text    string `json:"text"`
}

// Decision is the routing of one report, with everything an auditor needs to
// see why: the principle, the cited items and a zh-CN explanation.
type Decision struct {
	Lead         string       `json:"lead"`
	Assist       []string     `json:"assist"`
	Principle    string       `json:"principle"`
	Basis        []string     `json:"basis"` // citations of the lead's items first, then the assistants'
	Kind         string       `json:"kind"`
	Urgent       bool         `json:"urgent"`
	Referral     bool         `json:"referral"` // copy to 自治区纪委监委 (officials accused: 收钱不查、通风报信、人情执法…)
	Escalate     bool         `json:"escalate"` // 提级督办: a major hazard spanning jurisdictions or industries
	Jurisdiction Jurisdiction `json:"jurisdiction"`
	Confidence   float64      `json:"confidence"`
	Explanation  string       `json:"explanation"`
}

// rule is a compiled registry or signal rule.
type rule struct {
	owner   int32 // duty index, or signal category index for signal rules
	signal  bool
	weight  float64
	terms   []int32
	context []int32
	exclude []int32
}

// duty is a registry item as the scorer sees it.
type duty struct {
	dept    int32
	Duty    // public view
	summary string
	weight  float64 // role weight
}

// Term flags, bit i for termLists[i].
const (
	termNewForm uint8 = 1 << iota
	termShadow
	termLandmarkBefore
	termLandmarkAfter
	termVenue  // a kind of venue (商场, 学校, 医院…): it says where a hazard is, not what it is
	termHazard // a hazard or business with its own supervisor (消防通道, 燃气, 电梯, 蹦床…)
	termPlace  // names a place or an establishment, which a landmark word can demote
)

// placeEndings are the last characters of Chinese names of places and
// establishments (小学, 医院, 商场, 加油站, 清真寺, 水库…); only such keywords are
// discounted when a report merely uses them to say where something is —
// "消防通道边上" still reports the fire exit.
const placeEndings = "学校园院区场馆站楼店厂所寺堂库市村室厅城中心庙宫坊铺馆"

// Router routes reports with the embedded registry and gazetteer. It holds no
// mutable state besides a pool of scratch buffers, so one Router serves any
// number of goroutines.
type Router struct {
	version   string
	deps      []Department
	duties    []duty
	rules     []rule
	postings  [][]int32 // term id → rules that fire on it
	terms     []string
	places    []place // term id → gazetteer place (valid when isPlace)
	isPlace   []bool
	flags     []uint8 // term id → termNewForm | termShadow | …
	conceal   concealment
	majorDom  []int32 // departments whose sectors have national major-hazard criteria
	committee int32   // index of 自治区安委办
	referral  int32   // index of 自治区纪委监委
	m         *matcher
	gaz       *gazetteer
	prec      *precedentModel
	pool      sync.Pool
}

// New loads and validates the embedded registry, article texts, gazetteer
// and precedents.
func New() (*Router, error) {
	sets, err := readPrecedents(precedentFiles, "data/precedents")
	if err != nil {
		return nil, err
	}
	return newRouter(registryJSON, articlesJSON, gazetteerJSON, sets)
}

func newRouter(regJSON, artJSON, gazJSON []byte, precedents []precedentFile) (*Router, error) {
	arts, err := decodeArticles(artJSON)
	if err != nil {
		return nil, err
	}
	f, deps, err := loadRegistry(regJSON, arts)
	if err != nil {
		return nil, err
	}
	gaz, err := loadGazetteer(gazJSON)
	if err != nil {
		return nil, err
	}
	r := &Router{version: f.Version, deps: deps, gaz: gaz, committee: -1, referral: -1}
	termID := map[string]int32{}
	intern := func(t string) int32 {
		k := normalizeTerm(t)
		if id, ok := termID[k]; ok {
			return id
		}
		id := int32(len(r.terms))
		termID[k] = id
		r.terms = append(r.terms, k)
		return id
	}
	internAll := func(ts []string) []int32 {
		ids := make([]int32, len(ts))
		for i, t := range ts {
			ids[i] = intern(t)
		}
		return ids
	}
	addRule := func(spec ruleSpec, owner int32, signal bool) {
		r.rules = append(r.rules, rule{owner: owner, signal: signal, weight: spec.weight,
			terms: internAll(spec.terms), context: internAll(spec.context), exclude: internAll(spec.exclude)})
	}
	for di, fd := range f.Departments {
		switch deps[di].Name {
		case SafetyCommitteeOffice:
			r.committee = int32(di)
		case DisciplineCommission:
			r.referral = int32(di)
		}
		for ui, fdu := range fd.Duties {
			du := deps[di].Duties[ui]
			r.duties = append(r.duties, duty{dept: int32(di), Duty: du, summary: summarize(du.Text), weight: roleWeight[du.Role]})
			for _, rs := range fdu.Rules {
				spec, _ := parseRule(rs) // validated by loadRegistry
				addRule(spec, int32(len(r.duties)-1), false)
			}
		}
	}
	for ci, cat := range signalCategories {
		for _, rs := range f.Signals[cat] {
			spec, _ := parseRule(rs) // validated by loadRegistry
			addRule(spec, int32(ci), true)
		}
	}
	listed := map[int32]uint8{}
	for li, cat := range termLists {
		for _, rs := range f.Signals[cat] {
			spec, _ := parseRule(rs)
			for _, t := range spec.terms {
				listed[intern(t)] |= 1 << li
			}
		}
	}
	for name, p := range gaz.terms {
		id := intern(name)
		for int(id) >= len(r.places) {
			r.places = append(r.places, place{})
			r.isPlace = append(r.isPlace, false)
		}
		r.places[id] = p
		r.isPlace[id] = true
	}
	n := len(r.terms)
	r.flags = make([]uint8, n)
	for id, f := range listed {
		r.flags[id] = f
	}
	for id, t := range r.terms {
		if rs := []rune(t); len(rs) > 1 && strings.ContainsRune(placeEndings, rs[len(rs)-1]) {
			r.flags[id] |= termPlace
		}
	}
	r.places = append(r.places, make([]place, n-len(r.places))...)
	r.isPlace = append(r.isPlace, make([]bool, n-len(r.isPlace))...)
	r.postings = make([][]int32, n)
	for ri, ru := range r.rules {
		for _, t := range ru.terms {
			r.postings[t] = append(r.postings[t], int32(ri))
		}
	}
	// Stronger rules first: when two duties of one department share a
	// keyword, the stronger one takes it.
	for _, p := range r.postings {
		sort.SliceStable(p, func(i, j int) bool { return r.rules[p[i]].weight > r.rules[p[j]].weight })
	}
	if r.committee < 0 || r.referral < 0 {
		return nil, fmt.Errorf("registry.json: 缺少 %s 或 %s", SafetyCommitteeOffice, DisciplineCommission)
	}
	for di, d := range deps {
		if d.Name == f.Concealment.Lead {
			r.conceal.lead = int32(di)
		}
		if contains(f.MajorDomains.Departments, d.Name) {
			r.majorDom = append(r.majorDom, int32(di))
		}
	}
	r.conceal.citation = Citation(f.Concealment.Article, f.Concealment.Item)
	if err := r.learnPrecedents(precedents); err != nil {
		return nil, err
	}
	r.m = newMatcher(r.terms)
	r.pool.New = func() any { return r.newScratch() }
	return r, nil
}

// learnPrecedents trains the precedent model on the decided reports and on
// the article text of every duty item, so that a department nobody has
// reported on yet is still known by its own words. A precedent that names
// no department of the registry is an error: it could only mislead. One the
// 自治区安委办 decided teaches only its kind: the committee is never a
// candidate that precedent chooses.
func (r *Router) learnPrecedents(sets []precedentFile) error {
	depIndex := map[string]int32{r.deps[r.committee].Name: -1}
	for i, d := range r.deps {
		if int32(i) != r.committee && int32(i) != r.referral {
			depIndex[d.Name] = int32(i)
		}
	}
	var docs []trainingDoc
	n := 0
	for _, set := range sets {
		for _, p := range set.Reports {
			dep, ok := depIndex[p.label()]
			if !ok {
				return fmt.Errorf("data/precedents/%s %s: 牵头部门 %q 不是第十三条至第六十九条的部门或自治区安委办", set.Name, p.ID, p.label())
			}
			kind := int32(slices.Index(kinds[:], p.Kind))
			if kind < 0 && p.Kind != "" {
				return fmt.Errorf("data/precedents/%s %s: 类型 %q 不是%s", set.Name, p.ID, p.Kind, strings.Join(kinds[:], "、"))
			}
			docs = append(docs, trainingDoc{dep, kind, p.Text, precedentWeight(set.Name)})
			n++
		}
	}
	for _, du := range r.duties {
		if du.dept != r.committee && du.dept != r.referral {
			docs = append(docs, trainingDoc{du.dept, -1, du.Text, 1})
		}
	}
	r.prec = trainPrecedents(docs, len(r.deps), n)
	r.version += fmt.Sprintf("+precedents-%d", n)
	return nil
}

// referenceSet is the issue's own labelled samples: where readers differ
// on a convention (a grid line's regulator or its owner; a fire in a
// sector's venue), the service follows the reference labels, so each
// counts as much as several other precedents.
const (
	referenceSet    = "public.jsonl"
	referenceWeight = 3
)

func precedentWeight(set string) float64 {
	if set == referenceSet {
		return referenceWeight
	}
	return 1
}

// concealment is the department that investigates accidents: it assists
// the sector's department with a concealed or misreported accident, and
// leads when no sector shows.
type concealment struct {
	lead     int32
	citation string
}

// CityOf is the city of a county-level district or county of the
// gazetteer, or "".
func (r *Router) CityOf(county string) string { return r.gaz.cityOf[r.gaz.canonical(county, true)] }

// Version is the registry version, stored with every routing decision.
func (r *Router) Version() string { return r.version }

// Departments returns the registry: every department with its duty items.
// The slices are copies; callers may keep or change them.
func (r *Router) Departments() []Department {
	out := make([]Department, len(r.deps))
	for i, d := range r.deps {
		d.Duties = append([]Duty(nil), d.Duties...)
		out[i] = d
	}
	return out
}

// summarize keeps the first clause of an item text for explanations.
func summarize(text string) string {
	rs := []rune(text)
	for i, c := range rs {
		if c == '；' || c == ';' || c == '。' {
			rs = rs[:i]
			break
		}
	}
	if len(rs) > 48 {
		rs = append(rs[:46], '…')
	}
	return string(rs)
}
