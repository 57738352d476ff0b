package admission

import (
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/resultjson/resultjsontest"
)

// Results as the library writes them (docs/abi.md), one per shape.
var resultSeeds = []string{
	`{"allowed":true,"warnings":[],"auditAnnotations":[],"outcomes":[{"module":"magic-validator","outcome":"allowed","durationNanos":13456},{"module":"safe-annotations","outcome":"allowed","durationNanos":15678}],"logs":[]}`,
	`{"allowed":false,"status":{"code":403,"message":"value 'not-allowed-value' not allowed in configmap"},"module":"magic-validator","warnings":["w1","w2"],"auditAnnotations":[],"outcomes":[{"module":"magic-validator","outcome":"rejected","durationNanos":9}],"logs":[]}`,
	`{"allowed":false,"status":{"code":422,"message":"m","reason":"Invalid"},"module":"m","warnings":[],"auditAnnotations":[],"outcomes":[],"logs":[]}`,
	`{"allowed":true,"patch":[{"op":"add","path":"/metadata/labels","value":{"magic":"true"}}],"warnings":[],"auditAnnotations":[{"module":"magic-mutator","key":"mutated","value":"yes"}],"outcomes":[{"module":"magic-mutator","outcome":"mutated","durationNanos":30000}],"logs":[{"level":"info","module":"magic-mutator","message":"hello"}]}`,
	`{"allowed":false,"module":"hostile-loop","error":"module \"hostile-loop\" failed: timed out after 1s","warnings":[],"auditAnnotations":[],"outcomes":[{"module":"hostile-loop","outcome":"error","durationNanos":1000000000,"failure":"timeout","error":"timed out after 1s"}],"logs":[{"level":"error","module":"hostile-loop","message":"timed out after 1s"}]}`,
	` {"allowed":true,"warnings":[],"auditAnnotations":[],"outcomes":[{"module":"é-ü","outcome":"ignored","durationNanos":-1,"failure":"trap","error":"wasm trap"}],"logs":[],"unknownKey":{"a":[1,2.5e3,true,null,"x"]}} `,
}

func TestDecodeResultMatchesEncodingJSON(t *testing.T) {
	resultjsontest.Differential(t, fastResult, resultSeeds, 3000)
}

func TestDecodeResultCopiesThePatch(t *testing.T) {
	out := []byte(resultSeeds[3])
	res, err := decodeResult(out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		out[i] = 'x' // the library frees its buffer after the callback
	}
	if got := string(res.Patch); got != `[{"op":"add","path":"/metadata/labels","value":{"magic":"true"}}]` {
		t.Fatalf("patch = %s", got)
	}
}

func BenchmarkDecodeResult(b *testing.B) {
	out := []byte(resultSeeds[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeResult(out); err != nil {
			b.Fatal(err)
		}
	}
}
