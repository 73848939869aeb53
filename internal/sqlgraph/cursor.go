package sqlgraph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"clnd/ent"
	"clnd/internal/money"
)

// Cursors are entgql's: base64 of a msgpack map {i: id, v: order value}.
// PostgreSQL has no msgpack, so the statement writes a placeholder array
// ["\u0001<kind>", id, value] and Finish replaces it with the cursor that
// entgql's own encoder makes from the same id and a value of the Go type ent
// would hold. A client's text can never forge a placeholder: strings in the
// JSON are quoted, and `["` followed by `\u0001` only occurs where the
// statement wrote an array.
var placeholder = []byte(`["\u0001`)

// Value kinds of a placeholder, as the Go type ent puts in the cursor.
const (
	cursorIDOnly = "i"
	cursorTime   = "t" // time.Time, from microseconds since the epoch
	cursorString = "s"
	cursorInt    = "n" // int
	cursorMoney  = "m" // money.Cents
	// backupLink is Backup.managementURL: [tag, backup id], signed in Go.
	backupLink = "b"
	// invoiceLink is Invoice.downloadURL: [tag, invoice id, origin], signed in Go.
	invoiceLink = "d"
)

func (k *compilation) cursorExpr(alias string, pg page) string {
	k.placeholder = true
	id := col(alias, "id")
	if pg.column.Name == "" || pg.column.Name == "id" {
		return "json_build_array(chr(1) || '" + cursorIDOnly + "', " + id + ")"
	}
	v := col(alias, pg.column.Name)
	kind := cursorString
	switch pg.column.Kind {
	case KindTime:
		kind = cursorTime
		v = "(extract(epoch FROM " + v + ") * 1000000)::bigint"
	case KindInt:
		kind = cursorInt
	case KindMoney:
		kind = cursorMoney
	}
	expr := "json_build_array(chr(1) || '" + kind + "', " + id + ", " + v + ")"
	if pg.column.Nullable {
		// A NULL's cursor has no value (licensing.checkInCursor).
		return "(CASE WHEN " + col(alias, pg.column.Name) + " IS NULL THEN json_build_array(chr(1) || '" + cursorIDOnly + "', " + id + ") ELSE " + expr + " END)"
	}
	return expr
}

// Finish turns a column of the statement's JSON into the field's answer:
// it fills in the placeholders (cursors, signed links), reading each with a
// small scanner rather than a JSON decoder, since a page has one per edge.
func (s *Statement) Finish(out []byte, now time.Time) ([]byte, error) {
	if !s.placeholders || !bytes.Contains(out, placeholder) {
		return out, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(out) + len(out)/4)
	rest := out
	for {
		i := bytes.Index(rest, placeholder)
		if i < 0 {
			buf.Write(rest)
			return buf.Bytes(), nil
		}
		buf.Write(rest[:i])
		parts, n, err := scanPlaceholder(rest[i:])
		if err != nil {
			return nil, err
		}
		if parts[0] == "\x01"+backupLink && len(parts) == 2 {
			id, _ := parts[1].(string)
			graphql.MarshalString(s.links.ManagementURL(id, now)).MarshalGQL(&buf)
		} else if parts[0] == "\x01"+invoiceLink && len(parts) == 3 {
			id, _ := parts[1].(string)
			origin, _ := parts[2].(string)
			graphql.MarshalString(s.invoiceLinks.URL(origin, id, now)).MarshalGQL(&buf)
		} else {
			c, err := cursorOf(parts)
			if err != nil {
				return nil, err
			}
			c.MarshalGQL(&buf)
		}
		rest = rest[i+n:]
	}
}

// scanPlaceholder reads ["\u0001<kind>", "id"(, value)] at the start of b:
// strings and numbers only, as the statement writes them. It returns the
// parts (strings, or json.Number) and the bytes read.
func scanPlaceholder(b []byte) ([]any, int, error) {
	bad := func() ([]any, int, error) {
		return nil, 0, fmt.Errorf("sqlgraph: malformed placeholder %.60q", b)
	}
	// The tag is always `["\u0001<kind>"`: read it without unescaping.
	if len(b) < 10 || b[9] != '"' {
		return bad()
	}
	parts := make([]any, 1, 3)
	parts[0] = "\x01" + string(b[8])
	pos := 10
	for {
		for pos < len(b) && (b[pos] == ' ' || b[pos] == '\n' || b[pos] == '\t' || b[pos] == '\r') {
			pos++
		}
		if pos >= len(b) {
			return bad()
		}
		switch b[pos] {
		case ',':
			pos++
		case ']':
			if len(parts) < 2 {
				return bad()
			}
			return parts, pos + 1, nil
		default:
			return bad()
		}
		for pos < len(b) && (b[pos] == ' ' || b[pos] == '\n' || b[pos] == '\t' || b[pos] == '\r') {
			pos++
		}
		if pos >= len(b) {
			return bad()
		}
		switch c := b[pos]; {
		case c == '"':
			end := pos + 1
			escaped := false
			for ; end < len(b); end++ {
				if b[end] == '\\' {
					escaped = true
					end++
					continue
				}
				if b[end] == '"' {
					break
				}
			}
			if end >= len(b) {
				return bad()
			}
			if escaped {
				var str string
				if err := json.Unmarshal(b[pos:end+1], &str); err != nil {
					return bad()
				}
				parts = append(parts, str)
			} else {
				parts = append(parts, string(b[pos+1:end]))
			}
			pos = end + 1
		case c == '-' || (c >= '0' && c <= '9'):
			end := pos + 1
			for end < len(b) && (b[end] == '-' || b[end] == '.' || b[end] == '+' || b[end] == 'e' || b[end] == 'E' || (b[end] >= '0' && b[end] <= '9')) {
				end++
			}
			parts = append(parts, json.Number(b[pos:end]))
			pos = end
		default:
			return bad()
		}
	}
}

func cursorOf(parts []any) (ent.Cursor, error) {
	bad := fmt.Errorf("sqlgraph: malformed cursor placeholder %v", parts)
	if len(parts) < 2 {
		return ent.Cursor{}, bad
	}
	tag, _ := parts[0].(string)
	id, ok := parts[1].(string)
	if len(tag) != 2 || !ok {
		return ent.Cursor{}, bad
	}
	c := ent.Cursor{ID: id}
	if tag[1:] == cursorIDOnly {
		return c, nil
	}
	if len(parts) != 3 {
		return ent.Cursor{}, bad
	}
	switch tag[1:] {
	case cursorString:
		s, ok := parts[2].(string)
		if !ok {
			return ent.Cursor{}, bad
		}
		c.Value = s
		return c, nil
	}
	n, ok := parts[2].(json.Number)
	if !ok {
		return ent.Cursor{}, bad
	}
	v, err := n.Int64()
	if err != nil {
		return ent.Cursor{}, bad
	}
	switch tag[1:] {
	case cursorTime:
		c.Value = time.UnixMicro(v)
	case cursorInt:
		c.Value = int(v)
	case cursorMoney:
		c.Value = money.Cents(v)
	default:
		return ent.Cursor{}, bad
	}
	return c, nil
}
