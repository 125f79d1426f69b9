package gateway

import (
	"slices"
	"strings"
	"testing"
)

// A client may not widen an endorsement's fan-out: repeated organisations
// are asked once, organisations outside the policy are refused.
func TestEndorsingOrgsDeduplicatedAndInPolicy(t *testing.T) {
	policy := []string{"Org1MSP", "Org2MSP"}
	asked := make([]string, 200)
	for i := range asked {
		asked[i] = "Org1MSP"
	}
	got, err := endorsingOrgs(asked, policy, "copyright")
	if err != nil || !slices.Equal(got, []string{"Org1MSP"}) {
		t.Fatalf("200 x Org1MSP: got %v, %v; want [Org1MSP]", got, err)
	}
	got, err = endorsingOrgs(nil, policy, "copyright")
	if err != nil || !slices.Equal(got, policy) {
		t.Fatalf("none asked: got %v, %v; want the policy's organisations", got, err)
	}
	if _, err := endorsingOrgs([]string{"Org2MSP", "OrdererMSP"}, policy, "copyright"); err == nil || !strings.Contains(err.Error(), "OrdererMSP") {
		t.Fatalf("an organisation outside the policy: %v", err)
	}
}
