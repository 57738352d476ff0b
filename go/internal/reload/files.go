package reload

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// moduleList is the part of kubewasm_modules' document that names files.
type moduleList struct {
	Modules []struct {
		Module string `json:"module"`
	} `json:"modules"`
}

// ModuleFiles returns the resolved paths of the module files a handle loaded
// (the "module" of every entry of kubewasm_modules' document), to be
// watched.
func ModuleFiles(h interface {
	Modules(decode binding.DecodeFunc) error
}) ([]string, error) {
	var l moduleList
	if err := h.Modules(func(out []byte) error { return json.Unmarshal(out, &l) }); err != nil {
		return nil, err
	}
	files := make([]string, 0, len(l.Modules))
	for _, m := range l.Modules {
		if m.Module != "" {
			files = append(files, m.Module)
		}
	}
	return files, nil
}

// LoadFile reads the configuration file at path and loads it for kind
// (relative module paths resolve against the file's directory): parse,
// module load and compile, settings validation. It returns the handle and
// the files it was built from (path and the module files). The error names
// the file.
func LoadFile(kind binding.Kind, path string) (*binding.Handle, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s configuration: %w", kind, err)
	}
	h, err := binding.Init(kind, data, filepath.Dir(path))
	if err != nil {
		return nil, nil, fmt.Errorf("%s configuration %s: %w", kind, path, err)
	}
	files, err := ModuleFiles(h)
	if err != nil {
		_ = h.Close()
		return nil, nil, fmt.Errorf("%s configuration %s: reading module list: %w", kind, path, err)
	}
	return h, append([]string{path}, files...), nil
}
