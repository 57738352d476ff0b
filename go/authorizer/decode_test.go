package authorizer

import (
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/resultjson/resultjsontest"
)

// Results as the library writes them (docs/abi.md), one per shape.
var resultSeeds = []string{
	`{"status":{"allowed":true,"reason":"magic-group may list configmaps"},"module":"magic-authorizer","outcomes":[{"module":"magic-authorizer","outcome":"allowed","durationNanos":7321}],"logs":[]}`,
	`{"status":{"allowed":false,"denied":true,"reason":"no"},"module":"m","outcomes":[],"logs":[]}`,
	`{"status":{"allowed":false},"outcomes":[{"module":"m","outcome":"noOpinion","durationNanos":7000}],"logs":[]}`,
	`{"status":{"allowed":false,"evaluationError":"module \"m\" failed: timed out after 1s"},"outcomes":[{"module":"m","outcome":"error","durationNanos":1000000000,"failure":"timeout","error":"timed out after 1s"}],"logs":[{"level":"error","module":"m","message":"timed out after 1s"}]}`,
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
