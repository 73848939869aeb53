// Package live fans check-in events out to the subscribers of every clnd
// instance: in-process through a Hub, and between instances sharing one
// PostgreSQL through LISTEN/NOTIFY (bridge.go).
package live

import (
	"time"

	"clnd/internal/catalog"
)

// Event is one check-in of one license or server.
type Event struct {
	At              time.Time           `json:"at"`
	IP              string              `json:"ip"`
	Hostname        string              `json:"hostname"`
	ResellerID      string              `json:"rid"`
	LicenseID       string              `json:"lid,omitempty"`
	LicenseType     catalog.LicenseType `json:"type,omitempty"`
	ServerID        string              `json:"sid,omitempty"`
	ServerAccountID string              `json:"said,omitempty"`

	// batch is shared by the events published together (rows.go), and
	// index is the event's place in it (render.go).
	batch *batch
	index int
}

// Filter narrows a subscription; empty fields match everything.
type Filter struct {
	ResellerID      string // the tenant; empty only for operators
	LicenseID       string
	IP              string
	Type            catalog.LicenseType
	ServerAccountID string
}

// Match reports whether the event passes the filter.
func (f Filter) Match(e *Event) bool {
	return (f.ResellerID == "" || f.ResellerID == e.ResellerID) &&
		(f.LicenseID == "" || f.LicenseID == e.LicenseID) &&
		(f.IP == "" || f.IP == e.IP) &&
		(f.Type == "" || f.Type == e.LicenseType) &&
		(f.ServerAccountID == "" || f.ServerAccountID == e.ServerAccountID)
}
