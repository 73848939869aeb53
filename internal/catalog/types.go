// Package catalog names the products clnd licenses: the CLN license types,
// their product families and type codes.
package catalog

import (
	"fmt"
	"io"
	"strconv"
)

// LicenseType is a product a license can be for.
type LicenseType string

const (
	CloudLinuxOS            LicenseType = "CLOUDLINUX_OS"
	CloudLinuxSolo          LicenseType = "CLOUDLINUX_SOLO"
	KernelCare              LicenseType = "KERNELCARE"
	KernelCarePlus          LicenseType = "KERNELCARE_PLUS"
	ImunifyAVPlus           LicenseType = "IMUNIFYAV_PLUS"
	Imunify360SingleUser    LicenseType = "IMUNIFY360_SINGLE_USER"
	Imunify360UpTo30Users   LicenseType = "IMUNIFY360_UP_TO_30_USERS"
	Imunify360UpTo250Users  LicenseType = "IMUNIFY360_UP_TO_250_USERS"
	Imunify360UnlimitedUser LicenseType = "IMUNIFY360_UNLIMITED"
)

// Family groups products; one address holds at most one license per family.
type Family string

const (
	FamilyCloudLinux Family = "CLOUDLINUX"
	FamilyImunify    Family = "IMUNIFY"
	FamilyKernelCare Family = "KERNELCARE"
)

// Entry describes one license type.
type Entry struct {
	Type        LicenseType
	Name        string
	Family      Family
	CLNTypeCode int
}

// Entries lists every license type in catalogue order.
var Entries = []Entry{
	{CloudLinuxOS, "CloudLinux OS", FamilyCloudLinux, 1},
	{CloudLinuxSolo, "CloudLinux OS Solo", FamilyCloudLinux, 4},
	{KernelCare, "KernelCare", FamilyKernelCare, 16},
	{KernelCarePlus, "KernelCare+", FamilyKernelCare, 17},
	{ImunifyAVPlus, "ImunifyAV+", FamilyImunify, 40},
	{Imunify360SingleUser, "Imunify360 Single User", FamilyImunify, 41},
	{Imunify360UpTo30Users, "Imunify360 up to 30 users", FamilyImunify, 42},
	{Imunify360UpTo250Users, "Imunify360 up to 250 users", FamilyImunify, 43},
	{Imunify360UnlimitedUser, "Imunify360 Unlimited", FamilyImunify, 49},
}

var byType = func() map[LicenseType]Entry {
	m := make(map[LicenseType]Entry, len(Entries))
	for _, e := range Entries {
		m[e.Type] = e
	}
	return m
}()

// Lookup finds the catalogue entry of a type.
func Lookup(t LicenseType) (Entry, bool) {
	e, ok := byType[t]
	return e, ok
}

var byCLNCode = func() map[int]Entry {
	m := make(map[int]Entry, len(Entries))
	for _, e := range Entries {
		m[e.CLNTypeCode] = e
	}
	return m
}()

// ByCLNCode finds the catalogue entry of a CLN license type code (the CLN
// API's and clnd import cln's "type").
func ByCLNCode(code int) (Entry, bool) {
	e, ok := byCLNCode[code]
	return e, ok
}

// Family returns the product family of a license type.
func (t LicenseType) Family() Family { return byType[t].Family }

// Values lists the valid values; ent uses it for the enum column.
func (LicenseType) Values() []string {
	out := make([]string, len(Entries))
	for i, e := range Entries {
		out[i] = string(e.Type)
	}
	return out
}

// MarshalGQL writes the enum value.
func (t LicenseType) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(t))) }

// UnmarshalGQL reads the enum value.
func (t *LicenseType) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("LicenseType must be a string")
	}
	if _, known := byType[LicenseType(s)]; !known {
		return fmt.Errorf("%q is not a valid LicenseType", s)
	}
	*t = LicenseType(s)
	return nil
}

// Values lists the valid families; ent uses it for the enum column.
func (Family) Values() []string {
	return []string{string(FamilyCloudLinux), string(FamilyImunify), string(FamilyKernelCare)}
}

// MarshalGQL writes the enum value.
func (f Family) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(f))) }

// UnmarshalGQL reads the enum value.
func (f *Family) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("ProductFamily must be a string")
	}
	for _, known := range f.Values() {
		if s == known {
			*f = Family(s)
			return nil
		}
	}
	return fmt.Errorf("%q is not a valid ProductFamily", s)
}
