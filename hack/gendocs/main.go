// Command gendocs writes docs/settings.md from the settings table, so the
// reference can never drift from what the server reads.
package main

import (
	"fmt"
	"os"

	"prefectgo.dev/prefectgo/server/settings"
)

func main() {
	if err := os.WriteFile("docs/settings.md", []byte(settings.MarkdownReference()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
