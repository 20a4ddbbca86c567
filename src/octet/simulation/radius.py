"""`radius` scenario events: real packets to a real Octet RADIUS server on loopback."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from pyrad import packet as rp
from pyrad.client import Client, Timeout

from octet.core.errors import InvalidInput
from octet.network import vendors
from octet.network.server import RadiusServer


class _Running:
    def __init__(self, server: RadiusServer, loop: asyncio.AbstractEventLoop, thread) -> None:
        self.server, self.loop, self.thread = server, loop, thread


def start_server() -> _Running:
    server = RadiusServer("127.0.0.1", 0, 0, maintenance_interval=3600)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="scenario-radius", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the scenario RADIUS server did not start")
    return _Running(server, loop, thread)


def stop_server(running: _Running) -> None:
    running.server.stop()
    running.loop.call_soon_threadsafe(running.loop.stop)
    running.thread.join(timeout=10)


def send_packets(running: _Running, packets: list[dict[str, Any]], secret: str) -> list[str]:
    """Send each packet (a mapping of attribute names to values) and wait for its answer.

    ``Acct-Status-Type`` makes it an Accounting-Request, otherwise an Access-Request
    (``User-Password`` is hidden as RFC 2865 says).
    """
    server = running.server
    client = Client(
        server="127.0.0.1",
        authport=server.auth_port,
        acctport=server.acct_port,
        secret=secret.encode(),
        dict=vendors.load_dictionary(),
    )
    client.timeout, client.retries = 5, 1
    answers = []
    for i, attrs in enumerate(packets):
        try:
            if "Acct-Status-Type" in attrs:
                pkt = client.CreateAcctPacket()
            else:
                pkt = client.CreateAuthPacket()
            for name, value in attrs.items():
                if name == "User-Password":
                    pkt[2] = [pkt.PwCrypt(str(value))]  # raw values are lists
                else:
                    pkt.AddAttribute(name, value)
            reply = client.SendPacket(pkt)
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidInput(f"radius.packets[{i}]: {exc}") from exc
        except Timeout as exc:
            raise InvalidInput(f"radius.packets[{i}]: the server did not answer") from exc
        answers.append({rp.AccessAccept: "accept", rp.AccessReject: "reject"}.get(reply.code, "ok"))
    return answers
