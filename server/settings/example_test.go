package settings_test

import (
	"fmt"

	"prefectgo.dev/prefectgo/server/settings"
)

func ExampleLoad() {
	env := map[string]string{
		"PREFECT_SERVER_API_PORT":      "70000",
		"PREFECT_SERVER_LOGGING_LEVEL": "verbose",
		"PREFECT_API_DEFAULT_LIMIT":    "50", // legacy alias
	}
	_, err := settings.Load(func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	fmt.Println(err)
	// Output:
	// PREFECT_SERVER_API_PORT=70000: must be between 1 and 65535
	// PREFECT_SERVER_LOGGING_LEVEL="verbose": must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL
}
