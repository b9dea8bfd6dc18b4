package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// finalStage is what the Dockerfile's last stage says about the image.
func finalStage(t *testing.T) imageSpec {
	t.Helper()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var spec imageSpec
	var lines []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			lines = nil // only the last stage counts
		}
		lines = append(lines, line)
	}
	jsonArray := func(s string) []string {
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("Dockerfile: %q is not in the JSON (exec) form: %v", s, err)
		}
		return v
	}
	for _, line := range lines {
		instr, args, _ := strings.Cut(line, " ")
		args = strings.TrimSpace(args)
		switch strings.ToUpper(instr) {
		case "ENTRYPOINT":
			spec.Entrypoint = jsonArray(args)
		case "CMD":
			spec.Cmd = jsonArray(args)
		case "USER":
			spec.User = args
		case "EXPOSE":
			spec.Ports = append(spec.Ports, strings.Fields(args)...)
		case "ENV":
			if !strings.Contains(args, "=") || strings.ContainsAny(args, " \t\"") {
				t.Fatalf("Dockerfile: ENV %q: imagebuild knows one unquoted key=value per ENV", args)
			}
			spec.Env = append(spec.Env, args)
		case "WORKDIR", "VOLUME", "RUN", "ADD":
			t.Errorf("Dockerfile's final stage has %s, which imagebuild does not know: teach it, then this test", instr)
		case "COPY":
			f := strings.Fields(args)
			if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") {
				t.Fatalf("Dockerfile: unexpected COPY %q", args)
			}
			switch strings.TrimPrefix(f[0], "--from=") {
			case "build":
				if spec.Binaries == nil {
					spec.Binaries = map[string]string{}
				}
				spec.Binaries[f[2]] = filepath.Base(f[1])
			case "ui":
				spec.UI = f[2]
			case "catalogue":
				spec.Catalogue = f[2]
			default:
				t.Fatalf("Dockerfile: COPY %q from a stage imagebuild does not know", args)
			}
		}
	}
	return spec
}

// TestImageMatchesDockerfile keeps the image imagebuild writes and the Dockerfile in step.
func TestImageMatchesDockerfile(t *testing.T) {
	want := finalStage(t)
	got := prefectgo
	if !reflect.DeepEqual(got.Entrypoint, want.Entrypoint) {
		t.Errorf("entrypoint: imagebuild %q, Dockerfile %q", got.Entrypoint, want.Entrypoint)
	}
	if !reflect.DeepEqual(got.Cmd, want.Cmd) {
		t.Errorf("cmd: imagebuild %q, Dockerfile %q", got.Cmd, want.Cmd)
	}
	if got.User != want.User {
		t.Errorf("user: imagebuild %q, Dockerfile %q", got.User, want.User)
	}
	if !reflect.DeepEqual(got.Ports, want.Ports) {
		t.Errorf("ports: imagebuild %q, Dockerfile %q", got.Ports, want.Ports)
	}
	if !reflect.DeepEqual(got.Binaries, want.Binaries) {
		t.Errorf("binaries: imagebuild %v, Dockerfile %v", got.Binaries, want.Binaries)
	}
	if got.UI != want.UI {
		t.Errorf("UI directory: imagebuild %q, Dockerfile %q", got.UI, want.UI)
	}
	if got.Catalogue != want.Catalogue {
		t.Errorf("catalogue directory: imagebuild %q, Dockerfile %q", got.Catalogue, want.Catalogue)
	}
	if !reflect.DeepEqual(got.Env, want.Env) {
		t.Errorf("env: imagebuild %q, Dockerfile %q", got.Env, want.Env)
	}
}

// TestPinsMatchMakefile: the Dockerfile fetches the UIs of the prefect the Makefile
// pins, as hack/ui-assets.sh does for imagebuild, and builds the binaries with the
// Makefile's GOEXPERIMENT, as hack/e2e.sh does for imagebuild.
func TestPinsMatchMakefile(t *testing.T) {
	pinned := func(file, prefix string) string {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("%s: no line starting %q", file, prefix)
		return ""
	}
	if d, m := pinned("../../Dockerfile", "ARG PREFECT_VERSION="), pinned("../../Makefile", "PREFECT_VERSION :="); d != m {
		t.Errorf("PREFECT_VERSION: Dockerfile %s, Makefile %s", d, m)
	}
	if d, m := pinned("../../Dockerfile", "ARG SERVER_GOEXPERIMENT="), pinned("../../Makefile", "SERVER_GOEXPERIMENT :="); d != m {
		t.Errorf("SERVER_GOEXPERIMENT: Dockerfile %s, Makefile %s", d, m)
	}
}

// TestBuild writes the image from stand-in binaries and reads the tarball back.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	for _, b := range prefectgo.Binaries {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!"+b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("CERTS"), 0o644); err != nil {
		t.Fatal(err)
	}
	ui := filepath.Join(dir, "ui")
	for _, f := range []string{"v1/index.html", "v2/index.html", "v2/assets/index-abc.js"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(ui, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ui, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	catalogue := filepath.Join(dir, "catalogue")
	for _, f := range []string{"blocks.json", "views/aggregate-worker-metadata.json", ".prefectgo-complete"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(catalogue, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(catalogue, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "image.tar")
	if err := build(prefectgo, inputs{bin: dir, ui: ui, catalogue: catalogue, caCerts: ca}, "localhost/prefectgo:test", out); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("localhost/prefectgo:test")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != "amd64" || !reflect.DeepEqual(c.Entrypoint, []string{"/prefect-server"}) ||
		!reflect.DeepEqual(c.Cmd, []string{"serve"}) || c.User != "65532:65532" || !slices.Equal(slices.Sorted(maps.Keys(c.ExposedPorts)), []string{"4200/tcp"}) {
		t.Errorf("config: %+v", cf)
	}

	files := map[string]*tar.Header{}
	contents := map[string]string{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
		b, _ := io.ReadAll(tr)
		contents[h.Name] = string(b)
	}
	for _, p := range []string{"manager", "prefect-server"} {
		if h := files[p]; h == nil || h.Mode != 0o755 || contents[p] != "#!"+p {
			t.Errorf("/%s: %+v %q", p, h, contents[p])
		}
	}
	if !strings.Contains(contents["etc/passwd"], "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd: %q", contents["etc/passwd"])
	}
	if contents["etc/ssl/certs/ca-certificates.crt"] != "CERTS" {
		t.Errorf("CA certificates not copied")
	}
	if h := files["home/nonroot"]; h == nil || h.Uid != nonroot {
		t.Errorf("/home/nonroot: %+v", h)
	}
	if h := files["tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("/tmp: %+v", h)
	}
	for _, f := range []string{"v1/index.html", "v2/index.html", "v2/assets/index-abc.js"} {
		if h := files["ui/"+f]; h == nil || h.Mode != 0o644 || h.Uid != 0 || contents["ui/"+f] != f {
			t.Errorf("/ui/%s: %+v %q", f, h, contents["ui/"+f])
		}
	}
	if h := files["ui/v2/assets"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("/ui/v2/assets: %+v", h)
	}
	for _, f := range []string{"blocks.json", "views/aggregate-worker-metadata.json"} {
		if h := files["catalogue/"+f]; h == nil || h.Mode != 0o644 || h.Uid != 0 || contents["catalogue/"+f] != f {
			t.Errorf("/catalogue/%s: %+v %q", f, h, contents["catalogue/"+f])
		}
	}
	if h := files["catalogue/.prefectgo-complete"]; h != nil {
		t.Errorf("the cache's stamp is not the image's: %+v", h)
	}
	if !slices.Contains(c.Env, "PREFECT_SERVER_UI_STATIC_DIRECTORY=/ui") || !slices.Contains(c.Env, "PREFECT_SERVER_CATALOGUE_DIRECTORY=/catalogue") ||
		!slices.Contains(c.Env, baseEnv[0]) {
		t.Errorf("env: %q", c.Env)
	}
}

// TestBuildWorker: the worker image is the tree as it is (modes, symbolic links) over the
// base layer, with the flows under /opt/prefect/flows, run as the nonroot user with the
// venv first on PATH.
func TestBuildWorker(t *testing.T) {
	dir := t.TempDir()
	write := func(p, data string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	rootfs, flows := filepath.Join(dir, "rootfs"), filepath.Join(dir, "flows")
	write(filepath.Join(rootfs, "usr/bin/python3.11"), "ELF", 0o755)
	write(filepath.Join(rootfs, "opt/prefect/bin/prefect"), "#!/opt/prefect/bin/python", 0o755)
	if err := os.Symlink("/usr/bin/python3.11", filepath.Join(rootfs, "opt/prefect/bin/python")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(flows, "e2e_flows.py"), "@flow", 0o644)
	ca := filepath.Join(dir, "ca.crt")
	write(ca, "CERTS", 0o644)

	out := filepath.Join(dir, "worker.tar")
	if err := build(worker, inputs{rootfs: rootfs, flows: flows, caCerts: ca}, "localhost/prefect-worker:test", out); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("localhost/prefect-worker:test")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if c := cf.Config; c.User != "65532:65532" || c.WorkingDir != "/opt/prefect" || len(c.Entrypoint) != 0 {
		t.Errorf("config: %+v", c)
	}
	var paths []string
	for _, e := range cf.Config.Env {
		if strings.HasPrefix(e, "PATH=") {
			paths = append(paths, e)
		}
	}
	if len(paths) != 1 || !strings.HasPrefix(paths[0], "PATH=/opt/prefect/bin:") || !slices.Contains(cf.Config.Env, baseEnv[1]) {
		t.Errorf("env: one PATH with the venv first, and the base's CA bundle: %q", cf.Config.Env)
	}
	files := map[string]*tar.Header{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
	}
	if h := files["opt/prefect/bin/python"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/usr/bin/python3.11" {
		t.Errorf("the venv's python link: %+v", h)
	}
	for p, mode := range map[string]int64{"usr/bin/python3.11": 0o755, "opt/prefect/bin/prefect": 0o755, "opt/prefect/flows/e2e_flows.py": 0o644} {
		if h := files[p]; h == nil || h.Mode != mode || h.Uid != 0 {
			t.Errorf("/%s: %+v", p, h)
		}
	}
	if h := files["tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("/tmp, from the base layer: %+v", h)
	}
}
