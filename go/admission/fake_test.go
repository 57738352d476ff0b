package admission

import (
	"encoding/json"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// fakeCall records one kubewasm_admit call made through the fake.
type fakeCall struct {
	phase   binding.Phase
	ids     []uint32
	request admissionv1.AdmissionRequest
}

// fakeAdmitter stands in for the library: it returns a fixed module list and
// answers each call with respond.
type fakeAdmitter struct {
	modules []ModuleConfig
	// modulesJSON, when set, is the module list instead of modules.
	modulesJSON string
	respond     func(c fakeCall) (*Result, error)

	mu     sync.Mutex
	calls  []fakeCall
	closed bool
}

func (f *fakeAdmitter) Modules(decode binding.DecodeFunc) error {
	if f.modulesJSON != "" {
		return decode([]byte(f.modulesJSON))
	}
	out, err := json.Marshal(Modules{Modules: f.modules})
	if err != nil {
		return err
	}
	return decode(out)
}

func (f *fakeAdmitter) Admit(phase binding.Phase, ids []uint32, request []byte, timeout time.Duration, decode binding.DecodeFunc) error {
	c := fakeCall{phase: phase, ids: append([]uint32(nil), ids...)}
	if err := json.Unmarshal(request, &c.request); err != nil {
		return &binding.Error{Code: binding.CodeBadRequest, Message: err.Error()}
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	var res *Result
	var err error
	if f.respond != nil {
		res, err = f.respond(c)
	} else {
		res = allowAll(c)
	}
	if err != nil {
		return err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return decode(out)
}

func (f *fakeAdmitter) Close() error {
	f.closed = true
	return nil
}

func (f *fakeAdmitter) callsCopy() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// allowAll answers "allowed" for every module called.
func allowAll(c fakeCall) *Result {
	res := &Result{Allowed: true}
	for _, id := range c.ids {
		res.Outcomes = append(res.Outcomes, binding.Outcome{Module: moduleName(id), Outcome: "allowed"})
	}
	return res
}

// moduleName is the fake modules' naming scheme: module id i is "m<i>".
func moduleName(id uint32) string {
	return "m" + string(rune('0'+id))
}
