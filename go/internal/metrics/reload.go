package metrics

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// The reload metrics follow the names of upstream's configuration reload
// controllers (apiserver_authentication_config_controller_*,
// apiserver_authorization_config_controller_*): the same three series, with
// the subsystem wasm_config_controller and a kind label (authentication,
// authorization, admission) in place of one subsystem per configuration, so
// that a dashboard or alert written for upstream's reloads needs only the
// metric name changed. The apiserver_id_hash label is left out: the series
// are per API server already (every server is scraped on its own).
const reloadSubsystem = "wasm_config_controller"

var (
	reloadsTotal = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "apiserver",
		Subsystem:      reloadSubsystem,
		Name:           "automatic_reloads_total",
		Help:           "Automatic reloads of a kubewasm configuration (a watched configuration or module file changed), by kind (authentication, authorization, admission) and status (success, failure). A failure leaves the previous configuration serving.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"kind", "status"})

	reloadLastTimestamp = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace:      "apiserver",
		Subsystem:      reloadSubsystem,
		Name:           "automatic_reload_last_timestamp_seconds",
		Help:           "Unix time of the last automatic reload of a kubewasm configuration, by kind and status (success, failure).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"kind", "status"})

	lastConfigInfo = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace:      "apiserver",
		Subsystem:      reloadSubsystem,
		Name:           "last_config_info",
		Help:           "Always 1: the kubewasm configuration serving, by kind and hash (sha256 over the configuration files and the module files they name); one series per kind.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"kind", "hash"})

	reloadOnce sync.Once

	infoMu   sync.Mutex
	infoHash = map[string]string{} // kind -> the hash label of its info series
)

// RegisterReload registers the reload metrics (once).
func RegisterReload() {
	reloadOnce.Do(func() {
		legacyregistry.MustRegister(reloadsTotal, reloadLastTimestamp, lastConfigInfo)
	})
}

// RecordReload counts one automatic reload attempt of kind's configuration
// and stamps its time.
func RecordReload(kind string, success bool) {
	status := "failure"
	if success {
		status = "success"
	}
	reloadsTotal.WithLabelValues(kind, status).Inc()
	reloadLastTimestamp.WithLabelValues(kind, status).SetToCurrentTime()
}

// SetConfigInfo makes hash the one last_config_info series of kind.
func SetConfigInfo(kind, hash string) {
	infoMu.Lock()
	defer infoMu.Unlock()
	if old, ok := infoHash[kind]; ok && old != hash {
		lastConfigInfo.DeleteLabelValues(kind, old)
	}
	infoHash[kind] = hash
	lastConfigInfo.WithLabelValues(kind, hash).Set(1)
}
