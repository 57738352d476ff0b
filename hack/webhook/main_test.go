package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

func review(t *testing.T, object string) []byte {
	t.Helper()
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","operation":"CREATE","object":` + object + `}}`)
}

func post(t *testing.T, srv *httptest.Server, path string, body []byte) (int, *admissionv1.AdmissionReview) {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Kind != "AdmissionReview" || out.APIVersion != "admission.k8s.io/v1" {
		t.Fatalf("answer is %s %s", out.APIVersion, out.Kind)
	}
	if out.Response == nil || out.Response.UID != "u-1" {
		t.Fatalf("answer lacks the request's uid: %+v", out.Response)
	}
	return resp.StatusCode, &out
}

func TestValidate(t *testing.T) {
	srv := httptest.NewTLSServer(newMux())
	defer srv.Close()
	for _, tc := range []struct {
		name, object string
		allowed      bool
		message      string
	}{
		{"allowed", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","annotations":{"puzzle.ch/owner":"me"}},"data":{"k":"v"}}`, true, ""},
		{"forbidden key", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","annotations":{"puzzle.ch/owner":"me"}},"data":{"not-allowed-value":"x"}}`, false, "value 'not-allowed-value' not allowed in configmap"},
		{"missing annotation", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`, false, "The following mandatory annotations are missing: puzzle.ch/owner"},
		{"not a configmap", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}`, false, "not a v1 ConfigMap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(t, srv, "/validate", review(t, tc.object))
			if code != http.StatusOK {
				t.Fatalf("HTTP %d", code)
			}
			r := out.Response
			if r.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%+v)", r.Allowed, tc.allowed, r.Result)
			}
			if !tc.allowed && (r.Result == nil || !strings.Contains(r.Result.Message, tc.message)) {
				t.Fatalf("result %+v, want a message containing %q", r.Result, tc.message)
			}
			if r.Patch != nil {
				t.Fatalf("a validating answer carries a patch: %s", r.Patch)
			}
		})
	}
}

func TestMutate(t *testing.T) {
	srv := httptest.NewTLSServer(newMux())
	defer srv.Close()
	for _, tc := range []struct{ name, object, patch string }{
		{"with data", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`, `[{"op":"add","path":"/data/magic-value","value":"foobar"}]`},
		{"without data", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`, `[{"op":"add","path":"/data","value":{"magic-value":"foobar"}}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(t, srv, "/mutate", review(t, tc.object))
			if code != http.StatusOK {
				t.Fatalf("HTTP %d", code)
			}
			r := out.Response
			if !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("answer %+v", r)
			}
			if string(r.Patch) != tc.patch {
				t.Fatalf("patch %s, want %s", r.Patch, tc.patch)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	srv := httptest.NewTLSServer(newMux())
	defer srv.Close()
	for _, body := range []string{`not json`, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`} {
		if code, _ := post(t, srv, "/validate", []byte(body)); code != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", body, code)
		}
	}
	resp, err := srv.Client().Get(srv.URL + "/validate")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /validate: HTTP %d, want 405", resp.StatusCode)
	}
}

// TestServingCert checks that the generated certificate verifies against the
// generated CA for 127.0.0.1, as the API server checks it with the caBundle.
func TestServingCert(t *testing.T) {
	caPEM, cert, err := newServingCert([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM does not parse")
	}
	srv := httptest.NewUnstartedServer(newMux())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatalf("verifying with the generated CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
}
