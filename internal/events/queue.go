package events

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"clnd/ent"
	"clnd/internal/clock"
	"clnd/internal/ids"
)

// Queue is the River queue deliveries run in.
const Queue = "webhooks"

// DeliverArgs is the River job of one delivery: the row it works on. Every
// other fact (endpoint, event, attempts, when the next try is due) is read
// from the database when the job runs, so a redelivery or a moved test clock
// needs no change to the job.
type DeliverArgs struct {
	DeliveryID string `json:"delivery_id"`
	// EndpointID lets the per-endpoint limit turn a job away before it
	// reads anything.
	EndpointID string `json:"endpoint_id"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "webhook_delivery" }

// InsertOpts puts deliveries in their own queue. River retries a job only
// when clnd could not record an attempt (the database was unreachable);
// failed attempts are rescheduled by deliver.go with a snooze.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 25}
}

// inserters are insert-only River clients, one per database kind: Emit and
// redeliveries write jobs in the caller's transaction, which needs no pool,
// no workers and no running client, so every process that writes events
// (clnd serve, clnd bill, tests) can queue deliveries.
var inserters = struct {
	once     sync.Once
	postgres *river.Client[*stdsql.Tx]
	sqlite   *river.Client[*stdsql.Tx]
	err      error
}{}

func inserter(dialectName string) (*river.Client[*stdsql.Tx], error) {
	inserters.once.Do(func() {
		inserters.postgres, inserters.err = river.NewClient(riverdatabasesql.New(nil), &river.Config{})
		if inserters.err != nil {
			return
		}
		inserters.sqlite, inserters.err = river.NewClient(riversqlite.New(nil), &river.Config{})
	})
	if inserters.err != nil {
		return nil, inserters.err
	}
	switch dialectName {
	case dialect.Postgres:
		return inserters.postgres, nil
	case dialect.SQLite:
		return inserters.sqlite, nil
	}
	return nil, fmt.Errorf("events: no River driver for %s", dialectName)
}

// delivery is one event owed to one endpoint.
type delivery struct {
	event    *ent.Event
	endpoint *ent.WebhookEndpoint
}

// enqueue writes the delivery rows and their River jobs, in tx, in two
// statements.
func enqueue(ctx context.Context, tx *ent.Tx, owed []delivery) ([]*ent.WebhookDelivery, error) {
	if len(owed) == 0 {
		return nil, nil
	}
	sqlTx := tx.SQLTx()
	if sqlTx == nil {
		return nil, errors.New("events: the transaction does not run on database/sql")
	}
	ins, err := inserter(tx.Dialect())
	if err != nil {
		return nil, err
	}
	deliveryIDs := make([]string, len(owed))
	params := make([]river.InsertManyParams, len(owed))
	for i, d := range owed {
		deliveryIDs[i] = ids.New("whd")
		params[i] = river.InsertManyParams{Args: DeliverArgs{DeliveryID: deliveryIDs[i], EndpointID: d.endpoint.ID}}
	}
	var jobs []*rivertype.JobInsertResult
	for part := range slices.Chunk(params, rowsPerStatement) {
		inserted, err := ins.InsertManyTx(ctx, sqlTx, part)
		if err != nil {
			return nil, fmt.Errorf("events: queueing deliveries: %w", err)
		}
		jobs = append(jobs, inserted...)
	}
	// Each job names its delivery: match them by that, not by the order
	// the database returned them in.
	jobOf := make(map[string]int64, len(jobs))
	for _, j := range jobs {
		var args DeliverArgs
		if err := json.Unmarshal(j.Job.EncodedArgs, &args); err != nil {
			return nil, fmt.Errorf("events: reading a queued job: %w", err)
		}
		jobOf[args.DeliveryID] = j.Job.ID
	}
	now := clock.Now(ctx)
	creates := make([]*ent.WebhookDeliveryCreate, len(owed))
	for i, d := range owed {
		creates[i] = tx.WebhookDelivery.Create().
			SetID(deliveryIDs[i]).
			SetResellerID(d.endpoint.ResellerID).
			SetEndpointID(d.endpoint.ID).
			SetEventID(d.event.ID).
			SetNextAttemptAt(now).
			SetJobID(jobOf[deliveryIDs[i]]).
			SetCreatedAt(now)
	}
	made := make([]*ent.WebhookDelivery, 0, len(creates))
	for part := range slices.Chunk(creates, rowsPerStatement) {
		saved, err := tx.WebhookDelivery.CreateBulk(part...).Save(ctx)
		if err != nil {
			return nil, err
		}
		made = append(made, saved...)
	}
	return made, nil
}

// pollInterval is how often an idle instance looks for deliveries: the
// database/sql drivers have no LISTEN, so a new delivery waits at most this.
const pollInterval = 250 * time.Millisecond
