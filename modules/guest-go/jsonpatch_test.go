package guest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestJSONPatch(t *testing.T) {
	cases := []struct {
		name, original, modified, want string
	}{
		{"equal", `{"a":1,"b":[1,{"c":null}]}`, `{"b":[1,{"c":null}],"a":1}`, `[]`},
		{"add member", `{"a":1}`, `{"a":1,"b":{"c":[1]}}`, `[{"op":"add","path":"/b","value":{"c":[1]}}]`},
		{"remove member", `{"a":1,"b":2}`, `{"a":1}`, `[{"op":"remove","path":"/b"}]`},
		{"replace scalar", `{"a":1}`, `{"a":"1"}`, `[{"op":"replace","path":"/a","value":"1"}]`},
		{"null value kept", `{"a":1}`, `{"a":null,"b":null}`, `[{"op":"replace","path":"/a","value":null},{"op":"add","path":"/b","value":null}]`},
		{"nested", `{"metadata":{"labels":{"x":"1"}},"data":{"k":"v"}}`, `{"metadata":{"labels":{"x":"2","y":"3"}},"data":{"k":"v"}}`,
			`[{"op":"replace","path":"/metadata/labels/x","value":"2"},{"op":"add","path":"/metadata/labels/y","value":"3"}]`},
		{"escaped keys", `{"metadata":{"annotations":{}}}`, `{"metadata":{"annotations":{"example.com/a~b":"v"}}}`,
			`[{"op":"add","path":"/metadata/annotations/example.com~1a~0b","value":"v"}]`},
		{"empty key", `{}`, `{"":1}`, `[{"op":"add","path":"/","value":1}]`},
		{"array element changed", `{"c":[{"n":"a","i":"x"},{"n":"b","i":"y"}]}`, `{"c":[{"n":"a","i":"x"},{"n":"b","i":"z"}]}`,
			`[{"op":"replace","path":"/c/1/i","value":"z"}]`},
		{"array grows", `[1,2]`, `[1,2,3]`, `[{"op":"add","path":"/2","value":3}]`},
		{"array shrinks, last first", `[1,2,3,4]`, `[1,2,3]`, `[{"op":"remove","path":"/3"}]`},
		{"array replaced when cheaper", `[1,2,3,4]`, `[9]`, `[{"op":"replace","path":"","value":[9]}]`},
		{"array emptied", `{"a":[1,2]}`, `{"a":[]}`, `[{"op":"replace","path":"/a","value":[]}]`},
		{"type change", `{"a":{"b":1}}`, `{"a":[1]}`, `[{"op":"replace","path":"/a","value":[1]}]`},
		{"root replaced", `1`, `"x"`, `[{"op":"replace","path":"","value":"x"}]`},
		{"numbers as written", `{"a":1.0}`, `{"a":1}`, `[{"op":"replace","path":"/a","value":1}]`},
		{"big numbers exact", `{"a":12345678901234567890}`, `{"a":12345678901234567891}`, `[{"op":"replace","path":"/a","value":12345678901234567891}]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := JSONPatch([]byte(c.original), []byte(c.modified))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("patch\n got %s\nwant %s", got, c.want)
			}
			checkApplies(t, c.original, c.modified, got)
		})
	}
}

func TestJSONPatchErrors(t *testing.T) {
	cases := []struct{ name, original, modified, want string }{
		{"bad original", `{`, `{}`, "original object"},
		{"bad modified", `{}`, `{} {}`, "modified object: more than one JSON value"},
	}
	for _, c := range cases {
		_, err := JSONPatch([]byte(c.original), []byte(c.modified))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestJSONPatchRandom checks on random documents that applying the patch gives the modified
// document.
func TestJSONPatchRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		a := randomValue(r, 4)
		b := mutateValue(r, a, 4)
		ab, _ := json.Marshal(a)
		bb, _ := json.Marshal(b)
		patch, err := JSONPatch(ab, bb)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		checkApplies(t, string(ab), string(bb), patch)
	}
}

// FuzzJSONPatch checks that the patch between any two JSON documents turns one into the other.
func FuzzJSONPatch(f *testing.F) {
	f.Add(`{"a":[1,2,{"b":null}]}`, `{"a":[1,{"b":2}],"c/d":"~"}`)
	f.Add(`[]`, `[[],{}]`)
	f.Fuzz(func(t *testing.T, a, b string) {
		if _, err := decodeJSON([]byte(a)); err != nil {
			return
		}
		if _, err := decodeJSON([]byte(b)); err != nil {
			return
		}
		patch, err := JSONPatch([]byte(a), []byte(b))
		if err != nil {
			t.Fatal(err)
		}
		checkApplies(t, a, b, patch)
	})
}

// checkApplies applies patch to original with the reference applier below and compares the
// result with modified.
func checkApplies(t *testing.T, original, modified string, patch []byte) {
	t.Helper()
	doc, _ := decodeJSON([]byte(original))
	want, _ := decodeJSON([]byte(modified))
	var ops []map[string]json.RawMessage
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	for _, op := range ops {
		var err error
		doc, err = applyOp(doc, op)
		if err != nil {
			t.Fatalf("applying %s to %s: %v", patch, original, err)
		}
	}
	if !equal(doc, want) {
		got, _ := json.Marshal(doc)
		t.Fatalf("%s applied to %s gives %s, want %s", patch, original, got, modified)
	}
}

// applyOp is a small RFC 6902 applier for add, remove and replace, written from the RFC for the
// tests (it shares nothing with the code under test but equal and decodeJSON).
func applyOp(doc any, op map[string]json.RawMessage) (any, error) {
	var kind, path string
	if err := json.Unmarshal(op["op"], &kind); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(op["path"], &path); err != nil {
		return nil, err
	}
	var value any
	if raw, ok := op["value"]; ok {
		v, err := decodeJSON(raw)
		if err != nil {
			return nil, err
		}
		value = v
	} else if kind != "remove" {
		return nil, fmt.Errorf("%s without value", kind)
	}
	if path == "" {
		if kind == "remove" {
			return nil, fmt.Errorf("remove of the root")
		}
		return value, nil
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("bad path %q", path)
	}
	tokens := strings.Split(path[1:], "/")
	for i, tok := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
	}
	return applyAt(doc, tokens, kind, value)
}

func applyAt(doc any, tokens []string, kind string, value any) (any, error) {
	tok, last := tokens[0], len(tokens) == 1
	switch d := doc.(type) {
	case map[string]any:
		if !last {
			child, ok := d[tok]
			if !ok {
				return nil, fmt.Errorf("no member %q", tok)
			}
			v, err := applyAt(child, tokens[1:], kind, value)
			d[tok] = v
			return d, err
		}
		_, exists := d[tok]
		switch kind {
		case "add":
			d[tok] = value
		case "replace":
			if !exists {
				return nil, fmt.Errorf("replace of missing member %q", tok)
			}
			d[tok] = value
		case "remove":
			if !exists {
				return nil, fmt.Errorf("remove of missing member %q", tok)
			}
			delete(d, tok)
		}
		return d, nil
	case []any:
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i > len(d) || (i == len(d) && (kind != "add" || !last)) {
			return nil, fmt.Errorf("bad index %q of %d", tok, len(d))
		}
		if !last {
			v, err := applyAt(d[i], tokens[1:], kind, value)
			d[i] = v
			return d, err
		}
		switch kind {
		case "add":
			return append(d[:i], append([]any{value}, d[i:]...)...), nil
		case "replace":
			d[i] = value
			return d, nil
		default:
			return append(d[:i], d[i+1:]...), nil
		}
	}
	return nil, fmt.Errorf("cannot descend into %T", doc)
}

// randomValue makes a random JSON value at most depth deep.
func randomValue(r *rand.Rand, depth int) any {
	n := 6
	if depth == 0 {
		n = 4
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return json.Number(strconv.Itoa(r.IntN(5)))
	case 3:
		return []string{"a", "b", "x/y", "m~n", ""}[r.IntN(5)]
	case 4:
		a := make([]any, r.IntN(5))
		for i := range a {
			a[i] = randomValue(r, depth-1)
		}
		return a
	default:
		m := map[string]any{}
		for range r.IntN(5) {
			m[[]string{"a", "b", "x/y", "m~n", ""}[r.IntN(5)]] = randomValue(r, depth-1)
		}
		return m
	}
}

// mutateValue returns a changed deep copy of v: members and elements added, removed, changed.
func mutateValue(r *rand.Rand, v any, depth int) any {
	if r.IntN(6) == 0 {
		return randomValue(r, depth)
	}
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, x := range v {
			if r.IntN(5) != 0 {
				m[k] = mutateValue(r, x, depth-1)
			}
		}
		if r.IntN(3) == 0 {
			m[[]string{"a", "new", "p/q"}[r.IntN(3)]] = randomValue(r, depth-1)
		}
		return m
	case []any:
		var a []any
		for _, x := range v {
			if r.IntN(5) != 0 {
				a = append(a, mutateValue(r, x, depth-1))
			}
		}
		for range r.IntN(3) {
			a = append(a, randomValue(r, depth-1))
		}
		if a == nil {
			a = []any{}
		}
		return a
	}
	return v
}
