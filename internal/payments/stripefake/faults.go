package stripefake

// FailNext answers the next n requests with status (500, 503, 429, ...)
// without doing anything, as an outage in front of the API would.
func (f *Fake) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext, f.failStatus = n, status
}

// LoseResponses processes the next n requests and never answers them:
// the money moved, and the client waits until it times out.
func (f *Fake) LoseResponses(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseNext = n
}

// DropConnections processes the next n requests and then closes the
// connection without answering. Note that Go's http.Transport itself
// resends a POST that carries an Idempotency-Key when a reused connection
// closes like this, so the client may never see the failure.
func (f *Fake) DropConnections(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropNext = n
}
