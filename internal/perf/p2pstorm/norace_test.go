//go:build !race

package p2pstorm

const raceEnabled = false
