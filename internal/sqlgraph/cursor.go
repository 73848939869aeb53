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

// Finish turns the statement's JSON into the field's answer.
func (s *Statement) Finish(out []byte) ([]byte, error) {
	if !s.placeholders || !bytes.Contains(out, placeholder) {
		return out, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(out))
	rest := out
	for {
		i := bytes.Index(rest, placeholder)
		if i < 0 {
			buf.Write(rest)
			return buf.Bytes(), nil
		}
		buf.Write(rest[:i])
		dec := json.NewDecoder(bytes.NewReader(rest[i:]))
		dec.UseNumber()
		var parts []any
		if err := dec.Decode(&parts); err != nil {
			return nil, fmt.Errorf("sqlgraph: placeholder: %w", err)
		}
		if tag, _ := parts[0].(string); tag == "\x01"+backupLink && len(parts) == 2 {
			id, _ := parts[1].(string)
			graphql.MarshalString(s.links.ManagementURL(id, s.now)).MarshalGQL(&buf)
		} else {
			c, err := cursorOf(parts)
			if err != nil {
				return nil, err
			}
			c.MarshalGQL(&buf)
		}
		rest = rest[i+int(dec.InputOffset()):]
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
