package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

// TestComposeMatchesTheBinary keeps deploy/compose.yaml honest: every whistle
// service runs a real subcommand, sets only variables the binary reads, passes
// configuration validation, and health-checks with a real probe.
func TestComposeMatchesTheBinary(t *testing.T) {
	data, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, v := range envVars {
		known[v.Name] = true
	}
	roles := map[string]int{}
	for name, svc := range cf.Services {
		if svc.Healthcheck == nil || len(svc.Healthcheck.Test) == 0 {
			if name != "mongo-init" {
				t.Errorf("service %s has no health check", name)
			}
		}
		if svc.Image != "whistle:latest" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if len(svc.Command) == 0 {
				t.Fatal("no command")
			}
			sub := svc.Command[0]
			if _, ok := commands[sub]; !ok {
				t.Fatalf("command %q is not a whistle subcommand", sub)
			}
			roles[sub]++
			env := map[string]string{}
			for k, v := range svc.Environment {
				if !known[k] {
					t.Errorf("variable %s is not read by whistle", k)
				}
				// Compose interpolation: ${VAR:?msg} → a placeholder value.
				if strings.HasPrefix(v, "${") {
					v = "placeholder"
				}
				env[k] = v
			}
			cfg, err := loadConfig(func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("configuration does not validate: %v", err)
			}
			if cfg.EmbeddedStore() || cfg.EmbeddedQueue() {
				t.Fatalf("%s must use the shared MongoDB and Redis", sub)
			}
			hc := svc.Healthcheck.Test
			i := slices.Index(hc, "probe")
			if hc[0] != "CMD" || !strings.HasSuffix(hc[1], "/whistle") || i < 0 || i+1 >= len(hc) {
				t.Fatalf("health check %v does not run `whistle probe`", hc)
			}
			if arg := hc[i+1]; arg != "backends" && !strings.HasPrefix(arg, "http://127.0.0.1:8080/") {
				t.Fatalf("probe argument %q", arg)
			}
		})
	}
	if roles["serve"] < 2 || roles["work"] < 2 {
		t.Fatalf("want 2× serve and 2× work, have %v", roles)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	env := map[string]string{
		"WHISTLE_TLS":              "maybe",
		"MONGO_URI":                "postgres://x",
		"REDIS_DB":                 "x",
		"WHISTLE_SHUTDOWN_TIMEOUT": "1m",
	}
	_, err := loadConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"WHISTLE_TLS", "MONGO_URI", "REDIS_DB", "WHISTLE_SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil || !cfg.EmbeddedStore() || !cfg.EmbeddedQueue() || cfg.Addr != ":8080" || cfg.MongoDB != "whistle" {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
}
