package mongodb_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

func TestNotifications(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			t.Run("SettingsRoundTripAndReplace", func(t *testing.T) { testSettings(t, db) })
			t.Run("DeliveryIsCreatedOnceAndListedUntilSettled", func(t *testing.T) { testDeliveryLifecycle(t, db) })
			t.Run("FinalFailureIsListedAsFailed", func(t *testing.T) { testDeliveryFailure(t, db) })
		})
	}
}

func testSettings(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	target := "department:" + whistle.NewID()
	if _, err := db.NotifySettingsOf(ctx, target); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("unset settings: %v", err)
	}
	s := mongodb.NotifySettings{Target: target, Email: []string{"a@example.org"},
		Webhooks:  []mongodb.Webhook{{URL: "https://robot.example.org/send?access_token=x", Format: "dingtalk", Secret: "SEC"}},
		UpdatedAt: time.Now(), UpdatedBy: "admin"}
	if err := db.SetNotifySettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Email = []string{"b@example.org"}
	if err := db.SetNotifySettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := db.NotifySettingsOf(ctx, target)
	if err != nil || got.Target != target || !slices.Equal(got.Email, []string{"b@example.org"}) ||
		len(got.Webhooks) != 1 || got.Webhooks[0].Secret != "SEC" {
		t.Fatalf("settings %+v, %v", got, err)
	}
}

func delivery(now time.Time) mongodb.Delivery {
	return mongodb.Delivery{ID: whistle.NewID(), Event: "routed:x", CaseID: "x", Target: "department:d", Channel: "email",
		Dest: "a@example.org", Subject: "s", Text: "t", Status: mongodb.DeliveryPending, CreatedAt: now}
}

func testDeliveryLifecycle(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	now := time.Now()
	dl := delivery(now)
	for i, wantNew := range []bool{true, false} {
		created, err := db.CreateDelivery(ctx, dl)
		if err != nil || created != wantNew {
			t.Fatalf("create #%d: created=%v err=%v", i, created, err)
		}
	}
	pending, err := db.PendingDeliveries(ctx, now, 2)
	if err != nil || !slices.Contains(pending, dl.ID) {
		t.Fatalf("pending %v, %v", pending, err)
	}
	if err := db.SettleDelivery(ctx, dl.ID, "dial tcp: refused", false, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ := db.DeliveryByID(ctx, dl.ID)
	if got.Status != mongodb.DeliveryPending || got.Attempts != 1 || got.LastError != "dial tcp: refused" {
		t.Fatalf("after a failed attempt: %+v", got)
	}
	if err := db.SettleDelivery(ctx, dl.ID, "", false, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.DeliveryByID(ctx, dl.ID)
	if got.Status != mongodb.DeliverySent || got.Attempts != 2 {
		t.Fatalf("after sending: %+v", got)
	}
	if pending, _ := db.PendingDeliveries(ctx, now, 2); slices.Contains(pending, dl.ID) {
		t.Fatal("a sent delivery is still pending")
	}
}

func testDeliveryFailure(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	now := time.Now()
	dl := delivery(now)
	if _, err := db.CreateDelivery(ctx, dl); err != nil {
		t.Fatal(err)
	}
	if err := db.SettleDelivery(ctx, dl.ID, "535 authentication failed", true, now); err != nil {
		t.Fatal(err)
	}
	failed, err := db.FailedDeliveries(ctx, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(failed, func(d mongodb.Delivery) bool { return d.ID == dl.ID })
	if i < 0 || failed[i].Status != mongodb.DeliveryFailed || failed[i].LastError != "535 authentication failed" {
		t.Fatalf("failed list %+v", failed)
	}
	if pending, _ := db.PendingDeliveries(ctx, now, 1); slices.Contains(pending, dl.ID) {
		t.Fatal("a failed delivery is still pending")
	}
	nowhere := delivery(now)
	nowhere.Channel, nowhere.Dest, nowhere.Status, nowhere.LastError = "", "", mongodb.DeliveryFailed, "未配置通知方式"
	if _, err := db.CreateDelivery(ctx, nowhere); err != nil {
		t.Fatal(err)
	}
	failed, _ = db.FailedDeliveries(ctx, now, 1)
	if !slices.ContainsFunc(failed, func(d mongodb.Delivery) bool { return d.ID == nowhere.ID }) {
		t.Fatal("a delivery with nowhere to go is not listed as failed")
	}
}
