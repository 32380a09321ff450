package app

import (
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/mail"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/version"
)

// This file sends keepalived's e-mail alerts (smtp_alert): one message per
// VRRP transition to MASTER, BACKUP, FAULT or STOP of an instance with
// SMTPAlert, to notification_email through smtp_server. The main loop
// only queues the message; mail.Queue sends it in the background.

// Mailer queues e-mail alerts and must not block; *mail.Queue is the real
// one.
type Mailer interface {
	Enqueue(srv mail.Server, m mail.Message) bool
}

// startMail sets up the mailer: the one of Options, else a mail.Queue that
// runs until the daemon stops (and then sends what is queued, the STOP
// alerts, for at most mail.DefaultFlushTime).
func (a *App) startMail(cfg *config.Config) {
	if a.opts.Mailer != nil {
		a.mailer = a.opts.Mailer
	} else {
		q := mail.NewQueue(mail.QueueOptions{
			Log:    a.log,
			Result: func(r string) { a.met.MailAlerts.WithLabelValues(r).Inc() },
		})
		a.mailer = q
		a.goRun("mail queue", func() error { return q.Run(a.runCtx) })
	}
	n := cfg.Notification
	for _, in := range cfg.VRRP {
		if in.SMTPAlert && (n.SMTPServer == "" || len(n.Email) == 0) {
			a.warn("smtp_alert is set but smtp_server or notification_email is missing: no e-mail is sent (as keepalived)")
			break
		}
	}
}

// mailFrom is notification_email_from, or tandem-director@HOSTNAME.
func mailFrom(n *config.Notification) string {
	if n.From != "" {
		return n.From
	}
	return "tandem-director@" + mail.HostName()
}

// mailTransition queues the alert for in entering to (from from), if the
// configuration in force asks for one: as keepalived, only for MASTER,
// BACKUP, FAULT (unless no_email_faults) and STOP, and never twice in a
// row for the same state.
func (a *App) mailTransition(in *instance, from, to vrrp.State) {
	if a.mailer == nil {
		return
	}
	ci := a.cfg.Instance(in.cfg.Name)
	if ci == nil {
		ci = &in.cfg // removed by a reload: its STOP still counts
	}
	n := &a.cfg.Notification
	if !ci.SMTPAlert || n.SMTPServer == "" || len(n.Email) == 0 {
		return
	}
	switch to {
	case vrrp.StateMaster, vrrp.StateBackup, vrrp.StateStop:
	case vrrp.StateFault:
		if n.NoEmailFaults {
			return
		}
	default:
		return
	}
	if to == in.mailed {
		return
	}
	in.mailed = to
	sc := mail.StateChange{
		Node: a.node, Instance: ci.Name, VRID: ci.VirtualRouterID, Priority: ci.Priority,
		From: from.String(), To: to.String(), At: a.now(), Version: version.Version,
	}
	for _, v := range ci.VirtualIPs {
		sc.VIPs = append(sc.VIPs, v.String())
	}
	a.mailer.Enqueue(mail.Server{Addr: n.SMTPServer, Timeout: n.SMTPConnectTimeout}, mail.Message{
		From: mailFrom(n), To: n.Email, Subject: sc.Subject(), Body: sc.Body(), Date: sc.At,
	})
}
