package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// validator is a request body that checks itself and fills its defaults.
type validator interface{ Validate() error }

// none is the request type of endpoints without a body.
type none struct{}

// endpoint adapts a typed function to an http.Handler: it decodes the JSON
// body into Req (an absent or null body is {} for an embedded multi-parameter
// body and a 422 for any other), validates it when Req knows how, calls fn,
// and writes the response or the error in Prefect's shape.
// Every endpoint goes through here, so the plumbing is written once.
func endpoint[Req any](a *API, fn func(r *http.Request, req *Req) (response, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := new(Req)
		if _, isNone := any(req).(*none); !isNone {
			if err := decodeBody(r, req); err != nil {
				writeError(w, r, a.log, err)
				return
			}
		}
		res, err := fn(r, req)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		if res.Status == http.StatusNoContent {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if err := writeJSON(w, res.Status, res.Body); err != nil {
			a.log.Error("response not sent", "method", r.Method, "path", r.URL.Path, "error", err)
		}
	})
}

// decodeBody reads and decodes the request body into dst, turning every
// failure into the status a client should see: 413 past the size limit,
// 422 for malformed JSON, wrong types, a key the body's type forbids, a
// missing required body or failed validation.
func decodeBody(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return tooLarge(tooBig.Limit)
		}
		return detail(http.StatusBadRequest, "could not read the request body: "+err.Error())
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || string(trimmed) == "null" {
		if !schema.IsEmbedded(dst) {
			// A single model or list is a required body in FastAPI.
			return invalid([]string{"body"}, "Field required", "missing", nil)
		}
	} else {
		if err := json.Unmarshal(body, dst); err != nil {
			return decodeError(err, dst, body)
		}
		if loc := schema.UnknownKey(dst, body); loc != nil {
			return invalid(append([]string{"body"}, loc...), "Extra inputs are not permitted", "extra_forbidden", body)
		}
	}
	if v, ok := dst.(validator); ok {
		if err := v.Validate(); err != nil {
			var verr *schema.ValidationError
			if errors.As(err, &verr) {
				return invalid(append([]string{"body"}, splitLoc(verr.Loc)...), verr.Msg, "value_error", body)
			}
			return err
		}
	}
	return nil
}

func tooLarge(limit int64) error {
	return detail(http.StatusRequestEntityTooLarge,
		"Request body is larger than the limit of "+strconv.FormatInt(limit, 10)+" bytes (PREFECT_SERVER_API_MAX_BODY_SIZE).")
}

// decodeError says where the JSON decoded into dst went wrong, in
// pydantic's terms.
func decodeError(err error, dst any, body []byte) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		loc := append([]string{"body"}, schema.DecodeErrorPath(dst, body)...)
		if dt, ok := schema.DateTimeDecodeError(typeErr); ok {
			return invalid(loc, dt.Msg, dt.Type, body)
		}
		return invalid(loc, "Input should be a valid "+jsonKind(typeErr.Type.Kind().String())+", got JSON "+typeErr.Value, "type_error", body)
	case errors.As(err, &syntaxErr):
		return invalid([]string{"body", strconv.FormatInt(syntaxErr.Offset, 10)}, "JSON decode error: "+syntaxErr.Error(), "json_invalid", body)
	}
	return invalid([]string{"body"}, err.Error(), "value_error", body)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64", "int32", "float64", "float32":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "list"
	case "map", "struct":
		return "dictionary"
	case "ptr":
		return "value"
	}
	return goKind
}

// pathID parses the {name} path value as a UUID (422 when it is not one).
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	raw := r.PathValue(name)
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, invalid([]string{"path", name}, "Input should be a valid UUID, got "+strconv.Quote(raw), "uuid_parsing", nil)
	}
	return id, nil
}

// checkPage applies PREFECT_SERVER_API_DEFAULT_LIMIT: the default and the
// maximum of limit. Negative limits and offsets are rejected: the offset as
// pydantic does (Body(0, ge=0)), the limit with the HTTPException bodies of
// Prefect's LimitBody dependency.
func (a *API) checkPage(p *schema.Page) error {
	max := a.settings.API.DefaultLimit
	if p.Offset < 0 {
		return invalid([]string{"body", "offset"}, "Input should be greater than or equal to 0", "greater_than_equal", nil)
	}
	if p.Limit == nil {
		p.Limit = &max
		return nil
	}
	if *p.Limit < 0 {
		return detail(http.StatusUnprocessableEntity, "Invalid limit: must be greater than or equal to 0.")
	}
	if *p.Limit > max {
		return detail(http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to "+strconv.Itoa(max)+".")
	}
	return nil
}

// pageWindow checks the page (from 1, the default) and limit of a
// paginated body and sets p's offset to the page's first row. A sent offset
// is ignored: Prefect's paginated routes take none.
func (a *API) pageWindow(p *schema.Page, pageNumber *int) (page int, err error) {
	p.Offset = 0
	if err := a.checkPage(p); err != nil {
		return 0, err
	}
	page = 1
	if pageNumber != nil {
		page = *pageNumber
	}
	if page < 1 {
		return 0, invalid([]string{"body", "page"}, "Input should be greater than or equal to 1", "greater_than_equal", nil)
	}
	limit := *p.Limit
	p.Offset = (page - 1) * limit
	if limit > 0 && page-1 > math.MaxInt/limit {
		// Past any table: an empty page, not an overflowed offset.
		p.Offset = math.MaxInt
	}
	return page, nil
}

// paginate answers a /paginate route as Prefect does: the page (from 1, the
// default) of limit results, which list reads with p's offset set from it,
// and the count of everything under the same filters. Prefect's paginate
// routes take no offset, so one sent is ignored.
func paginate[T any](a *API, p *schema.Page, pageNumber *int, list func() ([]T, error), count func() (int, error)) (response, error) {
	page, err := a.pageWindow(p, pageNumber)
	if err != nil {
		return response{}, err
	}
	limit := *p.Limit
	results, err := list()
	if err != nil {
		return response{}, err
	}
	n, err := count()
	if err != nil {
		return response{}, err
	}
	return ok(schema.Pagination[T]{Results: results, Count: n, Limit: limit, Pages: pagesOf(n, limit), Page: page}), nil
}
