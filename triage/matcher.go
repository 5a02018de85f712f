package triage

import "sort"

// matcher is an Aho–Corasick automaton over runes: one pass over a report
// finds every registry keyword, place name and signal term, whatever their
// number, without regular expressions. Runes that occur in no keyword map to
// class 0 and send the automaton back to the root.
type matcher struct {
	class   [1 << 16]uint16 // BMP rune → alphabet class (0: not in any keyword)
	wide    map[rune]uint16 // classes of runes outside the BMP
	root    []int32         // dense transitions of the root, by class
	edges   []edge          // transitions of the other states, sorted by class per state
	first   []int32         // state → start of its transitions in edges
	count   []uint16        // state → number of transitions
	fail    []int32
	outs    []int32 // flattened outputs (term ids), own and inherited through fail links
	outFrom []int32 // state → start in outs; outFrom[s+1] ends it
	lengths []int32 // term id → length in runes
}

type edge struct {
	class uint16
	next  int32
}

// newMatcher builds the automaton for terms (already folded, non-empty); the
// term id reported is the index in terms.
func newMatcher(terms []string) *matcher {
	m := &matcher{wide: make(map[rune]uint16), lengths: make([]int32, len(terms))}
	classes := uint16(1)
	classOf := func(r rune) uint16 {
		if r < 1<<16 {
			if m.class[r] == 0 {
				m.class[r] = classes
				classes++
			}
			return m.class[r]
		}
		if _, ok := m.wide[r]; !ok {
			m.wide[r] = classes
			classes++
		}
		return m.wide[r]
	}
	// Build the trie with map transitions first.
	type node struct {
		next map[uint16]int32
		out  []int32
	}
	nodes := []node{{next: map[uint16]int32{}}}
	for id, t := range terms {
		s := int32(0)
		n := int32(0)
		for _, r := range t {
			c := classOf(r)
			nx, ok := nodes[s].next[c]
			if !ok {
				nx = int32(len(nodes))
				nodes = append(nodes, node{next: map[uint16]int32{}})
				nodes[s].next[c] = nx
			}
			s = nx
			n++
		}
		nodes[s].out = append(nodes[s].out, int32(id))
		m.lengths[id] = n
	}
	// Breadth-first failure links; outputs inherit those of the fail state.
	m.fail = make([]int32, len(nodes))
	order := make([]int32, 0, len(nodes))
	for _, nx := range nodes[0].next {
		order = append(order, nx)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for i := 0; i < len(order); i++ {
		s := order[i]
		keys := make([]uint16, 0, len(nodes[s].next))
		for c := range nodes[s].next {
			keys = append(keys, c)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, c := range keys {
			nx := nodes[s].next[c]
			f := m.fail[s]
			for {
				if t, ok := nodes[f].next[c]; ok && t != nx {
					m.fail[nx] = t
					break
				}
				if f == 0 {
					m.fail[nx] = 0
					break
				}
				f = m.fail[f]
			}
			nodes[nx].out = append(nodes[nx].out, nodes[m.fail[nx]].out...)
			order = append(order, nx)
		}
	}
	// Freeze into flat arrays.
	m.root = make([]int32, classes)
	for c, nx := range nodes[0].next {
		m.root[c] = nx
	}
	m.first = make([]int32, len(nodes))
	m.count = make([]uint16, len(nodes))
	m.outFrom = make([]int32, len(nodes)+1)
	for s := range nodes {
		m.first[s] = int32(len(m.edges))
		keys := make([]uint16, 0, len(nodes[s].next))
		for c := range nodes[s].next {
			keys = append(keys, c)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, c := range keys {
			m.edges = append(m.edges, edge{c, nodes[s].next[c]})
		}
		m.count[s] = uint16(len(keys))
		m.outFrom[s] = int32(len(m.outs))
		m.outs = append(m.outs, nodes[s].out...)
	}
	m.outFrom[len(nodes)] = int32(len(m.outs))
	return m
}

func (m *matcher) classOf(r rune) uint16 {
	if r < 1<<16 {
		return m.class[r]
	}
	return m.wide[r]
}

// step returns the state after reading class c in state s.
func (m *matcher) step(s int32, c uint16) int32 {
	if c == 0 {
		return 0
	}
	for s != 0 {
		e := m.edges[m.first[s] : m.first[s]+int32(m.count[s])]
		lo, hi := 0, len(e)
		for lo < hi {
			mid := (lo + hi) / 2
			if e[mid].class < c {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo < len(e) && e[lo].class == c {
			return e[lo].next
		}
		s = m.fail[s]
	}
	return m.root[c]
}
