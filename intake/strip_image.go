package intake

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// JPEG markers the walker needs by name.
const (
	jpegSOI  = 0xD8
	jpegEOI  = 0xD9
	jpegSOS  = 0xDA
	jpegAPP0 = 0xE0
	jpegAPP1 = 0xE1
	jpegAPP2 = 0xE2
	jpegAP14 = 0xEE
	jpegCOM  = 0xFE
)

// stripJPEG walks the marker segments of a JPEG and copies all but the
// metadata: APP1 (EXIF with GPS and the camera serial, XMP), APP13 (IPTC /
// Photoshop), COM comments, every other application segment except an ICC
// colour profile (APP2 "ICC_PROFILE") and the Adobe colour-transform flag
// (APP14 "Adobe"), and a JFIF header carrying a thumbnail. It stops at the
// first EOI, which also drops the secondary images (with their own EXIF) that
// phones append after it. The image data is copied byte for byte: no decode,
// no re-encode, no quality loss.
func stripJPEG(in []byte) ([]byte, error) {
	if len(in) < 4 || in[0] != 0xFF || in[1] != jpegSOI {
		return nil, fmt.Errorf("%w: no JPEG start marker", errMalformed)
	}
	out := make([]byte, 0, len(in))
	out = append(out, 0xFF, jpegSOI)
	i := 2
	for {
		if i >= len(in) || in[i] != 0xFF {
			return nil, fmt.Errorf("%w: expected a JPEG marker at %d", errMalformed, i)
		}
		for i < len(in) && in[i] == 0xFF { // fill bytes may precede a marker
			i++
		}
		if i >= len(in) {
			return nil, fmt.Errorf("%w: JPEG ends inside a marker", errMalformed)
		}
		m := in[i]
		i++
		switch {
		case m == jpegEOI:
			return append(out, 0xFF, jpegEOI), nil
		case m == 0x00 || m == jpegSOI:
			return nil, fmt.Errorf("%w: JPEG marker %#x out of place", errMalformed, m)
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // TEM, RSTn: no payload
			out = append(out, 0xFF, m)
			continue
		}
		if i+2 > len(in) {
			return nil, fmt.Errorf("%w: JPEG segment length truncated", errMalformed)
		}
		n := int(binary.BigEndian.Uint16(in[i:]))
		if n < 2 || i+n > len(in) {
			return nil, fmt.Errorf("%w: JPEG segment %#x of length %d overruns the file", errMalformed, m, n)
		}
		segment := in[i : i+n]
		if keepJPEGSegment(m, segment[2:]) {
			out = append(out, 0xFF, m)
			out = append(out, segment...)
		}
		i += n
		if m == jpegSOS {
			end := entropyEnd(in, i)
			out = append(out, in[i:end]...)
			if end == len(in) { // no EOI: the file was cut short; close it
				return append(out, 0xFF, jpegEOI), nil
			}
			i = end
		}
	}
}

// keepJPEGSegment decides whether a marker segment (payload after the length)
// carries pixels or colour information (keep) or metadata (drop).
func keepJPEGSegment(m byte, payload []byte) bool {
	switch {
	case m == jpegAPP0:
		// A bare JFIF header (14 bytes) is harmless; one with a thumbnail,
		// or a JFXX extension, may show the uncropped original.
		return len(payload) == 14 && bytes.HasPrefix(payload, []byte("JFIF\x00"))
	case m == jpegAPP2:
		return bytes.HasPrefix(payload, []byte("ICC_PROFILE\x00"))
	case m == jpegAP14:
		return bytes.HasPrefix(payload, []byte("Adobe"))
	case m >= jpegAPP1 && m <= 0xEF, m == jpegCOM:
		return false
	}
	return true
}

// entropyEnd returns the index of the first marker after entropy-coded data
// starting at i (skipping stuffed 0xFF00 bytes and restart markers), or
// len(in) if there is none.
func entropyEnd(in []byte, i int) int {
	for j := i; j+1 < len(in); j++ {
		if in[j] != 0xFF {
			continue
		}
		switch next := in[j+1]; {
		case next == 0x00 || (next >= 0xD0 && next <= 0xD7):
			j++ // stuffed byte or restart marker: still entropy data
		case next == 0xFF:
			// fill byte: look at the next one
		default:
			return j
		}
	}
	return len(in)
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// pngMetadataChunks are the ancillary chunks that carry text, EXIF (with
// GPS) or the time of last modification; everything else is image data or
// rendering information and is kept.
var pngMetadataChunks = map[string]bool{"tEXt": true, "zTXt": true, "iTXt": true, "eXIf": true, "tIME": true}

// stripPNG copies a PNG chunk by chunk without its metadata chunks, and
// stops at IEND (dropping anything appended after the image).
func stripPNG(in []byte) ([]byte, error) {
	if !bytes.HasPrefix(in, pngSignature) {
		return nil, fmt.Errorf("%w: no PNG signature", errMalformed)
	}
	out := make([]byte, 0, len(in))
	out = append(out, pngSignature...)
	first := true
	for i := len(pngSignature); ; {
		if i+8 > len(in) {
			return nil, fmt.Errorf("%w: PNG ends without IEND", errMalformed)
		}
		n := binary.BigEndian.Uint32(in[i:])
		typ := string(in[i+4 : i+8])
		if n > 1<<31-1 || uint64(i)+12+uint64(n) > uint64(len(in)) {
			return nil, fmt.Errorf("%w: PNG chunk %q overruns the file", errMalformed, typ)
		}
		if first && typ != "IHDR" {
			return nil, fmt.Errorf("%w: PNG does not start with IHDR", errMalformed)
		}
		first = false
		end := i + 12 + int(n)
		if !pngMetadataChunks[typ] {
			out = append(out, in[i:end]...)
		}
		if typ == "IEND" {
			return out, nil
		}
		i = end
	}
}
