package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"whistle/mongodb"
	"whistle/queue"
)

// probe is the container health check (the runtime image has no curl):
// `whistle probe http://127.0.0.1:8080/readyz` for HTTP replicas and
// `whistle probe backends` for workers, which must reach MongoDB and Redis.
func init() {
	register("probe", "health check: probe <url> | probe backends", func(ctx context.Context, args []string, env Env) error {
		if len(args) != 1 {
			return errors.New("usage: whistle probe <http-url> | whistle probe backends")
		}
		ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		defer cancel()
		if strings.HasPrefix(args[0], "http://") || strings.HasPrefix(args[0], "https://") {
			return probeURL(ctx, args[0])
		}
		if args[0] != "backends" {
			return fmt.Errorf("unknown probe %q", args[0])
		}
		return probeBackends(ctx, env)
	})
}

func probeURL(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

func probeBackends(ctx context.Context, env Env) error {
	cfg, err := loadConfig(env.Getenv)
	if err != nil {
		return err
	}
	if cfg.EmbeddedStore() || cfg.EmbeddedQueue() {
		return errors.New("probe backends needs MONGO_URI and Redis configured")
	}
	q := queue.NewClient(cfg.Redis)
	defer q.Close()
	if err := q.Ping(ctx); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return mongodb.Ping(ctx, cfg.MongoURI)
}
