// Package policy parses and evaluates endorsement policies written in
// Hyperledger Fabric's signature-policy language:
//
//	AND('Org1MSP.member', 'Org2MSP.member')
//	OR('Org1MSP.admin', AND('Org2MSP.peer', 'Org3MSP.peer'))
//	OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin', 'Org3MSP.admin')
//
// Parse compiles a string into a rule tree; Evaluate decides whether a set
// of validated signer identities satisfies it, with Fabric's semantics:
// duplicate signers count once, each signer satisfies at most one principal,
// and gates are evaluated greedily left to right. The parser agrees with
// Fabric's on every case of ../shared/testdata/fabric-policydsl except the
// four marked as Fabric quirks, where it follows the intended language:
// principals are single-quoted only, a trailing comma is an error, and the
// gate names "and" and "or" are accepted as the parser's source intends.
package policy
