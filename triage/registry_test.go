package triage

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRegistryHasEveryDepartmentOfArticles13To69WithEveryItem(t *testing.T) {
	r := testRouter(t)
	arts, err := decodeArticles(articlesJSON)
	if err != nil {
		t.Fatal(err)
	}
	byArticle := map[int]Department{}
	for _, d := range r.Departments() {
		if d.Document == DocRules && d.Article >= 13 && d.Article <= 69 {
			byArticle[d.Article] = d
		}
	}
	for _, a := range arts.Articles {
		if a.Document != DocRules || a.Number < 13 || a.Number > 69 {
			continue
		}
		d, ok := byArticle[a.Number]
		if !ok {
			t.Errorf("第%d条: no department", a.Number)
			continue
		}
		if d.Name != departmentName(a.Heading) {
			t.Errorf("第%d条: department %q, heading says %q", a.Number, d.Name, departmentName(a.Heading))
		}
		for _, it := range a.Items {
			found := false
			for _, du := range d.Duties {
				found = found || du.Article == a.Number && du.Item == it.Number && du.Text == it.Text
			}
			if !found {
				t.Errorf("%s %s: item missing or text differs", d.Name, Citation(a.Number, it.Number))
			}
		}
	}
	if len(byArticle) != 57 {
		t.Errorf("%d departments for Articles 13–69, want 57", len(byArticle))
	}
	for _, want := range []string{"自治区住房城乡建设厅", "宁夏消防救援总队", "自治区文化和旅游厅（文物局）", "自治区国动办(人防办)", "兰州铁路监督管理局", SafetyCommitteeOffice, DisciplineCommission} {
		found := false
		for _, d := range r.Departments() {
			found = found || d.Name == want
		}
		if !found {
			t.Errorf("department %q missing", want)
		}
	}
}

func TestDepartmentsReturnsACopy(t *testing.T) {
	r := testRouter(t)
	ds := r.Departments()
	ds[0].Name = "changed"
	ds[1].Duties[0].Text = "changed"
	again := r.Departments()
	if again[0].Name == "changed" || again[1].Duties[0].Text == "changed" {
		t.Fatal("Departments exposes the router's registry")
	}
}

// mutate decodes the embedded registry, applies f and re-encodes it.
func mutate(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(registryJSON, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func department(m map[string]any, article float64) map[string]any {
	for _, d := range m["departments"].([]any) {
		dm := d.(map[string]any)
		if dm["article"] == article && dm["document"] == nil {
			return dm
		}
	}
	panic("no department for the article")
}

func TestRegistryValidationRejectsBrokenData(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"missing item", func(m map[string]any) {
			d := department(m, 35)
			d["duties"] = d["duties"].([]any)[1:]
		}, "未登记"},
		{"item that the article does not have", func(m map[string]any) {
			d := department(m, 35)
			d["duties"] = append(d["duties"].([]any), map[string]any{"n": 11.0, "role": "监管"})
		}, "不存在"},
		{"department renamed", func(m map[string]any) { department(m, 51)["name"] = "自治区人防办" }, "名称应为"},
		{"department missing", func(m map[string]any) {
			var keep []any
			for _, d := range m["departments"].([]any) {
				if d.(map[string]any)["article"] != 60.0 {
					keep = append(keep, d)
				}
			}
			m["departments"] = keep
		}, "未登记"},
		{"unknown role", func(m map[string]any) {
			department(m, 24)["duties"].([]any)[0].(map[string]any)["role"] = "负责"
		}, "未知职责类型"},
		{"malformed rule", func(m map[string]any) {
			department(m, 24)["duties"].([]any)[0].(map[string]any)["rules"] = []any{"学校=abc"}
		}, "规则"},
		{"rule with an empty term", func(m map[string]any) {
			department(m, 24)["duties"].([]any)[0].(map[string]any)["rules"] = []any{"学校//幼儿园=4"}
		}, "空词"},
		{"unknown signal", func(m map[string]any) { m["signals"].(map[string]any)["gossip"] = []any{"听说"} }, "未知信号"},
		{"concealment lead without the cited item", func(m map[string]any) { m["concealment"].(map[string]any)["item"] = 99.0 }, "不是"},
		{"no version", func(m map[string]any) { delete(m, "version") }, "版本"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := newRouter(mutate(t, c.mutate), articlesJSON, gazetteerJSON, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestArticleValidationRejectsDuplicatesAndEmptyTexts(t *testing.T) {
	for name, art := range map[string]string{
		"duplicate article": `{"articles":[{"document":"实施细则","number":13,"items":[{"n":1,"text":"a"}]},{"document":"实施细则","number":13,"items":[{"n":1,"text":"a"}]}]}`,
		"empty item":        `{"articles":[{"document":"实施细则","number":13,"items":[{"n":1,"text":""}]}]}`,
		"unknown document":  `{"articles":[{"document":"意见","number":13,"items":[{"n":1,"text":"a"}]}]}`,
	} {
		if _, err := newRouter(registryJSON, []byte(art), gazetteerJSON, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCitationFormatsChineseNumerals(t *testing.T) {
	for _, c := range []struct {
		article, item int
		want          string
	}{{35, 7, "第三十五条(七)"}, {10, 4, "第十条(四)"}, {17, 0, "第十七条"}, {43, 13, "第四十三条(十三)"}, {70, 0, "第七十条"}, {4, 0, "第四条"}} {
		if got := Citation(c.article, c.item); got != c.want {
			t.Errorf("Citation(%d,%d) = %s, want %s", c.article, c.item, got, c.want)
		}
	}
	for n := 1; n < 200; n++ {
		if back, ok := parseChineseNumeral(chineseNumeral(n)); !ok || back != n {
			t.Fatalf("numeral %d does not round-trip", n)
		}
	}
}
