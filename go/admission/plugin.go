// Package admission is the kube-apiserver admission plugin "WASM": mutating
// and validating admission by kubewasm modules, with the semantics of the
// admission webhooks they replace.
//
// Modules are matched to a request with k8s.io/apiserver's webhook machinery
// (rules with subresources and scope, matchPolicy, namespaceSelector,
// objectSelector, matchConditions); each module's match configuration is
// expressed as an admissionregistration/v1 MutatingWebhook or
// ValidatingWebhook. The request is built with request.CreateV1AdmissionReview
// and sent to the library once per phase with the ids of the matched modules;
// the library runs mutating modules in order (each sees the previous
// mutation) and returns one RFC 6902 patch, which is applied as the mutating
// webhook dispatcher applies a webhook's patch (on the versioned object, then
// decoded, defaulted and converted back). A rejection becomes a status error
// of a webhook rejection's shape that names the module the way
// ValidatingAdmissionPolicy names itself ("admission module "<module>" (WASM)
// denied the request: ..."); a module failure with failurePolicy Fail an
// internal error naming the module; warnings and audit annotations (keys
// prefixed with the module name) are passed through. A module's
// validationActions (Deny, Warn, Audit, as in a
// ValidatingAdmissionPolicyBinding) decide whether its rejection or failure
// rejects the request, becomes a warning, or is recorded in the audit event.
// A request that matches no module is not serialized and does not cross into
// the library.
//
// The plugin is configured through the admission configuration file
// (--admission-control-config-file), inline under configuration: or by path:,
// in YAML or JSON. In kube-apiserver the patch tells the plugin that file's
// name ([SetConfigFile]): the plugin then loads its configuration from the
// file itself (relative module paths resolve against the directory of the
// file that names them), watches the file, the path: file and every module
// file, and reloads when one changes (go/internal/reload). One loaded
// configuration, a generation, is the library handle with everything the Go
// side derives from it (modules, match accessors, compiled match conditions,
// the operations the plugin handles); a request runs on the generation it
// started with. Without a file name (the CLI, tests) the configuration comes
// from the bytes given, relative paths resolve against the working
// directory, and nothing is watched.
package admission

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apiserver/pkg/admission"
	genericadmissioninit "k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/namespace"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/object"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/metrics"
	"github.com/kubewasm/kubewasm/go/internal/reload"
)

// PluginName is the name of the admission plugin, as used in
// --enable-admission-plugins and in the admission configuration file.
const PluginName = "WASM"

var (
	configFileMu sync.Mutex
	configFile   string
)

// SetConfigFile tells the plugin the name of the admission configuration
// file (--admission-control-config-file) the framework reads its
// configuration from; kube-apiserver's patch calls it before the plugins are
// built. With it, the plugin the framework builds loads that file itself and
// reloads it when it or a file it names changes. Empty turns that off.
func SetConfigFile(path string) {
	configFileMu.Lock()
	defer configFileMu.Unlock()
	configFile = path
}

func getConfigFile() string {
	configFileMu.Lock()
	defer configFileMu.Unlock()
	return configFile
}

// Register registers the WASM admission plugin.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(config io.Reader) (admission.Interface, error) {
		if path := getConfigFile(); path != "" && config != nil {
			return NewFromConfigFile(path)
		}
		return NewFromReader(config, "")
	})
}

// admitter is the part of binding.Handle the plugin uses; tests substitute a
// fake.
type admitter interface {
	Admit(phase binding.Phase, moduleIDs []uint32, request []byte, timeout time.Duration, decode binding.DecodeFunc) error
	Modules(decode binding.DecodeFunc) error
	Close() error
}

// module is one configured module with its webhook-shaped match accessor.
type module struct {
	id       uint32
	config   ModuleConfig
	accessor webhook.WebhookAccessor
	// objectDependent: the match reads the object (objectSelector or
	// matchConditions), so in the mutating phase it must see earlier
	// modules' mutations.
	objectDependent bool
	// actions are config.ValidationActions as a set.
	actions sets.Set[admissionregistrationv1.ValidationAction]
}

func (m *module) failOpen() bool {
	return m.config.FailurePolicy != nil && *m.config.FailurePolicy == admissionregistrationv1.Ignore
}

// denies reports whether the module's "no" rejects the request.
func (m *module) denies() bool {
	return m.actions.Has(admissionregistrationv1.Deny)
}

// onlyDenies reports whether the module has the default actions, [Deny].
func (m *module) onlyDenies() bool {
	return m.actions.Len() == 1 && m.denies()
}

// generation is one loaded configuration: the library handle and everything
// derived from its module list. A reload swaps all of it at once.
type generation struct {
	admitter   admitter
	modules    []*module
	mutating   []*module
	validating []*module
	reinvoke   bool // some mutating module has reinvocationPolicy IfNeeded
	ops        sets.Set[admission.Operation]

	needNamespaces bool // some module has a non-empty namespaceSelector
}

func closeGeneration(g *generation) error { return g.admitter.Close() }

// Plugin is the WASM admission plugin. It implements
// admission.MutationInterface and admission.ValidationInterface and is safe
// for concurrent use.
type Plugin struct {
	*admission.Handler

	// gens holds the current generation; every request acquires it.
	gens    *reload.Holder[*generation]
	watcher *reload.Watcher[*generation] // nil unless built from a file

	offlineNamespaces bool // SetNamespaceLister was used: no client needed
	namespaceMatcher  *namespace.Matcher
	objectMatcher     *object.Matcher
	authorizer        authorizer.UnconditionalAuthorizer

	compilerOnce   sync.Once
	filterCompiler cel.ConditionCompiler

	serializersMu sync.RWMutex
	serializers   map[serializerKey]runtime.Serializer
}

var (
	_ admission.MutationInterface                           = &Plugin{}
	_ admission.ValidationInterface                         = &Plugin{}
	_ admission.InitializationValidator                     = &Plugin{}
	_ genericadmissioninit.WantsExternalKubeClientSet       = &Plugin{}
	_ genericadmissioninit.WantsExternalKubeInformerFactory = &Plugin{}
	_ genericadmissioninit.WantsAuthorizer                  = &Plugin{}
)

// NewFromReader builds the plugin from its configuration (YAML or JSON), as
// the admission framework passes it. A nil reader (no configuration for
// the plugin in the admission configuration file) is an error. Relative
// module paths resolve against baseDir (empty: the working directory).
func NewFromReader(config io.Reader, baseDir string) (*Plugin, error) {
	if config == nil {
		return nil, fmt.Errorf("admission plugin %q needs a configuration: add {name: %s, path: <file>} (or configuration: <inline>) to the plugins of --admission-control-config-file", PluginName, PluginName)
	}
	data, err := io.ReadAll(config)
	if err != nil {
		return nil, fmt.Errorf("admission plugin %q: reading configuration: %w", PluginName, err)
	}
	return New(data, baseDir)
}

// NewFromHandle builds the plugin on a handle already loaded with an
// admission configuration, for a caller that also reads the handle (the
// CLI's check prints its load-time notes) without loading the modules twice.
// On success the plugin owns the handle (Close closes it); on error the
// caller still does.
func NewFromHandle(h *binding.Handle) (*Plugin, error) {
	if k := h.Kind(); k != binding.KindAdmission {
		return nil, fmt.Errorf("admission plugin %q: the handle was loaded for %s, not admission", PluginName, k)
	}
	return newWithAdmitter(h)
}

// NewFromConfigFile builds the plugin from the admission configuration file
// at path (an AdmissionConfiguration whose WASM plugin has its configuration
// inline or by path:), loading and compiling every module, and watches the
// file, the path: file and the module files: when one changes the
// configuration is loaded and checked again, off the request path, and
// swapped in; a configuration that fails leaves the previous one serving
// (every $KUBEWASM_CONFIG_RELOAD_INTERVAL, default 5s).
func NewFromConfigFile(path string) (*Plugin, error) {
	load := func() (*generation, []string, error) { return loadConfigFile(path) }
	g, files, err := load()
	if err != nil {
		return nil, err
	}
	metrics.Register()
	p := newPlugin(g)
	p.watcher = reload.NewWatcher(binding.KindAdmission.String(), path, files, p.gens, load, reload.Interval())
	p.watcher.Start()
	return p, nil
}

// loadConfigFile loads one generation from the admission configuration file
// and returns the files it was built from.
func loadConfigFile(path string) (*generation, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("admission plugin %q: reading the admission configuration: %w", PluginName, err)
	}
	files := []string{path}
	if f := pluginConfigPath(data, filepath.Dir(path)); f != "" {
		files = append(files, f)
	}
	h, err := binding.Init(binding.KindAdmission, data, filepath.Dir(path))
	if err != nil {
		return nil, files, fmt.Errorf("admission plugin %q: %w", PluginName, err)
	}
	mods, err := reload.ModuleFiles(h)
	if err != nil {
		_ = h.Close()
		return nil, files, fmt.Errorf("admission plugin %q: reading module list: %w", PluginName, err)
	}
	g, err := newGeneration(h)
	if err != nil {
		_ = h.Close()
		return nil, files, err
	}
	return g, append(files, mods...), nil
}

// pluginConfigPath returns the path: of the WASM plugin in an
// AdmissionConfiguration (resolved against dir), or "" (inline, or not
// parseable: the library reports that).
func pluginConfigPath(data []byte, dir string) string {
	js, err := yaml.ToJSON(data)
	if err != nil {
		return ""
	}
	var doc struct {
		Plugins []struct {
			Name string `json:"name"`
			Path string `json:"path"`
		} `json:"plugins"`
	}
	if json.Unmarshal(js, &doc) != nil {
		return ""
	}
	for _, pl := range doc.Plugins {
		if pl.Name == PluginName && pl.Path != "" {
			if filepath.IsAbs(pl.Path) {
				return pl.Path
			}
			return filepath.Join(dir, pl.Path)
		}
	}
	return ""
}

// New builds the plugin from configuration bytes (YAML or JSON), loading and
// compiling every module.
func New(config []byte, baseDir string) (*Plugin, error) {
	h, err := binding.Init(binding.KindAdmission, config, baseDir)
	if err != nil {
		return nil, fmt.Errorf("admission plugin %q: %w", PluginName, err)
	}
	p, err := newWithAdmitter(h)
	if err != nil {
		_ = h.Close()
		return nil, err
	}
	metrics.Register()
	return p, nil
}

func newWithAdmitter(a admitter) (*Plugin, error) {
	g, err := newGeneration(a)
	if err != nil {
		return nil, err
	}
	return newPlugin(g), nil
}

// allOperations: the plugin's handler lets every operation through; Handles
// asks the current generation.
var allOperations = []admission.Operation{admission.Create, admission.Update, admission.Delete, admission.Connect}

func newPlugin(g *generation) *Plugin {
	return &Plugin{
		Handler:          admission.NewHandler(allOperations...),
		gens:             reload.NewHolder(g, closeGeneration),
		namespaceMatcher: &namespace.Matcher{},
		objectMatcher:    &object.Matcher{},
	}
}

// newGeneration reads the admitter's module list and derives the matching
// data from it. On error the caller still owns the admitter.
func newGeneration(a admitter) (*generation, error) {
	var mods []ModuleConfig
	var decodeProblems [][]string
	if err := a.Modules(func(out []byte) (err error) {
		mods, decodeProblems, err = decodeModules(out)
		return err
	}); err != nil {
		return nil, fmt.Errorf("admission plugin %q: reading module list: %w", PluginName, err)
	}
	var problems []string
	var compiler cel.Compiler
	for i := range mods {
		problems = append(problems, decodeProblems[i]...)
		if len(mods[i].MatchConditions) > 0 && compiler == nil {
			compiler = newMatchConditionCompiler()
		}
		for _, e := range validateModule(&mods[i], compiler) {
			problems = append(problems, fmt.Sprintf("%s: %v", configRef(i, mods[i].Name, nil), e))
		}
	}
	if n := len(problems); n > 0 {
		plural := "s"
		if n == 1 {
			plural = ""
		}
		// The library's layout: one problem a line, each naming the module
		// and the field.
		return nil, fmt.Errorf("admission plugin %q: invalid admission configuration (%d problem%s):\n- %s", PluginName, n, plural, strings.Join(problems, "\n- "))
	}
	p := &generation{admitter: a}
	ops := sets.New[admission.Operation]()
	for i := range mods {
		m := &module{id: uint32(i), config: mods[i]}
		setDefaults(&m.config)
		m.actions = sets.New(m.config.ValidationActions...)
		m.accessor = accessorFor(m)
		p.modules = append(p.modules, m)
		if m.config.Mutating {
			p.mutating = append(p.mutating, m)
			if m.config.ReinvocationPolicy != nil && *m.config.ReinvocationPolicy == admissionregistrationv1.IfNeededReinvocationPolicy {
				p.reinvoke = true
			}
		} else {
			p.validating = append(p.validating, m)
		}
		// The selectors were validated: parsing cannot fail.
		if sel, err := m.accessor.GetParsedNamespaceSelector(); err != nil {
			return nil, fmt.Errorf("admission plugin %q: module %q: namespaceSelector: %w", PluginName, m.config.Name, err)
		} else if !sel.Empty() {
			p.needNamespaces = true
		}
		if sel, err := m.accessor.GetParsedObjectSelector(); err != nil {
			return nil, fmt.Errorf("admission plugin %q: module %q: objectSelector: %w", PluginName, m.config.Name, err)
		} else if !sel.Empty() || len(m.config.MatchConditions) > 0 {
			m.objectDependent = true
		}
		for _, r := range m.config.Rules {
			for _, op := range r.Operations {
				if op == admissionregistrationv1.OperationAll {
					ops.Insert(admission.Create, admission.Update, admission.Delete, admission.Connect)
				} else {
					ops.Insert(admission.Operation(op))
				}
			}
		}
	}
	p.ops = ops
	return p, nil
}

// Handles implements admission.Interface: the chain skips the plugin for
// operations no rule of the current configuration names, the cheapest
// possible "no match".
func (p *Plugin) Handles(op admission.Operation) bool {
	g := p.gens.Current()
	return g != nil && g.Value.ops.Has(op)
}

// accessorFor expresses the module's match configuration as a webhook, so that
// the upstream matchers (and their cached parsed selectors and compiled
// match conditions) apply unchanged.
func accessorFor(m *module) webhook.WebhookAccessor {
	uid := fmt.Sprintf("%s/%d/%s", PluginName, m.id, m.config.Name)
	c := &m.config
	if c.Mutating {
		return webhook.NewMutatingWebhookAccessor(uid, PluginName, &admissionregistrationv1.MutatingWebhook{
			Name:                    c.Name,
			Rules:                   c.Rules,
			FailurePolicy:           c.FailurePolicy,
			MatchPolicy:             c.MatchPolicy,
			NamespaceSelector:       c.NamespaceSelector,
			ObjectSelector:          c.ObjectSelector,
			SideEffects:             c.SideEffects,
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      c.ReinvocationPolicy,
			MatchConditions:         c.MatchConditions,
		})
	}
	return webhook.NewValidatingWebhookAccessor(uid, PluginName, &admissionregistrationv1.ValidatingWebhook{
		Name:                    c.Name,
		Rules:                   c.Rules,
		FailurePolicy:           c.FailurePolicy,
		MatchPolicy:             c.MatchPolicy,
		NamespaceSelector:       c.NamespaceSelector,
		ObjectSelector:          c.ObjectSelector,
		SideEffects:             c.SideEffects,
		AdmissionReviewVersions: []string{"v1"},
		MatchConditions:         c.MatchConditions,
	})
}

// Modules returns the normalized configuration of the current
// generation's modules, in order (nil after Close).
func (p *Plugin) Modules() []ModuleConfig {
	g := p.gens.Acquire()
	if g == nil {
		return nil
	}
	defer g.Release()
	ret := make([]ModuleConfig, len(g.Value.modules))
	for i, m := range g.Value.modules {
		ret[i] = m.config
	}
	return ret
}

// Close stops watching the configuration and releases the modules once the
// requests in flight are done.
func (p *Plugin) Close() error {
	if p.watcher != nil {
		p.watcher.Stop()
	}
	return p.gens.Close()
}

// needNamespaces reports whether the namespace lister is needed: a module of
// the current configuration has a namespaceSelector, or a reloaded one may
// have.
func (p *Plugin) needNamespaces() bool {
	if p.watcher != nil {
		return true
	}
	g := p.gens.Current()
	return g != nil && g.Value.needNamespaces
}

// SetExternalKubeClientSet implements WantsExternalKubeClientSet: the client
// is used for namespaces missing from the informer cache.
func (p *Plugin) SetExternalKubeClientSet(client kubernetes.Interface) {
	p.namespaceMatcher.Client = client
}

// SetExternalKubeInformerFactory implements WantsExternalKubeInformerFactory:
// the namespace informer serves namespaceSelector. It is only started when a
// module has a namespaceSelector.
func (p *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	if !p.needNamespaces() {
		return
	}
	nsInformer := f.Core().V1().Namespaces()
	p.namespaceMatcher.NamespaceLister = nsInformer.Lister()
	p.SetReadyFunc(nsInformer.Informer().HasSynced)
}

// SetNamespaceLister sets the namespace lister directly (instead of an
// informer factory and a client), for offline use such as the CLI and tests.
// The lister must know every namespace requests refer to: there is no client
// to fall back to.
func (p *Plugin) SetNamespaceLister(l corelisters.NamespaceLister) {
	p.namespaceMatcher.NamespaceLister = l
	p.offlineNamespaces = true
}

// SetAuthorizer implements WantsAuthorizer: the authorizer is the CEL
// `authorizer` variable of matchConditions.
func (p *Plugin) SetAuthorizer(a authorizer.Authorizer) {
	p.authorizer = a
}

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if !p.needNamespaces() {
		return nil
	}
	if p.namespaceMatcher.NamespaceLister == nil {
		return fmt.Errorf("admission plugin %q: a module has a namespaceSelector but no namespace lister was set", PluginName)
	}
	if p.namespaceMatcher.Client == nil && !p.offlineNamespaces {
		return fmt.Errorf("admission plugin %q: a module has a namespaceSelector but no client was set", PluginName)
	}
	return nil
}

func (p *Plugin) compiler() cel.ConditionCompiler {
	p.compilerOnce.Do(func() {
		p.filterCompiler = cel.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	})
	return p.filterCompiler
}
