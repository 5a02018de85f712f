package intake

import (
	"bytes"
	"encoding/binary"
	"mime/multipart"
	"testing"
)

// FuzzParseForm feeds arbitrary bodies to the form parser under both form
// content types: it must never panic, and what it accepts must respect the
// file count and size limits.
func FuzzParseForm(f *testing.F) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.SetBoundary("XyZ")
	w.WriteField("text", "消防通道被堵")
	fw, _ := w.CreateFormFile(attachmentsField, "a.jpg")
	fw.Write(phoneJPEG(f))
	w.Close()
	f.Add("multipart/form-data; boundary=XyZ", buf.Bytes())
	f.Add("application/x-www-form-urlencoded", []byte("text=%E6%B6%88&city=%E9%93%B6%E5%B7%9D%E5%B8%82&danger_now=yes"))
	f.Add("multipart/form-data; boundary=XyZ", []byte("--XyZ\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"\"\r\n\r\n\r\n--XyZ--\r\n"))
	f.Add("text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		const maxFiles = 2
		form, err := parseForm(contentType, body, maxFiles)
		if err != nil {
			return
		}
		if len(form.files) > maxFiles {
			t.Fatalf("%d files accepted, limit %d", len(form.files), maxFiles)
		}
		for _, u := range form.files {
			if len(u.data) > MaxAttachmentBytes {
				t.Fatalf("file of %d bytes accepted", len(u.data))
			}
		}
		// Whatever the form holds, building and validating a submission
		// from it must not panic either.
		in := reportFromForm(form)
		in.normalise()
	})
}

// FuzzDecodeReportJSON: the JSON API's strict decoder and validation.
func FuzzDecodeReportJSON(f *testing.F) {
	f.Add([]byte(`{"text":"塔吊无证操作","city":"中卫市","county":"中宁县","danger_now":true,"relationship":"family"}`))
	f.Add([]byte(`{"text":"a\u202eb"}`))
	f.Add([]byte(`{"text":"x"} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r apiReport
		if decodeJSON(body, &r) != nil {
			return
		}
		in := Submission{Channel: "web", City: r.City, County: r.County, Identity: r.Contact}
		in.Report.Text, in.Report.Relationship = r.Text, r.Relationship
		out, err := in.normalise()
		if err == nil && (out.Report.Text == "" || len([]rune(out.Report.Text)) > MaxTextRunes) {
			t.Fatalf("accepted text of %d runes", len([]rune(out.Report.Text)))
		}
	})
}

// jpegSegments lists the markers of the segments before the first scan.
func jpegSegments(data []byte) []byte {
	var markers []byte
	for i := 2; i+4 <= len(data) && data[i] == 0xFF; {
		m := data[i+1]
		markers = append(markers, m)
		if m == jpegSOS || m == jpegEOI || (m >= 0xD0 && m <= 0xD7) || m == 0x01 {
			return markers
		}
		i += 2 + int(binary.BigEndian.Uint16(data[i+2:]))
	}
	return markers
}

func FuzzStripJPEG(f *testing.F) {
	f.Add(phoneJPEG(f))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 'E', 'x', 0xFF, 0xDA, 0x00, 0x02, 0x01, 0xFF, 0x00, 0xFF, 0xD9})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := stripJPEG(data)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(out, []byte{0xFF, 0xD8}) || !bytes.HasSuffix(out, []byte{0xFF, 0xD9}) {
			t.Fatal("output is not delimited by SOI and EOI")
		}
		for _, m := range jpegSegments(out) {
			if m == jpegAPP1 || m == 0xED || m == jpegCOM {
				t.Fatalf("metadata segment %#x survived", m)
			}
		}
		again, err := stripJPEG(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v", err)
		}
	})
}

func FuzzStripPNG(f *testing.F) {
	f.Add(phonePNG(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := stripPNG(data)
		if err != nil {
			return
		}
		for i := len(pngSignature); i+8 <= len(out); {
			n := int(binary.BigEndian.Uint32(out[i:]))
			if typ := string(out[i+4 : i+8]); pngMetadataChunks[typ] {
				t.Fatalf("metadata chunk %q survived", typ)
			}
			i += 12 + n
		}
		if again, err := stripPNG(out); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v", err)
		}
	})
}

func FuzzStripPDF(f *testing.F) {
	f.Add(samplePDF(""))
	f.Add(samplePDF("8 0 obj\n<< /Type /ObjStm /Filter /FlateDecode >>\nstream\n" + deflate("<< /Author (x) >>") + "\nendstream\nendobj\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := stripPDF(data)
		if err == nil && len(out) != len(data) {
			t.Fatalf("length changed %d → %d", len(data), len(out))
		}
	})
}

func FuzzStripMP4(f *testing.F) {
	f.Add(sampleMP4())
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := stripMP4(data)
		if err != nil {
			return
		}
		if len(out) != len(data) {
			t.Fatalf("length changed %d → %d", len(data), len(out))
		}
		if again, err := stripMP4(out); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v", err)
		}
	})
}
