package postgres

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestTLS connects to a PostgreSQL of its own that takes only TLS connections with a client
// certificate, signed by a CA the test makes; its server certificate names "prefect-db", not
// the address connected to.
func TestTLS(t *testing.T) {
	if os.Getenv("PREFECTGO_TEST_POSTGRES_URL") == "" {
		t.Skip("PREFECTGO_TEST_POSTGRES_URL is not set (hack/postgres.sh installs PostgreSQL)")
	}
	dir := sharedTempDir(t)
	ca := newCA(t, "prefectgo test CA")
	other := newCA(t, "another CA")
	ca.issue(t, dir, "server", "prefect-db")
	ca.issue(t, dir, "client", "postgres")
	other.issue(t, dir, "stranger", "postgres")
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", ca.cert.Raw)
	writePEM(t, filepath.Join(dir, "other-ca.crt"), "CERTIFICATE", other.cert.Raw)
	url := startTLSPostgres(t, dir)

	file := func(name string) string { return filepath.Join(dir, name) }
	mutual := TLS{Enabled: true, CAFile: file("ca.crt"), CertFile: file("client.crt"), KeyFile: file("client.key")}
	connect := func(tls TLS) error {
		cfg, err := ConnConfig(Options{URL: url, TLS: tls, ConnectionTimeout: 10 * time.Second})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(ctx) }()
		var ssl bool
		if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
			return err
		}
		if !ssl {
			return fmt.Errorf("connected without TLS")
		}
		return nil
	}

	// The URL says sslmode=disable: the settings decide.
	require.NoError(t, connect(mutual), "CA, client certificate, no host name check")
	require.Error(t, connect(TLS{}), "TLS off: the server refuses plain text")
	withName := mutual
	withName.CheckHostname = true
	require.ErrorContains(t, connect(withName), "x509", "the certificate names another host than 127.0.0.1")
	noClient := mutual
	noClient.CertFile, noClient.KeyFile = "", ""
	require.Error(t, connect(noClient), "no client certificate")
	wrongCA := mutual
	wrongCA.CAFile = file("other-ca.crt")
	require.ErrorContains(t, connect(wrongCA), "certificate", "a server certificate from a CA not trusted")
	stranger := mutual
	stranger.CertFile, stranger.KeyFile = file("stranger.crt"), file("stranger.key")
	require.Error(t, connect(stranger), "a client certificate from a CA the server does not trust")

	_, err := ConnConfig(Options{URL: url, TLS: TLS{Enabled: true, CAFile: file("missing.crt")}})
	require.ErrorContains(t, err, "CA file")
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{cert, key}
}

// issue writes <name>.crt and <name>.key, a certificate for cn (also its DNS name).
func (ca testCA) issue(t *testing.T, dir, name, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	raw, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	writePEM(t, filepath.Join(dir, name+".key"), "PRIVATE KEY", raw)
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
}

// sharedTempDir is a temp dir PostgreSQL's own user can use too (as root, PostgreSQL runs as
// the postgres user, which cannot enter t.TempDir()).
func sharedTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "prefectgo-tls-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// startTLSPostgres starts a PostgreSQL cluster in dir with dir's server.crt/key and ca.crt,
// taking TLS connections with a client certificate from that CA and refusing the others. It
// returns a URL with sslmode=disable, which the TLS settings override.
func startTLSPostgres(t *testing.T, dir string) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	require.NotEmpty(t, bins, "no initdb under /usr/lib/postgresql (hack/postgres.sh installs it)")
	bin := filepath.Dir(bins[len(bins)-1])
	var asPG []string // PostgreSQL refuses to run as root
	if os.Geteuid() == 0 {
		asPG = []string{"runuser", "-u", "postgres", "--"}
		pg, err := user.Lookup("postgres")
		require.NoError(t, err)
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		for _, f := range []string{"", "server.crt", "server.key", "ca.crt"} {
			require.NoError(t, os.Chown(filepath.Join(dir, f), uid, gid))
		}
	}
	pg := func(args ...string) {
		t.Helper()
		argv := append(append([]string{}, asPG...), args...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	data := filepath.Join(dir, "data")
	pg(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync")
	port := freePort(t)
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
ssl = on
ssl_cert_file = '%s'
ssl_key_file = '%s'
ssl_ca_file = '%s'
`, port, dir, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt"))
	appendFile(t, filepath.Join(data, "postgresql.conf"), conf)
	// initdb made the files PostgreSQL's; rewriting them keeps them so.
	hba := "local all all trust\nhostnossl all all 127.0.0.1/32 reject\nhostssl all all 127.0.0.1/32 trust clientcert=verify-ca\n"
	require.NoError(t, os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600))
	pg(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-w", "start")
	t.Cleanup(func() {
		argv := append(append([]string{}, asPG...), filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
		_ = exec.Command(argv[0], argv[1:]...).Run()
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(text)
	require.NoError(t, f.Close())
	require.NoError(t, err)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
