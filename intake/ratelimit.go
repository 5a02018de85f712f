package intake

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// Rate is a token bucket: Burst attempts at once, then one more every Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// Limits are the abuse limits of reporter traffic. They live in memory only:
// nothing about who sent what is ever written anywhere.
type Limits struct {
	// Submit: reports per source (web form and API).
	Submit Rate
	// Receipt: receipt-code entries per source, successful or not.
	Receipt Rate
	// ReceiptFailures: wrong receipt codes from all sources together, so a
	// guesser spread over many addresses is slowed down as well.
	ReceiptFailures Rate
	// Session: messages and evidence per follow-up session or receipt.
	Session Rate
}

// DefaultLimits are generous for people and tight for scripts. A factory
// behind one NAT address can still file 20 reports at once and one every
// 30 s after that; a guesser gets 10 receipt tries, then one a minute.
var DefaultLimits = Limits{
	Submit:          Rate{Burst: 20, Every: 30 * time.Second},
	Receipt:         Rate{Burst: 10, Every: time.Minute},
	ReceiptFailures: Rate{Burst: 300, Every: 200 * time.Millisecond},
	Session:         Rate{Burst: 20, Every: 30 * time.Second},
}

func (l Limits) withDefaults() Limits {
	pick := func(r, d Rate) Rate {
		if r.Burst <= 0 || r.Every <= 0 {
			return d
		}
		return r
	}
	return Limits{
		Submit:          pick(l.Submit, DefaultLimits.Submit),
		Receipt:         pick(l.Receipt, DefaultLimits.Receipt),
		ReceiptFailures: pick(l.ReceiptFailures, DefaultLimits.ReceiptFailures),
		Session:         pick(l.Session, DefaultLimits.Session),
	}
}

// limiter is a set of token buckets keyed by an opaque string. Idle buckets
// (full again) are forgotten, so memory follows current traffic only.
type limiter struct {
	rate    Rate
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(r Rate, now func() time.Time) *limiter {
	return &limiter{rate: r, now: now, buckets: map[string]*bucket{}}
}

// allow takes one token for key, reporting false if none is left.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(l.rate.Burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = l.refill(b, now)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund returns a token taken by allow, for attempts that turned out not
// to count (a correct receipt does not spend the failure budget).
func (l *limiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		b.tokens = min(float64(l.rate.Burst), b.tokens+1)
	}
}

func (l *limiter) refill(b *bucket, now time.Time) float64 {
	return min(float64(l.rate.Burst), b.tokens+float64(now.Sub(b.at))/float64(l.rate.Every))
}

// sweep drops full buckets at most once a minute.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if l.refill(b, now) >= float64(l.rate.Burst) {
			delete(l.buckets, k)
		}
	}
}

// sourceHasher turns a client address into a limiter key: an HMAC under a
// salt drawn at process start and never stored, so the keys cannot be turned
// back into addresses even by someone who reads the process memory's keys
// later, and they change on every restart.
type sourceHasher struct{ salt [32]byte }

func newSourceHasher() *sourceHasher {
	h := &sourceHasher{}
	rand.Read(h.salt[:])
	return h
}

func (h *sourceHasher) key(addr string) string {
	m := hmac.New(sha256.New, h.salt[:])
	m.Write([]byte(addr))
	return string(m.Sum(nil)[:16])
}
