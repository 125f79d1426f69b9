// Package memkv is the in-memory kv.Store: for tests, tools and nodes that do
// not need durability.
//
// Its one responsibility is an ordered, snapshot-capable map. Data lives in a
// persistent (copy-on-write) AVL tree: a commit builds a new version of the
// tree that shares every untouched node with the previous one, then
// publishes the new root atomically. Readers (Get, iterators, snapshots) load
// a root and walk immutable nodes without locks, so a snapshot costs O(1) and
// a reader never sees half a batch. Writers are serialised by a mutex; inside
// one commit, nodes created by that commit are updated in place (they are not
// yet visible to anyone), so a large batch does not copy a path per key.
//
// Costs: Get and Seek O(log n); a batch of k operations O(k log n); a
// DeleteRange over m keys O(m log n). Sync is accepted and ignored: nothing
// is durable. The zero value is not usable; call New.
package memkv
