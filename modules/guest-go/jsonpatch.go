package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Operation is one RFC 6902 operation of the patches JSONPatch makes (only add, remove and
// replace).
type Operation struct {
	// Op is "add", "remove" or "replace".
	Op string `json:"op"`
	// Path is the RFC 6901 JSON pointer of the location.
	Path string `json:"path"`
	// Value is the new value ("add", "replace"; absent for "remove").
	Value any `json:"value,omitempty"`
}

// JSONPatch returns the RFC 6902 patch (a JSON array) that turns the JSON document original into
// modified: objects are compared member by member, arrays element by element (elements added at
// the end are added, elements past the new end removed, last first), and anything else that
// differs is replaced. Numbers are compared as written, so 1 and 1.0 are a replace (a harmless
// one). Equal documents give "[]".
func JSONPatch(original, modified []byte) ([]byte, error) {
	a, err := decodeJSON(original)
	if err != nil {
		return nil, fmt.Errorf("original object: %w", err)
	}
	b, err := decodeJSON(modified)
	if err != nil {
		return nil, fmt.Errorf("modified object: %w", err)
	}
	ops := diff(nil, "", a, b)
	if ops == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(ops)
}

// decodeJSON decodes one JSON value, keeping numbers as written.
func decodeJSON(doc []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// pointerToken escapes one JSON pointer reference token (RFC 6901: "~" → "~0", "/" → "~1").
func pointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// diff appends to ops the operations that turn a (at path) into b.
func diff(ops []Operation, path string, a, b any) []Operation {
	switch a := a.(type) {
	case map[string]any:
		if b, ok := b.(map[string]any); ok {
			return diffObjects(ops, path, a, b)
		}
	case []any:
		if b, ok := b.([]any); ok {
			return diffArrays(ops, path, a, b)
		}
	}
	if equal(a, b) {
		return ops
	}
	return append(ops, Operation{Op: "replace", Path: path, Value: nullable(b)})
}

// diffObjects removes members b lacks, compares common ones, adds new ones; in key order.
func diffObjects(ops []Operation, path string, a, b map[string]any) []Operation {
	for _, k := range sortedKeys(a) {
		at := path + "/" + pointerToken(k)
		if bv, ok := b[k]; ok {
			ops = diff(ops, at, a[k], bv)
		} else {
			ops = append(ops, Operation{Op: "remove", Path: at})
		}
	}
	for _, k := range sortedKeys(b) {
		if _, ok := a[k]; !ok {
			ops = append(ops, Operation{Op: "add", Path: path + "/" + pointerToken(k), Value: nullable(b[k])})
		}
	}
	return ops
}

// diffArrays compares common indexes, then adds b's extra elements in order or removes a's
// extra ones from the end; when that takes more operations than b has elements, the whole
// array is replaced instead.
func diffArrays(ops []Operation, path string, a, b []any) []Operation {
	var own []Operation
	common := min(len(a), len(b))
	for i := range common {
		own = diff(own, path+"/"+strconv.Itoa(i), a[i], b[i])
	}
	for i := common; i < len(b); i++ {
		own = append(own, Operation{Op: "add", Path: path + "/" + strconv.Itoa(i), Value: nullable(b[i])})
	}
	for i := len(a) - 1; i >= common; i-- {
		own = append(own, Operation{Op: "remove", Path: path + "/" + strconv.Itoa(i)})
	}
	if len(own) > 1 && len(own) > len(b) {
		return append(ops, Operation{Op: "replace", Path: path, Value: b})
	}
	return append(ops, own...)
}

// jsonNull stands for a JSON null value in an Operation (whose nil Value means "no value").
type jsonNull struct{}

// MarshalJSON encodes null.
func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// nullable keeps a null value from being dropped by Operation's omitempty.
func nullable(v any) any {
	if v == nil {
		return jsonNull{}
	}
	return v
}

// equal compares two decoded JSON values.
func equal(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && a == bn
	case []any:
		bs, ok := b.([]any)
		return ok && slices.EqualFunc(a, bs, equal)
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			w, ok := bm[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

// sortedKeys returns m's keys in order, so patches are the same every time.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
