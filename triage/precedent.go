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

// precedent is a report whose lead department has been decided, kept in
// data/precedents/*.jsonl (one labelled report per line). The articles say
// which departments may lead a matter; when the duties of several name it,
// the way such matters were decided before says which one does. Measured on
// sets the keyword rules had never seen, choosing among the departments the
// rules found by precedent raised accuracy by 5–12 points
// (data/precedents/README.md).
type precedent struct {
	Report
	Lead       string   `json:"lead"`        // the reader's lead; empty when only lead_accept is given
	LeadAccept []string `json:"lead_accept"` // every lead the reader accepts
	Kind       string   `json:"kind"`
}

// label is the department a precedent teaches.
func (p precedent) label() string {
	if p.Lead != "" {
		return p.Lead
	}
	if len(p.LeadAccept) > 0 {
		return p.LeadAccept[0]
	}
	return ""
}

// precedentFile is one file of precedents, named by its file name.
type precedentFile struct {
	Name    string
	Reports []precedent
}

// readPrecedents reads every *.jsonl file of dir in fsys.
func readPrecedents(fsys fs.FS, dir string) ([]precedentFile, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	var sets []precedentFile
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		set := precedentFile{Name: path.Base(name)}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var p precedent
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

// precedentModel compares a report with the precedents as TF-IDF
// centroids (Rocchio): the character bigrams present in a
// text, weighted by how rare they are across all training texts, and the
// cosine between the report and the normalised sum of the normalised texts
// of one class. Two sets of classes share the n-grams: departments (from
// the precedents and the article text of every duty item) and kinds (from
// the precedents that carry one). Measured on four held-out sets, centroids
// chose departments better than naive Bayes (491 against 481 of 540), whose
// sharp posteriors favoured the departments with the most precedents, and
// kinds far better than the kind signals (354 against 265 of 540 agreed
// with the readers). The department model only ever chooses among
// departments the rules found; see Router.precedentLead.
type precedentModel struct {
	index gramTable // n-gram → its id
	idf   []float32 // n-gram id → its inverse document frequency
	dept  centroids // by department index
	// kind[id] weighs n-gram id in each kind's centroid (like gramPost.w),
	// densely: the kind is decided for every report, so its sum is a
	// straight loop
	kind      [][len(kinds)]float32
	kindKnown [len(kinds)]bool
	docs      int // precedents (not article items) it learnt from
}

// kinds are the classes of the kind centroids.
var kinds = [...]string{KindMajorHazard, KindHazard, KindIllegal, KindConcealment}

// centroids are one set of classes: post[from[id]:from[id+1]] are the
// classes whose centroid has n-gram id.
type centroids struct {
	from  []int32
	post  []gramPost
	known []bool // class has any training text
}

// gramPost: the centroid of class c weighs the n-gram w (already
// multiplied by the n-gram's idf, so that a dot product is one sum).
type gramPost struct {
	c int32
	w float32
}

// gramKey packs a bigram of runes (each < 2^21) into one word.
func gramKey(a, b rune) uint64 { return uint64(a)<<21 | uint64(b) }

// eachGram calls f with every character bigram of the text's letters and
// digits, punctuation and spaces removed (so a bigram may span a comma, as
// the model was measured).
func eachGram(text string, f func(uint64)) {
	var prev rune
	for _, r := range text {
		c, ok := gramRune(r)
		if !ok {
			continue
		}
		if prev != 0 {
			f(gramKey(prev, c))
		}
		prev = c
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

// trainingDoc is one text with the department it teaches (or -1), its kind
// (an index in kinds, or -1) and how much it counts in a centroid.
type trainingDoc struct {
	dep, kind int32
	text      string
	weight    float64
}

func trainPrecedents(docs []trainingDoc, departments, precedents int) *precedentModel {
	grams := make([][]uint64, len(docs)) // each text's distinct n-grams
	df := map[uint64]int{}
	for i, d := range docs {
		eachGram(d.text, func(g uint64) { grams[i] = append(grams[i], g) })
		slices.Sort(grams[i])
		grams[i] = slices.Compact(grams[i])
		for _, g := range grams[i] {
			df[g]++
		}
	}
	keys := make([]uint64, 0, len(df))
	for g := range df {
		keys = append(keys, g)
	}
	slices.Sort(keys) // the same ids on every start
	m := &precedentModel{index: newGramTable(keys), idf: make([]float32, len(keys)), docs: precedents}
	for id, g := range keys {
		m.idf[id] = float32(math.Log(float64(len(docs)) / float64(df[g])))
	}
	ids := make([][]int32, len(docs))
	for i := range docs {
		for _, g := range grams[i] {
			id, _ := m.index.get(g)
			ids[i] = append(ids[i], id)
		}
	}
	m.dept = m.sparse(m.centroids(docs, ids, departments, func(d trainingDoc) int32 { return d.dep }))
	m.kind = make([][len(kinds)]float32, len(keys))
	for c, vec := range m.centroids(docs, ids, len(kinds), func(d trainingDoc) int32 { return d.kind }) {
		m.kindKnown[c] = vec != nil
		for id, w := range vec {
			m.kind[id][c] = w
		}
	}
	return m
}

// centroids sums the normalised TF-IDF vectors of the texts of each class
// (class(doc) < 0: none) and normalises the sums; an n-gram's weight is
// multiplied by its idf once more, so that a cosine is one sum over the
// report's n-grams. A class without texts has a nil centroid.
func (m *precedentModel) centroids(docs []trainingDoc, ids [][]int32, classes int, class func(trainingDoc) int32) []map[int32]float32 {
	sum := make([]map[int32]float64, classes)
	for i, d := range docs {
		c := class(d)
		if c < 0 {
			continue
		}
		norm := 0.0
		for _, id := range ids[i] {
			norm += float64(m.idf[id]) * float64(m.idf[id])
		}
		if norm == 0 {
			continue
		}
		norm = math.Sqrt(norm) / d.weight
		if sum[c] == nil {
			sum[c] = map[int32]float64{}
		}
		for _, id := range ids[i] {
			sum[c][id] += float64(m.idf[id]) / norm
		}
	}
	out := make([]map[int32]float32, classes)
	for c, vec := range sum {
		norm := 0.0
		for _, v := range vec {
			norm += v * v
		}
		if norm == 0 {
			continue
		}
		norm = math.Sqrt(norm)
		out[c] = make(map[int32]float32, len(vec))
		for id, v := range vec {
			out[c][id] = float32(v / norm * float64(m.idf[id]))
		}
	}
	return out
}

// sparse lays centroids out by n-gram: the classes that have it.
func (m *precedentModel) sparse(vecs []map[int32]float32) centroids {
	posts := make([][]gramPost, len(m.idf))
	cs := centroids{known: make([]bool, len(vecs))}
	for c, vec := range vecs { // in class order, so each n-gram's posts are sorted
		cs.known[c] = vec != nil
		for id, w := range vec {
			if w > 0 {
				posts[id] = append(posts[id], gramPost{int32(c), w})
			}
		}
	}
	cs.from = make([]int32, 0, len(posts)+1)
	for _, ps := range posts {
		cs.from = append(cs.from, int32(len(cs.post)))
		cs.post = append(cs.post, ps...)
	}
	cs.from = append(cs.from, int32(len(cs.post)))
	return cs
}

// read finds the distinct known n-grams of the text that match folded into
// sc.runes (sc.gramIDs) and the length of its TF-IDF vector (sc.gramNorm).
func (m *precedentModel) read(sc *scratch) {
	if len(sc.gramGen) < len(m.idf) {
		sc.gramGen = make([]uint32, len(m.idf))
	}
	sc.gramIDs = sc.gramIDs[:0]
	var prev rune
	for _, c := range sc.runes { // eachGram over runes folded once already
		if !isGramRune(c) {
			continue
		}
		if prev != 0 {
			m.see(gramKey(prev, c), sc)
		}
		prev = c
	}
	norm := 0.0
	for _, id := range sc.gramIDs {
		norm += float64(m.idf[id]) * float64(m.idf[id])
	}
	sc.gramNorm = math.Sqrt(norm)
}

// see records n-gram g in sc.gramIDs if it is known and new to this text.
func (m *precedentModel) see(g uint64, sc *scratch) {
	if id, ok := m.index.get(g); ok && sc.gramGen[id] != sc.gen {
		sc.gramGen[id] = sc.gen
		sc.gramIDs = append(sc.gramIDs, id)
	}
}

// similarity fills out (one entry per class) with the cosine between the
// text m.read found and each class's centroid.
func (cs *centroids) similarity(sc *scratch, out []float64) {
	clear(out)
	if sc.gramNorm == 0 {
		return
	}
	for _, id := range sc.gramIDs {
		for _, p := range cs.post[cs.from[id]:cs.from[id+1]] {
			out[p.c] += float64(p.w)
		}
	}
	for c := range out {
		out[c] /= sc.gramNorm
	}
}

// precedentKind is the kind whose precedents read most like the report, or
// "" when there are none.
func (r *Router) precedentKind(sc *scratch) string {
	if sc.gramNorm == 0 {
		return ""
	}
	var sim [len(kinds)]float32
	for _, id := range sc.gramIDs {
		w := &r.prec.kind[id]
		for c := range sim {
			sim[c] += w[c]
		}
	}
	best := -1
	for c, known := range r.prec.kindKnown {
		if known && (best < 0 || sim[c] > sim[best]) {
			best = c
		}
	}
	if best < 0 || sim[best] == 0 {
		return ""
	}
	return kinds[best]
}

// precedentEdge: a department precedent prefers must be this much more
// similar than the rules' lead to take its place; in a near tie the article
// match stands (on four held-out sets 0.05–0.2 gained two reports, more lost).
const precedentEdge = 1.1

// precedentChoice is what precedent decided: sim is the winner's
// similarity (0 when the rules' lead stands) and margin how far it is ahead
// of the runner-up; nearest is the duty item cited when precedent chose a
// department the rules found too weak (-1 otherwise).
type precedentChoice struct {
	sim, margin float64
	nearest     int32
}

// noPrecedent: the rules decided alone.
var noPrecedent = precedentChoice{nearest: -1}

// precedentLead: when the duties of several departments name the matter —
// the rules' lead and those close enough to assist it — the department
// whose decided reports read most like this one leads (谁为主谁牵头 as it was
// decided before). It moves that department to the front of rank.
func (r *Router) precedentLead(sc *scratch, rank []ranked) precedentChoice {
	lead := rank[0]
	var cands [maxAssists + 1]int
	n := 1 // cands[0] is the lead
	for i := 1; i < len(rank) && n <= maxAssists; i++ {
		if r.assists(sc, rank[i], lead) {
			cands[n] = i
			n++
		}
	}
	if n == 1 {
		return noPrecedent
	}
	sim := r.deptSimilarity(sc)
	best, runnerUp := -1, 0.0
	for _, i := range cands[:n] {
		d := rank[i].dep
		if !r.prec.dept.known[d] {
			continue
		}
		switch v := sim[d]; {
		case best < 0 || v > sim[rank[best].dep]:
			if best >= 0 {
				runnerUp = sim[rank[best].dep]
			}
			best = i
		case v > runnerUp:
			runnerUp = v
		}
	}
	if best <= 0 || r.prec.dept.known[lead.dep] && sim[rank[best].dep] <= precedentEdge*sim[lead.dep] {
		return noPrecedent
	}
	v := rank[best]
	copy(rank[1:best+1], rank[:best])
	rank[0] = v
	s := sim[v.dep]
	return precedentChoice{sim: s, margin: (s - runnerUp) / s, nearest: -1}
}

// precedentNearest: when no duty names the matter well enough, the
// department whose decided reports read most like this one is the nearest
// (谁靠近谁牵头) — if the rules found any of its duties' words at all, so
// that the decision still rests on an article; its best item is cited.
// Otherwise the 自治区安委办 decides.
func (r *Router) precedentNearest(sc *scratch) precedentChoice {
	if len(sc.depts) == 0 {
		return noPrecedent
	}
	sim := r.deptSimilarity(sc)
	best := int32(-1)
	for dep, known := range r.prec.dept.known {
		if known && (best < 0 || sim[dep] > sim[best]) {
			best = int32(dep)
		}
	}
	if best < 0 || sim[best] <= 0 || sc.deptGen[best] != sc.gen {
		return noPrecedent
	}
	return precedentChoice{sim: sim[best], nearest: sc.deptBest[best]}
}

// deptSimilarity is the report's similarity to every department's
// precedents, in sc.
func (r *Router) deptSimilarity(sc *scratch) []float64 {
	if len(sc.sim) < len(r.deps) {
		sc.sim = make([]float64, len(r.deps))
	}
	r.prec.dept.similarity(sc, sc.sim[:len(r.deps)])
	return sc.sim[:len(r.deps)]
}

// decimal writes a similarity with two decimals for explanations.
func decimal(v float64) string {
	return strconv.FormatFloat(v, 'f', 2, 64)
}
