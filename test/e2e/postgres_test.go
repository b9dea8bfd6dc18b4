//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// createDatabase makes a fresh database and a role of the same name that logs in with a
// password (the pods' network needs one, see hack/postgres.sh), and returns the password.
func createDatabase(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgAdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	password := hex.EncodeToString(b)
	id := pgx.Identifier{name}.Sanitize()
	for _, sql := range []string{
		"DROP DATABASE IF EXISTS " + id + " WITH (FORCE)",
		"DROP ROLE IF EXISTS " + id,
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", id, password),
		"CREATE DATABASE " + id + " OWNER " + id,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return password
}
