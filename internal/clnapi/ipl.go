package clnapi

import (
	"context"
	"slices"

	"clnd/ent"
	"clnd/ent/iplicense"
	"clnd/internal/catalog"
	"clnd/internal/licensing"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// license is an IP license as ipl/register and ipl/list write it; id,
// created_at and hostname are clnd's additions.
type license struct {
	IP         string `json:"ip"`
	Type       int    `json:"type"`
	Registered bool   `json:"registered"`
	Created    string `json:"created"`
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	Hostname   string `json:"hostname"`
}

func licenseOf(l *ent.IPLicense) license {
	return license{
		IP: l.IP, Type: codeOf(l.Type), Registered: l.LastCheckIn != nil, Created: formatTime(l.CreatedAt),
		ID: l.ID, CreatedAt: exactTime(l.CreatedAt), Hostname: l.Hostname,
	}
}

// serverLicense is an IP license as ipl/server writes it.
type serverLicense struct {
	ServerInfo  string  `json:"server_info"`
	IP          string  `json:"ip"`
	Type        int     `json:"type"`
	Registered  bool    `json:"registered"`
	Created     string  `json:"created"`
	LastCheckin *string `json:"last_checkin"`
	ID          string  `json:"id"`
	CreatedAt   string  `json:"created_at"`
}

// ipl/availability.json?ip= → {"available": [codes], "owned": [codes]}:
// the types the caller could register at the address now (no license of
// their family is there, whoever holds it: the rule addIPLicense enforces
// with CONFLICT) and the caller's own licenses there.
func iplAvailability(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	ip, err := p.ip(h.Sandbox)
	if err != nil {
		return nil, err
	}
	// Above tenant isolation, for the families only: which families are
	// taken at an address is what a CONFLICT tells anyone who tries.
	all, err := tx.IPLicense.Query().Where(iplicense.IP(ip)).All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, err
	}
	me := viewer.FromContext(ctx).ResellerID
	taken := map[catalog.Family]bool{}
	owned := []int{}
	for _, l := range all {
		taken[l.Family] = true
		if l.ResellerID == me {
			owned = append(owned, codeOf(l.Type))
		}
	}
	available := []int{}
	for _, e := range catalog.Entries {
		if !taken[e.Family] {
			available = append(available, e.CLNTypeCode)
		}
	}
	slices.Sort(owned)
	return map[string][]int{"available": available, "owned": owned}, nil
}

// ipl/check.json?ip= → [codes] licensed at the address by any reseller:
// what CLN answers a server or panel asking whether an address is licensed.
// Only type codes leave the tenant boundary, never owners or IDs.
func iplCheck(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	ip, err := p.ip(h.Sandbox)
	if err != nil {
		return nil, err
	}
	all, err := tx.IPLicense.Query().Where(iplicense.IP(ip)).All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, err
	}
	codes := make([]int, 0, len(all))
	for _, l := range all {
		codes = append(codes, codeOf(l.Type))
	}
	slices.Sort(codes)
	return codes, nil
}

// ipl/register.json?ip=&type= → the new license: addIPLicense.
func iplRegister(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	ip, err := p.required("ip")
	if err != nil {
		return nil, err
	}
	entry, ok, err := p.licenseType()
	if err != nil {
		return nil, err
	}
	if !ok {
		_, err := p.required("type")
		return nil, err
	}
	lic, err := licensing.AddIPLicense(ctx, tx, nil, licensing.NewIPLicense{
		IP: ip, Type: entry.Type, Hostname: p.get("hostname"), Sandbox: h.Sandbox,
	})
	if err != nil {
		return nil, err
	}
	return licenseOf(lic), nil
}

// ipl/remove.json?ip=[&type=] → true: removeIPLicenses of the caller's
// licenses at the address (of that type, or all). Removing what is not
// there (removed already, never added, or another reseller's) is success
// with nothing changed, so a client may retry a removal safely.
func iplRemove(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	ip, err := p.ip(h.Sandbox)
	if err != nil {
		return nil, err
	}
	entry, typed, err := p.licenseType()
	if err != nil {
		return nil, err
	}
	q := tx.IPLicense.Query().Where(iplicense.IP(ip))
	if typed {
		q = q.Where(iplicense.TypeEQ(entry.Type))
	}
	// Locked as they are read: a removal of the same address running at
	// the same time finishes first, and these are then what it left (on
	// PostgreSQL the locked rows are read again once free; SQLite's
	// transactions run one at a time).
	// In ID order, as removeIPLicenses locks them: no lock-order deadlock
	// between the two; one with a check-in batch is retried.
	var held []*ent.IPLicense
	err = store.LockRetrying(ctx, tx, func() (err error) {
		held, err = q.Clone().Order(iplicense.ByID()).Modify(store.ForUpdate).All(ctx)
		return err
	})
	if err != nil || len(held) == 0 {
		return true, err
	}
	ids := make([]string, len(held))
	for i, l := range held {
		ids[i] = l.ID
	}
	if _, err := licensing.RemoveIPLicenses(ctx, tx, ids); err != nil {
		return nil, err
	}
	return true, nil
}

// ipl/list.json → every license of the caller, oldest first.
func iplList(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	all, err := tx.IPLicense.Query().Order(iplicense.ByCreatedAt(), iplicense.ByID()).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]license, len(all))
	for i, l := range all {
		out[i] = licenseOf(l)
	}
	return out, nil
}

// ipl/server.json?ip= → the caller's licenses at the address with what
// clnd knows of the server: server_info is its host name.
func iplServer(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error) {
	ip, err := p.ip(h.Sandbox)
	if err != nil {
		return nil, err
	}
	all, err := tx.IPLicense.Query().Where(iplicense.IP(ip)).Order(iplicense.ByCreatedAt(), iplicense.ByID()).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]serverLicense, len(all))
	for i, l := range all {
		out[i] = serverLicense{
			ServerInfo: l.Hostname, IP: l.IP, Type: codeOf(l.Type), Registered: l.LastCheckIn != nil,
			Created: formatTime(l.CreatedAt), LastCheckin: formatTimePtr(l.LastCheckIn),
			ID: l.ID, CreatedAt: exactTime(l.CreatedAt),
		}
	}
	return out, nil
}
