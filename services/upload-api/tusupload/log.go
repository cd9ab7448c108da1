package tusupload

import (
	"context"
	"log/slog"

	expslog "golang.org/x/exp/slog"
)

// newTusLogger bridges tusd's logger (golang.org/x/exp/slog) to ours.
// tusd logs every request and chunk at info; those go to debug here, its
// warnings and errors keep their level.
func newTusLogger(l *slog.Logger) *expslog.Logger {
	return expslog.New(&tusLogHandler{h: l.Handler().WithGroup("tusd")})
}

type tusLogHandler struct{ h slog.Handler }

func tusLevel(l expslog.Level) slog.Level {
	if l < expslog.LevelWarn {
		return slog.LevelDebug
	}
	return slog.Level(l)
}

func (t *tusLogHandler) Enabled(ctx context.Context, l expslog.Level) bool {
	return t.h.Enabled(ctx, tusLevel(l))
}

func (t *tusLogHandler) Handle(ctx context.Context, r expslog.Record) error {
	out := slog.NewRecord(r.Time, tusLevel(r.Level), r.Message, r.PC)
	r.Attrs(func(a expslog.Attr) bool {
		out.AddAttrs(convertAttr(a))
		return true
	})
	return t.h.Handle(ctx, out)
}

func (t *tusLogHandler) WithAttrs(as []expslog.Attr) expslog.Handler {
	conv := make([]slog.Attr, len(as))
	for i, a := range as {
		conv[i] = convertAttr(a)
	}
	return &tusLogHandler{h: t.h.WithAttrs(conv)}
}

func (t *tusLogHandler) WithGroup(name string) expslog.Handler {
	return &tusLogHandler{h: t.h.WithGroup(name)}
}

func convertAttr(a expslog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == expslog.KindGroup {
		g := v.Group()
		as := make([]any, len(g))
		for i, x := range g {
			as[i] = convertAttr(x)
		}
		return slog.Group(a.Key, as...)
	}
	return slog.Any(a.Key, v.Any())
}
