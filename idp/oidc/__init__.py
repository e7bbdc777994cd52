"""The OpenID Connect provider, built on Authlib's OAuth 2 server and OpenID grants."""
