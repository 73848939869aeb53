package stripefake

import (
	"net/http"
)

// savedResponse is the first answer to an Idempotency-Key, replayed to
// every later request with the same key and parameters.
type savedResponse struct {
	request string // method, path and the sorted form parameters
	res     response
}

// handleIdempotent answers r as Stripe does with keys
// (https://docs.stripe.com/api/idempotent_requests): a POST with a key seen
// before gets the first answer again, flagged Idempotent-Replayed, and
// moves no money; the same key with other parameters is an
// idempotency_error. Only answers of an endpoint that ran are saved:
// validation errors (400, 404) are not, so a corrected retry may reuse the
// key. f.mu is held.
func (f *Fake) handleIdempotent(r *http.Request) (res response, replayed bool) {
	key := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost || key == "" {
		return f.route(r, ""), false
	}
	request := r.Method + " " + r.URL.Path + "?" + r.PostForm.Encode()
	if saved, ok := f.idempotent[key]; ok {
		if saved.request != request {
			return stripeError(http.StatusBadRequest, "idempotency_error", "",
				"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '"+key+"' if you meant to execute a different request.", nil), false
		}
		return saved.res, true
	}
	res = f.route(r, key)
	if res.status == http.StatusOK || res.status == http.StatusPaymentRequired {
		f.idempotent[key] = &savedResponse{request: request, res: res}
	}
	return res, false
}
