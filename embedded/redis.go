package embedded

import (
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Redis is an in-process miniredis with a clock that follows real time.
type Redis struct {
	*miniredis.Miniredis
	stop chan struct{}
	wg   sync.WaitGroup
}

// StartRedis starts miniredis on a random loopback port.
//
// miniredis only expires keys when its clock is advanced, and asynq's unique
// task locks are keys with a TTL, so a ticker fast-forwards the clock by the
// elapsed wall time every 500ms (ClockTTL(true) collapses under load).
func StartRedis() (*Redis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, err
	}
	r := &Redis{Miniredis: m, stop: make(chan struct{})}
	r.wg.Add(1)
	go r.tick()
	return r, nil
}

func (r *Redis) tick() {
	defer r.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Close stops the clock and the server.
func (r *Redis) Close() {
	close(r.stop)
	r.wg.Wait()
	r.Miniredis.Close()
}
