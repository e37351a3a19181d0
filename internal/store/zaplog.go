package store

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger routes etcd's zap logging into slog. etcd is chatty at info
// level, so only errors pass unless the slog logger is enabled at debug.
// Once stopping is set, etcd's complaints about its own listeners closing
// are expected and demoted to debug.
func newZapLogger(l *slog.Logger, stopping *atomic.Bool) *zap.Logger {
	min := zapcore.ErrorLevel
	if l.Enabled(context.Background(), slog.LevelDebug) {
		min = zapcore.DebugLevel
	}
	return zap.New(&slogCore{l: l, min: min, stopping: stopping})
}

// slogCore is a zapcore.Core writing to a slog.Logger.
type slogCore struct {
	l        *slog.Logger
	min      zapcore.Level
	stopping *atomic.Bool
	fields   []zapcore.Field
}

var _ zapcore.Core = (*slogCore)(nil)

func (c *slogCore) Enabled(lvl zapcore.Level) bool { return lvl >= c.min }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	f := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	f = append(append(f, c.fields...), fields...)
	return &slogCore{l: c.l, min: c.min, stopping: c.stopping, fields: f}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	attrs = append(attrs, slog.String("component", "etcd"))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	lvl := slogLevel(e.Level)
	if c.stopping.Load() {
		lvl = slog.LevelDebug
	}
	c.l.LogAttrs(context.Background(), lvl, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}
