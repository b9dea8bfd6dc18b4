// Command imagebuild writes the prefectgo image that the repository's Dockerfile describes,
// from prebuilt static binaries, with no Docker engine and no registry (the e2e cluster
// imports the tarball with `ctr images import`). The distroless base cannot be pulled here,
// so the base layer holds what the binaries use of it: /etc/passwd and /etc/group with the
// nonroot user, the CA certificates (copied from the host), /tmp and the nonroot home.
// Time zones need no files: the server embeds time/tzdata.
//
//	imagebuild -bin bin -tag localhost/prefectgo:e2e -o prefectgo.tar   # bin/manager, bin/prefect-server
//	imagebuild -pause bin/pause -tag localhost/pause:e2e -o pause.tar   # the pod sandbox image
//
// dockerfile_test.go keeps the image's entrypoint, command, user, ports and binary paths
// equal to the Dockerfile's.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
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
	WorkingDir string
	Env        []string
	Base       bool // the distroless-like base layer
}

// prefectgo is the Dockerfile's final stage.
var prefectgo = imageSpec{
	Entrypoint: []string{"/prefect-server"},
	Cmd:        []string{"serve"},
	User:       "65532:65532",
	Ports:      []string{"4200"},
	Binaries:   map[string]string{"/manager": "manager", "/prefect-server": "prefect-server"},
	// As distroless static:nonroot sets them.
	WorkingDir: "/home/nonroot",
	Env: []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
	},
	Base: true,
}

// pause is the pod sandbox image; 65535 is the user the usual pause image runs as.
var pause = imageSpec{
	Entrypoint: []string{"/pause"},
	User:       "65535:65535",
	Binaries:   map[string]string{"/pause": "pause"},
}

const nonroot = 65532

// epoch stamps every file and the image itself, so the same binaries give the same image.
var epoch = time.Unix(0, 0).UTC()

func main() {
	binDir := flag.String("bin", "bin", "directory holding the static binaries manager and prefect-server")
	pauseBin := flag.String("pause", "", "build the pause image from this binary instead")
	tag := flag.String("tag", "localhost/prefectgo:e2e", "image name and tag")
	out := flag.String("o", "image.tar", "output tarball")
	caCerts := flag.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to copy into the image")
	flag.Parse()

	spec, dir := prefectgo, *binDir
	if *pauseBin != "" {
		spec, dir = pause, filepath.Dir(*pauseBin)
		spec.Binaries = map[string]string{"/pause": filepath.Base(*pauseBin)}
	}
	if err := build(spec, dir, *caCerts, *tag, *out); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func build(spec imageSpec, binDir, caCerts, tag, out string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	img, err := image(spec, binDir, caCerts)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}

// image is spec as an image: the base layer (if any), then one layer with the binaries.
func image(spec imageSpec, binDir, caCerts string) (v1.Image, error) {
	var layers []v1.Layer
	if spec.Base {
		base, err := baseLayer(caCerts)
		if err != nil {
			return nil, err
		}
		layers = append(layers, base)
	}
	bins, err := binariesLayer(spec.Binaries, binDir)
	if err != nil {
		return nil, err
	}
	layers = append(layers, bins)
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
	cf.Config.Env = slices.Clone(spec.Env)
	if len(spec.Ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.Ports {
			cf.Config.ExposedPorts[exposedPort(p)] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// exposedPort is EXPOSE's port as the image config spells it: 4200 is 4200/tcp.
func exposedPort(p string) string {
	if strings.Contains(p, "/") {
		return p
	}
	return p + "/tcp"
}

// entry is one file or directory of a layer.
type entry struct {
	path     string
	mode     int64
	uid, gid int
	dir      bool
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

// layer is entries as an uncompressed tar, in order.
func layer(entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: epoch, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.path+"/"
		} else {
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
	})
}
