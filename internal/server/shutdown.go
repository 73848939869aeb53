package server

import (
	"context"
	"net/http"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// closeGoingAway is RFC 6455's 1001 Going Away: the server is stopping.
const (
	closeGoingAway       = 1001
	goingAwayCloseReason = "server shutting down"
)

// openStreams are what a graceful stop must end itself: net/http's Shutdown
// neither closes hijacked connections (websockets, which saw EOF when the
// process ended) nor ends requests that stream (server-sent events, which
// held the stop for its whole grace period).
type openStreams struct {
	mu      sync.Mutex
	sockets map[*websocketConn]struct{}
	closing bool
	// stopping ends when the stop begins; every event stream's context
	// follows it.
	stopping context.Context
	stop     context.CancelFunc
}

func newOpenStreams() *openStreams {
	o := &openStreams{sockets: map[*websocketConn]struct{}{}}
	o.stopping, o.stop = context.WithCancel(context.Background())
	return o
}

// add notes an accepted websocket; one accepted once the stop has begun is
// closed at once.
func (o *openStreams) add(c *websocketConn) {
	o.mu.Lock()
	closing := o.closing
	if !closing {
		o.sockets[c] = struct{}{}
	}
	o.mu.Unlock()
	if closing {
		_ = c.WriteClose(closeGoingAway, goingAwayCloseReason)
	}
}

// remove forgets a websocket whose connection is closed.
func (o *openStreams) remove(c *websocketConn) {
	o.mu.Lock()
	delete(o.sockets, c)
	o.mu.Unlock()
}

// goAway begins the stop: every websocket gets a close frame 1001 "server
// shutting down" (graphql-transport-ws and legacy graphql-ws alike; their
// operations are cancelled when the socket closes) and every event stream
// is cancelled, so it ends with its complete event. Calling it again does
// nothing more: a socket's close is sent once.
func (o *openStreams) goAway() {
	o.mu.Lock()
	o.closing = true
	sockets := make([]*websocketConn, 0, len(o.sockets))
	for c := range o.sockets {
		sockets = append(sockets, c)
	}
	o.mu.Unlock()
	o.stop()
	for _, c := range sockets {
		_ = c.WriteClose(closeGoingAway, goingAwayCloseReason)
	}
}

// wait returns once every websocket's close handshake has ended (the
// client answered the close frame, or 5 s passed), or when ctx ends.
func (o *openStreams) wait(ctx context.Context) {
	// http.Server.Shutdown runs goAway in a goroutine of its own, which
	// need not have run when Shutdown returns (as soon as no request is
	// active); a second call closes nothing twice.
	o.goAway()
	o.mu.Lock()
	var handshakes []chan struct{}
	for c := range o.sockets {
		c.mu.Lock()
		if c.closeHandshake != nil {
			handshakes = append(handshakes, c.closeHandshake)
		}
		c.mu.Unlock()
	}
	o.mu.Unlock()
	for _, done := range handshakes {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}

// stoppableSSE is gqlgen's server-sent events transport with each stream's
// context ended when the server stops: the subscription ends, the stream
// sends its complete event and the response ends cleanly.
type stoppableSSE struct {
	transport.SSE
	streams *openStreams
}

func (t stoppableSSE) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(t.streams.stopping, cancel)()
	t.SSE.Do(w, r.WithContext(ctx), exec)
}
