// Package mail sends tandem-director's e-mail alerts: keepalived's
// notification_email / smtp_alert, over plain SMTP (RFC 5321) with a
// text/plain message (RFC 5322).
//
// Server.Send is one SMTP session, bounded as a whole by the server's
// timeout (smtp_connect_timeout). Queue sends in the background, one
// message at a time, so that a slow or dead mail server never holds up the
// caller (the VRRP state changes). StateChange builds the subject and body
// of a VRRP transition alert, with keepalived's subject line so that mail
// filters written for keepalived keep working.
package mail
