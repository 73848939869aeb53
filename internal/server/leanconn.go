package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"clnd/internal/clock"
	"clnd/internal/licensing"
	"clnd/internal/reqinfo"
	"clnd/internal/tracing"
	"clnd/internal/viewer"
)

// Lean connections: agents' check-ins answered without net/http.
//
// A check-in is the request clnd answers by the tens of thousands a second,
// and what net/http does around one (a goroutine and a read per request to
// notice a client going away, read deadlines moved four times, the request
// and response structures, five middleware layers) cost a quarter of the
// processor time of a check-in, clients and database included
// (docs/performance.md). So a connection is served here while its requests
// have the one plain shape agents send:
//
//	POST /v1/checkin HTTP/1.1
//	Host: ...
//	Content-Length: <1 to leanMaxBody>
//	[Content-Type, X-Forwarded-For, X-Request-ID, Connection: keep-alive or close, and headers nothing here reads]
//
// with the head and body arriving within ReadHeaderTimeout, and a body the
// endpoint takes (JSON or a form, UTF-8, no escaped NUL). The first request
// that is anything else (another path or method, HTTP/1.0, a header that
// net/http or a middleware would act on, such as Transfer-Encoding, Expect,
// Upgrade, Origin or Authorization, a body the endpoint refuses, bytes that
// are not plain ASCII in the head) is handed to net/http with every byte
// read and not yet answered, and net/http serves the rest of the connection.
// The handover happens before a request's first byte is consumed, never in
// its middle, so net/http stays the parser of every request but the plain
// check-in, and answers every refusal of one. A check-in refused after it
// was read (an unknown credential, a database outage) is answered here, by
// the same code as net/http's handler (checkIn, writeCheckInError).
//
// What a lean connection does not do: notice that its client went away
// while a check-in is being written (net/http would end the request's
// context; the check-in is written either way), log requests at debug
// level or trace them (with either on, every connection goes to net/http).

// leanMaxBody is the largest check-in body answered on a lean connection; a
// larger one goes to net/http (an agent's is under 200 bytes).
const leanMaxBody = 2 << 10

// leanBuffer is a lean connection's read buffer: a whole request's head and
// body must fit in it.
const leanBuffer = 4 << 10

// checkInRequestLine is the first line of every request a lean connection
// answers.
const checkInRequestLine = "POST " + CheckInPath + " HTTP/1.1\r\n"

// Listener returns ln for http.Server.Serve, serving agents' check-in
// connections itself (see above) and returning every other connection from
// Accept. Closing it closes ln, and a lean connection's connection once its
// request in flight is answered. It is ln itself when lean connections are
// off: Config.NetHTTPOnly, tracing, or debug logging.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if l := s.leanListener(ln); l != nil {
		return l
	}
	return ln
}

func (s *Server) leanListener(ln net.Listener) *leanListener {
	if s.cfg.NetHTTPOnly || tracing.Enabled() || s.log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	l := &leanListener{
		Listener:   ln,
		s:          s,
		handoff:    make(chan net.Conn),
		done:       make(chan struct{}),
		acceptErr:  make(chan error, 1),
		conns:      map[*leanConn]struct{}{},
		observe:    s.metrics.observer(CheckInPath),
		answered:   s.metrics.lean.WithLabelValues("answered"),
		handedOver: s.metrics.lean.WithLabelValues("handed_over"),
		vary:       len(s.cfg.CORSOrigins) > 0,
	}
	go l.accept()
	return l
}

type leanListener struct {
	net.Listener // the one connections arrive on
	s            *Server
	// handoff carries connections to net/http, through Accept.
	handoff   chan net.Conn
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
	// acceptErr holds the error that ended accepting, for Accept.
	acceptErr            chan error
	closing              atomic.Bool
	mu                   sync.Mutex
	conns                map[*leanConn]struct{}
	served               sync.WaitGroup // one per connection being served here
	observe              func(status int, start time.Time)
	answered, handedOver prometheus.Counter
	// vary: CORS origins are configured, so rs/cors (server.go) puts
	// "Vary: Origin" on every answer net/http gives.
	vary bool
}

type leanConn struct {
	net.Conn
	// idle: waiting for the next request's first byte, which Close ends.
	idle atomic.Bool
}

// Accept returns the next connection for net/http.
func (l *leanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.handoff:
		return c, nil
	case err := <-l.acceptErr:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and ends the lean connections waiting for a
// request or for the rest of its head; the others end once their request
// is answered.
func (l *leanListener) Close() error {
	l.closeOnce.Do(func() {
		l.closing.Store(true)
		l.closeErr = l.Listener.Close()
		close(l.done)
		l.mu.Lock()
		defer l.mu.Unlock()
		for c := range l.conns {
			if c.idle.Load() {
				_ = c.SetReadDeadline(aLongTimeAgo)
			}
		}
	})
	return l.closeErr
}

// aLongTimeAgo is a read deadline that ends a read at once.
var aLongTimeAgo = time.Unix(1, 0)

// wait returns once every lean connection has ended, or ctx has.
func (l *leanListener) wait(ctx context.Context) {
	ended := make(chan struct{})
	go func() { l.served.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-ctx.Done():
	}
}

// accept takes connections from the listener until it is closed, backing
// off on errors that may pass (out of file descriptors) as net/http does.
func (l *leanListener) accept() {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if l.closing.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck // net/http's own test
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.s.log.Warn("accepting a connection", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			l.acceptErr <- err
			return
		}
		delay = 0
		lc := &leanConn{Conn: c}
		l.mu.Lock()
		if l.closing.Load() {
			// Taken just before Close: Serve may be waiting for served
			// already, and an Add once Wait has begun is WaitGroup misuse
			// (a panic if it lands as the last connection ends).
			l.mu.Unlock()
			_ = c.Close()
			return
		}
		l.conns[lc] = struct{}{}
		l.served.Add(1)
		l.mu.Unlock()
		go l.serve(lc)
	}
}

// serve answers lean check-ins on c until it closes, or hands it to net/http.
func (l *leanListener) serve(c *leanConn) {
	handedOver := false
	defer func() {
		if p := recover(); p != nil {
			// As net/http does for a handler: the connection ends, the
			// process goes on.
			l.s.log.Error("panic serving a lean connection", "panic", p, "stack", string(debug.Stack()))
		}
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		if !handedOver {
			_ = c.Close()
		}
		l.served.Done()
	}()
	s := l.s
	r := bufio.NewReaderSize(c, leanBuffer)
	peer := peerAddr(c.RemoteAddr())
	base := viewer.NewContext(licensing.WithStaleAfter(clock.NewContext(context.Background(), s.clock), s.cfg.StaleAfter), viewer.Viewer{})
	var out []byte
	for first := true; ; first = false {
		// A new connection's first request has ReadHeaderTimeout to
		// arrive, as on net/http; the next one IdleTimeout to begin.
		wait := s.cfg.IdleTimeout
		if first {
			wait = readHeaderTimeout
		}
		deadline := clock.Wall().Add(wait)
		_ = c.SetReadDeadline(deadline)
		c.idle.Store(true)
		if l.closing.Load() {
			return
		}
		// After an answer, as net/http: the next request's first 4 bytes
		// (fewer, then EOF, end the connection without a word; handed
		// over, they were a new connection's request, answered 400).
		peek := 4
		if first {
			peek = 1
		}
		_, err := r.Peek(peek)
		c.idle.Store(false)
		if err != nil {
			return
		}
		if !first {
			// As net/http after a POST (every request answered here is
			// one): up to 4 CR or LF before the next request are skipped,
			// for clients that end a body with CRLF.
			crlf, _ := r.Peek(4)
			n := 0
			for n < len(crlf) && (crlf[n] == '\r' || crlf[n] == '\n') {
				n++
			}
			_, _ = r.Discard(n)
		}
		start := clock.Wall()
		req, ok := l.read(c, r, first)
		if !ok {
			if req.bodyTimedOut {
				rec := &leanRecorder{header: http.Header{}}
				writeError(rec, http.StatusRequestTimeout, s.bodyTimedOut())
				out = appendResponse(out[:0], rec.status, l.withVary(rec.header), requestID(req.requestID), rec.body.Bytes(), false)
				_, _ = c.Write(out)
				l.observe(rec.status, start)
				l.answered.Inc()
				return
			}
			if req.drop {
				return
			}
			headBy := req.headBy
			if first {
				headBy = deadline // the connection's first head, since it began
			}
			handedOver = l.handOver(c, r, headBy)
			return
		}
		id := requestID(req.requestID)
		ctx := reqinfo.NewContext(base, reqinfo.Info{ID: id, ClientAddr: s.forwardedFor(peer, req.forwarded)})
		status := http.StatusOK
		var header http.Header
		answer, err := s.checkIn(ctx, req.in)
		if err != nil {
			rec := &leanRecorder{header: http.Header{}}
			s.writeCheckInError(ctx, rec, 0, err)
			status, header, answer = rec.status, rec.header, rec.body.Bytes()
		}
		keepAlive := !req.close && !l.closing.Load()
		out = appendResponse(out[:0], status, l.withVary(header), id, answer, keepAlive)
		_, err = c.Write(out)
		l.observe(status, start)
		l.answered.Inc()
		if err != nil || !keepAlive {
			return
		}
	}
}

// withVary is header with the "Vary: Origin" rs/cors adds to every answer
// when CORS origins are configured; a nil header is a check-in's answer.
func (l *leanListener) withVary(header http.Header) http.Header {
	if !l.vary {
		return header
	}
	if header == nil {
		return checkInVaryHeader
	}
	header["Vary"] = varyOrigin
	return header
}

// varyOrigin and checkInVaryHeader are shared by every answer; nothing
// modifies them.
var (
	varyOrigin        = []string{"Origin"}
	checkInVaryHeader = http.Header{"Content-Type": jsonContentType, "Vary": varyOrigin}
)

// readHeaderTimeout is how long a request's head may take to arrive
// (http.Server.ReadHeaderTimeout in Serve).
const readHeaderTimeout = 10 * time.Second

// leanRequest is a plain check-in, read.
type leanRequest struct {
	in        checkInInput
	requestID string
	forwarded []string
	close     bool
	// drop: the connection timed out or failed in the middle of a
	// request's head; net/http would close it too.
	drop bool
	// bodyTimedOut: the body did not arrive within BodyTimeout.
	bodyTimedOut bool
	// headBy: when the head must have arrived, if read gave it a bound
	// (zero: it did not wait for the head).
	headBy time.Time
}

// read reads the next request if it is a plain check-in (ok), consuming it;
// otherwise it consumes nothing and ok is false.
func (l *leanListener) read(c *leanConn, r *bufio.Reader, first bool) (req leanRequest, ok bool) {
	// The request line first: most connections that are not an agent's
	// show it in their first bytes.
	buffered, _ := r.Peek(r.Buffered())
	if !bytes.HasPrefix(buffered, []byte(checkInRequestLine)[:min(len(buffered), len(checkInRequestLine))]) {
		return req, false
	}
	// The whole head, within ReadHeaderTimeout of its first byte.
	deadlineSet := first
	headEnd := bytes.Index(buffered, []byte("\r\n\r\n"))
	for headEnd < 0 {
		if len(buffered) == r.Size() {
			return req, false // a head this long is not an agent's
		}
		if !deadlineSet {
			req.headBy = clock.Wall().Add(readHeaderTimeout)
			_ = c.SetReadDeadline(req.headBy)
			deadlineSet = true
		}
		// Until its head is whole, a request leaves its connection idle
		// to net/http's Shutdown, which closes it at once; Close does too
		// (a client trickling a head held the shutdown 10 s).
		c.idle.Store(true)
		if l.closing.Load() {
			req.drop = true
			return req, false
		}
		var err error
		buffered, err = r.Peek(len(buffered) + 1)
		c.idle.Store(false)
		if err != nil {
			// Timed out, closed by Close, or reset: net/http closes the
			// connection without a word. Ended by its client (EOF):
			// net/http answers what came 400 (after an answered request
			// serve has waited for 4 bytes, as net/http's Peek(4)).
			req.drop = err != io.EOF || l.closing.Load()
			return req, false
		}
		buffered, _ = r.Peek(r.Buffered())
		headEnd = bytes.Index(buffered, []byte("\r\n\r\n"))
	}
	if !bytes.HasPrefix(buffered, []byte(checkInRequestLine)) {
		return req, false
	}
	head := buffered[len(checkInRequestLine) : headEnd+2]
	length, contentType, plain := -1, []byte(nil), true
	// As net/http's Header.Get, the first value counts, an empty one too
	// (trimOWS returns nil for it).
	hosts, typeSeen, idSeen := 0, false, false
	for len(head) > 0 && plain {
		i := bytes.Index(head, []byte("\r\n"))
		line := head[:i]
		head = head[i+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return req, false // no name, a space before the colon, a folded line...
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !isPlainValue(value) {
			return req, false
		}
		switch {
		case asciiEqualFold(name, "Host"):
			hosts++
			plain = len(value) > 0 && isPlainHost(value)
		case asciiEqualFold(name, "Content-Length"):
			if length >= 0 || len(value) == 0 || len(value) > 4 {
				return req, false
			}
			n := 0
			for _, b := range value {
				if b < '0' || b > '9' {
					return req, false
				}
				n = n*10 + int(b-'0')
			}
			length = n
		case asciiEqualFold(name, "Content-Type"):
			if !typeSeen {
				contentType, typeSeen = value, true
			}
		case asciiEqualFold(name, "X-Forwarded-For"):
			req.forwarded = append(req.forwarded, string(value))
		case asciiEqualFold(name, "X-Request-ID"):
			if !idSeen {
				req.requestID, idSeen = string(value), true
			}
		case asciiEqualFold(name, "Connection"):
			switch {
			case asciiEqualFold(value, "close"):
				req.close = true
			case asciiEqualFold(value, "keep-alive"):
			default:
				return req, false
			}
		default:
			plain = !handedOverHeader(name)
		}
	}
	if !plain || hosts != 1 || length <= 0 || length > leanMaxBody || int64(length) > l.s.cfg.MaxBodyBytes {
		return req, false
	}
	// The body, whole, within the head's time.
	total := headEnd + 4 + length
	if total > r.Size() {
		return req, false
	}
	if len(buffered) < total {
		// Reading on may move the buffered bytes to the buffer's start
		// (after a pipelined request): contentType would then show
		// whatever came to lie where it was.
		contentType = bytes.Clone(contentType)
		// BodyTimeout for the rest, as limitBody gives it.
		_ = c.SetReadDeadline(clock.Wall().Add(l.s.cfg.BodyTimeout))
		var err error
		if buffered, err = r.Peek(total); err != nil {
			// Too slow: limitBody's 408, here. Cut short: net/http
			// reads what came and answers it.
			req.bodyTimedOut = isTimeout(err) && !l.closing.Load()
			return req, false
		}
	}
	body := buffered[headEnd+4 : total]
	if escapesNUL(body) || !utf8.Valid(body) {
		return req, false // limitBody's refusals, left to it
	}
	in, _, err := parseCheckIn("", string(contentType), body)
	if err != nil {
		return req, false
	}
	req.in = in
	_, _ = r.Discard(total)
	return req, true
}

// handedOverHeader says whether a request header makes net/http or clnd's
// middleware do something for POST /v1/checkin beyond what a lean
// connection does: such a request is handed to net/http. Tracing headers
// are not here: with tracing on, there are no lean connections.
func handedOverHeader(name []byte) bool {
	for _, h := range [...]string{
		"Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer", "Http2-Settings",
		"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers", // CORS
		"Authorization", "Idempotency-Key",
	} {
		if asciiEqualFold(name, h) {
			return true
		}
	}
	return false
}

// handOver gives c, with what r holds of it, to net/http, and reports
// whether it could (not once the listener is closed).
func (l *leanListener) handOver(c *leanConn, r *bufio.Reader, headBy time.Time) bool {
	held, _ := r.Peek(r.Buffered())
	_ = c.SetReadDeadline(time.Time{}) // net/http sets its own
	rc := &replayConn{Conn: c.Conn, held: bytes.Clone(held), headBy: headBy}
	select {
	case l.handoff <- rc:
		l.handedOver.Inc()
		return true
	case <-l.done:
		return false
	}
}

// replayConn is a connection whose first reads return what a lean
// connection read of it and did not answer.
type replayConn struct {
	net.Conn
	held []byte
	// headBy bounds net/http's first read deadline, its header timeout
	// for the request handed over: the time the head has had on the lean
	// connection counts, as it would on net/http (zero: no bound).
	headBy time.Time
}

// SetReadDeadline holds net/http's first deadline to headBy: with a
// ReadHeaderTimeout, that is the head's (a zero one follows once the head
// is read); without one, the first is that zero one, and the head has no
// bound on net/http either.
func (c *replayConn) SetReadDeadline(t time.Time) error {
	if by := c.headBy; !by.IsZero() {
		c.headBy = time.Time{}
		if !t.IsZero() && t.After(by) {
			t = by
		}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.held) > 0 {
		n := copy(p, c.held)
		c.held = c.held[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets net/http half-close the connection, as it does a TCP one
// it ends after an error answer.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// leanRecorder takes a refusal written by writeCheckInError.
type leanRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *leanRecorder) Header() http.Header { return w.header }
func (w *leanRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *leanRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

// appendResponse appends an answer with the headers net/http's would have.
func appendResponse(out []byte, status int, header http.Header, requestID string, body []byte, keepAlive bool) []byte {
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	out = append(out, "\r\n"...)
	if header == nil {
		out = append(out, "Content-Type: application/json\r\n"...)
	} else {
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range header {
				if !yield(k) {
					return
				}
			}
		}) {
			for _, v := range header[k] {
				out = append(out, k...)
				out = append(out, ": "...)
				out = append(out, v...)
				out = append(out, "\r\n"...)
			}
		}
	}
	out = append(out, "X-Request-Id: "...)
	out = append(out, requestID...)
	out = append(out, "\r\nDate: "...)
	out = clock.Wall().AppendFormat(out, http.TimeFormat)
	out = append(out, "\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	if !keepAlive {
		out = append(out, "\r\nConnection: close"...)
	}
	out = append(out, "\r\n\r\n"...)
	return append(out, body...)
}

// peerAddr is a connection's remote address, as clientAddr reads it.
func peerAddr(a net.Addr) netip.Addr {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// isToken: a header name, RFC 9110's token.
func isToken(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return len(b) > 0
}

// isPlainValue: a header value of printable ASCII and tabs (net/http takes
// more; a lean connection leaves the rest to it).
func isPlainValue(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

// isPlainHost: a host name or address, with a port.
func isPlainHost(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	return bytes.Trim(b, " \t")
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
