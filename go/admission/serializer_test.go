package admission

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
)

// mapCreater is an ObjectCreater whose dynamic type cannot be a map key.
type mapCreater struct{ m map[string]int }

func (mapCreater) New(schema.GroupVersionKind) (runtime.Object, error) { return nil, nil }

// ptrCreater is a comparable ObjectCreater; each value is a distinct key.
type ptrCreater struct{ int }

func (*ptrCreater) New(schema.GroupVersionKind) (runtime.Object, error) { return nil, nil }

type objectInterfacesWith struct {
	admission.ObjectInterfaces
	creater runtime.ObjectCreater
}

func (o objectInterfacesWith) GetObjectCreater() runtime.ObjectCreater { return o.creater }

func TestSerializerCache(t *testing.T) {
	p := &Plugin{}
	o := objectInterfaces()
	if a, b := p.serializer(o), p.serializer(objectInterfaces()); a != b {
		t.Fatal("the same scheme got two serializers")
	}
	if len(p.serializers) != 1 {
		t.Fatalf("%d cached serializers, want 1", len(p.serializers))
	}

	// Not comparable: served, never cached (and no panic).
	odd := objectInterfacesWith{ObjectInterfaces: o, creater: mapCreater{m: map[string]int{}}}
	if p.serializer(odd) == nil {
		t.Fatal("no serializer for a non-comparable creater")
	}
	if len(p.serializers) != 1 {
		t.Fatalf("a non-comparable creater was cached (%d entries)", len(p.serializers))
	}

	// Bounded: many distinct creaters (custom resources come and go) never grow it past the cap.
	for i := 0; i < 3*maxCachedSerializers; i++ {
		p.serializer(objectInterfacesWith{ObjectInterfaces: o, creater: &ptrCreater{i}})
		if n := len(p.serializers); n > maxCachedSerializers {
			t.Fatalf("%d cached serializers, cap %d", n, maxCachedSerializers)
		}
	}
}
