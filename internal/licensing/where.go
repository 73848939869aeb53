package licensing

import (
	"strings"

	"clnd/ent"
)

// CanonicalWhere rewrites the addresses in an ipLicenses filter to the form
// licenses are stored in, so that {ip: "2001:DB8::1"} finds 2001:db8::1.
// Strings that are not addresses are left alone: they simply match nothing.
func CanonicalWhere(w *ent.IPLicenseWhereInput) {
	if w == nil {
		return
	}
	canon := func(p *string) {
		if p == nil {
			return
		}
		if ip, err := CanonicalIP("ip", *p); err == nil {
			*p = ip
		}
	}
	canon(w.IP)
	canon(w.IPNEQ)
	for i := range w.IPIn {
		canon(&w.IPIn[i])
	}
	for i := range w.IPNotIn {
		canon(&w.IPNotIn[i])
	}
	if w.IPHasPrefix != nil {
		lower := strings.ToLower(*w.IPHasPrefix)
		w.IPHasPrefix = &lower
	}
	CanonicalWhere(w.Not)
	for _, sub := range w.And {
		CanonicalWhere(sub)
	}
	for _, sub := range w.Or {
		CanonicalWhere(sub)
	}
}
