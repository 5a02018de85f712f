package triage

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Jurisdiction is where a report is handled: a prefecture-level city (or
// 宁东能源化工基地) and, when known, a county-level district or county.
// Ambiguous says the text named places in more than one jurisdiction and
// none was chosen.
type Jurisdiction struct {
	City      string `json:"city"`
	County    string `json:"county"`
	Ambiguous bool   `json:"ambiguous,omitempty"`
}

type gazetteerFile struct {
	Version string `json:"version"`
	Source  string `json:"source"`
	Cities  []struct {
		Name     string   `json:"name"`
		Aliases  []string `json:"aliases"`
		Places   []string `json:"places"`
		Counties []struct {
			Name    string   `json:"name"`
			Aliases []string `json:"aliases"`
			Places  []string `json:"places"`
		} `json:"counties"`
	} `json:"cities"`
	Blocked []string `json:"blocked"`
}

// place is what a gazetteer term resolves to; an empty city marks a blocked
// phrase (贺兰山 is a mountain, not 贺兰县) that only shadows shorter names.
type place struct {
	city, county string
}

// gazetteer resolves names and aliases of cities and counties.
type gazetteer struct {
	terms    map[string]place // folded name, alias or place → jurisdiction
	cityOf   map[string]string
	isCity   map[string]bool
	counties map[string][]string
}

func loadGazetteer(b []byte) (*gazetteer, error) {
	var f gazetteerFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("gazetteer.json: %w", err)
	}
	g := &gazetteer{terms: map[string]place{}, cityOf: map[string]string{}, isCity: map[string]bool{}, counties: map[string][]string{}}
	add := func(name string, p place) error {
		k := normalizeTerm(name)
		if k == "" {
			return fmt.Errorf("gazetteer.json: 空地名")
		}
		if old, dup := g.terms[k]; dup && old != p {
			return fmt.Errorf("gazetteer.json: %q 同时指向 %v 和 %v", name, old, p)
		}
		g.terms[k] = p
		return nil
	}
	for _, c := range f.Cities {
		if g.isCity[c.Name] {
			return nil, fmt.Errorf("gazetteer.json: 市重复 %s", c.Name)
		}
		g.isCity[c.Name] = true
		for _, n := range append(append([]string{c.Name}, c.Aliases...), c.Places...) {
			if err := add(n, place{city: c.Name}); err != nil {
				return nil, err
			}
		}
		for _, co := range c.Counties {
			if _, dup := g.cityOf[co.Name]; dup {
				return nil, fmt.Errorf("gazetteer.json: 县区重复 %s", co.Name)
			}
			g.cityOf[co.Name] = c.Name
			g.counties[c.Name] = append(g.counties[c.Name], co.Name)
			for _, n := range append(append([]string{co.Name}, co.Aliases...), co.Places...) {
				if err := add(n, place{city: c.Name, county: co.Name}); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, n := range f.Blocked {
		if err := add(n, place{}); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// canonical maps an input city or county to its gazetteer name: exact names
// pass, obvious variants (银川 → 银川市, 西夏 → 西夏区) are normalised, and an
// unknown value is kept as given, since the reporter's own words beat a guess.
func (g *gazetteer) canonical(s string, county bool) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	if s == "" || !county && g.isCity[s] || county && g.cityOf[s] != "" {
		return s
	}
	if p, ok := g.terms[normalizeTerm(s)]; ok {
		if county && p.county != "" && normalizeTerm(s) != normalizeTerm(p.city) {
			return p.county
		}
		if !county && p.county == "" && p.city != "" {
			return p.city
		}
	}
	return s
}

// mention is a gazetteer hit in a text, in order of appearance.
type mention struct {
	place
	end, length int32
}

// resolve decides the jurisdiction: given fields win, normalised and
// otherwise echoed as given (a city left empty stays empty: CityOf fills it
// where a caller needs it); otherwise the places named in the text, longest
// match first, decide when they agree on one jurisdiction.
func (g *gazetteer) resolve(city, county string, mentions []mention) (Jurisdiction, string) {
	city, county = g.canonical(city, false), g.canonical(county, true)
	if city != "" || county != "" {
		note := "来件填报"
		if county != "" && g.cityOf[county] != "" && g.cityOf[county] != city {
			note = "来件填报（所填县区不属于所填市，按原样保留）"
		}
		return Jurisdiction{City: city, County: county}, note
	}
	ms := longestMentions(mentions)
	cities := map[string]bool{}
	countySet := map[string]bool{}
	var firstCity, firstCounty string
	for _, m := range ms {
		if m.city == "" {
			continue
		}
		if !cities[m.city] && firstCity == "" {
			firstCity = m.city
		}
		cities[m.city] = true
		if m.county != "" {
			if firstCounty == "" {
				firstCounty = m.county
			}
			countySet[m.county] = true
		}
	}
	switch {
	case len(cities) == 0:
		return Jurisdiction{}, "来件未填报属地，文中也未提及宁夏的市、县（区）"
	case len(cities) == 1 && len(countySet) <= 1:
		return Jurisdiction{City: firstCity, County: firstCounty}, "据文中地名判定"
	case len(cities) == 1:
		return Jurisdiction{City: firstCity, Ambiguous: true}, "文中提及同一市内多个县（区），县区待核实"
	default:
		return Jurisdiction{Ambiguous: true}, "文中提及多个市的地名，属地待核实"
	}
}

// longestMentions drops hits contained in a longer hit (宁东 inside
// 宁东能源化工基地, 贺兰 inside 贺兰山).
func longestMentions(ms []mention) []mention {
	out := make([]mention, 0, len(ms))
	for i, m := range ms {
		start := m.end - m.length
		covered := false
		for j, o := range ms {
			if i != j && o.length > m.length && o.end-o.length <= start && o.end >= m.end {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, m)
		}
	}
	return out
}
