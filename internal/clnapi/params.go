package clnapi

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"clnd/internal/apperr"
	"clnd/internal/catalog"
	"clnd/internal/licensing"
)

// params are a call's query or form parameters.
type params url.Values

func (p params) get(name string) string { return strings.TrimSpace(url.Values(p).Get(name)) }

// required is a parameter that must be there.
func (p params) required(name string) (string, error) {
	v := p.get(name)
	if v == "" {
		return "", apperr.Input(name, "%s is required", name)
	}
	return v, nil
}

// ip is the canonical form of the ip parameter, checked by the same address
// rules as GraphQL's.
func (p params) ip(sandbox bool) (string, error) {
	v, err := p.required("ip")
	if err != nil {
		return "", err
	}
	return licensing.ParsePublicIP("ip", v, sandbox)
}

// licenseType reads the type parameter, a CLN type code; ok is false when
// it is absent.
func (p params) licenseType() (catalog.Entry, bool, error) {
	v := p.get("type")
	if v == "" {
		return catalog.Entry{}, false, nil
	}
	code, err := strconv.Atoi(v)
	if err != nil {
		return catalog.Entry{}, false, apperr.Input("type", "type is a CLN license type code: %s", typeCodes)
	}
	e, known := catalog.ByCLNCode(code)
	if !known {
		return catalog.Entry{}, false, apperr.Input("type", "unknown license type %d: the types are %s", code, typeCodes)
	}
	return e, true, nil
}

// positive reads a whole-number parameter.
func (p params) positive(name string) (int, error) {
	v, err := p.required(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, apperr.Input(name, "%s must be a positive whole number", name)
	}
	return n, nil
}

// typeCodes lists the codes for error messages: "1 (CloudLinux OS), 4 (...)".
var typeCodes = func() string {
	parts := make([]string, len(catalog.Entries))
	for i, e := range catalog.Entries {
		parts[i] = strconv.Itoa(e.CLNTypeCode) + " (" + e.Name + ")"
	}
	return strings.Join(parts, ", ")
}()

// codeOf is a license type's CLN code.
func codeOf(t catalog.LicenseType) int {
	e, _ := catalog.Lookup(t)
	return e.CLNTypeCode
}

// CreatedLayout is how the API writes times, as CLN does: minutes and a
// numeric zone ("2014-04-30T11:26-0400"); clnd writes UTC.
const CreatedLayout = "2006-01-02T15:04-0700"

func formatTime(t time.Time) string { return t.UTC().Format(CreatedLayout) }

// formatTimePtr is formatTime, or null for a time that never was.
func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

// exactTime is clnd's addition beside each CLN time: RFC 3339 with seconds,
// for what minutes cannot carry (clnd import cln keeps dates to the second).
func exactTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
