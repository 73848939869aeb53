package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"clnd/internal/apperr"
)

// Close codes of the graphql-transport-ws protocol (and RFC 6455's 1013)
// that clnd sends on top of gqlgen's own.
const (
	closeUnauthorized  = 4401 // a subscribe before connection_init was acknowledged
	closeForbidden     = 4403 // connection_init carried a token that is not valid
	closeInitTimeout   = 4408 // no connection_init within Config.WebsocketInitTimeout
	closeDuplicateID   = 4409 // a subscribe with the id of an operation still running
	closeTryAgainLater = 1013 // the token could not be checked now
)

// closeCodes wraps the websocket implementation so that a graphql-transport-ws
// client that subscribes before connection_init is closed with 4401
// Unauthorized, as the protocol says, where gqlgen answers any unexpected
// first message with 1002 "unexpected message". It also keeps the
// protocol's rules on operation ids, which gqlgen does not: gqlgen keeps one
// cancel per id, so a second subscribe with the id of a running operation
// left the first beyond the client's reach (it went on sending events after
// the client's complete); that closes the socket with 4409 "Subscriber for
// <id> already exists". And once the client has completed an operation,
// nothing but its complete is sent for it (gqlgen sent the INTERNAL
// "context canceled" of a subscription completed while it started). A
// message that is not JSON closes the socket with 1002 after
// connection_init as before it.
type closeCodes struct {
	transport.WebsocketImplementation
	// maxRunning bounds a socket's running operations: a subscribe beyond
	// it is answered with an error (LIMIT_REACHED) and never started.
	maxRunning int
}

func (c closeCodes) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := c.WebsocketImplementation.Accept(w, r, opts)
	if err != nil || conn.Subprotocol() != "graphql-transport-ws" {
		return conn, err
	}
	return &closeCodesConn{WebsocketConn: conn, maxRunning: c.maxRunning}, nil
}

// closeCodesConn notes the type of the first message it reads (gqlgen reads
// connection_init synchronously before anything else) and rewrites the close
// that gqlgen sends when that message was a subscribe.
type closeCodesConn struct {
	transport.WebsocketConn
	mu             sync.Mutex
	read           bool // the first message has been read
	subscribeFirst bool
	maxRunning     int
	// running holds the ids of operations started and not yet ended by the
	// server's complete or error; completed, those of them the client
	// completed.
	running, completed map[string]bool
}

func (c *closeCodesConn) NextReader() (int, io.Reader, error) {
	for {
		kind, r, refused, err := c.nextReader()
		if !refused {
			return kind, r, err
		}
	}
}

// nextReader reads one message; refused says that it was a subscribe over
// the socket's limit, answered here and not passed on.
func (c *closeCodesConn) nextReader() (kind int, _ io.Reader, refused bool, _ error) {
	kind, r, err := c.WebsocketConn.NextReader()
	if err != nil {
		return kind, r, false, err
	}
	// The read limit bounds the message.
	b, err := io.ReadAll(r)
	if err != nil {
		return kind, nil, false, err
	}
	var m struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	invalid := json.Unmarshal(b, &m) != nil
	c.mu.Lock()
	first := !c.read
	c.read = true
	if invalid {
		c.mu.Unlock()
		if first {
			return kind, bytes.NewReader(b), false, nil // gqlgen's init refuses it (1002)
		}
		// gqlgen ends the socket with 1000 "terminated", a normal closure.
		_ = c.WebsocketConn.WriteClose(transport.WebsocketCloseProtocolError, "decoding error")
		return kind, nil, false, transport.ErrWebsocketClosed
	}
	switch {
	case m.Type == "subscribe" && first:
		c.subscribeFirst = true
	case m.Type == "subscribe" && c.running[m.ID]:
		c.mu.Unlock()
		_ = c.WebsocketConn.WriteClose(closeDuplicateID, "Subscriber for "+m.ID+" already exists")
		return kind, nil, false, transport.ErrWebsocketClosed
	case m.Type == "subscribe" && c.maxRunning > 0 && len(c.running) >= c.maxRunning:
		c.mu.Unlock()
		// Every operation holds goroutines and buffers: one socket may not
		// run without bound. The others go on; this one never starts.
		err := c.WebsocketConn.WriteJSON(&limitMessage{ID: m.ID, Type: "error", Payload: []limitError{{
			Message:    fmt.Sprintf("a websocket runs at most %d operations at once: complete one first, or open another socket", c.maxRunning),
			Extensions: map[string]string{"code": string(apperr.LimitReached)},
		}}})
		return kind, nil, err == nil, err
	case m.Type == "subscribe":
		if c.running == nil {
			c.running, c.completed = map[string]bool{}, map[string]bool{}
		}
		c.running[m.ID] = true
	case m.Type == "complete" && c.running[m.ID]:
		c.completed[m.ID] = true
	}
	c.mu.Unlock()
	return kind, bytes.NewReader(b), false, nil
}

// limitMessage is graphql-transport-ws's error, for a subscribe over the
// socket's limit.
type limitMessage struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Payload []limitError `json:"payload"`
}

type limitError struct {
	Message    string            `json:"message"`
	Extensions map[string]string `json:"extensions"`
}

// WriteJSON sends a message, except that an operation the client completed
// gets only its complete, and notes which operations have ended.
func (c *closeCodesConn) WriteJSON(v any) error {
	id, kind, ok := messageIDAndType(v)
	if ok && (kind == "next" || kind == "error" || kind == "complete") {
		c.mu.Lock()
		completed := c.completed[id]
		if kind != "next" {
			delete(c.running, id)
			delete(c.completed, id)
		}
		c.mu.Unlock()
		switch {
		case completed && kind == "next":
			return nil
		case completed && kind == "error":
			// gqlgen sends its complete after the client's only when the
			// operation ended without an error: the client gets it either way.
			return c.WebsocketConn.WriteJSON(&completeMessage{ID: id, Type: "complete"})
		}
	}
	return c.WebsocketConn.WriteJSON(v)
}

// completeMessage is graphql-transport-ws's complete.
type completeMessage struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// messageIDAndType reads the id and type of one of gqlgen's websocket
// messages (websocket_conn.go's fieldsOf finds them).
func messageIDAndType(v any) (id, kind string, ok bool) {
	rv, f, ok := messageOf(v)
	if !ok {
		return "", "", false
	}
	return rv.Field(f.id).String(), rv.Field(f.kind).String(), true
}

func (c *closeCodesConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	subscribeFirst := c.subscribeFirst
	c.mu.Unlock()
	switch {
	case subscribeFirst && code == transport.WebsocketCloseProtocolError:
		code, reason = closeUnauthorized, "Unauthorized"
	case code == transport.WebsocketCloseProtocolError && reason == "connection initialisation timeout":
		// gqlgen's InitTimeout; the protocol's code for it is 4408.
		code, reason = closeInitTimeout, "Connection initialisation timeout"
	}
	return c.WebsocketConn.WriteClose(code, reason)
}

// SetReadLimit and SetReadDeadline keep the optional interfaces of the
// wrapped connection visible to gqlgen (the payload read limit and the
// pong timeout).
func (c *closeCodesConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *closeCodesConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}
