package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/shared/testutil"
)

const module = "github.com/tandemlb/tandem"

// pure are the packages of the pure core (docs/architecture.md, "Import
// rules"): they take events and time and return actions, and import no
// kernel library, not even through another package. director/vrrp is
// pure only in its machine files: see vrrpMachineFiles.
var pure = []string{
	"director/config",
	"director/pool",
	"director/reload",
	"backend/config",
	"backend/maintenance",
	"shared/hbproto",
}

// api is the control socket's API: it sits below director/app, which
// executes it, and director/cli, which calls it, and imports of the module
// only pure packages and shared/* (shared/ctlsock), so that the CLI's view
// of the daemon drags in none of the daemon.
var api = []string{"director/control"}

// vrrpMachineFiles are the files of director/vrrp that make its pure
// core: the RFC state machine, the sync-group coordinator, the codec and
// the instance configuration. They import no kernel library.
var vrrpMachineFiles = []string{"machine.go", "syncgroup.go", "codec.go", "config.go"}

// Exception vrrpOnePackage: director/vrrp is one package holding both the
// pure machine and the kernel driver (raw sockets, netlink, ARP). Pure
// packages may import it for its types (director/reload uses
// vrrp.InstanceConfig, vrrp.State, vrrp.VIP), and the kernel-free check does not follow the import
// through it; its machine files are checked one by one instead
// (TestVRRPMachineImports). The fix is to split the driver into a package
// of its own (director/vrrp/driver, say); then this exception goes.
const vrrpOnePackage = module + "/director/vrrp"

// kernelLibs are the import path prefixes of the libraries that talk to
// the kernel beyond files and ordinary sockets: netlink, network
// namespaces, nftables, IPVS, raw sockets and BPF.
var kernelLibs = []string{
	"github.com/vishvananda/",
	"github.com/mdlayher/",
	"github.com/moby/ipvs",
	"github.com/google/nftables",
	"golang.org/x/sys/unix",
	"golang.org/x/net/ipv4",
	"golang.org/x/net/ipv6",
	"golang.org/x/net/bpf",
	"golang.org/x/net/icmp",
}

func isKernelLib(path string) bool {
	for _, p := range kernelLibs {
		if path == strings.TrimSuffix(p, "/") || strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// pkg is what the tests read of `go list -json`.
type pkg struct {
	ImportPath   string
	Dir          string
	Standard     bool
	Imports      []string
	TestImports  []string
	XTestImports []string
	Module       *struct{ Path string }
	Error        *struct{ Err string }
}

// rel is path relative to the module ("director/app"), or "" outside it.
func rel(path string) string {
	if path == module {
		return "."
	}
	r, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	return r
}

// top is the first element of a module-relative path: director, backend,
// shared, e2e or packaging.
func top(r string) string {
	t, _, _ := strings.Cut(r, "/")
	return t
}

// layer ranks the wiring of a daemon: 3 for its cmd (main), 2 for its
// cli, 1 for its app, 0 for everything else (pure packages and edges).
// Imports go down the ranks only: cmd → cli → app → the rest.
func layer(r string) int {
	switch {
	case strings.HasPrefix(r, "director/cmd/"), strings.HasPrefix(r, "backend/cmd/"):
		return 3
	case r == "director/cli", r == "backend/cli":
		return 2
	case r == "director/app", r == "backend/app":
		return 1
	}
	return 0
}

var layerName = []string{"a pure package or an edge", "app", "cli", "cmd"}

// goList runs `go list -e -json args...` in the module root.
func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to read the packages: %v", err)
	}
	cmd := exec.Command(goBin, append([]string{"list", "-e", "-json"}, args...)...)
	cmd.Dir = testutil.ModuleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var pkgs []pkg
	d := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := d.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

var modulePkgs struct {
	all  []pkg          // the module's packages
	deps map[string]pkg // every package they depend on, and they, by path
}

// load reads the module's packages and all their dependencies once.
func load(t *testing.T) ([]pkg, map[string]pkg) {
	t.Helper()
	if modulePkgs.deps == nil {
		deps := map[string]pkg{}
		for _, p := range goList(t, "-deps", "./...") {
			deps[p.ImportPath] = p
		}
		var all []pkg
		for _, p := range deps {
			if rel(p.ImportPath) != "" {
				all = append(all, p)
			}
		}
		slices.SortFunc(all, func(a, b pkg) int { return strings.Compare(a.ImportPath, b.ImportPath) })
		modulePkgs.all, modulePkgs.deps = all, deps
	}
	for _, p := range modulePkgs.all {
		if p.Error != nil {
			t.Logf("%s: %s (its imports may be incomplete)", p.ImportPath, p.Error.Err)
		}
	}
	return modulePkgs.all, modulePkgs.deps
}

// imports is every import of p's code and tests, itself left out, sorted.
func imports(p pkg) []string {
	var all []string
	for _, s := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
		for _, q := range s {
			if q != p.ImportPath && !slices.Contains(all, q) {
				all = append(all, q)
			}
		}
	}
	slices.Sort(all)
	return all
}

// isTestOnly says whether q is imported by p's tests only.
func isTestOnly(p pkg, q string) bool { return !slices.Contains(p.Imports, q) }

// TestLayers: cmd → cli → app → pure packages and edges, never upwards;
// outside a daemon only e2e (anything) and packaging (the cli packages,
// for man pages and completions) import a daemon's wiring.
func TestLayers(t *testing.T) {
	all, _ := load(t)
	for _, p := range all {
		r := rel(p.ImportPath)
		for _, q := range imports(p) {
			rq := rel(q)
			if rq == "" || layer(rq) == 0 {
				continue
			}
			switch top(r) {
			case "e2e":
				continue
			case "packaging":
				if layer(rq) == 2 {
					continue
				}
			case "director", "backend":
				if layer(rq) < layer(r) {
					continue
				}
			}
			t.Errorf("%s imports %s: %s is %s, it may not import a daemon's %s", r, rq, r, kind(r), layerName[layer(rq)])
		}
	}
}

func kind(r string) string {
	switch top(r) {
	case "director", "backend":
		return layerName[layer(r)]
	}
	return "in " + top(r) + "/"
}

// TestPureAndAPIImportOnlyPure: the pure packages and the API import, of
// the module, only pure packages and shared/* (and director/vrrp, see
// vrrpOnePackage).
func TestPureAndAPIImportOnlyPure(t *testing.T) {
	_, deps := load(t)
	for _, r := range slices.Concat(pure, api) {
		p, ok := deps[module+"/"+r]
		if !ok {
			t.Errorf("%s does not exist: update archtest and docs/architecture.md", r)
			continue
		}
		for _, q := range p.Imports {
			rq := rel(q)
			if rq == "" || q == vrrpOnePackage || top(rq) == "shared" || slices.Contains(pure, rq) {
				continue
			}
			t.Errorf("%s imports %s: it may import, of the module, only pure packages and shared/*", r, rq)
		}
	}
}

// TestPureImportsNoKernelLibrary: the pure packages import no kernel
// library, directly or through any package (but see vrrpOnePackage).
func TestPureImportsNoKernelLibrary(t *testing.T) {
	_, deps := load(t)
	for _, r := range pure {
		path := module + "/" + r
		if _, ok := deps[path]; !ok {
			t.Errorf("pure package %s does not exist: update archtest and docs/architecture.md", r)
			continue
		}
		// Breadth first through the non-test imports, with the way each
		// package was reached for the message.
		via := map[string]string{path: ""}
		queue := []string{path}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			if cur == vrrpOnePackage {
				continue
			}
			for _, q := range deps[cur].Imports {
				if _, seen := via[q]; seen {
					continue
				}
				via[q] = cur
				if isKernelLib(q) {
					chain := []string{q}
					for c := cur; c != ""; c = via[c] {
						chain = append(chain, c)
					}
					slices.Reverse(chain)
					t.Errorf("pure package %s imports the kernel library %s: %s", r, q, strings.Join(chain, " → "))
					continue
				}
				queue = append(queue, q)
			}
		}
	}
}

// TestVRRPMachineImports: director/vrrp's machine files import no kernel
// library (the other half of vrrpOnePackage).
func TestVRRPMachineImports(t *testing.T) {
	dir := filepath.Join(testutil.ModuleRoot(t), "director", "vrrp")
	fset := token.NewFileSet()
	for _, name := range vrrpMachineFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Errorf("director/vrrp/%s: %v (renamed? update vrrpMachineFiles)", name, err)
			continue
		}
		for _, im := range f.Imports {
			q, _ := strconv.Unquote(im.Path.Value)
			if isKernelLib(q) || q == "syscall" || (rel(q) != "" && top(rel(q)) != "shared") {
				t.Errorf("director/vrrp/%s imports %s: the VRRP machine is pure", name, q)
			}
		}
	}
}

// TestSharedImportsNoDaemon: shared/* is below both daemons: it imports
// nothing of director/*, backend/*, e2e/* or packaging/*, tests included.
func TestSharedImportsNoDaemon(t *testing.T) {
	all, _ := load(t)
	for _, p := range all {
		r := rel(p.ImportPath)
		if top(r) != "shared" {
			continue
		}
		for _, q := range imports(p) {
			if rq := rel(q); rq != "" && top(rq) != "shared" {
				t.Errorf("%s imports %s: shared/* imports only shared/*", r, rq)
			}
		}
	}
}

// TestDaemonsApart: director/* and backend/* never import each other,
// tests included; what both need is in shared/*.
func TestDaemonsApart(t *testing.T) {
	all, _ := load(t)
	other := map[string]string{"director": "backend", "backend": "director"}
	for _, p := range all {
		r := rel(p.ImportPath)
		o, ok := other[top(r)]
		if !ok {
			continue
		}
		for _, q := range imports(p) {
			if rq := rel(q); rq != "" && top(rq) == o {
				t.Errorf("%s imports %s: director/* and backend/* share code only through shared/*", r, rq)
			}
		}
	}
}

// TestE2EOnlyInTests: the daemons' and shared code never import e2e/*;
// their netns tests may build their lab with e2e/netlab, and the
// packaging tests boot the VM with e2e/vm and e2e/vmtest.
func TestE2EOnlyInTests(t *testing.T) {
	all, _ := load(t)
	for _, p := range all {
		r := rel(p.ImportPath)
		if top(r) == "e2e" {
			continue
		}
		for _, q := range imports(p) {
			rq := rel(q)
			if top(rq) != "e2e" {
				continue
			}
			switch {
			case !isTestOnly(p, q):
				t.Errorf("%s imports %s outside its tests: only tests use the test-bed", r, rq)
			case top(r) == "packaging":
			case rq != "e2e/netlab":
				t.Errorf("%s's tests import %s: the daemons' tests use only e2e/netlab of e2e/*", r, rq)
			}
		}
	}
}

// TestArchitectureTableNamesEveryFolder: the table "Where each behaviour
// lives" of docs/architecture.md names every folder that holds Go code.
func TestArchitectureTableNamesEveryFolder(t *testing.T) {
	root := testutil.ModuleRoot(t)
	f, err := os.Open(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	code := regexp.MustCompile("`([^`]+)`")
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Where each behaviour lives"
			continue
		}
		if !in || !strings.HasPrefix(line, "| ") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range code.FindAllStringSubmatch(first, -1) {
			listed[strings.TrimSuffix(m[1], "/")] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(listed) == 0 {
		t.Fatal(`docs/architecture.md: no table under "## Where each behaviour lives"`)
	}
	all, _ := load(t)
	for _, p := range all {
		dir, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.ToSlash(dir)
		if !listed[dir] {
			t.Errorf("docs/architecture.md: the table \"Where each behaviour lives\" does not name `%s`", dir)
		}
	}
}
