// Command kubewasm runs kubewasm configurations offline, through the same Go
// code kube-apiserver uses: it validates configurations and answers
// TokenReviews, SubjectAccessReviews and AdmissionReviews read from a file or
// stdin. Run "kubewasm help" for usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

const usage = `kubewasm runs kubewasm WebAssembly modules offline, exactly as the patched
kube-apiserver would (same Go code, same library), for module authors and operators.

Usage:
  kubewasm check --kind KIND FILE
      Validate a configuration file and load (compile) all its modules.
      KIND is authentication, authorization or admission. Exit status 1 lists
      every problem found.

  kubewasm compile [-o DIR] MODULE.wasm...
      Compile modules ahead of time into MODULE.cwasm next to each (in DIR
      with -o). When a valid MODULE.cwasm sits next to a configured
      MODULE.wasm, kube-apiserver and "kubewasm check" map it instead of
      compiling: start-up takes milliseconds instead of seconds. A .cwasm is
      valid only for the module it was compiled from and for this build of
      the library on this CPU; any other is ignored with a warning. Protect
      .cwasm files like the .wasm files: they are executable code.

  kubewasm authenticate --config FILE [REQUEST]
      Read a TokenReview (JSON or YAML) from REQUEST or stdin, authenticate
      spec.token with the modules and print the TokenReview with its status
      filled in as the API server would decide it.

  kubewasm authorize --config FILE [REQUEST]
      Read a SubjectAccessReview, authorize it and print it with its status
      (allowed, denied, reason, evaluationError) filled in.

  kubewasm admit --config FILE [REQUEST]
      Read an AdmissionReview (request filled in), run the mutating phase and
      then the validating phase and print the AdmissionReview with its
      response: allowed, status of a rejection, the combined JSONPatch of the
      mutating modules (base64 in response.patch, as on the wire), warnings
      and audit annotations. A summary of which modules matched in each phase
      and what they did is printed on stderr. REQUEST may also be a bare
      AdmissionRequest (as Kubewarden policies' test_data for kwctl run);
      objects lacking kind/apiVersion get them from request.kind, and an
      empty request.resource is guessed from the kind.

  kubewasm test [-v] [--run REGEXP] SUITE.yaml...
      Run test suites: each names a configuration and cases (a request, the
      step to run it through, the expected answer: allowed or denied,
      message, code, patch or patched object, warnings...). Prints PASS or
      FAIL per case, with the difference on failure, then a summary. Exit
      status 0 when every case passed, 1 when one failed, 2 when a suite is
      invalid (the error names the file, the case and the field). The suite
      format is in docs/testing.md.

  kubewasm version
      Print the C ABI version and the digest of the linked library.

The request commands exit 0 when they ran, whatever the decision; 1 on an
error (bad configuration, unreadable request); 2 on bad usage.

Common flags of the request commands:
  -o, --output json|yaml   output format (default json)
  -v, --verbose            also print the library's log lines (klog) on stderr
  --settings-json JSON     replace the settings of the configuration's only
                           module (an error when it has several), as
                           kwctl run --settings-json
  --settings-path FILE     the same, read from a JSON or YAML file
  --namespace-labels k=v,.. (admit) labels of the request's namespace, for
                           namespaceSelector; kubernetes.io/metadata.name is
                           always set

Examples:
  kubewasm check --kind admission admission.yaml
  echo '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"magic-token"}}' |
      kubewasm authenticate --config authn.yaml
  kubewasm authorize --config authz.yaml sar.yaml
  kubewasm admit --config admission.yaml -o yaml configmap-review.json
  kubewasm admit --config policy.yaml --settings-json '{"mandatory_annotations":["owner"]}' test_data/pod.json
  kubewasm test examples/tests/*.yaml

Configuration files are the ones given to kube-apiserver
(--authentication-wasm-config-file, --authorization-wasm-config-file, and the
WASM plugin's configuration in --admission-control-config-file); relative
module paths resolve against the configuration file's directory.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage marks errors that exit with status 2.
var errUsage = errors.New("usage")

// run is main without the process: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version":
		fmt.Fprintf(stdout, "kubewasm CLI: C ABI %d, library sha256 %s\n", binding.ABIVersion, binding.LibraryDigest)
		if err := binding.Available(); err != nil {
			fmt.Fprintln(stdout, err)
			return 1
		}
		return 0
	case "check":
		err = runCheck(args[1:], stdout, stderr)
	case "compile":
		err = runCompile(args[1:], stdout, stderr)
	case "authenticate":
		err = runRequest(args[0], args[1:], stdin, stdout, stderr, authenticate)
	case "authorize":
		err = runRequest(args[0], args[1:], stdin, stdout, stderr, authorize)
	case "admit":
		err = runRequest(args[0], args[1:], stdin, stdout, stderr, admit)
	case "test":
		return runTest(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "kubewasm: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "kubewasm %s: %v\nRun 'kubewasm help' for usage.\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "kubewasm %s: %v\n", args[0], err)
		return 1
	}
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "", "configuration kind: authentication, authorization or admission (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kubewasm check --kind KIND FILE\n\nValidate a configuration and load its modules.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(interleave(args, fs)); err != nil {
		return err
	}
	if fs.NArg() != 1 || *kind == "" {
		return fmt.Errorf("%w: want --kind KIND and exactly one FILE", errUsage)
	}
	// The load-time notes are printed below; klog would repeat them.
	setupLogging(false, stderr)
	names, notes, err := check(*kind, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid %s configuration, %d module(s) loaded", fs.Arg(0), *kind, len(names))
	if len(names) > 0 {
		fmt.Fprintf(stdout, ": %s", strings.Join(names, ", "))
	}
	fmt.Fprintln(stdout)
	printNotes(stdout, notes)
	return nil
}

// handler answers one request document (JSON) and returns the document to
// print.
type handler func(ctx context.Context, cfg configSource, request []byte, stderr io.Writer) (interface{}, error)

func runRequest(name string, args []string, stdin io.Reader, stdout, stderr io.Writer, h handler) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "configuration file (required)")
	output := fs.String("output", "json", "output format: json or yaml")
	fs.StringVar(output, "o", "json", "shorthand for --output")
	verbose := fs.Bool("verbose", false, "print the library's log lines on stderr")
	fs.BoolVar(verbose, "v", false, "shorthand for --verbose")
	settingsJSON := fs.String("settings-json", "", "settings (JSON or YAML) replacing those of the configuration's only module")
	settingsPath := fs.String("settings-path", "", "file of settings (JSON or YAML) replacing those of the configuration's only module")
	namespaceLabels := namespaceLabelsFlag{}
	if name == "admit" {
		fs.Var(namespaceLabels, "namespace-labels", "labels of the request's namespace for namespaceSelector, as k=v,k2=v2 (it always has kubernetes.io/metadata.name=<name>)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kubewasm %s --config FILE [REQUEST]\n\nREQUEST is a file (JSON or YAML); without it the request is read from stdin.\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(interleave(args, fs)); err != nil {
		return err
	}
	if *config == "" || fs.NArg() > 1 {
		return fmt.Errorf("%w: want --config FILE and at most one REQUEST", errUsage)
	}
	if *output != "json" && *output != "yaml" {
		return fmt.Errorf("%w: --output must be json or yaml", errUsage)
	}
	settings, err := readSettings(*settingsJSON, *settingsPath)
	if err != nil {
		return err
	}
	setupLogging(*verbose, stderr)
	var in []byte
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		in, err = os.ReadFile(fs.Arg(0))
	} else {
		in, err = io.ReadAll(stdin)
	}
	if err != nil {
		return fmt.Errorf("reading request: %w", err)
	}
	js, err := yaml.YAMLToJSON(in)
	if err != nil {
		return fmt.Errorf("request is neither JSON nor YAML: %w", err)
	}
	doc, err := h(context.Background(), configSource{path: *config, settings: settings, namespaceLabels: namespaceLabels}, js, stderr)
	if err != nil {
		return err
	}
	return write(stdout, doc, *output)
}

func write(w io.Writer, doc interface{}, format string) error {
	var out []byte
	var err error
	if format == "yaml" {
		out, err = yaml.Marshal(doc)
	} else {
		out, err = jsonIndent(doc)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// interleave moves flags after positional arguments to the front, so that
// "kubewasm admit --config c.yaml req.json -o yaml" works as users expect.
func interleave(args []string, fs *flag.FlagSet) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
					continue
				}
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}
