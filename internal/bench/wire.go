package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// wire is one load-generating client's keep-alive HTTP/1.1 connection,
// requests written and answers read by hand, as wrk does. net/http's client
// costs about as much processor time per request as clnd's handling of it,
// and here it runs on the same two cores as clnd and PostgreSQL: measured
// through it, a check-in would pay for its client, which in production runs
// on the licensed server. The UPDATE side's client is lib/pq, which is lean.
type wire struct {
	addr string // host:port
	conn net.Conn
	r    *bufio.Reader
	req  []byte
	body []byte
	// deadlineSet is when the connection's deadline was last moved.
	deadlineSet time.Time
}

func newWire(base string) *wire {
	return &wire{addr: strings.TrimPrefix(base, "http://")}
}

// post sends body as JSON to path from ip (X-Forwarded-For: the client is on
// loopback, a trusted proxy) and fails unless the answer is a 200 whose body
// starts with want. Any failure drops the connection; the next call dials.
func (c *wire) post(path, body, ip string, want []byte) error {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return err
		}
		c.conn, c.r, c.deadlineSet = conn, bufio.NewReaderSize(conn, 4096), time.Time{}
	}
	err := c.roundTrip(path, body, ip, want)
	if err != nil {
		c.close()
	}
	return err
}

func (c *wire) roundTrip(path, body, ip string, want []byte) error {
	// A deadline set once a second, not per request: setting one is a
	// measurable part of the client's processor time.
	if now := time.Now(); now.After(c.deadlineSet.Add(time.Second)) {
		_ = c.conn.SetDeadline(now.Add(30 * time.Second))
		c.deadlineSet = now
	}
	req := append(c.req[:0], "POST "...)
	req = append(req, path...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, c.addr...)
	req = append(req, "\r\nContent-Type: application/json\r\nX-Forwarded-For: "...)
	req = append(req, ip...)
	req = append(req, "\r\nContent-Length: "...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(req, "\r\n\r\n"...)
	req = append(req, body...)
	c.req = req
	if _, err := c.conn.Write(req); err != nil {
		return err
	}
	status, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	ok := bytes.HasPrefix(status, []byte("HTTP/1.1 200 "))
	statusLine := "HTTP/1.1 200"
	if !ok {
		statusLine = string(bytes.TrimSpace(status)) // ReadSlice's buffer is reused below
	}
	length := -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break // the blank line after the headers
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return fmt.Errorf("POST %s: Content-Length %q", path, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return errors.New("POST " + path + ": a chunked answer (the load generator reads only Content-Length bodies)")
		}
	}
	if length < 0 {
		return errors.New("POST " + path + ": an answer without Content-Length")
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	if _, err := readFull(c.r, c.body); err != nil {
		return err
	}
	if !ok || !bytes.HasPrefix(c.body, want) {
		return fmt.Errorf("POST %s: %s: %.300s", path, statusLine, c.body)
	}
	return nil
}

func readFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *wire) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.r = nil, nil
	}
}
