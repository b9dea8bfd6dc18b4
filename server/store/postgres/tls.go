package postgres

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLS is client TLS to PostgreSQL as Prefect's settings describe it
// (PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_*): the server's
// certificate is always verified, against CAFile when set (instead of the
// system's roots, as Python's create_default_context(cafile=...) does), its
// host name only when CheckHostname; CertFile and KeyFile, when both are
// set, are the client's certificate.
type TLS struct {
	Enabled       bool
	CAFile        string
	CertFile      string
	KeyFile       string
	CheckHostname bool
}

// config is the tls.Config of a connection to host, or nil when TLS is off
// (the URL's sslmode then decides).
func (t TLS) config(host string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("database TLS CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("database TLS CA file %s: no PEM certificate in it", t.CAFile)
		}
	}
	if t.CertFile != "" && t.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("database TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if !t.CheckHostname {
		// Go verifies the name with the chain; to verify the chain alone, its
		// own verification is replaced by one without the name.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the database server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg, nil
}
