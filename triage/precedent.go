package triage

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"unicode"
)

// Precedents are reports whose lead department has been decided, kept in
// data/precedents/*.jsonl (one labelled report per line). The articles say
// which departments may lead a matter; when the duties of several name it,
// the way such matters were decided before says which one does. Measured on
// sets the keyword rules had never seen, choosing among the departments the
// rules found by precedent raised accuracy from 84–88 % to 93 %
// (data/precedents/README.md).
type Precedent struct {
	Report
	Lead       string   `json:"lead"`        // the reader's lead; empty when only lead_accept is given
	LeadAccept []string `json:"lead_accept"` // every lead the reader accepts
	Kind       string   `json:"kind"`
}

// label is the department a precedent teaches.
func (p Precedent) label() string {
	if p.Lead != "" {
		return p.Lead
	}
	if len(p.LeadAccept) > 0 {
		return p.LeadAccept[0]
	}
	return ""
}

// PrecedentSet is one file of precedents, named by its file name.
type PrecedentSet struct {
	Name    string
	Reports []Precedent
}

// readPrecedents reads every *.jsonl file of dir in fsys.
func readPrecedents(fsys fs.FS, dir string) ([]PrecedentSet, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	var sets []PrecedentSet
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		set := PrecedentSet{Name: path.Base(name)}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var p Precedent
			if err := json.Unmarshal(line, &p); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, n, err)
			}
			if p.Text == "" || p.label() == "" {
				return nil, fmt.Errorf("%s:%d: 判例缺少 text 或 lead", name, n)
			}
			if len(p.LeadAccept) == 0 {
				p.LeadAccept = []string{p.Lead}
			}
			set.Reports = append(set.Reports, p)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// Smoothing of unseen character n-grams. Measured across held-out sets,
// 0.02–0.1 and bigrams with or without trigrams all land within two reports
// of each other; bigrams and trigrams with 0.1 is the middle of that range.
const precedentAlpha = 0.1

// precedentModel is a naive Bayes model over the character bigrams and
// trigrams present in a report (each counted once), trained on the
// precedents and on the article text of every duty item. It only ever ranks
// departments that the rules found; see Router.precedentLead.
type precedentModel struct {
	index  gramTable // n-gram → its id
	from   []int32   // n-gram id → postings[from[id]:from[id+1]]
	post   []gramPost
	unseen []float64 // department → log P(an n-gram it never saw)
	known  []bool    // department has any training text
	docs   int       // precedents (not article items) it learnt from
}

// gramPost: department dep saw the n-gram; w is what that adds to its
// log-likelihood over an unseen n-gram.
type gramPost struct {
	dep int32
	w   float32
}

// gramKey packs a bigram or a trigram of runes (each < 2^21) into one word.
func gramKey(a, b, c rune, tri bool) uint64 {
	if tri {
		return 1<<63 | uint64(a)<<42 | uint64(b)<<21 | uint64(c)
	}
	return uint64(b)<<21 | uint64(c)
}

// eachGram calls f with every character bigram and trigram of the text's
// letters and digits, punctuation and spaces removed (so a gram may span a
// comma, as the model was measured).
func eachGram(text string, f func(uint64)) {
	var a, b rune
	n := 0
	for _, r := range text {
		c, ok := gramRune(r)
		if !ok {
			continue
		}
		if n >= 1 {
			f(gramKey(0, b, c, false))
		}
		if n >= 2 {
			f(gramKey(a, b, c, true))
		}
		a, b = b, c
		n++
	}
}

// gramRune folds r and reports whether it is a letter or digit.
func gramRune(r rune) (rune, bool) {
	c, skip := foldRune(r)
	return c, !skip && isGramRune(c)
}

// isGramRune: a folded rune that n-grams keep, a letter or a digit.
func isGramRune(c rune) bool {
	return c >= 0x4E00 && c <= 0x9FFF || unicode.IsLetter(c) || unicode.IsDigit(c)
}

// gramTable maps n-gram keys to ids by open addressing: on the routing hot
// path it is about twice as fast as a Go map (no n-gram key is 0, which
// marks a free slot).
type gramTable struct {
	keys  []uint64
	ids   []int32
	shift uint
}

func newGramTable(keys []uint64) gramTable {
	size, shift := 1, uint(64)
	for size < 2*len(keys) { // at most half full: short probe runs
		size <<= 1
		shift--
	}
	t := gramTable{keys: make([]uint64, size), ids: make([]int32, size), shift: shift}
	for id, k := range keys {
		i := t.slot(k)
		for t.keys[i] != 0 {
			i = (i + 1) & uint64(size-1)
		}
		t.keys[i], t.ids[i] = k, int32(id)
	}
	return t
}

func (t *gramTable) slot(k uint64) uint64 { return (k * 0x9E3779B97F4A7C15) >> (t.shift & 63) }

func (t *gramTable) get(k uint64) (int32, bool) {
	mask := uint64(len(t.keys) - 1)
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.ids[i], true
		case 0:
			return 0, false
		}
	}
}

// trainingDoc is one text with the department it teaches.
type trainingDoc struct {
	dep  int32
	text string
}

func trainPrecedents(docs []trainingDoc, departments, precedents int) *precedentModel {
	type count struct {
		dep int32
		n   int32
	}
	counts := map[uint64][]count{}
	totals := make([]float64, departments)
	seen := map[uint64]bool{}
	for _, d := range docs {
		clear(seen)
		eachGram(d.text, func(g uint64) {
			if seen[g] {
				return
			}
			seen[g] = true
			totals[d.dep]++
			cs := counts[g]
			for i := range cs {
				if cs[i].dep == d.dep {
					cs[i].n++
					return
				}
			}
			counts[g] = append(cs, count{d.dep, 1})
		})
	}
	m := &precedentModel{unseen: make([]float64, departments),
		known: make([]bool, departments), docs: precedents}
	keys := make([]uint64, 0, len(counts))
	for g := range counts {
		keys = append(keys, g)
	}
	slices.Sort(keys) // the same ids on every start
	vocab := float64(len(keys))
	for dep, t := range totals {
		if t > 0 {
			m.known[dep] = true
			m.unseen[dep] = math.Log(precedentAlpha / (t + precedentAlpha*vocab))
		}
	}
	m.from = make([]int32, 0, len(keys)+1)
	m.index = newGramTable(keys)
	for _, g := range keys {
		m.from = append(m.from, int32(len(m.post)))
		for _, c := range counts[g] {
			m.post = append(m.post, gramPost{c.dep, float32(math.Log((float64(c.n) + precedentAlpha) / precedentAlpha))})
		}
	}
	m.from = append(m.from, int32(len(m.post)))
	return m
}

// add adds what n-gram g says about each department to like, once per
// text; it returns 1 when g is known and new to this text.
func (m *precedentModel) add(g uint64, sc *scratch, like []float64) int {
	id, ok := m.index.get(g)
	if !ok || sc.gramGen[id] == sc.gen {
		return 0
	}
	sc.gramGen[id] = sc.gen
	for _, p := range m.post[m.from[id]:m.from[id+1]] {
		like[p.dep] += float64(p.w)
	}
	return 1
}

// posterior fills sc.like with every known department's log-likelihood of
// the text that match folded into sc.runes and returns the log of their sum, so that a department's
// probability among all of them is exp(sc.like[dep] - norm).
func (m *precedentModel) posterior(sc *scratch) (norm float64) {
	if len(sc.gramGen) < len(m.from) {
		sc.gramGen = make([]uint32, len(m.from))
	}
	if len(sc.like) < len(m.unseen) {
		sc.like = make([]float64, len(m.unseen))
	}
	like := sc.like[:len(m.unseen)]
	clear(like)
	present := 0
	var a, b rune
	n := 0
	for _, c := range sc.runes { // eachGram over runes folded once already
		if !isGramRune(c) {
			continue
		}
		if n >= 1 {
			present += m.add(gramKey(0, b, c, false), sc, like)
		}
		if n >= 2 {
			present += m.add(gramKey(a, b, c, true), sc, like)
		}
		a, b = b, c
		n++
	}
	top := math.Inf(-1)
	for dep := range like {
		if m.known[dep] {
			like[dep] += float64(present) * m.unseen[dep]
			top = max(top, like[dep])
		}
	}
	sum := 0.0
	for dep, l := range like {
		if m.known[dep] {
			sum += math.Exp(l - top)
		}
	}
	return top + math.Log(sum)
}

// precedentMin is how likely, among all departments, precedent must make a
// department before it decides; the model is sharp (most measured winners
// are above 0.9), so this only keeps it out of near ties.
const precedentMin = 0.5

// precedentChoice is what precedent decided: p is the winner's probability
// (0 when the rules' lead stands); nearest is the duty item cited when
// precedent chose a department the rules found too weak (-1 otherwise).
type precedentChoice struct {
	p       float64
	nearest int32
}

// precedentLead: when the duties of several departments name the matter —
// the rules' lead and those close enough to assist it — the department
// whose decided reports read most like this one leads (谁为主谁牵头 as it was
// decided before). It moves that department to the front of rank and
// returns its probability, or 0 when the rules' lead stands.
func (r *Router) precedentLead(sc *scratch, rank []ranked) float64 {
	lead := rank[0]
	var cands [maxAssists]int
	n := 0
	for i := 1; i < len(rank) && n < maxAssists; i++ {
		if r.assists(sc, rank[i], lead) {
			cands[n] = i
			n++
		}
	}
	if n == 0 {
		return 0
	}
	norm := r.prec.posterior(sc)
	best := 0
	bestLike := math.Inf(-1)
	if r.prec.known[lead.dep] {
		bestLike = sc.like[lead.dep]
	}
	for _, i := range cands[:n] {
		if d := rank[i].dep; r.prec.known[d] && sc.like[d] > bestLike {
			best, bestLike = i, sc.like[d]
		}
	}
	p := math.Exp(bestLike - norm)
	if best == 0 || p < precedentMin {
		return 0
	}
	v := rank[best]
	copy(rank[1:best+1], rank[:best])
	rank[0] = v
	return p
}

// precedentNearest: when no duty names the matter well enough, the
// department whose decided reports read most like this one is the nearest
// (谁靠近谁牵头) — if the rules found any of its duties' words at all, so
// that the decision still rests on an article; its best item is cited.
// Otherwise the 自治区安委办 decides.
func (r *Router) precedentNearest(sc *scratch) precedentChoice {
	none := precedentChoice{nearest: -1}
	if len(sc.depts) == 0 {
		return none
	}
	norm := r.prec.posterior(sc)
	best := int32(-1)
	for dep, known := range r.prec.known {
		if known && (best < 0 || sc.like[dep] > sc.like[best]) {
			best = int32(dep)
		}
	}
	if best < 0 || sc.deptGen[best] != sc.gen {
		return none
	}
	p := math.Exp(sc.like[best] - norm)
	if p < precedentMin {
		return none
	}
	return precedentChoice{p: p, nearest: sc.deptBest[best]}
}

// percent writes a probability as a whole percentage for explanations.
func percent(p float64) string {
	return strconv.Itoa(int(math.Round(p*100))) + "%"
}
