package p2ptest

import (
	"log/slog"
	"os"
	"strings"
)

// Logger returns a logger for hosts under test: silent unless the
// environment variable P2P_TEST_LOG names a level (debug, info, warn), then
// text to stderr at that level. A test that fails in CI can be rerun with
// P2P_TEST_LOG=debug to see the hosts' side of the story.
func Logger() *slog.Logger {
	var level slog.Level
	switch strings.ToLower(os.Getenv("P2P_TEST_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	default:
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
