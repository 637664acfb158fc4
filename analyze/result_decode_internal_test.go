package analyze

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/traffic"
)

// TestDecodeResultWalks checks that the documents dockcase writes are
// read by the walk, flows and contacts by traffic's decoders, and that
// what the walk cannot read as encoding/json would is left to it.
func TestDecodeResultWalks(t *testing.T) {
	res := &Result{Version: ResultVersion, Containers: nil, Missing: []string{"x"},
		Flows:    []traffic.Flow{{Rule: traffic.RuleVeth, Proto: "tcp", First: time.Unix(1, 2).UTC()}, {Rule: traffic.RuleUnknown}},
		Contacts: []traffic.Contact{{Container: "c0ffee", Rules: []string{traffic.RuleVeth}}}}
	indented, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	compact, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range [][]byte{indented, compact, []byte(`{"flows": [], "unknown": [1, {"a": "b"}], "contacts": null}`)} {
		var got Result
		if err := decodeResult(doc, &got); err != nil {
			t.Errorf("decodeResult(%.60q…) = %v, want the walk to read it", doc, err)
		}
	}
	// The hint of the flows' number is theirs in the indented form, and
	// 0 in the compact one.
	for doc, want := range map[string]int{string(indented): len(res.Flows), string(compact): 0} {
		at := strings.Index(doc, `"flows": [`)
		if at < 0 {
			at = strings.Index(doc, `"flows":[`)
		}
		if got := elementsHint([]byte(doc[at+8:])); got != want {
			t.Errorf("elementsHint(%.40q…) = %d, want %d", doc[at:], got, want)
		}
	}
	for _, doc := range []string{
		`{"Flows": []}`, `{"flows": [], "flows": []}`, `{"fl\u006fws": []}`, `{"flöws": []}`,
		`{"flows": []} x`, `{"flows": [}`, `[]`, `null`, ``, `{"flows": [{"rule": x}]}`,
	} {
		var got Result
		if err := decodeResult([]byte(doc), &got); !errors.Is(err, errResultFallback) {
			t.Errorf("decodeResult(%q) = %v, want it left to encoding/json", doc, err)
		}
	}
}
