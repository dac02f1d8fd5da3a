package accounts

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	logins    *prometheus.CounterVec
	failures  *prometheus.CounterVec
	throttled prometheus.Counter
	events    prometheus.Counter
}

// newMetrics creates the account metrics and registers them on reg (if not nil).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidings_auth_logins_total", Help: "Successful password logins by service.",
		}, []string{"service"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidings_auth_failures_total", Help: "Failed logins by service.",
		}, []string{"service"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidings_auth_throttled_total", Help: "Login attempts refused by the failed-login throttle.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidings_account_events_total", Help: "Account changes dispatched to protocol servers.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.logins, m.failures, m.throttled, m.events)
	}
	return m
}
