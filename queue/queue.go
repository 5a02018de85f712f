// Package queue is Whistle's one place for background work in flight: the
// asynq connection options, the named queues and their priorities, and the
// task catalogue (type names and versioned payloads). MongoDB stays the
// system of record; everything here can be lost with Redis and is rebuilt by
// the reconcile sweep, which is why every task id is derived from the state
// it acts on and duplicates collapse. Even dedupe:link, whose fingerprint
// only the triage task can compute, names just the case: the fingerprint
// waits in the store until it is linked.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Queues, highest priority first. Weights are asynq's weighted priority: a
// worker picks "critical" six times as often as "low".
const (
	Critical = "critical" // urgent reports (imminent danger) and escalations
	Default  = "default"  // triage of ordinary reports, notifications
	Low      = "low"      // sweeps, retention, duplicate linking, re-wrapping keys
)

// Priorities is the asynq Queues setting.
var Priorities = map[string]int{Critical: 6, Default: 3, Low: 1}

// Config locates Redis: a single server, a Sentinel-managed failover group,
// or a Cluster — the three topologies asynq supports.
type Config struct {
	Addr     string // host:port of a single Redis
	Username string
	Password string
	DB       int

	SentinelMaster string   // with SentinelAddrs: use Redis Sentinel
	SentinelAddrs  []string // host:port list
	SentinelPass   string

	ClusterAddrs []string // use Redis Cluster (DB must be 0)
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case len(c.ClusterAddrs) > 0 && (c.Addr != "" || len(c.SentinelAddrs) > 0):
		return errors.New("REDIS_CLUSTER_ADDRS cannot be combined with REDIS_ADDR or REDIS_SENTINEL_ADDRS")
	case len(c.ClusterAddrs) > 0 && c.DB != 0:
		return errors.New("REDIS_DB must be 0 with Redis Cluster")
	case len(c.SentinelAddrs) > 0 && c.SentinelMaster == "":
		return errors.New("REDIS_SENTINEL_MASTER is required with REDIS_SENTINEL_ADDRS")
	case c.DB < 0 || c.DB > 15:
		return errors.New("REDIS_DB must be between 0 and 15")
	case c.Addr == "" && len(c.SentinelAddrs) == 0 && len(c.ClusterAddrs) == 0:
		return errors.New("no Redis address")
	}
	return nil
}

// Mode names the topology for the start-up log.
func (c Config) Mode() string {
	switch {
	case len(c.ClusterAddrs) > 0:
		return "redis-cluster"
	case len(c.SentinelAddrs) > 0:
		return "redis-sentinel"
	}
	return "redis"
}

// ConnOpt returns the asynq connection option for the configuration.
func (c Config) ConnOpt() asynq.RedisConnOpt {
	switch {
	case len(c.ClusterAddrs) > 0:
		return asynq.RedisClusterClientOpt{Addrs: c.ClusterAddrs, Username: c.Username, Password: c.Password}
	case len(c.SentinelAddrs) > 0:
		return asynq.RedisFailoverClientOpt{MasterName: c.SentinelMaster, SentinelAddrs: c.SentinelAddrs,
			SentinelPassword: c.SentinelPass, Username: c.Username, Password: c.Password, DB: c.DB}
	}
	return asynq.RedisClientOpt{Addr: c.Addr, Username: c.Username, Password: c.Password, DB: c.DB}
}

// Ping checks that Redis answers.
func Ping(ctx context.Context, rc redis.UniversalClient) error {
	return rc.Ping(ctx).Err()
}

// ParseAddrs splits a comma-separated host:port list.
func ParseAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// ParseDB parses REDIS_DB.
func ParseDB(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("REDIS_DB: %q is not a number", s)
	}
	return n, nil
}

// Client enqueues tasks.
type Client struct {
	c  *asynq.Client
	rc redis.UniversalClient
}

// NewClient opens a client; Close it when done.
func NewClient(cfg Config) *Client {
	opt := cfg.ConnOpt()
	return &Client{c: asynq.NewClient(opt), rc: opt.MakeRedisClient().(redis.UniversalClient)}
}

// Close releases the connections.
func (c *Client) Close() error { return errors.Join(c.c.Close(), c.rc.Close()) }

// Ping checks that Redis answers.
func (c *Client) Ping(ctx context.Context) error { return Ping(ctx, c.rc) }

// Enqueue adds a task. A task whose id is already queued (or running, or
// waiting to retry) is not an error: the work is held, which is all the
// caller needs to know.
func (c *Client) Enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error {
	_, err := c.c.EnqueueContext(ctx, t, opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}

// enqueueTimeout bounds how long a request waits on Redis: the case is
// already stored, and the sweep will enqueue it if Redis is slow or down.
const enqueueTimeout = 2 * time.Second

// EnqueueBestEffort enqueues with a short timeout and reports the error
// without failing the caller, for work that the sweep will find anyway.
func (c *Client) EnqueueBestEffort(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error {
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	return c.Enqueue(ctx, t, opts...)
}
