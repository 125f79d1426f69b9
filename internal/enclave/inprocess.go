package enclave

import (
	"context"
	"fmt"
	"os"

	"github.com/folio-ledger/folio/internal/enclave/link"
	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// inProcessEnclave runs the enclave inside the caller's process. For unit
// tests only: nothing separates the host from the enclave's keys and
// plaintext, the point of the enclave is lost. Ecalls and ocalls are
// direct calls, counted as crossings all the same.
type inProcessEnclave struct{ *host }

var _ Enclave = (*inProcessEnclave)(nil)

// NewInProcess returns an Enclave running in this process, for unit
// tests. opts.StateKey (not StateKeyFile) provisions the state key; the
// process options (Exe, Args, Env, StartTimeout, RestartBackoff) are
// ignored.
func NewInProcess(ctx context.Context, opts Options) (Enclave, error) {
	if opts.StateKeyFile != "" || opts.GenesisFile != "" {
		return nil, fmt.Errorf("%w: StateKeyFile and GenesisFile are read by the enclave process; in process, pass StateKey and Genesis", ErrInvalidOptions)
	}
	anchor, err := trusted.ParseAnchor(opts.Genesis)
	if err != nil {
		return nil, err
	}
	h, err := newHost(opts)
	if err != nil {
		return nil, err
	}
	to := trusted.FromInit(h.initMessage(h.height()))
	to.VM.Logger = h.opts.VM.Logger
	to.Logger = h.log.With("side", "enclave")
	to.StateKey, to.Anchor = opts.StateKey, anchor
	svc, err := trusted.New(ctx, to)
	if err != nil {
		h.closeHost()
		return nil, err
	}
	h.b = &inProcess{svc: svc, ctr: &h.ctr.crossings}
	if err := registerMetrics(h); err != nil {
		h.closeHost()
		return nil, err
	}
	return &inProcessEnclave{h}, nil
}

// Close implements Enclave.
func (e *inProcessEnclave) Close() error { return e.closeHost() }

// inProcess is the boundary of NewInProcess.
type inProcess struct {
	svc *trusted.Service
	ctr *link.Counters
}

func (b *inProcess) pid() int { return os.Getpid() }

func (b *inProcess) close() error { return b.svc.Close(context.Background()) }

func (b *inProcess) ecall(ctx context.Context, op uint8, req, reply wire.Message, oc *ocalls) (wire.Counters, uint64, error) {
	var err error
	b.ctr.Replies.Add(1)
	switch op {
	case wire.OpInstall:
		err = b.svc.Install(ctx, req.(*wire.Install))
	case wire.OpSimulate:
		var r *wire.SimulateReply
		if r, err = b.svc.Simulate(ctx, req.(*wire.Simulate), oc); err == nil {
			*reply.(*wire.SimulateReply) = *r
		}
	case wire.OpCommit:
		var r *wire.CommitReply
		if r, err = b.svc.Commit(ctx, req.(*wire.Commit)); err == nil {
			*reply.(*wire.CommitReply) = *r
		}
	case wire.OpInvalidate:
		err = b.svc.Invalidate(req.(*wire.Invalidate).Height)
	case wire.OpPing, wire.OpStats:
	default:
		err = fmt.Errorf("%w: ecall %d", wire.ErrMalformed, op)
	}
	return b.svc.Counters(), 1, err
}
