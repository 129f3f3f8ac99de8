"""Every XML namespace xmppctl speaks, once (RFC 6120/6121 and the XEPs named beside each)."""

STREAM_NS = "http://etherx.jabber.org/streams"
CLIENT_NS = "jabber:client"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
ROSTER_NS = "jabber:iq:roster"
#: RFC 6121 §3.4: the stream feature that says the server stores pre-approvals
PREAPPROVAL_FEATURE = ("urn:xmpp:features:pre-approval", "sub")
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"  # XEP-0030
OFFLINE_NODE = "http://jabber.org/protocol/offline"  # XEP-0013
NICK_NS = "http://jabber.org/protocol/nick"  # XEP-0172
DELAY_NS = "urn:xmpp:delay"  # XEP-0203
CAPS_NS = "http://jabber.org/protocol/caps"  # XEP-0115
IDLE_NS = "urn:xmpp:idle:1"  # XEP-0319
PING_NS = "urn:xmpp:ping"  # XEP-0199
INVISIBLE_NS = "urn:xmpp:invisible:0"  # XEP-0186
LAST_NS = "jabber:iq:last"  # XEP-0012
VERSION_NS = "jabber:iq:version"  # XEP-0092
DATA_NS = "jabber:x:data"  # XEP-0004
SOFTWARE_INFO_FORM = "urn:xmpp:dataforms:softwareinfo"  # XEP-0232
BLOCKING_NS = "urn:xmpp:blocking"  # XEP-0191
#: payloads of messages that carry no content of their own (chat states, receipts, markers)
NO_CONTENT_NS = ("http://jabber.org/protocol/chatstates", "urn:xmpp:receipts", "urn:xmpp:chat-markers:0")
