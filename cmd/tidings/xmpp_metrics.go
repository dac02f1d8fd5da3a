package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidings/tidings/xmpp/router"
)

var (
	xmppSessionsDesc = prometheus.NewDesc("tidings_xmpp_sessions", "Bound XMPP client sessions.", nil, nil)
	xmppUsersDesc    = prometheus.NewDesc("tidings_xmpp_users_online", "Accounts with at least one XMPP session.", nil, nil)
	xmppStanzasDesc  = prometheus.NewDesc("tidings_xmpp_stanzas_total", "Stanzas routed, by direction (in: from clients; out: queued to clients).", []string{"direction"}, nil)
	xmppOfflineDesc  = prometheus.NewDesc("tidings_xmpp_offline_stored_total", "Messages stored for offline accounts.", nil, nil)
)

// xmppCollector exports the router's counters.
type xmppCollector struct{ r *router.Router }

func (c xmppCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- xmppSessionsDesc
	ch <- xmppUsersDesc
	ch <- xmppStanzasDesc
	ch <- xmppOfflineDesc
}

func (c xmppCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Stats()
	ch <- prometheus.MustNewConstMetric(xmppSessionsDesc, prometheus.GaugeValue, float64(st.Sessions))
	ch <- prometheus.MustNewConstMetric(xmppUsersDesc, prometheus.GaugeValue, float64(st.Users))
	ch <- prometheus.MustNewConstMetric(xmppStanzasDesc, prometheus.CounterValue, float64(st.StanzasIn), "in")
	ch <- prometheus.MustNewConstMetric(xmppStanzasDesc, prometheus.CounterValue, float64(st.StanzasOut), "out")
	ch <- prometheus.MustNewConstMetric(xmppOfflineDesc, prometheus.CounterValue, float64(st.Offline))
}
