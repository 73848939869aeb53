package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"clnd/internal/apperr"
	"clnd/internal/clock"
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
// protocols' rules on operation ids, which gqlgen does not: gqlgen keeps one
// cancel per id, so a second subscribe with the id of a running operation
// left the first beyond the client's reach (it went on sending events after
// the client's complete). On graphql-transport-ws that closes the socket
// with 4409 "Subscriber for <id> already exists"; on the legacy graphql-ws
// protocol, as subscriptions-transport-ws's server does, the new start
// replaces the running operation (see nextReader). Once the client has
// completed (stopped) an operation, nothing but its complete is sent for it
// (gqlgen sent the INTERNAL "context canceled" of a subscription completed
// while it started), and a socket runs at most maxRunning operations, on
// both protocols. A message that is not JSON closes a graphql-transport-ws
// socket with 1002 after connection_init as before it.
type closeCodes struct {
	transport.WebsocketImplementation
	// maxRunning bounds a socket's running operations: a subscribe beyond
	// it is answered with an error (LIMIT_REACHED) and never started.
	maxRunning int
}

func (c closeCodes) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := c.WebsocketImplementation.Accept(w, r, opts)
	if err != nil {
		return conn, err
	}
	switch conn.Subprotocol() {
	case "graphql-transport-ws":
		return &closeCodesConn{WebsocketConn: conn, maxRunning: c.maxRunning, kinds: transportWSKinds}, nil
	case "graphql-ws", "": // gqlgen speaks the legacy protocol to a client that names none
		return &closeCodesConn{WebsocketConn: conn, maxRunning: c.maxRunning, kinds: legacyKinds, legacy: true}, nil
	}
	return conn, nil // gqlgen refuses it
}

// messageKinds name a protocol's messages that start, stop and answer an
// operation.
type messageKinds struct{ start, stop, data string }

var (
	transportWSKinds = messageKinds{start: "subscribe", stop: "complete", data: "next"}
	legacyKinds      = messageKinds{start: "start", stop: "stop", data: "data"}
)

// closeCodesConn is one socket under closeCodes's rules. It notes the type
// of the first message it reads (gqlgen reads connection_init synchronously
// before anything else) and rewrites the close that gqlgen sends when that
// message was a subscribe; it follows every operation from its start to
// the server's complete or error.
type closeCodesConn struct {
	transport.WebsocketConn
	kinds  messageKinds
	legacy bool // graphql-ws (subscriptions-transport-ws)

	mu             sync.Mutex
	read           bool // the first message has been read
	subscribeFirst bool
	maxRunning     int
	// running maps the id of each operation started and not yet ended (by
	// the server's complete or error) to the id gqlgen runs it under: the
	// same, except for a legacy start whose id gqlgen still holds for the
	// operation it replaces, which runs under a new one (clientOf maps it
	// back). completed holds gqlgen's ids of the operations the client
	// completed or stopped; replaced, those of operations a legacy start
	// replaced, which send nothing more.
	running    map[string]string
	clientOf   map[string]string
	completed  map[string]bool
	replaced   map[string]bool
	queued     []byte // a message gqlgen reads next: the start after a replaced operation's stop
	queuedKind int
	// ended holds gqlgen's ids of the operations that ended in the last
	// endedHold, with when: gqlgen forgets an operation's cancel only after
	// it has sent its complete, so a client that reuses the id at once can
	// start the next operation before that, and gqlgen then forgets the new
	// one's cancel (a complete from the client no longer stops it). Such a
	// start runs under an id of its own (renames counts them).
	ended   map[string]time.Time
	renames int
}

// endedHold is how long gqlgen may take from sending an operation's
// complete to forgetting its cancel: a few statements, unless the goroutine
// waits for a core on a saturated machine.
const endedHold = 5 * time.Second

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
	c.mu.Lock()
	if queued := c.queued; queued != nil {
		c.queued = nil
		c.mu.Unlock()
		return c.queuedKind, bytes.NewReader(queued), false, nil
	}
	c.mu.Unlock()
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
	defer c.mu.Unlock()
	first := !c.read
	c.read = true
	if invalid {
		if first || c.legacy {
			// gqlgen refuses it: its init with 1002, and on the legacy
			// protocol (which has no close codes of its own) as it always has.
			return kind, bytes.NewReader(b), false, nil
		}
		// gqlgen ends the socket with 1000 "terminated", a normal closure.
		_ = c.WebsocketConn.WriteClose(transport.WebsocketCloseProtocolError, "decoding error")
		return kind, nil, false, transport.ErrWebsocketClosed
	}
	switch running, isRunning := c.running[m.ID]; {
	case m.Type == c.kinds.start && first:
		// gqlgen refuses it: 4401 below, or connection_error and 1002 (legacy).
		c.subscribeFirst = !c.legacy
	case m.Type == c.kinds.start && isRunning && !c.legacy:
		_ = c.WebsocketConn.WriteClose(closeDuplicateID, "Subscriber for "+m.ID+" already exists")
		return kind, nil, false, transport.ErrWebsocketClosed
	case m.Type == c.kinds.start && isRunning:
		// subscriptions-transport-ws unsubscribes the running operation
		// first, then starts the new one. gqlgen gets the stop now and the
		// start at its next read, under an id of its own if gqlgen still
		// holds this one (the stopped operation ends on its own time). The
		// replaced operation sends nothing more, not even its complete,
		// which the client would take for the new operation's.
		c.replaced[running] = true
		delete(c.clientOf, running)
		start, err := c.startAs(m.ID, b)
		if err != nil {
			return kind, nil, false, err
		}
		c.queued, c.queuedKind = start, kind
		stop, err := json.Marshal(&completeMessage{ID: running, Type: c.kinds.stop})
		return kind, bytes.NewReader(stop), false, err
	case m.Type == c.kinds.start && c.maxRunning > 0 && len(c.running) >= c.maxRunning:
		// Every operation holds goroutines and buffers: one socket may not
		// run without bound. The others go on; this one never starts.
		err := c.WebsocketConn.WriteJSON(&limitMessage{ID: m.ID, Type: "error", Payload: []limitError{{
			Message:    fmt.Sprintf("a websocket runs at most %d operations at once: complete one first, or open another socket", c.maxRunning),
			Extensions: map[string]string{"code": string(apperr.LimitReached)},
		}}})
		return kind, nil, err == nil, err
	case m.Type == c.kinds.start:
		start, err := c.startAs(m.ID, b)
		return kind, bytes.NewReader(start), false, err
	case m.Type == c.kinds.stop && isRunning:
		c.completed[running] = true
		if running != m.ID {
			stop, err := withID(b, running)
			return kind, bytes.NewReader(stop), false, err
		}
	}
	return kind, bytes.NewReader(b), false, nil
}

// startAs notes the start of an operation with the client's id and returns
// the message gqlgen must read: the same, unless gqlgen still holds the id
// for an operation that is ending (a replaced one, or one running under a
// new id of its own), when it gets a new id. c.mu is held.
func (c *closeCodesConn) startAs(id string, msg []byte) ([]byte, error) {
	if c.running == nil { // the socket's first operation
		c.running, c.clientOf = map[string]string{}, map[string]string{}
		c.completed, c.replaced = map[string]bool{}, map[string]bool{}
		c.ended = map[string]time.Time{}
	}
	now := clock.Wall()
	if len(c.ended) > 64 {
		for ended, at := range c.ended {
			if now.Sub(at) >= endedHold {
				delete(c.ended, ended)
			}
		}
	}
	as := id
	for c.inUse(as, now) {
		c.renames++
		as = id + "~" + strconv.Itoa(c.renames)
	}
	c.running[id] = as
	if as == id {
		return msg, nil
	}
	c.clientOf[as] = id
	return withID(msg, as)
}

// inUse reports whether gqlgen holds id for an operation, or may still.
// c.mu is held.
func (c *closeCodesConn) inUse(id string, now time.Time) bool {
	_, renamed := c.clientOf[id]
	ended, recently := c.ended[id]
	return renamed || c.replaced[id] || c.running[id] == id || recently && now.Sub(ended) < endedHold
}

// withID is a client message with another id.
func withID(msg []byte, id string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(msg, &fields); err != nil {
		return nil, err
	}
	encoded, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	fields["id"] = encoded
	return json.Marshal(fields)
}

// limitMessage is graphql-transport-ws's error (and legacy graphql-ws's:
// the same shape), for a subscribe over the socket's limit.
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
// gets only its complete and a replaced one nothing, and notes which
// operations have ended; an operation gqlgen runs under an id of its own
// answers under the client's.
func (c *closeCodesConn) WriteJSON(v any) error {
	id, kind, ok := messageIDAndType(v)
	if ok && (kind == c.kinds.data || kind == "error" || kind == "complete") {
		c.mu.Lock()
		client, renamed := c.clientOf[id]
		if !renamed {
			client = id
		}
		replaced, completed := c.replaced[id], c.completed[id]
		if kind != c.kinds.data { // the operation has ended
			if !replaced && c.running[client] == id {
				delete(c.running, client)
			}
			delete(c.replaced, id)
			delete(c.completed, id)
			if renamed {
				delete(c.clientOf, id)
			}
			if c.ended != nil {
				c.ended[id] = clock.Wall()
			}
		}
		c.mu.Unlock()
		switch {
		case replaced:
			return nil
		case completed && kind == c.kinds.data:
			return nil
		case completed && kind == "error":
			// gqlgen sends its complete after the client's only when the
			// operation ended without an error: the client gets it either way.
			return c.WebsocketConn.WriteJSON(&completeMessage{ID: client, Type: "complete"})
		case renamed:
			setMessageID(v, client)
		}
	}
	return c.WebsocketConn.WriteJSON(v)
}

// completeMessage is graphql-transport-ws's complete (and, with the legacy
// protocol's type, its complete and stop).
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

// setMessageID sets the id of one of gqlgen's websocket messages.
func setMessageID(v any, id string) {
	if rv, f, ok := messageOf(v); ok {
		rv.Field(f.id).SetString(id)
	}
}

func (c *closeCodesConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	subscribeFirst := c.subscribeFirst
	c.mu.Unlock()
	switch {
	case c.legacy:
		// The legacy protocol has no close codes of its own: gqlgen's stand.
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
