package triage

import (
	"encoding/json"
	"fmt"
)

// Documents of the seed that routing cites.
const (
	DocRules          = "实施细则"   // 管行业必须管安全…实施细则（试行）, Art. 10–70
	DocAccountability = "责任追究办法" // 安全生产责任追究办法（试行）, Art. 4 and 7
)

// Article is one article of a seed document, verbatim: the heading line and
// its numbered items (item 0 is the body of an article without items).
type Article struct {
	Document string        `json:"document"`
	Number   int           `json:"number"`
	Heading  string        `json:"heading"`
	Items    []ArticleItem `json:"items"`
}

// ArticleItem is one numbered item of an article.
type ArticleItem struct {
	Number int    `json:"n"`
	Text   string `json:"text"`
}

// articleSet is data/articles.json: the article texts routing relies on,
// extracted from the seed (see seed_test.go -update) so that validation and
// explanations need no file outside the binary.
type articleSet struct {
	Source   string    `json:"source"`
	SHA256   string    `json:"sha256"`
	Articles []Article `json:"articles"`
}

type articleKey struct {
	doc     string
	article int
	item    int
}

// index maps document/article/item to the item text and checks that the set
// has no duplicates and no empty texts.
func (s *articleSet) index() (map[articleKey]string, error) {
	idx := make(map[articleKey]string)
	for _, a := range s.Articles {
		if a.Document != DocRules && a.Document != DocAccountability {
			return nil, fmt.Errorf("第%d条: 未知文件 %q", a.Number, a.Document)
		}
		if chineseNumeral(a.Number) == "" || len(a.Items) == 0 {
			return nil, fmt.Errorf("%s第%d条: 条号或条文为空", a.Document, a.Number)
		}
		head := articleKey{a.Document, a.Number, -1}
		if _, dup := idx[head]; dup {
			return nil, fmt.Errorf("%s第%d条: 重复", a.Document, a.Number)
		}
		idx[head] = a.Heading
		for _, it := range a.Items {
			k := articleKey{a.Document, a.Number, it.Number}
			if _, dup := idx[k]; dup || it.Text == "" {
				return nil, fmt.Errorf("%s%s: 重复或为空", a.Document, Citation(a.Number, it.Number))
			}
			idx[k] = it.Text
		}
	}
	return idx, nil
}

func decodeArticles(b []byte) (*articleSet, error) {
	var s articleSet
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("articles.json: %w", err)
	}
	return &s, nil
}
