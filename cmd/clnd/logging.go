package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"clnd/internal/reqinfo"
)

// logFlags are --log-level and --log-format, for every subcommand that logs.
type logFlags struct {
	level, format *string
}

func logFlagsOn(fs *flag.FlagSet) *logFlags {
	return &logFlags{
		level:  fs.String("log-level", env("CLND_LOG_LEVEL", "info"), "debug, info, warn or error (CLND_LOG_LEVEL)"),
		format: fs.String("log-format", env("CLND_LOG_FORMAT", "text"), "text (key=value lines) or json (one JSON object a line, for log collectors) (CLND_LOG_FORMAT)"),
	}
}

// logger writes to w in the chosen format. Lines logged while handling a
// request carry its request_id (reqinfo.LogHandler).
func (f *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	return newLogger(w, *f.level, *f.format)
}

// progress is where a subcommand's progress messages (the migrations') go:
// w itself, or, when w carries JSON lines, log, so that every line stays JSON.
func (f *logFlags) progress(w io.Writer, log *slog.Logger) io.Writer {
	if *f.format == "json" {
		return &lineLogger{log: log}
	}
	return w
}

// failure is what a subcommand returns for err once its logger is set
// up: with --log-format json, an error that main writes as the log's last
// line, a JSON object like every other line, rather than as plain text.
func (f *logFlags) failure(log *slog.Logger, err error) error {
	if err == nil || *f.format != "json" {
		return err
	}
	return &loggedError{err: err, log: log}
}

// loggedError is a subcommand's failure and the log to report it in.
type loggedError struct {
	err error
	log *slog.Logger
}

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return slog.New(reqinfo.LogHandler(h)), nil
}

// lineLogger is an io.Writer that logs each line written to it, for
// progress messages (the migrations') on a stream that must stay JSON.
// With pass set, a line that is a JSON object already (a log line) is
// written to pass as it is.
type lineLogger struct {
	log  *slog.Logger
	pass io.Writer
	part []byte
}

// jsonStderr says whether a command line asks for JSON logs, by
// --log-format or CLND_LOG_FORMAT (getenv): then even what is written to
// stderr before a subcommand's logger exists (the flag package's complaint
// about a bad flag, and its usage) must be JSON lines.
func jsonStderr(args []string, getenv func(string) string) bool {
	format := getenv("CLND_LOG_FORMAT")
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "log-format" {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		format = value
	}
	return format == "json"
}

// stderrAsJSON is stderr for a command line that asks for JSON logs: log
// lines pass through, any other line becomes a JSON log line of its own.
func stderrAsJSON(w io.Writer) (io.Writer, *slog.Logger) {
	log := slog.New(slog.NewJSONHandler(w, nil))
	return &lineLogger{log: log, pass: w}, log
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		if line := strings.TrimSpace(string(l.part[:i])); line != "" {
			if l.pass != nil && strings.HasPrefix(line, "{") && json.Valid([]byte(line)) {
				if _, err := io.WriteString(l.pass, line+"\n"); err != nil {
					return len(p), err
				}
			} else {
				l.log.Info(line)
			}
		}
		l.part = l.part[i+1:]
	}
}
