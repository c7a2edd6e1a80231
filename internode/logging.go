package internode

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// yamuxLogger routes yamux's log.Logger-style output into zerolog. yamux
// tags its lines "[ERR]" or "[WARN]"; errors (a session failing) become
// warnings, everything else (frames for already-closed streams and the
// like, normal during teardown) debug. Lines are formatted only when their
// level is enabled: yamux logs on hot teardown paths.
type yamuxLogger struct{ log zerolog.Logger }

func (y yamuxLogger) Printf(format string, v ...any) {
	if e := y.log.WithLevel(yamuxLevel(format)); e.Enabled() {
		e.Str("detail", strings.TrimSpace(fmt.Sprintf(format, v...))).Msg("yamux")
	}
}

func (y yamuxLogger) Print(v ...any)   { y.line(fmt.Sprint(v...)) }
func (y yamuxLogger) Println(v ...any) { y.line(fmt.Sprintln(v...)) }

func (y yamuxLogger) line(s string) {
	y.log.WithLevel(yamuxLevel(s)).Str("detail", strings.TrimSpace(s)).Msg("yamux")
}

func yamuxLevel(s string) zerolog.Level {
	if strings.HasPrefix(s, "[ERR]") {
		return zerolog.WarnLevel
	}
	return zerolog.DebugLevel
}

// limiter lets one log line through per interval, so that a flood of bad
// input costs a counter increment, not a log line each. Stats keep the
// exact counts; each line that gets through carries the running total.
type limiter struct{ next atomic.Int64 }

const logInterval = time.Second

func (l *limiter) allow() bool {
	now := time.Now().UnixNano()
	n := l.next.Load()
	return now >= n && l.next.CompareAndSwap(n, now+int64(logInterval))
}
