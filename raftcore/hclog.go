package raftcore

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// hclogAdapter routes hashicorp/raft's hclog output into zerolog, keeping
// raft's key/value pairs as fields.
type hclogAdapter struct {
	zl   zerolog.Logger
	name string
	args []any
}

func newHclog(zl zerolog.Logger) hclog.Logger { return &hclogAdapter{zl: zl} }

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	var ev *zerolog.Event
	switch level {
	case hclog.Trace:
		ev = h.zl.Trace()
	case hclog.Debug:
		ev = h.zl.Debug()
	case hclog.Info:
		ev = h.zl.Info()
	case hclog.Warn:
		ev = h.zl.Warn()
	case hclog.Error:
		ev = h.zl.Error()
	default:
		return
	}
	if !ev.Enabled() {
		return
	}
	if h.name != "" {
		ev = ev.Str("sub", h.name)
	}
	all := append(append([]any{}, h.args...), args...)
	for i := 0; i+1 < len(all); i += 2 {
		key := fmt.Sprint(all[i])
		switch key {
		case "time", "level", "message", "node", "component":
			// raft's own keys must not shadow ours (zerolog would emit
			// the key twice).
			key = "raft_" + key
		}
		switch v := all[i+1].(type) {
		case hclog.Format:
			if len(v) > 0 {
				if f, ok := v[0].(string); ok {
					ev = ev.Str(key, fmt.Sprintf(f, v[1:]...))
					continue
				}
			}
			ev = ev.Interface(key, v)
		case error:
			ev = ev.AnErr(key, v)
		case string:
			ev = ev.Str(key, v)
		case fmt.Stringer:
			ev = ev.Stringer(key, v)
		default:
			ev = ev.Interface(key, v)
		}
	}
	ev.Msg(strings.ToLower(msg))
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) IsTrace() bool { return h.zl.GetLevel() <= zerolog.TraceLevel }
func (h *hclogAdapter) IsDebug() bool { return h.zl.GetLevel() <= zerolog.DebugLevel }
func (h *hclogAdapter) IsInfo() bool  { return h.zl.GetLevel() <= zerolog.InfoLevel }
func (h *hclogAdapter) IsWarn() bool  { return h.zl.GetLevel() <= zerolog.WarnLevel }
func (h *hclogAdapter) IsError() bool { return h.zl.GetLevel() <= zerolog.ErrorLevel }

func (h *hclogAdapter) ImpliedArgs() []any { return h.args }
func (h *hclogAdapter) With(args ...any) hclog.Logger {
	return &hclogAdapter{zl: h.zl, name: h.name, args: append(append([]any{}, h.args...), args...)}
}
func (h *hclogAdapter) Name() string { return h.name }
func (h *hclogAdapter) Named(name string) hclog.Logger {
	n := name
	if h.name != "" {
		n = h.name + "." + name
	}
	return &hclogAdapter{zl: h.zl, name: n, args: h.args}
}
func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return &hclogAdapter{zl: h.zl, name: name, args: h.args}
}
func (h *hclogAdapter) SetLevel(hclog.Level) {}
func (h *hclogAdapter) GetLevel() hclog.Level {
	switch l := h.zl.GetLevel(); {
	case l <= zerolog.TraceLevel:
		return hclog.Trace
	case l <= zerolog.DebugLevel:
		return hclog.Debug
	case l <= zerolog.InfoLevel:
		return hclog.Info
	case l <= zerolog.WarnLevel:
		return hclog.Warn
	default:
		return hclog.Error
	}
}
func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}
func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		h.Info(strings.TrimSpace(string(p)))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
