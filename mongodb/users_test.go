package mongodb_test

import (
	"context"
	"testing"
	"time"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

func TestStaffStore(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			t.Run("UserReadsBackAndUsernameIsUnique", func(t *testing.T) { testUserCreate(t, db) })
			t.Run("DisablingEndsEverySessionOfThatUserOnly", func(t *testing.T) { testUserDisable(t, db) })
			t.Run("SessionsTouchDeleteAndExpire", func(t *testing.T) { testSessions(t, db) })
			t.Run("AuditAppendsAndListsByCaseAndActor", func(t *testing.T) { testAudit(t, db) })
		})
	}
}

func newUser(name string, at time.Time) *mongodb.User {
	return &mongodb.User{ID: name, Username: name, Role: whistle.RoleHandler, Department: "自治区应急管理厅",
		City: "银川市", StaffKey: []byte{1, 2, 3}, CreatedAt: at.UTC().Truncate(time.Millisecond)}
}

func testUserCreate(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	now := time.Now()
	name := "u" + whistle.NewID()
	if err := db.CreateUser(ctx, newUser(name, now)); err != nil {
		t.Fatal(err)
	}
	got, err := db.User(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != whistle.RoleHandler || got.Department != "自治区应急管理厅" || got.City != "银川市" ||
		string(got.StaffKey) != "\x01\x02\x03" || got.Disabled || !got.CreatedAt.Equal(now.UTC().Truncate(time.Millisecond)) {
		t.Fatalf("read back %+v", got)
	}
	if err := db.CreateUser(ctx, newUser(name, now)); whistle.ErrorCode(err) != whistle.ECONFLICT {
		t.Fatalf("second create with the same username: %v, want conflict", err)
	}
	if _, err := db.User(ctx, "nobody-"+name); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("unknown user: %v", err)
	}
}

func testUserDisable(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	alice, bob := "a"+whistle.NewID(), "b"+whistle.NewID()
	for _, n := range []string{alice, bob} {
		if err := db.CreateUser(ctx, newUser(n, now)); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			s := &mongodb.Session{ID: n + "-s" + string(rune('0'+i)), Username: n, CreatedAt: now, LastSeen: now}
			if err := db.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.DisableUser(ctx, alice, now); err != nil {
		t.Fatal(err)
	}
	if err := db.DisableUser(ctx, alice, now.Add(time.Hour)); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}
	u, err := db.User(ctx, alice)
	if err != nil || !u.Disabled || u.DisabledAt == nil || !u.DisabledAt.Equal(now) {
		t.Fatalf("after disable: %+v %v (want disabled at the first time)", u, err)
	}
	for _, id := range []string{alice + "-s0", alice + "-s1"} {
		if _, err := db.Session(ctx, id); whistle.ErrorCode(err) != whistle.ENOTFOUND {
			t.Fatalf("session %s of the disabled user survived: %v", id, err)
		}
	}
	for _, id := range []string{bob + "-s0", bob + "-s1"} {
		if _, err := db.Session(ctx, id); err != nil {
			t.Fatalf("session %s of another user was ended: %v", id, err)
		}
	}
	if err := db.DisableUser(ctx, "nobody-"+alice, now); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("disable unknown: %v", err)
	}
}

func testSessions(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	user := "s" + whistle.NewID()
	mk := func(suffix string, created, seen time.Time) string {
		s := &mongodb.Session{ID: user + suffix, Username: user, CreatedAt: created, LastSeen: seen}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	fresh := mk("-fresh", t0, t0.Add(50*time.Minute))
	idle := mk("-idle", t0, t0.Add(10*time.Minute))
	old := mk("-old", t0.Add(-13*time.Hour), t0.Add(55*time.Minute))
	gone := mk("-gone", t0, t0)

	if err := db.TouchSession(ctx, idle, t0.Add(40*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Session(ctx, idle)
	if err != nil || !got.LastSeen.Equal(t0.Add(40*time.Minute)) || got.Username != user {
		t.Fatalf("touched session: %+v %v", got, err)
	}
	if err := db.DeleteSession(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, gone); err != nil {
		t.Fatalf("deleting an absent session: %v", err)
	}
	// At t0+1h with 15 min idle and 12 h absolute limits: idle (last seen
	// 40 min) and old (created 13 h before t0) go; fresh stays.
	now := t0.Add(time.Hour)
	n, err := db.DeleteExpiredSessions(ctx, now.Add(-15*time.Minute), now.Add(-12*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("deleted %d sessions, want at least the 2 expired ones", n)
	}
	for id, want := range map[string]string{fresh: "", idle: whistle.ENOTFOUND, old: whistle.ENOTFOUND, gone: whistle.ENOTFOUND} {
		if _, err := db.Session(ctx, id); whistle.ErrorCode(err) != want {
			t.Errorf("session %s: %v, want code %q", id, err, want)
		}
	}
}

func testAudit(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	caseID, actor := whistle.NewID(), "auditor-"+whistle.NewID()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	entries := []mongodb.AuditEntry{
		{At: t0.Add(2 * time.Minute), Actor: actor, Role: whistle.RoleHandler, Action: "case_read", CaseID: caseID},
		{At: t0, Actor: actor, Role: whistle.RoleHandler, Action: "login"},
		{At: t0.Add(time.Minute), Actor: "other", Role: whistle.RoleCoordinator, Action: "case_read", CaseID: caseID},
	}
	for _, e := range entries {
		if err := db.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	trail, err := db.AuditTrail(ctx, caseID)
	if err != nil {
		t.Fatal(err)
	}
	if len(trail) != 2 || trail[0].Actor != "other" || trail[1].Actor != actor || !trail[1].At.Equal(t0.Add(2*time.Minute)) || trail[0].ID == "" {
		t.Fatalf("trail of the case = %+v, want other's read then %s's, oldest first", trail, actor)
	}
	mine, err := db.AuditByActor(ctx, actor)
	if err != nil || len(mine) != 2 || mine[0].Action != "login" || mine[1].CaseID != caseID {
		t.Fatalf("entries by actor = %+v %v", mine, err)
	}
	for _, bad := range []mongodb.AuditEntry{
		{At: t0, Role: whistle.RoleHandler, Action: "x"},
		{At: t0, Actor: "a", Action: "x"},
		{At: t0, Actor: "a", Role: whistle.RoleHandler},
		{Actor: "a", Role: whistle.RoleHandler, Action: "x"},
	} {
		if err := db.Audit(ctx, bad); err == nil {
			t.Errorf("incomplete entry %+v was accepted", bad)
		}
	}
}
