package wire

import (
	"errors"
	"math"
	"testing"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

func TestValidateClientAPIRequests(t *testing.T) {
	ok := []error{
		ValidateSubscribe(&foliov1.SubscribeRequest{ReleaseId: rid, Client: "user1@Org1/a", EdgeDecrypt: true, Naive: true, HaveBytes: 5}),
		ValidateProgress(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: "user1@Org1", Bytes: 1, Total: 2, RateBps: 56e3, Pong: 3}),
		ValidateProbe(MaxProbeBytes),
		ValidateSubscribe(&foliov1.SubscribeRequest{ReleaseId: rid, Client: "u@O", Session: "0123abcd_-"}),
		ValidateProgress(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: "u@O", ProbeAck: 4}),
		ValidateProbeRequest(&foliov1.ProbeRequest{Bytes: 16 << 10}),
		ValidateProbeRequest(&foliov1.ProbeRequest{Bytes: 16 << 10, ReleaseId: rid, Client: "u@O/a"}),
		ValidatePlaintextPiece(&foliov1.GetPlaintextResponse{Data: []byte{1}, TailOffset: 10}, 10),
		ValidatePlaintextPiece(&foliov1.GetPlaintextResponse{TailKey: make([]byte, TailKeyBytes)}, 10),
	}
	for i, err := range ok {
		if err != nil {
			t.Errorf("valid request %d refused: %v", i, err)
		}
	}
	bad := map[string]error{
		"release ID":            ValidateSubscribe(&foliov1.SubscribeRequest{ReleaseId: "../etc", Client: "u@O"}),
		"client name":           ValidateSubscribe(&foliov1.SubscribeRequest{ReleaseId: rid, Client: "a b"}),
		"naive without decrypt": ValidateSubscribe(&foliov1.SubscribeRequest{ReleaseId: rid, Client: "u@O", Naive: true}),
		"negative have_bytes":   ValidateSubscribe(&foliov1.SubscribeRequest{ReleaseId: rid, Client: "u@O", HaveBytes: -1}),
		"bytes beyond total":    ValidateProgress(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: "u@O", Bytes: 3, Total: 2}),
		"NaN rate":              ValidateProgress(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: "u@O", RateBps: math.NaN()}),
		"infinite rate":         ValidateProgress(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: "u@O", RateBps: math.Inf(1)}),
		"negative pong":         ValidateProgress(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: "u@O", Pong: -1}),
		"empty probe":           ValidateProbe(0),
		"probe too large":       ValidateProbe(MaxProbeBytes + 1),
		"session":               ValidateSubscribe(&foliov1.SubscribeRequest{ReleaseId: rid, Client: "u@O", Session: "a b"}),
		"negative probe ack":    ValidateProgress(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: "u@O", ProbeAck: -1}),
		"probe without client":  ValidateProbeRequest(&foliov1.ProbeRequest{Bytes: 1, ReleaseId: rid}),
		"probe without release": ValidateProbeRequest(&foliov1.ProbeRequest{Bytes: 1, Client: "u@O"}),
		"timed probe too large": ValidateProbeRequest(&foliov1.ProbeRequest{Bytes: MaxProbeBytes + 1, ReleaseId: rid, Client: "u@O"}),
		"tail past the work":    ValidatePlaintextPiece(&foliov1.GetPlaintextResponse{TailOffset: 11}, 10),
		"short tail key":        ValidatePlaintextPiece(&foliov1.GetPlaintextResponse{TailKey: []byte{1}}, 10),
		"tail key with data":    ValidatePlaintextPiece(&foliov1.GetPlaintextResponse{Data: []byte{1}, TailKey: make([]byte, TailKeyBytes)}, 10),
	}
	for what, err := range bad {
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", what, err)
		}
	}
}

func TestValidateClientAPIAnswers(t *testing.T) {
	sp, err := ShareProto(*share())
	if err != nil {
		t.Fatal(err)
	}
	if sp.GetIndex() != 2 || len(sp.GetShare()) != 5 || sp.GetSentAt() != share().SentAt {
		t.Fatalf("ShareProto: %v", sp)
	}
	if err := ValidateShares(&foliov1.GetSharesResponse{Shares: []*foliov1.ReleaseShare{sp}}); err != nil {
		t.Fatalf("valid shares: %v", err)
	}
	for what, v := range map[string]*foliov1.GetSharesResponse{
		"index 0":     {Shares: []*foliov1.ReleaseShare{{Index: 0, Share: []byte{1, 2}, SentAt: sp.SentAt, NodeId: sp.NodeId, Sig: sp.Sig}}},
		"bad sent_at": {Shares: []*foliov1.ReleaseShare{{Index: 1, Share: []byte{1, 2}, SentAt: "noon", NodeId: sp.NodeId, Sig: sp.Sig}}},
		"short node":  {Shares: []*foliov1.ReleaseShare{{Index: 1, Share: []byte{1, 2}, SentAt: sp.SentAt, NodeId: "ab", Sig: sp.Sig}}},
	} {
		if err := ValidateShares(v); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", what, err)
		}
	}
	if _, err := ShareProto(ShareMsg{Index: 1, Share: "zz", Sig: "00"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("ShareProto of a non-hex share: %v", err)
	}
	for _, e := range []*foliov1.SubscribeResponse{
		{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_HELLO, ServerTimeUnixNano: 1},
		{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE, ShareIndex: 1, Share: []byte{1, 0xff}},
		{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_STATUS, Reason: "why"},
	} {
		if err := ValidateEvent(e); err != nil {
			t.Errorf("valid event %v: %v", e, err)
		}
	}
	for _, e := range []*foliov1.SubscribeResponse{
		{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_UNSPECIFIED},
		{Type: 99},
		{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE, ShareIndex: 0, Share: []byte{1, 2}},
		{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE, ShareIndex: 1, Share: []byte{1}},
		{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_STATUS, Reason: string(make([]byte, 5000))},
	} {
		if err := ValidateEvent(e); !errors.Is(err, ErrMalformed) {
			t.Errorf("event %v: %v, want ErrMalformed", e.GetType(), err)
		}
	}
}
