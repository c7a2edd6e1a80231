package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// ChecksumCRC32C tags a Raft log entry's Extensions as holding the
// CRC-32C (Castagnoli) of the entry's Data: the tag byte, then the four
// bytes of the sum, big-endian. The tag names the scheme, so that another
// may follow without changing this one's meaning.
const ChecksumCRC32C byte = 'c'

// checksumLen is the length of a CRC-32C extension: tag and sum.
const checksumLen = 1 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the Extensions of a Raft log entry carrying data: the
// ChecksumCRC32C tag and the CRC-32C of data.
func Checksum(data []byte) []byte {
	out := make([]byte, checksumLen)
	out[0] = ChecksumCRC32C
	binary.BigEndian.PutUint32(out[1:], crc32.Checksum(data, castagnoli))
	return out
}

// VerifyChecksum checks data against ext, an entry's Extensions. known is
// false when ext holds no checksum this version recognises (empty: an entry
// from a leader older than checksums; another tag or length: a scheme it
// does not know), and the entry is then applied unverified. ok is false
// only for a recognised checksum that does not match: the entry is corrupt.
func VerifyChecksum(data, ext []byte) (known, ok bool) {
	if len(ext) != checksumLen || ext[0] != ChecksumCRC32C {
		return false, true
	}
	return true, binary.BigEndian.Uint32(ext[1:]) == crc32.Checksum(data, castagnoli)
}
