"""A tiny SMTP server on loopback (asyncio streams) that keeps what it is sent: enough of
RFC 5321 for smtplib (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT). No STARTTLS."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class SMTPServer:
    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(text: str) -> None:
            writer.write(text.encode() + b"\r\n")

        sender, recipients = "", []
        say("220 test.local ESMTP")
        try:
            while line := await reader.readline():
                cmd = line.decode().rstrip("\r\n")
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    say("250-test.local")
                    say("250-AUTH PLAIN")
                    say("250 8BITMIME")
                elif verb == "HELO" or verb in ("RSET", "NOOP"):
                    say("250 ok")
                elif verb == "AUTH":
                    _, _, blob = cmd.split(" ", 2)
                    _, user, password = base64.b64decode(blob).decode().split("\0")
                    self.logins.append((user, password))
                    say("235 ok" if password == "right" else "535 bad credentials")
                elif verb == "MAIL":
                    sender = cmd.split(":", 1)[1].strip().split(" ")[0].strip("<>")
                    say("250 ok")
                elif verb == "RCPT":
                    recipients.append(cmd.split(":", 1)[1].strip().strip("<>"))
                    say("250 ok")
                elif verb == "DATA":
                    say("354 go on")
                    await writer.drain()
                    data = b""
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        data += chunk
                    self.mails.append(Mail(sender, recipients, data))
                    sender, recipients = "", []
                    say("250 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    await writer.drain()
                    break
                else:
                    say("502 not implemented")
                await writer.drain()
        finally:
            writer.close()
