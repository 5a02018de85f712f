package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/admin"
	"whistle/crypto"
	"whistle/embedded"
	"whistle/httpd"
	"whistle/intake"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers"
	"whistle/workers/policy"
)

func init() {
	register("all", "HTTP and background workers in one process (the default; runs with no configuration)",
		func(ctx context.Context, _ []string, env Env) error { return runServer(ctx, env, true, true) })
	register("serve", "HTTP only (needs MONGO_URI and Redis; scale out with several)",
		func(ctx context.Context, _ []string, env Env) error { return runServer(ctx, env, true, false) })
	register("work", "background workers only (needs MONGO_URI and Redis; scale out with several)",
		func(ctx context.Context, _ []string, env Env) error { return runServer(ctx, env, false, true) })
}

// maxBody caps a request body before Fiber reads it: five 20 MB evidence
// files plus the form. Routes enforce tighter limits of their own.
const maxBody = 105 << 20

// backends are the running store and queue, embedded or remote.
type backends struct {
	store   *mongodb.DB
	queue   *queue.Client
	redis   queue.Config
	keys    *crypto.Keyset
	closers []func() // run in reverse order
}

func (b *backends) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

func runServer(ctx context.Context, env Env, serveHTTP, work bool) error {
	log := env.Logger
	cfg, err := loadConfig(env.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if !(serveHTTP && work) && (cfg.EmbeddedStore() || cfg.EmbeddedQueue()) {
		return errors.New("`whistle serve` and `whistle work` run as separate processes and share MONGO_URI and Redis " +
			"(REDIS_ADDR, REDIS_SENTINEL_* or REDIS_CLUSTER_ADDRS); use `whistle all` for the embedded default")
	}
	b, err := startBackends(ctx, cfg, env)
	if err != nil {
		return err
	}
	defer b.close()

	router, err := triage.New()
	if err != nil {
		return fmt.Errorf("routing table: %w", err)
	}
	var pool *workers.Workers
	if work {
		pol, err := policy.Load(cfg.PolicyFile, cfg.HolidaysFile)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		pool, err = workers.New(workers.Deps{Store: b.store, Queue: b.queue, Redis: b.redis, Keys: b.keys,
			Router: router, Logger: log, Policy: pol,
			Notify: workers.NotifyConfig{BaseURL: cfg.PublicURL, SMTP: cfg.SMTP}})
		if err != nil {
			return err
		}
	}

	if pool != nil {
		// Before HTTP: starting provisions the group keys (departments,
		// 安委办, finance) that the first submission may need.
		if err := pool.Start(); err != nil {
			return err
		}
		log.Info("workers started", "queues", queue.Priorities)
	}

	var app *fiber.App
	listenErr := make(chan error, 1)
	if serveHTTP {
		app = httpd.New(httpd.Options{Logger: log, BodyLimit: maxBody,
			TrustedProxies: cfg.TrustedProxies, ProxyHeader: cfg.ProxyHeader, Checks: map[string]httpd.Check{
				"store": b.store.Ping,
				"queue": b.queue.Ping,
			}})
		staff, err := admin.New(admin.Deps{Store: b.store, Logger: log, TLS: cfg.TLS})
		if err != nil {
			return err
		}
		staff.Register(app) // first: RequireRole finds the console through it
		reporters, err := intake.New(intake.Deps{Store: b.store, Queue: b.queue, Keys: b.keys, Logger: log,
			Limits:  intake.Limits{Submit: cfg.SubmitLimit, Receipt: cfg.ReceiptLimit},
			Finance: b.financeRecipient})
		if err != nil {
			return err
		}
		reporters.Register(app)
		hotline, err := intake.NewHotline(reporters.Service(), intake.HotlineOptions{})
		if err != nil {
			return err
		}
		hotline.Register(app)
		if pool != nil {
			pool.MountMonitor(app, admin.RequireRole(whistle.RoleAdmin))
		}
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
		log.Info("http listening", "addr", ln.Addr().String())
		go func() { listenErr <- app.Listener(ln) }()
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	case err := <-listenErr:
		return fmt.Errorf("http server: %w", err)
	}
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	if app != nil {
		// Stop accepting, let in-flight requests finish.
		if err := app.ShutdownWithTimeout(time.Until(deadline)); err != nil {
			log.Warn("http shutdown", "err", err)
		}
	}
	if pool != nil {
		pool.Shutdown() // finishes in-flight tasks, bounded by the policy (≤ 10 s)
	}
	log.Info("stopped")
	return nil
}

func startBackends(ctx context.Context, cfg Config, env Env) (_ *backends, err error) {
	log := env.Logger
	b := &backends{}
	defer func() {
		if err != nil {
			b.close()
		}
	}()

	storeCfg := mongodb.Config{URI: cfg.MongoURI, Database: cfg.MongoDB}
	if cfg.EmbeddedStore() {
		unlock, err := embedded.LockDir(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, unlock)
		// FerretDB's own logs would name every connection; keep only errors.
		quiet := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		f, err := embedded.StartFerretDB(ctx, embedded.Backend{SQLiteDir: cfg.SQLiteDir()}, quiet)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, func() {
			if err := f.Close(); err != nil {
				log.Warn("embedded FerretDB stop", "err", err)
			}
		})
		storeCfg.URI, storeCfg.EmbeddedSQLiteDir = f.URI, cfg.SQLiteDir()
		log.Info("store", "mode", "embedded FerretDB v1 on SQLite", "dir", cfg.SQLiteDir())
	} else {
		log.Info("store", "mode", "MongoDB", "database", cfg.MongoDB)
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b.store, err = mongodb.Open(openCtx, storeCfg)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		b.store.Close(ctx)
	})

	b.redis = cfg.Redis
	if cfg.EmbeddedQueue() {
		r, err := embedded.StartRedis()
		if err != nil {
			return nil, fmt.Errorf("start embedded Redis: %w", err)
		}
		b.closers = append(b.closers, r.Close)
		b.redis = queue.Config{Addr: r.Addr()}
		log.Info("queue", "mode", "embedded miniredis (in memory; the reconcile sweep re-enqueues after a restart)")
	} else {
		log.Info("queue", "mode", cfg.Redis.Mode())
	}
	b.queue = queue.NewClient(b.redis)
	b.closers = append(b.closers, func() { b.queue.Close() })

	b.keys, err = loadKeys(cfg, env)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, b.keys.Wipe)
	return b, nil
}

// financeRecipient is the finance office's public key, which the workers
// create at start; until then identity details are refused, not stored.
func (b *backends) financeRecipient(ctx context.Context) (crypto.Recipient, error) {
	k, err := b.store.GroupKey(ctx, workers.KindFinance, workers.FinanceOffice)
	if err != nil {
		return crypto.Recipient{}, err
	}
	if len(k.Public) != 32 {
		return crypto.Recipient{}, fmt.Errorf("finance key of %s is malformed", workers.FinanceOffice)
	}
	return crypto.Recipient{Holder: k.Holder, Key: crypto.PublicKey(k.Public)}, nil
}

// loadKeys reads the key set. With the embedded store and no key set
// configured, a development key set is created on first run — loudly, since
// its custodian key sits next to the data it protects.
func loadKeys(cfg Config, env Env) (*crypto.Keyset, error) {
	if env.Getenv(crypto.EnvKeyset) != "" || env.Getenv(crypto.EnvKeysDir) != "" || !cfg.EmbeddedStore() {
		ks, err := crypto.LoadKeysetFromEnv("")
		if err != nil {
			return nil, fmt.Errorf("key set: %w", err)
		}
		env.Logger.Info("keys", "mode", "configured", "info", ks.Info().String())
		return ks, nil
	}
	dir := filepath.Join(cfg.DataDir, "keys")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	ks, created, err := crypto.EnsureDevKeyset(dir)
	if err != nil {
		return nil, fmt.Errorf("development key set in %s: %w", dir, err)
	}
	if created {
		env.Logger.Warn("DEVELOPMENT KEY SET CREATED: its custodian private key is stored beside the data in " + dir +
			". Never use this for real reports: run `whistle keys init` and keep the custodian key offline.")
	} else if ks.Dev() {
		env.Logger.Warn("running with the DEVELOPMENT key set in " + dir + " (custodian key on this machine); not for real reports")
	}
	return ks, nil
}
