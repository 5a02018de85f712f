package triage

import (
	"encoding/binary"
	"strings"
)

// Near-duplicate detection between reports of the same matter. A report's
// text becomes a MinHash signature over its character shingles — single
// characters (function characters such as 的/了/是 left out) and adjacent
// pairs: Chinese words are one or two characters, and a paraphrase keeps the
// words while reordering them, so longer shingles would miss it. The
// signature is cut into LSH bands for index lookups.
// Every value that leaves this package first goes through the caller's keyed
// Blind function (the crypto package's HMAC), so the store holds neither the
// text nor anything that can be hashed back to it without the key.

// Blind is a keyed one-way function, deterministic for one key.
type Blind func([]byte) []byte

// Fingerprint is what the store keeps for duplicate search.
type Fingerprint struct {
	Bands  [][]byte // blinded band keys: reports sharing any band are candidates
	Values [][]byte // blinded MinHash value per position, compared position-wise
}

const (
	minhashSize = 128
	bandRows    = 2 // rows per band: 64 bands find pairs down to a Jaccard of about 0.2
	bandCount   = minhashSize / bandRows

	// DuplicateThreshold is the Similarity from which two reports are shown
	// to a handler as probably the same matter. Paraphrases of one hazard by
	// different reporters estimate 0.28–0.34 in the tests; different matters
	// at the same company, which share its name and place, 0.13–0.16.
	DuplicateThreshold = 0.24
)

// minhashSeeds are fixed so that fingerprints stay comparable across
// releases; changing them invalidates every stored fingerprint.
var minhashSeeds = func() [minhashSize]uint64 {
	var s [minhashSize]uint64
	x := uint64(0x5157484953544c45) // "QWHISTLE"
	for i := range s {
		x += 0x9e3779b97f4a7c15
		s[i] = mix64(x)
	}
	return s
}()

// mix64 is the splitmix64 finaliser: a fast, well-distributed 64-bit mix.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// stopCharacters carry grammar, not matter; as single-character shingles
// they would make any two reports look alike.
const stopCharacters = "的了是在有和也就都还把被说我们他她它这那个一不很多没到上下里去来着过吧呢啊吗呀"

// reporterBoilerplate are the openings hotline agents and reporters put in
// front of the matter; they say nothing about it.
var reporterBoilerplate = []string{"来电人反映", "来电人称", "来电人说", "来电反映", "市民来电称", "市民来电反映", "市民反映", "群众反映", "网民反映", "举报人反映", "来电人", "我要举报", "我举报", "举报"}

// dedupeText folds a report for fingerprinting: boilerplate opening and the
// hotline's closing "诉求：…" removed, punctuation, spaces and symbols
// dropped, full-width folded to half-width, letters lower-cased.
func dedupeText(text string) []rune {
	t := strings.TrimSpace(text)
	for _, p := range reporterBoilerplate {
		if strings.HasPrefix(t, p) {
			t = t[len(p):]
			break
		}
	}
	if i := strings.LastIndex(t, "诉求"); i > 0 {
		t = t[:i]
	}
	out := make([]rune, 0, len(t)/2)
	for _, r := range t {
		f, skip := foldRune(r)
		if skip || isPunct(f) || f < 0x80 && !(f >= '0' && f <= '9' || f >= 'a' && f <= 'z') {
			continue
		}
		out = append(out, f)
	}
	return out
}

// NewFingerprint computes the blinded fingerprint of a report text. A text
// of fewer than two meaningful characters has an empty fingerprint, which is
// similar to nothing.
func NewFingerprint(text string, blind Blind) Fingerprint {
	rs := dedupeText(text)
	if len(rs) < 2 {
		return Fingerprint{}
	}
	var sig [minhashSize]uint64
	for i := range sig {
		sig[i] = ^uint64(0)
	}
	add := func(h uint64) {
		for j, seed := range minhashSeeds {
			if v := mix64(h ^ seed); v < sig[j] {
				sig[j] = v
			}
		}
	}
	for i, r := range rs {
		if !strings.ContainsRune(stopCharacters, r) {
			add(mix64(uint64(r)))
		}
		if i+1 < len(rs) {
			add(mix64(uint64(r)<<32 | uint64(rs[i+1])))
		}
	}
	fp := Fingerprint{Values: make([][]byte, minhashSize), Bands: make([][]byte, bandCount)}
	var buf [2 + 8*bandRows]byte
	for j, v := range sig {
		binary.BigEndian.PutUint16(buf[:2], uint16(j))
		binary.BigEndian.PutUint64(buf[2:10], v)
		fp.Values[j] = blind(buf[:10])
	}
	for b := 0; b < bandCount; b++ {
		binary.BigEndian.PutUint16(buf[:2], uint16(0x8000|b)) // distinct from value inputs
		for k := 0; k < bandRows; k++ {
			binary.BigEndian.PutUint64(buf[2+8*k:], sig[b*bandRows+k])
		}
		fp.Bands[b] = blind(buf[:])
	}
	return fp
}

// Similarity estimates the Jaccard similarity of the two texts' bigram sets:
// the share of positions whose blinded MinHash values agree. Fingerprints
// made with different keys, or empty ones, score 0.
func Similarity(a, b Fingerprint) float64 {
	if len(a.Values) != minhashSize || len(b.Values) != minhashSize {
		return 0
	}
	same := 0
	for i := range a.Values {
		if string(a.Values[i]) == string(b.Values[i]) {
			same++
		}
	}
	return float64(same) / minhashSize
}
