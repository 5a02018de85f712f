package queue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"whistle/internal/testenv"
	"whistle/queue"
)

// connect starts a Redis backend and returns a client and an inspector on it.
func connect(t *testing.T, backend testenv.Redis) (*queue.Client, *asynq.Inspector) {
	t.Helper()
	addr, db := backend.Start(t)
	cfg := queue.Config{Addr: addr, DB: db}
	c := queue.NewClient(cfg)
	insp := asynq.NewInspector(cfg.ConnOpt())
	t.Cleanup(func() {
		insp.Close()
		c.Close()
	})
	return c, insp
}

func TestTriageTaskIsEnqueuedOnceAndOnItsPriorityQueue(t *testing.T) {
	for _, backend := range testenv.Redises() {
		t.Run(backend.Name, func(t *testing.T) {
			c, insp := connect(t, backend)
			ctx := context.Background()
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			for range 3 { // intake, then the sweep twice: one task held
				if err := c.Enqueue(ctx, queue.TriageTask("case1", false)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Enqueue(ctx, queue.TriageTask("case2", true)); err != nil {
				t.Fatal(err)
			}
			for q, want := range map[string]string{queue.Default: "case1", queue.Critical: "case2"} {
				tasks, err := insp.ListPendingTasks(q)
				if err != nil {
					t.Fatal(err)
				}
				if len(tasks) != 1 || !strings.Contains(string(tasks[0].Payload), want) {
					t.Fatalf("queue %s holds %d tasks, want one for %s", q, len(tasks), want)
				}
				p, err := queue.DecodeCase(tasks[0].Payload)
				if err != nil || p.CaseID != want {
					t.Fatalf("payload %+v %v", p, err)
				}
			}
		})
	}
}

func TestDedupeTaskIsEnqueuedOnceOnTheLowQueue(t *testing.T) {
	for _, backend := range testenv.Redises() {
		t.Run(backend.Name, func(t *testing.T) {
			c, insp := connect(t, backend)
			ctx := context.Background()
			for range 3 { // the triage task, retried, and the sweep: one task held
				if err := c.Enqueue(ctx, queue.DedupeTask("case1")); err != nil {
					t.Fatal(err)
				}
			}
			tasks, err := insp.ListPendingTasks(queue.Low)
			if err != nil || len(tasks) != 1 || tasks[0].ID != queue.TypeDedupe+":case1" {
				t.Fatalf("low queue holds %d tasks (%v), want one dedupe task of case1", len(tasks), err)
			}
			// The fingerprint waits in the store: Redis holds only the case id.
			p, err := queue.DecodeDedupe(tasks[0].Payload)
			if err != nil || p.CaseID != "case1" || strings.Contains(string(tasks[0].Payload), "values") {
				t.Fatalf("payload through Redis %s: %+v %v", tasks[0].Payload, p, err)
			}
		})
	}
}

func TestDecodeCaseRefusesWhatItDoesNotUnderstand(t *testing.T) {
	for name, payload := range map[string]string{
		"not json":       "{",
		"future version": `{"v":2,"case_id":"x"}`,
		"no case":        `{"v":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := queue.DecodeCase([]byte(payload)); err == nil || !strings.Contains(err.Error(), asynq.SkipRetry.Error()) {
				t.Fatalf("err = %v, want a SkipRetry error", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  queue.Config
		ok   bool
		mode string
	}{
		{"single", queue.Config{Addr: "r:6379"}, true, "redis"},
		{"sentinel", queue.Config{SentinelMaster: "m", SentinelAddrs: []string{"s:26379"}}, true, "redis-sentinel"},
		{"sentinel without master", queue.Config{SentinelAddrs: []string{"s:26379"}}, false, "redis-sentinel"},
		{"cluster", queue.Config{ClusterAddrs: []string{"a:1", "b:2"}}, true, "redis-cluster"},
		{"cluster with db", queue.Config{ClusterAddrs: []string{"a:1"}, DB: 3}, false, "redis-cluster"},
		{"cluster and addr", queue.Config{ClusterAddrs: []string{"a:1"}, Addr: "r:1"}, false, "redis-cluster"},
		{"db out of range", queue.Config{Addr: "r:1", DB: 16}, false, "redis"},
		{"nothing", queue.Config{}, false, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if got := tt.cfg.Mode(); got != tt.mode {
				t.Fatalf("Mode() = %s, want %s", got, tt.mode)
			}
		})
	}
}
