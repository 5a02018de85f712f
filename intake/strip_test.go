package intake

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"image/png"
	"testing"

	"whistle"
)

func TestStripJPEGKeepsPixelsAndDropsMetadata(t *testing.T) {
	in := phoneJPEG(t)
	icc := segment(0xE2, []byte("ICC_PROFILE\x00\x01\x01profile-bytes"))
	withICC := append(append([]byte{0xFF, 0xD8}, icc...), in[2:]...)
	out, err := stripJPEG(withICC)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"Exif\x00\x00", "xmpmeta", "Photoshop 3.0", "Zhang San"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("%q survived", leak)
		}
	}
	if hasEXIFGPS(out) {
		t.Error("GPS tag survived")
	}
	if !bytes.Contains(out, []byte("ICC_PROFILE")) {
		t.Error("the colour profile was dropped")
	}
	if bytes.Count(out, []byte{0xFF, 0xD8}) != 1 || !bytes.HasSuffix(out, []byte{0xFF, 0xD9}) {
		t.Error("the appended second image was kept")
	}
	if _, err := jpeg.Decode(bytes.NewReader(out)); err != nil {
		t.Fatalf("stripped JPEG does not decode: %v", err)
	}
	again, err := stripJPEG(out)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatal("stripping is not idempotent")
	}
}

func TestStripPNGDropsTextExifTimeAndTrailer(t *testing.T) {
	out, err := stripPNG(phonePNG(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"tEXt", "zTXt", "iTXt", "eXIf", "tIME", "Zhang San", "trailing secret"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("%q survived", leak)
		}
	}
	if _, err := png.Decode(bytes.NewReader(out)); err != nil {
		t.Fatalf("stripped PNG does not decode: %v", err)
	}
}

func TestStripRejectsMalformedImages(t *testing.T) {
	jpg, pngData := phoneJPEG(t), phonePNG(t)
	cases := []struct {
		name  string
		strip func([]byte) ([]byte, error)
		data  []byte
	}{
		{"JPEG without start marker", stripJPEG, jpg[2:]},
		{"JPEG segment overrunning the file", stripJPEG, []byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 0x00}},
		{"JPEG garbage between segments", stripJPEG, []byte{0xFF, 0xD8, 0x00, 0x01, 0x02, 0x03}},
		{"PNG cut inside a chunk", stripPNG, pngData[:40]},
		{"PNG without IHDR first", stripPNG, append(append([]byte{}, pngSignature...), pngChunk("IEND", nil)...)},
		{"PNG without IEND", stripPNG, pngData[:len(pngData)-len("trailing secret")-12]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.strip(tc.data); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// samplePDF is a small PDF with document information (one value by
// reference, as some writers store it), an XMP stream, and an incremental
// update that repeats the information.
func samplePDF(extra string) []byte {
	return []byte("%PDF-1.4\n" +
		"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Metadata 4 0 R >>\nendobj\n" +
		"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
		"3 0 obj\n<< /Author (Zhang San \\(safety officer\\)) /Creator 5 0 R /Producer <48656c6c6f> /Title (Inspection) /CreationDate (D:20240301120000+08'00') >>\nendobj\n" +
		"4 0 obj\n<< /Type /Metadata /Subtype /XML /Length 60 >>\nstream\n<x:xmpmeta><dc:creator>Zhang San</dc:creator></x:xmpmeta>\nendstream\nendobj\n" +
		"5 0 obj\n(WPS Office on ZhangSan-PC)\nendobj\n" + extra +
		"trailer\n<< /Root 1 0 R /Info 3 0 R >>\n%%EOF\n" +
		"3 0 obj\n<< /Author (Zhang San) /ModDate (D:20240302) >>\nendobj\ntrailer\n<< /Root 1 0 R /Info 3 0 R /Prev 9 >>\n%%EOF\n")
}

func deflate(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestStripPDF(t *testing.T) {
	in := samplePDF("")
	out, err := stripPDF(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("length changed %d → %d: byte offsets in the xref table would break", len(in), len(out))
	}
	for _, leak := range []string{"Zhang", "safety officer", "WPS Office", "48656c6c6f", "Inspection", "D:2024", "xmpmeta"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("%q survived", leak)
		}
	}
	if !bytes.Contains(out, []byte("/Type /Catalog /Pages 2 0 R")) {
		t.Error("document structure was damaged")
	}

	refused := []struct {
		name string
		pdf  []byte
	}{
		{"encrypted", samplePDF("6 0 obj\n<< /Filter /Standard >>\nendobj\ntrailer\n<< /Encrypt 6 0 R >>\n")},
		{"compressed XMP", samplePDF("7 0 obj\n<< /Type /Metadata /Filter /FlateDecode /Length 9 >>\nstream\n" + deflate("<x:xmpmeta/>") + "\nendstream\nendobj\n")},
		{"information inside an object stream", samplePDF("8 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>\nstream\n" + deflate("9 0 << /Author (Li Si) >>") + "\nendstream\nendobj\n")},
		{"object stream with an unknown filter", samplePDF("8 0 obj\n<< /Type /ObjStm /N 1 /Filter /LZWDecode >>\nstream\nxxxx\nendstream\nendobj\n")},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PrepareEvidence("doc.pdf", tc.pdf)
			if whistle.ErrorCode(err) != whistle.EUNSUPPORTED {
				t.Fatalf("got %v, want a refusal", err)
			}
		})
	}
	t.Run("object stream without information is accepted", func(t *testing.T) {
		pdf := samplePDF("8 0 obj\n<< /Type /ObjStm /N 1 /Filter /FlateDecode >>\nstream\n" + deflate("9 0 << /Type /Page /Title (Outline) >>") + "\nendstream\nendobj\n")
		if _, err := stripPDF(pdf); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("EXIF of an embedded JPEG is zeroed in place", func(t *testing.T) {
		img := string(phoneJPEG(t))
		pdf := samplePDF(fmt.Sprintf("10 0 obj\n<< /Type /XObject /Subtype /Image /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(img), img))
		out, err := stripPDF(pdf)
		if err != nil || len(out) != len(pdf) {
			t.Fatalf("%v, length %d → %d", err, len(pdf), len(out))
		}
		if bytes.Contains(out, []byte("Exif")) || bytes.Contains(out, []byte("Zhang San")) {
			t.Fatal("embedded image metadata survived")
		}
	})
}

func box(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

// sampleMP4 is a phone video's box layout: ftyp, moov with mvhd, a trak
// (tkhd, mdia/mdhd, udta), moov-level udta with "©xyz" GPS and meta with
// Apple's location key, and mdat.
func sampleMP4() []byte {
	times := func() []byte { // version 0, creation and modification times
		return []byte{0, 0, 0, 0, 0xE1, 0x2F, 0x00, 0x01, 0xE1, 0x2F, 0x00, 0x02, 0, 0, 0x03, 0xE8}
	}
	return bytes.Join([][]byte{
		box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41")),
		box("moov",
			box("mvhd", times()),
			box("trak", box("tkhd", times()), box("mdia", box("mdhd", times())), box("udta", []byte("model: HUAWEI P60"))),
			box("udta", box("\xa9xyz", []byte("+38.4681+106.2731/"))),
			box("meta", []byte("com.apple.quicktime.location.ISO6709 +38.4681+106.2731")),
		),
		box("mdat", []byte("frame-data-that-must-not-move")),
	}, nil)
}

func TestStripMP4KeepsLayoutAndRemovesLocation(t *testing.T) {
	in := sampleMP4()
	if DetectType(in) != TypeMP4 {
		t.Fatalf("detected %q", DetectType(in))
	}
	out, err := stripMP4(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) || bytes.Index(out, []byte("frame-data")) != bytes.Index(in, []byte("frame-data")) {
		t.Fatal("media data moved: sample offsets would break")
	}
	for _, leak := range []string{"+38.4681", "HUAWEI", "udta", "\xa9xyz", "com.apple", "\xe1\x2f\x00\x01"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("%q survived", leak)
		}
	}
	if bytes.Count(out, []byte("free")) != 3 {
		t.Errorf("want 3 metadata boxes renamed to free, got %d", bytes.Count(out, []byte("free")))
	}
	if _, err := stripMP4(append(in, 0, 0, 0, 99, 'x')); err == nil {
		t.Error("a box overrunning the file was accepted")
	}
}

func TestDetectTypeIgnoresNamesAndRefusesUnhandledFormats(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"JPEG", phoneJPEG(t), TypeJPEG},
		{"PNG", phonePNG(t), TypePNG},
		{"PDF", samplePDF(""), TypePDF},
		{"MP4", sampleMP4(), TypeMP4},
		{"QuickTime", box("ftyp", []byte("qt  \x00\x00\x00\x00qt  ")), TypeQuickTime},
		{"HEIC photo", box("ftyp", []byte("heic\x00\x00\x00\x00mif1heic")), ""},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00"), ""},
		{"HTML", []byte("<html><script>alert(1)</script>"), ""},
		{"empty", nil, ""},
	}
	for _, tc := range cases {
		if got := DetectType(tc.data); got != tc.want {
			t.Errorf("%s: detected %q, want %q", tc.name, got, tc.want)
		}
	}
}
