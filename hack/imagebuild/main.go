// Command imagebuild writes the prefectgo image that the repository's Dockerfile describes,
// from prebuilt static binaries, with no Docker engine and no registry (the e2e cluster
// imports the tarball with `ctr images import`). The distroless base cannot be pulled here,
// so the base layer holds what the binaries use of it: /etc/passwd and /etc/group with the
// nonroot user, the CA certificates (copied from the host), /tmp and the nonroot home.
// Time zones need no files: the server embeds time/tzdata. Prefect's web UIs come from the
// directory hack/ui-assets.sh prints, its block catalogue and collection views from the one
// hack/catalogue-assets.sh prints (the Dockerfile runs those scripts in stages of their own;
// here they have run before, so this builder downloads nothing).
//
//	imagebuild -bin bin -ui "$(hack/ui-assets.sh)" -catalogue "$(hack/catalogue-assets.sh)" \
//	    -tag localhost/prefectgo:e2e -o prefectgo.tar
//	imagebuild -pause bin/pause -tag localhost/pause:e2e -o pause.tar   # the pod sandbox image
//
// dockerfile_test.go keeps the image's entrypoint, command, user, ports, environment, binary
// paths, UI and catalogue directories equal to the Dockerfile's.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageSpec is what a Dockerfile's final stage says about the image.
type imageSpec struct {
	Entrypoint []string
	Cmd        []string
	User       string            // USER, as written
	Ports      []string          // EXPOSE, as written ("4200" means 4200/tcp)
	Binaries   map[string]string // path in the image -> file name in the -bin directory
	UI         string            // where the -ui directory's v1/ and v2/ go; "" for no UI
	Catalogue  string            // where the -catalogue directory's blocks.json and views/ go; "" for none
	WorkingDir string
	Env        []string // ENV, as written, after the base's
	Base       bool     // the distroless-like base layer
}

// baseEnv is the environment distroless static:nonroot sets.
var baseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
}

// prefectgo is the Dockerfile's final stage.
var prefectgo = imageSpec{
	Entrypoint: []string{"/prefect-server"},
	Cmd:        []string{"serve"},
	User:       "65532:65532",
	Ports:      []string{"4200"},
	Binaries:   map[string]string{"/manager": "manager", "/prefect-server": "prefect-server"},
	UI:         "/ui",
	Catalogue:  "/catalogue",
	WorkingDir: "/home/nonroot", // as distroless static:nonroot sets it
	Env:        []string{"PREFECT_SERVER_UI_STATIC_DIRECTORY=/ui", "PREFECT_SERVER_CATALOGUE_DIRECTORY=/catalogue"},
	Base:       true,
}

// pause is the pod sandbox image; 65535 is the user the usual pause image runs as.
var pause = imageSpec{
	Entrypoint: []string{"/pause"},
	User:       "65535:65535",
	Binaries:   map[string]string{"/pause": "pause"},
}

// worker runs the e2e's Prefect workers and flow-run Jobs: a tree with Debian's python and
// a venv of the pinned prefect at /opt/prefect (hack/worker-image.sh prepares it), and the
// e2e's flows. No Dockerfile describes it: users run Prefect's official images.
var worker = imageSpec{
	User:       "65532:65532",
	WorkingDir: "/opt/prefect",
	Env:        []string{"PATH=/opt/prefect/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONUNBUFFERED=1"},
	Base:       true,
}

// flowsDir is where the worker image holds the flows given with -flows.
const flowsDir = "/opt/prefect/flows"

const nonroot = 65532

// epoch stamps every file and the image itself, so the same binaries give the same image.
var epoch = time.Unix(0, 0).UTC()

func main() {
	binDir := flag.String("bin", "bin", "directory holding the static binaries manager and prefect-server")
	uiDir := flag.String("ui", "", "directory holding the web UIs as v1/ and v2/ (what hack/ui-assets.sh prints)")
	catalogueDir := flag.String("catalogue", "", "directory holding blocks.json and views/ (what hack/catalogue-assets.sh prints)")
	pauseBin := flag.String("pause", "", "build the pause image from this binary instead")
	tag := flag.String("tag", "localhost/prefectgo:e2e", "image name and tag")
	out := flag.String("o", "image.tar", "output tarball")
	caCerts := flag.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to copy into the image")
	rootfs := flag.String("rootfs", "", "build the worker image from this tree instead (what hack/worker-image.sh prepares)")
	flows := flag.String("flows", "", "with -rootfs: a directory of flow code for "+flowsDir)
	flag.Parse()

	spec, dir := prefectgo, *binDir
	if *rootfs != "" {
		spec = worker
	} else if *pauseBin != "" {
		spec, dir = pause, filepath.Dir(*pauseBin)
		spec.Binaries = map[string]string{"/pause": filepath.Base(*pauseBin)}
	} else if *uiDir == "" || *catalogueDir == "" {
		fmt.Fprintln(os.Stderr, "imagebuild: -ui and -catalogue are required: the directories hack/ui-assets.sh and hack/catalogue-assets.sh print")
		os.Exit(2)
	}
	in := inputs{bin: dir, ui: *uiDir, catalogue: *catalogueDir, caCerts: *caCerts, rootfs: *rootfs, flows: *flows}
	if err := build(spec, in, *tag, *out); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

// inputs are the files an image is made of, from the host.
type inputs struct {
	bin       string // the binaries
	ui        string // the UIs' v1/ and v2/
	catalogue string // blocks.json and views/
	caCerts   string // the CA bundle of the base layer
	rootfs    string // a whole tree, for an image without binaries
	flows     string // flow code for the worker image
}

func build(spec imageSpec, in inputs, tag, out string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	img, err := image(spec, in)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}

// image is spec as an image: the base layer (if any), the UIs and the catalogue (if any),
// then one layer with the binaries, which change most often.
func image(spec imageSpec, in inputs) (v1.Image, error) {
	var layers []v1.Layer
	env := slices.Clone(spec.Env)
	if spec.Base {
		base, err := baseLayer(in.caCerts)
		if err != nil {
			return nil, err
		}
		layers = append(layers, base)
		env = setEnv(baseEnv, spec.Env)
	}
	if spec.UI != "" {
		ui, err := treeLayer(in.ui, spec.UI, []string{"v1/index.html", "v2/index.html"}, "hack/ui-assets.sh")
		if err != nil {
			return nil, err
		}
		layers = append(layers, ui)
	}
	if spec.Catalogue != "" {
		cat, err := treeLayer(in.catalogue, spec.Catalogue, []string{"blocks.json", "views"}, "hack/catalogue-assets.sh")
		if err != nil {
			return nil, err
		}
		layers = append(layers, cat)
	}
	if in.rootfs != "" {
		tree, err := dirLayer(in.rootfs, "")
		if err != nil {
			return nil, err
		}
		layers = append(layers, tree)
		if in.flows != "" {
			fl, err := dirLayer(in.flows, flowsDir)
			if err != nil {
				return nil, err
			}
			layers = append(layers, fl)
		}
	} else {
		bins, err := binariesLayer(spec.Binaries, in.bin)
		if err != nil {
			return nil, err
		}
		layers = append(layers, bins)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: epoch}
	cf.Config.Entrypoint = slices.Clone(spec.Entrypoint)
	cf.Config.Cmd = slices.Clone(spec.Cmd)
	cf.Config.User = spec.User
	cf.Config.WorkingDir = spec.WorkingDir
	cf.Config.Env = env
	if len(spec.Ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.Ports {
			cf.Config.ExposedPorts[exposedPort(p)] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// setEnv is base with each of env set in turn, as ENV does: a name already there gets the
// new value in its place. (Appended, the worker image's config held two PATHs; containerd
// takes the last, but a config that says one thing twice misleads its readers.)
func setEnv(base, env []string) []string {
	out := slices.Clone(base)
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if i := slices.IndexFunc(out, func(o string) bool { return strings.HasPrefix(o, k+"=") }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// exposedPort is EXPOSE's port as the image config spells it: 4200 is 4200/tcp.
func exposedPort(p string) string {
	if strings.Contains(p, "/") {
		return p
	}
	return p + "/tcp"
}

// entry is one file, directory or symbolic link of a layer.
type entry struct {
	path     string
	mode     int64
	uid, gid int
	dir      bool
	link     string // the target of a symbolic link
	data     []byte
}

func baseLayer(caCerts string) (v1.Layer, error) {
	ca, err := os.ReadFile(caCerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates for the image: %w", err)
	}
	return layer([]entry{
		{path: "etc", mode: 0o755, dir: true},
		{path: "etc/passwd", mode: 0o644, data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{path: "etc/ssl", mode: 0o755, dir: true},
		{path: "etc/ssl/certs", mode: 0o755, dir: true},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{path: "home", mode: 0o755, dir: true},
		{path: "home/nonroot", mode: 0o700, uid: nonroot, gid: nonroot, dir: true},
		{path: "tmp", mode: 0o1777, dir: true},
	})
}

func binariesLayer(binaries map[string]string, dir string) (v1.Layer, error) {
	var entries []entry
	for _, dst := range slices.Sorted(maps.Keys(binaries)) {
		data, err := os.ReadFile(filepath.Join(dir, binaries[dst]))
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{path: dst[1:], mode: 0o755, data: data})
	}
	return layer(entries)
}

// treeLayer holds the top-level entries of dir that need names (a file, or a directory
// named by a file inside it: v1/index.html brings v1/), under dest, readable by the nonroot
// user and owned by root, so the server cannot change them. script is what makes dir.
func treeLayer(dir, dest string, need []string, script string) (v1.Layer, error) {
	dest = strings.TrimPrefix(dest, "/")
	entries := []entry{{path: dest, mode: 0o755, dir: true}}
	for _, n := range need {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return nil, fmt.Errorf("%s: %w (%s prints a complete directory)", n, err, script)
		}
		top, _, _ := strings.Cut(n, "/")
		if slices.ContainsFunc(entries, func(e entry) bool { return e.path == path.Join(dest, top) }) {
			continue
		}
		err := filepath.WalkDir(filepath.Join(dir, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			e := entry{path: path.Join(dest, filepath.ToSlash(rel)), mode: 0o644}
			if d.IsDir() {
				e.mode, e.dir = 0o755, true
			} else if e.data, err = os.ReadFile(p); err != nil {
				return err
			}
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return layer(entries)
}

// dirLayer holds the whole of dir under dest ("" for the root), owned by root, with its
// files' permission bits and its symbolic links as they are.
func dirLayer(dir, dest string) (v1.Layer, error) {
	dest = strings.TrimPrefix(dest, "/")
	var entries []entry
	for d := dest; d != "" && d != "."; d = path.Dir(d) {
		entries = append([]entry{{path: d, mode: 0o755, dir: true}}, entries...)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{path: path.Join(dest, filepath.ToSlash(rel)), mode: int64(info.Mode().Perm())}
		switch {
		case d.IsDir():
			e.dir = true
		case d.Type()&fs.ModeSymlink != 0:
			e.link, err = os.Readlink(p)
		case d.Type().IsRegular():
			e.data, err = os.ReadFile(p)
		default:
			return nil // no devices, sockets or pipes in an image
		}
		entries = append(entries, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return layer(entries)
}

// layer is entries as an uncompressed tar, in order. The compressed bytes are kept once made:
// otherwise the layer's digest and the tarball's copy each gzip it (the worker image's
// 380 MB tree took 8 s to write, 5.5 s with this).
func layer(entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, e.path+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithCompressedCaching)
}
