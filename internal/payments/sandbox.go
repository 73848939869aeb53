package payments

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"clnd/ent"
	"clnd/ent/sandboxpayment"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/ids"
	"clnd/internal/money"
	"clnd/internal/viewer"
)

// Sandbox is the test gateway of sandbox mode. It follows Stripe's test
// tokens: tok_visa and tok_mastercard save and charge; tok_chargeDeclined and
// tok_insufficientFunds save, but every charge on them declines with that
// reason; tok_threeDSecure saves, and its charges need the payer's 3-D Secure
// (ActionRequired); tok_refundFail charges, and refunds of its charges are
// declined. Any other token is refused. No money moves anywhere.
//
// Like Stripe it remembers every key: the same key answers the first
// outcome again and moves nothing twice. With a Client, that memory is the
// sandbox_payments table, written outside clnd's transactions, so it stands
// for the provider's side of the world and survives a crash of clnd; the
// zero Sandbox keeps it in memory.
type Sandbox struct {
	Client *ent.Client

	mu  sync.Mutex
	mem map[string]*ent.SandboxPayment
}

type sandboxCard struct {
	label   string
	decline string // "" charges succeed
}

var sandboxCards = map[string]sandboxCard{
	"tok_visa":              {label: "Visa •••• 4242"},
	"tok_mastercard":        {label: "Mastercard •••• 4444"},
	"tok_chargeDeclined":    {label: "Visa •••• 0002", decline: "card_declined"},
	"tok_insufficientFunds": {label: "Visa •••• 9995", decline: "insufficient_funds"},
	"tok_threeDSecure":      {label: "Visa •••• 3155", decline: "authentication_required"},
	"tok_refundFail":        {label: "Visa •••• 5126"},
}

// Name implements Gateway.
func (*Sandbox) Name() string { return "sandbox" }

// Save implements Gateway. The reference is the token itself: the sandbox
// has no vault, and the token decides how charges behave.
func (*Sandbox) Save(_ context.Context, r MethodRequest) (SavedMethod, error) {
	token := strings.TrimSpace(r.Token)
	card, ok := sandboxCards[token]
	if !ok {
		return SavedMethod{}, apperr.Input("gatewayToken", "unknown sandbox token %q; use tok_visa, tok_mastercard, tok_chargeDeclined, tok_insufficientFunds, tok_threeDSecure or tok_refundFail", r.Token)
	}
	return SavedMethod{Kind: Card, Label: card.label, Ref: token}, nil
}

// Charge implements Gateway.
func (s *Sandbox) Charge(ctx context.Context, r ChargeRequest) (Charge, error) {
	card, ok := sandboxCards[r.MethodRef]
	if !ok {
		return Charge{}, &Failure{Outcome: Rejected, Code: "resource_missing", Message: fmt.Sprintf("no payment method %q", r.MethodRef)}
	}
	if r.Amount <= 0 {
		return Charge{}, &Failure{Outcome: Rejected, Code: "amount_too_small", Message: fmt.Sprintf("refusing to charge %s", r.Amount)}
	}
	p, err := s.remember(ctx, &ent.SandboxPayment{
		ID: r.Key, Kind: sandboxpayment.KindCHARGE, Ref: r.MethodRef, Amount: r.Amount,
		Decline: card.decline, Result: ids.New("ch"),
	})
	if err != nil {
		return Charge{}, err
	}
	switch p.Decline {
	case "":
		return Charge{ID: p.Result, Amount: p.Amount}, nil
	case "authentication_required":
		return Charge{}, &Failure{Outcome: ActionRequired, Code: p.Decline, Message: "the card needs 3-D Secure authentication",
			ClientSecret: p.Result + "_secret_sandbox", Ref: p.Result}
	default:
		return Charge{}, Decline(p.Decline, "")
	}
}

// Refund implements Gateway: at most what the charge has left.
func (s *Sandbox) Refund(ctx context.Context, r RefundRequest) (Refund, error) {
	return s.refund(ctx, sandboxpayment.KindCHARGE, r)
}

func (s *Sandbox) refund(ctx context.Context, of sandboxpayment.Kind, r RefundRequest) (Refund, error) {
	if prior, ok, err := s.lookup(ctx, r.Key); err != nil || ok {
		if err != nil {
			return Refund{}, err
		}
		return sandboxRefund(prior, r)
	}
	charge, ok, err := s.find(ctx, of, r.ChargeID)
	if err != nil {
		return Refund{}, err
	}
	if !ok {
		return Refund{}, &Failure{Outcome: Rejected, Code: "resource_missing", Message: fmt.Sprintf("no charge %q", r.ChargeID)}
	}
	left := charge.Amount
	refunds, err := s.all(ctx, sandboxpayment.KindREFUND, r.ChargeID)
	if err != nil {
		return Refund{}, err
	}
	for _, rf := range refunds {
		if rf.Decline == "" {
			left -= rf.Amount
		}
	}
	var decline string
	switch {
	case charge.Ref == "tok_refundFail":
		decline = "refund_failed"
	case r.Amount <= 0 || r.Amount > left:
		return Refund{}, &Failure{Outcome: Rejected, Code: "amount_too_large", Message: fmt.Sprintf("%s is more than the %s left to refund", r.Amount, left)}
	}
	p, err := s.remember(ctx, &ent.SandboxPayment{
		ID: r.Key, Kind: sandboxpayment.KindREFUND, Ref: r.ChargeID, Amount: r.Amount, Decline: decline, Result: ids.New("re"),
	})
	if err != nil {
		return Refund{}, err
	}
	return sandboxRefund(p, r)
}

func sandboxRefund(p *ent.SandboxPayment, r RefundRequest) (Refund, error) {
	if p.Kind != sandboxpayment.KindREFUND || p.Ref != r.ChargeID || p.Amount != r.Amount {
		return Refund{}, keyReused(p.ID)
	}
	if p.Decline != "" {
		return Refund{}, Decline(p.Decline, "the refund was declined")
	}
	return Refund{ID: p.Result, Amount: p.Amount}, nil
}

func keyReused(key string) error {
	return &Failure{Outcome: Rejected, Code: "idempotency_error", Message: fmt.Sprintf("key %q was used with other parameters", key)}
}

// remember stores p under its key unless the key is known, and answers what
// the key first stored. The same key with other parameters is refused, as
// Stripe refuses it.
func (s *Sandbox) remember(ctx context.Context, p *ent.SandboxPayment) (*ent.SandboxPayment, error) {
	if p.ID == "" {
		return nil, fmt.Errorf("sandbox: a payment needs an idempotency key")
	}
	p.CreatedAt = clock.Wall().UTC().Truncate(time.Microsecond)
	var first *ent.SandboxPayment
	if s.Client == nil {
		s.mu.Lock()
		if s.mem == nil {
			s.mem = map[string]*ent.SandboxPayment{}
		}
		if first = s.mem[p.ID]; first == nil {
			s.mem[p.ID], first = p, p
		}
		s.mu.Unlock()
	} else {
		sys := viewer.SystemContext(ctx)
		err := s.Client.SandboxPayment.Create().
			SetID(p.ID).SetKind(p.Kind).SetRef(p.Ref).SetAmount(p.Amount).
			SetDecline(p.Decline).SetResult(p.Result).SetApproved(p.Approved).SetCreatedAt(p.CreatedAt).
			Exec(sys)
		if err != nil && !ent.IsConstraintError(err) {
			return nil, err
		}
		if first, err = s.Client.SandboxPayment.Get(sys, p.ID); err != nil {
			return nil, err
		}
	}
	if first.Kind != p.Kind || first.Ref != p.Ref || first.Amount != p.Amount {
		return nil, keyReused(p.ID)
	}
	return first, nil
}

func (s *Sandbox) lookup(ctx context.Context, key string) (*ent.SandboxPayment, bool, error) {
	if s.Client == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		p, ok := s.mem[key]
		return p, ok, nil
	}
	p, err := s.Client.SandboxPayment.Get(viewer.SystemContext(ctx), key)
	if ent.IsNotFound(err) {
		return nil, false, nil
	}
	return p, err == nil, err
}

// find is the payment of a kind whose result is id (a charge, a capture, an order).
func (s *Sandbox) find(ctx context.Context, kind sandboxpayment.Kind, id string) (*ent.SandboxPayment, bool, error) {
	if s.Client == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.mem {
			if p.Kind == kind && p.Result == id {
				return p, true, nil
			}
		}
		return nil, false, nil
	}
	p, err := s.Client.SandboxPayment.Query().
		Where(sandboxpayment.KindEQ(kind), sandboxpayment.Result(id)).
		First(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, false, nil
	}
	return p, err == nil, err
}

// all lists the payments of a kind made on ref.
func (s *Sandbox) all(ctx context.Context, kind sandboxpayment.Kind, ref string) ([]*ent.SandboxPayment, error) {
	if s.Client == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		var out []*ent.SandboxPayment
		for _, p := range s.mem {
			if p.Kind == kind && p.Ref == ref {
				out = append(out, p)
			}
		}
		return out, nil
	}
	return s.Client.SandboxPayment.Query().
		Where(sandboxpayment.KindEQ(kind), sandboxpayment.Ref(ref)).
		All(viewer.SystemContext(ctx))
}

// Charged is what the sandbox took from a method under its keys, less
// refunds: tests use it to prove that nothing was charged twice.
func (s *Sandbox) Charged(ctx context.Context) (money.Cents, error) {
	var sum money.Cents
	for _, kind := range []sandboxpayment.Kind{sandboxpayment.KindCHARGE, sandboxpayment.KindCAPTURE, sandboxpayment.KindREFUND} {
		var rows []*ent.SandboxPayment
		if s.Client == nil {
			s.mu.Lock()
			for _, p := range s.mem {
				if p.Kind == kind {
					rows = append(rows, p)
				}
			}
			s.mu.Unlock()
		} else {
			var err error
			if rows, err = s.Client.SandboxPayment.Query().Where(sandboxpayment.KindEQ(kind)).All(viewer.SystemContext(ctx)); err != nil {
				return 0, err
			}
		}
		for _, p := range rows {
			switch {
			case p.Decline != "":
			case kind == sandboxpayment.KindREFUND:
				sum -= p.Amount
			default:
				sum += p.Amount
			}
		}
	}
	return sum, nil
}
