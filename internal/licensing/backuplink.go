package licensing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"

	"clnd/internal/apperr"
)

// BackupLinks signs the management links of backups: a link names the
// backup and an expiry, and an HMAC over both proves clnd made it, so the
// backup service can trust it without asking clnd.
type BackupLinks struct {
	BaseURL string // where the backup service's management page lives
	Secret  []byte // shared with the backup service
	TTL     time.Duration
}

// DefaultBackupLinkTTL is how long a management link works.
const DefaultBackupLinkTTL = 15 * time.Minute

// ManagementURL is a signed link to manage the backup, valid from now for TTL.
func (l BackupLinks) ManagementURL(backupID string, now time.Time) string {
	expires := strconv.FormatInt(now.Add(l.TTL).Unix(), 10)
	q := url.Values{}
	q.Set("backup", backupID)
	q.Set("expires", expires)
	q.Set("sig", l.sign(backupID, expires))
	return l.BaseURL + "?" + q.Encode()
}

// Verify checks a management link and returns the backup it is for.
func (l BackupLinks) Verify(link string, now time.Time) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", apperr.Input("url", "not a URL")
	}
	q := u.Query()
	id, expires, sig := q.Get("backup"), q.Get("expires"), q.Get("sig")
	if !hmac.Equal([]byte(sig), []byte(l.sign(id, expires))) {
		return "", apperr.New(apperr.Forbidden, "the link's signature is wrong")
	}
	unix, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || now.Unix() > unix {
		return "", apperr.New(apperr.Forbidden, "the link has expired")
	}
	return id, nil
}

func (l BackupLinks) sign(backupID, expires string) string {
	m := hmac.New(sha256.New, l.Secret)
	m.Write([]byte(backupID + "\n" + expires))
	return hex.EncodeToString(m.Sum(nil))
}
