// Command misbehave is a test contract for the VM: besides a few
// well-behaved functions it loops, exhausts memory, panics, exits and
// breaks the ABI on request. Built by the VM tests with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"net"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/folio-ledger/folio/contract"
)

//go:wasmimport folio state_get
func rawStateGet(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, bufCap uint32) int32

func init() {
	contract.Register("echo", func(ctx contract.Context) contract.Response {
		if len(ctx.Args()) == 0 {
			return contract.OK(nil)
		}
		return contract.OK(ctx.Args()[0])
	})
	contract.Register("loop", func(ctx contract.Context) contract.Response {
		n := 0
		for {
			n++
		}
	})
	contract.Register("alloc", func(ctx contract.Context) contract.Response {
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 4<<20))
		}
	})
	contract.Register("panic", func(ctx contract.Context) contract.Response {
		panic("boom")
	})
	contract.Register("gopanic", func(ctx contract.Context) contract.Response {
		done := make(chan struct{})
		go func() {
			defer close(done)
			panic("boom in a goroutine")
		}()
		<-done
		return contract.OK(nil)
	})
	contract.Register("exit", func(ctx contract.Context) contract.Response {
		os.Exit(3)
		return contract.OK(nil)
	})
	contract.Register("badptr", func(ctx contract.Context) contract.Response {
		key := []byte("k")
		// A length far beyond the guest's memory.
		rawStateGet(unsafe.Pointer(&key[0]), 0x7fff0000, nil, 0)
		return contract.OK(nil)
	})
	contract.Register("bigresp", func(ctx contract.Context) contract.Response {
		return contract.OK(make([]byte, 5<<20))
	})
	contract.Register("badstatus", func(ctx contract.Context) contract.Response {
		return contract.Response{Status: 99}
	})
	contract.Register("env", env)
	contract.Register("script", script)
}

// env reports what the contract can see of its environment.
func env(ctx contract.Context) contract.Response {
	r := make([]byte, 16)
	if _, err := rand.Read(r); err != nil {
		return contract.Fail(err)
	}
	t0 := time.Now()
	time.Sleep(time.Hour)
	slept := time.Since(t0)
	timer := time.NewTimer(time.Minute)
	<-timer.C
	ch := make(chan int)
	go func() { ch <- 42 }()
	_, fsErr := os.ReadFile("/etc/passwd")
	_, netErr := net.Dial("tcp", "127.0.0.1:80")
	host, _ := os.Hostname()
	return contract.JSON(map[string]any{
		"now":        time.Now().UnixNano(),
		"ctx_time":   ctx.Timestamp().UnixNano(),
		"rand":       hex.EncodeToString(r),
		"slept_1h":   slept >= time.Hour,
		"goroutine":  <-ch,
		"args":       len(os.Args),
		"environ":    len(os.Environ()),
		"fs_denied":  fsErr != nil,
		"net_denied": netErr != nil,
		"hostname":   host,
		"tx":         ctx.TxID(),
		"creator":    ctx.Creator(),
		"channel":    ctx.ChannelID(),
		"namespace":  ctx.Namespace(),
		"read_only":  ctx.ReadOnly(),
	})
}

// script runs state operations given as args ("get k", "put k v",
// "del k", "range a b", "prefix type attr...", "history k", "event n p",
// "log msg", "notbefore RFC3339-time") and answers one line per
// operation.
func script(ctx contract.Context) contract.Response {
	var out []string
	for _, a := range ctx.Args() {
		f := strings.Split(string(a), " ")
		var line string
		switch f[0] {
		case "get":
			v, ver, err := ctx.GetStateVersion(f[1])
			line = fmt.Sprintf("get %s = %q %v %v", f[1], v, fmtVer(ver), err)
		case "put":
			line = fmt.Sprintf("put %s %v", f[1], ctx.PutState(f[1], []byte(f[2])))
		case "del":
			line = fmt.Sprintf("del %s %v", f[1], ctx.DelState(f[1]))
		case "range", "prefix":
			var keys []string
			var seq iter.Seq2[contract.KV, error]
			if f[0] == "prefix" {
				seq = ctx.GetStateByPartialCompositeKey(f[1], f[2:]...)
			} else {
				seq = ctx.GetStateRange(f[1], f[2])
			}
			var err error
			for kv, e := range seq {
				if e != nil {
					err = e
					break
				}
				keys = append(keys, fmt.Sprintf("%q=%s@%d.%d", kv.Key, kv.Value, kv.Version.Block, kv.Version.Tx))
			}
			line = fmt.Sprintf("%s %v %v", f[0], keys, err)
		case "history":
			h, err := ctx.GetHistoryForKey(f[1])
			b, _ := json.Marshal(h)
			line = fmt.Sprintf("history %s %s %v", f[1], b, err)
		case "event":
			line = fmt.Sprintf("event %s %v", f[1], ctx.SetEvent(f[1], []byte(f[2])))
		case "log":
			ctx.Logf("%s", f[1])
			line = "log"
		case "notbefore":
			at, err := time.Parse(time.RFC3339Nano, f[1])
			if err == nil {
				err = ctx.CommitNotBefore(at)
			}
			line = fmt.Sprintf("notbefore %s %v", f[1], err)
		case "fail":
			return contract.Fail(contract.BadRequest(f[1], "failing on request"))
		default:
			line = "unknown op " + f[0]
		}
		out = append(out, line)
	}
	return contract.OK([]byte(strings.Join(out, "\n")))
}

func fmtVer(v *contract.Version) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%d.%d", v.Block, v.Tx)
}

func main() {}
