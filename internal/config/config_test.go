package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const goodPeer = `
format: 1
name: peer0.org1
role: peer
org: Org1
msp_id: Org1MSP
identity: {cert: msp/cert.pem, key: msp/key.pem}
tls: {cert: tls/cert.pem, key: tls/key.pem}
listen: {api: 127.0.0.1:7051}
data_dir: data
genesis: ../../genesis.block
consortium:
  - {name: Org1, msp_id: Org1MSP, root_cert: ../../orgs/Org1/ca-cert.pem, ca_address: 127.0.0.1:7054}
`

func TestParseNodeResolvesPathsAndDefaults(t *testing.T) {
	n, err := ParseNode("/net/nodes/peer0.org1/config.yaml", []byte(goodPeer), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n.Identity.Key != "/net/nodes/peer0.org1/msp/key.pem" || n.Consortium[0].RootCert != "/net/orgs/Org1/ca-cert.pem" {
		t.Fatalf("paths not resolved: %+v", n)
	}
	if n.CRLRefresh != 5*time.Second || n.Log.Level != "info" || n.Log.Format != "json" {
		t.Fatalf("defaults not applied: %+v", n)
	}
}

func TestOverridesFromEnvAndFlags(t *testing.T) {
	env := map[string]string{"FOLIO_LISTEN_API": "127.0.0.1:9999", "FOLIO_LOG_LEVEL": "debug", "FOLIO_CRL_REFRESH": "1s"}
	ov := EnvOverrides(&Node{}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	n, err := ParseNode("c.yaml", []byte(goodPeer), ov)
	if err != nil {
		t.Fatal(err)
	}
	if n.Listen.API != "127.0.0.1:9999" || n.Log.Level != "debug" || n.CRLRefresh != time.Second {
		t.Fatalf("overrides not applied: %+v", n)
	}
	if _, err := ParseNode("c.yaml", []byte(goodPeer), map[string]string{"listen.apii": "x"}); err == nil || !strings.Contains(err.Error(), "no such field") {
		t.Fatalf("unknown override: %v", err)
	}
	if _, err := ParseNode("c.yaml", []byte(goodPeer), map[string]string{"crl_refresh": "soon"}); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("bad duration override: %v", err)
	}
}

func TestBadConfigsNameFileAndField(t *testing.T) {
	cases := []struct {
		name, edit, field, hint string
	}{
		{"missing format", "format: 1\n=>", "format", "add `format: 1`"},
		{"newer format", "format: 1=>format: 7", "format", "upgrade folio"},
		{"bad role", "role: peer=>role: miner", "role", `"peer" or "orderer"`},
		{"missing key", "key: msp/key.pem=>key: \"\"", "identity.key", "private key"},
		{"bad address", "api: 127.0.0.1:7051=>api: localhost", "listen.api", "host:port"},
		{"own org not listed", "msp_id: Org1MSP\nidentity=>msp_id: Org3MSP\nidentity", "msp_id", "not among"},
		{"bad log level", "data_dir: data=>data_dir: data\nlog: {level: loud}", "log.level", "debug, info"},
		{"bad ecall batch", "data_dir: data=>data_dir: data\nenclave: {ecall_batch: -3}", "enclave.ecall_batch", "1 to 1024"},
	}
	for _, c := range cases {
		parts := strings.SplitN(c.edit, "=>", 2)
		src := strings.Replace(goodPeer, parts[0], parts[1], 1)
		_, err := ParseNode("/etc/folio/peer.yaml", []byte(src), nil)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a FieldError", c.name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "/etc/folio/peer.yaml") || !strings.Contains(msg, "field "+c.field+":") || !strings.Contains(msg, c.hint) {
			t.Errorf("%s: message %q should name the file, field %s and say %q", c.name, msg, c.field, c.hint)
		}
	}
}

func TestUnknownFieldIsAnError(t *testing.T) {
	_, err := ParseNode("/x/peer.yaml", []byte(goodPeer+"lisen: {}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "/x/peer.yaml") || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("typo accepted or unclear: %v", err)
	}
}

func FuzzParseNode(f *testing.F) {
	f.Add([]byte(goodPeer))
	f.Add([]byte("format: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseNode("/f/c.yaml", data, nil)
		if err == nil && n.Validate("/f/c.yaml") != nil {
			t.Fatal("ParseNode accepted a config that does not validate")
		}
	})
}

// TestLimitsDefaultsAndRanges: every limit has its documented default, a
// value out of range names the field and the range, and an override
// reaches it like any other field.
func TestLimitsDefaultsAndRanges(t *testing.T) {
	n, err := ParseNode("c.yaml", []byte(goodPeer), map[string]string{"limits.max_header_bytes": "8192"})
	if err != nil {
		t.Fatal(err)
	}
	l := n.Limits
	if l.MaxMessageBytes != 4<<20 || l.MaxConcurrentStreams != 250 || l.MaxConnections != 4096 || l.HeaderTimeout != 10*time.Second ||
		l.BodyTimeout != 30*time.Second || l.IdleTimeout != 2*time.Minute || l.CommitWaitersPerClient != 1024 || l.MaxCommitWait != 5*time.Minute ||
		l.P2PMaxMessageBytes != 16<<20 || l.P2PMaxStreamsPerSession != 256 || l.MaxHeaderBytes != 8192 {
		t.Fatalf("limits %+v", l)
	}
	if n.Listen.Operations != DefaultOperations {
		t.Fatalf("operations listener default %q", n.Listen.Operations)
	}
	_, err = ParseNode("c.yaml", []byte(goodPeer), map[string]string{"limits.max_message_bytes": "100", "limits.body_timeout": "-1s"})
	for _, want := range []string{"limits.max_message_bytes: 100: use 65536 to 1073741824", "limits.body_timeout: -1s: must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v should say %q", err, want)
		}
	}
}
