package lifecycle

import (
	"encoding/json"
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// DefinitionsKey is the key, in Namespace, of a contract's definitions as
// the chain records them after each activation: every version that took
// effect, oldest first, and at most one pending switch (the genesis
// definition included). A contract never activated since genesis has no
// such key: GenesisDefinition is its only definition.
func DefinitionsKey(contract string) string { return "def/" + contract }

// ParseDefinitions decodes the value recorded under DefinitionsKey.
func ParseDefinitions(value []byte) ([]*Definition, error) {
	var defs []*Definition
	if err := json.Unmarshal(value, &defs); err != nil {
		return nil, fmt.Errorf("contract definitions do not decode: %w", err)
	}
	for _, d := range defs {
		if err := d.parse(); err != nil {
			return nil, err
		}
	}
	return defs, nil
}

// GenesisDefinition is the definition the genesis configuration gives a
// contract (effective from block 1), or nil if it defines none.
func GenesisDefinition(cfg *foliov1.ChannelConfig, name string) (*Definition, error) {
	for _, d := range cfg.GetContracts() {
		if d.Name != name {
			continue
		}
		def := &Definition{Name: d.Name, Version: d.Version, PolicySrc: d.EndorsementPolicy, Confidential: d.Confidential, PackageHash: d.PackageHash, FromBlock: 1}
		if err := def.parse(); err != nil {
			return nil, err
		}
		return def, nil
	}
	return nil, nil
}

// EffectiveIn returns the definition among defs (ordered by FromBlock) in
// force for transactions committing in block, or nil.
func EffectiveIn(defs []*Definition, block uint64) *Definition {
	var cur *Definition
	for _, d := range defs {
		if d.FromBlock <= block {
			cur = d
		}
	}
	return cur
}
