"""Mock 部级接口 gateway: POST /register/api/IDServices with `{head, param}`.

It holds the RSA private key: it opens `param` (PKCS#1 v1.5, 128-byte blocks, Base64 of either
alphabet) and seals the reply `data` with its private key (PKCS#1 v1.5 type-1 blocks, what Java's
`Cipher("RSA")` does in ENCRYPT_MODE with a private key), sent as standard Base64. `head.id` and
`head.token` must match what it issued; otherwise it answers 0302. A requestType without a handler
is a service not opened for this centre: 0302 as well.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mocks.relays.common import Handler, MockRelay

PATH = "/register/api/IDServices"
MESSAGES = {"0200": "正常", "0301": "鉴权服务执行失败", "0302": "没有访问权限", "0303": "部分访问权限",
            "0401": "请求频率不合法", "0402": "过多的请求", "0403": "超时", "0404": "服务内部错误", "9900": "其他异常"}


class MockGateway(MockRelay):
    name = "bjjk-gateway"

    def __init__(self, private_key_pem: bytes, user_id: str, handlers: dict[str, Handler] | None = None) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.private_key = key
        spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.token = base64.urlsafe_b64encode(spki).decode().rstrip("=")
        self.user_id = user_id
        super().__init__(handlers)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.serve)

    def open_param(self, text: str) -> Any:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
        size = self.private_key.key_size // 8
        plain = b"".join(self.private_key.decrypt(raw[i:i + size], padding.PKCS1v15()) for i in range(0, len(raw), size))
        return json.loads(plain.decode("utf-8"))

    def seal(self, plaintext: bytes) -> str:
        """Private-key 'encryption': type-1 padded blocks of at most k-11 bytes raised to d mod n."""
        numbers = self.private_key.private_numbers()
        n, d = numbers.public_numbers.n, numbers.d
        size = self.private_key.key_size // 8
        out = bytearray()
        for start in range(0, len(plaintext), size - 11):
            chunk = plaintext[start:start + size - 11]
            block = b"\x00\x01" + b"\xff" * (size - 3 - len(chunk)) + b"\x00" + chunk
            out += pow(int.from_bytes(block, "big"), d, n).to_bytes(size, "big")
        return base64.b64encode(bytes(out)).decode()

    async def serve(self, request: web.Request) -> web.Response:
        body = await request.json()
        head, param = body["head"], body["param"]
        code = head["requestType"]
        payload = self.open_param(param)
        self.seen.append({"headers": dict(request.headers), "head": head, "keys": list(body), "param": param,
                          "payload": payload})
        status = "0200"
        if self.next_statuses:
            status = self.next_statuses.popleft()
        elif head.get("id") != self.user_id or head.get("token") != self.token or code not in self.handlers:
            status = "0302"
        reply_head = {self.key("msg"): MESSAGES.get(status, "未知"), self.key("requestType"): code,
                      self.key("cxqqdh"): head["cxqqdh"], "businessNumber": head.get("businessNumber"),
                      self.key("status"): status}
        reply: dict[str, Any] = {self.key("head"): reply_head}
        if status == "0200":
            result = self.carried(self.handlers[code](payload))  # GF01 too: the court must learn of the apply
        if status == "0200" and code != "GF01":  # GF01 answers with the head alone
            text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            reply[self.key("data")] = self.seal(text.encode("utf-8"))
        return web.json_response(reply)
