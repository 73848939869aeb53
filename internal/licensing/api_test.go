package licensing_test

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"clnd/ent/billablerun"
	"clnd/ent/reseller"
	"clnd/internal/apitest"
	"clnd/internal/licensing"
	"clnd/internal/pgtest"
	"clnd/internal/secrets"
	"clnd/internal/viewer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const addMutation = `mutation($ip: String!, $type: LicenseType!, $host: String, $rid: ID) {
	addIPLicense(input: {ip: $ip, type: $type, hostname: $host, resellerID: $rid}) {
		license { id ip type hostname status createdAt lastCheckIn product { type monthlyPrice } reseller { login } } } }`

type license struct {
	ID, IP, Type, Hostname, Status string
	CreatedAt                      time.Time
}

func list(t *testing.T, e *apitest.Env, token, args string) (int, []license) {
	t.Helper()
	var out struct {
		IPLicenses struct {
			TotalCount int
			Edges      []struct{ Node license }
		}
	}
	e.Query(token, `{ ipLicenses`+args+` { totalCount edges { node { id ip type hostname status createdAt } } } }`, nil, &out)
	var ls []license
	for _, edge := range out.IPLicenses.Edges {
		ls = append(ls, edge.Node)
	}
	return out.IPLicenses.TotalCount, ls
}

func TestAddFilterSearchRemove(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		var added struct {
			AddIPLicense struct {
				License struct {
					license
					Product  struct{ Type, MonthlyPrice string }
					Reseller struct{ Login string }
				}
			}
		}
		e.Query(r.Token, addMutation, map[string]any{"ip": "2001:DB8:0::10", "type": "CLOUDLINUX_OS", "host": "v6.alice.example"}, &added)
		l := added.AddIPLicense.License
		if l.IP != "2001:db8::10" || l.Status != "NEVER_CHECKED_IN" || !l.CreatedAt.Equal(apitest.Start) ||
			l.Product.Type != "CLOUDLINUX_OS" || l.Reseller.Login != "alice" || !strings.HasPrefix(l.ID, "ipl_") {
			t.Fatalf("added %+v", l)
		}
		ids := []string{l.ID}
		for _, a := range []struct{ ip, typ, host string }{
			{"203.0.113.10", "CLOUDLINUX_OS", "web10.alice.example"},
			{"203.0.113.10", "KERNELCARE", "web10.alice.example"},
			{"203.0.113.11", "IMUNIFY360_SINGLE_USER", "mail.alice.example"},
			{"198.51.100.7", "CLOUDLINUX_OS", "DB.Alice.Example"},
		} {
			ids = append(ids, e.AddLicense(r.Token, a.ip, a.typ, a.host))
		}
		cases := map[string]int{
			``:                               5,
			`(where: {ip: "203.0.113.10"})`:  2,
			`(where: {type: CLOUDLINUX_OS})`: 3,
			`(where: {typeIn: [KERNELCARE, IMUNIFY360_SINGLE_USER]})`: 2,
			`(search: "203.0.113.")`:                                  3,
			`(search: "alice.example")`:                               5,
			`(search: "db.alice")`:                                    1, // hostnames match without case
			`(search: "203.0.113.1", where: {type: KERNELCARE})`:      1,
			`(search: "nothing-like-this")`:                           0,
		}
		for args, want := range cases {
			if n, ls := list(t, e, r.Token, args); n != want || len(ls) != want {
				t.Errorf("ipLicenses%s: totalCount %d, %d edges; want %d", args, n, len(ls), want)
			}
		}
		_, byIP := list(t, e, r.Token, `(orderBy: {field: IP, direction: DESC})`)
		if !sort.SliceIsSorted(byIP, func(i, j int) bool { return byIP[i].IP > byIP[j].IP }) {
			t.Errorf("not ordered by IP: %+v", byIP)
		}

		// Bulk removal is all or nothing.
		const remove = `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`
		bogus := ids[1][:len(ids[1])-3] + "ZZZ"
		e.Expect("NOT_FOUND", "", r.Token, remove, map[string]any{"ids": []string{ids[0], bogus}})
		if n, _ := list(t, e, r.Token, ``); n != 5 {
			t.Fatalf("a failed bulk removal removed something: %d left", n)
		}
		var removed struct{ RemoveIPLicenses struct{ RemovedIDs []string } }
		e.Query(r.Token, remove, map[string]any{"ids": ids[:3]}, &removed)
		if len(removed.RemoveIPLicenses.RemovedIDs) != 3 {
			t.Fatalf("removed %v", removed)
		}
		if n, _ := list(t, e, r.Token, ``); n != 2 {
			t.Fatalf("%d licenses left, want 2", n)
		}
		e.Expect("BAD_USER_INPUT", "ids", r.Token, remove, map[string]any{"ids": []string{}})
		// A removed address can be licensed again.
		e.AddLicense(r.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
	})
}

func TestAddressRules(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		b := e.Register("bob")
		for _, ip := range []string{"0.0.0.0", "::", "127.0.0.1", "::1", "224.0.0.5", "ff02::1", "169.254.10.1",
			"fe80::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "fd12::1", "100.64.1.1", "not-an-ip", "1.2.3", ""} {
			e.Expect("BAD_USER_INPUT", "ip", a.Token, addMutation, map[string]any{"ip": ip, "type": "CLOUDLINUX_OS"})
		}
		e.AddLicense(a.Token, "203.0.113.50", "CLOUDLINUX_OS", "")
		// One license per address and product family, across resellers.
		e.Expect("CONFLICT", "", a.Token, addMutation, map[string]any{"ip": "203.0.113.50", "type": "CLOUDLINUX_SOLO"})
		e.Expect("CONFLICT", "", b.Token, addMutation, map[string]any{"ip": "203.0.113.50", "type": "CLOUDLINUX_OS"})
		e.Expect("CONFLICT", "", b.Token, addMutation, map[string]any{"ip": "::ffff:203.0.113.50", "type": "CLOUDLINUX_OS"})
		// Another family on the same address is fine, for anyone.
		e.AddLicense(b.Token, "203.0.113.50", "IMUNIFY360_UNLIMITED", "")
		e.AddLicense(a.Token, "203.0.113.50", "KERNELCARE_PLUS", "")
		e.Expect("BAD_USER_INPUT", "hostname", a.Token, addMutation,
			map[string]any{"ip": "203.0.113.51", "type": "KERNELCARE", "host": strings.Repeat("h", 254)})
		e.Expect("BAD_USER_INPUT", "hostname", a.Token, addMutation,
			map[string]any{"ip": "203.0.113.51", "type": "KERNELCARE", "host": "two words"})
		e.Expect("BAD_USER_INPUT", "", a.Token, addMutation,
			map[string]any{"ip": "203.0.113.51", "type": "KERNELCARE", "host": "nul\x00byte"})
		// An operator names the reseller; a reseller cannot name another.
		e.Expect("BAD_USER_INPUT", "resellerID", e.OperatorToken, addMutation, map[string]any{"ip": "203.0.113.52", "type": "KERNELCARE"})
		e.Query(e.OperatorToken, addMutation, map[string]any{"ip": "203.0.113.52", "type": "KERNELCARE", "rid": b.ID}, nil)
		e.Expect("NOT_FOUND", "", a.Token, addMutation, map[string]any{"ip": "203.0.113.53", "type": "KERNELCARE", "rid": b.ID})
	})
}

func TestConcurrentAddsOfOneAddress(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		resellers := []apitest.Reseller{e.Register("alice"), e.Register("bob")}
		const n = 20
		counts := e.Race(n, func(i int) apitest.Request {
			typ := []string{"CLOUDLINUX_OS", "CLOUDLINUX_SOLO"}[i%2] // one family
			return apitest.Request{Token: resellers[i%2].Token, Query: addMutation,
				Variables: map[string]any{"ip": "198.51.100.99", "type": typ}}
		})
		won := counts[""]
		if counts["CONFLICT"] != n-1 {
			t.Errorf("answers by code: %v; want one success and CONFLICT for the rest", counts)
		}
		var out struct{ IPLicenses struct{ TotalCount int } }
		e.Query(e.OperatorToken, `{ ipLicenses(where: {ip: "198.51.100.99"}) { totalCount } }`, nil, &out)
		if won != 1 || out.IPLicenses.TotalCount != 1 {
			t.Fatalf("%d adds won, %d licenses exist; want exactly one", won, out.IPLicenses.TotalCount)
		}
	})
}

func TestPastDueResellerCannotAddLicensesOrBackups(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		id := e.AddLicense(r.Token, "203.0.113.20", "CLOUDLINUX_OS", "")
		ctx := viewer.SystemContext(e.Ctx())
		if err := e.DB.Client.Reseller.UpdateOneID(r.ID).SetStatus(reseller.StatusPAST_DUE).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		e.Expect("PAYMENT_REQUIRED", "", r.Token, addMutation, map[string]any{"ip": "203.0.113.21", "type": "KERNELCARE"})
		e.Expect("PAYMENT_REQUIRED", "", r.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 10, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": id})
		if n, _ := list(t, e, r.Token, ``); n != 1 {
			t.Fatalf("%d licenses after refused adds", n)
		}
		// Removing licenses is still allowed: it reduces what is owed.
		e.Query(r.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`, map[string]any{"ids": []string{id}}, nil)
	})
}

func TestBackups(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		b := e.Register("bob")
		lic := e.AddLicense(a.Token, "203.0.113.30", "CLOUDLINUX_OS", "")
		const activate = `mutation($id: ID!, $gb: Int!, $dc: String!) {
			activateBackup(input: {licenseID: $id, sizeGB: $gb, datacenter: $dc}) {
				backup { id sizeGB monthlyPrice managementURL datacenter { code } license { id backup { id } } } } }`
		e.Expect("BAD_USER_INPUT", "sizeGB", a.Token, activate, map[string]any{"id": lic, "gb": 0, "dc": "us-east"})
		e.Expect("BAD_USER_INPUT", "sizeGB", a.Token, activate, map[string]any{"id": lic, "gb": 10001, "dc": "us-east"})
		e.Expect("BAD_USER_INPUT", "datacenter", a.Token, activate, map[string]any{"id": lic, "gb": 10, "dc": "mars-1"})
		e.Expect("NOT_FOUND", "", b.Token, activate, map[string]any{"id": lic, "gb": 10, "dc": "us-east"})
		var out struct {
			ActivateBackup struct {
				Backup struct {
					ID, MonthlyPrice, ManagementURL string
					SizeGB                          int
					Datacenter                      struct{ Code string }
					License                         struct{ Backup struct{ ID string } }
				}
			}
		}
		e.Query(a.Token, activate, map[string]any{"id": lic, "gb": 40, "dc": "us-east"}, &out)
		bk := out.ActivateBackup.Backup
		if bk.SizeGB != 40 || bk.MonthlyPrice != "4.00" || bk.Datacenter.Code != "us-east" || bk.License.Backup.ID != bk.ID {
			t.Fatalf("backup %+v", bk)
		}
		e.Expect("CONFLICT", "", a.Token, activate, map[string]any{"id": lic, "gb": 10, "dc": "us-east"})

		// The management link is signed for this backup and expires.
		secret, err := secrets.Get(e.Ctx(), e.DB.Client, secrets.BackupLinks)
		if err != nil {
			t.Fatal(err)
		}
		links := licensing.BackupLinks{Secret: secret}
		if got, err := links.Verify(bk.ManagementURL, apitest.Start); err != nil || got != bk.ID {
			t.Fatalf("link %s verifies as %q, %v", bk.ManagementURL, got, err)
		}
		if _, err := links.Verify(bk.ManagementURL, apitest.Start.Add(time.Hour)); err == nil {
			t.Fatal("an hour-old link still verifies")
		}
		u, _ := url.Parse(bk.ManagementURL)
		q := u.Query()
		q.Set("backup", "bkp_someone_else")
		u.RawQuery = q.Encode()
		if _, err := links.Verify(u.String(), apitest.Start); err == nil {
			t.Fatal("a link edited to another backup verifies")
		}

		const deactivate = `mutation($id: ID!) { deactivateBackup(licenseID: $id) { license { id backup { id } } } }`
		e.Expect("NOT_FOUND", "", b.Token, deactivate, map[string]any{"id": lic})
		var off struct {
			DeactivateBackup struct {
				License struct{ Backup *struct{ ID string } }
			}
		}
		e.Query(a.Token, deactivate, map[string]any{"id": lic}, &off)
		if off.DeactivateBackup.License.Backup != nil {
			t.Fatal("the backup is still there")
		}
		e.Expect("NOT_FOUND", "", a.Token, deactivate, map[string]any{"id": lic})
	})
}

func TestImportKeepsAddedDates(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		const imp = `mutation($rid: ID!, $ls: [ImportIPLicenseInput!]!) {
			importIPLicenses(input: {resellerID: $rid, licenses: $ls}) { licenses { id ip createdAt } } }`
		addedAt := apitest.Start.AddDate(-1, 0, 0)
		ls := []map[string]any{
			{"ip": "203.0.113.60", "type": "CLOUDLINUX_OS", "hostname": "old1", "addedAt": addedAt},
			{"ip": "203.0.113.61", "type": "KERNELCARE", "addedAt": addedAt.Add(time.Hour)},
		}
		e.Expect("FORBIDDEN", "", r.Token, imp, map[string]any{"rid": r.ID, "ls": ls})
		bad := append([]map[string]any{}, ls...)
		bad = append(bad, map[string]any{"ip": "203.0.113.62", "type": "KERNELCARE", "addedAt": apitest.Start.Add(time.Hour)})
		e.Expect("BAD_USER_INPUT", "addedAt", e.OperatorToken, imp, map[string]any{"rid": r.ID, "ls": bad})
		if n, _ := list(t, e, r.Token, ``); n != 0 {
			t.Fatalf("a failed import left %d licenses", n)
		}
		var out struct {
			ImportIPLicenses struct {
				Licenses []struct {
					IP        string
					CreatedAt time.Time
				}
			}
		}
		e.Query(e.OperatorToken, imp, map[string]any{"rid": r.ID, "ls": ls}, &out)
		if got := out.ImportIPLicenses.Licenses; len(got) != 2 || !got[0].CreatedAt.Equal(addedAt) {
			t.Fatalf("imported %+v", got)
		}
	})
}

func TestPrices(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		const set = `mutation($t: LicenseType!, $p: Money!) { setProductPrice(input: {type: $t, monthlyPrice: $p}) { product { type monthlyPrice } } }`
		e.Expect("FORBIDDEN", "", r.Token, set, map[string]any{"t": "KERNELCARE", "p": "5.00"})
		e.Expect("BAD_USER_INPUT", "monthlyPrice", e.OperatorToken, set, map[string]any{"t": "KERNELCARE", "p": "-1.00"})
		e.Expect("BAD_USER_INPUT", "monthlyPrice", e.OperatorToken, set, map[string]any{"t": "KERNELCARE", "p": "5.001"})
		var out struct {
			SetProductPrice struct {
				Product struct{ Type, MonthlyPrice string }
			}
		}
		e.Query(e.OperatorToken, set, map[string]any{"t": "KERNELCARE", "p": "5.25"}, &out)
		if out.SetProductPrice.Product.MonthlyPrice != "5.25" {
			t.Fatalf("%+v", out)
		}
		const setBackup = `mutation($p: Money!) { setBackupPricePerGB(input: {pricePerGB: $p}) { backupPricePerGB } }`
		e.Expect("FORBIDDEN", "", r.Token, setBackup, map[string]any{"p": "0.20"})
		e.Query(e.OperatorToken, setBackup, map[string]any{"p": "0.20"}, nil)
		var prices struct {
			BackupPricePerGB string
			Products         []struct{ Type, MonthlyPrice string }
		}
		e.Query(r.Token, `{ backupPricePerGB products { type monthlyPrice } }`, nil, &prices)
		if prices.BackupPricePerGB != "0.20" {
			t.Fatalf("backup price %s", prices.BackupPricePerGB)
		}
		e.AddLicense(r.Token, "203.0.113.70", "KERNELCARE", "")
		var sum struct {
			AccountSummary struct{ LicenseCostPerMonth string }
		}
		e.Query(r.Token, `{ accountSummary { licenseCostPerMonth } }`, nil, &sum)
		if sum.AccountSummary.LicenseCostPerMonth != "5.25" {
			t.Fatalf("cost per month %s, want the new price", sum.AccountSummary.LicenseCostPerMonth)
		}
	})
}

func TestDefaultPageSize(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		for i := 0; i < 25; i++ {
			e.AddLicense(r.Token, "198.51.100."+itoa(100+i), "KERNELCARE", "")
		}
		if n, ls := list(t, e, r.Token, ``); n != 25 || len(ls) != 20 {
			t.Fatalf("totalCount %d with %d edges; want 25 with the default page of 20", n, len(ls))
		}
		var nested struct {
			Viewer struct {
				Reseller struct {
					IPLicenses struct {
						TotalCount int
						Edges      []json.RawMessage
					}
				}
			}
		}
		e.Query(r.Token, `{ viewer { reseller { ipLicenses { totalCount edges { node { id } } } } } }`, nil, &nested)
		if got := nested.Viewer.Reseller.IPLicenses; got.TotalCount != 25 || len(got.Edges) != 20 {
			t.Fatalf("nested: totalCount %d with %d edges", got.TotalCount, len(got.Edges))
		}
	})
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// Adding a license or backup opens its billable run at the test clock's
// now; removing it closes the run then.
func TestAddAndRemoveOpenAndCloseBillableRuns(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		lic := e.AddLicense(r.Token, "203.0.113.90", "CLOUDLINUX_OS", "")
		var bk struct {
			ActivateBackup struct{ Backup struct{ ID string } }
		}
		e.Query(r.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 30, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": lic}, &bk)
		removedAt := apitest.Start.Add(5 * 24 * time.Hour) // within the session's 7 days
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`, map[string]any{"to": removedAt}, nil)
		e.Query(r.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`, map[string]any{"ids": []string{lic}}, nil)

		ctx := viewer.SystemContext(e.Ctx())
		for subject, want := range map[string]struct {
			qty   int
			price string
		}{lic: {1, "31.00"}, bk.ActivateBackup.Backup.ID: {30, "0.10"}} {
			runs, err := e.DB.Client.BillableRun.Query().Where(billablerun.SubjectID(subject)).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 {
				t.Fatalf("%s has %d runs", subject, len(runs))
			}
			run := runs[0]
			if !run.StartedAt.Equal(apitest.Start) || run.EndedAt == nil || !run.EndedAt.Equal(removedAt) ||
				run.Quantity != want.qty || run.UnitPrice.String() != want.price || run.ResellerID != r.ID {
				t.Fatalf("%s: run %+v", subject, run)
			}
		}
	})
}
