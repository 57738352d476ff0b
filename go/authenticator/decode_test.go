package authenticator

import (
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/resultjson/resultjsontest"
)

// Results as the library writes them (docs/abi.md), one per shape.
var resultSeeds = []string{
	`{"status":{"authenticated":true,"user":{"username":"magic-user","uid":"0","groups":["magic-group","system:authenticated"]}},"module":"magic-authenticator","outcomes":[{"module":"magic-authenticator","outcome":"authenticated","durationNanos":8123}],"logs":[]}`,
	`{"status":{"authenticated":true,"user":{"username":"u","extra":{"scopes.example.com":["a","b"],"empty":[]}},"audiences":["https://kubernetes.default.svc"]},"module":"m","outcomes":[],"logs":[{"level":"debug","module":"m","message":"in: <redacted>"}]}`,
	`{"status":{"authenticated":null},"outcomes":[{"module":"m","outcome":"unauthenticated","durationNanos":7000}],"logs":[]}`,
	`{"status":{"authenticated":false,"error":"module \"m\" failed: wasm trap: unreachable"},"outcomes":[{"module":"m","outcome":"error","durationNanos":5,"failure":"trap","error":"wasm trap: unreachable"}],"logs":[{"level":"error","module":"m","message":"wasm trap: unreachable"}]}`,
}

func TestDecodeResultMatchesEncodingJSON(t *testing.T) {
	resultjsontest.Differential(t, fastResult, resultSeeds, 3000)
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
