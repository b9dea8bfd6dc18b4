package settings

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Error is one invalid value. Load joins one per bad variable, so the user
// fixes them all at once.
type Error struct {
	Env    string // the variable the value came from (an alias if that was used)
	Value  string // as given; "********" for secrets
	Reason string // what was expected
}

func (e *Error) Error() string {
	return e.Env + "=" + quoteValue(e.Value) + ": " + e.Reason
}

// quoteValue leaves numbers bare (PORT=70000) and quotes the rest
// (PORT="abc"), so empty values and stray spaces are visible.
func quoteValue(v string) string {
	if _, err := strconv.ParseFloat(v, 64); err == nil && strings.TrimSpace(v) == v {
		return v
	}
	return strconv.Quote(v)
}

const redacted = "********"

// Load reads every setting: its default, overridden by the first non-empty
// variable among Env and then Aliases. Empty variables count as unset, as an
// empty value cannot be a valid port, size or duration and the operator
// renders only the settings a user chose. lookup is usually os.LookupEnv.
//
// Invalid values are all reported in one error (errors.Join of *Error).
func Load(lookup func(string) (string, bool)) (Settings, error) {
	var (
		s       Settings
		errs    []error
		fromEnv = make(map[string]string) // Name -> variable the value came from
	)
	for i := range table {
		st := &table[i]
		env, raw := st.find(lookup)
		if env == "" {
			raw = st.Default
		} else {
			fromEnv[st.Name] = env
		}
		if raw == "" {
			continue
		}
		v, reason := st.parse(raw)
		if reason != "" {
			errs = append(errs, st.newError(cmp.Or(env, st.Env), raw, reason))
			continue
		}
		st.set(&s, v)
	}
	errs = append(errs, resolve(&s, fromEnv, lookup)...)
	if len(errs) > 0 {
		return Settings{}, errors.Join(errs...)
	}
	return s, nil
}

// Defaults returns the settings with no environment at all, for tests and
// tools that need a valid Settings to start from.
func Defaults() Settings {
	s, err := Load(func(string) (string, bool) { return "", false })
	if err != nil {
		panic("settings: defaults are invalid: " + err.Error())
	}
	return s
}

func (st *Setting) find(lookup func(string) (string, bool)) (env, raw string) {
	for _, name := range st.Envs() {
		if v, ok := lookup(name); ok && v != "" {
			return name, v
		}
	}
	return "", ""
}

func (st *Setting) newError(env, raw, reason string) *Error {
	if st.Secret {
		raw = redacted
	}
	return &Error{Env: env, Value: raw, Reason: reason}
}

// Check reports whether raw is a valid value for st, exactly as Load would
// judge it; the operator uses it to validate a spec before rendering it.
func (st Setting) Check(raw string) error {
	if raw == "" {
		return nil
	}
	if _, reason := st.parse(raw); reason != "" {
		return st.newError(st.Env, raw, reason)
	}
	return nil
}

// Value returns st's value in s, unredacted, written as the variable would
// be (so Load reads it back unchanged).
func (st Setting) Value(s Settings) string {
	v := reflect.ValueOf(s).FieldByIndex(st.fieldIndex())
	if st.Default == "" && v.IsZero() {
		return "" // unset optional (database port 0 is "no port", not port 0)
	}
	return st.format(v.Interface())
}

func (st *Setting) set(s *Settings, v any) {
	reflect.ValueOf(s).Elem().FieldByIndex(st.fieldIndex()).Set(reflect.ValueOf(v))
}

func (st *Setting) fieldIndex() []int {
	idx, ok := fieldIndexes()[st.Name]
	if !ok {
		panic("settings: no Settings field tagged " + st.Name)
	}
	return idx
}

// kindTypes is the Go type of the field each kind fills.
var kindTypes = map[Kind]reflect.Type{
	KindString:   reflect.TypeFor[string](),
	KindInt:      reflect.TypeFor[int](),
	KindFloat:    reflect.TypeFor[float64](),
	KindBool:     reflect.TypeFor[bool](),
	KindDuration: reflect.TypeFor[time.Duration](),
	KindSeconds:  reflect.TypeFor[time.Duration](),
	KindSize:     reflect.TypeFor[int64](),
	KindEnum:     reflect.TypeFor[string](),
	KindList:     reflect.TypeFor[[]string](),
}

// fieldIndexes maps each row Name to its Settings field. A row without a
// field, or of a kind that does not fit the field, is a programming error
// that the package tests catch, so it panics.
var fieldIndexes = sync.OnceValue(func() map[string][]int {
	leaves := make(map[string]reflect.StructField)
	walkLeaves(reflect.TypeFor[Settings](), "", nil, func(name string, f reflect.StructField) {
		leaves[name] = f
	})
	out := make(map[string][]int, len(table))
	for _, st := range table {
		f, ok := leaves[st.Name]
		if !ok {
			panic("settings: no Settings field tagged " + st.Name)
		}
		if want := kindTypes[st.Kind]; f.Type != want {
			panic(fmt.Sprintf("settings: %s is %s but kind %s needs %s", st.Name, f.Type, st.Kind, want))
		}
		out[st.Name] = f.Index
	}
	return out
})

// walkLeaves calls fn for every non-struct field (time.Duration counts as a
// leaf) with its dotted tag path and full index.
func walkLeaves(t reflect.Type, prefix string, index []int, fn func(name string, f reflect.StructField)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("setting")
		if tag == "" {
			panic("settings: field " + f.Name + " has no setting tag")
		}
		name := tag
		if prefix != "" {
			name = prefix + "." + tag
		}
		f.Index = append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct {
			walkLeaves(f.Type, name, f.Index, fn)
			continue
		}
		fn(name, f)
	}
}

// resolve derives what depends on other settings: the home directory and the
// database URL.
func resolve(s *Settings, fromEnv map[string]string, lookup func(string) (string, bool)) []error {
	s.Home = expandHome(s.Home, lookup)

	db := &s.Database
	db.ConnectionURL = strings.NewReplacer("${PREFECT_HOME}", s.Home, "$PREFECT_HOME", s.Home).Replace(db.ConnectionURL)
	if _, given := fromEnv["database.connection_url"]; !given {
		if err := buildDatabaseURL(db, fromEnv); err != nil {
			return []error{err}
		}
	}
	if err := substitutePassword(db, fromEnv); err != nil {
		return []error{err}
	}
	return nil
}

// buildDatabaseURL is Python's default_database_connection_url: the URL from
// its parts when a driver is set, else the SQLite default stays.
func buildDatabaseURL(db *DatabaseSettings, fromEnv map[string]string) error {
	// Python ignores the parts unless the driver is set, silently falling
	// back to SQLite; a host only makes sense for PostgreSQL, so assume it.
	if db.Driver == "" && db.Host != "" {
		db.Driver = "postgresql+asyncpg"
	}
	switch db.Driver {
	case "sqlite+aiosqlite":
		if db.Name != "" {
			db.ConnectionURL = db.Driver + ":///" + db.Name
		}
	case "postgresql+asyncpg":
		var missing []string
		for _, part := range []struct{ value, env string }{
			{db.Host, "PREFECT_SERVER_DATABASE_HOST"},
			{db.User, "PREFECT_SERVER_DATABASE_USER"},
			{db.Name, "PREFECT_SERVER_DATABASE_NAME"},
		} {
			if part.value == "" {
				missing = append(missing, part.env)
			}
		}
		if len(missing) > 0 {
			// Name the variable that asked for PostgreSQL.
			env, value := fromEnv["database.driver"], db.Driver
			if env == "" {
				env, value = fromEnv["database.host"], db.Host
			}
			return &Error{Env: env, Value: value,
				Reason: "building the database URL from parts also needs " + strings.Join(missing, ", ") +
					" (or set PREFECT_SERVER_DATABASE_CONNECTION_URL)"}
		}
		port := db.Port
		if port == 0 {
			port = 5432
		}
		u := url.URL{Scheme: db.Driver, Host: net.JoinHostPort(db.Host, strconv.Itoa(port)), Path: "/" + db.Name}
		if db.Password != "" {
			u.User = url.UserPassword(db.User, db.Password)
		} else {
			u.User = url.User(db.User)
		}
		db.ConnectionURL = u.String()
	}
	return nil
}

// substitutePassword fills ${PREFECT_SERVER_DATABASE_PASSWORD} (or the
// legacy ${PREFECT_API_DATABASE_PASSWORD}) in the URL, as Python does, so the
// URL can sit in plain configuration and the password in a Secret. Unlike
// Python it URL-escapes the password first, so a raw password from a Secret
// with '@', '/', '#' or '%' in it still makes a valid URL.
func substitutePassword(db *DatabaseSettings, fromEnv map[string]string) error {
	const current, legacy = "PREFECT_SERVER_DATABASE_PASSWORD", "PREFECT_API_DATABASE_PASSWORD"
	if !strings.Contains(db.ConnectionURL, current) && !strings.Contains(db.ConnectionURL, legacy) {
		return nil
	}
	if db.Password == "" {
		return &Error{Env: cmp.Or(fromEnv["database.connection_url"], "PREFECT_SERVER_DATABASE_CONNECTION_URL"),
			Value: redactURL(db.ConnectionURL), Reason: "refers to the database password, but " + current + " is not set"}
	}
	escaped := strings.TrimPrefix(url.UserPassword("", db.Password).String(), ":")
	db.ConnectionURL = strings.NewReplacer("${"+current+"}", escaped, "${"+legacy+"}", escaped).Replace(db.ConnectionURL)
	return nil
}

// expandHome resolves a leading ~ as Python's expanduser does. HOME comes
// through lookup first, so Load stays a function of its input.
func expandHome(path string, lookup func(string) (string, bool)) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	home, ok := lookup("HOME")
	if !ok || home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return path
		}
	}
	return strings.TrimSuffix(home, "/") + path[1:]
}
