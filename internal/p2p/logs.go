package p2p

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// yamuxLogger sends the multiplexer's own messages to the debug log.
// backlogFull, if set, is called instead for the multiplexer's one signal
// that it reset a stream because its accept backlog was full: yamux
// v0.1.2 reports that only through its logger.
type yamuxLogger struct {
	log         *slog.Logger
	backlogFull func()
}

// yamuxBacklogFull is the format of yamux v0.1.2's message for a stream
// reset because the accept backlog was full (session.go incomingStream).
// TestStreamFlood fails if an upgrade changes it.
const yamuxBacklogFull = "backlog exceeded"

func (l yamuxLogger) Print(v ...any) { l.log.Debug("yamux: " + fmt.Sprint(v...)) }
func (l yamuxLogger) Printf(format string, v ...any) {
	if l.backlogFull != nil && strings.Contains(format, yamuxBacklogFull) {
		l.backlogFull()
		return
	}
	l.log.Debug("yamux: " + fmt.Sprintf(format, v...))
}
func (l yamuxLogger) Println(v ...any) { l.log.Debug("yamux: " + fmt.Sprint(v...)) }

// logLimiter lets through at most logBurst messages per second and counts
// the rest, so a connection flood cannot flood the log.
type logLimiter struct {
	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

const logBurst = 20

func (l *logLimiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Second {
		l.window, l.n = now, 0
	}
	if l.n >= logBurst {
		l.suppressed++
		return false, 0
	}
	l.n++
	s := l.suppressed
	l.suppressed = 0
	return true, s
}
