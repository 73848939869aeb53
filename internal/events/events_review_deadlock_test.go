package events_test

import (
	"testing"
	"time"

	"clnd/ent/webhookdelivery"
	"clnd/ent/webhookendpoint"
	"clnd/internal/apitest"
	"clnd/internal/events"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Review finding: record() updated the delivery row, then the endpoint row,
// while UpdateEndpoint/DeleteEndpoint lock the endpoint, then update or
// delete its deliveries: PostgreSQL aborted one with a deadlock. record()
// now locks the endpoint first. This test runs record's statements by hand,
// in record's order, against events.UpdateEndpoint(enabled: false); with the
// old order (delivery first) it fails with 40P01.
func TestReviewRecordVersusDisableDeadlock(t *testing.T) {
	e := apitest.New(t, "postgres", allowPrivate)
	r := e.Register("locker")
	rcv := newReceiver(t, func(int) int { return 500 })
	ep := create(t, e, r.Token, rcv.URL(), "*")
	e.AddLicense(r.Token, "203.0.113.20", "CLOUDLINUX_OS", "a")
	sys := viewer.SystemContext(e.Ctx())
	var d1 string
	for i := 0; i < 50 && d1 == ""; i++ {
		if ds, _ := e.DB.Client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(ep.ID)).All(sys); len(ds) > 0 {
			d1 = ds[0].ID
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if d1 == "" {
		t.Fatal("no delivery")
	}
	// The runner may be mid-attempt; wait for its first attempt to be recorded.
	time.Sleep(time.Second)

	t1, err := e.DB.Client.Tx(sys)
	if err != nil {
		t.Fatal(err)
	}
	defer t1.Rollback()
	// record(): the endpoint's row first, then the delivery ...
	if _, err := t1.WebhookEndpoint.Query().Where(webhookendpoint.ID(ep.ID)).Modify(store.ForUpdate).Only(sys); err != nil {
		t.Fatal(err)
	}
	if _, err := t1.WebhookDelivery.Update().Where(webhookdelivery.ID(d1)).SetError("x").Save(sys); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx := viewer.NewContext(e.Ctx(), viewer.Viewer{Role: viewer.Reseller, ResellerID: r.ID, Scope: viewer.ScopeReadWrite})
		t2, err := e.DB.Client.Tx(ctx)
		if err != nil {
			done <- err
			return
		}
		off := false
		if _, err := (events.Webhooks{}).UpdateEndpoint(ctx, t2, ep.ID, events.EndpointChange{Enabled: &off}); err != nil {
			t2.Rollback()
			done <- err
			return
		}
		done <- t2.Commit()
	}()
	time.Sleep(300 * time.Millisecond)
	// ... then the endpoint (failing_since), as record() does.
	_, err1 := t1.WebhookEndpoint.Update().Where(webhookendpoint.ID(ep.ID)).SetDescription("y").Save(sys)
	if err1 == nil {
		err1 = t1.Commit()
	}
	err2 := <-done
	if err1 != nil || err2 != nil {
		t.Fatalf("record-like tx: %v; updateWebhookEndpoint: %v", err1, err2)
	}
}
