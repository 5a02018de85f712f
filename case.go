package whistle

import "time"

// Channel is how a report arrived.
type Channel string

const (
	ChannelWeb       Channel = "web"       // the anonymous web form or JSON API
	ChannelHotline   Channel = "12345"     // 12345 government service hotline, typed by an agent
	ChannelSafety    Channel = "12350"     // 12350 safety reporting line, typed by an agent
	ChannelLetter    Channel = "letter"    // a letter, typed by an agent
	ChannelVisit     Channel = "visit"     // an in-person visit, typed by an agent
	ChannelWorkOrder Channel = "workorder" // a work order pushed by the 12345 platform
)

// Case is one report and everything done about it: the unit of storage (one
// document), of routing and of the lifecycle. Only what queues, clocks and
// statistics need is in clear; the report itself, messages, attachments and
// the reporter's identity are sealed with the case's data key, whose sealed
// copies live in Keys.
type Case struct {
	ID         string    `bson:"_id" json:"id"`
	Version    int64     `bson:"version" json:"version"` // optimistic concurrency; the store bumps it on every write
	Channel    Channel   `bson:"channel" json:"channel"`
	ReceivedAt time.Time `bson:"received_at" json:"received_at"`
	City       string    `bson:"city,omitempty" json:"city,omitempty"` // jurisdiction: 地级市 or 宁东能源化工基地
	County     string    `bson:"county,omitempty" json:"county,omitempty"`
	Urgent     bool      `bson:"urgent" json:"urgent"` // imminent danger to life, from the reporter or triage
	Kind       string    `bson:"kind,omitempty" json:"kind,omitempty"`

	Lifecycle Lifecycle `bson:"lifecycle" json:"lifecycle"`
	Routing   *Routing  `bson:"routing,omitempty" json:"routing,omitempty"`
	Clocks    []Clock   `bson:"clocks,omitempty" json:"clocks,omitempty"`

	Sealed      Sealed        `bson:"sealed" json:"-"`
	Messages    []Message     `bson:"messages,omitempty" json:"-"`
	Attachments []Attachment  `bson:"attachments,omitempty" json:"attachments,omitempty"`
	Duplicates  []Duplicate   `bson:"duplicates,omitempty" json:"duplicates,omitempty"`
	Identity    *SealedRecord `bson:"identity,omitempty" json:"-"`
}

// Sealed is the encrypted part of a case. Content and Explanation are field
// envelopes opened with the case data key; Keys holds that data key sealed to
// each holder (triage, department, coordination, reporter, custodian), so
// deleting every entry of Keys shreds the case.
type Sealed struct {
	Content      []byte            `bson:"content"`
	Explanation  []byte            `bson:"explanation,omitempty"`
	Keys         map[string][]byte `bson:"keys"`
	ReporterSalt []byte            `bson:"reporter_salt,omitempty"`
	Shredded     bool              `bson:"shredded,omitempty"`
}

// SealedRecord is a value sealed under its own data key (the identity vault).
type SealedRecord struct {
	Ciphertext []byte            `bson:"ciphertext"`
	Keys       map[string][]byte `bson:"keys"`
}

// Report is the plaintext a reporter or hotline agent submits. It only ever
// exists in memory; at rest it is Case.Sealed.Content.
type Report struct {
	Text         string `json:"text"`
	Address      string `json:"address,omitempty"`
	Company      string `json:"company,omitempty"`
	Industry     string `json:"industry,omitempty"`
	StartedAt    string `json:"started_at,omitempty"`
	DangerNow    bool   `json:"danger_now,omitempty"`
	Relationship string `json:"relationship,omitempty"` // employee | family | other
	OrderNo      string `json:"order_no,omitempty"`     // 12345 work order number
}

// Routing is the triage decision as stored: everything but the explanation,
// which quotes the report and is sealed.
type Routing struct {
	Lead       string    `bson:"lead" json:"lead"`
	Assist     []string  `bson:"assist,omitempty" json:"assist,omitempty"`
	Principle  string    `bson:"principle" json:"principle"`
	Basis      []string  `bson:"basis" json:"basis"`
	Kind       string    `bson:"kind" json:"kind"`
	Referral   bool      `bson:"referral,omitempty" json:"referral,omitempty"` // copied to 纪委监委
	Escalate   bool      `bson:"escalate,omitempty" json:"escalate,omitempty"` // 提级督办 proposed
	Confidence float64   `bson:"confidence" json:"confidence"`
	RoutedAt   time.Time `bson:"routed_at" json:"routed_at"`
	Ruleset    string    `bson:"ruleset,omitempty" json:"ruleset,omitempty"` // registry version used
}

// Clock is a statutory deadline running on a case.
type Clock struct {
	Name      string     `bson:"name" json:"name"` // sign_for | handling | feedback | reward_claim
	Due       time.Time  `bson:"due" json:"due"`
	Stopped   *time.Time `bson:"stopped,omitempty" json:"stopped,omitempty"`
	Escalated int        `bson:"escalated,omitempty" json:"escalated,omitempty"` // escalation steps taken
}

// Message is one sealed message between the reporter and the handlers.
type Message struct {
	ID   string    `bson:"id" json:"id"`
	At   time.Time `bson:"at" json:"at"`
	From Role      `bson:"from" json:"from"`
	By   string    `bson:"by,omitempty" json:"-"` // staff member id; empty for the reporter
	Body []byte    `bson:"body" json:"-"`         // field envelope
}

// Attachment is an evidence file; its bytes are a sealed stream in the blob store.
type Attachment struct {
	ID    string    `bson:"id" json:"id"`
	Type  string    `bson:"type" json:"type"` // detected MIME type
	Size  int64     `bson:"size" json:"size"` // plaintext bytes
	At    time.Time `bson:"at" json:"at"`
	Name  []byte    `bson:"name,omitempty" json:"-"` // sealed original file name
	Chunk int       `bson:"chunks" json:"-"`         // number of stored blob chunks
}

// Duplicate links a case to an earlier case about the same matter.
type Duplicate struct {
	CaseID string  `bson:"case_id" json:"case_id"`
	Score  float64 `bson:"score" json:"score"`
}
