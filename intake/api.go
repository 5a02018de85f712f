package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"whistle"
	"whistle/crypto"
)

// The JSON API answers errors as *whistle.Error; httpd's error handler
// writes {"error":{"code","message","field"}} with the matching status.
//
// Receipts are returned as 20 plain digits (apps store and compare them as
// they are); the web pages show them grouped in fours. Both forms, and
// full-width digits, are accepted wherever a receipt is read.

// apiReport is the JSON body of POST /api/v1/reports.
type apiReport struct {
	Channel      string `json:"channel"`
	Text         string `json:"text"`
	City         string `json:"city"`
	County       string `json:"county"`
	Address      string `json:"address"`
	Company      string `json:"company"`
	Industry     string `json:"industry"`
	StartedAt    string `json:"started_at"`
	DangerNow    bool   `json:"danger_now"`
	Relationship string `json:"relationship"`
	Contact      string `json:"contact"`
}

type apiReceipt struct {
	Receipt string `json:"receipt"`
}

type apiMessage struct {
	Receipt string `json:"receipt"`
	Text    string `json:"text"`
}

// decodeJSON decodes a JSON body strictly: valid UTF-8 (encoding/json would
// silently replace invalid bytes), no unknown fields, nothing after the
// value.
func decodeJSON(body []byte, v any) error {
	if !utf8.Valid(body) {
		return &whistle.Error{Code: whistle.EINVALID, Message: "请求包含无效的字符编码（须为UTF-8）。"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("trailing data after the JSON value")
		}
	}
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &whistle.Error{Code: whistle.EINVALID, Field: te.Field, Message: "字段类型不正确。", Err: err}
		}
		return &whistle.Error{Code: whistle.EINVALID, Message: "请求不是有效的JSON，或包含未知字段。", Err: err}
	}
	return nil
}

// mediaType is the request's Content-Type without parameters.
func mediaType(c *fiber.Ctx) string {
	mt, _, err := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	if err != nil {
		return ""
	}
	return mt
}

func (h *Handler) apiSubmit(c *fiber.Ctx) error {
	noStore(c)
	if err := h.allowSubmit(c); err != nil {
		return err
	}
	var in Submission
	switch mediaType(c) {
	case fiber.MIMEApplicationJSON:
		if err := checkBody(c, maxJSONBytes); err != nil {
			return err
		}
		var body apiReport
		if err := decodeJSON(c.Body(), &body); err != nil {
			return err
		}
		if body.Channel != "" && body.Channel != string(whistle.ChannelWeb) {
			return fieldError("channel", "此接口只接受网上举报（channel 为 web）；热线举报请通过坐席台提交。")
		}
		in = Submission{Channel: whistle.ChannelWeb, City: body.City, County: body.County, Identity: body.Contact,
			Report: whistle.Report{Text: body.Text, Address: body.Address, Company: body.Company, Industry: body.Industry,
				StartedAt: body.StartedAt, DangerNow: body.DangerNow, Relationship: body.Relationship}}
	case fiber.MIMEMultipartForm:
		if err := checkBody(c, MaxBodyBytes); err != nil {
			return err
		}
		var f form
		err := h.withUploadSlot(c.UserContext(), func() (err error) {
			if f, err = parseForm(string(c.Request().Header.ContentType()), c.Body(), MaxAttachments); err != nil {
				return err
			}
			in = reportFromForm(f)
			if ch := f.get("channel"); ch != "" && ch != string(whistle.ChannelWeb) {
				return fieldError("channel", "此接口只接受网上举报（channel 为 web）。")
			}
			in.Attachments, err = prepareUploads(f.files)
			return err
		})
		if err != nil {
			return err
		}
	default:
		return &whistle.Error{Code: whistle.EUNSUPPORTED, Message: "请以 application/json 或 multipart/form-data 提交。"}
	}
	receipt, _, err := h.svc.Submit(c.UserContext(), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"receipt": string(receipt), "status": string(whistle.StateReceived)})
}

func (h *Handler) apiFollow(c *fiber.Ctx) error {
	noStore(c)
	var body apiReceipt
	if err := h.decodeAPI(c, &body); err != nil {
		return err
	}
	var f *FollowUp
	err := h.openByReceipt(c, body.Receipt, func(r crypto.Receipt) (err error) {
		f, err = h.svc.Follow(c.UserContext(), r)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(f)
}

func (h *Handler) apiMessage(c *fiber.Ctx) error {
	noStore(c)
	var body apiMessage
	if err := h.decodeAPI(c, &body); err != nil {
		return err
	}
	err := h.openByReceipt(c, body.Receipt, func(r crypto.Receipt) error {
		if !h.sessions.allow(h.sources.key("receipt:" + string(r))) {
			return errRateLimited
		}
		return h.svc.AddMessage(c.UserContext(), r, body.Text)
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"status": "sent"})
}

// apiEvidence adds files to a case: multipart with a "receipt" field and
// "attachments" file parts.
func (h *Handler) apiEvidence(c *fiber.Ctx) error {
	noStore(c)
	if mediaType(c) != fiber.MIMEMultipartForm {
		return &whistle.Error{Code: whistle.EUNSUPPORTED, Message: "请以 multipart/form-data 提交文件。"}
	}
	if err := checkBody(c, MaxBodyBytes); err != nil {
		return err
	}
	err := h.withUploadSlot(c.UserContext(), func() error {
		f, err := parseForm(string(c.Request().Header.ContentType()), c.Body(), MaxAttachments)
		if err != nil {
			return err
		}
		files, err := prepareUploads(f.files)
		if err != nil {
			return err
		}
		return h.openByReceipt(c, f.get("receipt"), func(r crypto.Receipt) error {
			if !h.sessions.allow(h.sources.key("receipt:" + string(r))) {
				return errRateLimited
			}
			return h.svc.AddEvidence(c.UserContext(), r, files)
		})
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"status": "added"})
}

// decodeAPI checks the media type and size of a small JSON request and
// decodes it.
func (h *Handler) decodeAPI(c *fiber.Ctx, v any) error {
	if mediaType(c) != fiber.MIMEApplicationJSON {
		return &whistle.Error{Code: whistle.EUNSUPPORTED, Message: "请以 application/json 提交。"}
	}
	if err := checkBody(c, maxJSONBytes); err != nil {
		return err
	}
	return decodeJSON(c.Body(), v)
}
