package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"clnd/internal/apperr"
)

// jsonPOST and jsonGET are gqlgen's POST and GET transports (same content
// negotiation, same status codes, same body shape) except for how the answer
// is written. gqlgen's json.Marshal of the response re-compacts and
// re-validates the already-encoded data (a second pass over a megabyte for a
// large list) and escapes <, > and & once more; these write data's bytes as
// they are. Data is valid JSON, whoever produced it (gqlgen's marshalers, or
// PostgreSQL for a compiled root field, whitespace included), so copying it
// is enough.
type jsonPOST struct{}

type jsonGET struct{}

var (
	_ graphql.Transport = jsonPOST{}
	_ graphql.Transport = jsonGET{}
)

func (jsonPOST) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	if r.Method != http.MethodPost {
		return false
	}
	contentType := r.Header.Get("Content-Type")
	if contentType == "application/json" {
		return true // what clients send; ParseMediaType allocates
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == "application/json"
}

func (jsonPOST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)
	start := graphql.Now()

	body, err := bodyBytes(r)
	if err != nil {
		refuse(w, contentType, http.StatusBadRequest, "", "the request body could not be read")
		return
	}
	params := &graphql.RawParams{}
	if err := decodeJSON(bytes.NewReader(body), params); err != nil {
		field, msg := paramsError(err)
		refuse(w, contentType, http.StatusBadRequest, field, msg)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	if params.Query == "" && params.Extensions["persistedQuery"] == nil {
		refuse(w, contentType, http.StatusBadRequest, "query", "the request has no query")
		return
	}

	opCtx, opErr := exec.CreateOperationContext(ctx, params)
	if opErr != nil {
		writeRequestError(w, contentType, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), opErr))
		return
	}
	if opCtx.Operation.Operation == ast.Subscription {
		refuse(w, contentType, http.StatusBadRequest, "", useStream)
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := operationResponse(ctx, exec, responses)
	markUnavailable(w, resp)
	writeResponse(w, resp)
}

// useStream answers a subscription sent where no stream can carry its events.
const useStream = "a subscription needs a stream: open a websocket on /graphql (graphql-transport-ws) or POST with Accept: text/event-stream"

func (jsonGET) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && r.Method == http.MethodGet
}

func (jsonGET) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		refuse(w, contentType, http.StatusBadRequest, "", "the URL's query string could not be decoded")
		return
	}

	raw := &graphql.RawParams{
		Query:         query.Get("query"),
		OperationName: query.Get("operationName"),
		Headers:       r.Header,
	}
	raw.ReadTime.Start = graphql.Now()
	if variables := query.Get("variables"); variables != "" {
		if err := decodeJSON(strings.NewReader(variables), &raw.Variables); err != nil {
			refuse(w, contentType, http.StatusBadRequest, "variables", "variables must be a JSON object")
			return
		}
	}
	if extensions := query.Get("extensions"); extensions != "" {
		if err := decodeJSON(strings.NewReader(extensions), &raw.Extensions); err != nil {
			refuse(w, contentType, http.StatusBadRequest, "extensions", "extensions must be a JSON object")
			return
		}
	}
	if raw.Query == "" && raw.Extensions["persistedQuery"] == nil {
		refuse(w, contentType, http.StatusBadRequest, "query", "the request has no query")
		return
	}
	raw.ReadTime.End = graphql.Now()

	opCtx, opErr := exec.CreateOperationContext(r.Context(), raw)
	if opErr != nil {
		writeRequestError(w, contentType, exec.DispatchError(graphql.WithOperationContext(r.Context(), opCtx), opErr))
		return
	}
	switch opCtx.Operation.Operation {
	case ast.Mutation:
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, contentType, http.StatusMethodNotAllowed, "", "a mutation must be sent with POST")
		return
	case ast.Subscription:
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, contentType, http.StatusMethodNotAllowed, "", useStream)
		return
	}
	responses, ctx := exec.DispatchOperation(r.Context(), opCtx)
	resp := operationResponse(ctx, exec, responses)
	markUnavailable(w, resp)
	writeResponse(w, resp)
}

// refused is the last transport: it takes every request the others did not
// (gqlgen would answer a bare "transport not supported") and answers a coded
// GraphQL error, 415 for a POST body that is not JSON, 405 for other methods.
// options answers OPTIONS as gqlgen's transport.Options does. That one
// also takes HEAD, with a bare 405 and no Allow (which RFC 9110 requires of
// a 405): HEAD is left to refused, as every method /graphql does not take.
type options struct{ transport.Options }

func (options) Supports(r *http.Request) bool { return r.Method == http.MethodOptions }

type refused struct{}

var _ graphql.Transport = refused{}

func (refused) Supports(*http.Request) bool { return true }

func (refused) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)
	switch r.Method {
	case http.MethodPost:
		refuse(w, contentType, http.StatusUnsupportedMediaType, "", "a POST body must be JSON (Content-Type: application/json)")
	case http.MethodGet:
		// Only a GET with an Upgrade header the websocket transport did not take.
		refuse(w, contentType, http.StatusBadRequest, "", "a GET request must not ask for a protocol upgrade other than websocket")
	default:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		refuse(w, contentType, http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s is not allowed: send POST (or GET for queries)", r.Method))
	}
}

// refuse answers a request turned away before GraphQL could run it: the
// status, and a BAD_USER_INPUT error naming the offending parameter if any.
func refuse(w http.ResponseWriter, contentType string, status int, field, msg string) {
	ext := map[string]any{"code": string(apperr.BadUserInput)}
	if field != "" {
		ext["field"] = field
	}
	writeRequestError(w, contentType, &graphql.Response{Errors: gqlerror.List{{Message: msg, Extensions: ext}}}, status)
}

// writeRequestError answers an error raised before execution (bad
// parameters, parse, validation, variable coercion, limits) as GraphQL over
// HTTP recommends: with application/json, 200 for a request the transport
// could read, and the body gqlgen writes; with
// application/graphql-response+json, 400 and no data entry. (A refused
// credential never gets here: authenticate answers 401 first.) status, if
// given, is the status of a request the transport could not read, for both
// media types.
func writeRequestError(w http.ResponseWriter, contentType string, resp *graphql.Response, status ...int) {
	code := http.StatusOK
	if contentType == mediaGraphQLResponse {
		code = http.StatusBadRequest
	}
	if len(status) > 0 {
		code = status[0]
	}
	w.WriteHeader(code)
	if contentType == mediaGraphQLResponse {
		var buf bytes.Buffer
		buf.WriteString(`{"errors":`)
		writeJSONValue(&buf, resp.Errors)
		buf.WriteByte('}')
		_, _ = w.Write(buf.Bytes())
		return
	}
	writeResponse(w, resp)
}

// paramsError says which request parameter of a POST body is malformed.
func paramsError(err error) (field, msg string) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		switch typeErr.Field {
		case "query", "operationName":
			return typeErr.Field, typeErr.Field + " must be a string"
		case "variables", "extensions":
			return typeErr.Field, typeErr.Field + " must be a JSON object"
		case "":
			return "", "the request body must be a JSON object"
		}
	}
	return "", "the request body is not valid JSON"
}

// writeResponse writes r as gqlgen's json.Marshal(r) would, fields in the
// same order (errors, data, label, path, hasNext, extensions), with data
// copied verbatim.
func writeResponse(w io.Writer, r *graphql.Response) {
	var head bytes.Buffer
	head.WriteByte('{')
	if len(r.Errors) > 0 {
		head.WriteString(`"errors":`)
		writeJSONValue(&head, r.Errors)
		head.WriteByte(',')
	}
	head.WriteString(`"data":`)
	var tail bytes.Buffer
	if r.Label != "" {
		tail.WriteString(`,"label":`)
		writeJSONValue(&tail, r.Label)
	}
	if len(r.Path) > 0 {
		tail.WriteString(`,"path":`)
		writeJSONValue(&tail, r.Path)
	}
	if r.HasNext != nil {
		tail.WriteString(`,"hasNext":`)
		writeJSONValue(&tail, *r.HasNext)
	}
	if len(r.Extensions) > 0 {
		tail.WriteString(`,"extensions":`)
		writeJSONValue(&tail, r.Extensions)
	}
	tail.WriteByte('}')

	// Everything is encoded before the first write, so a failure cannot
	// leave half a body behind.
	data := []byte(r.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	_, _ = w.Write(head.Bytes())
	_, _ = w.Write(data)
	_, _ = w.Write(tail.Bytes())
}

// writeJSONValue encodes the small parts of a response (errors, extensions).
// They are built by the server, so failing to encode one is a bug, as it is
// in gqlgen's writer.
func writeJSONValue(buf *bytes.Buffer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Errorf("encoding a GraphQL response: %w", err))
	}
	buf.Write(b)
}

// decodeJSON decodes one JSON value and refuses anything after it.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// responseContentType is gqlgen's negotiation with its defaults:
// application/json unless the client asks only for
// application/graphql-response+json (or something unknown).
func responseContentType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return mediaJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "*/*", "application/*", mediaJSON:
			return mediaJSON
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		}
	}
	return mediaGraphQLResponse
}

// operationResponse is the operation's response or, when its context ended
// before it answered (its request's deadline passed, or its client went
// away), an error saying so, through the error presenter: gqlgen then
// gives no response at all (nil, its end of a stream).
func operationResponse(ctx context.Context, exec graphql.GraphExecutor, responses graphql.ResponseHandler) *graphql.Response {
	if resp := responses(ctx); resp != nil {
		return resp
	}
	err := ctx.Err()
	if err == nil {
		err = errors.New("the operation gave no response")
	}
	return exec.DispatchError(ctx, gqlerror.List{{Message: err.Error(), Err: err}})
}
