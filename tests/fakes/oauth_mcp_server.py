"""An MCP server that wants each user to sign in with OAuth, with its own authorization server, on loopback:
`python tests/fakes/oauth_mcp_server.py --port N [--transport streamable-http|sse] [--token-seconds S]`.

Built on the `mcp` SDK's server auth: protected resource metadata, authorization server metadata, dynamic client
registration, authorize (approved at once, each grant a new account: `account-1`, `account-2`, …), token with the
PKCE check, refresh, revoke. `whoami` answers with the account of the token it was called with. Tests read what
happened from `GET /_state`, expire every access token with `POST /_expire`, and forget every grant (as a user
revoking Switchboard at the provider would) with `POST /_forget`; none of the three needs a token.
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import time
from typing import Any

from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from starlette.requests import Request
from starlette.responses import JSONResponse


class Provider:
    """An authorization server in memory that approves every request at once."""

    def __init__(self, *, token_seconds: int) -> None:
        self.token_seconds = token_seconds
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.accounts = itertools.count(1)
        self.log: dict[str, Any] = {"registered": 0, "authorized": [], "grants": [], "revoked": 0, "seen": []}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.clients[client_info.client_id] = client_info
        self.log["registered"] += 1

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or ["tools"],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject=f"account-{next(self.accounts)}",
        )
        self.log["authorized"].append({"resource": params.resource, "challenge": bool(params.code_challenge)})
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client: OAuthClientInformationFull, code: str) -> AuthorizationCode | None:
        found = self.codes.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def _issue(self, *, client_id: str, scopes: list[str], resource: str | None, subject: str | None) -> OAuthToken:
        access, refresh = f"at-{secrets.token_urlsafe(16)}", f"rt-{secrets.token_urlsafe(16)}"
        expires = int(time.time()) + self.token_seconds
        self.access[access] = AccessToken(
            token=access, client_id=client_id, scopes=scopes, expires_at=expires, resource=resource, subject=subject
        )
        self.refresh[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource, subject=subject
        )
        return OAuthToken(
            access_token=access, expires_in=self.token_seconds, scope=" ".join(scopes), refresh_token=refresh
        )

    async def exchange_authorization_code(self, client: OAuthClientInformationFull, code: AuthorizationCode) -> Any:
        del self.codes[code.code]
        self.log["grants"].append({"type": "authorization_code", "subject": code.subject, "resource": code.resource})
        return self._issue(client_id=client.client_id, scopes=code.scopes, resource=code.resource, subject=code.subject)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        found = self.refresh.get(refresh_token)
        return found if found is not None and found.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        del self.refresh[refresh_token.token]  # rotated: each refresh token works once
        self.log["grants"].append({"type": "refresh_token", "subject": refresh_token.subject})
        return self._issue(
            client_id=client.client_id,
            scopes=scopes or refresh_token.scopes,
            resource=refresh_token.resource,
            subject=refresh_token.subject,
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found is None or (found.expires_at is not None and found.expires_at < time.time()):
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.log["revoked"] += 1
        # Revoking either ends the whole grant, as most servers do.
        for store in (self.access, self.refresh):
            for key in [k for k, v in store.items() if v.subject == token.subject]:
                del store[key]


def build(*, port: int, token_seconds: int, path: str = "/mcp") -> tuple[MCPServer, Provider]:
    provider = Provider(token_seconds=token_seconds)
    base = f"http://127.0.0.1:{port}"
    server = MCPServer(
        "oauth-demo",
        log_level="WARNING",
        auth_server_provider=provider,
        auth=AuthSettings(
            issuer_url=base,
            resource_server_url=f"{base}{path}",
            validate_token_resource=False,
            required_scopes=["tools"],
            client_registration_options=ClientRegistrationOptions(
                enabled=True, valid_scopes=["tools"], default_scopes=["tools"]
            ),
            revocation_options=RevocationOptions(enabled=True),
        ),
    )

    @server.tool()
    def whoami() -> str:
        """Say which account the caller signed in as."""
        token = get_access_token()
        subject = token.subject if token is not None else "nobody"
        provider.log["seen"].append(subject)
        return f"You are {subject}."

    @server.custom_route("/_state", methods=["GET"])
    async def state(_request: Request) -> JSONResponse:
        return JSONResponse({**provider.log, "live_access_tokens": len(provider.access)})

    @server.custom_route("/_expire", methods=["POST"])
    async def expire(_request: Request) -> JSONResponse:
        for token in provider.access.values():
            token.expires_at = 0
        return JSONResponse({"expired": len(provider.access)})

    @server.custom_route("/_forget", methods=["POST"])
    async def forget(_request: Request) -> JSONResponse:
        provider.access.clear()
        provider.refresh.clear()
        return JSONResponse({"forgotten": True})

    return server, provider


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    parser.add_argument("--token-seconds", type=int, default=3600)
    options = parser.parse_args()
    path = "/sse" if options.transport == "sse" else "/mcp"
    server, _provider = build(port=options.port, token_seconds=options.token_seconds, path=path)
    if options.transport == "sse":
        server.run("sse", host="127.0.0.1", port=options.port)
    else:
        server.run("streamable-http", host="127.0.0.1", port=options.port)


if __name__ == "__main__":
    main()
