package events_test

import (
	"log/slog"
	"testing"
	"time"

	"clnd/ent/webhookdelivery"
	"clnd/ent/webhookendpoint"
	"clnd/internal/apitest"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/sealed"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// record() itself, not a copy of its statements, against a disable that
// locks the endpoint and then cancels its deliveries.
func TestRecordLocksEndpointFirst(t *testing.T) {
	e := apitest.New(t, "postgres", allowPrivate)
	r := e.Register("zz-record")
	rcv := newReceiver(t, func(int) int { return 500 })
	ep := create(t, e, r.Token, rcv.URL(), "*")
	e.AddLicense(r.Token, "203.0.113.21", "CLOUDLINUX_OS", "a")
	sys := viewer.SystemContext(e.Ctx())
	var d1 string
	for i := 0; i < 50 && d1 == ""; i++ {
		if ds, _ := e.DB.Client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(ep.ID), webhookdelivery.AttemptsGT(0)).All(sys); len(ds) > 0 {
			d1 = ds[0].ID
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if d1 == "" {
		t.Fatal("no attempted delivery")
	}
	// record's endpoint update only waits when failing_since is unset.
	if _, err := e.DB.SQL.Exec(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1`, ep.ID); err != nil {
		t.Fatal(err)
	}
	runner, err := events.NewRunner(e.DB, clock.System{}, sealed.Keyring{}, events.RunnerConfig{}, events.NewMetrics(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t2, err := e.DB.Client.Tx(sys)
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Rollback()
	if _, err := t2.WebhookEndpoint.Query().Where(webhookendpoint.ID(ep.ID)).Modify(store.ForUpdate).Only(sys); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runner.RecordFailureForTest(e.Ctx(), d1) }()
	time.Sleep(500 * time.Millisecond)
	_, err2 := t2.WebhookDelivery.Update().
		Where(webhookdelivery.EndpointID(ep.ID), webhookdelivery.StatusEQ(webhookdelivery.StatusPENDING)).
		SetStatus(webhookdelivery.StatusCANCELED).ClearNextAttemptAt().Save(sys)
	if err2 == nil {
		err2 = t2.Commit()
	}
	err1 := <-done
	if err1 != nil || err2 != nil {
		t.Fatalf("record: %v; disable: %v", err1, err2)
	}
}
