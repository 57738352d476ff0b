package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel/environment"
)

// The plugin owns the matching fields of the configuration (rules,
// namespaceSelector, objectSelector, matchConditions, matchPolicy,
// reinvocationPolicy, sideEffects) and validationActions: the library passes
// them through unread in kubewasm_modules, and this file decodes them
// strictly, validates them the way the API server validates a webhook
// configuration (every problem at once, each with its field path) and applies
// their defaults. The library owns, validates and defaults every other field
// (name, module, settings, limits, failurePolicy, type, mutating).

// decodeModules decodes the library's module list. Each module is decoded on
// its own, and each of its fields on its own and strictly (an unknown field
// inside a rule or a selector is an error), so that one bad value does not
// hide the problems of the other fields and modules. Fields the plugin does
// not read (the library's limits, settings, digest...) are skipped.
// The problems are returned per module.
func decodeModules(doc []byte) ([]ModuleConfig, [][]string, error) {
	var list struct {
		Modules []map[string]json.RawMessage `json:"modules"`
	}
	if err := json.Unmarshal(doc, &list); err != nil {
		return nil, nil, err
	}
	mods := make([]ModuleConfig, len(list.Modules))
	problems := make([][]string, len(list.Modules))
	t := reflect.TypeFor[ModuleConfig]()
	for i, raw := range list.Modules {
		v := reflect.ValueOf(&mods[i]).Elem()
		for j := 0; j < t.NumField(); j++ {
			key, _, _ := strings.Cut(t.Field(j).Tag.Get("json"), ",")
			value, ok := raw[key]
			if !ok || bytes.Equal(bytes.TrimSpace(value), []byte("null")) {
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(value))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v.Field(j).Addr().Interface()); err != nil {
				problems[i] = append(problems[i], fmt.Sprintf("%s: %v", configRef(i, mods[i].Name, raw), decodeError(key, err)))
				// Not validated further: its one problem is reported.
				v.Field(j).SetZero()
			}
		}
	}
	return mods, problems, nil
}

// configRef names module i in messages as the library does: modules[i]
// "name". The name is the first field decoded; raw, when given, names a
// module whose name did not decode.
func configRef(i int, name string, raw map[string]json.RawMessage) string {
	if name == "" && raw != nil {
		_ = json.Unmarshal(raw["name"], &name)
	}
	if name == "" {
		return fmt.Sprintf("modules[%d]", i)
	}
	return fmt.Sprintf("modules[%d] %q", i, name)
}

// decodeError turns a JSON decoding error of field key into a field error with
// the path of the offending value.
func decodeError(key string, err error) *field.Error {
	path := field.NewPath(key)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// Field is the dotted path inside the value ("operations"), without
		// list indices.
		if typeErr.Field != "" {
			path = path.Child(typeErr.Field)
		}
		return field.TypeInvalid(path, field.OmitValueType{}, fmt.Sprintf("must be %s, got a JSON %s", typeName(typeErr.Type), typeErr.Value))
	}
	return field.Invalid(path, field.OmitValueType{}, strings.TrimPrefix(err.Error(), "json: "))
}

// typeName names a Go type in configuration terms.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return typeName(t.Elem())
	default:
		return "a " + t.Kind().String()
	}
}

// Supported values of the matching fields, as for an admissionregistration/v1
// webhook (sideEffects also accepts v1beta1's Some and Unknown: a module with
// those is skipped for dry-run requests, as a v1beta1 webhook was).
var (
	supportedOperations = sets.New(admissionregistrationv1.OperationAll, admissionregistrationv1.Create,
		admissionregistrationv1.Update, admissionregistrationv1.Delete, admissionregistrationv1.Connect)
	supportedScopes = sets.New(admissionregistrationv1.AllScopes, admissionregistrationv1.ClusterScope,
		admissionregistrationv1.NamespacedScope)
	supportedMatchPolicies       = sets.New(admissionregistrationv1.Exact, admissionregistrationv1.Equivalent)
	supportedReinvocationPolicy  = sets.New(admissionregistrationv1.NeverReinvocationPolicy, admissionregistrationv1.IfNeededReinvocationPolicy)
	supportedSideEffectClasses   = sets.New(admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.SideEffectClassNoneOnDryRun, admissionregistrationv1.SideEffectClassSome, admissionregistrationv1.SideEffectClassUnknown)
	labelSelectorValidationOpts  = metav1validation.LabelSelectorValidationOptions{}
	matchConditionCompileOptions = cel.OptionalVariableDeclarations{HasAuthorizer: true}
)

// maxMatchConditions is the webhooks' limit.
const maxMatchConditions = 64

// validateModule checks the matching fields and validationActions of one
// module (as decoded, before defaults), each problem with its field path.
// compiler compiles matchConditions (nil: the expressions are not compiled).
func validateModule(c *ModuleConfig, compiler cel.Compiler) field.ErrorList {
	var errs field.ErrorList
	var path *field.Path
	for i, r := range c.Rules {
		errs = append(errs, validateRule(&r, path.Child("rules").Index(i))...)
	}
	if c.NamespaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(c.NamespaceSelector, labelSelectorValidationOpts, path.Child("namespaceSelector"))...)
	}
	if c.ObjectSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(c.ObjectSelector, labelSelectorValidationOpts, path.Child("objectSelector"))...)
	}
	errs = append(errs, validateMatchConditions(c.MatchConditions, path.Child("matchConditions"), compiler)...)
	if p := c.MatchPolicy; p != nil && !supportedMatchPolicies.Has(*p) {
		errs = append(errs, field.NotSupported(path.Child("matchPolicy"), *p, sets.List(supportedMatchPolicies)))
	}
	if p := c.ReinvocationPolicy; p != nil {
		if !supportedReinvocationPolicy.Has(*p) {
			errs = append(errs, field.NotSupported(path.Child("reinvocationPolicy"), *p, sets.List(supportedReinvocationPolicy)))
		} else if *p == admissionregistrationv1.IfNeededReinvocationPolicy && !c.Mutating {
			errs = append(errs, field.Forbidden(path.Child("reinvocationPolicy"), "IfNeeded is only meaningful for a mutating module"))
		}
	}
	if s := c.SideEffects; s != nil && !supportedSideEffectClasses.Has(*s) {
		errs = append(errs, field.NotSupported(path.Child("sideEffects"), *s, sets.List(supportedSideEffectClasses)))
	}
	errs = append(errs, validateValidationActions(c.ValidationActions, path.Child("validationActions"))...)
	return errs
}

// validateRule checks a RuleWithOperations as the API server checks a
// webhook's rule: every list present and not empty, "*" alone in its list,
// known operations and scope, resources of the form resource, resource/sub,
// */sub, resource/* or */*.
func validateRule(r *admissionregistrationv1.RuleWithOperations, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Operations) == 0 {
		errs = append(errs, field.Required(path.Child("operations"), ""))
	}
	if len(r.Operations) > 1 && sets.New(r.Operations...).Has(admissionregistrationv1.OperationAll) {
		errs = append(errs, field.Invalid(path.Child("operations"), r.Operations, "if '*' is present, must not specify other operations"))
	}
	for i, op := range r.Operations {
		if !supportedOperations.Has(op) {
			errs = append(errs, field.NotSupported(path.Child("operations").Index(i), op, sets.List(supportedOperations)))
		}
	}
	errs = append(errs, validateNames(r.APIGroups, path.Child("apiGroups"), true)...)
	errs = append(errs, validateNames(r.APIVersions, path.Child("apiVersions"), false)...)
	errs = append(errs, validateResources(r.Resources, path.Child("resources"))...)
	if r.Scope != nil && !supportedScopes.Has(*r.Scope) {
		errs = append(errs, field.NotSupported(path.Child("scope"), *r.Scope, sets.List(supportedScopes)))
	}
	return errs
}

// validateNames checks apiGroups (emptyOK: "" is the core group) or
// apiVersions: required, "*" alone.
func validateNames(names []string, path *field.Path, emptyOK bool) field.ErrorList {
	var errs field.ErrorList
	if len(names) == 0 {
		errs = append(errs, field.Required(path, ""))
	}
	if len(names) > 1 && sets.New(names...).Has("*") {
		errs = append(errs, field.Invalid(path, names, "if '*' is present, must not specify other values"))
	}
	for i, n := range names {
		if n == "" && !emptyOK {
			errs = append(errs, field.Required(path.Index(i), ""))
		}
	}
	return errs
}

// validateResources checks rule resources: required; each "resource" or
// "resource/subresource" with "*" allowed on either side; "*" and "*/*"
// alone; "*/x" excludes "r/x" and "r/*" excludes "r/x".
func validateResources(resources []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(resources) == 0 {
		errs = append(errs, field.Required(path, ""))
	}
	withSub := map[string]bool{}   // resources named with "/*"
	anyParent := map[string]bool{} // subresources named with "*/"
	has := sets.New(resources...)
	for i, r := range resources {
		if r == "" {
			errs = append(errs, field.Required(path.Index(i), ""))
			continue
		}
		if r == "*/*" || r == "*" {
			continue
		}
		res, sub, ok := strings.Cut(r, "/")
		if ok && (res == "" || sub == "" || strings.Contains(sub, "/")) {
			errs = append(errs, field.Invalid(path.Index(i), r, "must be a resource, resource/subresource, */subresource or resource/*"))
			continue
		}
		if ok && sub == "*" {
			withSub[res] = true
		}
		if ok && res == "*" {
			anyParent[sub] = true
		}
	}
	if has.Has("*/*") && len(resources) > 1 {
		errs = append(errs, field.Invalid(path, resources, "if '*/*' is present, must not specify other resources"))
	}
	if has.Has("*") && len(resources) > 1 && !(len(resources) == 2 && has.Has("*/*")) {
		errs = append(errs, field.Invalid(path, resources, "if '*' is present, must not specify other resources without subresources"))
	}
	for i, r := range resources {
		res, sub, ok := strings.Cut(r, "/")
		if !ok || res == "*" || sub == "*" {
			continue
		}
		if withSub[res] {
			errs = append(errs, field.Invalid(path.Index(i), r, fmt.Sprintf("if '%s/*' is present, must not specify %s", res, r)))
		}
		if anyParent[sub] {
			errs = append(errs, field.Invalid(path.Index(i), r, fmt.Sprintf("if '*/%s' is present, must not specify %s", sub, r)))
		}
	}
	return errs
}

// validateMatchConditions checks matchConditions as for a webhook: at most
// 64, each with a unique qualified name and an expression that compiles to a
// boolean with the webhooks' CEL environment (object, oldObject, request,
// authorizer).
func validateMatchConditions(conditions []admissionregistrationv1.MatchCondition, path *field.Path, compiler cel.Compiler) field.ErrorList {
	var errs field.ErrorList
	if len(conditions) > maxMatchConditions {
		errs = append(errs, field.TooMany(path, len(conditions), maxMatchConditions))
	}
	names := sets.New[string]()
	for i, mc := range conditions {
		p := path.Index(i)
		switch {
		case mc.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case names.Has(mc.Name):
			errs = append(errs, field.Duplicate(p.Child("name"), mc.Name))
		default:
			for _, msg := range utilvalidation.IsQualifiedName(mc.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), mc.Name, msg))
			}
		}
		names.Insert(mc.Name)
		if strings.TrimSpace(mc.Expression) == "" {
			errs = append(errs, field.Required(p.Child("expression"), ""))
			continue
		}
		if compiler == nil {
			continue
		}
		res := compiler.CompileCELExpression(&matchconditions.MatchCondition{Name: mc.Name, Expression: mc.Expression},
			matchConditionCompileOptions, environment.NewExpressions)
		if res.Error != nil {
			errs = append(errs, field.Invalid(p.Child("expression"), mc.Expression, res.Error.Detail))
		}
	}
	return errs
}

// newMatchConditionCompiler is the compiler validateModule uses.
func newMatchConditionCompiler() cel.Compiler {
	return cel.NewCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
}

// setDefaults applies the admissionregistration/v1 webhook defaults to the
// matching fields the plugin owns: matchPolicy Equivalent, empty (match-all)
// selectors, rule scope "*", reinvocationPolicy Never (mutating modules),
// and sideEffects None: a module runs in a sandbox whose only way out is its
// answer, so it has no side effects unless the operator says otherwise
// (a v1 webhook has no default and must say). validationActions defaults to
// [Deny], as in a ValidatingAdmissionPolicyBinding. failurePolicy is the
// library's (it applies it) and comes defaulted.
func setDefaults(c *ModuleConfig) {
	if c.ValidationActions == nil {
		c.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}
	}
	if c.MatchPolicy == nil {
		p := admissionregistrationv1.Equivalent
		c.MatchPolicy = &p
	}
	if c.NamespaceSelector == nil {
		c.NamespaceSelector = &metav1.LabelSelector{}
	}
	if c.ObjectSelector == nil {
		c.ObjectSelector = &metav1.LabelSelector{}
	}
	if c.SideEffects == nil {
		s := admissionregistrationv1.SideEffectClassNone
		c.SideEffects = &s
	}
	for i := range c.Rules {
		if c.Rules[i].Scope == nil {
			s := admissionregistrationv1.AllScopes
			c.Rules[i].Scope = &s
		}
	}
	if c.Mutating && c.ReinvocationPolicy == nil {
		p := admissionregistrationv1.NeverReinvocationPolicy
		c.ReinvocationPolicy = &p
	}
}
