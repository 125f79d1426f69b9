package release

import (
	"errors"
	"fmt"
)

// Setting names of the limits on per-client state, as the node
// configuration spells them. LimitError.Setting and PeerOptions.Refused
// use them; docs/release.md lists them with their defaults.
const (
	LimitSubscriptionsPerClient = "release.max_subscriptions_per_client"
	LimitSubscriptions          = "release.max_subscriptions"
	LimitSubscriptionTTL        = "release.subscription_ttl"
	LimitHistoryClients         = "release.max_history_clients"
	LimitHistoryTTL             = "release.history_ttl"
)

// ErrResourceExhausted: a request was refused because a limit on the state
// the peer keeps for clients is reached. The node stays up and nothing
// already held is lost; the error is a *LimitError saying which limit.
var ErrResourceExhausted = errors.New("resource_exhausted")

// LimitError is a request refused at a limit. Its text is what the client
// reads (connect code resource_exhausted, message "DETAIL (limit
// SETTING)"): "resource_exhausted: DETAIL (limit SETTING)".
// errors.Is(err, ErrResourceExhausted) holds.
type LimitError struct {
	// Setting is the configuration setting that raises the limit
	// (a Limit* constant).
	Setting string
	// Detail says what is at the limit, e.g. "alice@Org1 already has 16
	// subscriptions to release R on peer0.org1".
	Detail string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v: %s (limit %s)", ErrResourceExhausted, e.Detail, e.Setting)
}

// Is makes errors.Is(err, ErrResourceExhausted) hold.
func (e *LimitError) Is(target error) bool { return target == ErrResourceExhausted }
