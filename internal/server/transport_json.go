package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
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
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && r.Method == http.MethodPost && mediaType == "application/json"
}

func (jsonPOST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)
	start := graphql.Now()

	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
		return
	}
	params := &graphql.RawParams{}
	if err := decodeJSON(bytes.NewReader(body), params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		gqlErr := gqlerror.Errorf("json request body could not be decoded: %+v body:%s", err, body)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlErr}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	opCtx, opErr := exec.CreateOperationContext(ctx, params)
	if opErr != nil {
		w.WriteHeader(operationErrorStatus(contentType, opErr))
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), opErr))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	writeResponse(w, responses(ctx))
}

func (jsonGET) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && r.Method == http.MethodGet
}

func (jsonGET) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeTransportError(w, err.Error())
		return
	}
	contentType := responseContentType(r)
	w.Header().Set("Content-Type", contentType)

	raw := &graphql.RawParams{
		Query:         query.Get("query"),
		OperationName: query.Get("operationName"),
		Headers:       r.Header,
	}
	raw.ReadTime.Start = graphql.Now()
	if variables := query.Get("variables"); variables != "" {
		if err := decodeJSON(strings.NewReader(variables), &raw.Variables); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			writeTransportError(w, "variables could not be decoded")
			return
		}
	}
	if extensions := query.Get("extensions"); extensions != "" {
		if err := decodeJSON(strings.NewReader(extensions), &raw.Extensions); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			writeTransportError(w, "extensions could not be decoded")
			return
		}
	}
	raw.ReadTime.End = graphql.Now()

	opCtx, opErr := exec.CreateOperationContext(r.Context(), raw)
	if opErr != nil {
		w.WriteHeader(operationErrorStatus(contentType, opErr))
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(r.Context(), opCtx), opErr))
		return
	}
	if op := opCtx.Doc.Operations.ForName(opCtx.OperationName); op.Operation != ast.Query {
		w.WriteHeader(http.StatusNotAcceptable)
		writeTransportError(w, "GET requests only allow query operations")
		return
	}
	responses, ctx := exec.DispatchOperation(r.Context(), opCtx)
	writeResponse(w, responses(ctx))
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

// writeTransportError answers a request refused before GraphQL could parse
// it; like every refusal it carries a code.
func writeTransportError(w io.Writer, msg string) {
	writeResponse(w, &graphql.Response{Errors: gqlerror.List{{
		Message:    msg,
		Extensions: map[string]any{"code": string(apperr.BadUserInput)},
	}}})
}

func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec.Decode(v)
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

// operationErrorStatus is gqlgen's status for a request that failed to parse
// or validate: 422 (application/json) or 400 (graphql-response+json) for
// protocol errors, 200 otherwise.
func operationErrorStatus(contentType string, errs gqlerror.List) int {
	if errcode.GetErrorKind(errs) != errcode.KindProtocol {
		return http.StatusOK
	}
	if contentType == mediaGraphQLResponse {
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}
