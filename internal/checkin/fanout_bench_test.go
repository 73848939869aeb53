package checkin_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"clnd/internal/apitest"
	"clnd/internal/auth"
	"clnd/internal/catalog"
	"clnd/internal/licensing"
	"clnd/internal/viewer"
)

// BenchmarkFanoutAcrossInstances is BENCH.md's B4: websocket subscribers
// split over two clnd instances on one PostgreSQL while check-ins arrive at
// a steady rate through both (the GraphQL mutation with variables, as
// agents send it). One subscriber in CLND_B4_LICENSE_EVERY (default 5)
// selects `license { id hostname }`. It reports the delivery latency (p50,
// p99, max: from sending the check-in to a subscriber receiving it), the
// events lost and the subscribers disconnected for falling behind.
// CLND_B4_SUBSCRIBERS (default 5000), CLND_B4_RATE (default 1000/s) and
// CLND_B4_SECONDS (default 5) set the load. CLND_B4_TOKENS (default 1) is
// how many API tokens each reseller's subscribers spread over: with one,
// an instance renders each event once per document for all of a reseller's
// subscribers (shared renderings are per credential), the best case; with
// 50, every subscriber has its own token and its own rendering, the worst.
func BenchmarkFanoutAcrossInstances(b *testing.B) {
	subscribers := envInt("CLND_B4_SUBSCRIBERS", 5000)
	rate := envInt("CLND_B4_RATE", 1000)
	licenseEvery := envInt("CLND_B4_LICENSE_EVERY", 5)
	tokensEach := max(envInt("CLND_B4_TOKENS", 1), 1)
	const resellers, licensesEach = 100, 10
	duration := time.Duration(envInt("CLND_B4_SECONDS", 5)) * time.Second
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		// The instances run in this process: collect as `clnd serve` does
		// (cmd/clnd/gc.go).
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}

	first := apitest.New(b, "postgres")
	second := apitest.Reopen(b, first)
	ctx := viewer.SystemContext(first.Ctx())
	tokens := make([][]string, resellers)
	var ips []string
	owner := map[string]int{}
	tx, err := first.DB.Client.Tx(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for r := 0; r < resellers; r++ {
		res, err := tx.Reseller.Create().SetLogin(fmt.Sprintf("fan%03d", r)).SetPasswordHash("x").SetBillingEmail("f@example.com").Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for range tokensEach {
			token, hash := auth.NewSecret(auth.APITokenPrefix)
			if err := tx.APIToken.Create().SetResellerID(res.ID).SetName("b4").SetScope("READ").SetTokenHash(hash).Exec(ctx); err != nil {
				b.Fatal(err)
			}
			tokens[r] = append(tokens[r], token)
		}
		for l := 0; l < licensesEach; l++ {
			ip := fmt.Sprintf("45.%d.%d.1", r+1, l+1)
			if _, err := licensing.CreateIPLicense(ctx, tx, licensing.NewIPLicense{ResellerID: res.ID, IP: ip, Type: catalog.KernelCare, AddedAt: apitest.Start}); err != nil {
				b.Fatal(err)
			}
			ips = append(ips, ip)
			owner[ip] = r
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}

	// Subscribers, half on each instance; subscriber i watches reseller i%resellers.
	var sent, answered sync.Map // seq → when the check-in was sent, answered
	var received, wrong atomic.Int64
	type delivery struct {
		seq int
		at  time.Time
	}
	var mu sync.Mutex
	var deliveries []delivery
	subCtx, stop := context.WithCancel(context.Background())
	defer stop()
	var conns struct {
		sync.Mutex
		open []*websocket.Conn
	}
	closeAll := func() {
		conns.Lock()
		defer conns.Unlock()
		for _, c := range conns.open {
			c.CloseNow()
		}
		conns.open = nil
	}
	defer closeAll()
	perReseller := make([]int, resellers)
	var dialed sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := 0; i < subscribers; i++ {
		perReseller[i%resellers]++
		env := []*apitest.Env{first, second}[i%2]
		dialed.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer dialed.Done()
			defer func() { <-sem }()
			url := "ws" + strings.TrimPrefix(env.Server.URL, "http") + "/graphql"
			conn, _, err := websocket.Dial(subCtx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
			if err != nil {
				b.Error(err)
				return
			}
			conn.SetReadLimit(1 << 20)
			token := tokens[i%resellers][(i/resellers)%tokensEach]
			_ = wsjson.Write(subCtx, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
			var ack map[string]any
			_ = wsjson.Read(subCtx, conn, &ack)
			query := "subscription { checkIns { hostname } }"
			withLicense := i%licenseEvery == 0
			if withLicense {
				query = "subscription { checkIns { hostname license { id hostname } } }"
			}
			_ = wsjson.Write(subCtx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}})
			conns.Lock()
			conns.open = append(conns.open, conn)
			conns.Unlock()
			go func() {
				defer conn.CloseNow()
				var buf []byte
				for {
					// Read without decoding, into the subscriber's own
					// buffer, without a context to watch (the connections
					// are closed at the end): the subscribers share the
					// instances' two cores, and what they spend is taken
					// from the fan-out being measured.
					msg, err := readMessage(conn, buf[:0])
					if err != nil {
						return
					}
					buf = msg
					at := time.Now()
					if !bytes.Contains(msg, []byte(`"type":"next"`)) {
						continue
					}
					if withLicense && !bytes.Contains(msg, []byte(`"license":{"id":"ipl_`)) {
						if wrong.Add(1) == 1 {
							b.Logf("an event without its license: %s", msg)
						}
					}
					// The event's own hostname is the first one (the
					// license's, when selected, follows; it may be another
					// check-in's).
					seq := -1
					if _, rest, ok := bytes.Cut(msg, []byte(`"hostname":"`)); ok {
						if digits, ok := bytes.CutPrefix(rest, []byte("seq-")); ok {
							digits, _, _ = bytes.Cut(digits, []byte(`"`))
							seq, _ = strconv.Atoi(string(digits))
						}
					}
					if _, ok := sent.Load(seq); ok {
						mu.Lock()
						deliveries = append(deliveries, delivery{seq, at})
						mu.Unlock()
						received.Add(1)
					}
				}
			}()
		}(i)
	}
	dialed.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for first.Subscribers()+second.Subscribers() < subscribers {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d subscriptions registered", first.Subscribers()+second.Subscribers(), subscribers)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Check-ins at a steady rate, through both instances, from 64 agents
	// (a fixed number, as in B3: when the instances cannot keep up, the
	// achieved rate says so, rather than ever more connections piling on).
	const agents = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: agents}}
	// checkIn sends check-in n (its host and instance) with hostname
	// host; a measured one (seq ≥ 0) is timed.
	checkIn := func(n int, host string, seq int) {
		ip := ips[n%len(ips)]
		env := []*apitest.Env{first, second}[n%2]
		body := []byte(`{"query":"mutation($host: String) { checkIn(input: {hostname: $host}) { at } }","variables":{"host":"` + host + `"}}`)
		req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", ip)
		if seq >= 0 {
			sent.Store(seq, time.Now())
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		// Read to the end, or the connection is closed rather than reused
		// and every check-in dials a new one.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if seq >= 0 {
			answered.Store(seq, time.Now())
		}
	}
	// A second of check-ins at the same rate first, not measured (as B3
	// warms up): the agents' connections, the instances' prepared
	// statements and parsed documents are ready when the measured ones
	// start. Their hostnames are not seq-N, so subscribers do not count them.
	interval := time.Second / time.Duration(rate)
	warm := make(chan int, rate)
	var warming sync.WaitGroup
	for range agents {
		warming.Add(1)
		go func() {
			defer warming.Done()
			for n := range warm {
				checkIn(n, "warm-"+strconv.Itoa(n), -1)
			}
		}()
	}
	warmBegin := time.Now()
	for n := 0; n < rate; n++ {
		time.Sleep(time.Until(warmBegin.Add(time.Duration(n) * interval)))
		warm <- n
	}
	close(warm)
	warming.Wait()
	time.Sleep(200 * time.Millisecond) // their deliveries drain
	var expected atomic.Int64
	total := rate * int(duration/time.Second)
	work := make(chan int, total)
	var senders sync.WaitGroup
	for range agents {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for seq := range work {
				checkIn(seq, "seq-"+strconv.Itoa(seq), seq)
			}
		}()
	}
	cpuBefore := processCPU()
	begin := time.Now()
	for seq := 0; seq < total; seq++ {
		time.Sleep(time.Until(begin.Add(time.Duration(seq) * interval)))
		expected.Add(int64(perReseller[owner[ips[seq%len(ips)]]]))
		work <- seq
	}
	close(work)
	senders.Wait()
	achieved := float64(total) / time.Since(begin).Seconds()
	// Late is not lost: wait until every delivery has arrived, or none has
	// for five seconds.
	for last, quiet := received.Load(), time.Now(); received.Load() < expected.Load() && time.Since(quiet) < 5*time.Second; {
		time.Sleep(100 * time.Millisecond)
		if n := received.Load(); n != last {
			last, quiet = n, time.Now()
		}
	}
	cpu := processCPU() - cpuBefore
	stop()
	closeAll()

	// Delivery latency is from sending the check-in to a subscriber
	// receiving it; the part after the check-in was answered (its batch
	// committed, its events published) is the fan-out's own.
	mu.Lock()
	var endToEnd, fanout, answer []time.Duration
	for _, d := range deliveries {
		s, _ := sent.Load(d.seq)
		endToEnd = append(endToEnd, d.at.Sub(s.(time.Time)))
		if a, ok := answered.Load(d.seq); ok {
			fanout = append(fanout, max(0, d.at.Sub(a.(time.Time))))
		}
	}
	mu.Unlock()
	for seq := 0; seq < total; seq++ {
		s, _ := sent.Load(seq)
		if a, ok := answered.Load(seq); ok {
			answer = append(answer, a.(time.Time).Sub(s.(time.Time)))
		}
	}
	pct := func(ds []time.Duration, p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(time.Millisecond)
	}
	p50, p99, worst := pct(endToEnd, 0.50), pct(endToEnd, 0.99), pct(endToEnd, 1)
	lost := expected.Load() - received.Load()
	_, _, dropped1 := first.Instance.Hub().Stats()
	_, _, dropped2 := second.Instance.Hub().Stats()
	b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
	b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
	b.ReportMetric(float64(pct(fanout, 0.99).Milliseconds()), "fanout-p99-ms")
	b.ReportMetric(float64(lost), "lost")
	// The processor time of this process (both instances, the check-in
	// agents and the subscribers; not PostgreSQL) per delivery received.
	cpuPerDelivery := float64(cpu.Microseconds()) / float64(max(1, received.Load()))
	b.ReportMetric(cpuPerDelivery, "cpu-µs/delivery")
	b.Logf("B4: %d subscribers on 2 instances (1 in %d selecting license; %d API tokens per reseller), %.0f check-ins/s (asked %d/s): %d deliveries expected, %d received, %d lost, %d subscribers disconnected, %d without their license",
		subscribers, licenseEvery, tokensEach, achieved, rate, expected.Load(), received.Load(), lost, dropped1+dropped2, wrong.Load())
	b.Logf("B4: %.1f µs of processor time per delivery (this process: instances, agents and subscribers; %v in all)", cpuPerDelivery, cpu.Round(time.Millisecond))
	b.Logf("B4: delivery latency (check-in sent → subscriber) p50 %v, p99 %v, max %v (target p99 ≤ 100 ms, 0 lost); of which the check-in's answer p50 %v, p99 %v; after the answer (fan-out) p50 %v, p99 %v",
		p50, p99, worst, pct(answer, 0.5), pct(answer, 0.99), pct(fanout, 0.5), pct(fanout, 0.99))
}

// readMessage reads the next websocket message into buf (grown as needed).
func readMessage(conn *websocket.Conn, buf []byte) ([]byte, error) {
	_, r, err := conn.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// processCPU is the processor time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
