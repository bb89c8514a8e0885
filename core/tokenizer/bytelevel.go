package tokenizer

// The GPT-2 byte-level alphabet: every byte maps to one printable rune so
// that byte sequences can live in a JSON vocabulary. Printable Latin-1 bytes
// map to themselves; the other 68 bytes map to U+0100 onwards in byte order.
var (
	byteToRune [256]rune
	runeToByte [256 + 68]int16 // -1 where the rune is not in the alphabet
)

func init() {
	for i := range runeToByte {
		runeToByte[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = int16(b)
	}
}

// byteLevelEncode maps raw bytes to their byte-level string form, the form
// in which tokenizer.json spells vocabulary entries and merges.
func byteLevelEncode(raw string) string {
	out := make([]rune, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		out = append(out, byteToRune[raw[i]])
	}
	return string(out)
}

// byteLevelDecode is the inverse of byteLevelEncode. ok is false when tok
// holds a rune outside the byte-level alphabet: Hugging Face's ByteLevel
// decoder then falls back to the token's own UTF-8 bytes, and so do we.
func byteLevelDecode(tok string) (raw []byte, ok bool) {
	raw = make([]byte, 0, len(tok))
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] < 0 {
			return nil, false
		}
		raw = append(raw, byte(runeToByte[r]))
	}
	return raw, true
}
