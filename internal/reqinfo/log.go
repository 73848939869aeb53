package reqinfo

import (
	"context"
	"log/slog"
)

// LogKey is the attribute that names the request a log line was written for.
const LogKey = "request_id"

// LogHandler adds request_id to every record logged with a context that
// carries a request (the *Context methods of slog.Logger), so that a line
// written anywhere below the transport can be traced to its request. A
// record that names its request already keeps its own.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := FromContext(ctx).ID; id != "" && !hasRequestID(r) {
		r = r.Clone() // the caller's record may be handled by others too
		r.AddAttrs(slog.String(LogKey, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}

func hasRequestID(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == LogKey
		return !found
	})
	return found
}
