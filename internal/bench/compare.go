package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// comparison is how two JSON documents compare.
type comparison int

const (
	same      comparison = iota
	reordered            // the same values, but some list's elements in another order
	different
)

// compareJSON compares two JSON documents as values, keeping the order of
// object keys and list elements: {"a":1,"b":2} and {"a" : 1, "b" : 2} are the
// same, {"b":2,"a":1} is not. When they differ it says where first, and
// whether they differ only in the order of some list's elements.
func compareJSON(a, b []byte) (comparison, string, error) {
	va, err := decodeOrdered(a)
	if err != nil {
		return different, "", fmt.Errorf("first document: %w", err)
	}
	vb, err := decodeOrdered(b)
	if err != nil {
		return different, "", fmt.Errorf("second document: %w", err)
	}
	where := firstDifference("$", va, vb)
	switch {
	case where == "":
		return same, "", nil
	case unordered(va) == unordered(vb):
		return reordered, where, nil
	}
	return different, where, nil
}

// unordered writes a value with every list's elements sorted, so that two
// values differing only in list order write the same.
func unordered(v any) string {
	switch t := v.(type) {
	case []member:
		var b strings.Builder
		b.WriteByte('{')
		for i, m := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", m.key, unordered(m.value))
		}
		b.WriteByte('}')
		return b.String()
	case []any:
		elems := make([]string, len(t))
		for i, e := range t {
			elems[i] = unordered(e)
		}
		sort.Strings(elems)
		return "[" + strings.Join(elems, ",") + "]"
	case string:
		return strconv.Quote(t)
	case nil:
		return "null"
	default:
		return fmt.Sprint(t)
	}
}

// member is one key of an object, in document order.
type member struct {
	key   string
	value any
}

// decodeOrdered decodes JSON into []member for objects, []any for arrays,
// json.Number, string, bool or nil.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("text after the document")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var obj []member
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				obj = append(obj, member{key: k.(string), value: v})
			}
			_, err := dec.Token() // '}'
			if obj == nil {
				obj = []member{}
			}
			return obj, err
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token() // ']'
			return list, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

func firstDifference(path string, a, b any) string {
	switch va := a.(type) {
	case []member:
		vb, ok := b.([]member)
		if !ok {
			return path + ": object vs " + describe(b)
		}
		for i := 0; i < len(va) || i < len(vb); i++ {
			switch {
			case i >= len(va):
				return fmt.Sprintf("%s: key %q only in the second", path, vb[i].key)
			case i >= len(vb):
				return fmt.Sprintf("%s: key %q only in the first", path, va[i].key)
			case va[i].key != vb[i].key:
				return fmt.Sprintf("%s: key %q vs %q at position %d", path, va[i].key, vb[i].key, i)
			}
			if d := firstDifference(path+"."+va[i].key, va[i].value, vb[i].value); d != "" {
				return d
			}
		}
		return ""
	case []any:
		vb, ok := b.([]any)
		if !ok {
			return path + ": list vs " + describe(b)
		}
		if len(va) != len(vb) {
			return fmt.Sprintf("%s: %d elements vs %d", path, len(va), len(vb))
		}
		for i := range va {
			if d := firstDifference(fmt.Sprintf("%s[%d]", path, i), va[i], vb[i]); d != "" {
				return d
			}
		}
		return ""
	default:
		if a != b {
			return fmt.Sprintf("%s: %s vs %s", path, describe(a), describe(b))
		}
		return ""
	}
}

func describe(v any) string {
	switch t := v.(type) {
	case []member:
		return "an object"
	case []any:
		return "a list"
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", t)
	default:
		return fmt.Sprint(t)
	}
}
