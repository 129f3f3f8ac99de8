"""Test support in one place: throwaway local XMPP servers (for the tests, the benchmarks and
the demo), the fake session (``fakes``), the in-process and child-process CLI runners
(``helpers``) and a plain client playing a contact (``peer``).

Not part of the product (the wheel ships only ``xmppctl``).  Each server keeps everything in
one directory and listens on 127.0.0.1 only; only the process started here is ever stopped.
"""

from tests.support.certs import make_certs, sign_cert
from tests.support.common import Contact, free_port, have, wait_for_xmpp
from tests.support.ejabberd import EjabberdServer
from tests.support.prosody import ProsodyServer, store_name

__all__ = ["Contact", "EjabberdServer", "ProsodyServer", "free_port", "have", "make_certs", "sign_cert",
           "store_name", "wait_for_xmpp"]
