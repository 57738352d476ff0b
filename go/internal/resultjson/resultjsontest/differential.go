// Package resultjsontest checks a [resultjson] decoder against encoding/json.
package resultjsontest

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/resultjson"
)

// Differential checks the fast decoder fast against encoding/json:
//   - every seed (a document shaped as the library writes it) is taken by the
//     fast path, and decodes to what encoding/json gives;
//   - of mutations variants of each seed (bytes changed, inserted or
//     deleted, keys' case changed, values replaced by null, numbers and
//     strings changed), every one the fast path takes decodes to what
//     encoding/json gives, and encoding/json takes it too;
//   - resultjson.Decode gives what encoding/json gives on every variant,
//     errors included.
func Differential[T any](t *testing.T, fast func(*resultjson.Reader, *T) bool, seeds []string, mutations int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	taken := 0
	for _, seed := range seeds {
		if !takenByFast(t, fast, []byte(seed)) {
			t.Errorf("the fast path does not take the seed %s", seed)
		}
		for range mutations {
			doc := mutate(rng, []byte(seed))
			if takenByFast(t, fast, doc) {
				taken++
			}
			var want T
			wantErr := json.Unmarshal(doc, &want)
			got, err := resultjson.Decode(doc, fast)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("Decode(%s): error %v, encoding/json %v", doc, err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode(%s) = %+v, encoding/json %+v", doc, got, want)
			}
		}
	}
	t.Logf("fast path took %d of %d mutated documents", taken, len(seeds)*mutations)
}

// takenByFast runs the fast path alone; when it takes doc, its value must be
// encoding/json's.
func takenByFast[T any](t *testing.T, fast func(*resultjson.Reader, *T) bool, doc []byte) bool {
	t.Helper()
	var got T
	if !resultjson.Run(doc, fast, &got) {
		return false
	}
	var want T
	if err := json.Unmarshal(doc, &want); err != nil {
		t.Fatalf("the fast path took %s, which encoding/json refuses: %v", doc, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path on %s = %+v, encoding/json %+v", doc, got, want)
	}
	return true
}

// mutate returns a variant of doc with one to three random edits.
func mutate(rng *rand.Rand, doc []byte) []byte {
	out := append([]byte(nil), doc...)
	for range 1 + rng.IntN(3) {
		if len(out) == 0 {
			return out
		}
		i := rng.IntN(len(out))
		switch rng.IntN(9) {
		case 0: // replace a byte with a JSON-significant one
			out[i] = `{}[]":,\ -0.eE9tn`[rng.IntN(17)]
		case 1: // delete a byte
			out = append(out[:i], out[i+1:]...)
		case 2: // insert whitespace
			out = append(out[:i], append([]byte(" \n\t\r"[rng.IntN(4):][:1]), out[i:]...)...)
		case 3: // change a letter's case
			if c := out[i]; c >= 'a' && c <= 'z' {
				out[i] = c - 'a' + 'A'
			}
		case 4: // a value becomes null
			if j := indexAfter(out, i, ':'); j >= 0 {
				out = append(out[:j+1], append([]byte("null"), skipScalar(out, j+1)...)...)
			}
		case 5: // an escape or non-ASCII text in a string
			out = append(out[:i], append([]byte([]string{`\u00e9`, `\n`, "é", "\xff", `\"`, `\ud800`, "\x01"}[rng.IntN(7)]), out[i:]...)...)
		case 6: // a number changes form
			out = append(out[:i], append([]byte([]string{"1.5", "1e3", "-0", "99999999999999999999", "007"}[rng.IntN(5)]), out[i:]...)...)
		case 7: // a key is duplicated
			if j := indexAfter(out, i, ','); j >= 0 {
				out = append(out[:j+1], append(append([]byte(nil), out[j+1:j+1+min(20, len(out)-j-1)]...), out[j+1:]...)...)
			}
		default: // the document is cut
			out = out[:i]
		}
	}
	return out
}

func indexAfter(b []byte, from int, c byte) int {
	for j := from; j < len(b); j++ {
		if b[j] == c {
			return j
		}
	}
	return -1
}

// skipScalar returns b from the end of the scalar value starting at i.
func skipScalar(b []byte, i int) []byte {
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return b[i:]
}
