package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// request is one request of a phase, made afresh for every call.
type request func() (*http.Request, error)

// phaseResult is one closed-loop phase: clients each send a request, wait for
// the whole answer, and send the next, until the phase's time is up.
type phaseResult struct {
	requests  int
	elapsed   time.Duration
	latencies []time.Duration
	bytes     int // of the last answer
}

func (p phaseResult) rate() float64 { return float64(p.requests) / p.elapsed.Seconds() }

// closedLoop runs clients concurrent clients for d. Any failed request
// (transport error, a status other than 200, or a GraphQL error) ends the
// phase with that error.
func closedLoop(ctx context.Context, client *http.Client, clients int, d time.Duration, newRequest request) (phaseResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		size      int
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var buf bytes.Buffer
			last := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				began := time.Now()
				n, err := do(ctx, client, newRequest, &buf)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					break
				}
				mine = append(mine, time.Since(began))
				last = n
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			size = max(size, last)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return phaseResult{}, firstErr
	}
	return phaseResult{requests: len(latencies), elapsed: elapsed, latencies: latencies, bytes: size}, nil
}

// do sends one request and reads the whole answer into buf.
func do(ctx context.Context, client *http.Client, newRequest request, buf *bytes.Buffer) (int, error) {
	req, err := newRequest()
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return 0, err
	}
	// Both servers put "errors" before "data" when there are any.
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(buf.Bytes(), []byte(`{"data":`)) {
		return 0, fmt.Errorf("%s %s: status %d: %.300s", req.Method, req.URL.Path, resp.StatusCode, buf.Bytes())
	}
	return buf.Len(), nil
}

// fetch makes one request and returns the answer's body.
func fetch(ctx context.Context, client *http.Client, newRequest request) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := do(ctx, client, newRequest, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
