package intake

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// exifWithGPS builds an APP1 EXIF payload whose IFD0 points (tag 0x8825) at
// a GPS IFD holding latitude 38°28'N — what a phone writes into a photo.
func exifWithGPS() []byte {
	le := binary.LittleEndian
	tiff := []byte("II*\x00")
	tiff = le.AppendUint32(tiff, 8) // IFD0 offset
	// IFD0: one entry, GPSInfo → GPS IFD at offset 26.
	tiff = le.AppendUint16(tiff, 1)
	tiff = le.AppendUint16(tiff, 0x8825)
	tiff = le.AppendUint16(tiff, 4) // LONG
	tiff = le.AppendUint32(tiff, 1)
	tiff = le.AppendUint32(tiff, 26)
	tiff = le.AppendUint32(tiff, 0) // no next IFD
	// GPS IFD at 26: GPSLatitudeRef "N", GPSLatitude 3 rationals at 56.
	tiff = le.AppendUint16(tiff, 2)
	tiff = le.AppendUint16(tiff, 0x0001)
	tiff = le.AppendUint16(tiff, 2) // ASCII
	tiff = le.AppendUint32(tiff, 2)
	tiff = append(tiff, 'N', 0, 0, 0)
	tiff = le.AppendUint16(tiff, 0x0002)
	tiff = le.AppendUint16(tiff, 5) // RATIONAL
	tiff = le.AppendUint32(tiff, 3)
	tiff = le.AppendUint32(tiff, 56)
	tiff = le.AppendUint32(tiff, 0)
	for _, v := range []uint32{38, 1, 28, 1, 0, 1} {
		tiff = le.AppendUint32(tiff, v)
	}
	return append([]byte("Exif\x00\x00"), tiff...)
}

func segment(marker byte, payload []byte) []byte {
	s := []byte{0xFF, marker}
	s = binary.BigEndian.AppendUint16(s, uint16(len(payload)+2))
	return append(s, payload...)
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := range 24 {
		for x := range 32 {
			img.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 10), 128, 255})
		}
	}
	return img
}

// phoneJPEG is a JPEG as a phone writes it: EXIF with GPS, XMP, IPTC, a
// comment, and a second image (with its own EXIF) appended after EOI.
func phoneJPEG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	out := []byte{0xFF, 0xD8}
	out = append(out, segment(0xE1, exifWithGPS())...)
	out = append(out, segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>宁夏银川 38.47N</x:xmpmeta>"))...)
	out = append(out, segment(0xED, []byte("Photoshop 3.0\x008BIM iptc city"))...)
	out = append(out, segment(0xFE, []byte("taken by Zhang San"))...)
	out = append(out, plain[2:]...)
	out = append(out, 0xFF, 0xD8)
	out = append(out, segment(0xE1, exifWithGPS())...)
	return append(out, plain[2:]...)
}

// hasEXIFGPS reports whether a JPEG has an EXIF segment whose IFD0 carries
// the GPSInfo tag, reading it the way an EXIF reader would.
func hasEXIFGPS(data []byte) bool {
	for i := 2; i+4 <= len(data) && data[i] == 0xFF; {
		m := data[i+1]
		if m == 0xDA || m == 0xD9 {
			return false
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if i+2+n > len(data) {
			return false
		}
		p := data[i+4 : i+2+n]
		if m == 0xE1 && bytes.HasPrefix(p, []byte("Exif\x00\x00")) && ifd0HasGPS(p[6:]) {
			return true
		}
		i += 2 + n
	}
	return false
}

func ifd0HasGPS(tiff []byte) bool {
	if len(tiff) < 8 || string(tiff[:4]) != "II*\x00" {
		return false
	}
	off := int(binary.LittleEndian.Uint32(tiff[4:]))
	if off+2 > len(tiff) {
		return false
	}
	count := int(binary.LittleEndian.Uint16(tiff[off:]))
	for e := range count {
		p := off + 2 + 12*e
		if p+12 <= len(tiff) && binary.LittleEndian.Uint16(tiff[p:]) == 0x8825 {
			return true
		}
	}
	return false
}

// phonePNG is a PNG with text, EXIF and time chunks, and bytes after IEND.
func phonePNG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage()); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	ihdrEnd := 8 + 12 + 13
	out := append([]byte{}, plain[:ihdrEnd]...)
	for _, c := range []struct{ typ, data string }{
		{"tEXt", "Author\x00Zhang San"}, {"eXIf", string(exifWithGPS()[6:])}, {"tIME", "\x07\xe9\x01\x02\x03\x04\x05"},
		{"iTXt", "Location\x00\x00\x00\x00\x00宁夏"}, {"zTXt", "Comment\x00\x00x\x9c"},
	} {
		out = append(out, pngChunk(c.typ, []byte(c.data))...)
	}
	out = append(out, plain[ihdrEnd:]...)
	return append(out, "trailing secret"...)
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}
