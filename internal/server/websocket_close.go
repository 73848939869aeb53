package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// Close codes of the graphql-transport-ws protocol (and RFC 6455's 1013)
// that clnd sends on top of gqlgen's own.
const (
	closeUnauthorized  = 4401 // a subscribe before connection_init was acknowledged
	closeForbidden     = 4403 // connection_init carried a token that is not valid
	closeTryAgainLater = 1013 // the token could not be checked now
)

// closeCodes wraps the websocket implementation so that a graphql-transport-ws
// client that subscribes before connection_init is closed with 4401
// Unauthorized, as the protocol says, where gqlgen answers any unexpected
// first message with 1002 "unexpected message".
type closeCodes struct {
	transport.WebsocketImplementation
}

func (c closeCodes) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := c.WebsocketImplementation.Accept(w, r, opts)
	if err != nil || conn.Subprotocol() != "graphql-transport-ws" {
		return conn, err
	}
	return &closeCodesConn{WebsocketConn: conn}, nil
}

// closeCodesConn notes the type of the first message it reads (gqlgen reads
// connection_init synchronously before anything else) and rewrites the close
// that gqlgen sends when that message was a subscribe.
type closeCodesConn struct {
	transport.WebsocketConn
	mu             sync.Mutex
	read           bool // the first message has been read
	subscribeFirst bool
}

func (c *closeCodesConn) NextReader() (int, io.Reader, error) {
	kind, r, err := c.WebsocketConn.NextReader()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || c.read {
		return kind, r, err
	}
	c.read = true
	// The first message only: the read limit bounds it.
	b, err := io.ReadAll(r)
	if err != nil {
		return kind, nil, err
	}
	var m struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(b, &m) == nil && m.Type == "subscribe" {
		c.subscribeFirst = true
	}
	return kind, bytes.NewReader(b), nil
}

func (c *closeCodesConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	subscribeFirst := c.subscribeFirst
	c.mu.Unlock()
	if subscribeFirst && code == transport.WebsocketCloseProtocolError {
		code, reason = closeUnauthorized, "Unauthorized"
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
