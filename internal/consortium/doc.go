// Package consortium runs a consortium whose organisations live on their
// own hosts (docs/deploy.md): it creates one organisation's directory
// holding only its own keys (Init), writes and checks its public
// definition (Export, ParseDefinition), forms a channel from definitions
// alone (Genesis), points an organisation's nodes at a running channel
// (Bootstrap), and carries config-update proposals between the admins who
// approve them on their own hosts (ConfigProposal: Sign, Evaluate,
// Envelope), with the admission checks that refuse a membership change
// before it could break the channel (CheckRemoveOrg, CheckOrdererRemove,
// CheckOrdererAdd). It decides nothing validation decides: the peers apply
// the same rules on chain (internal/channel).
package consortium
