package order

import (
	"fmt"
	"log/slog"
)

// raftLogger adapts slog to the logger the Raft library expects. Raft's
// Fatal and Panic report broken invariants of its own state; they panic as
// the library requires.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any) { r.l.Debug(fmt.Sprint(v...), "component", "raft") }
func (r raftLogger) Debugf(format string, v ...any) {
	r.l.Debug(fmt.Sprintf(format, v...), "component", "raft")
}
func (r raftLogger) Info(v ...any) { r.l.Info(fmt.Sprint(v...), "component", "raft") }
func (r raftLogger) Infof(format string, v ...any) {
	r.l.Info(fmt.Sprintf(format, v...), "component", "raft")
}
func (r raftLogger) Warning(v ...any) { r.l.Warn(fmt.Sprint(v...), "component", "raft") }
func (r raftLogger) Warningf(format string, v ...any) {
	r.l.Warn(fmt.Sprintf(format, v...), "component", "raft")
}
func (r raftLogger) Error(v ...any) { r.l.Error(fmt.Sprint(v...), "component", "raft") }
func (r raftLogger) Errorf(format string, v ...any) {
	r.l.Error(fmt.Sprintf(format, v...), "component", "raft")
}
func (r raftLogger) Fatal(v ...any)                 { r.Panic(v...) }
func (r raftLogger) Fatalf(format string, v ...any) { r.Panicf(format, v...) }
func (r raftLogger) Panic(v ...any) {
	msg := fmt.Sprint(v...)
	r.l.Error(msg, "component", "raft")
	panic(msg)
}
func (r raftLogger) Panicf(format string, v ...any) { r.Panic(fmt.Sprintf(format, v...)) }
