package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"whistle/intake"
	"whistle/queue"
	"whistle/workers"
)

// envVar documents one configuration variable. The table is the single source
// for validation, the README table and the deploy/compose.yaml test.
type envVar struct {
	Name, Default, Help string
}

var envVars = []envVar{
	{"WHISTLE_ADDR", ":8080", "HTTP listen address"},
	{"WHISTLE_DATA_DIR", "./data", "data directory: embedded database files and the development key set"},
	{"WHISTLE_LOG_LEVEL", "info", "debug, info, warn or error (JSON logs on stderr)"},
	{"WHISTLE_TLS", "false", "true when HTTPS terminates in front of Whistle: cookies get the Secure flag"},
	{"WHISTLE_SHUTDOWN_TIMEOUT", "12s", "time to finish in-flight requests and tasks on SIGTERM"},
	{"WHISTLE_SUBMIT_LIMIT", "20/30s", "reports per source: burst/refill interval (memory only; a source is a salted hash of the address)"},
	{"WHISTLE_RECEIPT_LIMIT", "10/1m", "receipt-code entries per source: burst/refill interval"},
	{"WHISTLE_TRUSTED_PROXIES", "", "comma-separated proxy IPs/CIDRs whose forwarded-address header is believed (for rate limits only; never logged)"},
	{"WHISTLE_PROXY_HEADER", "X-Forwarded-For", "header carrying the client address from a trusted proxy"},
	{"WHISTLE_PUBLIC_URL", "", "public address of the staff console, for links in staff notifications (e.g. https://whistle.example.gov.cn)"},
	{"WHISTLE_SMTP_ADDR", "", "SMTP server host:port for staff notifications (STARTTLS required with a password)"},
	{"WHISTLE_SMTP_FROM", "", "sender address of staff notifications"},
	{"WHISTLE_SMTP_USERNAME", "", "SMTP user"},
	{"WHISTLE_SMTP_PASSWORD", "", "SMTP password"},
	{"WHISTLE_POLICY_FILE", "", "statutory deadlines and retention policy (JSON); unset = the compiled-in policy (workers/policy/policy.json)"},
	{"WHISTLE_HOLIDAYS_FILE", "", "holiday calendar with 调休 (JSON); unset = the compiled-in calendar"},
	{"WHISTLE_KEYS_DIR", "", "key set directory (mode 0700, files 0600); default <data dir>/keys with the embedded store"},
	{"WHISTLE_KEYSET", "", "key set file content instead of WHISTLE_KEYS_DIR (e.g. from a secret manager)"},
	{"MONGO_URI", "", "MongoDB URI; unset = embedded FerretDB on SQLite under the data dir"},
	{"MONGO_DB", "whistle", "database name"},
	{"REDIS_ADDR", "", "Redis host:port; unset (and no Sentinel/Cluster) = in-process miniredis"},
	{"REDIS_USERNAME", "", "Redis ACL user"},
	{"REDIS_PASSWORD", "", "Redis password"},
	{"REDIS_DB", "0", "Redis database number (0-15)"},
	{"REDIS_SENTINEL_MASTER", "", "Sentinel master name"},
	{"REDIS_SENTINEL_ADDRS", "", "comma-separated Sentinel host:port list"},
	{"REDIS_SENTINEL_PASSWORD", "", "Sentinel password"},
	{"REDIS_CLUSTER_ADDRS", "", "comma-separated Redis Cluster host:port list"},
}

// Config is the validated configuration of a server process.
type Config struct {
	Addr            string
	DataDir         string
	TLS             bool
	ShutdownTimeout time.Duration
	MongoURI        string
	MongoDB         string
	Redis           queue.Config
	SubmitLimit     intake.Rate
	ReceiptLimit    intake.Rate
	TrustedProxies  []string
	ProxyHeader     string
	PublicURL       string
	SMTP            workers.SMTPConfig
	PolicyFile      string
	HolidaysFile    string
}

// EmbeddedStore reports whether the process runs FerretDB itself.
func (c Config) EmbeddedStore() bool { return c.MongoURI == "" }

// EmbeddedQueue reports whether the process runs miniredis itself.
func (c Config) EmbeddedQueue() bool {
	return c.Redis.Addr == "" && len(c.Redis.SentinelAddrs) == 0 && len(c.Redis.ClusterAddrs) == 0
}

// SQLiteDir is where the embedded FerretDB keeps its files.
func (c Config) SQLiteDir() string { return filepath.Join(c.DataDir, "db") }

// loadConfig reads and validates the environment; every problem is reported
// at once so an operator fixes them in one go.
func loadConfig(getenv func(string) string) (Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, e := range envVars {
			if e.Name == name {
				return e.Default
			}
		}
		return ""
	}
	var errs []error
	c := Config{
		Addr:     get("WHISTLE_ADDR"),
		DataDir:  get("WHISTLE_DATA_DIR"),
		MongoURI: get("MONGO_URI"),
		MongoDB:  get("MONGO_DB"),
	}
	switch v := strings.ToLower(get("WHISTLE_TLS")); v {
	case "true", "1", "yes":
		c.TLS = true
	case "false", "0", "no":
	default:
		errs = append(errs, fmt.Errorf("WHISTLE_TLS: %q is not true or false", v))
	}
	d, err := time.ParseDuration(get("WHISTLE_SHUTDOWN_TIMEOUT"))
	if err != nil || d <= 0 || d > 14*time.Second {
		errs = append(errs, errors.New("WHISTLE_SHUTDOWN_TIMEOUT: want a duration between 0 and 14s (the process must exit within 15s)"))
	}
	c.ShutdownTimeout = d
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		errs = append(errs, errors.New("MONGO_URI: must start with mongodb:// or mongodb+srv://"))
	}
	if strings.ContainsAny(c.MongoDB, "/\\. \"$") {
		errs = append(errs, fmt.Errorf("MONGO_DB: %q is not a valid database name", c.MongoDB))
	}
	db, err := queue.ParseDB(get("REDIS_DB"))
	if err != nil {
		errs = append(errs, err)
	}
	c.Redis = queue.Config{
		Addr: get("REDIS_ADDR"), Username: get("REDIS_USERNAME"), Password: get("REDIS_PASSWORD"), DB: db,
		SentinelMaster: get("REDIS_SENTINEL_MASTER"), SentinelAddrs: queue.ParseAddrs(get("REDIS_SENTINEL_ADDRS")),
		SentinelPass: get("REDIS_SENTINEL_PASSWORD"), ClusterAddrs: queue.ParseAddrs(get("REDIS_CLUSTER_ADDRS")),
	}
	if !c.EmbeddedQueue() {
		if err := c.Redis.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("WHISTLE_ADDR: empty"))
	}
	for _, l := range []struct {
		name string
		dst  *intake.Rate
	}{{"WHISTLE_SUBMIT_LIMIT", &c.SubmitLimit}, {"WHISTLE_RECEIPT_LIMIT", &c.ReceiptLimit}} {
		r, err := parseRate(get(l.name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
		}
		*l.dst = r
	}
	c.TrustedProxies = queue.ParseAddrs(get("WHISTLE_TRUSTED_PROXIES"))
	c.PublicURL = strings.TrimRight(get("WHISTLE_PUBLIC_URL"), "/")
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "https://") && !strings.HasPrefix(c.PublicURL, "http://") {
		errs = append(errs, errors.New("WHISTLE_PUBLIC_URL: must start with https:// or http://"))
	}
	c.SMTP = workers.SMTPConfig{Addr: get("WHISTLE_SMTP_ADDR"), From: get("WHISTLE_SMTP_FROM"),
		Username: get("WHISTLE_SMTP_USERNAME"), Password: get("WHISTLE_SMTP_PASSWORD")}
	if c.SMTP.Addr != "" && c.SMTP.From == "" {
		errs = append(errs, errors.New("WHISTLE_SMTP_FROM: required with WHISTLE_SMTP_ADDR"))
	}
	c.PolicyFile, c.HolidaysFile = get("WHISTLE_POLICY_FILE"), get("WHISTLE_HOLIDAYS_FILE")
	c.ProxyHeader = get("WHISTLE_PROXY_HEADER")
	return c, errors.Join(errs...)
}

// parseRate reads "burst/interval", e.g. "20/30s".
func parseRate(s string) (intake.Rate, error) {
	burst, every, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(burst)
	d, derr := time.ParseDuration(every)
	if !ok || err != nil || derr != nil || n < 1 || d <= 0 {
		return intake.Rate{}, fmt.Errorf("%q is not burst/interval such as 20/30s", s)
	}
	return intake.Rate{Burst: n, Every: d}, nil
}
