package events_test

import (
	"testing"
	"time"

	"clnd/ent"
	"clnd/internal/apitest"
	"clnd/internal/events"
	"clnd/internal/viewer"
)

// Review finding 2: a webhook endpoint deleted while another transaction
// emits an event for its reseller makes that other (business) transaction fail.
func TestReviewDeleteEndpointRacesEmit(t *testing.T) {
	e := apitest.New(t, "postgres", allowPrivate)
	r := e.Register("racer")
	rcv := newReceiver(t, nil)
	ep := create(t, e, r.Token, rcv.URL(), "*")

	ctx := viewer.NewContext(e.Ctx(), viewer.Viewer{Role: viewer.Reseller, ResellerID: r.ID, Scope: viewer.ScopeReadWrite})
	txB, err := e.DB.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.DeleteEndpoint(ctx, txB, ep.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		txA, err := e.DB.Client.Tx(ctx)
		if err != nil {
			done <- err
			return
		}
		_, err = events.Emit(ctx, txA, events.LicenseAdded, r.ID, events.License{ID: "ipl_x", IP: "203.0.113.9"})
		if err != nil {
			txA.Rollback()
			done <- err
			return
		}
		done <- txA.Commit()
	}()
	time.Sleep(300 * time.Millisecond)
	if err := txB.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the emitting (business) transaction failed because an endpoint was deleted concurrently: %v", err)
	}
}

var _ = ent.IsNotFound

// The other order: the emit comes first, the delete waits, and must still succeed.
func TestReviewEmitThenDeleteEndpoint(t *testing.T) {
	e := apitest.New(t, "postgres", allowPrivate)
	r := e.Register("racer2")
	rcv := newReceiver(t, nil)
	ep := create(t, e, r.Token, rcv.URL(), "*")
	ctx := viewer.NewContext(e.Ctx(), viewer.Viewer{Role: viewer.Reseller, ResellerID: r.ID, Scope: viewer.ScopeReadWrite})
	txA, err := e.DB.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Emit(ctx, txA, events.LicenseAdded, r.ID, events.License{ID: "ipl_y", IP: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		txB, err := e.DB.Client.Tx(ctx)
		if err != nil {
			done <- err
			return
		}
		if err := events.DeleteEndpoint(ctx, txB, ep.ID); err != nil {
			txB.Rollback()
			done <- err
			return
		}
		done <- txB.Commit()
	}()
	time.Sleep(300 * time.Millisecond)
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("deleteWebhookEndpoint failed after a concurrent event: %v", err)
	}
}
