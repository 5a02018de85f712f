package triage

import "unicode"

// foldRune maps a rune to the form both the keyword automaton and the
// duplicate fingerprint see: full-width ASCII to half-width, ASCII letters to
// lower case, the ideographic space to a space. skip reports runes that carry
// no meaning for matching (spaces and other separators), so that "电 梯" and a
// keyword split by a line break still match.
func foldRune(r rune) (folded rune, skip bool) {
	if r >= 0x3400 && r <= 0x9FFF { // CJK ideographs: the common case, unchanged
		return r, false
	}
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		r -= 0xFEE0
	case r == 0x3000:
		return r, true
	}
	if r >= 'A' && r <= 'Z' {
		r += 'a' - 'A'
	}
	if r < 0x80 {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' {
			return r, true
		}
		return r, false
	}
	if unicode.IsSpace(r) || r == 0xFEFF || r == 0x200B {
		return r, true
	}
	return r, false
}

// normalizeTerm folds a registry keyword the same way texts are folded.
func normalizeTerm(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		f, skip := foldRune(r)
		if !skip {
			out = append(out, f)
		}
	}
	return string(out)
}
