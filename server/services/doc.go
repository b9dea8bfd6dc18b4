// Package services holds the server's background services. Each does its
// work in RunOnce, which the one-shot subcommands (prefect-server retention,
// ...) call once and the serve command repeats in a Loop.
package services
