package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"whistle"
	"whistle/crypto"
	"whistle/embedded"
	"whistle/mongodb"
)

// cliBackends are a store and Redis started by the test, handed to
// subcommands through MONGO_URI and REDIS_ADDR as an operator would.
type cliBackends struct {
	vars  map[string]string
	store *mongodb.DB
}

func newCLIBackends(t *testing.T) *cliBackends {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := embedded.StartFerretDB(context.Background(), embedded.Backend{SQLiteDir: t.TempDir()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r, err := embedded.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if _, _, err := crypto.EnsureDevKeyset(keys); err != nil {
		t.Fatal(err)
	}
	t.Setenv(crypto.EnvKeysDir, keys) // the keyset loader reads the process environment
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := mongodb.Open(ctx, mongodb.Config{URI: f.URI, Database: "whistle", SingleProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close(context.Background())
		r.Close()
		f.Close()
	})
	return &cliBackends{store: store, vars: map[string]string{
		"MONGO_URI": f.URI, "REDIS_ADDR": r.Addr(), crypto.EnvKeysDir: keys, "WHISTLE_DATA_DIR": t.TempDir(),
	}}
}

// run runs one whistle command line with extra variables and stdin.
func (b *cliBackends) run(t *testing.T, stdin string, extra map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := Env{
		Getenv: func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return b.vars[k]
		},
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	code = run(context.Background(), args, env)
	return code, out.String(), errOut.String()
}

func TestUserCommand(t *testing.T) {
	b := newCLIBackends(t)
	const password = "hotline-agent-password"
	tests := []struct {
		name       string
		stdin      string
		extra      map[string]string
		args       []string
		wantCode   int
		wantOutput string // in stdout on success, stderr on failure
	}{
		{"CreateWithPasswordOnStdin", password + "\n", nil,
			[]string{"user", "create", "--username", "Agent.Li", "--role", "hotline_agent", "--city", "银川市", "--county", "兴庆区"}, 0, "created staff account agent.li"},
		{"CreateWithPasswordInEnv", "", map[string]string{passwordEnv: password},
			[]string{"user", "create", "--username", "handler.wang", "--role", "handler", "--department", "自治区应急管理厅"}, 0, "created staff account handler.wang"},
		{"TakenUsername", password, nil,
			[]string{"user", "create", "--username", "agent.li", "--role", "auditor"}, 1, "username: 用户名已被使用。"},
		{"NoPassword", "", nil,
			[]string{"user", "create", "--username", "nopw", "--role", "auditor"}, 1, "no password"},
		{"ShortPassword", "short\n", nil,
			[]string{"user", "create", "--username", "shortpw", "--role", "auditor"}, 1, "password: 密码至少12个字符。"},
		{"ReporterRoleRefused", password, nil,
			[]string{"user", "create", "--username", "rep", "--role", "reporter"}, 1, "role"},
		{"UnknownCity", password, nil,
			[]string{"user", "create", "--username", "far", "--role", "auditor", "--city", "北京市"}, 1, "unknown city"},
		{"CountyOfAnotherCity", password, nil,
			[]string{"user", "create", "--username", "far2", "--role", "auditor", "--city", "银川市", "--county", "原州区"}, 1, "not a county of"},
		{"HandlerWithoutDepartment", password, nil,
			[]string{"user", "create", "--username", "nodept", "--role", "handler"}, 1, "department"},
		{"Disable", "", nil,
			[]string{"user", "disable", "--username", "agent.li"}, 0, "disabled staff account agent.li"},
		{"DisableUnknown", "", nil,
			[]string{"user", "disable", "--username", "nobody"}, 1, "用户不存在"},
		{"UnknownSubcommand", "", nil,
			[]string{"user", "promote"}, 1, "unknown user subcommand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := b.run(t, tc.stdin, tc.extra, tc.args...)
			out := stdout
			if tc.wantCode != 0 {
				out = stderr
			}
			if code != tc.wantCode || !strings.Contains(out, tc.wantOutput) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, tc.wantCode, tc.wantOutput)
			}
			if strings.Contains(stdout+stderr, password) {
				t.Fatal("the password was printed")
			}
		})
	}

	ctx := context.Background()
	agent, err := b.store.User(ctx, "agent.li")
	if err != nil {
		t.Fatal(err)
	}
	if agent.Role != whistle.RoleHotlineAgent || agent.City != "银川市" || agent.County != "兴庆区" || !agent.Disabled {
		t.Fatalf("stored agent %+v", agent)
	}
	var key crypto.StaffKey
	if err := key.UnmarshalBinary(agent.StaffKey); err != nil {
		t.Fatal(err)
	}
	if key.Params != crypto.DefaultStaffKDF {
		t.Fatalf("accounts are created with %+v, want the production default %+v", key.Params, crypto.DefaultStaffKDF)
	}
	if _, err := key.Unlock(password); err != nil {
		t.Fatalf("the stdin password does not unlock the key: %v", err)
	}
	trail, err := b.store.AuditByActor(ctx, "cli")
	if err != nil || len(trail) != 3 {
		t.Fatalf("audit entries by the command line: %+v %v; want 2 creates and 1 disable", trail, err)
	}
}
