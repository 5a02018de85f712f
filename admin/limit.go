package admin

import (
	"sync"
	"time"
)

// limiter is a set of token buckets in memory, one per key: each holds at
// most burst tokens and regains one every `every`. Nothing about who made an
// attempt is kept beyond the key (a username, or "" for the global bucket).
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// pruneAbove is the bucket count above which full buckets (which say no more
// than an absent one) are dropped. The global limit bounds how fast new keys
// arrive, so the map stays far below this in practice.
const pruneAbove = 10000

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*tokenBucket{}}
}

// refill brings b up to date at now and returns it.
func (l *limiter) refill(key string, now time.Time) *tokenBucket {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= pruneAbove {
			l.prune(now)
		}
		b = &tokenBucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+float64(elapsed)/float64(l.every))
		b.at = now
	}
	return b
}

// take spends one token of key's bucket; false when none is left.
func (l *limiter) take(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// giveBack returns a token taken for an attempt that turned out legitimate.
func (l *limiter) giveBack(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, now)
	b.tokens = min(l.burst, b.tokens+1)
}

func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.every) >= l.burst {
			delete(l.buckets, k)
		}
	}
}
