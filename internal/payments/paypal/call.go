package paypal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxResponse bounds what is read of any PayPal answer.
const maxResponse = 1 << 20

// apiError is PayPal's error body
// (https://developer.paypal.com/api/rest/responses/#failed-requests) with
// the HTTP status it came with.
type apiError struct {
	Status  int    `json:"-"`
	Name    string `json:"name"`
	Message string `json:"message"`
	DebugID string `json:"debug_id"`
	Details []struct {
		Issue       string `json:"issue"`
		Description string `json:"description"`
	} `json:"details"`
}

// Issue is the fine-grained reason ("ORDER_NOT_APPROVED"), or the error's
// name when PayPal gave no details ("RESOURCE_NOT_FOUND").
func (e *apiError) Issue() string {
	if len(e.Details) > 0 && e.Details[0].Issue != "" {
		return e.Details[0].Issue
	}
	return e.Name
}

func (e *apiError) Error() string {
	msg := e.Message
	if len(e.Details) > 0 && e.Details[0].Description != "" {
		msg = e.Details[0].Description
	}
	return fmt.Sprintf("paypal: HTTP %d %s: %s (debug_id %s)", e.Status, e.Issue(), msg, e.DebugID)
}

// call sends one JSON request and decodes a 2xx answer into out. in is
// marshalled unless it is already raw JSON ([]byte). requestID, when set,
// is the PayPal-Request-Id that makes a retry answer the first outcome.
// A non-2xx answer is an *apiError; anything else that fails is a
// transport error, whose outcome is unknown.
func (p *Provider) call(ctx context.Context, method, path, requestID string, in, out any) error {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("paypal: encoding %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		return fmt.Errorf("paypal: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if requestID != "" {
		req.Header.Set("PayPal-Request-Id", requestID)
	}
	// The full object, so a capture answer carries its captures.
	req.Header.Set("Prefer", "return=representation")

	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("paypal: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("paypal: reading %s %s: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// The token was refused; the caller's retry will fetch a new one.
		p.tokens.drop()
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{Status: resp.StatusCode}
		_ = json.Unmarshal(raw, e) // a body that is not PayPal's shape still has its status
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		// PayPal answered 2xx, so it did act: the outcome is unknown, not failed.
		return fmt.Errorf("paypal: decoding %s %s: %w", method, path, err)
	}
	return nil
}
