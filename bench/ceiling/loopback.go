package ceiling

import (
	"net"
	"net/http"
)

// Loopback serves a constant JSON answer on 127.0.0.1: the most a server
// could answer over this machine's loopback with Go's net/http. It returns
// the base URL and a function that stops it.
func Loopback() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	body := []byte(`{"status":"ACCEPT"}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}
