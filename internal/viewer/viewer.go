// Package viewer says who is calling. The ent privacy rules read it from the
// context, so tenant isolation holds whatever a resolver forgets.
package viewer

import (
	"context"
	"sync"
)

// Role is the kind of caller.
type Role int

const (
	Anonymous Role = iota
	Operator
	Reseller
	// Server is a host checking in; it may only check in.
	Server
	// System is clnd itself (billing runs, registration, the scheduler):
	// it sees every tenant and must never carry a request's identity.
	System
)

func (r Role) String() string {
	return [...]string{"ANONYMOUS", "OPERATOR", "RESELLER", "SERVER", "SYSTEM"}[r]
}

// Scope limits what a reseller's API token may do.
type Scope string

const (
	ScopeRead      Scope = "READ"
	ScopeReadWrite Scope = "READ_WRITE"
)

// Viewer is the caller of one request.
type Viewer struct {
	Role       Role
	ResellerID string // set for Reseller
	Scope      Scope  // READ_WRITE for sessions and operators
	SessionID  string // set when authenticated by a session token
	TokenID    string // set when authenticated by an API or operator token
}

// CanWrite reports whether the viewer may call mutations.
func (v Viewer) CanWrite() bool {
	switch v.Role {
	case Operator, System:
		return true
	case Reseller:
		return v.Scope == ScopeReadWrite
	}
	return false
}

// SeesAllTenants reports whether the viewer is above tenant isolation.
func (v Viewer) SeesAllTenants() bool { return v.Role == Operator || v.Role == System }

type ctxKey struct{}

// holder lets a request's viewer change once it authenticates mid-request
// (login and registration answer with the new reseller's own data).
type holder struct {
	mu sync.RWMutex
	v  Viewer
}

// NewContext returns a context carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, &holder{v: v})
}

// FromContext returns the context's viewer; Anonymous when there is none.
func FromContext(ctx context.Context) Viewer {
	h, ok := ctx.Value(ctxKey{}).(*holder)
	if !ok {
		return Viewer{}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.v
}

// SignIn makes the request act as v from now on: the payload of login and
// registerReseller belongs to the account just signed in to, whoever called.
func SignIn(ctx context.Context, v Viewer) {
	h, ok := ctx.Value(ctxKey{}).(*holder)
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.v = v
}

// SystemContext marks ctx as clnd's own work, above tenant isolation. Use it
// only where no request identity exists (registration, login, billing).
func SystemContext(ctx context.Context) context.Context {
	return NewContext(ctx, Viewer{Role: System, Scope: ScopeReadWrite})
}
