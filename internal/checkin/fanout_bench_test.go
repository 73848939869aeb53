package checkin_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// a steady rate through both. It reports the delivery latency (p50, p99:
// from sending the check-in to a subscriber receiving it) and the events
// lost. CLND_B4_SUBSCRIBERS (default 5000) and CLND_B4_RATE (default 1000/s)
// set the load.
func BenchmarkFanoutAcrossInstances(b *testing.B) {
	subscribers := envInt("CLND_B4_SUBSCRIBERS", 5000)
	rate := envInt("CLND_B4_RATE", 1000)
	const resellers, licensesEach = 100, 10
	duration := 5 * time.Second

	first := apitest.New(b, "postgres")
	second := apitest.Reopen(b, first)
	ctx := viewer.SystemContext(first.Ctx())
	tokens := make([]string, resellers)
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
		token, hash := auth.NewSecret(auth.APITokenPrefix)
		if err := tx.APIToken.Create().SetResellerID(res.ID).SetName("b4").SetScope("READ").SetTokenHash(hash).Exec(ctx); err != nil {
			b.Fatal(err)
		}
		tokens[r] = token
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
	var sent sync.Map // seq → time sent
	var received atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	subCtx, stop := context.WithCancel(context.Background())
	defer stop()
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
			_ = wsjson.Write(subCtx, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + tokens[i%resellers]}})
			var ack map[string]any
			_ = wsjson.Read(subCtx, conn, &ack)
			_ = wsjson.Write(subCtx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { checkIns { hostname } }"}})
			go func() {
				defer conn.CloseNow()
				for {
					var m struct {
						Type    string
						Payload struct {
							Data struct{ CheckIns struct{ Hostname string } }
						}
					}
					if err := wsjson.Read(subCtx, conn, &m); err != nil {
						return
					}
					if m.Type != "next" {
						continue
					}
					seq, _ := strconv.Atoi(strings.TrimPrefix(m.Payload.Data.CheckIns.Hostname, "seq-"))
					if at, ok := sent.Load(seq); ok {
						d := time.Since(at.(time.Time))
						mu.Lock()
						latencies = append(latencies, d)
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

	// Check-ins at a steady rate, through both instances.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	var expected atomic.Int64
	total := rate * int(duration/time.Second)
	interval := time.Second / time.Duration(rate)
	var senders sync.WaitGroup
	begin := time.Now()
	for seq := 0; seq < total; seq++ {
		time.Sleep(time.Until(begin.Add(time.Duration(seq) * interval)))
		ip := ips[seq%len(ips)]
		expected.Add(int64(perReseller[owner[ip]]))
		env := []*apitest.Env{first, second}[seq%2]
		senders.Add(1)
		go func(seq int) {
			defer senders.Done()
			body := []byte(`{"query":"mutation { checkIn(input: {hostname: \"seq-` + strconv.Itoa(seq) + `\"}) { at } }"}`)
			req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", ip)
			sent.Store(seq, time.Now())
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
		}(seq)
	}
	senders.Wait()
	achieved := float64(total) / time.Since(begin).Seconds()
	time.Sleep(3 * time.Second) // let the last deliveries arrive
	stop()

	mu.Lock()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	p50, p99 := pct(0.50), pct(0.99)
	mu.Unlock()
	lost := expected.Load() - received.Load()
	b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
	b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lost), "lost")
	b.Logf("B4: %d subscribers on 2 instances, %.0f check-ins/s (asked %d/s): %d deliveries expected, %d received, %d lost; latency p50 %v, p99 %v (target ≤ 100 ms, 0 lost)",
		subscribers, achieved, rate, expected.Load(), received.Load(), lost, p50, p99)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
