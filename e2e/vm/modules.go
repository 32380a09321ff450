package vm

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// modDep is a parsed modules.dep: module path (relative to the modules
// directory) to its direct and indirect dependencies' paths.
type modDep map[string][]string

// parseModulesDep reads a modules.dep file.
func parseModulesDep(r io.Reader) (modDep, error) {
	deps := modDep{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep:%d: no colon in %q", n, line)
		}
		deps[mod] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return deps, nil
}

// moduleName returns the kernel's name for a module path:
// "kernel/net/9p/9pnet_virtio.ko" -> "9pnet_virtio".
func moduleName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// loadOrder returns the paths of the named modules and everything they
// depend on, each after its dependencies, without duplicates. Names listed
// in builtin (module names) are skipped; an unknown name is an error.
func (d modDep) loadOrder(names []string, builtin map[string]bool) ([]string, error) {
	byName := map[string]string{}
	for p := range d {
		byName[moduleName(p)] = p
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(p string) error
	visit = func(p string) error {
		switch state[p] {
		case 1:
			return fmt.Errorf("module dependency cycle at %s", p)
		case 2:
			return nil
		}
		state[p] = 1
		deps, ok := d[p]
		if !ok {
			return fmt.Errorf("module %s is not in modules.dep", p)
		}
		for _, dep := range deps {
			if err := visit(dep); err != nil {
				return err
			}
		}
		state[p] = 2
		order = append(order, p)
		return nil
	}
	for _, n := range names {
		n = strings.ReplaceAll(n, "-", "_")
		if builtin[n] {
			continue
		}
		p, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("module %s: neither in modules.dep nor built in", n)
		}
		if err := visit(p); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// parseBuiltin reads modules.builtin into a set of module names.
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			set[moduleName(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return set, nil
}
