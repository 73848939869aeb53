package invoicepdf

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"
)

// Links signs invoice download links, so that a dashboard can show
// downloadURL as a plain link: the signed link needs no Authorization
// header until it expires. The secret is clnd's own (secrets.InvoiceLinks),
// not the one shared with the backup service.
type Links struct {
	Secret []byte
	TTL    time.Duration
}

// DefaultLinkTTL is how long a signed download link works.
const DefaultLinkTTL = 15 * time.Minute

// URL is the invoice's download link on origin, valid from now for TTL:
// <origin>/invoices/<id>.pdf?expires=<unix seconds>&sig=<hex HMAC-SHA256>.
func (l Links) URL(origin, invoiceID string, now time.Time) string {
	expires := strconv.FormatInt(now.Add(l.TTL).Unix(), 10)
	return origin + PathPrefix + invoiceID + ".pdf?expires=" + expires + "&sig=" + l.sign(invoiceID, expires)
}

// valid reports whether q signs invoiceID and has not expired at now. A
// Links without a secret signs nothing that verifies.
func (l Links) valid(invoiceID string, q url.Values, now time.Time) bool {
	expires, sig := q.Get("expires"), q.Get("sig")
	if len(l.Secret) == 0 || expires == "" || !hmac.Equal([]byte(sig), []byte(l.sign(invoiceID, expires))) {
		return false
	}
	unix, err := strconv.ParseInt(expires, 10, 64)
	return err == nil && now.Unix() <= unix
}

func (l Links) sign(invoiceID, expires string) string {
	m := hmac.New(sha256.New, l.Secret)
	m.Write([]byte("invoice\n" + invoiceID + "\n" + expires))
	return hex.EncodeToString(m.Sum(nil))
}
