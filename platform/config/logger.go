package config

import (
	"io"
	"log/slog"
	"strings"
)

// parseLevel maps debug, info, warn (or warning) and error, case-insensitive,
// to a slog level.
func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return slog.LevelInfo, false
}

// NewLogger returns a logger writing to w in c.Format ("json", else text)
// at c.Level (an unknown level means info; Log.Validate rejects it first
// when loaded), with the attribute service=service on every record.
func NewLogger(c Log, w io.Writer, service string) *slog.Logger {
	level, _ := parseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if strings.EqualFold(c.Format, "json") {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With(slog.String("service", service))
}
