package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"clnd/internal/apperr"
	"clnd/internal/checkin"
	"clnd/internal/clock"
	"clnd/internal/reqinfo"
)

// CheckInPath is the lean check-in endpoint for agents (docs/checkins.md):
// the checkIn mutation's input and answer without GraphQL around them.
const CheckInPath = "/v1/checkin"

// checkInInput is the endpoint's body, JSON or a form.
type checkInInput struct {
	Hostname   *string `json:"hostname"`
	Credential *string `json:"credential"`
}

// leanCheckIn answers POST /v1/checkin. The host is identified exactly as
// the checkIn mutation identifies it: by the request's client address
// (withRequest's clientAddr, X-Forwarded-For only from trusted proxies) or
// by its credential, in checkin.Service.CheckIn, whose batches both paths
// join. Nothing here parses GraphQL; the answer is written by hand, once.
func (s *Server) leanCheckIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeCheckInError(r.Context(), w, http.StatusMethodNotAllowed,
			apperr.New(apperr.BadUserInput, "method %s is not allowed: send POST", r.Method))
		return
	}
	in, status, err := readCheckIn(r)
	if err != nil {
		s.writeCheckInError(r.Context(), w, status, err)
		return
	}
	answer, err := s.checkIn(r.Context(), in)
	if err != nil {
		s.writeCheckInError(r.Context(), w, 0, err)
		return
	}
	// net/http sets Content-Length itself for an answer this small.
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(answer)
}

// checkIn records one check-in of the host ctx's request comes from (or
// in's credential names) and returns the answer's body: the mutation's
// answer, field for field. Time is RFC 3339 (with fractional seconds when
// there are any) in UTC, as graph/scalar writes it. Both ways of serving the
// endpoint, net/http's and lean connections' (leanconn.go), answer through it.
func (s *Server) checkIn(ctx context.Context, in checkInInput) ([]byte, error) {
	now := clock.Now(ctx)
	res, err := s.checkIns.CheckIn(ctx, checkin.Request{
		Addr:       reqinfo.FromContext(ctx).ClientAddr,
		Credential: deref(in.Credential),
		Hostname:   deref(in.Hostname),
		At:         now,
	})
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 128)
	buf = append(buf, `{"at":"`...)
	buf = res.At.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","licensed":[`...)
	for i, t := range res.Licensed {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, t...) // enum names: A-Z, 0-9 and _
		buf = append(buf, '"')
	}
	buf = append(buf, `],"nextCheckInAfter":"`...)
	buf = now.Add(s.cfg.CheckInInterval).UTC().AppendFormat(buf, time.RFC3339Nano)
	return append(buf, "\"}\n"...), nil
}

// jsonContentType is shared by every answer; nothing modifies it.
var jsonContentType = []string{"application/json"}

// readCheckIn reads the body (already held in memory and checked for
// escaped NULs by limitBody): JSON, a form, or nothing at all.
func readCheckIn(r *http.Request) (checkInInput, int, error) {
	body, err := bodyBytes(r)
	if err != nil {
		return checkInInput{}, http.StatusBadRequest, apperr.New(apperr.BadUserInput, "the request body could not be read")
	}
	return parseCheckIn(r.URL.RawQuery, r.Header.Get("Content-Type"), body)
}

// parseCheckIn is readCheckIn on the request's parts; on an error, it
// returns the answer's status too.
func parseCheckIn(rawQuery, contentType string, body []byte) (checkInInput, int, error) {
	var in checkInInput
	if rawQuery != "" {
		// A credential in a URL ends up in access logs.
		return in, http.StatusBadRequest, apperr.New(apperr.BadUserInput, "send hostname and credential in the request body, not the URL")
	}
	if contentType == "" && len(body) == 0 {
		return in, 0, nil // a check-in without a hostname
	}
	mediaType := contentType // what agents send; ParseMediaType allocates
	if contentType != "application/json" && contentType != "application/x-www-form-urlencoded" {
		var err error
		if mediaType, _, err = mime.ParseMediaType(contentType); err != nil {
			mediaType = ""
		}
	}
	switch mediaType {
	case "application/json":
		if err := decodeCheckInJSON(body, &in); err != nil {
			return in, http.StatusBadRequest, err
		}
		return in, 0, nil
	case "application/x-www-form-urlencoded":
		if err := decodeCheckInForm(body, &in); err != nil {
			return in, http.StatusBadRequest, err
		}
		return in, 0, nil
	}
	return in, http.StatusUnsupportedMediaType, apperr.New(apperr.BadUserInput,
		"the body must be JSON (Content-Type: application/json) or a form (application/x-www-form-urlencoded)")
}

// decodeCheckInJSON reads {"hostname": ..., "credential": ...}. Keys are
// matched exactly (encoding/json's struct decoding would take "hostName" for
// hostname), and an unknown one is refused rather than ignored, so a typo
// does not check in without what was meant.
func decodeCheckInJSON(body []byte, in *checkInInput) error {
	if decodeCheckInPlain(body, in) {
		return nil
	}
	*in = checkInInput{}
	return decodeCheckInJSONStrict(body, in)
}

// decodeCheckInJSONStrict is decodeCheckInJSON through encoding/json.
func decodeCheckInJSONStrict(body []byte, in *checkInInput) error {
	notObject := apperr.New(apperr.BadUserInput, "the request body must be a JSON object")
	notJSON := apperr.New(apperr.BadUserInput, "the request body is not valid JSON")
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil {
		return notJSON
	} else if tok != json.Delim('{') {
		return notObject
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notJSON
		}
		key, _ := tok.(string)
		var dst **string
		switch key {
		case "hostname":
			dst = &in.Hostname
		case "credential":
			dst = &in.Credential
		default:
			return apperr.Input(key, "unknown field %q: send hostname and, for a registered server, credential", key)
		}
		if *dst != nil {
			return apperr.Input(key, "%s was sent more than once", key)
		}
		var v *string
		if err := dec.Decode(&v); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return apperr.Input(key, "%s must be a string", key)
			}
			return notJSON
		}
		if v != nil {
			*dst = v
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return notJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return notJSON
	}
	return nil
}

// decodeCheckInPlain reads the body agents send, an object of plain
// strings ({"hostname":"web1.example.com"}), without encoding/json's
// decoder, and reports whether it could. Anything else — an escape, a
// non-ASCII byte, null, an unknown or repeated key, malformed JSON — is left
// to the strict decoder, which reads it or refuses it; where this reads a
// body, both read the same (FuzzCheckInPlainJSON).
func decodeCheckInPlain(body []byte, in *checkInInput) bool {
	i := skipJSONSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return false
	}
	i = skipJSONSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return skipJSONSpace(body, i+1) == len(body)
	}
	for {
		key, next, ok := scanPlainJSONString(body, i)
		if !ok {
			return false
		}
		i = skipJSONSpace(body, next)
		if i == len(body) || body[i] != ':' {
			return false
		}
		value, next, ok := scanPlainJSONString(body, skipJSONSpace(body, i+1))
		if !ok {
			return false
		}
		var dst **string
		switch string(key) {
		case "hostname":
			dst = &in.Hostname
		case "credential":
			dst = &in.Credential
		default:
			return false
		}
		if *dst != nil {
			return false
		}
		v := string(value)
		*dst = &v
		i = skipJSONSpace(body, next)
		if i == len(body) {
			return false
		}
		switch body[i] {
		case ',':
			i = skipJSONSpace(body, i+1)
		case '}':
			return skipJSONSpace(body, i+1) == len(body)
		default:
			return false
		}
	}
}

// scanPlainJSONString reads a JSON string at body[i] made only of printable
// ASCII without escapes, and returns its contents and the index after it.
func scanPlainJSONString(body []byte, i int) ([]byte, int, bool) {
	if i >= len(body) || body[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(body); j++ {
		switch c := body[j]; {
		case c == '"':
			return body[i+1 : j], j + 1, true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func skipJSONSpace(body []byte, i int) int {
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	return i
}

func decodeCheckInForm(body []byte, in *checkInInput) error {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return apperr.New(apperr.BadUserInput, "the form body could not be decoded")
	}
	for key, vs := range values {
		var dst **string
		switch key {
		case "hostname":
			dst = &in.Hostname
		case "credential":
			dst = &in.Credential
		default:
			return apperr.Input(key, "unknown field %q: send hostname and, for a registered server, credential", key)
		}
		if len(vs) != 1 {
			return apperr.Input(key, "%s was sent more than once", key)
		}
		*dst = &vs[0]
	}
	return nil
}

// writeCheckInError answers in GraphQL's error shape with a code from
// API.md's set, through the same presenter as /graphql (so an unknown error
// is logged and shown as INTERNAL). status 0 derives the status from the code.
func (s *Server) writeCheckInError(ctx context.Context, w http.ResponseWriter, status int, err error) {
	gqlErr := s.presentError(ctx, err)
	code, _ := gqlErr.Extensions["code"].(string)
	if status == 0 {
		status = statusOf(apperr.Code(code))
	}
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	case http.StatusUnauthorized:
		// RFC 9110 asks a 401 to name how to authenticate: here the
		// credential from registerServer, in the body (docs/checkins.md).
		w.Header().Set("WWW-Authenticate", `Credential realm="clnd-checkin"`)
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(errorsJSON(gqlErr))
}

// statusOf is the HTTP status of an error code on a path that is not GraphQL.
func statusOf(code apperr.Code) int {
	switch code {
	case apperr.BadUserInput:
		return http.StatusBadRequest
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
