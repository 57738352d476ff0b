// Package record collects what admission adds to a request besides its
// decision: audit annotations and warnings, as the API server's audit layer
// and warning filter would. The CLI reports them; tests assert them.
package record

import (
	"maps"
	"sync"

	"k8s.io/apiserver/pkg/admission"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
)

// Attributes wraps admission attributes and records the audit annotations
// added to them.
type Attributes struct {
	admission.Attributes
	mu  sync.Mutex
	ann map[string]string
}

// NewAttributes wraps a.
func NewAttributes(a admission.Attributes) *Attributes {
	return &Attributes{Attributes: a}
}

// AddAnnotation records an annotation at the Metadata level.
func (r *Attributes) AddAnnotation(key, value string) error {
	return r.AddAnnotationWithLevel(key, value, auditinternal.LevelMetadata)
}

// AddAnnotationWithLevel adds the annotation to the wrapped attributes and
// records it.
func (r *Attributes) AddAnnotationWithLevel(key, value string, level auditinternal.Level) error {
	if err := r.Attributes.AddAnnotationWithLevel(key, value, level); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ann == nil {
		r.ann = map[string]string{}
	}
	r.ann[key] = value
	return nil
}

// Annotations returns a copy of the recorded annotations.
func (r *Attributes) Annotations() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.ann)
}

// Warnings implements warning.Recorder and keeps the warnings' texts.
type Warnings struct {
	mu sync.Mutex
	w  []string
}

// AddWarning records a warning's text.
func (r *Warnings) AddWarning(_, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w = append(r.w, text)
}

// List returns a copy of the recorded warnings, in order.
func (r *Warnings) List() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.w...)
}
