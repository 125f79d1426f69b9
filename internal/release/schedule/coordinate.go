package schedule

import (
	"errors"
	"fmt"
	"time"
)

// CoordinatorConfig describes one key server's part in one release's key
// send time agreement. Zero durations take the defaults given.
type CoordinatorConfig struct {
	// Self is this key server's name. Required.
	Self string
	// ReleaseAt (T) and EndAt (E) of the release. Required, T before E.
	ReleaseAt, EndAt time.Time
	// Lead: coordination starts this long before T. Default 30s.
	Lead time.Duration
	// Interval is the period of coordination rounds. Default 1s.
	Interval time.Duration
	// Freeze: the agreed time no longer moves once it is this close.
	// Default 500ms.
	Freeze time.Duration
	// RoundTimeout bounds one round (gathering plus exchange). Default
	// max(Interval, 500ms).
	RoundTimeout time.Duration
	// Retry is the wait before releasing again after a failed attempt
	// (clock skew, say). Default 1s.
	Retry time.Duration
	// ReadyFraction is passed to Decide. Default 1.
	ReadyFraction float64
}

func (c *CoordinatorConfig) ensureDefaults() {
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.Lead, 30*time.Second)
	def(&c.Interval, time.Second)
	def(&c.Freeze, 500*time.Millisecond)
	def(&c.RoundTimeout, max(c.Interval, 500*time.Millisecond))
	def(&c.Retry, time.Second)
	if c.ReadyFraction <= 0 || c.ReadyFraction > 1 {
		c.ReadyFraction = 1
	}
}

// minRound is the shortest round a Coordinator asks for: a round that
// could not even reach the other key servers is not worth starting.
const minRound = 50 * time.Millisecond

// Proposal is a key server's proposed key send time in a round.
type Proposal struct {
	// From is the proposing key server's name.
	From   string
	SendAt time.Time
	// Ready of Total clients will have the ciphertext by SendAt, by the
	// proposer's predictions.
	Ready, Total int
}

// Step is what a Coordinator asks its driver to do after an input. At
// most one of Gather, Exchange and Release is set; the driver performs
// it and reports back (Gathered, Exchanged, Released). Otherwise it calls
// Tick at Wake (zero Wake: nothing more to do, Done). Agreed and Frozen
// report changes to publish, with any of the above.
type Step struct {
	// Gather: collect every edge's client predictions until Deadline,
	// then call Gathered.
	Gather bool
	// Exchange: send Own to every other key server until Deadline,
	// then call Exchanged with their answers.
	Exchange bool
	Own      Proposal
	Deadline time.Time
	// Release: release the share now (the driver checks its clock
	// against its peers' first), then call Released.
	Release bool
	// Agreed is the new agreed send time, when it changed (zero when it
	// did not). Reason explains this key server's own proposal.
	Agreed time.Time
	Reason string
	// Frozen: the agreed time stopped moving with this step; the driver
	// compares clocks now so that the check at the send time is fresh.
	Frozen bool
	// Wake: call Tick at this time. Zero while an action is pending or
	// once Done.
	Wake time.Time
	// Done: the share is released, or the end time passed.
	Done bool
}

// phase of a Coordinator.
type phase uint8

const (
	phaseBefore     phase = iota // waiting for T - Lead
	phaseGathering               // Gather asked
	phaseExchanging              // Exchange asked
	phaseBetween                 // waiting for the next round
	phaseFrozen                  // agreed time fixed, waiting for it
	phaseReleasing               // Release asked
	phaseDone
)

func (p phase) String() string {
	return [...]string{"before", "gathering", "exchanging", "between", "frozen", "releasing", "done"}[p]
}

// ErrOutOfTurn is returned for an input the Coordinator did not ask for
// (a Gathered while no gathering is pending, say): a driver bug.
var ErrOutOfTurn = errors.New("schedule: input out of turn")

// Coordinator is one key server's key send time agreement for one
// release: the deterministic core of the key server (no goroutines, clock
// or I/O; the driver passes the time with every input and performs the
// Steps). Not safe for concurrent use.
//
// Life: from T - Lead, every Interval, a round: gather the edges'
// predictions, Decide a proposal, exchange it with the other key servers,
// and agree on the latest proposal of the round (Agree), never later than
// E. A round never runs into the freeze point of the last agreement, so
// an unreachable key server cannot delay the send. Once the agreed time
// S is within Freeze plus a round, it is frozen; at S (never before T) the
// driver releases the share; a failed release is retried every Retry
// until E. Proposals other key servers send (Receive) count in the next
// agreement.
type Coordinator struct {
	cfg    CoordinatorConfig
	phase  phase
	agreed time.Time
	// own is this key server's latest proposal (From empty before the
	// first decision) and reason why it proposes that.
	own    Proposal
	reason string
	// proposals are the other key servers' latest, by name.
	proposals map[string]Proposal
	deadline  time.Time // of the round in progress
	wake      time.Time // of phaseBefore, phaseBetween, phaseFrozen
	released  bool
}

// NewCoordinator returns a coordinator waiting for the start of
// coordination; call Tick to get the first Step.
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	cfg.ensureDefaults()
	if cfg.Self == "" {
		return nil, errors.New("schedule: coordinator needs its key server's name")
	}
	if !cfg.ReleaseAt.Before(cfg.EndAt) {
		return nil, fmt.Errorf("schedule: release time %s is not before the end time %s", cfg.ReleaseAt, cfg.EndAt)
	}
	return &Coordinator{cfg: cfg, proposals: map[string]Proposal{}}, nil
}

// Agreed is the agreed send time (zero before the first agreement).
func (c *Coordinator) Agreed() time.Time { return c.agreed }

// ShareReleased reports whether the share was released.
func (c *Coordinator) ShareReleased() bool { return c.released }

// Tick is the input at (or after) the last Step's Wake.
func (c *Coordinator) Tick(now time.Time) Step {
	switch c.phase {
	case phaseBefore:
		if start := c.cfg.ReleaseAt.Add(-c.cfg.Lead); now.Before(start) {
			return c.sleep(start)
		}
		return c.startRound(now)
	case phaseBetween:
		if now.Before(c.wake) {
			return c.sleep(c.wake)
		}
		return c.startRound(now)
	case phaseFrozen:
		if now.Before(c.wake) {
			return c.sleep(c.wake)
		}
		c.phase = phaseReleasing
		return Step{Release: true}
	case phaseDone:
		return Step{Done: true}
	}
	// An action is pending: nothing to do until its result.
	return Step{}
}

func (c *Coordinator) sleep(t time.Time) Step {
	c.wake = t
	return Step{Wake: t}
}

func (c *Coordinator) startRound(now time.Time) Step {
	d := now.Add(c.cfg.RoundTimeout)
	if !c.agreed.IsZero() {
		d = earliest(d, c.agreed.Add(-c.cfg.Freeze))
	}
	if d.Sub(now) < minRound {
		d = now.Add(minRound)
	}
	c.deadline = d
	c.phase = phaseGathering
	return Step{Gather: true, Deadline: d}
}

// Gathered is the result of a Gather: what the edges (this peer's own
// included) predict for their subscribed clients, edge-decrypt clients
// excluded. It decides this key server's proposal.
func (c *Coordinator) Gathered(now time.Time, clients []Client) (Step, error) {
	if c.phase != phaseGathering {
		return Step{}, fmt.Errorf("%w: Gathered in phase %s", ErrOutOfTurn, c.phase)
	}
	d := Decide(Params{ReleaseAt: c.cfg.ReleaseAt, EndAt: c.cfg.EndAt, ReadyFraction: c.cfg.ReadyFraction}, clients)
	c.own = Proposal{From: c.cfg.Self, SendAt: d.SendAt, Ready: d.Ready, Total: d.Total}
	c.reason = d.Reason
	c.phase = phaseExchanging
	return Step{Exchange: true, Own: c.own, Deadline: c.deadline}, nil
}

// Exchanged is the result of an Exchange: the proposals the other key
// servers answered with, by name. A key server that did not answer (or
// answered under another name) no longer counts, not even with an
// earlier proposal. It agrees the send time.
func (c *Coordinator) Exchanged(now time.Time, answers map[string]Proposal) (Step, error) {
	if c.phase != phaseExchanging {
		return Step{}, fmt.Errorf("%w: Exchanged in phase %s", ErrOutOfTurn, c.phase)
	}
	for name := range c.proposals {
		if a, ok := answers[name]; !ok || a.From != name {
			delete(c.proposals, name)
		}
	}
	for name, p := range answers {
		if name != c.cfg.Self && p.From == name {
			c.proposals[name] = p
		}
	}
	var st Step
	if a := c.agree(); !a.Equal(c.agreed) {
		c.agreed = a
		st.Agreed, st.Reason = a, c.reason
	}
	if c.agreed.Sub(now) <= c.cfg.Freeze+c.cfg.RoundTimeout {
		c.phase = phaseFrozen
		st.Frozen = true
		st.Wake = c.agreed
		c.wake = c.agreed
		return st, nil
	}
	c.phase = phaseBetween
	c.wake = earliest(now.Add(c.cfg.Interval), c.agreed.Add(-c.cfg.Freeze-c.cfg.RoundTimeout))
	st.Wake = c.wake
	return st, nil
}

// agree is the latest proposal held (this key server's own included),
// never before T and never after E: a key server proposing beyond the end
// time cannot hold the key back past it.
func (c *Coordinator) agree() time.Time {
	times := []time.Time{c.own.SendAt}
	for _, p := range c.proposals {
		times = append(times, p.SendAt)
	}
	return Agree(c.cfg.ReleaseAt, c.cfg.EndAt, times...)
}

// Released is the result of a Release: nil when the share went out.
// A failed release is tried again after Retry, until the end time.
func (c *Coordinator) Released(now time.Time, err error) (Step, error) {
	if c.phase != phaseReleasing {
		return Step{}, fmt.Errorf("%w: Released in phase %s", ErrOutOfTurn, c.phase)
	}
	if err == nil {
		c.released = true
		c.phase = phaseDone
		return Step{Done: true}, nil
	}
	if now.After(c.cfg.EndAt) {
		c.phase = phaseDone
		return Step{Done: true}, nil
	}
	c.phase = phaseFrozen
	return c.sleep(now.Add(c.cfg.Retry)), nil
}

// Receive records another key server's proposal (it counts in this key
// server's next agreement) and returns this key server's latest one: T
// before its first decision.
func (c *Coordinator) Receive(p Proposal) Proposal {
	if p.From != "" && p.From != c.cfg.Self {
		c.proposals[p.From] = p
	}
	if c.own.From == "" {
		return Proposal{From: c.cfg.Self, SendAt: c.cfg.ReleaseAt}
	}
	return c.own
}

// checkInvariants verifies the coordinator's state (tests call it after
// every step).
func (c *Coordinator) checkInvariants() error {
	T, E := c.cfg.ReleaseAt, c.cfg.EndAt
	if !c.agreed.IsZero() && (c.agreed.Before(T) || c.agreed.After(E)) {
		return fmt.Errorf("agreed %s outside [T, E] = [%s, %s]", c.agreed, T, E)
	}
	switch c.phase {
	case phaseFrozen, phaseReleasing:
		if c.agreed.IsZero() {
			return fmt.Errorf("phase %s without an agreed time", c.phase)
		}
		if c.phase == phaseFrozen && c.wake.Before(c.agreed) {
			return fmt.Errorf("frozen, but waking at %s before the agreed time %s", c.wake, c.agreed)
		}
	case phaseGathering, phaseExchanging:
		if c.deadline.IsZero() {
			return fmt.Errorf("round in progress without a deadline")
		}
	}
	if c.released && c.phase != phaseDone {
		return fmt.Errorf("released but in phase %s", c.phase)
	}
	if c.own.From != "" {
		if c.own.SendAt.Before(T) || c.own.SendAt.After(maxTime(T, E)) {
			return fmt.Errorf("own proposal %s outside [T, E]", c.own.SendAt)
		}
		if c.own.Ready < 0 || c.own.Ready > c.own.Total {
			return fmt.Errorf("own proposal counts %d of %d ready", c.own.Ready, c.own.Total)
		}
	}
	if _, self := c.proposals[c.cfg.Self]; self {
		return errors.New("own proposal held among the others'")
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
