// Package resultjson decodes the library's JSON results (docs/abi.md) without
// reflection.
//
// encoding/json takes 5–8 µs on the control-plane machines we measure to
// decode a result of 200 bytes, as long as a small module's whole call
// (docs/performance.md). The results have fixed shapes, so each package
// writes a small decoder for its own result type with a [Reader], and
// [Decode] runs it. Whenever the document is outside what the decoder handles
// (a null where it expects a value, an escaped key, a number that is not a
// plain integer, a key that only matches a field case-insensitively, a key the
// decoder does not know but the Go type has, malformed JSON...), Decode
// throws the partial value away and decodes the whole document again with
// encoding/json. The result is therefore always what encoding/json gives,
// errors included; the fast path only has to be right about the documents it
// accepts, which the differential tests check.
package resultjson

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting the fast path skips over; deeper documents go
// to encoding/json.
const maxDepth = 32

// Reader reads one JSON document from a byte slice. Its methods report false
// when the document is outside what the fast path handles; a decoder then
// returns false at once.
type Reader struct {
	b []byte
	i int
}

// Decode decodes data into a new T with fast, or with encoding/json when fast
// returns false or leaves anything but whitespace after the document.
func Decode[T any](data []byte, fast func(*Reader, *T) bool) (T, error) {
	var v T
	if Run(data, fast, &v) {
		return v, nil
	}
	var slow T
	err := json.Unmarshal(data, &slow)
	return slow, err
}

// Run runs the fast decoder alone on data, into v; it reports whether the
// decoder took the whole document (v is then what encoding/json would give).
func Run[T any](data []byte, fast func(*Reader, *T) bool, v *T) bool {
	r := Reader{b: data}
	return fast(&r, v) && r.end()
}

func (r *Reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (r *Reader) end() bool {
	r.ws()
	return r.i == len(r.b)
}

// peek returns the next non-whitespace byte, or 0 at the end.
func (r *Reader) peek() byte {
	r.ws()
	if r.i == len(r.b) {
		return 0
	}
	return r.b[r.i]
}

// literal consumes lit (after whitespace) if it comes next.
func (r *Reader) literal(lit string) bool {
	r.ws()
	if len(r.b)-r.i < len(lit) || string(r.b[r.i:r.i+len(lit)]) != lit {
		return false
	}
	r.i += len(lit)
	return true
}

// Null consumes a null if one comes next. encoding/json leaves a bool, number
// or string field unchanged on null, and sets a slice or map to nil.
func (r *Reader) Null() bool {
	return r.literal("null")
}

// Object reads an object, calling field for each key with the reader on the
// value, which field must consume. Keys with escapes are not handled.
func (r *Reader) Object(field func(key string) bool) bool {
	return r.literal("{") && r.list('}', func() bool {
		key, ok := r.rawString()
		return ok && r.literal(":") && field(key)
	})
}

// list reads the members of an object or array whose opening bracket was
// just read, up to and including close: elem reads one member.
func (r *Reader) list(close byte, elem func() bool) bool {
	if r.peek() == close {
		r.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch r.peek() {
		case ',':
			r.i++
		case close:
			r.i++
			return true
		default:
			return false
		}
	}
}

// Unknown handles a key the decoder does not read: it fails when the key
// names one of goFields (the JSON names of the Go type's fields) up to case,
// since encoding/json would decode it, and otherwise skips the value, as
// encoding/json does.
func (r *Reader) Unknown(key string, goFields ...string) bool {
	for _, f := range goFields {
		if strings.EqualFold(key, f) {
			return false
		}
	}
	return r.skip(0)
}

// Array reads an array, calling elem once per element with the reader on it.
func (r *Reader) Array(elem func() bool) bool {
	return r.literal("[") && r.list(']', elem)
}

// Slice reads an array into *v with elem reading each element, as
// encoding/json does: length reset first, an empty array gives an empty
// non-nil slice, null sets *v to nil.
func Slice[T any](r *Reader, v *[]T, elem func(*T) bool) bool {
	if r.Null() {
		*v = nil
		return true
	}
	out := (*v)[:0]
	if out == nil {
		out = []T{}
	}
	ok := r.Array(func() bool {
		var e T
		ok := elem(&e)
		out = append(out, e)
		return ok
	})
	*v = out
	return ok
}

// Bool reads true or false into *v; null leaves *v unchanged.
func (r *Reader) Bool(v *bool) bool {
	switch {
	case r.literal("true"):
		*v = true
	case r.literal("false"):
		*v = false
	default:
		return r.Null()
	}
	return true
}

// String reads a string into *v; null leaves *v unchanged.
func (r *Reader) String(v *string) bool {
	if r.peek() == 'n' {
		return r.Null()
	}
	s, ok := r.rawString()
	if !ok {
		// An escaped string: exactly what encoding/json makes of it.
		start := r.i
		if !r.skip(0) {
			return false
		}
		return json.Unmarshal(r.b[start:r.i], v) == nil
	}
	*v = s
	return true
}

// Strings reads an array of strings into *v (length reset first, as
// encoding/json does); null sets *v to nil.
func (r *Reader) Strings(v *[]string) bool {
	return Slice(r, v, r.String)
}

// Int reads a plain integer (no fraction, no exponent) that fits bits into
// *v; null leaves *v unchanged.
func (r *Reader) Int(v *int64, bits int) bool {
	if r.peek() == 'n' {
		return r.Null()
	}
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || (r.b[digits] == '0' && r.i-digits > 1) {
		return false
	}
	if r.i < len(r.b) {
		if c := r.b[r.i]; c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	n, err := strconv.ParseInt(string(r.b[start:r.i]), 10, bits)
	if err != nil {
		return false
	}
	*v = n
	return true
}

// Raw returns the bytes of the next value, checked to be valid JSON, as
// encoding/json gives them to a json.RawMessage.
func (r *Reader) Raw() ([]byte, bool) {
	r.ws()
	start := r.i
	if !r.skip(0) {
		return nil, false
	}
	return r.b[start:r.i], true
}

// rawString reads a string without escapes or control characters whose
// bytes are valid UTF-8; anything else reports false with the reader where it
// was.
func (r *Reader) rawString() (string, bool) {
	r.ws()
	if r.i == len(r.b) || r.b[r.i] != '"' {
		return "", false
	}
	ascii := true
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			s := r.b[r.i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			r.i = j + 1
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// skip moves past one valid JSON value.
func (r *Reader) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch r.peek() {
	case '{':
		r.i++
		// Not Object: a skipped key may have escapes.
		return r.list('}', func() bool {
			return r.peek() == '"' && r.skipString() && r.literal(":") && r.skip(depth+1)
		})
	case '[':
		return r.Array(func() bool { return r.skip(depth + 1) })
	case '"':
		return r.skipString()
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	default:
		return r.skipNumber()
	}
}

// skipString moves past a string with valid escapes and no control
// characters (invalid UTF-8 is accepted, as encoding/json accepts it).
func (r *Reader) skipString() bool {
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j == len(r.b) {
				return false
			}
			switch r.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(r.b) {
					return false
				}
				for _, h := range r.b[j+1 : j+5] {
					if !isHex(h) {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipNumber moves past a number of JSON's grammar.
func (r *Reader) skipNumber() bool {
	digits := func() int {
		n := 0
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	first := r.i
	n := digits()
	if n == 0 || (r.b[first] == '0' && n > 1) {
		return false
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			return false
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
