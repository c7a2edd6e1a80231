package wire

import (
	"bytes"
	"testing"
)

func TestChecksumVerifiesItsData(t *testing.T) {
	for _, data := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte{0xab}, 4096)} {
		ext := Checksum(data)
		if len(ext) != 5 || ext[0] != ChecksumCRC32C {
			t.Fatalf("Checksum(%d bytes) = %x, want the tag 'c' and 4 bytes", len(data), ext)
		}
		if known, ok := VerifyChecksum(data, ext); !known || !ok {
			t.Fatalf("VerifyChecksum(%d bytes, own checksum) = %v, %v; want known and ok", len(data), known, ok)
		}
	}
}

func TestChecksumPinsCRC32C(t *testing.T) {
	// CRC-32C of "123456789" is the standard check value 0xE3069283.
	if got, want := Checksum([]byte("123456789")), []byte{'c', 0xe3, 0x06, 0x92, 0x83}; !bytes.Equal(got, want) {
		t.Fatalf("Checksum(123456789) = %x, want %x", got, want)
	}
}

func TestVerifyChecksumCatchesCorruption(t *testing.T) {
	data := []byte("put key value")
	ext := Checksum(data)
	bad := bytes.Clone(data)
	bad[3] ^= 0x01
	if known, ok := VerifyChecksum(bad, ext); !known || ok {
		t.Fatalf("VerifyChecksum(flipped bit) = %v, %v; want known and not ok", known, ok)
	}
	badExt := bytes.Clone(ext)
	badExt[4] ^= 0xff
	if known, ok := VerifyChecksum(data, badExt); !known || ok {
		t.Fatalf("VerifyChecksum(corrupt sum) = %v, %v; want known and not ok", known, ok)
	}
}

func TestVerifyChecksumAppliesUnknownExtensionsUnverified(t *testing.T) {
	data := []byte("x")
	sum := Checksum(data)
	for name, ext := range map[string][]byte{
		"none":      nil,
		"empty":     {},
		"other tag": append([]byte{'z'}, sum[1:]...),
		"short":     sum[:4],
		"long":      append(bytes.Clone(sum), 0),
	} {
		if known, ok := VerifyChecksum(data, ext); known || !ok {
			t.Errorf("%s: VerifyChecksum = %v, %v; want unknown and ok", name, known, ok)
		}
	}
}
