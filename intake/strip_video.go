package intake

import (
	"encoding/binary"
	"fmt"
)

// stripMP4 removes metadata from an MP4 / QuickTime file without moving a
// single byte: the sample tables point into mdat by absolute file offset, so
// the file must keep its length and layout. Instead of cutting boxes out it
//
//   - renames every udta (user data: GPS "©xyz", device make and model,
//     Samsung "smta"), meta (Apple's location, make, model, software keys) and
//     uuid (XMP, vendor blobs) box at the top level, in moov and in each trak
//     to "free", which every player skips, and blanks its payload;
//   - zeroes the creation and modification times in mvhd, tkhd and mdhd.
//
// Audio and video samples are untouched.
func stripMP4(in []byte) ([]byte, error) {
	out := make([]byte, len(in))
	copy(out, in)
	if err := stripBoxes(out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// mp4Containers are the boxes whose children stripBoxes visits.
var mp4Containers = map[string]bool{"moov": true, "trak": true, "mdia": true}

// mp4Metadata are the boxes turned into "free".
var mp4Metadata = map[string]bool{"udta": true, "meta": true, "uuid": true}

// mp4Timestamped are full boxes that start with creation and modification
// times.
var mp4Timestamped = map[string]bool{"mvhd": true, "tkhd": true, "mdhd": true}

const maxBoxDepth = 8

// stripBoxes edits the sequence of boxes filling b in place.
func stripBoxes(b []byte, depth int) error {
	if depth > maxBoxDepth {
		return fmt.Errorf("%w: MP4 boxes nested too deep", errMalformed)
	}
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("%w: MP4 box header truncated", errMalformed)
		}
		size := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		header := uint64(8)
		switch size {
		case 0: // extends to the end of the enclosing space
			size = uint64(len(b))
		case 1: // 64-bit size follows the type
			if len(b) < 16 {
				return fmt.Errorf("%w: MP4 large box header truncated", errMalformed)
			}
			size, header = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < header || size > uint64(len(b)) {
			return fmt.Errorf("%w: MP4 box %q of size %d overruns its container", errMalformed, typ, size)
		}
		box, payload := b[:size], b[header:size]
		switch {
		case mp4Metadata[typ]:
			copy(box[4:8], "free")
			clear(payload)
		case mp4Timestamped[typ]:
			zeroBoxTimes(payload)
		case mp4Containers[typ]:
			if err := stripBoxes(payload, depth+1); err != nil {
				return err
			}
		}
		b = b[size:]
	}
	return nil
}

// zeroBoxTimes clears creation_time and modification_time of a full box
// (version 0: 32-bit each; version 1: 64-bit each) if the payload holds them.
func zeroBoxTimes(p []byte) {
	if len(p) < 4 {
		return
	}
	width := 4
	if p[0] == 1 {
		width = 8
	}
	if len(p) >= 4+2*width {
		clear(p[4 : 4+2*width])
	}
}
