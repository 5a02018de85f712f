package triage

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Thresholds of the scorer, in rule-weight units (a weight-4 rule is a
// keyword naming a department's sector outright; see registry.json).
const (
	minCompetent   = 3.0 // below this the best match is only "close": 谁靠近谁牵头
	minNearest     = 1.5 // below this nothing is close and 安委办 decides
	assistFloor    = 3.0 // an assisting department needs at least this score…
	assistShare    = 0.4 // …and this share of the lead's score
	primaryShare   = 0.6 // a runner-up this close makes it 谁为主谁牵头
	namedWeight    = 5.0 // a rule this strong names the matter: no 新业态 doubt
	strongWeight   = 4.0 // an assistant with a rule this strong names the matter too: 谁为主谁牵头
	maxAssists     = 3
	majorThreshold = 5.0 // signal scores deciding the kind
	// in sectors with national major-hazard criteria (registry major_domains)
	// a lower score makes a hazard major
	majorDomainThreshold = 2.0
	illegalMin           = 3.0
	concealMin           = 4.0
	referralMin          = 3.0
	escalateMin          = 3.0
)

// Limits that keep the work per report bounded whatever its length.
const (
	maxOccurrences = 4096 // keyword occurrences examined for shadows and landmarks
	maxPunct       = 1024
	maxGramRunes   = 4096 // runes whose n-grams precedent compares
	landmarkGap    = 8    // runes between 挨着/离… and the place it qualifies
	landmarkAfter  = 2    // runes between a place and 旁边/附近…
	landmarkFactor = 0.4  // what a rule is worth when its keywords are only landmarks
	dutyRepeat     = 0.5  // what further rules of one duty add, relative to their weight
	// 谁为主谁牵头 by the hazard, not the venue: when another department's
	// rule at least this strong names what is wrong, rules that only name
	// the kind of venue count for venueFactor of their weight.
	venueYield  = 3.0
	venueFactor = 0.5
)

// scratch is the per-call working memory, reused through the Router's pool;
// generation stamps avoid clearing arrays between calls.
type scratch struct {
	gen       uint32
	termGen   []uint32 // term seen in this call
	subjGen   []uint32 // term seen at least once not as a landmark
	ruleGen   []uint32
	dutyGen   []uint32
	deptGen   []uint32
	occ       []occurrence
	special   []occurrence // occurrences of shadowing and landmark words
	punct     []int32
	hits      []int32 // distinct terms, in order of first occurrence
	cand      []int32 // rules whose terms, context and exclusions hold
	fired     []int32 // rules that scored
	credited  []credit
	venueLoss []loss   // weight departments lost because their keywords only named the venue
	hazards   [2]int32 // departments whose hazard rules made venue words yield, -1 when fewer
	duties    []int32  // duties that scored
	dutySum   []float64
	dutyMax   []float64
	dutyScore []float64
	deptTop   [][3]float64
	deptBest  []int32 // best duty per department
	depts     []int32 // departments that scored
	signal    [8]float64
	mentions  []mention
	runes     []rune    // the folded text (its first maxGramRunes), for precedent n-grams
	gramGen   []uint32  // precedent n-gram seen in this call
	gramIDs   []int32   // the text's distinct precedent n-grams
	gramNorm  float64   // length of the text's TF-IDF vector
	sim       []float64 // department → similarity to its precedents
}

// occurrence is one keyword hit: its term and the folded rune span
// [end-length, end).
type occurrence struct {
	term, end, length int32
}

// credit records that a department already scored with a keyword, so the
// same word cannot count twice through two items of one article.
type credit struct{ dep, term int32 }

// loss is weight a department's venue rule gave up to another department's
// hazard rule; the department still assists as if it had kept it.
type loss struct {
	dep int32
	w   float64
}

func (sc *scratch) venueLossOf(dep int32) float64 {
	v := 0.0
	for _, l := range sc.venueLoss {
		if l.dep == dep {
			v += l.w
		}
	}
	return v
}

func (r *Router) newScratch() any {
	return &scratch{
		termGen:   make([]uint32, len(r.terms)),
		subjGen:   make([]uint32, len(r.terms)),
		ruleGen:   make([]uint32, len(r.rules)),
		dutyGen:   make([]uint32, len(r.duties)),
		deptGen:   make([]uint32, len(r.deps)),
		dutySum:   make([]float64, len(r.duties)),
		dutyMax:   make([]float64, len(r.duties)),
		dutyScore: make([]float64, len(r.duties)),
		deptTop:   make([][3]float64, len(r.deps)),
		deptBest:  make([]int32, len(r.deps)),
	}
}

func (sc *scratch) reset() {
	sc.gen++
	if sc.gen == 0 { // wrapped: stale stamps could collide
		for _, a := range [][]uint32{sc.termGen, sc.subjGen, sc.ruleGen, sc.dutyGen, sc.deptGen, sc.gramGen} {
			clear(a)
		}
		sc.gen = 1
	}
	sc.occ, sc.special, sc.punct, sc.hits, sc.cand, sc.fired = sc.occ[:0], sc.special[:0], sc.punct[:0], sc.hits[:0], sc.cand[:0], sc.fired[:0]
	sc.credited, sc.duties, sc.depts, sc.mentions = sc.credited[:0], sc.duties[:0], sc.depts[:0], sc.mentions[:0]
	sc.venueLoss, sc.runes = sc.venueLoss[:0], sc.runes[:0]
	sc.signal = [8]float64{}
}

func (sc *scratch) has(t int32) bool { return sc.termGen[t] == sc.gen }

func (sc *scratch) hasAny(ts []int32) bool {
	for _, t := range ts {
		if sc.termGen[t] == sc.gen {
			return true
		}
	}
	return false
}

func (sc *scratch) isCredited(dep, term int32) bool {
	for _, c := range sc.credited {
		if c == (credit{dep, term}) {
			return true
		}
	}
	return false
}

// Route decides lead, assistants, principle, citations, kind, flags and
// jurisdiction for one report. It is pure and never panics on any input.
func (r *Router) Route(rep Report) Decision {
	sc := r.pool.Get().(*scratch)
	defer r.pool.Put(sc)
	sc.reset()
	r.match(rep.Text, sc)
	r.score(sc)
	return r.decide(rep, sc)
}

func isPunct(c rune) bool {
	switch c {
	case '，', '。', '；', '！', '？', '、', '：', ',', '.', ';', '!', '?', ':', '…', '（', '）', '(', ')', '“', '”', '"':
		return true
	}
	return false
}

// match runs the automaton over the text once, then drops keywords shadowed
// by a longer phrase and marks those that only name a landmark.
func (r *Router) match(text string, sc *scratch) {
	m := r.m
	s := int32(0)
	pos := int32(0)
	for _, c := range text {
		f, skip := foldRune(c)
		if skip {
			continue
		}
		pos++
		if len(sc.runes) < maxGramRunes {
			sc.runes = append(sc.runes, f)
		}
		if isPunct(f) && len(sc.punct) < maxPunct {
			sc.punct = append(sc.punct, pos)
		}
		s = m.step(s, m.classOf(f))
		for _, t := range m.outs[m.outFrom[s]:m.outFrom[s+1]] {
			if r.isPlace[t] && len(sc.mentions) < 64 {
				sc.mentions = append(sc.mentions, mention{place: r.places[t], end: pos, length: m.lengths[t]})
			}
			if len(sc.occ) < maxOccurrences {
				o := occurrence{t, pos, m.lengths[t]}
				sc.occ = append(sc.occ, o)
				if r.flags[t]&(termShadow|termLandmarkBefore|termLandmarkAfter) != 0 {
					sc.special = append(sc.special, o)
				}
			} else if sc.termGen[t] != sc.gen { // beyond the bound: a plain hit
				sc.termGen[t], sc.subjGen[t] = sc.gen, sc.gen
				sc.hits = append(sc.hits, t)
			}
		}
	}
	for _, o := range sc.occ {
		if r.shadowed(sc, o) {
			continue
		}
		t := o.term
		if sc.termGen[t] != sc.gen {
			sc.termGen[t] = sc.gen
			sc.hits = append(sc.hits, t)
		}
		if !r.landmark(sc, o) {
			sc.subjGen[t] = sc.gen
		}
	}
}

// shadowed: o lies inside a longer occurrence of a shadowing phrase.
func (r *Router) shadowed(sc *scratch, o occurrence) bool {
	for _, p := range sc.special {
		if p.length > o.length && r.flags[p.term]&termShadow != 0 && p.end-p.length <= o.end-o.length && o.end <= p.end {
			return true
		}
	}
	return false
}

// landmark: o follows 挨着/离/旁边就是… closely within one clause, or is
// followed at once by 旁边/附近…: the report names it to say where, not what.
func (r *Router) landmark(sc *scratch, o occurrence) bool {
	start := o.end - o.length
	for _, p := range sc.special {
		f := r.flags[p.term]
		if f&termLandmarkBefore != 0 && p.end <= start && start-p.end <= landmarkGap && !punctBetween(sc.punct, p.end, start) {
			return true
		}
		if f&termLandmarkAfter != 0 && p.end-p.length >= o.end && p.end-p.length-o.end <= landmarkAfter {
			return true
		}
	}
	return false
}

// punctBetween reports punctuation at a rune position in (from, to].
func punctBetween(punct []int32, from, to int32) bool {
	for _, p := range punct {
		if p > from && p <= to {
			return true
		}
	}
	return false
}

// score fires every rule whose term occurred, whose context is present and
// whose exclusions are absent — once per rule, strongest first, and never
// twice for the same keyword within one department. Further rules of a duty
// add half their weight; rules that only name landmarks count for less.
func (r *Router) score(sc *scratch) {
	for _, t := range sc.hits {
		for _, ri := range r.postings[t] {
			if sc.ruleGen[ri] == sc.gen {
				continue
			}
			sc.ruleGen[ri] = sc.gen
			ru := &r.rules[ri]
			if len(ru.context) > 0 && !sc.hasAny(ru.context) || sc.hasAny(ru.exclude) {
				continue
			}
			sc.cand = append(sc.cand, ri)
		}
	}
	slices.SortFunc(sc.cand, func(a, b int32) int {
		if c := cmp.Compare(r.rules[b].weight, r.rules[a].weight); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	hazard := r.hazardDepartments(sc)
	sc.hazards = hazard
	for _, ri := range sc.cand {
		ru := &r.rules[ri]
		if ru.signal {
			sc.signal[ru.owner] += ru.weight
			sc.fired = append(sc.fired, ri)
			continue
		}
		d := ru.owner
		dep := r.duties[d].dept
		fresh, subject := false, false
		for _, t := range ru.terms {
			if !sc.has(t) {
				continue
			}
			if !sc.isCredited(dep, t) {
				fresh = true
				sc.credited = append(sc.credited, credit{dep, t})
			}
			if sc.subjGen[t] == sc.gen || r.flags[t]&termPlace == 0 {
				subject = true
			}
		}
		if !fresh {
			continue
		}
		w := ru.weight * r.duties[d].weight
		if !subject {
			w *= landmarkFactor
		}
		if (hazard[0] >= 0 && hazard[0] != dep || hazard[1] >= 0 && hazard[1] != dep) && r.venueOnly(sc, ru) && !r.ownsMatter(sc, dep) {
			sc.venueLoss = append(sc.venueLoss, loss{dep, w * (1 - venueFactor)})
			w *= venueFactor
		}
		sc.fired = append(sc.fired, ri)
		if sc.dutyGen[d] != sc.gen {
			sc.dutyGen[d] = sc.gen
			sc.dutySum[d], sc.dutyMax[d] = 0, 0
			sc.duties = append(sc.duties, d)
		}
		sc.dutySum[d] += w
		sc.dutyMax[d] = math.Max(sc.dutyMax[d], w)
	}
	for _, d := range sc.duties {
		sc.dutyScore[d] = sc.dutyMax[d] + dutyRepeat*(sc.dutySum[d]-sc.dutyMax[d])
		dep := r.duties[d].dept
		if sc.deptGen[dep] != sc.gen {
			sc.deptGen[dep] = sc.gen
			sc.deptTop[dep] = [3]float64{}
			sc.deptBest[dep] = d
			sc.depts = append(sc.depts, dep)
		}
		v := sc.dutyScore[d]
		top := &sc.deptTop[dep]
		switch {
		case v > top[0]:
			top[0], top[1], top[2] = v, top[0], top[1]
			sc.deptBest[dep] = d
		case v > top[1]:
			top[1], top[2] = v, top[1]
		case v > top[2]:
			top[2] = v
		}
	}
}

// venueOnly: every keyword of ru that occurs in the text names a kind of venue.
func (r *Router) venueOnly(sc *scratch, ru *rule) bool {
	for _, t := range ru.terms {
		if sc.has(t) && r.flags[t]&termVenue == 0 {
			return false
		}
	}
	return true
}

// hazardDepartments returns up to two departments with a candidate rule of
// at least venueYield that names a hazard with its own supervisor (a term or
// context word of the registry's hazard list) as the subject of the report,
// -1 when there are fewer.
func (r *Router) hazardDepartments(sc *scratch) [2]int32 {
	found := [2]int32{-1, -1}
	for _, ri := range sc.cand {
		ru := &r.rules[ri]
		if ru.signal || ru.weight*r.duties[ru.owner].weight < venueYield {
			continue
		}
		subject, hazard := false, false
		for _, t := range ru.terms {
			if sc.has(t) {
				subject = subject || sc.subjGen[t] == sc.gen || r.flags[t]&termPlace == 0
				hazard = hazard || r.flags[t]&termHazard != 0
			}
		}
		for _, t := range ru.context {
			hazard = hazard || sc.has(t) && r.flags[t]&termHazard != 0
		}
		dep := r.duties[ru.owner].dept
		switch {
		case !subject || !hazard || dep == found[0] || dep == found[1]:
		case found[0] < 0:
			found[0] = dep
		default:
			found[1] = dep
			return found
		}
	}
	return found
}

// ownsMatter: dep has a candidate rule of at least venueYield that names
// more than a venue — the report concerns the venue's own duty (a school
// laboratory), so its venue words keep their weight.
func (r *Router) ownsMatter(sc *scratch, dep int32) bool {
	for _, ri := range sc.cand {
		ru := &r.rules[ri]
		if !ru.signal && r.duties[ru.owner].dept == dep && ru.weight*r.duties[ru.owner].weight >= venueYield && !r.venueOnly(sc, ru) {
			return true
		}
	}
	return false
}

// deptScore: the best duty decides, further matching duties of the same
// department add a little (公安 for a tanker that speeds: 28(一) and 28(三)).
func deptScore(top [3]float64) float64 { return top[0] + 0.35*top[1] + 0.15*top[2] }

type ranked struct {
	dep   int32
	score float64
}

func (r *Router) decide(rep Report, sc *scratch) Decision {
	var rank []ranked
	for _, dep := range sc.depts {
		if dep == r.referral || dep == r.committee {
			continue
		}
		rank = append(rank, ranked{dep, deptScore(sc.deptTop[dep])})
	}
	slices.SortFunc(rank, func(a, b ranked) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.dep, b.dep)
	})
	venueLed := r.venueLeads(sc, rank)
	dec := Decision{}
	if len(rank) > 0 {
		dec.Kind = r.kind(sc, rank[0].dep)
	} else {
		dec.Kind = r.kind(sc, -1)
	}
	major := dec.Kind == KindMajorHazard // by the signals and national criteria: urgency and escalation follow it
	dec.Urgent = major && sc.signal[sigIndex(sigUrgent)] > 0
	r.prec.read(sc)
	if k := r.precedentKind(sc); k != "" && dec.Kind != KindConcealment && !dec.Urgent {
		dec.Kind = k // readers judge the kind as they did before; a concealed accident or an imminent danger stays what it is
	}
	dec.Referral = sc.signal[sigIndex(sigReferral)] >= referralMin
	jur, jurNote := r.gaz.resolve(rep.City, rep.County, sc.mentions)
	dec.Jurisdiction = jur

	var lead ranked
	if len(rank) > 0 {
		lead = rank[0]
	}
	prec := noPrecedent
	switch {
	case lead.score < minNearest:
		prec = r.precedentNearest(sc)
	case !venueLed: // the whole matter, not precedent, made the venue lead
		prec = r.precedentLead(sc, rank)
		lead = rank[0]
	}
	second := 0.0
	if len(rank) > 1 {
		second = rank[1].score
	}
	newForm := r.newFormTerm(sc)
	switch {
	case lead.score < minNearest && prec.nearest >= 0:
		lead = ranked{dep: r.duties[prec.nearest].dept, score: lead.score}
		dec.Lead = r.deps[lead.dep].Name
		dec.Principle = PrincipleNearest
		dec.Basis = []string{r.duties[prec.nearest].Citation}
		dec.Confidence = 0.3
	case lead.score < minNearest:
		dec.Lead = r.deps[r.committee].Name
		dec.Principle = PrincipleNearest
		dec.Basis = []string{Citation(10, 4), Citation(11, 1)}
		dec.Confidence = 0.2
	default:
		dec.Lead = r.deps[lead.dep].Name
		for _, o := range rank[1:] {
			if len(dec.Assist) == maxAssists {
				break
			}
			if r.assists(sc, o, lead) {
				dec.Assist = append(dec.Assist, r.deps[o.dep].Name)
			}
		}
		switch {
		case lead.score < minCompetent || newForm >= 0 && r.bestRuleWeight(sc, lead.dep) < namedWeight:
			dec.Principle = PrincipleNearest
		case len(dec.Assist) > 0 && (second >= primaryShare*lead.score || r.bestRuleWeight(sc, rank[1].dep) >= strongWeight):
			dec.Principle = PrinciplePrimary
		default:
			dec.Principle = PrincipleCompetent
		}
		dec.Basis = r.basis(sc, lead, rank)
		margin := max(0, lead.score-second) / lead.score // a venue that leads may trail its hazards
		if prec.sim > 0 {
			margin = prec.margin // it may trail the rules' first choice: precedent decided
		}
		dec.Confidence = math.Round(lead.score/(lead.score+4)*(0.6+0.4*margin)*100) / 100
	}
	if dec.Kind == KindConcealment {
		if prec.nearest >= 0 {
			lead.score = minNearest // a department close enough to assist the investigator
		}
		lead = r.concealmentLead(&dec, lead)
	}
	if dec.Referral {
		dec.Assist = append(dec.Assist, r.deps[r.referral].Name)
	}
	dec.Escalate = major && (sc.signal[sigIndex(sigEscalate)] >= escalateMin || jur.Ambiguous ||
		len(rank) > 2 && rank[2].score >= assistShare*lead.score && rank[2].score >= minCompetent+1)
	dec.Explanation = r.explain(dec, sc, lead, rank, newForm, prec, jurNote)
	return dec
}

// venueLeads moves the venue's department to the front when the report
// lists hazards of two different supervisors in that venue (液化气 and a
// blocked staircase in a kindergarten): no single hazard duty covers the
// complaint, the venue's own safety management (教育 24(一): 督促各类学校
// 落实安全防范措施) does when its article supervises the venue — 谁为主谁牵头
// by the whole matter.
func (r *Router) venueLeads(sc *scratch, rank []ranked) bool {
	if sc.hazards[1] < 0 || len(rank) < 2 {
		return false
	}
	best, bestLost := -1, 0.0
	for i, o := range rank {
		if o.dep == sc.hazards[0] || o.dep == sc.hazards[1] {
			continue
		}
		if r.duties[sc.deptBest[o.dep]].Role != RoleSupervise {
			continue // 商务 39(一) only guides 商贸服务业; it does not supervise the venue
		}
		if lost := sc.venueLossOf(o.dep); lost > bestLost && o.score+lost >= venueYield {
			best, bestLost = i, lost
		}
	}
	if best > 0 {
		v := rank[best]
		v.score += bestLost // it leads for the venue, so its venue words count in full
		copy(rank[1:best+1], rank[:best])
		rank[0] = v
		return true
	}
	return false
}

// assists: a runner-up close enough to the lead to be asked to help; the
// department of the venue where the hazard is assists whenever its own
// keywords would have made it an assistant (谁为主谁牵头: 消防 leads, 商务 helps).
func (r *Router) assists(sc *scratch, o, lead ranked) bool {
	if lost := sc.venueLossOf(o.dep); lost > 0 {
		return o.score+lost >= assistFloor
	}
	return o.score >= assistFloor && o.score >= assistShare*lead.score
}

// concealmentLead: a concealed accident is checked by the department that
// manages its sector (管行业必须管安全), the accident investigator assisting
// (Art. 4); when no sector shows, the investigator leads.
func (r *Router) concealmentLead(dec *Decision, lead ranked) ranked {
	investigator := r.deps[r.conceal.lead].Name
	if lead.score >= minNearest {
		if lead.dep != r.conceal.lead {
			dec.Assist = append([]string{investigator}, slices.DeleteFunc(dec.Assist, func(a string) bool { return a == investigator })...)
			if len(dec.Assist) > maxAssists {
				dec.Assist = dec.Assist[:maxAssists]
			}
			dec.Basis = append(slices.DeleteFunc(dec.Basis, func(b string) bool { return b == r.conceal.citation }), r.conceal.citation)
			dec.Principle = PrinciplePrimary
		}
		return lead
	}
	basis := []string{r.conceal.citation}
	for _, b := range dec.Basis {
		if b != r.conceal.citation && !strings.HasPrefix(b, "第十条") && !strings.HasPrefix(b, "第十一条") {
			basis = append(basis, b)
		}
	}
	dec.Lead, dec.Basis = investigator, basis
	dec.Assist = slices.DeleteFunc(dec.Assist, func(a string) bool { return a == investigator })
	dec.Principle = PrincipleCompetent
	dec.Confidence = math.Max(dec.Confidence, 0.5)
	return ranked{dep: r.conceal.lead, score: -1}
}

func containsDep(list []int32, d int32) bool {
	for _, x := range list {
		if x == d {
			return true
		}
	}
	return false
}

func sigIndex(cat string) int {
	for i, c := range signalCategories {
		if c == cat {
			return i
		}
	}
	return len(signalCategories)
}

// kind: a concealed accident first, then a major hazard, then an illegal act.
func (r *Router) kind(sc *scratch, lead int32) string {
	major := majorThreshold
	// a venue's supervisor that leads for its hazards (venueLeads) is judged
	// by those hazards' national criteria
	if containsDep(r.majorDom, lead) || lead != sc.hazards[0] && lead != sc.hazards[1] && sc.hazards[1] >= 0 &&
		(containsDep(r.majorDom, sc.hazards[0]) || containsDep(r.majorDom, sc.hazards[1])) {
		major = majorDomainThreshold
	}
	switch {
	case sc.signal[sigIndex(sigConcealment)] >= concealMin:
		return KindConcealment
	case sc.signal[sigIndex(sigMajor)] >= major:
		return KindMajorHazard
	case sc.signal[sigIndex(sigIllegal)] >= illegalMin || sc.signal[sigIndex(sigReferral)] >= referralMin:
		return KindIllegal
	default:
		return KindHazard
	}
}

// newFormTerm returns the longest 新业态 term of the text (换电柜 over 换电), or -1.
func (r *Router) newFormTerm(sc *scratch) int32 {
	best := int32(-1)
	for _, t := range sc.hits {
		if r.flags[t]&termNewForm != 0 && (best < 0 || r.m.lengths[t] > r.m.lengths[best]) {
			best = t
		}
	}
	return best
}

// bestRuleWeight is the weight of the strongest rule of dep that fired.
func (r *Router) bestRuleWeight(sc *scratch, dep int32) float64 {
	best := 0.0
	for _, ri := range sc.fired {
		ru := &r.rules[ri]
		if !ru.signal && r.duties[ru.owner].dept == dep && ru.weight > best {
			best = ru.weight
		}
	}
	return best
}

// basis cites the lead's scoring items (its best, and others at least half as
// strong, at most three) and then the best item of each assistant.
func (r *Router) basis(sc *scratch, lead ranked, rank []ranked) []string {
	var own []int32
	for _, d := range sc.duties {
		if r.duties[d].dept == lead.dep && sc.dutyScore[d] >= 0.5*sc.deptTop[lead.dep][0] {
			own = append(own, d)
		}
	}
	slices.SortFunc(own, func(a, b int32) int {
		if c := cmp.Compare(sc.dutyScore[b], sc.dutyScore[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	if len(own) > 3 {
		own = own[:3]
	}
	var out []string
	for _, d := range own {
		out = append(out, r.duties[d].Citation)
	}
	for _, o := range rank[1:] {
		if len(out) >= 3+maxAssists {
			break
		}
		if r.assists(sc, o, lead) {
			out = append(out, r.duties[sc.deptBest[o.dep]].Citation)
		}
	}
	return out
}

// matchedTerms lists the text's keywords that fired rules of duty d.
func (r *Router) matchedTerms(sc *scratch, d int32, max int) []string {
	var out []string
	for _, ri := range sc.fired {
		ru := &r.rules[ri]
		if ru.signal || ru.owner != d {
			continue
		}
		for _, t := range ru.terms {
			if sc.has(t) && !contains(out, r.terms[t]) {
				out = append(out, r.terms[t])
				if len(out) == max {
					return out
				}
			}
		}
	}
	return out
}

// explain writes the one-paragraph zh-CN account a handler reads.
func (r *Router) explain(dec Decision, sc *scratch, lead ranked, rank []ranked, newForm int32, prec precedentChoice, jurNote string) string {
	var b strings.Builder
	b.Grow(768)
	w := func(parts ...string) { // several pieces without temporary strings
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	switch {
	case lead.score < 0: // a concealed accident in no clear sector, see concealmentLead
		w("来件反映生产安全事故瞒报、谎报，未显示所属行业，依据《实施细则》", r.conceal.citation, "（应急管理部门负责事故调查处理），由", dec.Lead, "牵头调查核实（", dec.Principle, "）。")
	case prec.nearest >= 0:
		du := r.duties[prec.nearest]
		b.WriteString("来件未直接对应《实施细则》条文列明的职责")
		if newForm >= 0 {
			w("（涉及新业态“", r.terms[newForm], "”）")
		}
		w("；与", strconv.Itoa(r.prec.docs), "件已定案举报比对，最相近的是", dec.Lead, "的职责（", du.Citation, "：", du.summary,
			"），按“谁靠近谁牵头”原则由其牵头办理（相似度", decimal(prec.sim), "）。")
	case lead.score < minNearest:
		b.WriteString("来件未对应《实施细则》第十三条至第六十九条中任何部门的职责，")
		if newForm >= 0 {
			w("涉及新业态“", r.terms[newForm], "”，")
		}
		b.WriteString("按“谁靠近谁牵头”原则，依第十条(四)、第十一条由自治区安委办（设在自治区应急管理厅）明确牵头部门。")
	default:
		d := sc.deptBest[lead.dep]
		du := r.duties[d]
		w("依据《实施细则》", du.Citation, "（", du.summary, "），")
		if ts := r.matchedTerms(sc, d, 4); len(ts) > 0 {
			b.WriteString("来件涉及")
			for _, t := range ts {
				b.WriteString("“")
				b.WriteString(t)
				b.WriteString("”")
			}
			b.WriteString("，")
		}
		w("由", dec.Lead, "牵头办理（", dec.Principle)
		switch dec.Principle {
		case PrinciplePrimary:
			if prec.sim > 0 {
				w("：多个部门职责涉及此事，与", strconv.Itoa(r.prec.docs), "件已定案举报比对，此类问题由该部门牵头的相似度最高（", decimal(prec.sim), "）")
			} else {
				b.WriteString("：多个部门职责涉及此事，该部门的职责与所反映问题最直接")
			}
		case PrincipleNearest:
			if newForm >= 0 {
				w("：涉及新业态“", r.terms[newForm], "”，条文未直接列明，由职责最相近的部门牵头")
			} else {
				b.WriteString("：条文未直接列明，由职责最相近的部门牵头")
			}
		}
		b.WriteString("）。")
	}
	conceal := dec.Kind == KindConcealment && lead.score >= 0
	if conceal && dec.Lead != r.deps[r.conceal.lead].Name {
		w("来件反映生产安全事故瞒报、谎报，", r.deps[r.conceal.lead].Name, "依", r.conceal.citation, "（负责事故调查处理）配合调查。")
	}
	for _, o := range rank {
		name := r.deps[o.dep].Name
		if name == dec.Lead || !contains(dec.Assist, name) || conceal && o.dep == r.conceal.lead {
			continue
		}
		od := r.duties[sc.deptBest[o.dep]]
		w(name, "依", od.Citation, "（", od.summary, "）配合。")
	}
	w("类型：", dec.Kind)
	if dec.Urgent {
		b.WriteString("，存在紧迫危险，应立即处置")
	}
	b.WriteString("。")
	if dec.Referral {
		b.WriteString("来件反映公职人员涉嫌收受好处、通风报信或人情执法，依《安全生产责任追究办法（试行）》第四条(五)、第七条(一)将线索抄送自治区纪委监委。")
	}
	if dec.Escalate {
		b.WriteString("属跨区域或跨行业的重大事故隐患，建议提级督办。")
	}
	b.WriteString("属地：")
	switch {
	case dec.Jurisdiction.City != "" || dec.Jurisdiction.County != "":
		w(dec.Jurisdiction.City, dec.Jurisdiction.County, "（", jurNote, "）。")
	default:
		w(jurNote, "。")
	}
	return b.String()
}
