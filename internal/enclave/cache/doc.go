// Package cache is the enclave's internal cache tier (DESIGN.md 5.1): a
// map from string keys to values bounded by the sum of their byte costs,
// whose admission and eviction follow the access frequency and recency of
// keys, in the manner of W-TinyLFU (Einziger, Friedman, Manes: "TinyLFU: A
// Highly Efficient Cache Admission Policy", 2017; the policy of Caffeine
// and Ristretto):
//
//   - a frequency sketch (count-min, 4 rows of 4-bit saturating counters)
//     counts every Get of every key, hit or miss, and halves all counters
//     after 10 increments per counter ("aging"), so frequencies follow
//     the recent past;
//   - a small admission window (Options.WindowPercent of the bytes, LRU)
//     takes every new entry, so a burst of new keys gets a chance to prove
//     itself;
//   - the main space is a segmented LRU: probation (entries that came
//     from the window) and protected (Options.ProtectedPercent of the main
//     space: entries hit again while on probation);
//   - an entry leaving the window is a candidate for the main space: while
//     there is no room for it, it is compared with the victim (the least
//     recently used entry of probation, else of protected) and the one the
//     sketch estimates as less frequent goes; a tie rejects the candidate.
//
// A Cache is a deterministic core: no goroutines, clock or I/O, and not
// safe for concurrent use; its owner serialises calls (the enclave holds
// it under its tier lock). Equal call sequences with equal Options give
// equal results.
//
// Values are treated as immutable: a Cache never modifies a value, and
// callers must not modify a value after Set or after Get returned it.
package cache
