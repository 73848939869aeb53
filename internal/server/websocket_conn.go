package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"clnd/internal/clock"
)

// websocketImplementation is gqlgen's coder/websocket adapter
// (transport.CoderWebsocketImplementation, whose connection type is not
// exported) with one change: an event message is written without a second
// JSON encoding. gqlgen encodes the response, then hands WriteJSON a
// message holding it, which json.Marshal would walk by reflection and
// re-validate byte by byte; with thousands of subscribers that second pass
// was a measurable part of every delivery (docs/performance.md, B4).
type websocketImplementation struct {
	AcceptOptions websocket.AcceptOptions
	// streams holds the open sockets, which a graceful stop closes with
	// 1001 (shutdown.go); nil in tests of the connection alone.
	streams *openStreams
}

var _ transport.WebsocketImplementation = websocketImplementation{}

func (u websocketImplementation) Accept(w http.ResponseWriter, r *http.Request, options transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for key, values := range options.ResponseHeader {
		for _, value := range values {
			w.Header().Add(key, value)
		}
	}
	opts := u.AcceptOptions
	for _, p := range options.Subprotocols {
		if !slices.Contains(opts.Subprotocols, p) {
			opts.Subprotocols = append(opts.Subprotocols, p)
		}
	}
	conn, err := websocket.Accept(w, r, &opts)
	if err != nil {
		return nil, err
	}
	c := &websocketConn{conn: conn, streams: u.streams}
	if c.streams != nil {
		c.streams.add(c)
	}
	return c, nil
}

type websocketConn struct {
	conn    *websocket.Conn
	streams *openStreams // forgets the socket once it is closed

	mu                sync.Mutex
	readDeadlineTimer *time.Timer
	closeHandshake    chan struct{}
}

var (
	_ transport.WebsocketConn          = (*websocketConn)(nil)
	_ transport.WebsocketReadLimiter   = (*websocketConn)(nil)
	_ transport.WebsocketReadDeadliner = (*websocketConn)(nil)
)

func (c *websocketConn) Close() error {
	c.clearReadDeadline()
	c.mu.Lock()
	closing := c.closeHandshake != nil
	c.mu.Unlock()
	if closing {
		return nil // WriteClose's handshake closes the connection
	}
	err := c.conn.CloseNow()
	c.forget()
	return err
}

// forget takes the closed socket off the open ones.
func (c *websocketConn) forget() {
	if c.streams != nil {
		c.streams.remove(c)
	}
}

func (c *websocketConn) NextReader() (int, io.Reader, error) {
	kind, data, err := c.conn.Read(context.Background())
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
			return int(kind), nil, transport.ErrWebsocketClosed
		}
		return int(kind), nil, err
	}
	return int(kind), bytes.NewReader(data), nil
}

func (c *websocketConn) WriteJSON(v any) error {
	data, ok := appendEventMessage(nil, v)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return err
		}
	}
	return c.conn.Write(context.Background(), websocket.MessageText, data)
}

// WriteClose runs coder/websocket's close handshake, which waits up to 5 s
// for the peer's close frame, in the background, as gqlgen's adapter does.
func (c *websocketConn) WriteClose(code int, reason string) error {
	c.clearReadDeadline()
	c.mu.Lock()
	if c.closeHandshake != nil {
		c.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	c.closeHandshake = done
	c.mu.Unlock()
	go func() {
		defer close(done)
		_ = c.conn.Close(websocket.StatusCode(code), reason)
		c.forget()
	}()
	return nil
}

func (c *websocketConn) Subprotocol() string { return c.conn.Subprotocol() }

func (c *websocketConn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }

// SetReadDeadline closes the connection at t (gqlgen's missing-pong timeout).
func (c *websocketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	if c.readDeadlineTimer != nil {
		c.readDeadlineTimer.Stop()
		c.readDeadlineTimer = nil
	}
	now := false
	if !t.IsZero() {
		if d := t.Sub(clock.Wall()); d <= 0 {
			now = true
		} else {
			c.readDeadlineTimer = time.AfterFunc(d, func() { _ = c.conn.CloseNow() })
		}
	}
	c.mu.Unlock()
	if now {
		return c.conn.CloseNow()
	}
	return nil
}

func (c *websocketConn) clearReadDeadline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readDeadlineTimer != nil {
		c.readDeadlineTimer.Stop()
		c.readDeadlineTimer = nil
	}
}

// messageFields are the positions of gqlgen's websocket message fields
// (Payload json.RawMessage, ID string, Type string) in one message type.
type messageFields struct {
	ok                bool
	payload, id, kind int
}

var messageTypes sync.Map // reflect.Type → messageFields

// appendEventMessage appends v encoded as JSON when it is one of gqlgen's
// websocket messages carrying an event (type "next", or "data" on the legacy
// protocol), the same object json.Marshal would write with the payload
// copied as it is: gqlgen has just produced it with json.Marshal. Anything
// else (or a message type gqlgen may one day change) reports false and is
// left to json.Marshal.
func appendEventMessage(dst []byte, v any) ([]byte, bool) {
	rv, f, ok := messageOf(v)
	if !ok {
		return nil, false
	}
	kind := rv.Field(f.kind).String()
	payload := rv.Field(f.payload).Bytes()
	id := rv.Field(f.id).String()
	if (kind != "next" && kind != "data") || len(payload) == 0 || !plainJSONString(id) {
		return nil, false
	}
	dst = append(dst, `{"payload":`...)
	dst = append(dst, payload...)
	if id != "" {
		dst = append(dst, `,"id":"`...)
		dst = append(dst, id...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"type":"`...)
	dst = append(dst, kind...)
	return append(dst, `"}`...), true
}

// fieldsOf finds Payload, ID and Type in a message type with exactly
// json.Marshal's reading of them: `payload,omitempty`, `id,omitempty`,
// `type`, and no other field that json.Marshal would write.
func fieldsOf(t reflect.Type) messageFields {
	f := messageFields{payload: -1, id: -1, kind: -1}
	for i := range t.NumField() {
		sf := t.Field(i)
		switch {
		case !sf.IsExported():
		case sf.Name == "Payload" && sf.Type == reflect.TypeFor[json.RawMessage]() && sf.Tag.Get("json") == "payload,omitempty":
			f.payload = i
		case sf.Name == "ID" && sf.Type.Kind() == reflect.String && sf.Tag.Get("json") == "id,omitempty":
			f.id = i
		case sf.Name == "Type" && sf.Type.Kind() == reflect.String && sf.Tag.Get("json") == "type":
			f.kind = i
		default:
			return f // a field this encoder does not know
		}
	}
	f.ok = f.payload >= 0 && f.id >= 0 && f.kind >= 0
	return f
}

// plainJSONString reports whether s is written in JSON exactly as it is:
// printable ASCII without quotes, backslashes or the characters
// json.Marshal escapes for HTML.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// messageOf is the struct v points to, if it is one of gqlgen's websocket
// messages, and where its fields are (looked up once per type).
func messageOf(v any) (reflect.Value, messageFields, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, messageFields{}, false
	}
	rv = rv.Elem()
	var f messageFields
	if cached, ok := messageTypes.Load(rv.Type()); ok {
		f = cached.(messageFields)
	} else {
		f = fieldsOf(rv.Type())
		messageTypes.Store(rv.Type(), f)
	}
	return rv, f, f.ok
}
