package release

// Changed returns a channel closed at the next change of release rid at
// this peer (a chunk stored, a share accepted, a subscription opened or
// ended, the agreed time moved, ...), or nil while the peer has not
// loaded the release.
func (p *Peer) Changed(rid string) <-chan struct{} {
	if r := p.known(rid); r != nil {
		return r.changed.C()
	}
	return nil
}
