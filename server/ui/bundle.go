package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

// placeholder is the base path Prefect builds both UIs with (their Vite
// `base`); the real serve base replaces it in the text files.
const placeholder = "/PREFECT_UI_SERVE_BASE_REPLACE_PLACEHOLDER"

// replaced are the extensions Prefect rewrites (server.py
// replace_placeholder_string_in_files); the rest are served as built.
var replaced = []string{".txt", ".html", ".css", ".js", ".json"}

// gzipMinSize is the minimum_size of the GZipMiddleware on Prefect's UI app.
// Prefect in fact compresses smaller files too, because its HTTP middleware
// streams every response and the minimum only applies to unstreamed ones;
// below 500 bytes gzip saves nothing, so we keep the intended minimum.
const gzipMinSize = 500

// bundle is one UI held in memory, the base path already written into it:
// built once at start, so a read-only image needs no writable copy (Prefect
// copies the bundle into PREFECT_UI_STATIC_DIRECTORY to rewrite it).
type bundle struct {
	base  string
	files map[string]*file // by path within the bundle, no leading slash
	dirs  map[string]bool  // "" is the root
}

// file is one asset, ready to serve.
type file struct {
	data    []byte
	modTime time.Time
	ctype   string
	etag    string
	// hashed assets never change under the same name (Vite's assets/
	// directory names every file by a hash of its content).
	hashed bool

	gzipOnce sync.Once
	gzipped  []byte
}

// loadBundle reads the bundle in dir, serving it at base.
func loadBundle(dir, base string) (*bundle, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	replacement := base
	if base == "/" {
		replacement = ""
	}
	b := &bundle{base: base, files: map[string]*file{}, dirs: map[string]bool{"": true}}
	fsys := os.DirFS(dir)
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." {
				b.dirs[p] = true
			}
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		info, err := fs.Stat(fsys, p)
		if err != nil {
			return err
		}
		if hasExt(p, replaced) {
			data = bytes.ReplaceAll(data, []byte(placeholder), []byte(replacement))
		}
		sum := sha256.Sum256(data)
		b.files[p] = &file{
			data:    data,
			modTime: info.ModTime(),
			ctype:   contentType(p),
			etag:    `"` + hex.EncodeToString(sum[:16]) + `"`,
			hashed:  strings.HasPrefix(p, "assets/"),
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if b.files["index.html"] == nil {
		return nil, errors.New("no index.html in " + dir)
	}
	return b, nil
}

func hasExt(p string, exts []string) bool {
	for _, e := range exts {
		if strings.HasSuffix(p, e) {
			return true
		}
	}
	return false
}

// contentTypes are the types Prefect's server sends for what the bundles
// hold (Python's mimetypes, charset added to text/* by Starlette), fixed
// here so they do not depend on the host's /etc/mime.types.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".txt":         "text/plain; charset=utf-8",
	".xml":         "application/xml",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/vnd.microsoft.icon",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".wasm":        "application/wasm",
}

func contentType(p string) string {
	if t, ok := contentTypes[path.Ext(p)]; ok {
		return t
	}
	return "application/octet-stream"
}

// noGzip are the types Starlette's GZipMiddleware leaves alone (already
// compressed); "/*" entries cover the whole top-level type.
var noGzip = []string{"application/gzip", "application/x-gzip", "application/zip", "audio/*", "font/woff", "font/woff2",
	"image/avif", "image/gif", "image/jpeg", "image/png", "image/webp", "text/event-stream", "video/*"}

// compressible reports whether a body of this type and size is worth gzip.
func compressible(ctype string, size int) bool {
	if size < gzipMinSize {
		return false
	}
	media, _, _ := strings.Cut(ctype, ";")
	major, _, _ := strings.Cut(media, "/")
	for _, t := range noGzip {
		if t == media || t == major+"/*" {
			return false
		}
	}
	return true
}

// acceptsGzip is Starlette's test: "gzip" anywhere in Accept-Encoding.
func acceptsGzip(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
}

// gzipData compresses once, on first demand, at Starlette's level 9: the
// largest bundle file is about 5 MB, too much to compress per request.
func (f *file) gzipData() []byte {
	f.gzipOnce.Do(func() { f.gzipped = gzipBytes(f.data) })
	return f.gzipped
}

func gzipBytes(data []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(data)                                    // a bytes.Buffer does not fail
	_ = zw.Close()
	return buf.Bytes()
}

// serve writes f as the response to r: conditional and range requests as
// http.ServeContent does them (Starlette's FileResponse does the same),
// gzip when the client takes it and the body is worth it.
//
// Cache-Control is ours: Prefect sends none, which leaves browsers to guess
// from Last-Modified. Hashed assets are immutable, so they are cached for a
// year; everything else (index.html above all, whose name never changes but
// which names the hashed assets of one Prefect version) is revalidated on
// every use, so a new version shows at once.
func (f *file) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	if f.hashed {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	data, etag := f.data, f.etag
	if compressible(f.ctype, len(f.data)) {
		h.Add("Vary", "Accept-Encoding")
		// Starlette does not compress ranges, and a HEAD has no body to.
		if acceptsGzip(r) && r.Method != http.MethodHead && r.Header.Get("Range") == "" {
			data = f.gzipData()
			etag = strings.TrimSuffix(f.etag, `"`) + `-gzip"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", f.modTime, bytes.NewReader(data))
}
