package server

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// FuzzLeanReadAgreesWithNetHTTP: whatever a lean connection takes as a
// plain check-in, net/http reads as the same request (POST /v1/checkin,
// one Host, the same Content-Type, X-Request-ID and X-Forwarded-For, the
// same body) and ends where it ends, so that no byte stream is split into
// requests differently by the two (request smuggling); and read never
// panics on any bytes.
func FuzzLeanReadAgreesWithNetHTTP(f *testing.F) {
	agent := `{"hostname":"web1.example.com"}`
	head := "POST /v1/checkin HTTP/1.1\r\nHost: clnd.test\r\nContent-Type: application/json\r\nX-Forwarded-For: 203.0.113.7\r\n"
	f.Add([]byte(head + "Content-Length: " + strconv.Itoa(len(agent)) + "\r\n\r\n" + agent))
	f.Add([]byte(head + "Content-Length: " + strconv.Itoa(len(agent)) + "\r\nConnection: close\r\nX-Request-ID: a\r\n\r\n" + agent + "GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte(head + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("POST /v1/checkin HTTP/1.1\r\nhost: x\r\ncontent-length: 14\r\ncontent-type: application/x-www-form-urlencoded\r\n\r\nhostname=a.b.c"))
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		defer server.Close()
		defer client.Close()
		l := &leanListener{s: &Server{cfg: Config{MaxBodyBytes: 1 << 20, BodyTimeout: time.Second}}}
		br := bytes.NewReader(data)
		r := bufio.NewReaderSize(br, leanBuffer)
		if _, err := r.Peek(1); err != nil {
			return
		}
		req, ok := l.read(&leanConn{Conn: server}, r, true)
		consumed := len(data) - br.Len() - r.Buffered()
		if !ok {
			if consumed != 0 {
				t.Fatalf("a request left to net/http was consumed: %d bytes", consumed)
			}
			return
		}
		nr := bufio.NewReader(bytes.NewReader(data))
		hr, err := http.ReadRequest(nr)
		if err != nil {
			t.Fatalf("lean read a check-in net/http refuses: %v", err)
		}
		body := make([]byte, hr.ContentLength)
		n := 0
		for n < len(body) {
			m, err := hr.Body.Read(body[n:])
			n += m
			if err != nil {
				break
			}
		}
		if n != len(body) || hr.Method != "POST" || hr.RequestURI != CheckInPath || hr.ProtoMinor != 1 ||
			len(hr.TransferEncoding) != 0 || hr.Close != req.close {
			t.Fatalf("net/http read %s %s HTTP/1.%d, body %d of %d, TE %v, close %v (lean: %v)",
				hr.Method, hr.RequestURI, hr.ProtoMinor, n, hr.ContentLength, hr.TransferEncoding, hr.Close, req.close)
		}
		netHTTPConsumed := len(data) - nr.Buffered()
		if netHTTPConsumed != consumed {
			t.Fatalf("lean took %d bytes as the request, net/http %d", consumed, netHTTPConsumed)
		}
		in, _, err := parseCheckIn("", hr.Header.Get("Content-Type"), body)
		if err != nil {
			t.Fatalf("net/http's request is refused: %v", err)
		}
		if deref(in.Hostname) != deref(req.in.Hostname) || deref(in.Credential) != deref(req.in.Credential) {
			t.Fatalf("net/http's input %+v, lean's %+v", in, req.in)
		}
		if id := hr.Header.Get("X-Request-ID"); id != string(req.requestID) {
			t.Fatalf("X-Request-ID: net/http %q, lean %q", id, req.requestID)
		}
		if xff := hr.Header.Values("X-Forwarded-For"); len(xff) != len(req.forwarded) {
			t.Fatalf("X-Forwarded-For: net/http %q, lean %q", xff, req.forwarded)
		} else {
			for i := range xff {
				if xff[i] != req.forwarded[i] {
					t.Fatalf("X-Forwarded-For: net/http %q, lean %q", xff, req.forwarded)
				}
			}
		}
		if len(hr.Header["Host"]) != 0 || hr.Host == "" {
			t.Fatalf("Host: %q", hr.Host)
		}
	})
}
