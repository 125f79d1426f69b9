package p2p

import "time"

// backoffDelay is the wait before dial attempt number attempt+1 after
// attempt consecutive failures (attempt >= 1): min * 2^(attempt-1) capped
// at max, with equal jitter: half of it fixed, the other half scaled by r
// in [0, 1). Equal jitter keeps a floor (no hot loop) while spreading the
// redials of nodes that failed together.
func backoffDelay(attempt int, min, max time.Duration, r float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	if r < 0 {
		r = 0
	}
	if r >= 1 {
		r = 0.999999
	}
	half := d / 2
	return half + time.Duration(float64(d-half)*r)
}
