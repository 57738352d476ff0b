// Command bench-webhook is the admission webhook that `make bench-compare`
// (hack/bench-compare.sh) measures against the kubewasm modules and the
// admission policies. It is written the way small webhooks usually are:
// net/http, encoding/json, the k8s.io/api types, HTTPS with a certificate
// signed by a CA it generates itself (written out for the webhook
// configuration's caBundle).
//
// It performs the same checks as the examples' modules:
//
//	/validate  magic-validator: a ConfigMap whose data has the key
//	           "not-allowed-value" is rejected (403); safe-annotations with
//	           mandatory_annotations [puzzle.ch/owner]: a ConfigMap without
//	           that annotation is rejected (403).
//	/mutate    magic-mutator: sets data["magic-value"] = "foobar" (one JSON
//	           patch operation).
//	/healthz   "ok".
//
// Usage: bench-webhook -listen 127.0.0.1:PORT -ca-file FILE
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8443", "address to serve HTTPS on")
	caFile := flag.String("ca-file", "", "write the PEM of the generated CA here (the webhook configuration's caBundle)")
	flag.Parse()
	if err := run(*listen, *caFile); err != nil {
		log.Fatalf("bench-webhook: %v", err)
	}
}

func run(listen, caFile string) error {
	caPEM, cert, err := newServingCert([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	if err != nil {
		return err
	}
	if caFile != "" {
		if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Addr:              listen,
		Handler:           newMux(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServeTLS("", "") }()
	log.Printf("bench-webhook: serving https://%s (/validate, /mutate)", listen)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newServingCert generates a CA (ECDSA P-256) and a serving certificate it
// signs for the given names and addresses. It returns the CA's PEM and the
// serving key pair.
func newServingCert(dnsNames []string, ips []net.IP) ([]byte, tls.Certificate, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bench-webhook-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "bench-webhook"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /validate", serve(validate))
	mux.HandleFunc("POST /mutate", serve(mutate))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}
