package ui

import "strings"

// The URL arithmetic of Prefect's UI app (server.py: _normalize_ui_base_url
// and the helpers after it), so bases and redirects come out as Prefect's.

// normalizeBase makes a configured base a path: a leading slash, no
// trailing one, "/" for empty.
func normalizeBase(base string) string {
	if !strings.HasPrefix(base, "/") {
		base = "/" + base
	}
	if base != "/" {
		base = strings.TrimRight(base, "/")
	}
	if base == "" {
		return "/"
	}
	return base
}

// joinPath appends one path segment to a base.
func joinPath(base, suffix string) string {
	base, suffix = normalizeBase(base), "/"+strings.TrimLeft(suffix, "/")
	if base == "/" {
		return suffix
	}
	return base + suffix
}

// resolveBases gives the V1 and V2 bases of a configured serve base: the
// V2 UI lives at <base>/v2, and a base already ending in /v2 names it.
func resolveBases(configured string) (v1Base, v2Base string) {
	base := normalizeBase(configured)
	switch {
	case base == "/v2":
		return "/", base
	case strings.HasSuffix(base, "/v2"):
		return normalizeBase(strings.TrimSuffix(base, "/v2")), base
	}
	return base, joinPath(base, "v2")
}

// under reports whether path falls within the UI served at base.
func under(path, base string) bool {
	if base == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == base || strings.HasPrefix(path, base+"/")
}

// relative is path within the UI at base, "/" for the base itself.
func relative(path, base string) string {
	if base != "/" {
		path = strings.TrimPrefix(path, base)
	}
	if path == "" {
		return "/"
	}
	return path
}

// buildPath is the inverse of relative. A base's root keeps its trailing
// slash, so the target is inside the bundle (/v2/, not /v2).
func buildPath(base, rel string) string {
	base = normalizeBase(base)
	if !strings.HasPrefix(rel, "/") {
		rel = "/" + rel
	}
	switch {
	case base == "/":
		return rel
	case rel == "/":
		return base + "/"
	}
	return base + rel
}
