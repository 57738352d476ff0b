package main

import (
	"encoding/json"
	"testing"
)

func decision(t *testing.T, payload string) map[string]any {
	t.Helper()
	out, err := validate([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestValidate(t *testing.T) {
	r := decision(t, `{"request":{"operation":"CREATE","object":{"metadata":{"labels":{"app":"x"}}}},"settings":{"mandatory_labels":["app","team"]}}`)
	if r["accepted"] != false || r["message"] != "The following mandatory labels are missing: team" {
		t.Fatalf("got %v", r)
	}
	r = decision(t, `{"request":{"operation":"CREATE","object":{"metadata":{"labels":{"app":"x","team":"y"}}},"dryRun":null,"options":null},"settings":{"mandatory_labels":["app","team"]}}`)
	if r["accepted"] != true {
		t.Fatalf("got %v", r)
	}
	r = decision(t, `{"request":{"operation":"DELETE","object":null},"settings":{}}`)
	if r["accepted"] != true {
		t.Fatalf("got %v", r)
	}
}

func TestValidateSettings(t *testing.T) {
	for payload, valid := range map[string]bool{
		`{}`:                         true,
		`{"mandatory_labels":["a"]}`: true,
		`{"mandatory_labels":"a"}`:   false,
		`{"mandatory_labels":[""]}`:  false,
		`{"mandatory_label":["a"]}`:  false,
		`not json`:                   false,
	} {
		out, err := validateSettings([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		var r map[string]any
		_ = json.Unmarshal(out, &r)
		if r["valid"] != valid {
			t.Errorf("%s: got %v", payload, r)
		}
	}
}
