package triage

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func hmacBlind(key string) Blind {
	return func(b []byte) []byte {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(b)
		return m.Sum(nil)[:16]
	}
}

// duplicatePairs: the same matter told by two reporters (paraphrase) and
// different matters at the same company, which share its name and place.
var duplicatePairs = []struct {
	name string
	a, b string
	same bool
}{
	{"hotline and web report of one gas leak", "来电人反映：利通区XX街一家羊杂碎馆子，后厨三四个液化气罐就挨着灶台放，胶皮管都发黄裂口子了，中午进去能闻到一股气味。诉求：尽快查处。",
		"利通区XX街的羊杂碎店后厨液化气罐紧挨着灶台，连接的胶皮管已经老化开裂，吃饭时能闻到液化气的味道，店里也没装报警器。", true},
	{"two workers on one blocked exit", "兴庆区XX商场负一楼超市的安全出口被货架堵死了，另一个出口用铁链锁着，周末人特别多。",
		"XX商场地下一层超市，安全出口被货架挡住，还有个出口被铁链锁上了，周末顾客很多很危险。", true},
	{"reservoir seepage told twice", "来电人反映彭阳县XX水库的大坝下游坝脚这几天一直往外渗水，水是浑的，还冒小水泡，下面就是村子。",
		"彭阳XX水库大坝坝脚渗水好几天了，渗出来的水发浑还冒泡，坝下面就是我们村，水库管理员说报了没人来。", true},
	{"same company, fire exits versus unpaid overtime", "西夏区XX物流公司仓库的消防通道堆满了货，灭火器都过期了，晚上仓库里还有人睡觉。",
		"西夏区XX物流公司让装卸工每天干十四个小时，一个月只休一天，不签劳动合同，受伤了也不给报工伤。", false},
	{"same chemical plant, interlocks versus waste dumping", "宁东XX化工公司二期装置试生产一年多了，安全生产许可证没拿到，中控室把好几个联锁屏蔽了。",
		"宁东XX化工公司晚上用罐车把废酸拉出去倒在厂外的沙坑里，附近的羊喝了水死了好几只。", false},
	{"same building site, tower crane versus child labour", "金凤区XX建筑工地的塔吊司机没有证，吊装时下面的人不撤，昨天掉下来一根钢筋。",
		"金凤区XX建筑工地上有好几个十四五岁的孩子在搬砖，包工头说是亲戚家的孩子，每天干十二个小时。", false},
}

func TestSimilaritySeparatesParaphrasesFromOtherMattersAtTheSameCompany(t *testing.T) {
	blind := hmacBlind("k1")
	for _, p := range duplicatePairs {
		s := Similarity(NewFingerprint(p.a, blind), NewFingerprint(p.b, blind))
		t.Logf("%-55s %.2f", p.name, s)
		if p.same && s < DuplicateThreshold {
			t.Errorf("%s: similarity %.2f below DuplicateThreshold %.2f", p.name, s, DuplicateThreshold)
		}
		if !p.same && s >= DuplicateThreshold {
			t.Errorf("%s: similarity %.2f reaches DuplicateThreshold %.2f", p.name, s, DuplicateThreshold)
		}
	}
}

func TestParaphrasesShareABandForIndexLookup(t *testing.T) {
	blind := hmacBlind("k1")
	for _, p := range duplicatePairs {
		if !p.same {
			continue
		}
		a, b := NewFingerprint(p.a, blind), NewFingerprint(p.b, blind)
		shared := false
		for i := range a.Bands {
			shared = shared || string(a.Bands[i]) == string(b.Bands[i])
		}
		if !shared {
			t.Errorf("%s: no LSH band in common, the index would not find it", p.name)
		}
	}
}

func TestFingerprintIsBlindedAndKeyed(t *testing.T) {
	text := duplicatePairs[0].a
	a, b := NewFingerprint(text, hmacBlind("k1")), NewFingerprint(text, hmacBlind("k2"))
	if s := Similarity(a, a); s != 1 {
		t.Fatalf("self-similarity %.2f, want 1", s)
	}
	if s := Similarity(a, b); s > 0.05 {
		t.Errorf("fingerprints under different keys agree on %.2f of positions", s)
	}
	unkeyed := NewFingerprint(text, func(b []byte) []byte { return append([]byte(nil), b...) })
	for i := range a.Values {
		if string(a.Values[i]) == string(unkeyed.Values[i]) {
			t.Fatal("a stored value equals the unblinded MinHash value")
		}
	}
}

func TestFingerprintIgnoresBoilerplatePunctuationAndWidth(t *testing.T) {
	blind := hmacBlind("k")
	a := NewFingerprint("来电人反映：兴庆区ＸＸ小区电梯困人，诉求：尽快维修。", blind)
	b := NewFingerprint("兴庆区 xx 小区电梯困人!!", blind)
	if s := Similarity(a, b); s != 1 {
		t.Errorf("similarity %.2f, want 1 after normalisation", s)
	}
	if len(NewFingerprint("。！ ", blind).Values) != 0 {
		t.Error("a text without content has a fingerprint")
	}
	if Similarity(Fingerprint{}, a) != 0 {
		t.Error("an empty fingerprint is similar to something")
	}
}
