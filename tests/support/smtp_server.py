"""A real SMTP server (aiosmtpd) for Breakfast's integration tests.

The server is aiosmtpd's; this file only configures it. Every accepted message is written
to --dir as <n>.eml with X-Envelope-To and X-Envelope-From headers. Behaviours for failure tests:
  --reject REGEX      answer 550 to RCPT TO addresses matching REGEX
  --tempfail N        answer 451 to the first N RCPT TO attempts of each address
  --delay-ms MS       wait before answering DATA (a slow server)
  --disconnect N      close the connection instead of answering the first N DATA commands
  --pipelining        advertise PIPELINING (RFC 2920) in the EHLO answer
  --tls-cert/--tls-key PEM files: offer STARTTLS with this certificate
  --implicit-tls      with the certificate: TLS from the first byte instead of STARTTLS
  --auth USER:PASS    require AUTH (PLAIN or LOGIN, over TLS) with these credentials
Prints "READY <port>" on stdout when listening.
"""
import argparse, asyncio, os, re, signal, ssl, sys, threading, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, args):
        self.dir = args.dir
        self.reject = re.compile(args.reject) if args.reject else None
        self.tempfail = args.tempfail
        self.delay = args.delay_ms / 1000.0
        self.disconnect = args.disconnect
        self.seen = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject.search(address):
            return "550 5.1.1 mailbox unavailable"
        with self.lock:
            n = self.seen.get(address, 0)
            self.seen[address] = n + 1
        if n < self.tempfail:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            drop = self.disconnect > 0
            if drop:
                self.disconnect -= 1
        if drop:
            # The message arrived but is not accepted: hang up before the reply.
            server.transport.close()
            return "421 4.4.2 closing connection"
        with self.lock:
            self.count += 1
            n = self.count
        tmp = os.path.join(self.dir, ".%08d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-To: %s\r\n" % ", ".join(envelope.rcpt_tos)).encode())
            f.write(("X-Envelope-From: %s\r\n" % envelope.mail_from).encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.dir, "%08d.eml" % n))
        return "250 2.0.0 queued"


class PipeliningHandler(Handler):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:-1] + ["250-PIPELINING"] + responses[-1:]


def authenticator(expected):
    user, password = expected.split(":", 1)

    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)
    return check


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--reject", default="")
    p.add_argument("--tempfail", type=int, default=0)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--disconnect", type=int, default=0)
    p.add_argument("--pipelining", action="store_true")
    p.add_argument("--tls-cert", default="")
    p.add_argument("--tls-key", default="")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth", default="")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    options = {}
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        options["ssl_context" if args.implicit_tls else "tls_context"] = context
    if args.auth:
        options["authenticator"] = authenticator(args.auth)
        options["auth_required"] = True
        # Implicit TLS is TLS too, though aiosmtpd only counts STARTTLS as such.
        options["auth_require_tls"] = not args.implicit_tls
    handler = (PipeliningHandler if args.pipelining else Handler)(args)
    controller = Controller(handler, hostname="127.0.0.1", port=args.port,
                            data_size_limit=50 * 1024 * 1024, **options)
    controller.start()
    print("READY %d" % args.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    # Exit when the test process that started us goes away (stdin closes).
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    while not stop.is_set():
        time.sleep(0.1)
    controller.stop()


if __name__ == "__main__":
    main()
