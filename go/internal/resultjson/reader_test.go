package resultjson

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// The skipper accepts exactly the documents encoding/json finds valid (up to
// maxDepth), on valid values and on random edits of them.
func TestSkipAgreesWithValid(t *testing.T) {
	valid := []string{
		`null`, `true`, `false`, `0`, `-0`, `12`, `-1.5e+3`, `1E-2`, `""`, `"a\"\\\/\b\f\n\r\t\u00e9"`,
		`"é"`, "\"\xff\"", `[]`, `{}`, `[1,[2,[3]],{"a":{"b":[]}}]`, ` { "k" : [ true , null ] } `,
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = `{}[]":,\ -0.1eE+tnu"` + "\x01\xff"
	for _, v := range valid {
		check(t, v)
		for range 2000 {
			b := []byte(v)
			for range 1 + rng.IntN(2) {
				i := rng.IntN(len(b) + 1)
				switch rng.IntN(3) {
				case 0:
					b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
				case 1:
					if i < len(b) {
						b = append(b[:i], b[i+1:]...)
					}
				default:
					if i < len(b) {
						b[i] = alphabet[rng.IntN(len(alphabet))]
					}
				}
			}
			check(t, string(b))
		}
	}
}

func check(t *testing.T, doc string) {
	t.Helper()
	r := Reader{b: []byte(doc)}
	got := r.skip(0) && r.end()
	if want := json.Valid([]byte(doc)); got != want {
		t.Fatalf("skip(%q) = %v, json.Valid = %v", doc, got, want)
	}
}

func TestInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits int
		want int64
		ok   bool
	}{
		{"0", 64, 0, true},
		{"-12", 64, -12, true},
		{"9223372036854775807", 64, 1<<63 - 1, true},
		{"9223372036854775808", 64, 0, false},
		{"2147483648", 32, 0, false},
		{"007", 64, 0, false},
		{"1.0", 64, 0, false},
		{"1e3", 64, 0, false},
		{"-", 64, 0, false},
		{`"1"`, 64, 0, false},
	} {
		r := Reader{b: []byte(tc.in)}
		var v int64
		ok := r.Int(&v, tc.bits) && r.end()
		if ok != tc.ok || v != tc.want {
			t.Errorf("Int(%s, %d) = %d, %v; want %d, %v", tc.in, tc.bits, v, ok, tc.want, tc.ok)
		}
	}
}

func TestStringEscapesAsEncodingJSON(t *testing.T) {
	for _, in := range []string{`"plain"`, `"a\nb"`, `"\u00e9\ud83d\ude00"`, `"\ud800"`, "\"\xff\"", `"é"`} {
		r := Reader{b: []byte(in)}
		var got, want string
		ok := r.String(&got) && r.end()
		_ = json.Unmarshal([]byte(in), &want)
		if in == "\"\xff\"" {
			// Invalid UTF-8: not the fast path's; Decode leaves it to encoding/json.
			if ok && got != want {
				t.Errorf("String(%q) = %q, encoding/json %q", in, got, want)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("String(%q) = %q, %v; encoding/json %q", in, got, ok, want)
		}
	}
}
