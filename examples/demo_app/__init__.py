"""A small relying application that logs in with Poort, to try the OpenID Connect flow.

It uses Authlib's Flask client: discovery, the authorization code flow with PKCE and a
nonce, ID-token validation against Poort's JWKS, userinfo, refresh (Poort rotates the
refresh token), and RP-initiated logout.
"""

from examples.demo_app.app import create_demo_app

__all__ = ["create_demo_app"]
