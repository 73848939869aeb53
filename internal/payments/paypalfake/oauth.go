package paypalfake

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// token is POST /v1/oauth2/token: client credentials in basic auth,
// grant_type=client_credentials in the form.
func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != f.ClientID || secret != f.ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client Authentication failed")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Grant Type is NULL or not supported")
		return
	}
	token := "A21AA" + randomID(40)
	f.mu.Lock()
	lifetime := f.tokenLifetime
	f.tokens[token] = time.Now().Add(lifetime)
	f.tokenRequests++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"scope":        "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund",
		"access_token": token,
		"token_type":   "Bearer",
		"app_id":       "APP-80W284485P519543T",
		"expires_in":   int(lifetime.Seconds()),
		"nonce":        randomHex(32),
	})
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// SetTokenLifetime sets the lifetime of the access tokens handed out from
// now on (PayPal's is 9 hours); an expired token is refused with 401.
func (f *Fake) SetTokenLifetime(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenLifetime = d
}

// RevokeTokens invalidates every access token handed out so far, as
// PayPal does when the app's credentials are rotated.
func (f *Fake) RevokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

// authorized checks the bearer token of an API call.
func (f *Fake) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	expiry, known := f.tokens[token]
	return ok && known && time.Now().Before(expiry)
}
