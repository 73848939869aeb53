package checkin_test

import (
	"fmt"
	"sync"
	"testing"

	"clnd/internal/apitest"
)

// Many hosts checking in at once share batches: each host's row ends with
// its own last hostname (arrays stay aligned key for key), and a check-in
// without a hostname keeps the one before it.
func TestHostileManyHostsInSharedBatches(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		const hosts, workers, rounds = 100, 20, 6
		ip := func(i int) string { return fmt.Sprintf("203.0.113.%d", i+1) }
		for i := 0; i < hosts; i++ {
			e.AddLicense(r.Token, ip(i), "KERNELCARE", "")
		}
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := 0; round < rounds; round++ {
					for i := w; i < hosts; i += workers {
						name := fmt.Sprintf("h%d-r%d", i, round)
						if round == rounds-1 && i%2 == 0 {
							name = "" // keeps h<i>-r<rounds-2>
						}
						if c := e.LeanCheckInFrom(ip(i), name); c.Status != 200 {
							t.Errorf("%s: %d %s", ip(i), c.Status, c.Raw)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		var out struct {
			IPLicenses struct {
				Edges []struct{ Node struct{ IP, Hostname string } }
			}
		}
		e.Query(r.Token, `{ ipLicenses(first: 100) { edges { node { ip hostname } } } }`, nil, &out)
		got := map[string]string{}
		for _, edge := range out.IPLicenses.Edges {
			got[edge.Node.IP] = edge.Node.Hostname
		}
		for i := 0; i < hosts; i++ {
			want := fmt.Sprintf("h%d-r%d", i, rounds-1)
			if i%2 == 0 {
				want = fmt.Sprintf("h%d-r%d", i, rounds-2)
			}
			if got[ip(i)] != want {
				t.Errorf("%s: hostname %q, want %q", ip(i), got[ip(i)], want)
			}
		}
	})
}
