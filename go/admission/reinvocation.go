package admission

import (
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
)

// reinvokeContext is the plugin's state in the admission reinvocation
// context; it mirrors the (unexported) webhookReinvokeContext of the
// mutating webhook plugin.
type reinvokeContext struct {
	// lastOutput is the object as the plugin's last call left it.
	lastOutput runtime.Object
	// previouslyInvoked are the IfNeeded modules called since the last
	// mutation.
	previouslyInvoked sets.Set[string]
	// reinvoke are the modules to call again in the reinvocation round.
	reinvoke sets.Set[string]
}

func (rc *reinvokeContext) shouldReinvoke(uid string) bool {
	return rc.reinvoke.Has(uid)
}

func (rc *reinvokeContext) isOutputChangedSinceLastInvocation(obj runtime.Object) bool {
	return !apiequality.Semantic.DeepEqual(rc.lastOutput, obj)
}

func (rc *reinvokeContext) setLastInvocationOutput(obj runtime.Object) {
	if obj == nil {
		rc.lastOutput = nil
		return
	}
	rc.lastOutput = obj.DeepCopyObject()
}

func (rc *reinvokeContext) addReinvocable(uid string) {
	if rc.previouslyInvoked == nil {
		rc.previouslyInvoked = sets.New[string]()
	}
	rc.previouslyInvoked.Insert(uid)
}

func (rc *reinvokeContext) requireReinvokingPreviouslyInvoked() {
	if len(rc.previouslyInvoked) == 0 {
		return
	}
	if rc.reinvoke == nil {
		rc.reinvoke = sets.New[string]()
	}
	rc.reinvoke = rc.reinvoke.Union(rc.previouslyInvoked)
	rc.previouslyInvoked = sets.New[string]()
}
